"""Logs hold no token, JWT, appContext handle or patient identifier (CDS Hooks best practices;
standards.md §8.1, §8.9; CC-30). The logs are captured during full hook calls, with DEBUG on so
that urllib3 writes every outbound URL (which carries the patient id): the redacting record
factory installed by the app factory must scrub them all. The real process's stderr is checked in
test_faults.py and test_processes.py."""

from __future__ import annotations

import json
import logging

import pytest

from cds_service.security import redaction
from cds_service.security.logs import JsonFormatter
from tests.support.hook_requests import SIGN, hook_body

TOKEN = "redaction-access-token-5b0e2c71"
PATIENT = "pt-esi-1"


@pytest.mark.parametrize(("raw", "secret"), [
    ("Authorization: Bearer abc.DEF-123_x", "abc.DEF-123_x"),
    ('{"access_token": "tok-77"}', "tok-77"),
    ("{'access_token': 'tok-78'}", "tok-78"),
    ("GET /fhir/Coverage?patient=pt-9&status=active", "pt-9"),
    ("read Patient/pt-10 failed", "pt-10"),
    ('{"patientId": "pt-11"}', "pt-11"),
    ('appContext={"ctx":"H4ndle-xyz"} and {\\"ctx\\":\\"H4ndle-abc\\"}', "H4ndle"),
    ("/smart/launch?iss=x&launch=L4unch-secret", "L4unch-secret"),
    ("eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl", "eyJhbGciOiJFUzM4NCJ9"),
    ('duplicate key value violates unique constraint "uq_jti"\nDETAIL:  Key (iss, jti)=(https://ehr, j-4411) '
     "already exists.", "j-4411"),
    ('null value in column "x"\nDETAIL:  Failing row contains (7, 5f2a-hash-beef, null).', "5f2a-hash-beef"),
])
def test_patterns_mask_each_secret_shape(raw, secret):
    assert secret not in redaction.redact(raw)


def test_registered_values_are_masked_anywhere():
    redaction.forget_values("s3cret-value-123")
    assert "s3cret-value-123" not in redaction.redact("x s3cret-value-123 y")


def test_json_formatter_writes_one_redacted_object_with_exception_text():
    logger = logging.getLogger("painpa.test.json")
    try:
        raise ValueError(f"boom with Bearer {TOKEN}")
    except ValueError:
        record = logger.makeRecord(logger.name, logging.ERROR, __file__, 1, "failed for Patient/%s", (PATIENT,),
                                   exc_info=__import__("sys").exc_info())
    line = JsonFormatter().format(record)
    parsed = json.loads(line)
    assert parsed["level"] == "ERROR" and "exc" in parsed
    assert TOKEN not in line and PATIENT not in line


def test_cc30_full_hook_calls_leave_no_secret_in_captured_logs(app, caller, fhir, caplog):
    caplog.set_level(logging.DEBUG)
    fhir.control(fail=["Procedure"], slow={"Condition": 3})  # failures and timeouts get logged too
    body = hook_body(fhir_server=fhir.base, token=TOKEN)
    resp = caller.post(SIGN, body)
    assert resp.status_code == 200
    handles = [json.loads(link["appContext"])["ctx"] for card in resp.get_json()["cards"]
               for link in card.get("links", []) if link.get("appContext")]
    bad = caller.post(SIGN, body, token="eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJ4In0.Zm9yZ2Vk")  # refused JWT
    assert bad.status_code == 401
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "GET /fhir/" in text, "urllib3 debug lines were captured (the test can see URLs)"
    for secret in [TOKEN, PATIENT, "eyJhbGciOiJFUzM4NCJ9", *handles]:
        assert secret not in text, f"{secret[:12]}… leaked into the logs"


def test_logger_used_carelessly_is_still_scrubbed(app, caplog):
    """A future ``log.info("%s", request_json)`` must not leak: the factory scrubs at creation."""
    caplog.set_level(logging.INFO)
    logging.getLogger("cds_service.someone.else").info("body %s", {"fhirAuthorization": {"access_token": TOKEN},
                                                                    "context": {"patientId": PATIENT}})
    assert TOKEN not in caplog.text and PATIENT not in caplog.text
