"""The prior-authorization coordinator's queue (ARCHITECTURE.md: one readiness assessment behind
every surface): every pending order across patients that needs someone to act, by date of service —
prior authorization needed and not requested, pended, non-affirmed, a UTN that ends before the date
of service, a decision that misses a code, documentation missing.

Each patient's orders are assessed by :func:`smart_app.worklist.assess`, the call behind the
worklist and the cards (:mod:`cds_service.readiness`), from the EHR the clinician signed in to with a
user-level token (SMART App Launch 2.2 standalone launch, ``fhirUser`` practitioner context,
``user/*.rs``): nothing here judges an order on its own.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from cds_service.policy.model import Determination, PAState, Status
from smart_app import describe
from smart_app.context import LaunchContext
from smart_app.fhir import AppFhir
from smart_app.worklist import PENDING, assess

_STATE_SUFFIX = re.compile(r" \([A-Z]{2}\)$")   # "CMS WISeR prior authorization (TX)": one program, six states
# (kind, words) of what an order needs, most urgent first
ACTIONS = ("non-affirmed", "pended", "utn-ends", "pa-partial", "pa-needed", "documentation", "unknown")


@dataclass(frozen=True)
class Row:
    patient: describe.Banner
    order_ref: str
    order: str                    # the order in words
    service_date: date | None
    program_id: str
    program: str
    clinician_ref: str
    clinician: str
    needs: tuple[tuple[str, str], ...]


@dataclass
class Queue:
    rows: list[Row]
    programs: dict[str, str] = field(default_factory=dict)      # id → label, every program seen
    clinicians: dict[str, str] = field(default_factory=dict)    # reference → name, every clinician seen
    patients: int = 0
    orders: int = 0
    elapsed_ms: float = 0.0


def needs(det: Determination, today: date) -> list[tuple[str, str]]:
    """What ``det`` asks of a coordinator, in words; empty when the order is ready."""
    pa, out = det.prior_auth, []
    if det.pa_needed == "auth-needed":
        if pa.state is PAState.NON_AFFIRMED:
            out.append(("non-affirmed", f"Not affirmed by the payer{f' (UTN {pa.utn})' if pa.utn else ''}"))
        elif pa.state is PAState.PENDED:
            out.append(("pended", "Pended by the payer: send what it asks for"))
        elif pa.state is PAState.EXPIRED:
            verb = "ended" if pa.expires and pa.expires < today else "ends"
            out.append(("utn-ends", f"UTN {pa.utn or ''} {verb} {describe.day(pa.expires)}, "
                                    "before the date of service: request again"))
        elif pa.state is PAState.PARTIAL:
            out.append(("pa-partial", f"Decision on file misses {', '.join(pa.missing_codes)}"))
        elif pa.state is PAState.NEEDED:
            out.append(("pa-needed", "Prior authorization needed, not requested"))
        elif pa.state is PAState.UNKNOWN:
            out.append(("unknown", "Cannot tell whether a decision is on file"))
    open_ = [r for r in det.requirements if r.status is not Status.MET and r.kind != "audit"]
    missing = [r.title for r in open_ if r.status is Status.UNMET]
    unknown = [r.title for r in open_ if r.status is Status.UNKNOWN]
    if missing:
        out.append(("documentation", "Documentation missing: " + "; ".join(missing)))
    if unknown:
        out.append(("unknown", "Cannot tell from the chart: " + "; ".join(unknown)))
    return sorted(out, key=lambda n: ACTIONS.index(n[0]))


def _clinicians(fhir: AppFhir, orders: list[dict]) -> dict[str, str]:
    names: dict[str, str] = {}
    for ref in {(o.get("requester") or {}).get("reference") for o in orders} - {None}:
        if not ref.startswith(("Practitioner/", "PractitionerRole/")):
            continue
        try:
            names[ref] = describe.patient_name(fhir.read(ref))   # HumanName, as for a patient
        except Exception:  # noqa: BLE001 - a clinician that cannot be read is shown by reference kind only
            names[ref] = "Clinician not readable"
    return names


def build(fhir: AppFhir, today: date, *, program: str = "", clinician: str = "") -> Queue:
    """Every pending order the signed-in user may read, assessed per patient, those needing action
    kept, soonest date of service first; ``program`` / ``clinician`` narrow the rows shown."""
    started = time.perf_counter()
    orders = fhir.search("ServiceRequest", {"status": PENDING})
    by_patient: dict[str, list[dict]] = defaultdict(list)
    for order in orders:
        ref = (order.get("subject") or {}).get("reference") or ""
        if ref.startswith("Patient/"):
            by_patient[ref.split("/", 1)[1]].append(order)
    names = _clinicians(fhir, orders)
    queue = Queue(rows=[], patients=len(by_patient), orders=len(orders))
    for pid, theirs in by_patient.items():
        assessment = assess(fhir, LaunchContext(patient=pid), theirs, today)
        shown = describe.banner(assessment.record.patient) or describe.Banner("Name not readable", "", "", "", pid)
        for order, det in zip(theirs, assessment.determinations, strict=True):
            if not det.in_scope:
                continue
            requester = (order.get("requester") or {}).get("reference") or ""
            queue.programs[det.program.id] = _STATE_SUFFIX.sub("", det.program.label)   # one entry per program
            if requester:
                queue.clinicians[requester] = names.get(requester, "Clinician not named")
            todo = needs(det, today)
            if not todo or (program and det.program.id != program) or (clinician and requester != clinician):
                continue
            queue.rows.append(Row(patient=shown, order_ref=det.order_ref, order=describe.order_words(order, det),
                                  service_date=det.service_date, program_id=det.program.id, program=det.program.label,
                                  clinician_ref=requester, clinician=names.get(requester, "Clinician not named"),
                                  needs=tuple(todo)))
    queue.rows.sort(key=lambda r: (r.service_date or date.max, r.patient.name))
    queue.elapsed_ms = (time.perf_counter() - started) * 1000
    return queue
