"""Import prior-authorization and claim decisions from a FHIR R4 server by standard FHIR search:
Da Vinci PAS ClaimResponses (standards.md §4.2: outcome per item in the ``reviewAction`` code A1
certified / A3 not certified / A4 pended / A6 modified; the specific denial reason in
``processNote`` (PAS main, FHIR-56288) and X12 CARC/RARC codes in ``adjudication.reason``).

``decisions_from_resources`` is pure; ``fetch_resources`` does the HTTP, to the one base URL the
operator names, following only ``next`` links under that base, never a redirect, and always through
the SSRF egress guard (:func:`cds_service.fhir.client.new_session`; docs/security.md "Outbound
requests"): a base registered as an IP literal is reached as registered, a host name must resolve to
public addresses or a network in ``PAINPA_EGRESS_ALLOW_NETWORKS``, and each connection is pinned to
the address checked (no DNS rebinding inward).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from urllib.parse import urlsplit

import requests

from cds_service.denials.mapping import Reason
from cds_service.denials.records import DecisionRecord, outcome_word
from cds_service.fhir.client import new_session
from cds_service.security.egress import refused_reason

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
REVIEW_ACTION = PAS + "extension-reviewAction"
REVIEW_ACTION_CODE = PAS + "extension-reviewActionCode"
NPI = "http://hl7.org/fhir/sid/us-npi"
RELATED = ("Claim", "Organization", "Coverage", "Practitioner", "PractitionerRole")


class FetchError(RuntimeError):
    """The FHIR server could not be read; the message says what and where (never the token)."""


def _index(resources: list[dict]) -> dict[str, dict]:
    out = {}
    for r in resources:
        if isinstance(r, dict) and r.get("resourceType") and r.get("id"):
            out[f"{r['resourceType']}/{r['id']}"] = r
    return out


def _ref(index: dict, ref: dict | None) -> dict | None:
    raw = (ref or {}).get("reference") or ""
    parts = raw.rstrip("/").split("/")
    return index.get("/".join(parts[-2:])) if len(parts) >= 2 else None


def _when(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def _codes(concepts, *needles: str) -> list[str]:
    out = []
    for cc in concepts or ():
        for c in (cc or {}).get("coding") or ():
            if any(n in (c.get("system") or "").lower() for n in needles) and c.get("code"):
                out.append(str(c["code"]))
    return out


def _review(item: dict) -> tuple[str | None, list[str]]:
    """The item's X12 306 review action code and any reason texts carried with it."""
    code, texts = None, []
    for adj in item.get("adjudication") or ():
        for ext in adj.get("extension") or ():
            if ext.get("url") != REVIEW_ACTION:
                continue
            for sub in ext.get("extension") or ():
                if sub.get("url") in (REVIEW_ACTION_CODE, "code"):
                    for c in (sub.get("valueCodeableConcept") or {}).get("coding") or ():
                        code = code or c.get("code")
                elif sub.get("url") == "reasonCode":
                    for c in (sub.get("valueCodeableConcept") or {}).get("coding") or ():
                        texts.append(c.get("display") or "")
    return code, [t for t in texts if t]


def _payer(index: dict, cr: dict) -> str:
    org = _ref(index, cr.get("insurer")) or {}
    return (org.get("name") or (cr.get("insurer") or {}).get("display")
            or next((i.get("value") for i in org.get("identifier") or () if i.get("value")), "")
            or (cr.get("insurer") or {}).get("reference", ""))


def _plan(index: dict, claim: dict) -> str:
    for ins in claim.get("insurance") or ():
        cov = _ref(index, ins.get("coverage")) or {}
        for cls in cov.get("class") or ():
            if any(c.get("code") == "plan" for c in (cls.get("type") or {}).get("coding") or ()):
                return cls.get("name") or cls.get("value") or ""
    return ""


def _clinician(index: dict, claim: dict, cr: dict) -> tuple[str, str]:
    ref = claim.get("provider") or cr.get("requestor") or {}
    who = _ref(index, ref) or {}
    if who.get("resourceType") == "PractitionerRole":
        ref = who.get("practitioner") or ref
        who = _ref(index, ref) or {}
    npi = next((i.get("value") for i in who.get("identifier") or () if i.get("system") == NPI), None)
    name = ""
    for n in who.get("name") or ():
        name = n.get("text") or " ".join([*(n.get("given") or ()), n.get("family") or ""]).strip()
        break
    return npi or ref.get("reference", ""), name or ref.get("display", "")


def _coverage(index: dict, claim: dict) -> dict | None:
    for ins in claim.get("insurance") or ():
        cov = _ref(index, ins.get("coverage"))
        if cov:
            return cov
    return None


