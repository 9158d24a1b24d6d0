"""Outbound FHIR R4 REST reads for one hook call (CDS Hooks 2.0 §FHIR Resource Access; standards.md §8.3).

The bearer token goes only to URLs under the ``fhirServer`` base the caller was allowed to name:
redirects are never followed, ``next`` links are followed only when they stay under that base
(compared in normal form, :mod:`cds_service.security.urls`),
and every request is bounded by a connect timeout, a read timeout and the call's overall deadline.
Nothing here logs a URL with a query (it may hold patient ids) or a header.
"""

from __future__ import annotations

import threading
import time
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlsplit

import requests
from requests.certs import where as ca_bundle
from urllib3 import HTTPConnectionPool, PoolManager, Timeout
from urllib3.exceptions import HTTPError

from cds_service import cpu, jsontext
from cds_service.security import answers, urls
from cds_service.security.egress import GuardedAdapter, guarded_pool_manager
from cds_service.security.limits import BodyRefused, Budget, discard, read_bounded

MAX_BODY_BYTES = 20 * 1024 * 1024
FHIR_JSON = "application/fhir+json"
USER_AGENT = "painpa-cds"


class FhirError(Exception):
    """A read failed (network, timeout, status, redirect, bad JSON, link to another host)."""


class Truncated(FhirError):
    """More ``next`` pages than ``max_pages``: the pages read are kept, the type is still incomplete
    (so the policy says unknown, not unmet, for what may be on the pages not read)."""

    def __init__(self, pages: list[dict]) -> None:
        super().__init__("more pages than the pagination bound")
        self.pages = pages


def new_session(pool_size: int = 32, ca_certs: str | None = None) -> requests.Session:
    """A session for outbound calls other than the hook's FHIR reads (JWKS, SMART, PAS; those use
    :func:`new_pool`): no cookies (they would cross tenants), no proxies or ``.netrc`` from the
    environment (they could add credentials or reroute the token). ``ca_certs``: the CA bundle
    (default: the one requests ships, certifi's), loaded once per process (egress.tls_context)."""
    session = requests.Session()
    session.trust_env = False
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    # The guard pins each connection to a DNS answer it checked (SSRF, docs/security.md).
    adapter = GuardedAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0,
                             ca_certs=ca_certs or ca_bundle())
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def new_pool(pool_size: int = 32, ca_certs: str | None = None) -> PoolManager:
    """Connection pools for the hook's FHIR reads: urllib3 directly, which spends less CPU per read
    than a ``requests`` session, on each of the 18 or so reads of a call (bench/RESULTS.md, "the
    hook's FHIR reads on urllib3 pools"). The same guard and the same certificate bundle as
    :func:`new_session` (``ca_certs`` likewise); urllib3 itself reads no cookies, proxies or ``.netrc``."""
    return guarded_pool_manager(pool_size, ca_certs or ca_bundle())


