"""What the payer's rules read from a PAS request Bundle (PAS 2.2.1 §"Prior Authorization
Submission": the Claim with its supportingInfo and the clinical resources sent with it).

Evidence is looked up with painpa's own coverage data through the policy package's public API
(``PolicySet.vs``, ``PolicySet.family_of``): the psychological-evaluation value set of NCD 160.7
and the imaging requirement (modalities, keywords, recency window) of the vertebral augmentation
family, so the payer and the CDS service read the same codes and windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from cds_service.policy.loader import PolicySet
from sandbox.payer.request import PasRequest

_DOCUMENT_TYPES = ("DocumentReference", "QuestionnaireResponse", "DiagnosticReport", "Binary")
_CODED = {"Procedure": "code", "Observation": "code", "DocumentReference": "type", "DiagnosticReport": "code",
          "ServiceRequest": "code"}


def _date(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _concept(res: dict, key: str) -> dict:
    value = res.get(key)
    return value if isinstance(value, dict) else {}   # Organization.type and the like are lists: not read


def _texts(res: dict) -> str:
    parts = [res.get("description"), res.get("conclusion"), _concept(res, "code").get("text"),
             _concept(res, "type").get("text")]
    parts += [c.get("display") for key in ("code", "type") for c in _concept(res, key).get("coding") or []]
    parts += [(c.get("attachment") or {}).get("title") for c in res.get("content") or [] if isinstance(c, dict)]
    return " ".join(p for p in parts if isinstance(p, str)).lower()


def modified_items(items: list[dict], codes: set[str], most: int) -> list[int]:
    """Sequences of the items coded in ``codes`` that ask for more than ``most`` units."""
    return [i["sequence"] for i in items
            if {c.get("code") for c in (i.get("productOrService") or {}).get("coding") or []} & codes
            and float((i.get("quantity") or {}).get("value", 1)) > most]


@dataclass
class Facts:
    codes: set[str]
    state: str | None
    has_documentation: bool
    service_date: date
    resources: list[dict] = field(default_factory=list)
    policies: PolicySet | None = None
    items: list[dict] = field(default_factory=list)

    @classmethod
    def of(cls, req: PasRequest, policies: PolicySet | None, today: date) -> Facts:
        claim = req.claim
        codes = {c.get("code") for item in claim.get("item") or []
                 for c in (item.get("productOrService") or {}).get("coding") or [] if c.get("code")}
        addresses = (req.patient.get("address") or []) + (req.provider.get("address") or [])
        state = next((a.get("state") for a in addresses if a.get("state")), None)
        documented = bool(claim.get("supportingInfo")) or bool(req.of_type(*_DOCUMENT_TYPES))
        dates = [_date(i.get("servicedDate") or (i.get("servicedPeriod") or {}).get("start"))
                 for i in claim.get("item") or []]
        return cls(codes, state, documented, min((d for d in dates if d), default=today), req.resources, policies,
                   claim.get("item") or [])

    def units_over(self, codes: set[str], most: int) -> bool:
        return bool(modified_items(self.items, codes, most))

    def has_evidence(self, requirement: str) -> bool:
        """A resource coded in the requirement's value set (``procedures_vs``), or a document whose
        title/description names one of its keywords."""
        params = self._requirement_params(requirement)
        vs = self.policies.vs(params["procedures_vs"]) if self.policies and params.get("procedures_vs") else None
        keywords = [k.lower() for k in params.get("keywords") or []]
        for res in self.resources:
            path = _CODED.get(res.get("resourceType", ""))
            if vs and path and vs.match(_concept(res, path).get("coding")):
                return True
            if any(k in _texts(res) for k in keywords):
                return True
        return False

    def imaging_current(self, requirement: str) -> bool:
        """An imaging study or report within the requirement's window before the service date,
        with the modalities, keywords and window of the policy family's requirement."""
        params = self._requirement_params(requirement)
        if not params:
            return True
        oldest = self.service_date - timedelta(days=int(params.get("within_days", 84)))
        vs = self.policies.vs(params["modalities_vs"]) if self.policies and params.get("modalities_vs") else None
        keywords = [k.lower() for k in params.get("keywords") or []]
        for res in self.resources:
            kind = res.get("resourceType")
            if kind == "ImagingStudy":
                modal = [s["modality"] for s in res.get("series") or [] if s.get("modality")] + (res.get("modality") or [])
                when = _date(res.get("started"))
                is_imaging = not vs or bool(vs.match(modal))
            elif kind in ("DiagnosticReport", "DocumentReference"):
                when = _date(res.get("effectiveDateTime") or res.get("issued") or res.get("date"))
                is_imaging = any(k in _texts(res) + " " for k in keywords)
            else:
                continue
            if is_imaging and when and when >= oldest:
                return True
        return False

    def _requirement_params(self, requirement: str) -> dict:
        if not self.policies:
            return {}
        family = self.policies.family_of(self.codes, self.service_date)
        for req in (family.data.get("requirements") or []) if family else []:
            if req.get("id") == requirement:
                return req.get("params") or {}
        return {}
