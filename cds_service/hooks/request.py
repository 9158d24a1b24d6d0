"""Parse and validate a hook call (CDS Hooks 2.0 §Calling a CDS Service; hook library order-select /
order-sign / appointment-book 1.0; CRD 2.0.1 deviations; checks CC-20..23 of standards.md §10).

Structure that CDS Hooks requires is checked (400 naming the element); CRD-level constraints that
valid JSON breaks (selections that name no draft order, draft orders or appointments without ids)
answer 422. Unknown context fields and unknown extensions are ignored (CRD hook-23). A
``davinci-crd.requestedVersion`` painpa does not answer is a 400 naming the versions it does
(CRD 2.2 dev-3; :mod:`cds_service.render.versions`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from cds_service import jsontext
from cds_service.errors import INCOMPLETE, PROCESSING, Refused
from cds_service.render.versions import UnsupportedVersion, answered_version

# A JSON ``\uD800``-``\uDFFF`` escape: legal JSON, but a lone one is not Unicode text (RFC 8259 §8.2)
# and breaks every later ``.encode()`` (hashing, logging, SQL) with a 500. The standard library
# also reads a surrogate encoded as raw bytes (ED A0..BF: not UTF-8), with the same result. Two
# patterns, each behind a substring test: one regex with both alternatives scans far slower
# (bench/RESULTS.md, "Figures behind design choices in the code").
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
ENCODED_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]")
ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# RFC 6750 §2.1 b64token: what a Bearer credential may hold, since it goes into an Authorization header
# (CR/LF or non-ASCII there is header injection or an encoding error, never a usable token).
BEARER_TOKEN_RE = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
USER_RE = re.compile(r"^(Practitioner|PractitionerRole|Patient|RelatedPerson)/[A-Za-z0-9\-.]{1,64}$")
REQUIRED_CONTEXT = {
    "order-select": ("userId", "patientId", "selections", "draftOrders"),
    "order-sign": ("userId", "patientId", "draftOrders"),
    "patient-view": ("userId", "patientId"),
    "appointment-book": ("userId", "patientId", "appointments"),
}


class InvalidRequest(Refused):
    """A hook request that breaks CDS Hooks (``invalid``) or CRD's constraints on valid JSON (``processing``)."""


class PrefetchIncomplete(Refused):
    """CDS Hooks 2.0 §Prefetch: the prefetch lacks what the answer needs and no FHIR access came
    with it to query the rest."""

    issue = INCOMPLETE


@dataclass(frozen=True)
class HookRequest:
    hook: str
    hook_instance: str
    context: dict
    patient_id: str
    user_id: str | None
    encounter_id: str | None
    fhir_server: str | None = None
    access_token: str | None = field(default=None, repr=False)
    prefetch: dict = field(default_factory=dict)
    draft_orders: tuple[dict, ...] = ()
    selections: tuple[str, ...] = ()
    configuration: dict = field(default_factory=dict)
    requested_version: str | None = None
    # The CRD version the answer is shaped to (render/versions.py): the requested one, else the
    # registered client's (set by the view once the client is known), else 2.0.1.
    crd_version: str = field(default_factory=lambda: answered_version(None))
    appointments: tuple[dict, ...] = ()     # appointment-book: context.appointments, in order

    @property
    def selected_orders(self) -> list[dict]:
        """order-select: only the ``selections``; otherwise every draft order."""
        if self.hook != "order-select":
            return list(self.draft_orders)
        chosen = set(self.selections)
        return [o for o in self.draft_orders if f"{o['resourceType']}/{o['id']}" in chosen]


