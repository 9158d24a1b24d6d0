"""The patient's history, indexed once per evaluation (FHIR R4 raw JSON → small typed items).

Every check reads this index instead of rescanning the record, and ValueSet matches are memoised per
(resource kind, ValueSet), so one ``evaluate`` over a 5,000-resource record stays linear.
What counts as usable follows FHIR R4 status semantics: entered-in-error / refuted / not-done /
cancelled records are never evidence (Condition.verificationStatus, Procedure.status,
Observation.status, MedicationRequest.status).

A course still running (Procedure ``in-progress`` with ``performedPeriod.start`` and no end;
MedicationStatement / MedicationRequest ``active`` with a start and no end or supply) is documented
up to ``today``, the evaluation date: not zero weeks, and not the weeks still to come before the
date of service, which no chart shows yet.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

from cds_service.policy.record import PatientRecord
from cds_service.policy.valuesets import ValueSet, norm_code, norm_system, text_key

ATTESTATION_SYSTEM = "http://painpa.org/fhir/CodeSystem/painpa-attestation"
_BAD_STATUS = {"entered-in-error", "not-done", "cancelled", "refuted", "draft", "revoked"}
_INACTIVE_CLINICAL = {"inactive", "resolved", "remission"}
_TAG = re.compile(r"<[^>]+>")
# A tolerant reader: a resource whose elements have the wrong JSON types is skipped (it is not
# evidence) instead of failing the hook call; these are the errors such data raises.
MALFORMED = (TypeError, AttributeError, ValueError, KeyError, IndexError, OverflowError)
_RUNNING = {"in-progress", "active", "on-hold"}
MAX_NOTE_BYTES = 200_000


def to_date(value: object) -> date | None:
    """FHIR date / dateTime / partial date → date (partial dates take their first day)."""
    if not isinstance(value, str) or len(value) < 4:
        return None
    return _day(value[:10])


@lru_cache(maxsize=8192)
def _day(value: str) -> date | None:
    # Memoised: a chart repeats the same days across resources and every call re-reads them;
    # ``date`` is immutable, so sharing the result is safe (bench/RESULTS.md, "`to_date` memoised").
    parts = value.split("-")
    try:
        return date(int(parts[0]), int(parts[1]) if len(parts) > 1 else 1, int(parts[2]) if len(parts) > 2 else 1)
    except ValueError:
        return None


def text_of(value: object) -> str:
    """An element meant as text, stripped; "" for anything else (an EHR's ``[null]`` or a number is
    not text to show: it once reached a card as "[None]")."""
    return value.strip() if isinstance(value, str) else ""


def _codings(concept: object) -> tuple[dict, ...]:
    if not isinstance(concept, dict):
        return ()
    coding = concept.get("coding") or ()
    if type(coding) is list and len(coding) == 1 and isinstance(coding[0], dict):
        return (coding[0],)         # the usual shape, without a generator (reading runs per resource)
    return tuple(c for c in coding if isinstance(c, dict))


def _concept(concept: object) -> tuple[tuple[dict, ...], str]:
    """(codings, text) of a CodeableConcept in one pass: every reader needs both. The text is
    ``text`` and each coding's ``display``, joined by spaces (a missing one as an empty string)."""
    if not isinstance(concept, dict):
        return (), ""
    codings = _codings(concept)
    text = concept.get("text") or ""
    if len(codings) == 1:
        display = codings[0].get("display") or ""
        if isinstance(text, str):
            return codings, f"{text} {display}" if isinstance(display, str) else text
        return codings, display if isinstance(display, str) else ""
    bits = [text] + [c.get("display") or "" for c in codings]
    return codings, " ".join(b for b in bits if isinstance(b, str))


def concept_text(concept: object) -> str:
    return _concept(concept)[1]


def _status_code(resource: dict, key: str) -> str:
    value = resource.get(key)
    if isinstance(value, str) or value is None:
        return value or ""
    for coding in _codings(value):
        if coding.get("code"):
            return str(coding["code"])
    return ""


