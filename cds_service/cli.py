"""The ``painpa`` command (interface contract in ARCHITECTURE.md).

Each subcommand's implementation lives beside the surface it drives (``serve``, ``clients``,
``admin``, ``evaluate``, ``audit``, ``keys``, ``db``). ``painpa sandbox`` is the sandbox's own: the product never
imports the sandbox, so the sandbox adds its subcommand through the ``painpa.commands`` entry point
it declares in pyproject.toml (Python packaging's plugin registry; see :data:`PLUGINS`).

Building the parser loads neither Flask nor SQLAlchemy: a command imports its own stack when it
runs, so ``painpa --help``, a usage error or ``painpa clients list`` answer at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points

from cds_service import clients_cli, serve
from cds_service.admin import cli as admin_cli
from cds_service.config import ConfigError

# Entry points of this group are functions ``register(subparsers)`` that add a subcommand.
PLUGINS = "painpa.commands"
DESCRIPTION = ("Prior-authorization readiness for interventional pain orders: a CDS Hooks / Da Vinci CRD "
               "service and a SMART on FHIR app.")
# Files of the source repository only (a test checks each path exists).
EPILOG = """documentation (in the source repository):
  README.md             what painpa does, a first run
  docs/registering.md   connect an EHR: painpa clients add, SMART registration
  docs/deploy.md        production: PostgreSQL, several hosts, upgrades, keys
  docs/security.md      threat model and the controls behind it
  docs/crd-testing.md   testing with Inferno's CRD test kit and other CDS clients"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="painpa", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_cmd = sub.add_parser("serve", help="run the production service (CDS Hooks + SMART app + health)")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8080)
    serve_cmd.add_argument("--base-url", help="public base URL (JWT aud, card links); default PAINPA_BASE_URL")
    serve_cmd.add_argument("--workers", type=int, help="gunicorn worker processes (default PAINPA_WORKERS or 2)")
    serve_cmd.set_defaults(func=serve.run)

    for plugin in entry_points(group=PLUGINS):
        register = _load_plugin(plugin)
        if register is not None:
            register(sub)

    clients_cli.register(sub)
    admin_cli.register(sub)

    evaluate_cmd = sub.add_parser("evaluate", help="run one hook request offline (prefetch only); print the response")
    evaluate_cmd.add_argument("request", metavar="REQUEST.json")
    evaluate_cmd.add_argument("--explain", action="store_true", help="print the policy's reasoning instead of JSON")
    evaluate_cmd.add_argument("--today", help="evaluation date YYYY-MM-DD (default: today, UTC)")
    evaluate_cmd.set_defaults(func=_evaluate)

    audit_cmd = sub.add_parser("audit", help="audit log maintenance")
    audit_sub = audit_cmd.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    purge = audit_sub.add_parser("purge", help="delete audit rows older than the retention period")
    purge.add_argument("--days", type=int, help="retention in days (default PAINPA_AUDIT_RETENTION_DAYS)")
    purge.add_argument("--force", action="store_true",
                       help="purge even with a retention under the 30-day minimum (cds_service/audit.py)")
    purge.set_defaults(func=_audit_purge)

    keys_cmd = sub.add_parser("keys", help="painpa's own signing and token seal keys, kept in the database")
    keys_sub = keys_cmd.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    rotate = keys_sub.add_parser("rotate", help="make a new signing key and seal key current; "
                                                "the old ones stay published and readable for 24 h")
    rotate.add_argument("--retire-old", action="store_true",
                        help="retire every older key now (a key that may have leaked); open app sessions relaunch")
    rotate.add_argument("--publish-lead", type=int, default=600, metavar="SECONDS",
                        help="publish the new signing key this long before it signs (default 600: EHRs may "
                             "cache the JWKS for 300 s)")
    rotate.set_defaults(func=_keys_rotate)
    keys_list = keys_sub.add_parser("list", help="kids, dates and states of the keys (never key material)")
    keys_list.add_argument("--json", action="store_true")
    keys_list.set_defaults(func=_keys_list)

    db_cmd = sub.add_parser("db", help="the database schema: upgrade, roll back, show the revision (Alembic)")
    db_sub = db_cmd.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_current = db_sub.add_parser("current", help="the database's schema revision, and this release's")
    db_current.set_defaults(func=_db_current)
    db_upgrade = db_sub.add_parser("upgrade", help="migrate the schema to this release's (stop every instance "
                                                   "first); recognises the release before migrations")
    db_upgrade.add_argument("--revision", default="head", metavar="REV", help="migrate to REV (default head)")
    db_upgrade.set_defaults(func=_db_upgrade)
    db_downgrade = db_sub.add_parser("downgrade", help="roll the schema back to REV, before installing the "
                                                       "release of REV (stop every instance first)")
    db_downgrade.add_argument("revision", metavar="REV")
    db_downgrade.set_defaults(func=_db_downgrade)
    db_revision = db_sub.add_parser("revision", help="(developers) write the next revision from the models' "
                                                     "changes (cds_service/store/migrations/README.md)")
    db_revision.add_argument("-m", "--message", required=True, help="what the revision changes, one line")
    db_revision.set_defaults(func=_db_revision)

    return parser


