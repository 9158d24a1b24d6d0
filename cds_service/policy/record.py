"""PatientRecord: the FHIR R4 resources gathered for one hook call or SMART session, as plain JSON
dicts (parsing every resource into models would cost more than the whole evaluation; the policy
reads the few elements it needs).

``incomplete`` names the resource types whose query failed or timed out, so that the policy says
``unknown`` rather than ``unmet`` for what it could not see.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TenantDefaults:
    """The tenant's settings: fallbacks when an order names no location (the practice's state and CMS
    place of service), and its own values for the windows that are painpa's choice."""

    state: str | None = None
    place_of_service: str | None = None
    # Windows that are painpa's own choice (policy data ``painpa_choices``), set for this tenant:
    # ("<requirement id>.<param>", days) pairs, e.g. ("esi.active-program.within_days", 60).
    windows: tuple[tuple[str, int], ...] = ()


@dataclass
class PatientRecord:
    patient: dict | None = None
    coverages: list[dict] = field(default_factory=list)
    resources: dict[str, dict[str, dict]] = field(default_factory=dict)  # type -> id -> resource
    incomplete: set[str] = field(default_factory=set)
    defaults: TenantDefaults = field(default_factory=TenantDefaults)

    @classmethod
    def from_resources(
        cls, resources: Iterable[dict], *, incomplete: Iterable[str] = (), defaults: TenantDefaults | None = None
    ) -> PatientRecord:
        record = cls(incomplete=set(incomplete), defaults=defaults or TenantDefaults())
        for resource in resources:
            record.add(resource)
        return record

    def add(self, resource: dict) -> None:
        if not isinstance(resource, dict):
            return
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str):
            return
        if rtype == "Bundle":
            for entry in resource.get("entry") or ():
                if isinstance(entry, dict):
                    self.add(entry.get("resource"))
            return
        rid = resource.get("id") or f"_anon{sum(len(v) for v in self.resources.values())}"
        self.resources.setdefault(rtype, {})[str(rid)] = resource
        if rtype == "Patient" and self.patient is None:
            self.patient = resource
        elif rtype == "Coverage" and resource not in self.coverages:
            self.coverages.append(resource)

    def of(self, rtype: str) -> list[dict]:
        return list(self.resources.get(rtype, {}).values())

    def resolve(self, reference: str | None) -> dict | None:
        """Resolve a relative ``Type/id`` reference (or ``#id`` is left to the caller). Absolute
        references are resolved only by their trailing ``Type/id`` within this record: never fetched."""
        if not reference or not isinstance(reference, str):
            return None
        parts = reference.rstrip("/").split("/")
        if len(parts) < 2:
            return None
        return self.resources.get(parts[-2], {}).get(parts[-1])

    def __len__(self) -> int:
        return sum(len(v) for v in self.resources.values())
