"""Response checks of standards.md §10 D and E (CC-33..CC-49) as plain functions, applied by the
tests to every response they get. Each assertion message names its CC number."""

from __future__ import annotations

import copy
import json
import re
import uuid
from urllib.parse import urlsplit

from markdown_it import MarkdownIt

CI_URL = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
TOPIC_201 = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
TOPIC_22 = "http://terminology.hl7.org/CodeSystem/cdshooks-card-type"
CARD_TYPES = {"coverage-info", "claim", "insurance", "limits", "network", "appropriate-use", "cost",
              "therapy-alternatives-opt", "therapy-alternatives-req", "clinical-reminder", "duplicate-therapy",
              "contraindication", "guideline", "off-guideline", "unsolicited-determ"}
ORDER_TYPES = {"DeviceRequest", "MedicationRequest", "NutritionOrder", "ServiceRequest", "VisionPrescription"}


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


def walk(value, path="$"):
    """Every (JSONPath, value) in a JSON document, containers included."""
    if isinstance(value, dict):
        yield path, value
        for k, v in value.items():
            yield from walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        yield path, value
        for i, v in enumerate(value):
            yield from walk(v, f"{path}[{i}]")
    else:
        yield path, value


def check_shape(body: dict, request: dict, *, dev: bool = True) -> None:
    """CC-33..CC-41 on one 200 response to ``request``."""
    assert isinstance(body, dict) and isinstance(body.get("cards"), list), "CC-33 cards array"
    for path, value in walk(body):
        if path != "$.cards":
            assert value not in (None, "", [], {}), f"CC-33 empty value at {path}"
    version = (request.get("extension") or {}).get("davinci-crd.requestedVersion")
    draft_ids = {f"{e['resource']['resourceType']}/{e['resource']['id']}"
                 for e in request["context"].get("draftOrders", {}).get("entry", [])}
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    for card in body["cards"]:
        assert isinstance(card["summary"], str) and 0 < len(card["summary"]) <= 139, "CC-34 summary"
        assert card["indicator"] in ("info", "warning", "critical"), "CC-34 indicator"
        assert card["source"]["label"], "CC-34 source.label"
        topic = card["source"]["topic"]
        assert topic["system"] and topic["code"], "CC-34 source.topic"
        assert _is_uuid(card.get("uuid")), "CC-34 uuid"
        if "detail" in card:
            assert isinstance(card["detail"], str), "CC-35 detail string"
            md.render(card["detail"])
        if card.get("suggestions"):
            assert card.get("selectionBehavior") in ("at-most-one", "any"), "CC-36 selectionBehavior"
            for s in card["suggestions"]:
                assert s.get("label") and _is_uuid(s.get("uuid")), "CC-36 suggestion label/uuid"
                assert s.get("actions"), "CC-36 actions"
                creates = {a["resource"]["resourceType"] for a in s["actions"] if a["type"] == "create"}
                for a in s["actions"]:
                    assert a["type"] in ("create", "update", "delete") and a.get("description"), "CC-36 action"
                    if a["type"] in ("create", "update"):
                        assert a["resource"].get("resourceType"), "CC-36 resource"
                    if a["type"] == "update":
                        ref = f"{a['resource']['resourceType']}/{a['resource'].get('id')}"
                        assert ref in draft_ids, "CC-37 update targets a draft order"
                    if a["type"] == "delete":
                        assert re.fullmatch(r"[A-Za-z]+/[^/]+", a["resourceId"]), "CC-36 delete resourceId"
                        assert a["resourceId"] in draft_ids, "CC-37 delete targets a draft order"
                        assert a["resourceId"].split("/")[0] in creates, "CC-37 delete paired with create"
                if card["selectionBehavior"] == "at-most-one":
                    assert len(s["actions"]) <= 1 or len(card["suggestions"]) >= 1, "CC-36 at-most-one"
        for reason in card.get("overrideReasons", []):
            assert reason.get("code") and reason.get("system") and reason.get("display"), "CC-38 overrideReason"
        link_types = set()
        for link in card.get("links", []):
            assert link.get("label"), "CC-39 link label"
            parts = urlsplit(link["url"])
            assert parts.scheme == "https" or (dev and parts.scheme == "http"), "CC-39 link scheme"
            assert parts.netloc, "CC-39 link host"
            assert link["type"] in ("absolute", "smart"), "CC-39 link type"
            link_types.add(link["type"])
            if "appContext" in link:
                assert link["type"] == "smart", "CC-39 appContext only on smart links"
                check_app_context(link["appContext"], request)
        assert len(link_types) <= 1, "CC-39 links of one card all smart or all absolute"
        expected = TOPIC_22 if version == "2.2" else TOPIC_201
        assert topic["system"] == expected, "CC-41 topic system for the requested version"
        assert topic["code"] in CARD_TYPES, "CC-41 topic code"


