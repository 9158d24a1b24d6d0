"""The bench cannot rot (CI runs a tiny smoke of the bench): the harness runs end to end
against real processes (painpa serve under gunicorn, the bare-Flask baseline, a FHIR server) with
a handful of calls, and produces well-formed figures. It asserts shape and sanity, never speed."""

from __future__ import annotations

import json
import math

from bench import patients
from bench.__main__ import main as bench_main
from bench.compare import main as compare_main
from bench.load import percentile
from bench.report import targets


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
    assert math.isnan(percentile([], 50))


def test_generated_patients_have_the_requested_size_and_story():
    from datetime import date

    for size in (50, 500):
        history = patients.make_patient(size, date(2026, 11, 29), f"p{size}")
        assert len(history) == size
        kinds = {r["resourceType"] for r in history}
        assert {"Patient", "Coverage", "Condition", "Procedure", "MedicationRequest", "Observation",
                "DiagnosticReport", "ImagingStudy", "DocumentReference", "ClaimResponse"} <= kinds
        assert len({(r["resourceType"], r["id"]) for r in history}) == size  # ids unique


def test_quick_bench_run_produces_well_formed_figures(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = bench_main(["--quick", "--sizes", "50", "--sources", "prefetch,prefetch-slowfhir,fhir0,fhir0-batch",
                       "--slowfhir-sizes", "50", "--batch-sizes", "50", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed  # every call answered 200, by painpa and by the baseline
    data = json.loads(out.read_text())
    rows = data["rows"]
    cases = {(r["case"], r["hook"], r["server"]) for r in rows}
    for case in ("prefetch-50", "prefetch-50-slowfhir", "fhir0-50", "fhir0-50-batch"):
        for hook in ("order-select", "order-sign"):
            assert (case, hook, "painpa") in cases and (case, hook, "baseline") in cases
    assert ("fhir0-50", "order-sign-warm", "painpa") in cases
    # FHIR reads per call, as the FHIR server counted them: none when every prefetch key is honoured
    # (the FHIR server is named, at 150 ms per read), some when the history must be read.
    reads = {(r["case"], r["hook"]): r["fhir_reads"] for r in rows if r["server"] == "painpa"}
    assert reads[("prefetch-50-slowfhir", "order-sign")] == 0 and reads[("prefetch-50", "order-sign")] == 0
    assert reads[("fhir0-50", "order-sign")] >= 14      # the history's queries, at least
    # The same reads from a server that takes batch Bundles: one request for the round (the order's
    # second-round Location, if any, is a second).
    assert 1 <= reads[("fhir0-50-batch", "order-sign")] <= 2
    assert all(r["fhir_reads"] is None for r in rows if r["server"] == "baseline")
    for r in rows:
        assert r["n"] >= 1 and r["errors"] == 0
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"]
        assert r["peak_mb"] > 10  # a real process tree was sampled
        if r["hook"] != "order-sign-warm":
            assert r["rps"] > 0
            assert r["cpu_ms"] > 0 and r["client_cpu_ms"] > 0   # what a call cost the server and client
    assert "x bare" in printed and "\nTargets:" in printed
    assert all(isinstance(t["measured"], str) for t in data["targets"])
    assert targets([]) == []
    # before / after: an older run without CPU figures still reads; its rows are merged with others
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"meta": {}, "rows": [{k: v for k, v in r.items() if "cpu" not in k}
                                                     for r in rows if r["case"] == "prefetch-50"]}))
    capsys.readouterr()
    assert compare_main([str(old), str(out), str(out)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| case | hook | p50 before") and "cpu ms" in table[0]
    assert any(line.startswith("| fhir0-50 | order-sign |") for line in table)
