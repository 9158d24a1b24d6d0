"""Code lists as FHIR R4 ValueSets (fhir_profiles/valuesets/): a small, local expansion.

Only what the policy data uses is supported, on purpose:
- ``compose.include.concept`` — exact codes;
- ``compose.include.filter`` with ``property = concept`` and ``op = is-a`` — the code and its
  descendants. ICD-10-CM descendants share the parent's prefix (M51.1 → M51.16), so is-a is a
  prefix match after removing the dot.

Each ValueSet carries a ``provenance`` extension (source, section, url, lastVerified, status); a
concept may carry its own status where the source tags only some codes UNCONFIRMED (domain.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PROVENANCE_URL = "http://painpa.org/fhir/StructureDefinition/provenance"

# Billing systems: CPT/HCPCS by URI or OID. Codings without a system are accepted only when the
# code itself looks like a CPT/HCPCS code (EHR drafts often omit the system for local billing codes).
SYSTEM_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.12": "http://www.ama-assn.org/go/cpt",
    "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "urn:oid:2.16.840.1.113883.6.285": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "urn:oid:2.16.840.1.113883.6.90": "http://hl7.org/fhir/sid/icd-10-cm",
    "http://hl7.org/fhir/sid/icd-10": "http://hl7.org/fhir/sid/icd-10-cm",
    "urn:oid:2.16.840.1.113883.6.1": "http://loinc.org",
    "urn:oid:2.16.840.1.113883.6.96": "http://snomed.info/sct",
    "urn:oid:2.16.840.1.113883.6.88": "http://www.nlm.nih.gov/research/umls/rxnorm",
}


def norm_system(system: str | None) -> str:
    if not system:
        return ""
    return SYSTEM_ALIASES.get(system, system)


def norm_code(system: str, code: str) -> str:
    code = code.strip().upper()
    if system == "http://hl7.org/fhir/sid/icd-10-cm":
        code = code.replace(".", "")
    return code


@dataclass
class ValueSet:
    id: str
    title: str
    exact: dict[str, set[str]] = field(default_factory=dict)      # system -> codes
    prefixes: dict[str, set[str]] = field(default_factory=dict)    # system -> is-a roots
    prefix_lens: dict[str, tuple[int, ...]] = field(default_factory=dict)  # system -> root lengths
    displays: dict[str, str] = field(default_factory=dict)         # code -> display (for text match)
    unconfirmed: set[str] = field(default_factory=set)
    status: str = "confirmed"
    source: str = ""

    def contains(self, system: str | None, code: str | None) -> bool:
        if not code:
            return False
        system = norm_system(system)
        systems = (system,) if system else tuple(self.exact) + tuple(self.prefixes)
        return any(self.contains_norm(sys_, norm_code(sys_, code)) for sys_ in systems)

    def contains_norm(self, system: str, code: str) -> bool:
        """Membership for an already normalised (system, code): the hot path of the chart index."""
        if code in self.exact.get(system, ()):
            return True
        roots = self.prefixes.get(system)
        return bool(roots) and any(code[:n] in roots for n in self.prefix_lens[system])

    def match(self, codings: list[dict] | None) -> dict | None:
        """The first coding in the list that is in this ValueSet, or None."""
        for coding in codings or ():
            if isinstance(coding, dict) and self.contains(coding.get("system"), coding.get("code")):
                return coding
        return None

    def codes(self) -> set[str]:
        out: set[str] = set()
        for codes in self.exact.values():
            out |= codes
        return out

    def text_match(self, low: str) -> str | None:
        """An ingredient / concept display found as a word in free text (medication names).
        ``low``: the text through :func:`text_key` (the chart normalises each item's text once,
        not once per ValueSet)."""
        needles = self.__dict__.get("_needles")
        if needles is None:   # built on first use: ``displays`` is filled after construction
            needles = self.__dict__["_needles"] = tuple(
                (code, f" {display.lower()} ") for code, display in self.displays.items() if display)
        for code, needle in needles:
            if needle in low:
                return code
        return None


def text_key(text: str) -> str:
    """Free text as :meth:`ValueSet.text_match` takes it: lower case, padded, ',' and '(' as spaces."""
    return f" {text.lower()} ".replace(",", " ").replace("(", " ")


def _status(extensions: list[dict] | None) -> str | None:
    for ext in extensions or ():
        if ext.get("url") == PROVENANCE_URL:
            for sub in ext.get("extension", ()):
                if sub.get("url") == "status":
                    return sub.get("valueCode")
    return None


def _source(extensions: list[dict] | None) -> str:
    for ext in extensions or ():
        if ext.get("url") == PROVENANCE_URL:
            for sub in ext.get("extension", ()):
                if sub.get("url") == "source":
                    return sub.get("valueString", "")
    return ""


def build(resource: dict) -> ValueSet:
    vs = ValueSet(id=resource["id"], title=resource.get("title", resource["id"]),
                  status=_status(resource.get("extension")) or "confirmed", source=_source(resource.get("extension")))
    for include in resource.get("compose", {}).get("include", ()):
        system = norm_system(include.get("system"))
        for concept in include.get("concept", ()):
            code = norm_code(system, concept["code"])
            vs.exact.setdefault(system, set()).add(code)
            if concept.get("display"):
                vs.displays[code] = concept["display"]
            if _status(concept.get("extension")) == "unconfirmed":
                vs.unconfirmed.add(code)
        for flt in include.get("filter", ()):
            root = norm_code(system, flt["value"])
            vs.prefixes.setdefault(system, set()).add(root)
    vs.prefix_lens = {sys_: tuple(sorted({len(r) for r in roots})) for sys_, roots in vs.prefixes.items()}
    return vs
