"""``painpa admin``: dashboard users and the imports behind the denial history (CMS-0057-F specific
denial reasons and public metrics, domain.md §3; PAS ClaimResponses, standards.md §4.2).

    painpa admin create-user NAME [--password-stdin]
    painpa admin import-denials FILE.csv
    painpa admin import-metrics FILE.csv
    painpa admin import-pas --fhir-base URL [--since YYYY-MM-DD] [--token-env VAR]
    painpa admin remap
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys

from cds_service.config import ConfigError, Settings, secret_key

# Each action imports its stack (the app state, SQLAlchemy, the denial imports) when it runs, so
# that building the ``painpa`` parser loads none of it and answers at once.


def register(sub: argparse._SubParsersAction) -> None:
    admin = sub.add_parser("admin", help="dashboard users and the imports behind it (denials, payer metrics, PAS)")
    actions = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    user = actions.add_parser("create-user", help="create a dashboard admin user (password prompted)")
    user.add_argument("username")
    user.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    user.set_defaults(func=create_user)
    for kind in ("denials", "metrics"):
        imp = actions.add_parser(f"import-{kind}", help=f"import a {kind} CSV file")
        imp.add_argument("file")
        imp.set_defaults(func=import_csv, kind=kind)
    pas = actions.add_parser("import-pas", help="import PAS ClaimResponses from a registered FHIR server")
    pas.add_argument("--fhir-base", required=True)
    pas.add_argument("--since", help="only resources updated on or after this date (YYYY-MM-DD)")
    pas.add_argument("--token-env", help="name of an environment variable holding a bearer token")
    pas.set_defaults(func=import_pas)
    remap_cmd = actions.add_parser("remap", help="re-apply fhir_profiles/denials rules to every stored reason")
    remap_cmd.set_defaults(func=remap)


def _instance():
    """The instance's state (database, policies), and its secret (the salt of stored patient hashes)."""
    from cds_service import state  # see the note on imports above

    settings = Settings.from_env()
    try:
        return state.build(settings), secret_key(settings)
    except ConfigError as exc:  # a database schema that is not this release's, say: `painpa db upgrade`
        print(f"painpa admin: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def create_user(args: argparse.Namespace) -> int:
    from cds_service.admin import auth  # see the note on imports above

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Repeat password: "):
            print("painpa: passwords differ; nothing created", file=sys.stderr)
            return 2
    app, _ = _instance()
    try:
        auth.create_user(app.db, args.username, password)
    except auth.UserError as exc:
        print(f"painpa: {exc}", file=sys.stderr)
        return 2
    print(f"created admin user {args.username}")
    return 0


def _print(report) -> int:
    print(json.dumps(report.as_dict(), indent=2))
    return 0 if not report.errors else 1


def import_csv(args: argparse.Namespace) -> int:
    from cds_service.denials import imports  # see the note on imports above

    try:
        with open(args.file, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        print(f"painpa: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    app, salt = _instance()
    try:
        return _print(imports.import_csv(app.db, args.kind, raw, salt=salt))
    except imports.ImportFailed as exc:
        print(f"painpa: {args.file}: {exc}", file=sys.stderr)
        return 2


def import_pas(args: argparse.Namespace) -> int:
    from cds_service.denials import imports  # see the note on imports above

    token = os.environ.get(args.token_env) if args.token_env else None
    if args.token_env and not token:
        print(f"painpa: environment variable {args.token_env} is empty", file=sys.stderr)
        return 2
    app, salt = _instance()
    try:
        return _print(imports.import_pas(app.db, args.fhir_base, salt=salt, settings=app.settings, token=token,
                                         since=args.since, policies=app.policies))
    except imports.ImportFailed as exc:
        print(f"painpa: {exc}", file=sys.stderr)
        return 2


def remap(args: argparse.Namespace) -> int:
    from cds_service.denials.rules import default_data  # see the note on imports above
    from cds_service.denials.store import remap as remap_reasons

    app, _ = _instance()
    print(f"{remap_reasons(app.db, default_data())} reasons re-mapped")
    return 0
