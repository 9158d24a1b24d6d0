"""The ``painpa`` command (interface contract in ARCHITECTURE.md).

Each subcommand's implementation lives beside the surface it drives and is imported lazily, so
that ``painpa clients list`` does not load Flask.
"""

from __future__ import annotations

import argparse
import importlib
import sys


def _lazy(target: str):
    module, func = target.split(":")

    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), func)(args) or 0

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="painpa", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the production service (CDS Hooks + SMART app + health)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--base-url", help="public base URL (JWT aud, card links); default PAINPA_BASE_URL")
    serve.add_argument("--workers", type=int, help="gunicorn worker processes (default PAINPA_WORKERS or 2)")
    serve.set_defaults(func=_lazy("cds_service.serve:run"))

    sandbox = sub.add_parser("sandbox", help="run the local sandbox EHR with painpa on one port (seeded)")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8080)
    sandbox.add_argument("--reset", action="store_true", help="discard the sandbox database and reseed")
    sandbox.set_defaults(func=_lazy("sandbox.cli:run"))

    from cds_service.clients_cli import register as register_clients

    register_clients(sub, _lazy)
    from cds_service.admin.cli import register as register_admin

    register_admin(sub, _lazy)

    evaluate = sub.add_parser("evaluate", help="run one hook request offline (prefetch only); print the response")
    evaluate.add_argument("request", metavar="REQUEST.json")
    evaluate.add_argument("--explain", action="store_true", help="print the policy's reasoning instead of JSON")
    evaluate.add_argument("--today", help="evaluation date YYYY-MM-DD (default: today, UTC)")
    evaluate.set_defaults(func=_lazy("cds_service.evaluate:main"))

    audit = sub.add_parser("audit", help="audit log maintenance")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    purge = audit_sub.add_parser("purge", help="delete audit rows older than the retention period")
    purge.add_argument("--days", type=int, help="retention in days (default PAINPA_AUDIT_RETENTION_DAYS)")
    purge.set_defaults(func=_lazy("cds_service.audit:purge_cli"))

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
