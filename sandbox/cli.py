"""``painpa sandbox [--port P] [--host H] [--reset]``: the whole local EHR in one process on one
port (ARCHITECTURE.md contract). First start (or ``--reset``) creates PAINPA_HOME, the sandbox
key, the client registrations and the synthetic patients; later starts reuse them.

``painpa sandbox apps add | list | remove``: outside SMART apps and backend-services clients of the
sandbox's authorization server (``sandbox.auth.apps``), written to the sandbox's database, so a
running sandbox sees them at once.

A threaded WSGI server is used so that the EHR backend can call the CDS service over real HTTP on
the same port while serving the browser's request.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import socket
import sys
import time
from pathlib import Path

from cds_service.config import ConfigError, Settings


def register(sub: argparse._SubParsersAction) -> None:
    """``painpa sandbox``, added to the ``painpa`` command through the ``painpa.commands`` entry point."""
    sandbox = sub.add_parser("sandbox", help="run the local sandbox EHR with painpa on one port (seeded)")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8080)
    sandbox.add_argument("--reset", action="store_true", help="discard the sandbox database and reseed")
    sandbox.set_defaults(func=run)
    actions = sandbox.add_subparsers(dest="sandbox_command", metavar="apps")
    apps = actions.add_parser("apps", help="register outside SMART apps and backend-services clients")
    asub = apps.add_subparsers(dest="apps_command", required=True, metavar="ACTION")
    add = asub.add_parser("add", help="register (or replace) an app or a backend-services client")
    add.add_argument("--client-id", required=True)
    add.add_argument("--redirect-uri", action="extend", nargs="+", default=[], dest="redirect_uris", metavar="URI",
                     help="the app's redirect URIs (several, or repeated); none for a backend-services client")
    creds = add.add_mutually_exclusive_group()  # none of them: a confidential app with a generated secret
    creds.add_argument("--jwks-url", help="URL of the client's public JWK Set (private_key_jwt)")
    creds.add_argument("--jwks-file", help="file holding the client's public JWK Set (private_key_jwt)")
    creds.add_argument("--public", action="store_true", help="a public app: no credentials, PKCE only "
                                                            "(none of the three: a generated client secret)")
    add.add_argument("--scope", action="extend", nargs="+", default=[], metavar="S",
                     help="scopes it may be granted (several, repeated or space-separated; system/… for backend "
                          "services); none given: any user- or patient-level scope")
    add.add_argument("--name", default="", help="the name shown on the patient picker")
    add.add_argument("--launch-uri", help="the app's EHR launch URL (the EHR's Launch menu)")
    add.set_defaults(func=apps_add)
    lst = asub.add_parser("list", help="list the registered clients")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=apps_list)
    rm = asub.add_parser("remove", help="remove a client and revoke its tokens")
    rm.add_argument("client_id")
    rm.set_defaults(func=apps_remove)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    port = args.port
    try:
        settings = Settings.from_env(base_url=f"http://{_display_host(args.host)}:{port}", sandbox=True)
    except ConfigError as exc:
        print(f"painpa sandbox: {exc}", file=sys.stderr)
        return 2
    if args.reset and settings.home.exists():
        _reset(settings)
    # Imported only now: every ``painpa`` command loads this module to build its parser, which must
    # stay light, and the app imports prometheus_client, which ``painpa serve`` configures first.
    from werkzeug.serving import make_server

    from sandbox.app import create_sandbox_app  # the app, with prometheus_client (see above)
    from sandbox.setup import ensure_ready  # heavy too: the database and the seed data

    problem = _cannot_listen(args.host, port)  # before seeding, and werkzeug would sys.exit() on its own
    if problem:
        print(f"painpa sandbox: cannot listen on {args.host}:{port}: {problem}; try --port", file=sys.stderr)
        return 2
    try:
        upgraded = _upgrade_schema(settings)
    except ConfigError as exc:
        print(f"painpa sandbox: {exc}; or start over with --reset", file=sys.stderr)
        return 2
    if upgraded:
        print(f"painpa sandbox: {upgraded}", flush=True)
    app = create_sandbox_app(settings)
    server = make_server(args.host, port, app, threaded=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    seeded = ensure_ready(app)
    url = f"{settings.base_url}/ehr/"
    print(f"painpa sandbox: {'seeded ' + str(seeded) + ' patients, ' if seeded else ''}"
          f"ready in {time.monotonic() - started:.1f} s", flush=True)
    print(f"painpa sandbox: open {url}   (instance folder {settings.home}; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _sandbox_db():
    """The sandbox's database, with its tables (as a sandbox start makes them)."""
    from cds_service.store.base import Database  # see the note on imports in run()
    from sandbox import tables  # noqa: F401 - the sbx_* tables, created below

    settings = Settings.from_env(sandbox=True)
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms)
    db.create_all()
    return db


