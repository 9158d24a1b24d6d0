"""The ``painpa`` command (interface contract in ARCHITECTURE.md).

Each subcommand's implementation lives beside the surface it drives (``serve``, ``clients``,
``admin``, ``evaluate``, ``audit``). ``painpa sandbox`` is the sandbox's own: the product never
imports the sandbox, so the sandbox adds its subcommand through the ``painpa.commands`` entry point
it declares in pyproject.toml (Python packaging's plugin registry; see :data:`PLUGINS`).

Building the parser loads neither Flask nor SQLAlchemy: a command imports its own stack when it
runs, so ``painpa --help``, a usage error or ``painpa clients list`` answer at once.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from cds_service import clients_cli, serve
from cds_service.admin import cli as admin_cli

# Entry points of this group are functions ``register(subparsers)`` that add a subcommand.
PLUGINS = "painpa.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="painpa", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_cmd = sub.add_parser("serve", help="run the production service (CDS Hooks + SMART app + health)")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8080)
    serve_cmd.add_argument("--base-url", help="public base URL (JWT aud, card links); default PAINPA_BASE_URL")
    serve_cmd.add_argument("--workers", type=int, help="gunicorn worker processes (default PAINPA_WORKERS or 2)")
    serve_cmd.set_defaults(func=serve.run)

    for plugin in entry_points(group=PLUGINS):
        plugin.load()(sub)

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
    purge.set_defaults(func=_audit_purge)

    return parser


def _evaluate(args: argparse.Namespace) -> int:
    from cds_service import evaluate  # the policy engine and the hooks: loaded when the command runs

    return evaluate.main(args)


def _audit_purge(args: argparse.Namespace) -> int:
    from cds_service import audit  # SQLAlchemy: loaded when the command runs

    return audit.purge_cli(args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
