"""Fix forms end to end: the record as SDC launch context, the view model the template renders
(accessible labels, hints, errors), the parser that turns a posted form into answers with clear
messages, the QuestionnaireResponse (DTR ``qr-context`` names the order; a patient-level form, opened
without an order, names the launch encounter, else the patient), and the save: the
response plus its extracted resources in one FHIR ``transaction`` (FHIR R4 §3.1.0.11.2; SDC
template extraction, :mod:`smart_app.extract`).

A form that links its result to the order rewrites the whole ServiceRequest in that transaction, so
two sessions saving against the same order could each overwrite the other's append. The PUT carries
``Bundle.entry.request.ifMatch`` with the version as read (FHIR R4 http.html §3.1.0.6.1 "Managing
Resource Contention"); on 412 the order is read again, the append redone and the transaction
retried a few times, then the clinician is told in words that nothing was saved.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, date, datetime

from cds_service.clock import today_utc
from cds_service.policy.chart import note_text
from cds_service.policy.loader import PolicySet
from smart_app import constraints, summary
from smart_app.extract import EXTRACT, ExtractionError, extract
from smart_app.fhir import AppFhir, FhirAccessError
from smart_app.questionnaires import (
    MAX_VALUE,
    MIN_VALUE,
    UNIQUE_TEXT,
    UnknownForm,
    answer_key,
    answer_label,
    catalogue,
    enabled,
    ext_value,
    form_for,
    get,
    initial_answers,
    options,
    walk,
)
from smart_app.validate import invalid_resources

__all__ = ["UnknownForm", "catalogue", "form_for", "get", "initial_answers", "environment", "view", "parse", "response", "save"]
ATTESTATION = "http://painpa.org/fhir/CodeSystem/painpa-attestation"
LINK_TO_ORDER = "http://painpa.org/fhir/StructureDefinition/link-to-order"
QR_CONTEXT = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/qr-context"
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CONFLICT_RETRIES = 2
CONFLICT_MESSAGE = ("Someone else changed this order while you were filling in the form; nothing was saved. "
                    "Review the order and submit again.")


def _ref(value: str | None) -> dict:
    return {"reference": value} if value else {}


def environment(wl, det, context, policies: PolicySet, iss: str = "", requirement: str | None = None) -> dict:
    """SDC launch context for pre-population and extraction: for one order of the worklist, or, with
    ``det`` None, for the patient (no order, coverage or summary; the order variables stay empty)."""
    order = (wl.order(det.order_ref) if det else None) or {}
    coverage_ref = det.coverage_ref if det else None
    coverage = wl.record.resolve(coverage_ref) if coverage_ref else None
    insurer = ((coverage or {}).get("payor") or [{}])[0]
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for rs in wl.record.resources.values() for r in rs.values()]}
    encounter = _ref(f"Encounter/{context.encounter}" if context.encounter else None)
    subject = {"reference": f"Patient/{context.patient}"}
    return {
        "patient": wl.patient or {"resourceType": "Patient", "id": context.patient},
        "order": order, "record": bundle, "subject": subject,
        "orderRef": _ref(det.order_ref if det else None),
        # DTR qr-context: what the QuestionnaireResponse is about.
        "qrContext": _ref(det.order_ref) if det else (encounter or subject),
        "encounter": encounter,
        "author": _ref(context.fhir_user) if context.fhir_user else (order.get("requester") or {}),
        "coverage": _ref(coverage_ref), "insurer": insurer if isinstance(insurer, dict) else {},
        "orderCodes": [c for c in (order.get("code") or {}).get("coding") or ()],
        "today": today_utc().isoformat(), "iss": iss, "requirement": requirement or "",
        "attestationCode": _attestation_code(policies, requirement),
        "summary": summary.generate(wl, det, context) if det else "",
    }


def _attestation_code(policies: PolicySet, requirement: str | None) -> list[dict]:
    """The painpa-attestation code the policy expects for ``requirement`` (its params), if any."""
    if not requirement:
        return []
    for versions in policies.docs.values():
        for doc in versions:
            for spec in doc.data.get("requirements") or ():
                if spec.get("id") == requirement:
                    code = spec.get("params", {}).get("code") or spec.get("params", {}).get("attestation_code")
                    return [{"system": ATTESTATION, "code": code}] if code else []
    return []


def _field(item: dict) -> str:
    return "item." + item["linkId"]


def view(questionnaire: dict, answers: dict, env: dict) -> list[dict]:
    """Flat render list (groups open/close) with everything the template needs."""
    out: list[dict] = []

    def visit(items, depth):
        for item in items:
            kind = item.get("type")
            lo, hi = constraints.date_limits(item, _today(env))
            row = {"item": item, "type": kind, "depth": depth, "name": _field(item),
                   "id": "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", item["linkId"]),
                   "required": bool(item.get("required")), "repeats": bool(item.get("repeats")),
                   "min": ext_value(item, MIN_VALUE), "max": ext_value(item, MAX_VALUE),
                   **({"min": lo, "max": hi} if kind in ("date", "dateTime") else {}),
                   "enable": [{"q": "f-" + c["question"], "op": c["operator"],
                               "v": answer_key({"value" + k[6:]: v for k, v in c.items() if k.startswith("answer")})}
                              for c in item.get("enableWhen") or ()],
                   "behavior": item.get("enableBehavior", "all"), "hidden": not enabled(item, answers)}
            given = answers.get(item["linkId"], [])
            row["given"] = [answer_key(a) for a in given]
            if kind in ("choice", "open-choice", "reference"):
                row["options"] = [(answer_key(o), answer_label(o)) for o in options(questionnaire, item, env)]
            if kind == "group":
                out.append({**row, "open": True})
                visit(item.get("item") or [], depth + 1)
                out.append({"close": True})
            else:
                out.append(row)

    visit(questionnaire.get("item") or [], 0)
    return out


def _convert(item: dict, raw: str, questionnaire: dict, env: dict) -> tuple[dict | None, str | None]:
    kind, label = item.get("type"), item.get("text", item["linkId"])
    if kind in ("choice", "open-choice", "reference"):
        for opt in options(questionnaire, item, env):
            if answer_key(opt) == raw:
                return opt, None
        return None, f"{label}: choose one of the listed options."
    if kind in ("date", "dateTime"):
        try:
            if not DATE_RE.match(raw):
                raise ValueError
            date.fromisoformat(raw)
        except ValueError:
            return None, f"{label}: enter a date as YYYY-MM-DD."
        error = constraints.date_error(item, date.fromisoformat(raw), _today(env))
        return (None, error) if error else ({"valueDate": raw}, None)
    if kind in ("integer", "decimal"):
        try:
            num = int(raw) if kind == "integer" else float(raw)
            if not math.isfinite(num):  # float() takes "nan" and "inf"; a FHIR decimal cannot hold them
                raise ValueError(raw)
        except ValueError:
            return None, f"{label}: enter a {'whole ' if kind == 'integer' else ''}number."
        lo, hi = ext_value(item, MIN_VALUE), ext_value(item, MAX_VALUE)
        if (lo is not None and num < lo) or (hi is not None and num > hi):
            return None, f"{label}: enter a value between {lo} and {hi}."
        return {"valueInteger" if kind == "integer" else "valueDecimal": num}, None
    if kind == "boolean":
        if raw not in ("true", "false"):
            return None, f"{label}: answer yes or no."
        return {"valueBoolean": raw == "true"}, None
    max_len = item.get("maxLength") or 20000
    if len(raw) > max_len:
        return None, f"{label}: at most {max_len} characters."
    return {"valueString": raw}, None


def parse(questionnaire: dict, form, env: dict | None = None) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """Answers from a posted form; errors keyed by linkId. Disabled items are discarded."""
    env = env or {}
    answers: dict[str, list[dict]] = {}
    errors: dict[str, str] = {}

    def visit(items):
        for item in items:
            if item.get("type") == "display" or not enabled(item, answers):
                continue  # a disabled group takes its whole subtree with it
            if item.get("type") == "group":
                visit(item.get("item") or [])
                continue
            raws = [r.strip() for r in form.getlist(_field(item)) if r.strip()]
            for raw in raws if item.get("repeats") else raws[:1]:
                value, error = _convert(item, raw, questionnaire, env)
                if error:
                    errors[item["linkId"]] = error
                elif value:
                    answers.setdefault(item["linkId"], []).append(value)
            if item.get("required") and item["linkId"] not in answers and item["linkId"] not in errors:
                errors[item["linkId"]] = f"{item.get('text', item['linkId'])}: this answer is required."

    visit(questionnaire.get("item") or [])
    try:   # rules across fields, on the response as it would be saved; a field's own error comes first
        across = constraints.check(questionnaire, response(questionnaire, answers, {"qrContext": {}, "subject": {}, **env}))
    except constraints.ConstraintError as exc:
        across = {"_form": f"This form cannot be checked (its rules are broken: {exc})."}
    for link, message in across.items():
        errors.setdefault(link, message)
    return answers, errors


def _today(env: dict) -> date:
    try:
        return date.fromisoformat(env.get("today") or "")
    except ValueError:
        return today_utc()


def response(questionnaire: dict, answers: dict, env: dict) -> dict:
    def build(items):
        out = []
        for item in items:
            if item.get("type") == "group":
                children = build(item.get("item") or []) if enabled(item, answers) else []
                if children:
                    out.append({"linkId": item["linkId"], "text": item.get("text"), "item": children})
            elif answers.get(item["linkId"]) and enabled(item, answers):
                out.append({"linkId": item["linkId"], "text": item.get("text"), "answer": answers[item["linkId"]]})
        return out

    qr = {"resourceType": "QuestionnaireResponse",
          "extension": [{"url": QR_CONTEXT, "valueReference": env["qrContext"]}],
          "questionnaire": f"{questionnaire['url']}|{questionnaire.get('version', '')}".rstrip("|"),
          "status": "completed", "subject": env["subject"],
          "authored": datetime.now(UTC).isoformat(timespec="seconds"), "item": build(questionnaire.get("item") or [])}
    if env.get("author"):
        qr["author"] = env["author"]
    return qr


def _duplicate_text(questionnaire: dict, answers: dict, env: dict) -> dict[str, str]:
    """Refuse a note identical to one already in the chart (cloned documentation is an audit finding)."""
    errors = {}
    existing = set()
    for entry in env["record"]["entry"]:
        res = entry["resource"]
        if res.get("resourceType") == "DocumentReference":
            existing.add(" ".join(note_text(res).split()))  # as the policy's cloned-note check reads it
    existing.discard("")
    for item in walk(questionnaire.get("item") or []):
        if ext_value(item, UNIQUE_TEXT) and answers.get(item["linkId"]):
            text = " ".join(str(answers[item["linkId"]][0].get("valueString", "")).split())
            if text in existing:
                errors[item["linkId"]] = ("This text is identical to a note already in the chart; "
                                          "write what is specific to this visit.")
    return errors


def _order_update(questionnaire: dict, answers: dict, extracted: list, env: dict) -> dict | None:
    """Items carrying ``link-to-order`` append their reference answers, or the resources their
    template extracted, to the order's element (e.g. ``supportingInfo``): the PUT entry for the same
    transaction, or None when the order already holds them all."""
    order = env.get("order") or {}
    if not order.get("id"):
        return None
    updated = dict(order)
    changed = False
    for item in walk(questionnaire.get("item") or []):
        element = ext_value(item, LINK_TO_ORDER)
        if not element or not enabled(item, answers):
            continue
        refs = [a["valueReference"]["reference"] for a in answers.get(item["linkId"], []) if "valueReference" in a]
        templates = {r.lstrip("#") for r in _extract_targets(item)}
        refs += [url for url, _, tid in extracted if tid in templates]
        present = {r.get("reference") for r in updated.get(element) or ()}
        for ref in refs:
            if ref not in present:
                updated[element] = [*(updated.get(element) or ()), {"reference": ref}]
                changed = True
    if not changed:
        return None
    updated.pop("meta", None)
    request = {"method": "PUT", "url": f"ServiceRequest/{order['id']}"}
    version = (order.get("meta") or {}).get("versionId")
    if version:
        request["ifMatch"] = f'W/"{version}"'
    # An order read without meta.versionId leaves nothing to make the PUT conditional on: contention
    # cannot be detected then, and the last writer wins, as with any client of that EHR.
    return {"fullUrl": f"{env.get('iss', '')}/ServiceRequest/{order['id']}".lstrip("/"), "resource": updated,
            "request": request}


def _extract_targets(item: dict) -> list[str]:
    return [((sub.get("valueReference") or {}).get("reference") or "")
            for ext in item.get("extension") or () if ext.get("url") == EXTRACT
            for sub in ext.get("extension") or () if sub.get("url") == "template"]


def save(fhir: AppFhir, questionnaire: dict, answers: dict, env: dict) -> dict[str, str]:
    """Write QuestionnaireResponse + extracted resources atomically; errors as {linkId|_form: text}."""
    errors = _duplicate_text(questionnaire, answers, env)
    if errors:
        return errors
    qr = response(questionnaire, answers, env)
    try:
        extracted = extract(questionnaire, qr, env)
    except ExtractionError as exc:
        return {"_form": f"This form cannot be saved (its extraction rules are broken: {exc})."}
    created = [(f"urn:uuid:{uuid.uuid4()}", qr), *((u, r) for u, r, _ in extracted)]
    problems = invalid_resources([r for _, r in created])
    if problems:
        return {"_form": "Nothing was saved: " + "; ".join(problems)}
    entries = [{"fullUrl": url, "resource": res, "request": {"method": "POST", "url": res["resourceType"]}}
               for url, res in created]
    return write(fhir, questionnaire, answers, entries, extracted, env)


def write(fhir: AppFhir, questionnaire: dict, answers: dict, entries: list[dict], extracted: list,
          env: dict) -> dict[str, str]:
    """``entries`` and the order's links to what ``questionnaire`` extracted (``link-to-order``), in
    one transaction, retried on a version conflict of the order; errors as {_form: text}, nothing
    written then. The one writer of a completed form, for the app's own forms and DTR's."""
    try:
        return _write(fhir, entries, lambda e: _order_update(questionnaire, answers, extracted, e), env)
    except FhirAccessError as exc:
        return {"_form": exc.message + " Nothing was saved."}


def _write(fhir: AppFhir, entries: list[dict], link, env: dict) -> dict[str, str]:
    """The transaction, retried on a version conflict of the order against its fresh version. A 412
    fails the whole transaction (R4 §3.1.0.11.2), so the retry writes the new resources only once."""
    attempt = 0
    while True:
        linked = link(env)
        try:
            fhir.transaction({"resourceType": "Bundle", "type": "transaction",
                              "entry": [*entries, *([linked] if linked else [])]})
            return {}
        except FhirAccessError as exc:
            if not linked or exc.upstream_status != 412:
                raise
            if attempt == CONFLICT_RETRIES:
                return {"_form": CONFLICT_MESSAGE}
        attempt += 1
        env = {**env, "order": fhir.read(f"ServiceRequest/{env['order']['id']}")}
