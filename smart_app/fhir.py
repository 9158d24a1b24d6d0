"""The app's FHIR R4 REST access with the SMART token (SMART App Launch 2.2 "App protection":
do not follow references to other servers with the token; standards.md §5.5, §8.3; CC-62).

Every URL is built from ``iss``; an absolute URL (a ``next`` link, a reference) is used only when
it lies under ``iss``. Redirects are never followed. Writes go as one ``transaction`` Bundle so a
failure leaves nothing half-written (FHIR R4 §3.1.0.11.2 "Transaction Processing Rules").
"""

from __future__ import annotations

from collections.abc import Callable

import requests

from cds_service.fhir.client import new_session, next_link
from cds_service.security import urls

FHIR_JSON = "application/fhir+json"
_session = new_session(pool_size=16)


class FhirAccessError(Exception):
    """A FHIR call failed; ``message`` is safe to show (no token, no URL query). ``status`` is what
    the app answers; ``upstream_status`` what the EHR answered, if it did: a caller must tell a
    version conflict (412, FHIR R4 http.html "Managing Resource Contention") from any other refusal."""

    def __init__(self, message: str, status: int = 502, outcome: dict | None = None,
                 upstream_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.outcome = outcome
        self.upstream_status = upstream_status


def _outcome_text(body) -> str:
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        texts = [i.get("diagnostics") or (i.get("details") or {}).get("text") for i in body.get("issue") or ()]
        return "; ".join(t for t in texts if isinstance(t, str))[:400]
    return ""


class AppFhir:
    def __init__(self, iss: str, token: str, timeout: tuple[float, float] = (2.0, 10.0), max_pages: int = 5,
                 on_write: Callable[[str, dict], None] | None = None):
        """``on_write(base, bundle)``: told of every transaction the EHR accepted (the app's session
        records it as a write to the patients' charts, smart_app/chart_writes.py)."""
        self.base = iss.rstrip("/")
        self._token = token
        self._timeout = timeout
        self.max_pages = max_pages
        self._on_write = on_write

    @property
    def token(self) -> str:
        return self._token

    def owns(self, url: str) -> bool:
        return urls.under(url, self.base) is not None

    def url(self, path: str) -> str:
        """The absolute URL to send, in normal form and under ``iss`` (cds_service/security/urls.py)."""
        if urls.has_dot_segments(path.split("?")[0]):
            raise FhirAccessError("Refused a FHIR path with dot segments.", 400)
        absolute = path if path.startswith(("http://", "https://")) else \
            (f"{self.base}/{path.lstrip('/')}" if path else self.base)
        checked = urls.under(absolute, self.base)
        if checked is None:
            raise FhirAccessError("Refused to send the EHR token to a server other than the EHR.", 400)
        return checked

    def _request(self, method: str, path: str, **kwargs) -> dict:
        headers = {"Accept": FHIR_JSON, "Authorization": f"Bearer {self._token}"}
        if "json" in kwargs:
            headers["Content-Type"] = FHIR_JSON
        try:
            resp = _session.request(method, self.url(path), headers=headers, timeout=self._timeout,
                                    allow_redirects=False, **kwargs)
        except requests.RequestException:
            raise FhirAccessError("The EHR's FHIR server could not be reached; nothing was saved.") from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code >= 300:
            detail = _outcome_text(body)
            raise FhirAccessError(
                f"The EHR's FHIR server answered HTTP {resp.status_code}" + (f": {detail}" if detail else "."),
                502 if resp.status_code >= 500 or resp.status_code in (401, 403) else 422,
                body if isinstance(body, dict) else None,
                upstream_status=resp.status_code,
            )
        if not isinstance(body, dict):
            raise FhirAccessError("The EHR's FHIR server did not answer with a FHIR resource.")
        return body

    def read(self, reference: str) -> dict:
        return self._request("GET", reference)

    def search(self, rtype: str, params: dict[str, str]) -> list[dict]:
        """All matching resources (entries with search.mode other than include), pages under iss only."""
        bundle = self._request("GET", rtype, params=params)
        found: list[dict] = []
        for _ in range(self.max_pages):
            for entry in bundle.get("entry") or ():
                res = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(res, dict) and res.get("resourceType") == rtype:
                    found.append(res)
            nxt = next_link(bundle)
            if not nxt or not self.owns(nxt):  # CC-62: a next link elsewhere is not followed
                break
            bundle = self._request("GET", nxt)
        return found

    def transaction(self, bundle: dict) -> dict:
        if bundle.get("type") != "transaction":
            raise ValueError("only transaction Bundles are written")
        answer = self._request("POST", "", json=bundle)
        if self._on_write is not None:
            self._on_write(self.base, bundle)
        return answer