def parse_json(raw: bytes) -> dict:
    try:
        body = jsontext.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nesting bomb: 400, not 500
        raise InvalidRequest("Request body is not parsable JSON") from None
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object")
    # The byte patterns are UTF-8's: a UTF-16/32 body (RFC 8259 allows them) always takes the exact
    # check. ``b"\\" in`` first: a one-byte search runs in C's ``memchr``, far faster than the
    # two-byte search over a body that holds no backslash (bench/RESULTS.md, "Figures behind design
    # choices in the code").
    if ((b"\\" in raw and b"\\u" in raw and SURROGATE_ESCAPE.search(raw))
            or (b"\xed" in raw and ENCODED_SURROGATE.search(raw))
            or json.detect_encoding(raw) != "utf-8"):  # rare: then the exact check
        try:
            json.dumps(body, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise InvalidRequest("Request body holds an unpaired UTF-16 surrogate (an escape or its "
                                 "raw bytes); strings must be Unicode text") from None
    return body


def _string(obj: dict, key: str, where: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{where}{key} is required and must be a non-empty string", f"{where}{key}")
    return value


def _bundled(bundle: object, name: str) -> tuple[dict, ...]:
    """The resources of ``context.<name>`` (draftOrders, appointments: a Bundle whose entries need ids)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidRequest(f"context.{name} must be a FHIR Bundle", f"context.{name}")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise InvalidRequest(f"context.{name}.entry must be an array", f"context.{name}.entry")
    resources: list[dict] = []
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        where = f"context.{name}.entry[{i}].resource"
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise InvalidRequest(f"{where} must be a FHIR resource", where)
        if not isinstance(resource.get("id"), str) or not resource["id"]:
            raise InvalidRequest(f"{where} has no id; it needs one to be referenced", f"{where}.id",
                                 issue=PROCESSING)
        resources.append(resource)
    return tuple(resources)


def _extension(body: dict) -> tuple[dict, str | None]:
    ext = body.get("extension")
    if not isinstance(ext, dict):
        return {}, None
    config = ext.get("davinci-crd.configuration")
    version = ext.get("davinci-crd.requestedVersion")
    return (config if isinstance(config, dict) else {}), (version if isinstance(version, str) else None)


def parse_request(body: dict, service_hook: str) -> HookRequest:
    """Validate ``body`` for a service bound to ``service_hook``; raise :class:`InvalidRequest`."""
    hook = _string(body, "hook", "")
    if hook != service_hook:
        raise InvalidRequest(f"hook {hook!r} does not match this service's hook {service_hook!r}", "hook")
    hook_instance = _string(body, "hookInstance", "")
    if len(hook_instance) > 128:
        raise InvalidRequest("hookInstance is longer than 128 characters", "hookInstance")
    context = body.get("context")
    if not isinstance(context, dict):
        raise InvalidRequest("context is required and must be an object", "context")
    for name in REQUIRED_CONTEXT.get(hook, ("patientId",)):
        if context.get(name) is None:
            raise InvalidRequest(f"context.{name} is required for {hook}", f"context.{name}")

    patient_id = _string(context, "patientId", "context.")
    if patient_id.startswith("Patient/"):
        patient_id = patient_id[len("Patient/"):]  # tolerated: some clients send a reference
    if not ID_RE.match(patient_id):
        raise InvalidRequest("context.patientId must be a FHIR id", "context.patientId")
    user_id = _string(context, "userId", "context.", required=False)
    if user_id is not None and not USER_RE.match(user_id):
        raise InvalidRequest("context.userId must be a reference such as Practitioner/123", "context.userId")
    encounter_id = context.get("encounterId") if isinstance(context.get("encounterId"), str) else None
    if encounter_id is not None and not ID_RE.match(encounter_id):
        raise InvalidRequest("context.encounterId must be a FHIR id", "context.encounterId")

    orders = _bundled(context["draftOrders"], "draftOrders") if "draftOrders" in context else ()
    appointments = _bundled(context["appointments"], "appointments") if hook == "appointment-book" else ()
    selections: tuple[str, ...] = ()
    if hook == "order-select":
        raw = context["selections"]
        if not isinstance(raw, list) or not raw or not all(isinstance(s, str) for s in raw):
            raise InvalidRequest("context.selections must be a non-empty array of references", "context.selections")
        known = {f"{o['resourceType']}/{o['id']}" for o in orders}
        for sel in raw:
            if sel not in known:
                raise InvalidRequest(f"context.selections item {sel!r} is not in context.draftOrders",
                                     "context.selections", issue=PROCESSING)
        selections = tuple(raw)

    fhir_server = _string(body, "fhirServer", "", required=False)
    auth = body.get("fhirAuthorization")
    token = None
    if auth is not None:
        if not isinstance(auth, dict):
            raise InvalidRequest("fhirAuthorization must be an object", "fhirAuthorization")
        token = _string(auth, "access_token", "fhirAuthorization.")
        if not BEARER_TOKEN_RE.match(token):
            raise InvalidRequest("fhirAuthorization.access_token is not a Bearer token (RFC 6750 b64token: "
                                 "letters, digits and -._~+/ then optional =)", "fhirAuthorization.access_token")
        token_type = _string(auth, "token_type", "fhirAuthorization.")
        if token_type.lower() != "bearer":
            raise InvalidRequest("fhirAuthorization.token_type must be Bearer", "fhirAuthorization.token_type")
        if fhir_server is None:
            raise InvalidRequest("fhirServer is required when fhirAuthorization is present", "fhirServer")
    prefetch = body.get("prefetch")
    if prefetch is not None and not isinstance(prefetch, dict):
        raise InvalidRequest("prefetch must be an object", "prefetch")
    config, version = _extension(body)
    try:
        answered = answered_version(version)
    except UnsupportedVersion as exc:
        raise InvalidRequest(str(exc), "extension.davinci-crd.requestedVersion") from None
    return HookRequest(
        hook=hook,
        hook_instance=hook_instance,
        context=context,
        patient_id=patient_id,
        user_id=user_id,
        encounter_id=encounter_id,
        fhir_server=fhir_server,
        access_token=token,
        prefetch=prefetch or {},
        draft_orders=orders,
        selections=selections,
        configuration=config,
        requested_version=version,
        crd_version=answered,
        appointments=appointments,
    )
