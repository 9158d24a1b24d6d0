"""Benchmark (not a test): ``cds_service.policy.engine.evaluate`` on one synthetic patient of
~5,000 FHIR resources, three draft orders (ESI, SCS, PVA) and ``render_response`` on top.

The chart is a long radicular-pain history: years of pain/function scores, PT visits, medication
refills, comorbidities, prior ESI sessions, imaging, 400 clinic notes with inline text (the cloned-note
check compares them), and prior-authorization Claim/ClaimResponse pairs.

    .venv/bin/python bench/policy_evaluate.py [--size 5000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cds_service.policy.engine import evaluate  # noqa: E402
from cds_service.policy.loader import load_policies  # noqa: E402
from cds_service.policy.record import PatientRecord  # noqa: E402
from cds_service.render import render_response  # noqa: E402

CPT, ICD, LOINC, RX = "http://www.ama-assn.org/go/cpt", "http://hl7.org/fhir/sid/icd-10-cm", "http://loinc.org", \
    "http://www.nlm.nih.gov/research/umls/rxnorm"
DOS = date(2026, 12, 10)
WORDS = ["pain", "radiates", "left", "leg", "numbness", "dermatomal", "straight", "raise", "positive", "strength", "reflexes", "symmetric", "gait", "antalgic", "tenderness", "lumbar", "paraspinal", "flexion", "limited", "extension", "provokes", "symptoms", "plan", "injection", "therapy", "exercise", "ibuprofen", "gabapentin", "sleep", "walking", "sitting", "standing", "improved", "worse", "stable", "follow", "weeks"]


def _code(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


def build(size: int, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    out: list[dict] = [
        {"resourceType": "Patient", "id": "pt"},
        {"resourceType": "Coverage", "id": "cov", "status": "active", "type": _code("https://nahdo.org/sopt", "121"),
         "payor": [{"display": "Medicare"}]},
        {"resourceType": "Location", "id": "loc", "address": {"state": "TX"},
         "type": [_code("https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set", "24")]},
    ]

    def day() -> str:
        return (DOS - timedelta(days=rnd.randint(1, 5 * 365))).isoformat()

    makers = [
        (0.30, lambda i: {"resourceType": "Observation", "id": f"o{i}", "status": "final",
                          "code": _code(LOINC, rnd.choice(["72514-3", "97909-6", "82237-9", "8867-4", "8480-6"])),
                          "effectiveDateTime": day(), "valueQuantity": {"value": rnd.randint(1, 60)}}),
        (0.20, lambda i: {"resourceType": "Procedure", "id": f"p{i}", "status": "completed",
                          "code": _code(CPT, rnd.choice(["97110", "97140", "97530", "99213", "99214", "64483", "98941"])),
                          "performedDateTime": day()}),
        (0.15, lambda i: {"resourceType": "Condition", "id": f"c{i}",
                          "code": _code(ICD, rnd.choice(["M54.16", "M54.50", "I10", "E11.9", "M48.062", "M80.08XA"])),
                          "clinicalStatus": _code("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
                          "onsetDateTime": day()}),
        (0.12, lambda i: {"resourceType": "MedicationRequest", "id": f"m{i}", "status": "completed", "intent": "order",
                          "medicationCodeableConcept": {**_code(RX, rnd.choice(["5640", "25480", "197361", "310965"])),
                                                        "text": rnd.choice(["ibuprofen 600 MG", "gabapentin 300 MG", "lisinopril"])},
                          "authoredOn": day(), "dispenseRequest": {"expectedSupplyDuration": {"value": 30}}}),
        (0.08, lambda i: {"resourceType": "DocumentReference", "id": f"d{i}", "status": "current", "date": day() + "T09:00:00Z",
                          "type": {"text": "Clinic note"}, "context": {"encounter": [{"reference": f"Encounter/e{i}"}]},
                          "content": [{"attachment": {"contentType": "text/plain", "data": base64.b64encode(
                              " ".join(rnd.choice(WORDS) for _ in range(220)).encode()).decode()}}]}),
        (0.07, lambda i: {"resourceType": "DiagnosticReport", "id": f"r{i}", "status": "final",
                          "code": {"text": rnd.choice(["MRI lumbar spine", "CBC", "BMP", "XR chest"])}, "effectiveDateTime": day()}),
        (0.08, lambda i: {"resourceType": "Encounter", "id": f"e{i}", "status": "finished", "period": {"start": day()}}),
    ]
    weights = [w for w, _ in makers]
    i = 0
    while len(out) < size - 40:
        _, make = rnd.choices(makers, weights)[0]
        out.append(make(i))
        i += 1
    for k in range(20):                                   # prior-authorization history
        decided = (DOS - timedelta(days=rnd.randint(10, 900))).isoformat()
        out.append({"resourceType": "Claim", "id": f"cl{k}", "use": "preauthorization", "status": "active",
                    "item": [{"sequence": 1, "productOrService": _code(CPT, rnd.choice(["64483", "22513", "63655"]))}]})
        out.append({"resourceType": "ClaimResponse", "id": f"cr{k}", "use": "preauthorization", "status": "active",
                    "outcome": "complete", "created": decided, "preAuthRef": f"JHA{k:011d}",
                    "request": {"reference": f"Claim/cl{k}"}, "item": [{"itemSequence": 1}]})
    return out


def orders() -> list[dict]:
    def sr(sid: str, code: str) -> dict:
        return {"resourceType": "ServiceRequest", "id": sid, "status": "draft", "intent": "order", "code": _code(CPT, code),
                "subject": {"reference": "Patient/pt"}, "occurrenceDateTime": DOS.isoformat(),
                "locationReference": [{"reference": "Location/loc"}], "insurance": [{"reference": "Coverage/cov"}]}
    return [sr("esi", "64483"), sr("scs", "63655"), sr("pva", "22513")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    policies = load_policies()
    resources = build(args.size)
    drafts = orders()
    t0 = time.perf_counter()
    record = PatientRecord.from_resources(resources)
    build_ms = (time.perf_counter() - t0) * 1000
    times, cpu, render_times = [], [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        dets = evaluate(drafts, record, policies, DOS - timedelta(days=11))
        t1, c1 = time.perf_counter(), time.process_time()
        cpu.append((c1 - c0) * 1000)
        render_response(dets, drafts, hook="order-sign", crd_version="2.2", config={}, today=DOS,
                        smart_link=lambda det, req: None)
        t2 = time.perf_counter()
        times.append((t1 - t0) * 1000)
        render_times.append((t2 - t1) * 1000)
    print(f"patient: {len(record)} resources ({', '.join(f'{k} {len(v)}' for k, v in sorted(record.resources.items()))})")
    print(f"PatientRecord.from_resources: {build_ms:.1f} ms")
    print(f"evaluate(3 orders) over {args.repeat} runs: median {statistics.median(times):.1f} ms, "
          f"p90 {sorted(times)[int(0.9 * len(times)) - 1]:.1f} ms, min {min(times):.1f} ms; "
          f"CPU time median {statistics.median(cpu):.1f} ms (wall time includes waiting on a busy machine)")
    print(f"render_response: median {statistics.median(render_times):.2f} ms")
    print("outcomes: " + "; ".join(f"{d.order_ref} {d.program.kind.value} covered={d.covered} pa={d.pa_needed}" for d in dets))


if __name__ == "__main__":
    main()