def apps_add(args: argparse.Namespace) -> int:
    from sandbox.auth.apps import AppError, add_app  # the database: loaded when the command runs
    from sandbox.tokens import digest  # idem

    try:
        jwks = json.loads(Path(args.jwks_file).read_text()) if args.jwks_file else None
    except (OSError, ValueError) as exc:
        print(f"painpa sandbox apps add: cannot read the JWK Set in {args.jwks_file}: {exc}", file=sys.stderr)
        return 2
    # No keys and not public: client-confidential-symmetric, with a secret generated here and shown once.
    secret = None if (args.jwks_url or jwks or args.public) else secrets.token_urlsafe(32)
    db = _sandbox_db()
    try:
        app = add_app(db, client_id=args.client_id, redirect_uris=args.redirect_uris, jwks_uri=args.jwks_url,
                      jwks=jwks, public=args.public, secret_sha256=digest(secret) if secret else None,
                      scope=" ".join(args.scope), name=args.name, launch_uri=args.launch_uri, source="cli")
    except AppError as exc:
        print(f"painpa sandbox apps add: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(f"registered {app.client_id} ({app.kind}; grants {', '.join(app.grant_types)}; "
          f"scopes {app.scope or 'any user/patient scope'})")
    if secret:
        print(f"client secret (client_secret_basic; shown this once, kept only as a digest): {secret}")
    return 0


def apps_list(args: argparse.Namespace) -> int:
    from sandbox.auth.apps import list_apps  # the database: loaded when the command runs

    db = _sandbox_db()
    try:
        apps = list_apps(db)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps([{"client_id": a.client_id, "name": a.name, "kind": a.kind, "auth_method": a.auth_method,
                           "redirect_uris": list(a.redirect_uris), "jwks_uri": a.jwks_uri, "scope": a.scope,
                           "grant_types": list(a.grant_types), "registered_by": a.source} for a in apps], indent=2))
        return 0
    for a in apps:
        print(f"{a.client_id}\t{a.kind}\t{a.source}\tgrants {','.join(a.grant_types) or '-'}\t"
              f"scopes {a.scope or '*'}\t{' '.join(a.redirect_uris) or '-'}")
    return 0


def apps_remove(args: argparse.Namespace) -> int:
    from sandbox.auth.apps import AppError, remove_app  # the database: loaded when the command runs

    db = _sandbox_db()
    try:
        removed = remove_app(db, args.client_id)
    except AppError as exc:
        print(f"painpa sandbox apps remove: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    if not removed:
        print(f"painpa sandbox apps remove: no client {args.client_id!r}", file=sys.stderr)
        return 1
    print(f"removed {args.client_id}; its tokens are revoked")
    return 0


def _upgrade_schema(settings: Settings) -> str | None:
    """The sandbox's database is the developer's own: one an earlier painpa made is brought to this
    release's schema, as ``painpa db upgrade`` would, where ``painpa serve`` would refuse to start."""
    from cds_service.store import migrate  # SQLAlchemy and Alembic: loaded when the sandbox runs
    from cds_service.store.base import Database  # see the note on imports above

    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms)
    try:
        with db.engine.connect() as conn:
            found = migrate.status(conn)
        if found.fresh or found.at_head:
            return None  # a fresh one gets the schema when the app opens it
        before, after, _ = migrate.upgrade(db.engine)
    finally:
        db.dispose()
    return (f"upgraded the database schema from {', '.join(before.revisions) or 'the release before migrations'} "
            f"to {', '.join(after.revisions)}")


def _cannot_listen(host: str, port: int) -> str | None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - naming, not binding


def _reset(settings: Settings) -> None:
    """Remove the sandbox's database (and WAL files) but keep keys and other files in PAINPA_HOME."""
    if not settings.database_url.startswith("sqlite:///"):
        print("painpa sandbox: --reset only clears the default SQLite database", file=sys.stderr)
        return
    db_path = Path(settings.database_url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        path = db_path.with_name(db_path.name + suffix)
        if path.exists():
            path.unlink()