class FhirClient:
    def __init__(
        self,
        base: str,
        token: str | None,
        *,
        pool: PoolManager,
        connect_timeout: float,
        read_timeout: float,
        deadline: float,
        max_pages: int,
    ) -> None:
        self.base = base.rstrip("/")
        try:        # every URL of the call is checked against it: its normal form, once
            self._root: str | None = urls.canonical(self.base).rstrip("/")
        except urls.UrlRefused:
            self._root = None
        # Every URL sent lies under the base, so on one host: its connection pool is asked for once,
        # not looked up (and the URL parsed again) by the pool manager for each read.
        parts = urlsplit(self._root or "")
        self._origin = f"{parts.scheme}://{parts.netloc}"    # canonical: every checked URL starts with it
        self._conns: HTTPConnectionPool | None = None
        self._token = token
        self._pool = pool
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline = deadline  # time.monotonic() value
        self.max_pages = max_pages
        self.budget = Budget()  # bytes and resources this call may read in total (security.limits)
        self.reads = 0          # requests sent (pages included)
        self._reads_lock = threading.Lock()

    def url_for(self, relative_or_absolute: str) -> str | None:
        """Absolute URL under the base, or None when the reference points elsewhere."""
        ref = relative_or_absolute.strip()
        if ref.startswith(("http://", "https://")):
            return ref if self.owns(ref) else None
        if ref.startswith("/") or ".." in ref.split("?")[0].split("/"):
            return None
        return f"{self.base}/{ref}"

    def owns(self, url: str) -> bool:
        return self._under(url) is not None

    def _under(self, url: str) -> str | None:
        """``url`` in normal form when it lies under the base (security.urls.under), else None."""
        return urls.beneath(url, self._root) if self._root is not None else None

    def checked(self, relative_or_absolute: str) -> str | None:
        """The absolute URL a read of ``relative_or_absolute`` sends, in normal form, or None when
        it would leave the base."""
        url = self.url_for(relative_or_absolute)
        return self._under(url) if url is not None else None

    def headers(self) -> dict[str, str]:
        """The headers of every request of the call: FHIR JSON, and the call's bearer token."""
        headers = {"Accept": FHIR_JSON, "User-Agent": USER_AGENT}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def count(self, n: int) -> None:
        """``n`` more requests sent for the patient's data (the audit row's ``fhir_reads``)."""
        with self._reads_lock:
            self.reads += n

    def get(self, url: str) -> dict:
        """The resource at ``url``."""
        return parse(self.read(url))

    def read(self, url: str, *, counted: bool = True) -> bytes:
        """The body at ``url``, read under the deadline, the size cap and the call's byte budget.
        ``counted``: a read of the patient's data, in :attr:`reads` (the server's CapabilityStatement is not)."""
        return self._request("GET", url, counted=counted)

    def post(self, url: str, body: bytes) -> bytes:
        """The answer to a FHIR ``body`` POSTed to ``url`` (a ``batch`` Bundle to the base), read
        under the same bounds as :meth:`read`."""
        return self._request("POST", url, body)

    def _request(self, method: str, url: str, body: bytes | None = None, *, counted: bool = True) -> bytes:
        # The URL sent is the one checked, in its normal form: urllib3 would otherwise remove dot
        # segments after the check (a next link "{base}/../../admin" would leave the base).
        url = self._under(url)
        if url is None:
            raise FhirError("URL outside the registered FHIR base")
        remaining = self.deadline - time.monotonic()
        if remaining <= 0.05:
            raise FhirError("deadline passed")
        if counted:
            self.count(1)
        headers = {**self.headers(), "Accept-Encoding": "gzip, deflate"}
        if body is not None:
            headers["Content-Type"] = FHIR_JSON
        try:
            if self._conns is None:   # the manager's guarded pool for the base's host (egress.py)
                self._conns = self._pool.connection_from_url(self._origin)
            with cpu.released():   # a wait on the FHIR server: let this worker's other calls run
                resp = self._conns.urlopen(
                    method, "/" + url[len(self._origin):].lstrip("/"), body=body, headers=headers,
                    timeout=Timeout(connect=min(self.connect_timeout, remaining), read=min(self.read_timeout, remaining)),
                    redirect=False, retries=False, assert_same_host=False,
                    preload_content=False,  # read under the deadline and the size cap (security.limits.read_bounded)
                )
                if resp.status != 200:
                    discard(resp)
                    raise FhirError(f"HTTP {resp.status}")
                return read_bounded(resp, MAX_BODY_BYTES, self.deadline, self.budget)
        except (BodyRefused, OSError, HTTPError, ValueError) as exc:  # ValueError: http.client on a bad header
            raise FhirError(str(exc) if isinstance(exc, BodyRefused) else type(exc).__name__) from None

    def fetch(self, relative: str, raw: list[bytes] | None = None) -> list[dict]:
        """Read or search; a search follows ``next`` links under the base up to ``max_pages``. The
        pages' bytes go to ``raw`` when given (the warm cache keeps them, cds_service/fhir/warm.py)."""
        url = self.url_for(relative)
        if url is None:
            raise FhirError("reference outside the registered FHIR base")
        return self.answer(relative, self.read(url), raw)

    def answer(self, relative: str, first: bytes, raw: list[bytes] | None = None) -> list[dict]:
        """The answer to ``relative`` whose first page's bytes are ``first`` (read here or by a
        round, cds_service/fhir/curl.py), as :meth:`follow` reads it; the pages' bytes go to
        ``raw`` once all are accepted."""
        read = [first]
        pages = self.follow(relative, parse(first), read)
        if raw is not None:
            raw.extend(read)
        return pages

    def _accept(self, relative: str, body: dict, before: list[dict]) -> dict:
        """``body`` as a page of the answer to ``relative`` after the pages ``before``: of the type
        asked for, and within the call's resource budget (past it, the pages before are kept)."""
        if wrong := answers.problem(relative, body):  # a Patient where Coverage was asked = failed query
            raise FhirError(wrong)
        if not self.budget.take_resources(body):
            raise Truncated(list(before)) if before else FhirError("the call's resource budget is spent")
        return body

    def follow(self, relative: str, first: dict, read: list[bytes] | None = None) -> list[dict]:
        """The answer to ``relative`` whose first page is ``first`` (parsed: a read's, or a batch
        entry's), each page checked once (type asked for, the call's resource budget) and its
        ``next`` links under the base read up to ``max_pages``; those pages' bytes go to ``read``."""
        pages = [self._accept(relative, first, [])]
        while (nxt := next_link(pages[-1])) and self.owns(nxt):
            if len(pages) >= self.max_pages:
                raise Truncated(pages)
            content = self.read(nxt)
            if read is not None:
                read.append(content)
            pages.append(self._accept(relative, parse(content), pages))
        return pages

    def continue_bundle(self, bundle: dict) -> list[dict]:
        """Follow the ``next`` links of a prefetched Bundle (CDS Hooks 2.0 allows paginated prefetch)."""
        pages: list[dict] = []
        current = bundle
        while len(pages) + 1 < self.max_pages:
            nxt = next_link(current)
            if not nxt or not self.owns(nxt):
                break
            current = self.get(nxt)
            pages.append(current)
        return pages


def parse(content: bytes) -> dict:
    """A FHIR resource from a response body (not an OperationOutcome)."""
    try:
        body = jsontext.loads(content)
    except (ValueError, RecursionError):
        raise FhirError("response is not JSON") from None
    if not isinstance(body, dict) or body.get("resourceType") == "OperationOutcome":
        raise FhirError("response is not a resource")
    return body


def next_link(bundle: dict) -> str | None:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else ():
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return link["url"]
    return None
