"""Median order-sign latency with full FHIR querying (no prefetch), measured over real HTTP.

Starts the fixture FHIR server (tests/support/fhir_server.py) and ``painpa serve`` as processes
(through the bench harness, bench/servers.py: same process model and client registration as
``make bench``), then sends N order-sign calls for the bundled example patient (tests/cds/data)
with ``fhirAuthorization`` and no prefetch, so every call queries the FHIR server for all of its
history. Prints median, p90 and max. A benchmark, not a test:

    .venv/bin/python bench/order_sign_latency.py [--calls 100] [--workers 2] [--fhir-latency 0.3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import load, servers  # noqa: E402
from tests.support.hook_requests import hook_body  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fhir-latency", type=float, default=0.0,
                        help="seconds of added latency per FHIR query (simulates a remote EHR)")
    args = parser.parse_args()
    record = json.loads((ROOT / "tests/cds/data/record.json").read_text())
    resources = [e["resource"] for e in record["entry"]]
    with tempfile.TemporaryDirectory() as tmp, \
            servers.fhir_server(resources, Path(tmp), page_size=50) as fhir, \
            servers.painpa(Path(tmp) / "home", [fhir.base], workers=args.workers) as painpa:
        fhir.set_latency(args.fhir_latency)
        service = "painpa-order-sign"
        payloads = [json.dumps(hook_body(fhir_server=fhir.base, token=f"bench-token-{i:04d}-abcdefghijklmnop")).encode()
                    for i in range(args.calls + 5)]
        headers = painpa.auth_headers(service, len(payloads))
        load.drive(painpa.url(service), payloads[:5], headers[:5], concurrency=1, max_seconds=60)  # warm the workers
        run = load.drive(painpa.url(service), payloads[5:], headers[5:], concurrency=1, max_seconds=600)
    latencies = run.latencies
    print(f"order-sign, full FHIR querying (no prefetch), {run.count} calls, {args.workers} workers,"
          f" +{args.fhir_latency * 1000:.0f} ms per FHIR query")
    print(f"  statuses: {dict(run.statuses)}")
    if latencies:
        print(f"  median {statistics.median(latencies) * 1000:.1f} ms   p90 {load.percentile(latencies, 90) * 1000:.1f} ms"
              f"   max {latencies[-1] * 1000:.1f} ms")
    return 0 if set(run.statuses) == {200} else 1


if __name__ == "__main__":
    sys.exit(main())