def decisions_from_resources(resources: list[dict], base: str,
                             program_of=lambda coverage, code: "") -> tuple[list[DecisionRecord], list[str]]:
    """``program_of(coverage, code)`` names the PA program (see :mod:`cds_service.denials.programs`)."""
    index = _index(resources)
    records, errors = [], []
    for key, cr in index.items():
        if not key.startswith("ClaimResponse/"):
            continue
        claim = _ref(index, cr.get("request")) or {}
        decided = _when(cr.get("created"))
        if decided is None:
            errors.append(f"{key}: no valid 'created' date; skipped")
            continue
        submitted = _when(claim.get("created"))
        hours = None
        if submitted is not None and (submitted.tzinfo is None) == (decided.tzinfo is None):
            hours = max(0.0, (decided - submitted).total_seconds() / 3600)
        kind = "prior-auth" if cr.get("use") == "preauthorization" else "claim"
        notes = {n.get("number"): n.get("text") or "" for n in cr.get("processNote") or ()}
        codes_by_seq = {
            it.get("sequence"): next((c.get("code") for c in (it.get("productOrService") or {}).get("coding") or ()
                                      if c.get("code")), "")
            for it in claim.get("item") or ()
        }
        clinician, clinician_label = _clinician(index, claim, cr)
        expedited = any(c.get("code") == "stat" for c in (claim.get("priority") or {}).get("coding") or ())
        items = cr.get("item") or [{"itemSequence": seq} for seq in codes_by_seq] or [{"itemSequence": None}]
        for item in items:
            seq = item.get("itemSequence")
            code = codes_by_seq.get(seq, "")
            review, review_texts = _review(item)
            outcome = outcome_word(review) or outcome_word(cr.get("disposition")) or (
                "affirmed" if cr.get("outcome") == "complete" and kind == "prior-auth" and not cr.get("error") else None)
            if not code or outcome is None:
                errors.append(f"{key} item {seq}: no service code or no decision found; skipped")
                continue
            item_notes = [notes[n] for n in item.get("noteNumber") or () if notes.get(n)] or (
                list(notes.values()) if outcome in ("denied", "partial") else [])
            adj_reasons = [a.get("reason") for a in item.get("adjudication") or () if a.get("reason")]
            reason = Reason(
                text=" ".join(t for t in [*item_notes, *review_texts] if t).strip(),
                carc=tuple(_codes(adj_reasons, "claim-adjustment-reason", "carc")),
                rarc=tuple(_codes(adj_reasons, "remittance-advice-remark", "rarc")),
            )
            records.append(DecisionRecord(
                source="pas", source_key=hashlib.sha256(f"{base}|{key}|{seq}".encode()).hexdigest(), kind=kind,
                payer=_payer(index, cr), plan=_plan(index, claim), code=code.upper(), outcome=outcome,
                program=program_of(_coverage(index, claim), code.upper()),
                decided=decided.date(), clinician=clinician, clinician_label=clinician_label,
                expedited=expedited, submitted=submitted, decision_hours=hours,
                patient_ref=(cr.get("patient") or {}).get("reference", ""),
                reasons=(reason,) if (reason.text or reason.carc or reason.rarc) and outcome != "affirmed" else (),
            ))
    return records, errors


def _get(session: requests.Session, url: str, token: str | None, timeout: float) -> dict:
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        resp = session.get(url, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        if why := refused_reason(exc):
            raise FetchError(f"refused to connect to {urlsplit(url).netloc}: {why} (painpa connects only to "
                             "public addresses, a registered IP address, or networks in "
                             "PAINPA_EGRESS_ALLOW_NETWORKS)") from None
        raise FetchError(f"cannot reach {urlsplit(url).netloc}: {type(exc).__name__}") from None
    if resp.status_code != 200:
        raise FetchError(f"GET {urlsplit(url).path} answered HTTP {resp.status_code}")
    try:
        return resp.json()
    except ValueError:
        raise FetchError(f"GET {urlsplit(url).path} did not return JSON") from None


def fetch_resources(base: str, *, token: str | None = None, since: str | None = None, max_pages: int = 50,
                    timeout: float = 10.0, session: requests.Session | None = None, count: int = 100) -> list[dict]:
    """ClaimResponses by search (with their request Claims and insurers included), then plain reads
    of the Claims, Coverages, Organizations and Practitioners the server did not include.
    ``session``: a guarded session to reuse (a plain one would bypass the egress guard)."""
    if session is None:
        with new_session(pool_size=2) as own:
            return _fetch(base, own, token=token, since=since, max_pages=max_pages, timeout=timeout, count=count)
    return _fetch(base, session, token=token, since=since, max_pages=max_pages, timeout=timeout, count=count)


def _fetch(base: str, session: requests.Session, *, token: str | None, since: str | None, max_pages: int,
           timeout: float, count: int) -> list[dict]:
    base = base.rstrip("/")
    url = f"{base}/ClaimResponse?_count={count}&_include=ClaimResponse:request&_include=ClaimResponse:insurer"
    if since:
        url += f"&_lastUpdated=ge{since}"
    found: list[dict] = []
    for _ in range(max_pages):
        bundle = _get(session, url, token, timeout)
        found.extend(e.get("resource") for e in bundle.get("entry") or () if isinstance(e.get("resource"), dict))
        url = next((link.get("url") for link in bundle.get("link") or () if link.get("relation") == "next"), None)
        if not url or not url.startswith(base + "/"):
            break
    index = _index(found)
    for _ in range(3):  # ClaimResponse → Claim → Coverage / Practitioner(Role) → Practitioner
        wanted = set()
        for res in list(index.values()):
            refs = [res.get("request"), res.get("insurer"), res.get("provider"), res.get("requestor"),
                    res.get("practitioner"), *[i.get("coverage") for i in res.get("insurance") or ()]]
            for ref in refs:
                raw = (ref or {}).get("reference") or ""
                parts = raw.split("/")
                if len(parts) == 2 and parts[0] in RELATED and raw not in index:
                    wanted.add(raw)
        if not wanted:
            break
        for ref in sorted(wanted)[:500]:
            try:
                index[ref] = _get(session, f"{base}/{ref}", token, timeout)
            except FetchError:
                index[ref] = {"resourceType": ref.split("/")[0], "id": ref.split("/")[1]}
    return list(index.values())
