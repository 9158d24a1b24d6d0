"""A CDS Hooks client for the SMART tests: a real, JWT-signed order-sign call to ``painpa serve``
(CDS Hooks 2.0 §Calling a CDS Service) and the readers for its coverage-information answer."""

from __future__ import annotations

import re
import uuid

import requests

from tests.support.jwt import sign

SERVICE = "painpa-order-sign"
COVERAGE_INFO = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"


def ehr_token(ehr, patient_id: str) -> str:
    """An access token the EHR issues for the hook's ``fhirAuthorization``."""
    return requests.post(ehr.base + "/_test/token", json={"patient": patient_id}, timeout=5).json()["access_token"]


def order_sign(stack, ehr, patient_id: str, order: dict, configuration: dict | None = None,
               token: str | None = None) -> dict:
    """``token``: the ``fhirAuthorization`` access token (the EHR issues a new one when None); an EHR
    may send the same one with every hook of an order."""
    url = f"{stack.base}/cds-services/{SERVICE}"
    token = token or ehr_token(ehr, patient_id)
    body = {
        "hook": "order-sign", "hookInstance": str(uuid.uuid4()), "fhirServer": ehr.fhir,
        "fhirAuthorization": {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                              "scope": "patient/*.rs", "subject": "painpa"},
        "context": {"userId": "Practitioner/dr-1", "patientId": patient_id,
                    "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}},
    }
    if configuration:
        body["extension"] = {"davinci-crd.configuration": configuration}
    jwt = sign(stack.cds_key, stack.cds_iss(ehr), url)
    resp = requests.post(url, json=body, headers={"Authorization": f"Bearer {jwt}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def coverage(response: dict) -> dict[str, str]:
    """Sub-extension values of the first coverage-information extension in the systemActions."""
    for action in response.get("systemActions") or ():
        for ext in (action.get("resource") or {}).get("extension") or ():
            if ext.get("url") == COVERAGE_INFO:
                out = {}
                for sub in ext.get("extension") or ():
                    value = next((v for k, v in sub.items() if k.startswith("value")), None)
                    if isinstance(value, dict):
                        value = value.get("code") or (value.get("coding") or [{}])[0].get("code")
                    out.setdefault(sub["url"], value)
                return out
    return {}


def smart_link(response: dict) -> dict | None:
    for card in response.get("cards") or ():
        for link in card.get("links") or ():
            if link.get("type") == "smart":
                return link
    return None


def words(text: str) -> str:
    """``text`` with its runs of white space made single spaces."""
    return " ".join(text.split())


def cards_by_title(response: dict) -> tuple[dict[str, str], set[str]]:
    """Fix text of each unmet requirement on the cards' checklists, by requirement title; the titles
    the checklist says were not checked (render/cards.py: ``N. **Title**: detail **Fix:** fix``, and
    ``N. **Not checked** (…):`` then ``   - Title`` lines)."""
    fixes, unknown = {}, set()
    for card in response["cards"]:
        listing = False
        for line in card["detail"].splitlines():
            if listing and line.startswith("   - "):
                unknown.add(words(line[5:]))
                continue
            listing = bool(re.match(r"^\d+\. \*\*Not checked\*\*", line))
            if match := re.match(r"^\d+\. \*\*([^*]+)\*\*: .*? \*\*Fix:\*\* (.+)$", line):
                fixes[words(match.group(1))] = words(match.group(2))
    return fixes, unknown
