"""``python -m bench`` (``make bench``): order-select and order-sign over real HTTP against
``painpa serve`` under gunicorn, beside a bare-Flask baseline under the same gunicorn settings.

Cases: the patient history (a) in prefetch, or (b) fetched from a FHIR server with 0 or
300 ms injected per query, for (c) patients of 50, 500 and 5,000 resources; and ``prefetch-N-slowfhir``:
every discovery prefetch key answered (the order's context too) and a FHIR server at 150 ms per read
named in the call, which an honoured prefetch never needs; and ``fhirN-N-batch``: the history from
a second FHIR server that takes ``batch`` Bundles and says so in its CapabilityStatement (one
request per round instead of one per query). Each (case, hook) has
a latency phase (one client, calls back to back: the service's own time) and a throughput phase
(``--load-concurrency`` clients for ``--load-seconds``). The same bodies and JWT headers go to
painpa and to the baseline. Prints a table (with the FHIR reads each painpa call made, counted by
the FHIR server), painpa's p50 ratio to the baseline, the targets.

    python -m bench [--quick] [--sizes 50,500,5000] [--sources prefetch,prefetch-slowfhir,fhir0,fhir0-batch,fhir300] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path

from bench import load, patients, report, servers
from bench.load import FHIR_TOKEN, HOOK_INSTANCE

SERVICES = {"order-select": "painpa-order-select", "order-sign": "painpa-order-sign",
            "order-sign-warm": "painpa-order-sign"}
LARGE_BODY = 100_000  # bytes: above this the load phase cycles through a few distinct bodies
WARMUP = 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="50,500,5000", help="patient sizes in resources")
    p.add_argument("--sources", default="prefetch,prefetch-slowfhir,fhir0,fhir0-batch,fhir300",
                   help="prefetch, prefetch-slowfhir (prefetch and a FHIR server at 150 ms per read), "
                        "fhirN (FHIR server with N ms per query)")
    p.add_argument("--slowfhir-sizes", default="500", help="sizes of the prefetch-slowfhir case")
    p.add_argument("--batch-sizes", default="500", help="sizes of the fhirN-batch cases")
    p.add_argument("--requests", type=int, default=200, help="latency phase: calls per (case, hook)")
    p.add_argument("--seconds", type=float, default=20.0, help="latency phase: wall-clock bound")
    p.add_argument("--load-concurrency", type=int, default=8, help="throughput phase: concurrent clients")
    p.add_argument("--load-seconds", type=float, default=4.0, help="throughput phase: duration (0 skips it)")
    p.add_argument("--load-max", type=int, default=2000, help="throughput phase: most calls")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (both servers)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for painpa serve (e.g. PAINPA_REDIS_URL=redis://...)")
    p.add_argument("--postgres", action="store_true", help="run painpa on a throw-away PostgreSQL server")
    p.add_argument("--redis", action="store_true", help="run painpa with a throw-away redis-server (shared caches)")
    p.add_argument("--json", type=Path, help="also write the figures as JSON here")
    p.add_argument("--py-spy", type=Path, help="record painpa's workers with py-spy into this SVG "
                                                "(a .txt name: collapsed stacks, for grep and sort)")
    p.add_argument("--fhir-batch", action="store_true",
                   help="the FHIR server takes batch Bundles and says so in its CapabilityStatement")
    p.add_argument("--quick", action="store_true", help="a handful of calls per case (CI smoke)")
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.seconds, args.load_seconds, args.load_max = 5, 5.0, 0.5, 40
        args.load_concurrency = min(args.load_concurrency, 2)
    return args


SLOW_FHIR_MS = 150   # an EHR's FHIR read (they cost 50-300 ms), for the prefetch-slowfhir case


def _sources(spec: str) -> list[tuple[str, int]]:
    out = []
    for item in spec.split(","):
        item = item.strip()
        if item == "prefetch":
            out.append(("prefetch", 0))
        elif item == "prefetch-slowfhir":
            out.append(("prefetch-slowfhir", SLOW_FHIR_MS))
        elif item.startswith("fhir") and item[4:].isdigit():
            out.append(("fhir", int(item[4:])))
        elif item.startswith("fhir") and item.endswith("-batch") and item[4:-6].isdigit():
            out.append(("fhir-batch", int(item[4:-6])))
        else:
            raise SystemExit(f"unknown source {item!r}: use prefetch, prefetch-slowfhir, fhirN (N ms per query) "
                             "or fhirN-batch (the same from a FHIR server that takes batch Bundles)")
    return out


def _sizes(spec: str) -> list[int]:
    """Patient sizes from a comma-separated list; an empty list names none (``--batch-sizes ""``)."""
    return [int(s) for s in spec.split(",") if s.strip()]


class Bench:
    """One run: the servers, the patients, and the rows measured so far."""

    def __init__(self, args: argparse.Namespace, history: dict[int, list[dict]], painpa: servers.Painpa,
                 fhir: servers.FhirServer, batch_fhir: servers.FhirServer, baseline: tuple[str, int],
                 today: date) -> None:
        self.args, self.history, self.painpa, self.today = args, history, painpa, today
        # Two FHIR servers: painpa reads a server's CapabilityStatement once an hour, so the one
        # that takes batch Bundles (fhirN-batch cases) has its own base.
        self.fhir, self.batch_fhir = fhir, batch_fhir
        self.baseline_base, baseline_pid = baseline
        self.pids = {"painpa": painpa.pid, "baseline": baseline_pid}
        self.mem = {name: servers.MemoryPeak(pid) for name, pid in self.pids.items()}
        self.rows: list[report.Row] = []

    def server_for(self, source: str) -> servers.FhirServer:
        return self.batch_fhir if source == "fhir-batch" else self.fhir

    def template(self, hook: str, size: int, source: str) -> bytes:
        pid = f"bench-pt-{size}"
        prefetch = patients.prefetch(self.history[size]) if source.startswith("prefetch") else None
        body = patients.hook_body(hook.removesuffix("-warm"), self.today, pid=pid, prefetch_values=prefetch,
                                  fhir_server=self.server_for(source).base if source != "prefetch" else None,
                                  hook_instance=HOOK_INSTANCE.decode(), token=FHIR_TOKEN.decode())
        return json.dumps(body, separators=(",", ":")).encode()

    def payloads(self, template: bytes, n: int, tokens: list[str] | None) -> list[bytes]:
        if len(template) <= LARGE_BODY:
            return load.bodies(template, n, tokens)
        pool = load.bodies(template, min(n, 20), tokens)
        return [pool[i % len(pool)] for i in range(n)]

    def measure(self, server: str, url: str, payloads: list[bytes], headers: list[str | None],
                load_payloads: list[bytes], load_headers: list[str | None],
                fhir: servers.FhirServer) -> tuple[load.Run, load.Run | None, dict]:
        """Latency phase, then throughput phase; also the CPU seconds the server tree and this client
        spent in the throughput phase (what a call costs, whoever else shares the cores)."""
        a = self.args
        fhir.clear_log()
        warm = load.drive(url, payloads[:WARMUP], headers[:WARMUP], concurrency=1, max_seconds=a.seconds)
        lat = load.drive(url, payloads[WARMUP:], headers[WARMUP:], concurrency=1, max_seconds=a.seconds)
        thr, cpu = None, {}
        if a.load_seconds > 0:
            server0, client0 = servers.tree_cpu_seconds(self.pids[server]), time.process_time()
            thr = load.drive(url, load_payloads, load_headers, concurrency=a.load_concurrency,
                             max_seconds=a.load_seconds)
            cpu = {"cpu_s": servers.tree_cpu_seconds(self.pids[server]) - server0,
                   "client_cpu_s": time.process_time() - client0}
        calls = warm.count + lat.count + (thr.count if thr else 0)
        if server == "painpa" and calls:   # what reached the FHIR server, per call (the baseline reads none)
            cpu["fhir_reads"] = fhir.reads() / calls
        return lat, thr, cpu

    def case(self, source: str, latency_ms: int, size: int) -> None:
        name = {"prefetch": f"prefetch-{size}", "prefetch-slowfhir": f"prefetch-{size}-slowfhir",
                "fhir-batch": f"fhir{latency_ms}-{size}-batch"}.get(source, f"fhir{latency_ms}-{size}")
        fhir = self.server_for(source)
        fhir.set_latency(latency_ms / 1000)
        # order-sign-warm follows order-select within seconds (as in an EHR) with the same patient, user
        # and access token, so it may reuse the select's FHIR reads (the warm cache, 120 s).
        hooks = ["order-select"] + (["order-sign-warm"] if source == "fhir" else []) + ["order-sign"]
        select_tokens: list[str] = []
        for mem in self.mem.values():
            mem.reset()
        for hook in hooks:
            template = self.template(hook, size, source)
            warm = hook == "order-sign-warm"
            n = len(select_tokens) if warm else self.args.requests + WARMUP
            tokens = select_tokens if warm else [f"bench-{uuid.uuid4().hex}" for _ in range(n)]
            if hook == "order-select":
                select_tokens = tokens
            payloads = self.payloads(template, n, tokens)
            n_load = 0 if warm else self.args.load_max
            load_tokens = [f"bench-{uuid.uuid4().hex}" for _ in range(n_load)]
            load_payloads = self.payloads(template, n_load, load_tokens) if n_load else []
            service = SERVICES[hook]
            headers = self.painpa.auth_headers(service, n)
            load_headers = self.painpa.auth_headers(service, n_load)
            targets = [("painpa", self.painpa.url(service))]
            if not warm:
                targets.append(("baseline", f"{self.baseline_base}/cds-services/{service}"))
            for server, url in targets:
                lat, thr, cpu = self.measure(server, url, payloads, headers, load_payloads, load_headers, fhir)
                if hook == "order-select" and server == "painpa":  # only the tokens actually sent are warm
                    select_tokens = select_tokens[:WARMUP + lat.count]
                self.rows.append(report.Row.of(latency=lat, load=thr, peak_bytes=self.mem[server].peak_bytes, **cpu,
                                               case=name, source=source, size=size, latency_ms=latency_ms,
                                               hook=hook, server=server))
                print(report.table(self.rows[-1:]).splitlines()[-1], flush=True)

    def run(self) -> None:
        for mem in self.mem.values():
            mem.__enter__()
        try:
            for source, latency_ms in _sources(self.args.sources):
                sizes = {"prefetch-slowfhir": self.args.slowfhir_sizes,
                         "fhir-batch": self.args.batch_sizes}.get(source, self.args.sizes)
                for size in _sizes(sizes):
                    self.case(source, latency_ms, size)
        finally:
            for mem in self.mem.values():
                mem.__exit__(None, None, None)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sorted({*_sizes(args.sizes), *_sizes(args.slowfhir_sizes), *_sizes(args.batch_sizes)})
    # The rate limiter still counts every call (its cost is measured) but never throttles the bench;
    # the prefetch bound must admit the 5,000-resource patient plus the order's context.
    extra_env = {"PAINPA_RATE_LIMIT": "1000000", "PAINPA_MAX_PREFETCH_RESOURCES": "10000",
                 **dict(item.split("=", 1) for item in args.env)}
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="painpa-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        history = {size: patients.make_patient(size, started.date(), f"bench-pt-{size}") for size in sizes}
        resources = [r for size in sizes for r in patients.practice(f"bench-pt-{size}") + history[size]]
        if args.postgres:
            from tests.support.postgres import postgres_server

            extra_env["DATABASE_URL"] = stack.enter_context(postgres_server())
        if args.redis:
            extra_env["PAINPA_REDIS_URL"] = stack.enter_context(servers.redis_server(work))
        fhir = stack.enter_context(servers.fhir_server(resources, work, batch=args.fhir_batch))
        batch_fhir = stack.enter_context(servers.fhir_server(resources, work / "batch", batch=True))
        painpa = stack.enter_context(servers.painpa(work / "home", [fhir.base, batch_fhir.base], workers=args.workers,
                                                    env=extra_env, log_path=work / "serve.log"))
        base = stack.enter_context(servers.baseline(workers=args.workers))
        spy = None
        if args.py_spy:
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--subprocesses",
                                    "--pid", str(painpa.pid), "--output", str(args.py_spy), "--rate", "200",
                                    *(["--format", "raw"] if args.py_spy.suffix == ".txt" else [])],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bench = Bench(args, history, painpa, fhir, batch_fhir, base, started.date())
        print(report.table([]), flush=True)
        try:
            bench.run()
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)   # py-spy writes its output on Ctrl-C, not on SIGTERM
                spy.wait(timeout=60)
    print()
    store = ("PostgreSQL" if args.postgres else "SQLite") + (" + Redis" if args.redis else "")
    print(f"painpa bench, {started:%Y-%m-%d %H:%M} UTC, {args.workers} gunicorn workers, {store}, "
          f"latency phase: 1 client; throughput: {args.load_concurrency} clients for {args.load_seconds} s; "
          f"load average {os.getloadavg()[0]:.1f} (other processes share these cores)")
    print(report.table(bench.rows))
    print("\nTargets:")
    print(report.targets_text(bench.rows))
    if args.json:
        meta = {"started": started.isoformat(), "workers": args.workers, "store": store,
                "loadavg_end": os.getloadavg(), "args": vars(args) | {
            "json": str(args.json), "py_spy": str(args.py_spy) if args.py_spy else None}}
        args.json.write_text(json.dumps(report.as_json(bench.rows, meta), indent=1))
    return 0 if all(r.errors == 0 for r in bench.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
