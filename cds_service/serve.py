"""``painpa serve``: the production service under gunicorn (ARCHITECTURE.md interface contract).

The master builds the app once before forking, so that a bad setting, a broken policy file or a
database schema that is not this release's stops start-up with a clear message (and a fresh database
gets its schema before the workers open it); each worker then builds its own app, with its own
database pool. Before anything imports the app, the master makes a fresh directory for the
workers' ``/metrics`` files (cds_service/metrics.py: a scrape reaching any worker reports the whole
service), and removes it when gunicorn stops.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile

from cds_service.config import ConfigError, Settings
from cds_service.gunicorn_conf import SHM, Application, options
from cds_service.security import logs


def run(args: argparse.Namespace) -> int:
    logs.configure()  # JSON lines, redacted (docs/security.md)
    try:
        settings = Settings.from_env(**({"base_url": args.base_url} if args.base_url else {}))
    except ConfigError as exc:
        print(f"painpa serve: {exc}", file=sys.stderr)
        return 2
    # A fresh directory per start (stale files would add an earlier run's counts), set before
    # anything imports prometheus_client, which reads the variable once (cds_service/metrics.py).
    metrics_dir = tempfile.mkdtemp(prefix="painpa-metrics-", dir=SHM if os.access(SHM, os.W_OK) else None)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        return _serve(args, settings)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    # Imported only now: the app imports prometheus_client, which reads PROMETHEUS_MULTIPROC_DIR once.
    from cds_service import state
    from cds_service.app import create_app
    from smart_app import keys

    try:
        # Fail fast; on a fresh database the schema is created here, once, before the workers start.
        # A database at another schema revision stops here, naming `painpa db upgrade`.
        probe = create_app(settings)
    except ConfigError as exc:
        print(f"painpa serve: {exc}", file=sys.stderr)
        return 2
    db = state.of(probe).db
    unreadable = keys.unreadable(db, settings)
    db.dispose()
    if unreadable:   # every instance must share the secret: stop here rather than fail each launch
        print(f"painpa serve: {keys.KeysUnreadable().message} (docs/deploy.md §9)", file=sys.stderr)
        return 2
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
