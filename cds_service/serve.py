"""``painpa serve``: the production service under gunicorn (ARCHITECTURE.md interface contract).

The master builds the app once before forking, so that a bad setting or a broken policy file stops
start-up with a clear message (and the database tables exist before workers race to create them);
each worker then builds its own app, with its own database pool.
"""

from __future__ import annotations

import argparse
import logging
import sys

from cds_service.config import ConfigError, Settings


def run(args: argparse.Namespace) -> int:
    from cds_service.security import logs

    logs.configure()  # JSON lines, redacted (docs/security.md)
    try:
        settings = Settings.from_env(**({"base_url": args.base_url} if args.base_url else {}))
    except ConfigError as exc:
        print(f"painpa serve: {exc}", file=sys.stderr)
        return 2
    from cds_service.app import create_app

    probe = create_app(settings)  # fail fast, and create tables once
    probe.extensions["painpa.db"].dispose()
    from cds_service.gunicorn_conf import Application, options

    try:
        gunicorn_options = options(host=args.host, port=args.port, workers=args.workers)
    except ConfigError as exc:
        print(f"painpa serve: {exc}", file=sys.stderr)
        return 2
    workers = gunicorn_options["workers"]
    if workers > 1 and settings.database_url.startswith("sqlite"):
        logging.getLogger(__name__).info("SQLite with %d workers: fine for one host; use PostgreSQL for more", workers)
    print(f"painpa serving on http://{args.host}:{args.port} (public base URL {settings.base_url})", flush=True)
    Application(lambda: create_app(settings), {**gunicorn_options, "logconfig_dict": logs.gunicorn_logconfig()}).run()
    return 0
