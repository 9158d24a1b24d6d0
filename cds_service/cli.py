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
    serve.set_defaults(func=_lazy("cds_service.serve:run"))

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
