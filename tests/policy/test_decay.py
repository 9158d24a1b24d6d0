"""Documentation decay: procedure notes copied forward across encounters (issue 3)."""

from __future__ import annotations

from cds_service.policy.decay import jaccard, shingles
from cds_service.policy.engine import evaluate
from cds_service.policy.model import Status
from tests.policy import builders as b

NOTE = ("Patient seen for follow up of lumbar radiculopathy. Pain radiates down the left leg to the foot with numbness "
        "in the L5 distribution. Straight leg raise positive on the left at forty degrees. Strength five of five "
        "throughout. Reflexes symmetric. Continues home exercise program daily and ibuprofen as needed. Plan left L5 "
        "transforaminal epidural steroid injection under fluoroscopy.")
FRESH = ("Returns after physical therapy. Leg pain now intermittent, six of ten, worse with sitting. New tingling in "
         "the right calf since last week. Exam shows reduced ankle reflex on the right and mild weakness of great toe "
         "extension. Reviewed MRI with the patient: right paracentral protrusion at L4-5. Discussed options including "
         "injection versus waiting; patient prefers to continue therapy two more weeks.")


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