@dataclass(slots=True)
class Item:
    """One dated piece of evidence. Treated as immutable (shared by every check of an evaluation);
    not ``frozen`` because a frozen dataclass costs more to build for every item of every chart
    (bench/RESULTS.md, "Chart: kinds read on first use")."""

    ref: str
    codings: tuple[dict, ...]
    text: str
    start: date | None
    end: date | None
    active: bool = True
    value: float | None = None
    unit: str = ""
    extra: str = ""              # modality codes (imaging), encounter ref (notes)
    _keys: tuple[tuple[str, str], ...] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def keys(self) -> tuple[tuple[str, str], ...]:
        """Normalised (system, code) pairs, computed once per item (ValueSet matching hot path)."""
        if self._keys is None:
            self._keys = tuple((s, norm_code(s, c["code"])) for c in self.codings
                               if isinstance(c.get("code"), str) for s in (norm_system(c.get("system")),))
        return self._keys

    @property
    def when(self) -> date | None:
        return self.start or self.end


def _period(resource: dict, *keys: str) -> tuple[date | None, date | None]:
    for key in keys:
        value = resource.get(key)
        if isinstance(value, dict) and ("start" in value or "end" in value):
            return to_date(value.get("start")), to_date(value.get("end"))
        if isinstance(value, str):
            d = to_date(value)
            if d:
                return d, d
    return None, None


def _ref(resource: dict) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def _usable(resource: dict) -> bool:
    status = resource.get("status")
    if not isinstance(status, str):
        status = _status_code(resource, "status")
    if status in _BAD_STATUS:
        return False
    return "verificationStatus" not in resource or _status_code(resource, "verificationStatus") not in _BAD_STATUS


def _condition(r: dict) -> Item:
    start, _ = _period(r, "onsetPeriod", "onsetDateTime")
    recorded = to_date(r.get("recordedDate"))
    active = _status_code(r, "clinicalStatus") not in _INACTIVE_CLINICAL
    return Item(_ref(r), *_concept(r.get("code")), start, recorded, active)


def _open(r: dict, key: str) -> bool:
    """A period with a start and no end on a course still running (in-progress / active)."""
    period = r.get(key)
    return isinstance(period, dict) and not period.get("end") and r.get("status") in _RUNNING


def _through(start: date | None, today: date) -> date | None:
    """End of a running course: today; a course dated after today shows nothing beyond its start."""
    return max(start, today) if start else None


def _procedure(r: dict, today: date) -> Item:
    start, end = _period(r, "performedPeriod", "performedDateTime")
    if start and _open(r, "performedPeriod"):
        end = _through(start, today)
    return Item(_ref(r), *_concept(r.get("code")), start, end)


def _medication(r: dict, today: date) -> Item:
    concept = r.get("medicationCodeableConcept")
    if r.get("resourceType") == "MedicationRequest":
        validity = (r.get("dispenseRequest") or {}).get("validityPeriod") or {}
        start = to_date(validity.get("start")) or to_date(r.get("authoredOn"))
        end = to_date(validity.get("end"))
        supply = ((r.get("dispenseRequest") or {}).get("expectedSupplyDuration") or {}).get("value")
        if end is None and start and isinstance(supply, int | float):
            repeats = (r.get("dispenseRequest") or {}).get("numberOfRepeatsAllowed") or 0
            end = start + timedelta(days=int(supply) * (1 + int(repeats)))
        if end is None and start and r.get("status") in _RUNNING:
            end = _through(start, today)         # an active prescription with no stated end
    else:
        start, end = _period(r, "effectivePeriod", "effectiveDateTime")
        start = start or to_date(r.get("dateAsserted"))
        if start and _open(r, "effectivePeriod"):
            end = _through(start, today)
    return Item(_ref(r), *_concept(concept), start, end or start)


