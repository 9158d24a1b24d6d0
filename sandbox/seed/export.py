"""Write the synthetic patients as FHIR transaction Bundles (one JSON file per patient plus
``practice.json``), to load them into another FHIR R4 server, e.g. an open HAPI server used with the
CDS Hooks sandbox (docs/crd-testing.md):

    python -m sandbox.seed.export OUT_DIR [--today YYYY-MM-DD]
    for f in OUT_DIR/*.json; do curl -H 'Content-Type: application/fhir+json' -d @"$f" http://localhost:8090/fhir; done
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

from cds_service.clock import today_utc
from sandbox.seed.load import chart_bundle
from sandbox.seed.practice import practice_bundle
from sandbox.seed.scenarios import SCENARIOS


def export(out: Path, today: date) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "00-practice.json"]
    written[0].write_text(json.dumps(practice_bundle(), indent=1))
    for scenario in SCENARIOS:
        path = out / f"{scenario.pid}.json"
        path.write_text(json.dumps(chart_bundle(scenario, today), indent=1))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.seed.export", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--today", type=date.fromisoformat, default=today_utc())
    args = parser.parse_args(argv)
    for path in export(args.out, args.today):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
