"""Python port of the CRD coverage-information invariants (standards.md §2.3 table; CC-44..CC-49),
for tests and for anyone checking a payload: ``violations(ext, crd_version) -> list[str]``. Codes,
sub-extensions and cardinalities come from the answered version's data (render/versions.py).

2.0.1 (CRD201 FHIRPath): q1 questionnaire ⇒ doc-needed; q2 covered ≠ not-covered ⇒ pa-needed;
q3 info-needed ⇒ some element conditional; q4 satisfied ⇒ doc-purpose ≠ PA; q5 satisfied-pa-id ⇔
satisfied. 2.1 (CRD 2.1.0) and 2.2 (CRD221): q2 not-covered ⇒ no pa-needed; q3 some conditional ⇒
info-needed; q4 {satisfied, no-auth} ⇒ doc-purpose ≠ withpa; q5; q6 info-needed=OTH ⇒ reason (2.1
writes 'Other', read as OTH); q7 reason coding outside the value set ⇒ reason.text; 2.2 only: q8
doc-purpose ⇒ reason; q9 indeterminate ⇒ reason.
"""

from __future__ import annotations

import re

from cds_service.render.versions import vocabulary

ONE = ("coverage", "covered", "date", "coverage-assertion-id")
CRD_TEMP = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"   # the reason codes' system in every version


def _values(ext: dict, url: str) -> list:
    out = []
    for sub in ext.get("extension") or ():
        if sub.get("url") == url:
            out.append(next((v for k, v in sub.items() if k.startswith("value")), None))
    return out


def violations(ext: dict, crd_version: str) -> list[str]:
    vocab = vocabulary(crd_version)
    v = vocab.version
    errs: list[str] = []
    urls = [s.get("url") for s in ext.get("extension") or ()]
    errs += [f"unknown sub-extension {u!r} for {v}" for u in urls if not vocab.allows(u)]
    for name in ONE:
        if urls.count(name) != 1:
            errs.append(f"{name} must occur exactly once")
    errs += [f"{name} repeats (0..1 in {v})" for name in vocab.repeats_once - set(ONE) if urls.count(name) > 1]
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str((_values(ext, "date") or [""])[0])):
        errs.append("date must be YYYY-MM-DD")
    covered = (_values(ext, "covered") or [None])[0]
    pa = (_values(ext, "pa-needed") or [None])[0]
    docs, info = _values(ext, "doc-needed"), _values(ext, "info-needed")
    purposes, reasons = _values(ext, "doc-purpose"), _values(ext, "reason")
    for key, got in (("covered", [covered]), ("pa-needed", [pa] if pa else []), ("doc-needed", docs),
                     ("info-needed", info), ("doc-purpose", purposes)):
        errs += [f"{key}={g!r} not allowed in {v}" for g in got if g not in vocab.codes[key]]
    for r in reasons:
        codings = r.get("coding") or () if isinstance(r, dict) else ()
        errs += [f"reason code {c.get('code')!r} not defined in {v}" for c in codings
                 if isinstance(c, dict) and c.get("system") == CRD_TEMP and c.get("code") not in vocab.reason_codes]
    for detail in ext.get("extension") or ():
        if detail.get("url") == "detail":
            errs += [f"detail.{d.get('url')!r} not defined in {v}" for d in detail.get("extension") or ()
                     if d.get("url") not in vocab.detail_sub_extensions]
    conditional = "conditional" in [covered, pa, *docs]
    sat = _values(ext, "satisfied-pa-id")
    if bool(sat) != (pa == "satisfied"):
        errs.append("q5: satisfied-pa-id iff pa-needed = satisfied")
    if _values(ext, "questionnaire") and not docs:
        errs.append("q1: questionnaire requires doc-needed")
    if v == "2.0.1":
        if covered != "not-covered" and pa is None:
            errs.append("q2 (2.0.1): covered != not-covered requires pa-needed")
        if info and not conditional:
            errs.append("q3 (2.0.1): info-needed requires a conditional element")
        if pa == "satisfied" and "PA" in purposes:
            errs.append("q4 (2.0.1)")
    else:   # 2.1 and 2.2
        if covered == "not-covered" and pa is not None:
            errs.append("q2 (2.2): not-covered must not carry pa-needed")
        if conditional and not info:
            errs.append("q3 (2.2): a conditional element requires info-needed")
        if pa in ("satisfied", "no-auth") and "withpa" in purposes:
            errs.append("q4 (2.2)")
        if "OTH" in info and not reasons:
            errs.append("q6: info-needed=OTH requires reason")
        if any(isinstance(r, dict) and not r.get("coding") and not r.get("text") for r in reasons):
            errs.append("q7: reason without coding needs text")
        if v == "2.2" and purposes and not reasons:
            errs.append("q8: doc-purpose requires reason")
        if v == "2.2" and "indeterminate" in (covered, pa, *docs) and not reasons:
            errs.append("q9: indeterminate requires reason")
    return errs
