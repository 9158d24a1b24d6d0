"""The FHIR half of the test EHR (tests/smart/ehr_server.py): an in-memory FHIR R4 server (read,
search by patient/status/code/use, atomic transaction with urn:uuid references, validated with the
R4B models) and a Da Vinci PAS ``Claim/$submit`` payer that affirms every item (PAS 2.2.1 §4.1-4.2),
or pends them (``/_test/pas-pend``) and affirms them when asked with ``Claim/$inquire``; it takes no
Subscription, as a payer without the PAS topic would not.
Shared state (store, tokens, request log) lives here; the authorization half imports it.

Every write stamps ``meta.versionId`` (a resource seeded without one counts as version 0), and a
transaction entry's ``request.ifMatch`` that does not name the stored version fails the whole
transaction with 412 (FHIR R4 http.html §3.1.0.6.1 "Managing Resource Contention"). Two switches
let a test stage contention: ``/_test/hold-writes`` makes the next N transactions wait for each other,
so that N sessions have all read the chart before any of them writes, and ``/_test/conflict-writes``
answers 412 to every transaction carrying an ``ifMatch``, as an order that keeps changing."""

from __future__ import annotations

import contextlib
import copy
import os
import secrets
import sys
import threading
import time
import uuid

from flask import Blueprint, jsonify, request

from sandbox.fhir.bundle import rewrite_references

MODE = os.environ.get("EHR_MODE", "normal")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 5055
BASE = f"http://127.0.0.1:{PORT}"
FHIR = BASE + "/fhir"
LOG: dict[str, list] = {"discovery": [], "authorize": [], "token": [], "fhir": [], "transactions": []}
LOCK = threading.RLock()
STORE: dict[str, dict[str, dict]] = {}
TOKENS: dict[str, dict] = {}      # access token -> record
FAIL_WRITES = {"on": False}
PAS_PEND = {"on": False}
CONFLICT_WRITES = {"on": False}
HOLD: dict = {"left": 0, "barrier": None}
bp = Blueprint("fhir", __name__)

def _outcome(status: int, text: str):
    return jsonify(resourceType="OperationOutcome", issue=[{"severity": "error", "code": "invalid",
                                                            "diagnostics": text}]), status


@bp.before_app_request
def check_token():
    if not request.path.startswith("/fhir") or request.path.startswith(("/fhir/.well-known", "/fhir/Claim/$")):
        if request.path.startswith("/fhir/Claim/$"):
            LOG["fhir"].append({"method": request.method, "path": request.path, "token": ""})
        return None
    auth = request.headers.get("Authorization", "")
    LOG["fhir"].append({"method": request.method, "path": request.path, "token": auth[7:][:8]})
    rec = TOKENS.get(auth[7:]) if auth.startswith("Bearer ") else None
    if rec is None or rec["expires"] < time.time():
        return _outcome(401, "invalid or expired token")
    return None


@bp.post("/_test/seed")
def seed():
    for res in request.get_json():
        STORE.setdefault(res["resourceType"], {})[res["id"]] = res
    return jsonify(ok=True)


@bp.get("/_test/resources/<rtype>")
def dump(rtype):
    return jsonify(list(STORE.get(rtype, {}).values()))


def _refs(res: dict) -> set[str]:
    out = set()
    for key in ("subject", "patient", "beneficiary"):
        val = res.get(key)
        if isinstance(val, dict) and isinstance(val.get("reference"), str):
            out.add(val["reference"].split("/")[-1])
    return out


def _codes(res: dict) -> set[str]:
    codings = (res.get("code") or {}).get("coding") or []
    return {f"{c.get('system')}|{c.get('code')}" for c in codings} | {str(c.get("code")) for c in codings}


