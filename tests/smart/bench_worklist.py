"""Benchmark: how long after the token the worklist is on screen, on the sandbox (the target:
"the worklist renders within 1 s of the token"). Not a test; prints figures.

    .venv/bin/python -m tests.smart.bench_worklist [--runs 20]

Starts ``painpa sandbox`` on a free port (throw-away PAINPA_HOME), and for each run fires
order-select for a seeded ESI patient, launches the SMART link of the card the way the sandbox EHR
does, and times: the callback (code → token exchange, server side) and the worklist page (the same
gather + evaluate as the CDS service, rendered to HTML).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time

import requests

from tests.support.procs import free_port, running


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


def run(runs: int) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as home, running(
            ["painpa", "sandbox", "--port", str(port)], ready_url=base + "/healthz",
            env={"PAINPA_HOME": home}, timeout=60):
        pids = list(dict.fromkeys(re.findall(r'/ehr/patients/([^"/?]+)', requests.get(base + "/ehr/", timeout=10).text)))
        pids = [p for p in pids if "-esi-" in p] or pids
        token_ms, worklist_ms, total_ms, server_ms = [], [], [], []
        for i in range(runs):
            pid = pids[i % len(pids)]
            hook = requests.post(base + "/ehr/api/hooks/order-select", timeout=30, json={
                "patient": pid, "order": {"family": "esi", "code": "62323", "state": pid[:2].upper(), "pos": "11"}}).json()
            card = next((c for c in hook.get("cards", []) if any(lk.get("type") == "smart" for lk in c.get("links", []))), None)
            body = {"hookInstance": hook["hookInstance"], "patient": pid}
            if card:
                body.update(card=card["uuid"], link=0)
            url = requests.post(base + "/ehr/api/launch", json=body, timeout=10).json()["url"]
            s = requests.Session()
            authorize = s.get(url, allow_redirects=False).headers["Location"]
            callback = s.get(authorize, allow_redirects=False).headers["Location"]
            t0 = time.perf_counter()
            worklist = s.get(callback, allow_redirects=False).headers["Location"]
            t1 = time.perf_counter()
            page = s.get(worklist if worklist.startswith("http") else base + worklist)
            t2 = time.perf_counter()
            assert page.status_code == 200 and 'data-testid="worklist"' in page.text, page.text[-400:]
            token_ms.append((t1 - t0) * 1000)
            worklist_ms.append((t2 - t1) * 1000)
            total_ms.append((t2 - t0) * 1000)
            server_ms.append(float(re.search(r'data-elapsed-ms="(\d+)"', page.text).group(1)))
        print(f"worklist bench on the sandbox: {runs} launches over {len(pids)} ESI patients")
        for name, vals in (("token exchange (callback)", token_ms), ("worklist page (gather+evaluate+render)", worklist_ms),
                           ("  of which gather+evaluate", server_ms), ("token -> worklist on screen", total_ms)):
            print(f"  {name:40s} median {statistics.median(vals):7.1f} ms   p90 {_pct(vals, 0.9):7.1f} ms"
                  f"   max {max(vals):7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    run(parser.parse_args().runs)


if __name__ == "__main__":
    main()
