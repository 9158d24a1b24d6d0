"""Figures of a bench run: one row per (case, hook, server), painpa's ratio to the bare-Flask
baseline, and the targets (latency, throughput and growth with the chart's size, cases (a)-(c) of
bench/__main__.py) with their measured values (met or not)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bench.load import Run, percentile


@dataclass
class Row:
    case: str          # e.g. "prefetch-500", "fhir300-5000"
    source: str        # prefetch | fhir
    size: int          # resources in the patient's history
    latency_ms: int    # injected per FHIR query
    hook: str          # order-select | order-sign | order-sign-warm
    server: str        # painpa | baseline
    n: int             # successful calls in the latency phase
    errors: int        # non-200 answers in both phases
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rps: float         # throughput phase (concurrent clients), calls per second; 0 when not measured
    peak_mb: float     # peak RSS of the server's process tree during the case
    cpu_ms: float = 0.0         # throughput phase: the server tree's CPU time per call (user + system)
    client_cpu_ms: float = 0.0  # throughput phase: the load client's CPU time per call (same cores)
    fhir_reads: float | None = None  # FHIR requests per painpa call, as the FHIR server counted them

    @classmethod
    def of(cls, *, latency: Run, load: Run | None, peak_bytes: int, cpu_s: float = 0.0, client_cpu_s: float = 0.0,
           **keys) -> Row:
        lat = latency.latencies
        errors = sum(c for s, c in latency.statuses.items() if s != 200)
        if load is not None:
            errors += sum(c for s, c in load.statuses.items() if s != 200)
        ms_per_call = 1000 / load.count if load is not None and load.count else 0.0
        return cls(**keys, n=len(lat), errors=errors, p50_ms=percentile(lat, 50) * 1000,
                   p95_ms=percentile(lat, 95) * 1000, p99_ms=percentile(lat, 99) * 1000,
                   rps=load.throughput if load is not None else 0.0, peak_mb=peak_bytes / 2**20,
                   cpu_ms=cpu_s * ms_per_call, client_cpu_ms=client_cpu_s * ms_per_call)


def find(rows: list[Row], case: str, hook: str, server: str = "painpa") -> Row | None:
    return next((r for r in rows if r.case == case and r.hook == hook and r.server == server), None)


def ratio(rows: list[Row], row: Row) -> float | None:
    base = find(rows, row.case, row.hook, "baseline")
    return row.p50_ms / base.p50_ms if base and base.p50_ms else None


def table(rows: list[Row]) -> str:
    head = (f"{'case':<21} {'hook':<16} {'server':<8} {'n':>4} {'err':>3} {'p50 ms':>8} {'p95 ms':>8} "
            f"{'p99 ms':>8} {'req/s':>7} {'cpu ms':>7} {'peak MB':>8} {'x bare':>7} {'us/res':>7} {'reads':>6}")
    lines = [head, "-" * len(head)]
    for r in rows:
        rat = ratio(rows, r) if r.server == "painpa" else None
        per = r.p50_ms * 1000 / r.size if r.server == "painpa" else None
        lines.append(
            f"{r.case:<21} {r.hook:<16} {r.server:<8} {r.n:>4} {r.errors:>3} {r.p50_ms:>8.1f} {r.p95_ms:>8.1f} "
            f"{r.p99_ms:>8.1f} {r.rps:>7.1f} {(f'{r.cpu_ms:.1f}' if r.cpu_ms else '-'):>7} {r.peak_mb:>8.0f} "
            f"{(f'{rat:.2f}' if rat else '-'):>7} {(f'{per:.1f}' if per else '-'):>7} "
            f"{(f'{r.fhir_reads:.2f}' if r.fhir_reads is not None else '-'):>6}")
    return "\n".join(lines)


def _slope(rows: list[Row], small: int, large: int, hook: str) -> float | None:
    a, b = find(rows, f"prefetch-{small}", hook), find(rows, f"prefetch-{large}", hook)
    if a is None or b is None:
        return None
    return (b.p50_ms - a.p50_ms) * 1000 / (large - small)  # marginal microseconds per resource


FHIR_CPU_RATIO = 15 / 8.8   # the FHIR path's target (fhir0-500 order-sign) against prefetch-500's CPU


def targets(rows: list[Row]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each target that this run measured."""
    out: list[tuple[str, str, bool | None]] = []
    a = find(rows, "prefetch-500", "order-sign")
    if a is not None:
        out.append(("(a) prefetch, 500 resources: order-sign p99 <= 50 ms", f"{a.p99_ms:.1f} ms", a.p99_ms <= 50))
        rat = ratio(rows, a)
        if rat is not None:
            out.append(("(a) p50 within 2x the bare-Flask baseline", f"{rat:.2f}x", rat <= 2.0))
        if a.rps:
            out.append(("(a) throughput >= 150 order-sign/s", f"{a.rps:.0f}/s", a.rps >= 150))
    slow = find(rows, "prefetch-500-slowfhir", "order-sign")
    if a is not None and slow is not None:
        gap = slow.p50_ms - a.p50_ms
        reads = f", {slow.fhir_reads:.2f} FHIR reads per call" if slow.fhir_reads is not None else ""
        out.append(("(a) prefetch honoured, FHIR server at 150 ms: p50 within 20 ms of prefetch-500",
                    f"{slow.p50_ms:.1f} ms vs {a.p50_ms:.1f} ms ({gap:+.1f} ms{reads})", gap <= 20))
    worst = [r for r in rows if r.server == "painpa" and r.case == "fhir300-500" and r.hook != "order-sign-warm"]
    if worst:
        w = max(worst, key=lambda r: r.p99_ms)
        out.append(("(b) 300 ms per FHIR query, 500 resources: p99 <= 450 ms",
                    f"{w.p99_ms:.0f} ms ({w.hook}; p50 {w.p50_ms:.0f} ms)", w.p99_ms <= 450))
    if a is not None and a.cpu_ms:
        # Server CPU per call is machine-bound, so the FHIR path's target is stated against this run's
        # prefetch path: 15 ms where the same machine spent 8.8 ms on prefetch-500.
        for case in ("fhir0-500", "fhir0-500-batch"):
            f = find(rows, case, "order-sign")
            if f is not None and f.cpu_ms:
                share = f.cpu_ms / a.cpu_ms
                out.append((f"(d) FHIR path CPU, {case} order-sign <= {FHIR_CPU_RATIO:.2f}x prefetch-500's "
                            "(15 ms against 8.8 ms)", f"{f.cpu_ms:.1f} ms vs {a.cpu_ms:.1f} ms ({share:.2f}x)",
                            share <= FHIR_CPU_RATIO))
    big = [r for r in rows if r.server == "painpa" and r.case == "fhir0-5000"]
    if big:
        peak = max(r.peak_mb for r in big)
        out.append(("(e) fhir0-5000 peak RSS of painpa's process tree <= 800 MB", f"{peak:.0f} MB", peak <= 800))
    c = find(rows, "prefetch-5000", "order-sign")
    if c is not None:
        out.append(("(c) prefetch, 5,000 resources: p50 <= 200 ms", f"{c.p50_ms:.1f} ms", c.p50_ms <= 200))
    mid, high = find(rows, "prefetch-500", "order-sign"), _slope(rows, 500, 5000, "order-sign")
    if mid is not None and high is not None:
        # Linear growth: a resource added beyond 500 costs no more than the average resource at 500
        # (which still carries the fixed per-call cost), with 50 % tolerance for noise.
        average = mid.p50_ms * 1000 / mid.size
        per = {s: r.p50_ms * 1000 / s for s in (50, 500, 5000) if (r := find(rows, f"prefetch-{s}", "order-sign"))}
        out.append(("(c) time per resource flat 50 -> 5,000 (no superlinear growth)",
                    f"marginal {high:.1f} us/resource 500->5000 vs {average:.1f} average at 500; p50/size "
                    + ", ".join(f"{s}: {v:.0f} us" for s, v in per.items()), high <= average * 1.5))
    return out


def targets_text(rows: list[Row]) -> str:
    lines = []
    for name, measured, met in targets(rows):
        mark = "met" if met else ("NOT met" if met is False else "n/a")
        lines.append(f"  {mark:<8} {name}: {measured}")
    return "\n".join(lines)


def as_json(rows: list[Row], meta: dict) -> dict:
    return {"meta": meta, "rows": [asdict(r) for r in rows],
            "targets": [{"target": t, "measured": m, "met": ok} for t, m, ok in targets(rows)]}