@bp.get("/fhir/<rtype>")
def search(rtype):
    found = []
    for res in STORE.get(rtype, {}).values():
        a = request.args
        if (pat := a.get("patient") or a.get("subject")) and pat.split("/")[-1] not in _refs(res):
            continue
        if (st := a.get("status")) and res.get("status") not in st.split(","):
            continue
        if (code := a.get("code")) and not (_codes(res) & set(code.split(","))):
            continue
        if (use := a.get("use")) and res.get("use") != use:
            continue
        found.append(res)
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(found),
              "entry": [{"fullUrl": f"{FHIR}/{rtype}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                        for r in found]}
    if MODE == "foreign-next":
        bundle["link"] = [{"relation": "next", "url": os.environ["EHR_FOREIGN_URL"] + f"/{rtype}?page=2"}]
    return jsonify(bundle)


@bp.get("/fhir/<rtype>/<rid>")
def read(rtype, rid):
    res = STORE.get(rtype, {}).get(rid)
    if not res:
        return _outcome(404, f"{rtype}/{rid} not found")
    resp = jsonify(res)
    if _version(res):
        resp.headers["ETag"] = f'W/"{_version(res)}"'
    return resp


def _version(res: dict | None) -> int:
    return int(((res or {}).get("meta") or {}).get("versionId") or 0)


@bp.post("/_test/hold-writes")
def hold_writes():
    parties = int((request.get_json() or {}).get("parties", 0))
    with LOCK:
        HOLD["left"], HOLD["barrier"] = parties, threading.Barrier(parties, timeout=10) if parties else None
    return jsonify(parties=parties)


@bp.post("/_test/conflict-writes")
def conflict_writes():
    CONFLICT_WRITES["on"] = bool((request.get_json() or {}).get("on"))
    return jsonify(CONFLICT_WRITES)


def _wait_for_the_others() -> None:
    with LOCK:
        if HOLD["left"] <= 0:
            return
        HOLD["left"] -= 1
        barrier = HOLD["barrier"]
    # A broken barrier means the writes did not overlap after all; the test's own assertions say so.
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()


def _stale(entry: dict, store: dict) -> str | None:
    """Why ``entry``'s ifMatch fails against ``store``, if it does."""
    wanted = entry["request"].get("ifMatch")
    if wanted is None:
        return None
    rtype, rid = entry["request"]["url"].split("/")[:2]
    current = store.get(rtype, {}).get(rid)
    if CONFLICT_WRITES["on"] or current is None or wanted != f'W/"{_version(current)}"':
        return f"{rtype}/{rid} is at version {_version(current)}, not {wanted}"
    return None


def _invalid(res: dict) -> str | None:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        get_fhir_model_class(res["resourceType"]).model_validate(res)
    except Exception as exc:  # noqa: BLE001 - any validation failure rejects the whole transaction
        return f"{res.get('resourceType')}: {str(exc).splitlines()[0]}"
    return None


@bp.post("/fhir")
@bp.post("/fhir/")
def transaction():
    bundle = request.get_json(silent=True)
    if FAIL_WRITES["on"]:
        return _outcome(503, "the EHR database is read-only for maintenance")
    if not isinstance(bundle, dict) or bundle.get("type") != "transaction":
        return _outcome(400, "expected a transaction Bundle")
    _wait_for_the_others()
    with LOCK:  # the ifMatch check and the write are one step: no other transaction runs in between
        LOG["transactions"].append([{"method": e["request"]["method"], "url": e["request"]["url"],
                                     "ifMatch": e["request"].get("ifMatch")} for e in bundle.get("entry", [])])
        staged = copy.deepcopy(STORE)
        ids, out = {}, []
        for entry in bundle.get("entry", []):
            if stale := _stale(entry, staged):
                return _conflict(stale)
            res = entry["resource"]
            method = entry["request"]["method"]
            rid = entry["request"]["url"].split("/")[1] if method == "PUT" else str(uuid.uuid4())
            ids[entry.get("fullUrl")] = f"{res['resourceType']}/{rid}"
        for entry in bundle.get("entry", []):
            res = rewrite_references(entry["resource"], ids)
            res["id"] = ids[entry.get("fullUrl")].split("/")[1]
            version = _version(staged.get(res["resourceType"], {}).get(res["id"])) + 1
            res["meta"] = {**(res.get("meta") or {}), "versionId": str(version)}
            if problem := _invalid(res):
                return _outcome(422, problem)
            staged.setdefault(res["resourceType"], {})[res["id"]] = res
            out.append({"response": {"status": "201 Created", "location": ids[entry.get("fullUrl")],
                                     "etag": f'W/"{version}"'}})
        STORE.clear()
        STORE.update(staged)
    return jsonify(resourceType="Bundle", type="transaction-response", entry=out)


def _conflict(text: str):
    return jsonify(resourceType="OperationOutcome", issue=[{"severity": "error", "code": "conflict",
                                                            "diagnostics": text}]), 412


@bp.post("/_test/pas-pend")
def pas_pend():
    PAS_PEND["on"] = bool((request.get_json() or {}).get("on"))
    return jsonify(PAS_PEND)


@bp.post("/fhir/Claim/$inquire")
def pas_inquire():
    """The decision after review: every item affirmed."""
    return _pas_answer(pend=False)


@bp.post("/fhir/Claim/$submit")
def pas_submit():
    """A Da Vinci PAS payer: affirms every item (X12 306 A1) with an authorization number."""
    return _pas_answer(pend=PAS_PEND["on"])


def _pas_answer(pend: bool):
    bundle = request.get_json(silent=True) or {}
    claim = ((bundle.get("entry") or [{}])[0]).get("resource") or {}
    if claim.get("resourceType") != "Claim" or claim.get("use") != "preauthorization":
        return _outcome(400, "entry 1 must be a PAS Claim")
    number = None if pend else "PAS" + secrets.token_hex(5).upper()
    review = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewAction"
    items = [{"itemSequence": i["sequence"], "adjudication": [{
        "category": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adjudication", "code": "submitted"}]},
        "extension": [{"url": review, "extension": [
            *([{"url": "number", "valueString": number}] if number else []),
            {"url": "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewActionCode",
             "valueCodeableConcept": {"coding": [{"system": "https://codesystem.x12.org/005010/306",
                                                  "code": "A4" if pend else "A1"}]}}]}]}]}
        for i in claim.get("item") or ()]
    today = time.strftime("%Y-%m-%d")
    response = {"resourceType": "ClaimResponse", "id": str(uuid.uuid4()), "status": "active", "use": "preauthorization",
                "type": claim.get("type"), "patient": claim.get("patient"), "created": today,
                "insurer": claim.get("insurer"), "outcome": "queued" if pend else "complete",
                "request": {"identifier": {"value": bundle.get("id", "")}}, "item": items}
    if number:
        response["preAuthRef"] = number
    return jsonify(resourceType="Bundle", type="collection", entry=[{"resource": response}])


@bp.get("/_test/ehr")
def ehr_page():
    """The EHR screen hosting the app in an iframe, as a real EHR does."""
    from markupsafe import escape

    src = request.args.get("src", "")
    return (f'<!doctype html><html lang="en"><head><title>Test EHR</title></head><body><h1>Test EHR</h1>'
            f'<iframe id="app" title="painpa" src="{escape(src)}" style="width:1200px;height:2400px"></iframe>'
            f'</body></html>')