def _load_plugin(plugin: EntryPoint) -> Callable[[argparse._SubParsersAction], None] | None:
    """The plugin's ``register``, or None when it cannot be imported: the production image installs
    painpa without the sandbox package (deploy/Containerfile) while painpa's metadata still declares
    the sandbox's entry point, and a plugin that fails to import must not take ``painpa serve`` or
    ``painpa audit purge`` down with it."""
    try:
        return plugin.load()
    except ModuleNotFoundError as exc:
        if exc.name and (plugin.module == exc.name or plugin.module.startswith(f"{exc.name}.")):
            return None   # the plugin's package is not installed: nothing to say
        problem: ImportError = exc
    except ImportError as exc:
        problem = exc
    # Installed but broken (a missing dependency, say): say so, or the command would just vanish.
    print(f"painpa: the {plugin.name!r} command is unavailable: {type(problem).__name__}: {problem}",
          file=sys.stderr)
    return None


def _evaluate(args: argparse.Namespace) -> int:
    from cds_service import evaluate  # the policy engine and the hooks: loaded when the command runs

    return evaluate.main(args)


def _audit_purge(args: argparse.Namespace) -> int:
    from cds_service import audit  # SQLAlchemy: loaded when the command runs

    return audit.purge_cli(args)


def _keys_rotate(args: argparse.Namespace) -> int:
    from smart_app import keys_cli  # SQLAlchemy and joserfc: loaded when the command runs

    return keys_cli.rotate(args)


def _keys_list(args: argparse.Namespace) -> int:
    from smart_app import keys_cli  # SQLAlchemy and joserfc: loaded when the command runs

    return keys_cli.list_(args)


def _db_current(args: argparse.Namespace) -> int:
    from cds_service.store import db_cli  # SQLAlchemy and Alembic: loaded when the command runs

    return db_cli.current(args)


def _db_upgrade(args: argparse.Namespace) -> int:
    from cds_service.store import db_cli  # SQLAlchemy and Alembic: loaded when the command runs

    return db_cli.upgrade(args)


def _db_downgrade(args: argparse.Namespace) -> int:
    from cds_service.store import db_cli  # SQLAlchemy and Alembic: loaded when the command runs

    return db_cli.downgrade(args)


def _db_revision(args: argparse.Namespace) -> int:
    # The app factory imports every surface, hence every product table the revision compares.
    from cds_service import app  # noqa: F401 - see the note on imports above
    from cds_service.store import Base, db_cli  # see the note on imports above

    return db_cli.revision(args, Base.metadata)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:   # a setting to fix: the message says which, no traceback
        print(f"painpa: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        sa_exc = sys.modules.get("sqlalchemy.exc")   # loaded only if the command opened the database
        if sa_exc is None or not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            raise
        # The error's class and the driver's first line name the cause (host, role, file); never a
        # statement or its parameters.
        first = str(getattr(exc, "orig", exc)).strip().splitlines()[:1]
        print(f"painpa: the database could not be used ({type(exc).__name__}: {' '.join(first)[:300]}); "
              "check DATABASE_URL and that the server is up", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
