"""Documentation decay: procedure notes copied forward across encounters."""

from __future__ import annotations

from cds_service.policy.decay import jaccard, shingles
from cds_service.policy.engine import evaluate
from cds_service.policy.model import Status
from tests.support import fhir_builders as b
from tests.support.clinical_notes import FRESH, NOTE


def _cloned(policies, *notes):
    p = b.esi_ready(b.Patient()).add(b.coverage("121"), b.location("TX", "11"), *notes)
    det = evaluate([b.order("64483")], p.record(), policies, b.TODAY)[0]
    return next(r for r in det.requirements if r.id == "esi.cloned-notes"), det


def test_copied_forward_note_is_flagged_with_both_notes_as_evidence(policies):
    edited = NOTE.replace("forty", "thirty five")
    r, det = _cloned(policies, b.note(NOTE, b.days(90), "enc-1"), b.note(edited, b.days(30), "enc-2"))
    assert r.status is Status.UNMET and r.kind == "audit"
    assert "nearly word for word" in r.detail
    assert len({e.reference for e in r.evidence}) == 2
    assert det.covered == "covered"                 # an audit finding never changes the coverage assertion


def test_different_notes_and_same_encounter_addenda_are_not_flagged(policies):
    r, _ = _cloned(policies, b.note(NOTE, b.days(90), "enc-1"), b.note(FRESH, b.days(30), "enc-2"))
    assert r.status is Status.MET
    r, _ = _cloned(policies, b.note(NOTE, b.days(30), "enc-1"), b.note(NOTE, b.days(30), "enc-1"))
    assert r.status is Status.MET


def test_similarity_measure():
    a, c = shingles(NOTE, 5), shingles(FRESH, 5)
    assert jaccard(a, a) == 1.0
    assert jaccard(a, c) < 0.1
    assert jaccard(a, shingles(NOTE + " Follow up in two weeks.", 5)) > 0.85
    assert jaccard(frozenset(), a) == 0.0