def _number(r: dict) -> tuple[float | None, str]:
    q = r.get("valueQuantity")
    if isinstance(q, dict) and isinstance(q.get("value"), int | float):
        return float(q["value"]), str(q.get("unit") or q.get("code") or "")
    for key in ("valueInteger", "valueDecimal"):
        if isinstance(r.get(key), int | float) and not isinstance(r.get(key), bool):
            return float(r[key]), ""
    return None, ""


def _observation(r: dict) -> Item:
    start, end = _period(r, "effectivePeriod", "effectiveDateTime")
    value, unit = _number(r)
    if value is None and r.get("valueBoolean") is True:
        value = 1.0
    return Item(_ref(r), *_concept(r.get("code")), start or to_date(r.get("issued")), end, value=value, unit=unit)


def _report(r: dict) -> Item:
    if r["resourceType"] == "ImagingStudy":
        mods = [m.get("code", "") for m in r.get("modality") or () if isinstance(m, dict)]
        mods += [(s.get("modality") or {}).get("code", "") for s in r.get("series") or () if isinstance(s, dict)]
        text = " ".join(filter(None, [r.get("description") or ""] + [concept_text(c) for c in r.get("procedureCode") or ()]))
        start = to_date(r.get("started"))
        return Item(_ref(r), (), text, start, start, extra=" ".join(m.upper() for m in mods if m))
    start, _ = _period(r, "effectivePeriod", "effectiveDateTime")
    codings, text = _concept(r.get("code"))
    text = " ".join([text, r.get("conclusion") or ""] + [concept_text(c) for c in r.get("category") or ()])
    return Item(_ref(r), codings, text, start or to_date(r.get("issued")), None)


def note_text(r: dict) -> str:
    """Inline note text only (attachment.data, base64). ``attachment.url`` is never fetched: the
    policy core does no I/O, and a Binary the EHR did not send is outside this evaluation."""
    out = []
    for content in r.get("content") or ():
        att = (content or {}).get("attachment") or {}
        data, ctype = att.get("data"), (att.get("contentType") or "text/plain").lower()
        if not isinstance(data, str) or not (ctype.startswith("text/") or "xhtml" in ctype):
            continue
        try:
            raw = base64.b64decode(data[: MAX_NOTE_BYTES * 2], validate=False)[:MAX_NOTE_BYTES]
        except (binascii.Error, ValueError):
            continue
        text = raw.decode("utf-8", errors="replace")
        out.append(_TAG.sub(" ", text) if "html" in ctype else text)
    return "\n".join(out)


def _document(r: dict) -> Item:
    start = to_date(r.get("date")) or _period(r.get("context") or {}, "period")[0]
    encounters = (r.get("context") or {}).get("encounter") or []
    enc = encounters[0].get("reference", "") if encounters and isinstance(encounters[0], dict) else ""
    codings, text = _concept(r.get("type"))
    text = " ".join([text, r.get("description") or ""] + [concept_text(c) for c in r.get("category") or ()])
    return Item(_ref(r), codings, text, start, start, extra=enc)


_READERS = {
    "Condition": ("conditions", _condition), "Procedure": ("procedures", _procedure),
    "MedicationRequest": ("medications", _medication), "MedicationStatement": ("medications", _medication),
    "Observation": ("observations", _observation), "DiagnosticReport": ("reports", _report),
    "ImagingStudy": ("reports", _report), "DocumentReference": ("documents", _document),
}
_KIND_TYPES: dict[str, tuple[str, ...]] = {}
for _rtype, (_kind, _) in _READERS.items():
    _KIND_TYPES[_kind] = (*_KIND_TYPES.get(_kind, ()), _rtype)


_DATED = {_procedure, _medication}          # readers that need the evaluation date (running courses)


