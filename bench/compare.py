"""Before/after table of bench runs, as Markdown (for bench/RESULTS.md):

    python -m bench.compare BEFORE.json [MORE-BEFORE.json ...] AFTER.json

Several BEFORE files are merged (a run split by source, e.g. prefetch then fhir0,fhir300).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.report import Row, ratio


def _rows(path: Path) -> list[Row]:
    return [Row(**r) for r in json.loads(path.read_text())["rows"]]   # older runs: no reads column


def _fmt(row: Row | None, rows: list[Row]) -> list[str]:
    if row is None:
        return ["-"] * 8
    rat = ratio(rows, row)
    return [f"{row.p50_ms:.1f}", f"{row.p95_ms:.1f}", f"{row.p99_ms:.1f}", f"{row.rps:.0f}" if row.rps else "-",
            f"{row.cpu_ms:.1f}" if row.cpu_ms else "-", f"{row.peak_mb:.0f}", f"{rat:.1f}x" if rat else "-",
            f"{row.fhir_reads:.2f}" if row.fhir_reads is not None else "-"]


def markdown(before: list[Row], after: list[Row]) -> str:
    head = ("| case | hook | p50 before | p95 | p99 | req/s | cpu ms | peak MB | x bare | reads | p50 after | p95 "
            "| p99 | req/s | cpu ms | peak MB | x bare | reads | bare p50 (after) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    keys = [(r.case, r.hook) for r in after if r.server == "painpa"]
    keys += [(r.case, r.hook) for r in before if r.server == "painpa" and (r.case, r.hook) not in keys]
    for case, hook in keys:
        b = next((r for r in before if (r.case, r.hook, r.server) == (case, hook, "painpa")), None)
        a = next((r for r in after if (r.case, r.hook, r.server) == (case, hook, "painpa")), None)
        bare = next((r for r in after if (r.case, r.hook, r.server) == (case, hook, "baseline")), None)
        lines.append("| " + " | ".join([case, hook, *_fmt(b, before), *_fmt(a, after),
                                         f"{bare.p50_ms:.1f}" if bare else "-"]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.splitlines()[0])
    p.add_argument("files", type=Path, nargs="+", metavar="RUN.json", help="before run(s), then the after run")
    args = p.parse_args(argv)
    if len(args.files) < 2:
        p.error("give at least one BEFORE and one AFTER file")
    before = [row for path in args.files[:-1] for row in _rows(path)]
    print(markdown(before, _rows(args.files[-1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
