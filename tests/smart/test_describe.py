"""The words the SMART app and the packet use (smart_app/describe.py): the order in words and never a
resource id, the patient banner, plain words for CRD codes, citations and findings said once."""

from __future__ import annotations

from datetime import date

import pytest

from cds_service.policy.model import (
    Citation,
    Determination,
    Evidence,
    PAState,
    PriorAuthStatus,
    Program,
    ProgramKind,
    RequirementResult,
    Status,
)
from smart_app import describe

ORDER = {"resourceType": "ServiceRequest", "id": "0afef5a5-751d",
         "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "64483",
                              "display": "Transforaminal ESI, lumbar/sacral"}], "text": "Transforaminal ESI, lumbar/sacral"},
         "bodySite": [{"text": "L4-L5 Left", "coding": [{"system": "http://snomed.info/sct", "code": "7771000",
                                                         "display": "Left"}]}],
         "occurrenceDateTime": "2026-12-14"}
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1958-11-14",
           "name": [{"family": "Garcia", "given": ["Maria"]}],
           "identifier": [{"system": "urn:x:ssn", "value": "000-00-0000"},
                          {"type": {"coding": [{"system": describe.MRN_TYPE, "code": "MR"}]}, "value": "MRN-42"}]}


def _det(pa_needed: str, state: PAState, **pa) -> Determination:
    return Determination(order_ref="ServiceRequest/0afef5a5-751d", codes=("64483",), family="esi",
                         program=Program(ProgramKind.WISER, "wiser", "CMS WISeR prior authorization (TX)"),
                         covered="conditional", pa_needed=pa_needed, prior_auth=PriorAuthStatus(state, **pa),
                         service_date=date(2026, 12, 14))


def test_the_order_in_words_names_procedure_level_side_and_date_never_the_id():
    words = describe.order_words(ORDER)
    assert words == "Transforaminal ESI, lumbar/sacral (64483), L4-L5, left, on 14 Dec 2026"
    assert "0afef5a5" not in words and "ServiceRequest" not in words
    bare = {"resourceType": "ServiceRequest", "id": "x", "code": {"coding": [{"code": "22514"}]}}
    assert describe.order_words(bare, _det("auth-needed", PAState.NEEDED)) == "Procedure 22514, on 14 Dec 2026"


def test_the_banner_prefers_the_mrn_typed_identifier():
    b = describe.banner(PATIENT)
    assert (b.name, b.birth_date, b.sex, b.mrn) == ("Maria Garcia", "14 Nov 1958", "Female", "MRN-42")
    assert describe.banner(None) is None
    assert describe.banner({"resourceType": "Patient", "id": "q"}).name == "Name not recorded"


@pytest.mark.parametrize(("det", "said"), [
    (_det("auth-needed", PAState.NEEDED), "Prior authorization needed — not yet requested"),
    (_det("auth-needed", PAState.PENDED), "Prior authorization needed — requested; the payer has pended it"),
    (_det("auth-needed", PAState.NON_AFFIRMED, utn="JLA3"),
     "Prior authorization needed — the payer did not affirm it (UTN JLA3)"),
    (_det("auth-needed", PAState.EXPIRED, utn="15A2", expires=date(2026, 11, 6)),
     "Prior authorization needed — the decision on file has expired (UTN 15A2, expired 6 Nov 2026)"),
    (_det("satisfied", PAState.SATISFIED, utn="JHA1", expires=date(2027, 3, 1)),
     "Prior authorization on file: UTN JHA1, valid until 1 Mar 2027"),
    (_det("no-auth", PAState.NOT_NEEDED), "No prior authorization needed"),
])
def test_prior_authorization_states_in_words(det, said):
    assert describe.pa_words(det) == said
    assert "auth-needed" not in said and "no-auth" not in said


def test_citation_section_said_once_and_unconfirmed_flagged():
    assert describe.cite(Citation("CMS WISeR guide v6.0 §6.2.10", "§6.2.10")) == "CMS WISeR guide v6.0 §6.2.10"
    assert describe.cite(Citation("LCD L39240", "Coverage Indications")) == "LCD L39240 Coverage Indications"
    assert describe.cite(Citation("NCD 160.7", confirmed=False)) == "NCD 160.7 (not yet confirmed)"


def test_findings_read_once_without_ucum_annotations_or_codes():
    assert describe.clean("Pain severity [Score] - Reported = 7 {score}") == "Pain severity [Score] - Reported: 7"
    assert describe.clean("Tried: medications, pt, surgery") == "Tried: medications, physical therapy, surgery"
    repeated = "Ongoing care: Physical therapy evaluation, low complexity Physical therapy evaluation, low complexity"
    assert describe.clean(repeated) == "Ongoing care: Physical therapy evaluation, low complexity"
    r = RequirementResult("esi.imaging", "Imaging", Status.MET, "Imaging report 2026-11-07", "", Citation("LCD"),
                          evidence=(Evidence("ImagingStudy/x-8", "2026-11-07", display="MR lumbar spine"),
                                    Evidence("ImagingStudy/x-9", "2026-11-07", display="MR lumbar spine")))
    assert describe.evidence(r) == ["MR lumbar spine (imaging study, 7 Nov 2026)"]


def test_open_requirements_come_first_unmet_before_unknown():
    def req(i, status):
        return RequirementResult(i, i, status, "", "", Citation("x"))
    open_, met = describe.by_urgency([req("a", Status.MET), req("b", Status.UNKNOWN), req("c", Status.UNMET)])
    assert [r.id for r in open_] == ["c", "b"] and [r.id for r in met] == ["a"]