def _read(kind: str, record: PatientRecord, today: date, raw_documents: dict[str, dict]) -> list[Item]:
    out: list[Item] = []
    for rtype in _KIND_TYPES[kind]:
        reader = _READERS[rtype][1]
        dated = reader in _DATED
        for resource in record.resources.get(rtype, {}).values():
            try:
                if not _usable(resource):
                    continue
                out.append(reader(resource, today) if dated else reader(resource))
            except MALFORMED:
                continue
            if rtype == "DocumentReference":
                raw_documents[_ref(resource)] = resource
    return out


class _Kinds(dict):
    """kind -> items, each kind read from the record on first use: an order that no policy covers,
    or a policy that never looks at imaging, costs nothing for the kinds it does not read. It holds
    what reading needs, not the chart: a chart <-> kinds cycle would keep every item and the whole
    record alive after the call until a garbage collection, whose cost every call would then pay
    (bench/RESULTS.md, "No reference cycle per call")."""

    def __init__(self, record: PatientRecord, today: date, raw_documents: dict[str, dict]) -> None:
        super().__init__()
        self._source = (record, today, raw_documents)

    def __missing__(self, kind: str) -> list[Item]:
        if kind not in _KIND_TYPES:
            raise KeyError(kind)
        items = self[kind] = _read(kind, *self._source)
        return items


class Chart:
    """Items by kind: conditions, procedures, medications, observations, reports, documents.
    ``today`` is the evaluation date (never the clock): how far a running course is documented."""

    def __init__(self, record: PatientRecord, today: date) -> None:
        self.record = record
        self.today = today
        self._raw_documents: dict[str, dict] = {}
        self.items: dict[str, list[Item]] = _Kinds(record, today, self._raw_documents)
        self._memo: dict[tuple[str, str], list[Item]] = {}
        self._index: dict[str, dict[tuple[str, str], list[int]]] = {}
        self._texts: dict[str, list[str]] = {}     # kind -> each item's text_key, built on first use
        self.memo: dict[object, object] = {}       # per-evaluation results shared by orders (cloned notes)

    @property
    def raw_documents(self) -> dict[str, dict]:
        """The usable DocumentReferences by ``Type/id`` (their note text is read only when needed)."""
        self.items["documents"]   # noqa: B018 - reads the documents (and fills this map) on first use
        return self._raw_documents

    def incomplete(self, *rtypes: str) -> bool:
        return any(t in self.record.incomplete for t in rtypes)

    def _keys(self, kind: str) -> dict[tuple[str, str], list[int]]:
        """Positions of the items of ``kind`` by normalised (system, code), built on first use."""
        index = self._index.get(kind)
        if index is None:
            index = {}
            for pos, item in enumerate(self.items[kind]):
                for key in item.keys:
                    index.setdefault(key, []).append(pos)
            self._index[kind] = index
        return index

    def matching(self, kind: str, vs: ValueSet, *, text: bool = False) -> list[Item]:
        """Items of ``kind`` coded in ``vs`` (or, with ``text``, naming one of its concepts), in record
        order. Membership is tested once per distinct code, not once per item."""
        key = (kind, vs.id + ("+text" if text else ""))
        if key not in self._memo:
            positions: set[int] = set()
            for (system, code), where in self._keys(kind).items():
                if vs.contains_norm(system, code) if system else vs.contains(None, code):
                    positions.update(where)
            items = self.items[kind]
            if text:
                lows = self._texts.get(kind)
                if lows is None:
                    lows = self._texts[kind] = [text_key(i.text) if i.text else "" for i in items]
                positions.update(n for n, low in enumerate(lows) if low and n not in positions and vs.text_match(low))
            self._memo[key] = [items[n] for n in sorted(positions)]
        return self._memo[key]

    def attested(self, code: str) -> list[Item]:
        """Attestation Observations (painpa CodeSystem, valueBoolean true) for ``code``."""
        where = self._keys("observations").get((ATTESTATION_SYSTEM, code.upper()), ())
        return [self.items["observations"][n] for n in where if self.items["observations"][n].value == 1.0]
