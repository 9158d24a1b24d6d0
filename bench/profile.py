"""Profile hook calls in one process (pyinstrument), with the bench's patients and request bodies:

    python -m bench.profile [--size 500] [--hook order-sign] [--calls 50] [--html OUT.html] [--source fhir]

``--source fhir`` fetches the history from the bench's FHIR server (its own process, kept-alive
connections, as ``fhir0-N``) instead of sending it as prefetch. pyinstrument sees only Python
frames, and a round of that path's reads runs in libcurl's C code (cds_service/fhir/curl.py): for its
CPU by stage, record this command
with py-spy (``py-spy record --format raw --nonblocking -o OUT.txt -- python -m bench.profile
--source fhir --no-profiler``) and sum the samples with ``python -m bench.stages OUT.txt``.

It builds the production app (``create_app``) on a fresh instance folder, registers a client,
and POSTs through Flask's test client, so the profile shows painpa's own time (JWT, parsing,
gather, policy, render, audit, database) without HTTP or load-client noise. For the processes
of a real ``painpa serve`` under load, ``python -m bench --py-spy OUT.svg`` records them with py-spy.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from bench import load, patients, servers
from bench.load import FHIR_TOKEN, HOOK_INSTANCE
from cds_service import state
from tests.support import jwt as tjwt

ISS = "https://bench-ehr.example/cds"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=500)
    p.add_argument("--hook", default="order-sign", choices=("order-select", "order-sign"))
    p.add_argument("--calls", type=int, default=50)
    p.add_argument("--html", type=Path, help="write pyinstrument's HTML report here")
    p.add_argument("--database-url", help="profile against this database (default: SQLite in a temp folder)")
    p.add_argument("--no-profiler", action="store_true", help="only time the calls (wall and CPU per call)")
    p.add_argument("--source", choices=("prefetch", "fhir"), default="prefetch",
                   help="the history as prefetch, or read from the bench's FHIR server")
    p.add_argument("--fhir-batch", action="store_true",
                   help="with --source fhir: the FHIR server takes batch Bundles and says so")
    args = p.parse_args(argv)
    from pyinstrument import Profiler

    from cds_service import clients, gunicorn_conf
    from cds_service.app import create_app
    from cds_service.config import Settings

    today = datetime.now(UTC).date()
    with tempfile.TemporaryDirectory(prefix="painpa-profile-") as tmp, ExitStack() as stack:
        env = {"PAINPA_MAX_PREFETCH_RESOURCES": "10000", "PAINPA_RATE_LIMIT": "1000000"}
        if args.database_url:
            env["DATABASE_URL"] = args.database_url
        settings = Settings.from_env(env=env, home=Path(tmp), base_url="http://127.0.0.1:8080")
        app = create_app(settings)
        gunicorn_conf.post_worker_init(None)   # the worker's GC regime, as under `painpa serve`
        key = tjwt.make_key("ES384")
        history = patients.make_patient(args.size, today)
        fhir_base = "https://ehr.example/fhir"
        if args.source == "fhir":
            fhir_base = stack.enter_context(servers.fhir_server(patients.practice() + history, Path(tmp),
                                                                 batch=args.fhir_batch)).base
        clients.add_client(state.of(app).db, iss=ISS, jwks=tjwt.jwks(key), fhir_bases=[fhir_base])
        if args.source == "fhir":
            body = patients.hook_body(args.hook, today, fhir_server=fhir_base, token=FHIR_TOKEN.decode(),
                                      hook_instance=HOOK_INSTANCE.decode())
        else:
            body = patients.hook_body(args.hook, today, prefetch_values=patients.prefetch(history))
        template = json.dumps(body).encode()
        service = "painpa-order-select" if args.hook == "order-select" else "painpa-order-sign"
        path = f"/cds-services/{service}"
        http = app.test_client()
        tokens = [tjwt.sign(key, ISS, settings.base_url + path) for _ in range(args.calls + 3)]
        # A fresh access token and hookInstance per call: no call reuses another's FHIR reads.
        bodies = load.bodies(template, len(tokens), [f"prof-{uuid.uuid4().hex}" for _ in tokens])

        def call(token: str, data: bytes) -> None:
            resp = http.post(path, data=data, headers={**tjwt.bearer(token), "Content-Type": "application/json"})
            if resp.status_code != 200:
                raise SystemExit(f"HTTP {resp.status_code}: {resp.get_data(as_text=True)[:300]}")
            gunicorn_conf.post_request(None, None, None, None)

        for token, data in zip(tokens[:3], bodies, strict=False):
            call(token, data)
        profiler = Profiler(interval=0.0005)
        started, cpu = time.perf_counter(), time.process_time()
        if not args.no_profiler:
            profiler.start()
        for token, data in zip(tokens[3:], bodies[3:], strict=True):
            call(token, data)
        if not args.no_profiler:
            profiler.stop()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        state.of(app).db.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.calls} x {args.hook}, {args.size} resources {'in prefetch' if args.source == 'prefetch' else 'read from FHIR'}: "
          f"{elapsed / args.calls * 1000:.1f} ms "
          f"wall, {cpu / args.calls * 1000:.1f} ms CPU per call{'' if args.no_profiler else ' (profiled)'}, "
          f"peak RSS {peak_mb:.0f} MB")
    if args.no_profiler:
        return 0
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html:
        args.html.write_text(profiler.output_html())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
