"""CPU per hook call by stage, from a py-spy recording of ``python -m bench.profile`` (every thread:
before round 9 the FHIR reads ran on a query pool's threads, which pyinstrument does not see; a
round's reads now run in libcurl under ``cds_service/fhir/curl.py``):

    py-spy record --format raw --nonblocking -r 250 -o OUT.txt -- python -m bench.profile --source fhir --no-profiler --calls 40
    python -m bench.stages OUT.txt --calls 43 --rate 250

Samples outside the calls (start-up, building the patient) and samples of waiting threads (a pool
thread idle or blocked on a socket, a call waiting for its queries) are left out; each remaining
sample goes to the first stage, in the order below, that one of its frames names.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

IN_CALL = ("call (bench/profile.py", "concurrent/futures/thread.py")
# A thread waiting, not running: py-spy's idle test misses some of these under --nonblocking.
WAITING = ("Condition.wait (threading.py", "_worker (concurrent/futures/thread.py:81)", "SocketIO.readinto (socket.py",
           "do_poll (urllib3/util/wait.py", "Event.wait (threading.py", "_wait_for_tstate_lock",
           "_wait (cds_service/fhir/curl.py")
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("fhir: warm cache write", ("set_json (", "store (cds_service/fhir/warm.py")),
    ("fhir: warm cache read", ("get_json (", "load (cds_service/fhir/warm.py")),
    ("fhir: JSON decode of answers", ("FhirClient.get (cds_service/fhir/client.py:13", "FhirClient.get (cds_service/fhir/client.py:14",
                                      "json/decoder.py", "cds_service/jsontext.py")),
    ("fhir: answer checks + budget", ("answers.py", "take_resources")),
    ("fhir: HTTP (libcurl, urllib3, sockets, body read)", ("cds_service/fhir/curl.py", "urllib3/", "http/client.py",
                                                           "read_bounded", "egress.py")),
    ("fhir: query pool (submit, wake-ups)", ("concurrent/futures/", "threading.py")),
    ("fhir: gather (record, references)", ("cds_service/fhir/gather.py", "cds_service/fhir/rounds.py",
                                           "cds_service/policy/record.py")),
    ("policy evaluation", ("cds_service/policy/",)),
    ("request parse + depth guard", ("cds_service/hooks/request.py", "cds_service/security/limits.py")),
    ("JWT, client, jti, rate limit", ("cds_service/auth/", "cds_service/security/gate.py", "joserfc")),
    ("denial evidence", ("cds_service/denials/",)),
    ("render + JSON answer", ("cds_service/render/", "jsonify")),
    ("audit + metrics", ("cds_service/audit.py", "cds_service/metrics.py", "prometheus_client")),
    ("database (other)", ("sqlalchemy/",)),
)


def stages(lines: list[str]) -> Counter:
    out: Counter = Counter()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or not any(m in f for f in frames for m in IN_CALL):
            continue
        if any(w in frames[-1] for w in WAITING):
            continue
        name = next((name for name, marks in STAGES if any(m in f for f in frames for m in marks)), "other (Flask, gunicorn hooks, ...)")
        out[name] += int(count)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__.splitlines()[0])
    p.add_argument("raw", type=Path, help="py-spy --format raw output")
    p.add_argument("--calls", type=int, required=True, help="calls recorded (bench.profile's --calls + 3 warm-up)")
    p.add_argument("--rate", type=int, default=250, help="py-spy's samples per second")
    args = p.parse_args(argv)
    counts = stages(args.raw.read_text().splitlines())
    per_call = 1000 / args.rate / args.calls
    total = sum(counts.values())
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"{name:<45} {n * per_call:7.2f} ms  {100 * n / total:5.1f} %")
    print(f"{'total (sampled CPU per call)':<45} {total * per_call:7.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
