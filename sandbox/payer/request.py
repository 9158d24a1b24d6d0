"""Reading a PAS request the way the IG defines it (Da Vinci PAS 2.1 / 2.2.1 ``PASRequestBundle`` and
``PASInquiryRequestBundle``, ``Bundle.fsh``; OperationDefinitions ``Claim-submit`` and ``Claim-inquiry``).

The operation's one input parameter is ``resource`` (a Bundle), so FHIR's operation rules (R4
§"Operations": a single resource parameter may be sent as the body) let a client POST the Bundle
itself or a Parameters holding it as ``resource``; any other Parameters is refused by name.
The Bundle must be a ``collection`` with ``identifier`` and ``timestamp``, every entry with
``fullUrl`` and ``resource``, no ``request``/``response``/``search``, and the Claim first
(invariant ClaimFirst). Everything the Claim references (Patient, Coverage, Organizations,
Practitioners, supporting documents) is resolved from the Bundle itself, by fullUrl or by
``Type/id`` relative to it, never from the payer's own records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from sandbox.fhir.outcome import FhirError, issue


@dataclass
class PasRequest:
    bundle: dict
    claim: dict
    resources: list[dict] = field(default_factory=list)
    _by_ref: dict[str, dict] = field(default_factory=dict)
    _url_of: dict[int, str] = field(default_factory=dict)

    def full_url(self, resource: dict) -> str | None:
        return self._url_of.get(id(resource))

    def resolve(self, ref: dict | str | None) -> dict | None:
        """The Bundle entry a Reference points to: by fullUrl, by ``Type/id``, or by the trailing
        ``Type/id`` of an absolute URL (PAS examples use ``http://example.org/fhir/Type/id``)."""
        target = ref.get("reference") if isinstance(ref, dict) else ref
        if not target:
            return None
        if target in self._by_ref:
            return self._by_ref[target]
        parts = target.rstrip("/").split("/")
        return self._by_ref.get("/".join(parts[-2:])) if len(parts) >= 2 else None

    def of_type(self, *types: str) -> list[dict]:
        return [r for r in self.resources if r.get("resourceType") in types]

    @property
    def patient(self) -> dict:
        return self.resolve(self.claim.get("patient")) or {}

    @property
    def provider(self) -> dict:
        return self.resolve(self.claim.get("provider")) or {}

    @property
    def coverage(self) -> dict:
        insurance = self.claim.get("insurance") or []
        focal = next((i for i in insurance if i.get("focal")), insurance[0] if insurance else {})
        return self.resolve(focal.get("coverage")) or {}


def unwrap(body: object) -> object:
    """The Bundle from a ``$submit`` / ``$inquire`` body: the body itself, or the ``resource``
    parameter of a Parameters (the only input parameter both OperationDefinitions declare)."""
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        params = [p for p in body.get("parameter") or [] if isinstance(p, dict)]
        named = [p for p in params if p.get("name") == "resource"]
        others = sorted({str(p.get("name")) for p in params} - {"resource"})
        if others:
            raise FhirError(400, f"Unknown parameter(s) {', '.join(others)}: this operation takes only 'resource' "
                                 "(a PAS request Bundle)", "invalid")
        if len(named) != 1 or not isinstance(named[0].get("resource"), dict):
            raise FhirError(400, "Parameters must hold exactly one 'resource' parameter with the PAS request Bundle",
                            "required")
        return named[0]["resource"]
    return body


def parse(body: object, *, claim_profile: str = "PAS request") -> PasRequest:
    body = unwrap(body)
    if not isinstance(body, dict) or not body.get("resourceType"):
        raise FhirError(400, "The body must be a FHIR resource (a PAS request Bundle) as JSON", "structure")
    if body["resourceType"] != "Bundle":
        raise FhirError(400, f"The body is a {body['resourceType']}; Claim/$submit and $inquire take a "
                             f"{claim_profile} Bundle", "invalid")
    problems = []
    if body.get("type") != "collection":
        problems.append(issue("value", "Bundle.type must be 'collection'", expression="Bundle.type"))
    for name in ("identifier", "timestamp"):
        if not body.get(name):
            problems.append(issue("required", f"Bundle.{name} is required (1..1)", expression=f"Bundle.{name}"))
    entries = body.get("entry") if isinstance(body.get("entry"), list) else []
    if not entries:
        problems.append(issue("required", "Bundle.entry is empty: the Claim must be the first entry",
                              expression="Bundle.entry"))
    for i, e in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        if not isinstance(e, dict) or not isinstance(e.get("resource"), dict):
            problems.append(issue("required", f"{where}.resource is required", expression=where))
            continue
        if not e.get("fullUrl"):
            problems.append(issue("required", f"{where}.fullUrl is required", expression=f"{where}.fullUrl"))
        for banned in ("request", "response", "search"):
            if banned in e:
                problems.append(issue("invalid", f"{where}.{banned} is not allowed in a PAS Bundle (0..0)",
                                      expression=f"{where}.{banned}"))
    if entries and isinstance(entries[0], dict) and (entries[0].get("resource") or {}).get("resourceType") != "Claim":
        problems.append(issue("invalid", "The Bundle's first entry must be the Claim (invariant ClaimFirst)",
                              expression="Bundle.entry[0].resource"))
    if problems:
        raise FhirError(400, problems[0]["diagnostics"], issues=problems)
    try:
        Bundle.model_validate(body)
    except ValidationError as exc:
        issues = [issue("structure", err.get("msg", "invalid"), expression=_path(err.get("loc", ())))
                  for err in exc.errors()[:20]]
        raise FhirError(422, f"The Bundle is not valid FHIR R4: {issues[0]['expression']}: {issues[0]['diagnostics']}",
                        issues=issues) from None
    claim = entries[0]["resource"]
    if claim.get("use") != "preauthorization":
        raise FhirError(400, "Claim.use must be 'preauthorization'", "value")
    req = PasRequest(bundle=body, claim=claim, resources=[e["resource"] for e in entries[1:]])
    for e in entries:
        res = e["resource"]
        req._by_ref[e["fullUrl"]] = res
        req._url_of[id(res)] = e["fullUrl"]
        if res.get("id"):
            req._by_ref[f"{res['resourceType']}/{res['id']}"] = res
    if not req.patient:
        raise FhirError(422, "Claim.patient must reference a Patient entry of the Bundle", "processing",
                        issues=[issue("processing", "Claim.patient must reference a Patient entry of the Bundle",
                                      expression="Claim.patient")])
    return req


def _path(loc: tuple) -> str:
    path = "Bundle"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path
