"""The prior-authorization packet: a printable summary of the order, the criteria, the evidence and
the citations, as HTML and PDF, ready to upload to a WISeR participant portal (CMS WISeR guide
v6.0 §3.3-3.4 request channels; domain.md §1.7, §2.5). Built from the same determination the
worklist shows, so the packet never says more than the chart supports.
"""

from __future__ import annotations

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from cds_service.clock import today_utc
from cds_service.policy.chart import note_text
from smart_app import describe
from smart_app.discovery import LaunchError

_ASCII = str.maketrans({"≥": ">=", "≤": "<=", "—": "-", "–": "-", "·": "-", "’": "'", "“": '"', "”": '"',
                        "…": "...", "•": "-", "→": "->", "§": "S."})


def build(wl, order_ref: str | None) -> dict:
    det = wl.determination(order_ref or "") or (wl.determinations[0] if wl.determinations and not order_ref else None)
    if det is None:
        raise LaunchError("That order is not in this worklist; go back to the worklist.", 404)
    order = wl.order(det.order_ref) or {}
    docs = []
    for doc in wl.record.of("DocumentReference"):
        related = [r.get("reference") for r in (doc.get("context") or {}).get("related") or ()]
        if det.order_ref in related:
            text = note_text(doc)  # the EHR's data: a bad attachment is skipped, never a 500
            if text:
                docs.append({"date": str(doc.get("date") or "")[:10], "ref": f"DocumentReference/{doc.get('id')}",
                             "text": text})
    docs.sort(key=lambda d: d["date"], reverse=True)
    citations = []
    for r in det.requirements:
        key = (r.citation.source, r.citation.section, r.citation.url)
        if key not in citations:
            citations.append(key)
    return {
        "generated": today_utc().isoformat(), "det": det, "order": order,
        "patient": describe.banner(wl.patient) or describe.Banner("Name not recorded", "date not recorded",
                                                                   "Sex not recorded", "not recorded", ""),
        "order_text": describe.order_words(order, det),
        "coverage": describe.COVERED.get(det.covered, det.covered), "pa": describe.pa_words(det),
        "reasons": [c.get("display") or c.get("code") for rc in order.get("reasonCode") or () for c in rc.get("coding") or ()],
        "summary": docs[0] if docs else None, "citations": citations,
    }


def _lines(p: dict) -> list[tuple[str, str]]:
    det = p["det"]
    out = [("h1", "Prior-authorization packet"),
           ("p", f"Generated {p['generated']} by painpa from the patient's chart."),
           ("h2", "Patient and order"),
           ("p", f"Patient: {_patient_line(p['patient'])}"),
           ("p", f"Order: {p['order_text']} - codes {', '.join(det.codes)}"),
           ("p", f"Program: {det.program.label}. {p['coverage']}. {p['pa'] or ''}".rstrip()),
           ("h2", "Criteria and evidence")]
    for r in det.requirements:
        out.append(("b", f"[{describe.STATUS[r.status].upper()}] {r.title}"))
        out.append(("p", describe.clean(r.detail)))
        for line in describe.evidence(r):
            out.append(("p", f"  evidence: {line}"))
        out.append(("p", f"  source: {describe.cite(r.citation)}".rstrip()))
    if p["summary"]:
        out += [("h2", f"Medical-necessity summary ({p['summary']['date']})"), ("p", p["summary"]["text"])]
    out.append(("h2", "Citations"))
    out += [("p", f"{src} {sec} {url}".strip()) for src, sec, url in p["citations"]]
    return out


def _patient_line(b: describe.Banner) -> str:
    return f"{b.name}, born {b.birth_date}, {b.sex}, MRN {b.mrn}"


def pdf(p: dict) -> bytes:
    doc = FPDF(format="Letter")
    doc.set_title("Prior-authorization packet")
    doc.set_auto_page_break(auto=True, margin=15)
    doc.add_page()
    sizes = {"h1": ("B", 16), "h2": ("B", 13), "b": ("B", 10), "p": ("", 10)}
    for kind, text in _lines(p):
        style, size = sizes[kind]
        doc.set_font("Helvetica", style, size)
        safe = text.translate(_ASCII).encode("latin-1", "replace").decode("latin-1")
        doc.multi_cell(0, 5 if kind in ("p", "b") else 8, safe, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(doc.output())
