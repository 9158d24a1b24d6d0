"""Launch context from the token response (SMART App Launch 2.2 ``scopes-and-launch-context.md``
"Launch context arrives with your access_token"; standards.md §5.4, §3.2, CC-61) and the scopes
painpa asks for (§5.3, v2 with a v1 fallback).

``fhirContext`` arrives as strings (SMART 2.0.0, Inferno DTR light-EHR) or as objects (2.1+);
objects carry a ``reference`` or a ``canonical`` (SMART 2.2 "fhirContext"). References are kept
relative; a Questionnaire canonical (``{"canonical": "url|version", "type": "Questionnaire"}``) is
kept as given: DTR 2.2 "Retrieving Launch Context Information" / "Retrieving Questionnaire Packages"
open the form it names (a version-specific canonical when the EHR knows the version).
``appContext`` is any string (CDS Hooks 2.0 "Link"): painpa's cards send ``{"ctx": "<handle>"}``,
anything else is kept as opaque text. Unknown keys are ignored.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace

# Reads for the whole chart; writes only for the resource types the fixes create.
WRITE_TYPES = (
    "Observation", "Procedure", "MedicationStatement", "DiagnosticReport", "DocumentReference",
    "QuestionnaireResponse", "Claim", "ClaimResponse", "ServiceRequest",
    "CarePlan", "Goal",  # the chronic pain management care plan (cpm-careplan form)
)


def scopes(version: str, *, ehr_launch: bool, practitioner: bool = False) -> str:
    """Patient-level scopes for a launch on one patient; for the coordinator queue (standalone, no
    patient, ``fhirUser`` names the practitioner) user-level ones: it reads orders across patients."""
    launch = [] if practitioner else ["launch"] if ehr_launch else ["launch/patient"]
    level = "user" if practitioner else "patient"
    if version == "v1":
        data = [f"{level}/*.read"] + [f"{level}/{t}.write" for t in WRITE_TYPES]
    else:
        data = [f"{level}/*.rs"] + [f"{level}/{t}.cu" for t in WRITE_TYPES]
    return " ".join([*launch, "openid", "fhirUser", "offline_access", *data])


def is_practitioner_scope(scope: str) -> bool:
    """True for the scopes :func:`scopes` asks for the coordinator queue."""
    items = scope.split()
    return not {"launch", "launch/patient"} & set(items) and any(i.startswith("user/") for i in items)


@dataclass(frozen=True)
class LaunchContext:
    patient: str | None = None
    encounter: str | None = None
    fhir_context: tuple[str, ...] = ()          # relative references, "ServiceRequest/sr-1"
    questionnaires: tuple[str, ...] = ()        # Questionnaire canonicals, "url" or "url|version"
    app_context: str | None = None              # raw string as received
    handle: str | None = None                   # painpa appContext handle, when it is one
    need_patient_banner: bool = True
    smart_style_url: str | None = None
    intent: str | None = None
    tenant: str | None = None
    fhir_user: str | None = None
    extra: dict = field(default_factory=dict)   # nothing unknown is acted on; kept for display only

    def references_of(self, rtype: str) -> list[str]:
        return [r for r in self.fhir_context if r.split("/", 1)[0] == rtype]

    def names_a_form(self) -> bool:
        """A DTR launch on one form: a Questionnaire canonical or a QuestionnaireResponse to resume."""
        return bool(self.questionnaires or self.references_of("QuestionnaireResponse"))

    def as_dict(self) -> dict:
        return {
            "patient": self.patient, "encounter": self.encounter,
            "fhirContext": [*self.fhir_context, *({"canonical": c, "type": "Questionnaire"} for c in self.questionnaires)],
            "appContext": self.app_context, "handle": self.handle,
            "need_patient_banner": self.need_patient_banner, "smart_style_url": self.smart_style_url,
            "intent": self.intent, "tenant": self.tenant, "fhirUser": self.fhir_user,
        }

    @classmethod
    def from_dict(cls, data: dict) -> LaunchContext:
        ctx = parse({**data, "fhirContext": data.get("fhirContext") or []})
        # A stored context keeps its handle as stored: None once redeemed, never re-read from appContext
        # (which would redeem a spent handle again on every later page).
        return replace(ctx, handle=data["handle"]) if "handle" in data else ctx


def _str(value) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _relative(ref: str) -> str | None:
    parts = ref.strip().rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2][:1].isupper() and parts[-1]:
        return f"{parts[-2]}/{parts[-1]}"
    return None


def _fhir_context(value) -> tuple[str, ...]:
    refs: list[str] = []
    for item in value if isinstance(value, list) else ():
        if isinstance(item, str):                       # SMART 2.0.0 form
            ref = _relative(item)
        elif isinstance(item, dict) and isinstance(item.get("reference"), str):  # SMART 2.1+ form
            ref = _relative(item["reference"])
        else:                                           # canonical / identifier only: nothing to read
            ref = None
        if ref and ref not in refs:
            refs.append(ref)
    return tuple(refs)


def _questionnaires(value) -> tuple[str, ...]:
    """Questionnaire canonicals of ``fhirContext`` objects: ``type`` Questionnaire, or no type and a
    canonical whose path names a Questionnaire (canonicals carry no resource type of their own)."""
    out: list[str] = []
    for item in value if isinstance(value, list) else ():
        canonical = _str(item.get("canonical")) if isinstance(item, dict) else None
        if not canonical or len(canonical) > 1024:
            continue
        kind, canonical = item.get("type"), canonical.strip()
        questionnaire = kind == "Questionnaire" or (kind is None and "/Questionnaire/" in canonical.split("|")[0])
        if questionnaire and canonical not in out:
            out.append(canonical)
    return tuple(out)


def split_canonical(canonical: str) -> tuple[str, str | None]:
    """``url|version`` → (url, version); no ``|`` → (url, None) (FHIR R4 "canonical" data type)."""
    url, bar, version = canonical.partition("|")
    return url, (version or None) if bar else None


def _handle(app_context: str | None) -> str | None:
    if not app_context:
        return None
    try:
        data = json.loads(app_context)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("ctx"), str) and 8 <= len(data["ctx"]) <= 256:
        return data["ctx"]
    return None


def _bool(value, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return default


def _fhir_user_from_id_token(token_response: dict) -> str | None:
    """``fhirUser`` claim of the id_token, read without verification: display only, never trusted."""
    raw = token_response.get("id_token")
    if not isinstance(raw, str) or raw.count(".") != 2:
        return None

    try:
        body = raw.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, TypeError):
        return None
    return _str(claims.get("fhirUser")) if isinstance(claims, dict) else None


def parse(token_response: dict) -> LaunchContext:
    """Parse the launch context of a token response. Never raises on odd shapes (CC-61)."""
    app_context = token_response.get("appContext")
    if app_context is not None and not isinstance(app_context, str):
        app_context = json.dumps(app_context)  # lenient: some servers send the JSON object itself
    patient = _str(token_response.get("patient"))
    encounter = _str(token_response.get("encounter"))
    return LaunchContext(
        patient=_relative(patient).split("/")[1] if patient and "/" in patient and _relative(patient) else patient,
        encounter=encounter,
        fhir_context=_fhir_context(token_response.get("fhirContext")),
        questionnaires=_questionnaires(token_response.get("fhirContext")),
        app_context=app_context,
        handle=_handle(app_context),
        need_patient_banner=_bool(token_response.get("need_patient_banner"), True),
        smart_style_url=_str(token_response.get("smart_style_url")),
        intent=_str(token_response.get("intent")),
        tenant=_str(token_response.get("tenant")),
        fhir_user=_str(token_response.get("fhirUser")) or _fhir_user_from_id_token(token_response),
    )