def check_app_context(app_context: str, request: dict) -> None:
    """CC-40: a short string, JSON with only ``ctx``, no JWT, no token, no patient id."""
    assert isinstance(app_context, str) and len(app_context.encode()) <= 1024, "CC-40 size"
    parsed = json.loads(app_context)
    assert set(parsed) == {"ctx"}, "CC-40 only ctx"
    assert not re.search(r"[\w-]+\.[\w-]+\.[\w-]+", app_context), "CC-40 no JWT-like value"
    token = (request.get("fhirAuthorization") or {}).get("access_token")
    assert not token or token not in app_context, "CC-40 no access token"
    assert request["context"]["patientId"] not in app_context, "CC-40 no patient id"


def _subs(ext: dict, url: str) -> list[dict]:
    return [e for e in ext.get("extension", []) if e.get("url") == url]


def _value(sub: dict):
    return next(v for k, v in sub.items() if k.startswith("value"))


def coverage_infos(body: dict) -> list[tuple[dict, dict]]:
    """(action, extension) for every coverage-information system action."""
    out = []
    for action in body.get("systemActions", []):
        for ext in (action.get("resource") or {}).get("extension", []):
            if ext.get("url") == CI_URL:
                out.append((action, ext))
    return out


def check_coverage_information(body: dict, request: dict, *, in_scope: set[str]) -> None:
    """CC-42..CC-49; ``in_scope`` names the draft orders (Type/id) that must carry an assertion."""
    version = (request.get("extension") or {}).get("davinci-crd.requestedVersion")
    v22 = version == "2.2"
    drafts = {f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"]
              for e in request["context"]["draftOrders"]["entry"]}
    infos = coverage_infos(body)
    if request["hook"] == "order-sign" and in_scope:
        assert "systemActions" in body, "CC-42 systemActions present on order-sign"
        covered_refs = {f"{a['resource']['resourceType']}/{a['resource']['id']}" for a, _ in infos}
        assert in_scope <= covered_refs, f"CC-42 every in-scope order annotated: missing {in_scope - covered_refs}"
    per_resource: dict[str, list[dict]] = {}
    for action, ext in infos:
        ref = f"{action['resource']['resourceType']}/{action['resource']['id']}"
        assert action["type"] == "update" and action.get("description"), "CC-43 update with description"
        assert ref in drafts and ref.split("/")[0] in ORDER_TYPES | {"CommunicationRequest"}, "CC-43 draft target"
        stripped = copy.deepcopy(action["resource"])
        stripped["extension"] = [e for e in stripped.get("extension", []) if e.get("url") != CI_URL]
        if not stripped["extension"]:
            del stripped["extension"]
        original = copy.deepcopy(drafts[ref])
        original["extension"] = [e for e in original.get("extension", []) if e.get("url") != CI_URL]
        if not original["extension"]:
            del original["extension"]
        assert stripped == original, "CC-43 the rest of the resource is unchanged"
        per_resource.setdefault(ref, []).append(ext)
        for name in ("coverage", "covered", "date", "coverage-assertion-id"):
            assert len(_subs(ext, name)) == 1, f"CC-44 exactly one {name}"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", _value(_subs(ext, "date")[0])), "CC-44 date"
        assert _value(_subs(ext, "coverage-assertion-id")[0]), "CC-44 assertion id"
        assert _value(_subs(ext, "coverage")[0]).get("reference", "").startswith("Coverage/"), "CC-44 coverage"
        codes = {name: [_value(s) for s in _subs(ext, name)] for name in
                 ("covered", "pa-needed", "doc-needed", "doc-purpose", "info-needed")}
        extra = {"indeterminate"} if v22 else set()
        assert set(codes["covered"]) <= {"covered", "not-covered", "conditional"} | extra, "CC-45 covered"
        assert set(codes["pa-needed"]) <= {"no-auth", "auth-needed", "satisfied", "performpa", "conditional"} | extra, "CC-45 pa-needed"
        doc_ok = {"clinical", "admin", "conditional"} | ({"patient", "indeterminate"} if v22 else {"both"})
        assert set(codes["doc-needed"]) <= doc_ok, "CC-45 doc-needed"
        assert len(codes["doc-needed"]) <= 1, "CC-45 doc-needed once (2.0.1 cardinality)"
        assert set(codes["doc-purpose"]) <= {"withpa", "withclaim", "withorder", "retain-doc", "OTH"}, "CC-45 doc-purpose"
        assert set(codes["info-needed"]) <= {"performer", "location", "timeframe", "contract-window", "OTH"} | (
            {"detail-code"} if v22 else set()), "CC-45 info-needed"
        covered, pa = codes["covered"][0], codes["pa-needed"]
        assert bool(_subs(ext, "satisfied-pa-id")) == (pa == ["satisfied"]), "CC-46 satisfied-pa-id iff satisfied"
        if covered != "not-covered":
            assert pa, "CC-46 pa-needed when not not-covered"
        else:
            assert not pa, "CC-46 no pa-needed when not-covered"
        any_conditional = "conditional" in [covered, *pa, *codes["doc-needed"]]
        assert bool(codes["info-needed"]) == any_conditional, "CC-46 info-needed iff conditional"
        if _subs(ext, "questionnaire"):
            assert codes["doc-needed"], "CC-46 questionnaire needs doc-needed"
        if codes["doc-purpose"]:
            assert _subs(ext, "reason"), "CC-46 doc-purpose needs reason"
        if pa and pa[0] in ("satisfied", "no-auth"):
            assert "withpa" not in codes["doc-purpose"], "CC-46 no withpa when satisfied/no-auth"
        if request["hook"] == "order-select":
            assert not set(codes["doc-needed"]) & {"clinical", "admin"}, "CC-48 order-select doc-needed"
        if not v22:
            assert not _subs(ext, "expiry-date"), "CC-49 no expiry-date in 2.0.1"
            for detail in _subs(ext, "detail"):
                assert not _subs(detail, "category"), "CC-49 no detail.category in 2.0.1"
        else:
            assert not _subs(ext, "response"), "CC-49 no response in 2.2"
    for ref, exts in per_resource.items():
        by_cov: dict[str, set] = {}
        sat: dict[str, set] = {}
        for ext in exts:
            cov = _value(_subs(ext, "coverage")[0])["reference"]
            by_cov.setdefault(cov, set()).add(_value(_subs(ext, "coverage-assertion-id")[0]))
            sat.setdefault(cov, set()).update(_value(s) for s in _subs(ext, "satisfied-pa-id"))
        for cov, ids in by_cov.items():
            assert len(ids) == 1 and len(sat[cov]) <= 1, f"CC-47 one assertion id per coverage on {ref}"
        all_ids = [next(iter(ids)) for ids in by_cov.values()]
        assert len(all_ids) == len(set(all_ids)), "CC-47 distinct ids across coverages"
