"""Median order-sign latency with full FHIR querying (no prefetch), measured over real HTTP.

Starts the fixture FHIR server (tests/support/fhir_server.py) and ``painpa serve`` as processes,
registers a client with ``painpa clients add``, then sends N order-sign calls for the bundled
example patient (tests/cds/data) with ``fhirAuthorization`` and no prefetch, so every call queries
the FHIR server for all of its history. Prints median, p90 and max. A benchmark, not a test:

    .venv/bin/python bench/order_sign_latency.py [--calls 100] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.cds.conftest import hook_body  # noqa: E402
from tests.support import jwt as tjwt  # noqa: E402
from tests.support.procs import VENV_BIN, free_port, running  # noqa: E402

ISS = "https://bench-ehr.example/cds"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fhir-latency", type=float, default=0.0,
                        help="seconds of added latency per FHIR query (simulates a remote EHR)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        key = tjwt.make_key("ES384")
        (home / "jwks.json").write_text(json.dumps(tjwt.jwks(key)))
        fhir_port, port = free_port(), free_port()
        fhir_root = f"http://127.0.0.1:{fhir_port}"
        fhir_base = f"{fhir_root}/fhir"
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PAINPA_HOME": str(home), "PAINPA_BASE_URL": base}
        env.pop("DATABASE_URL", None)
        fhir_cmd = [sys.executable, "-m", "tests.support.fhir_server", "--port", str(fhir_port),
                    "--data", str(ROOT / "tests/cds/data/record.json"), "--page-size", "50"]
        with running(fhir_cmd, ready_url=f"{fhir_base}/metadata"):
            if args.fhir_latency:
                types = ["Patient", "Coverage", "Condition", "Procedure", "MedicationRequest", "MedicationStatement",
                         "Observation", "DiagnosticReport", "ImagingStudy", "DocumentReference", "ClaimResponse",
                         "Claim", "PractitionerRole", "Location"]
                requests.post(f"{fhir_root}/_control", json={"slow": dict.fromkeys(types, args.fhir_latency)},
                              timeout=5)
            import subprocess

            subprocess.run([str(VENV_BIN / "painpa"), "clients", "add", "--iss", ISS, "--jwks-file",
                            str(home / "jwks.json"), "--fhir-base", fhir_base], env=env, check=True,
                           capture_output=True)
            with running(["painpa", "serve", "--port", str(port), "--workers", str(args.workers)],
                         ready_url=f"{base}/healthz", env=env):
                url = f"{base}/cds-services/painpa-order-sign"
                session = requests.Session()
                latencies = []
                statuses: dict[int, int] = {}
                for i in range(args.calls + 5):
                    body = hook_body(fhir_server=fhir_base, token=f"bench-token-{i:04d}-abcdefghijklmnop")
                    headers = tjwt.bearer(tjwt.sign(key, ISS, url))
                    started = time.perf_counter()
                    resp = session.post(url, json=body, headers=headers, timeout=30)
                    elapsed = time.perf_counter() - started
                    if i >= 5:  # the first calls warm the workers
                        latencies.append(elapsed)
                        statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
    latencies.sort()
    p90 = latencies[int(0.9 * (len(latencies) - 1))]
    print(f"order-sign, full FHIR querying (no prefetch), {len(latencies)} calls, {args.workers} workers,"
          f" +{args.fhir_latency * 1000:.0f} ms per FHIR query")
    print(f"  statuses: {statuses}")
    print(f"  median {statistics.median(latencies) * 1000:.1f} ms   p90 {p90 * 1000:.1f} ms"
          f"   max {latencies[-1] * 1000:.1f} ms")
    return 0 if set(statuses) == {200} else 1


if __name__ == "__main__":
    sys.exit(main())
