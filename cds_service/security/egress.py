"""Egress guard against SSRF through ``fhirServer`` (CDS Hooks 2.0 §FHIR Resource Access "https";
standards.md §8.3; checks CC-27..CC-29).

Two gates, one rule set:

* :func:`admit_fhir_server` runs in the view, after the client's registered-base check and before
  any outbound byte: ``https`` is required except for an explicitly registered loopback base (or the
  sandbox), and the host's DNS answers are checked against loopback, private, link-local, reserved
  and cloud-metadata ranges. A refusal (:class:`FhirServerRefused`) is a 400 naming ``fhirServer``.
* the guarded connection pools (:class:`GuardedAdapter` of a :func:`new_session` session, and
  :func:`guarded_pool_manager`) re-apply the check inside every connection they open and connect to
  the very address they checked (the resolution is pinned), so a DNS answer that changes between
  the two gates (rebinding) still cannot reach a forbidden address.

A base whose host is an IP literal (or ``localhost``) names its address explicitly: an operator who
registered ``http://127.0.0.1:8090/fhir`` meant it. Hostnames that resolve into private networks are
allowed only for networks listed in ``PAINPA_EGRESS_ALLOW_NETWORKS`` (hospital FHIR servers often
live on 10/8). Metadata addresses are refused always.

Every outbound request painpa makes opens its connections through these pools, so the second gate
guards them all: the hook's FHIR reads (:func:`guarded_pool_manager`), and through a
:func:`new_session` session the registered JWKS URL, SMART discovery and token requests, the SMART
app's FHIR reads and PAS ``$submit``, the PAS ClaimResponse import (docs/security.md "Outbound
requests"). :func:`refused_reason` lets each path report a refusal as its own clean error.

URLs named by a remote party (the SMART token endpoint) are read with :func:`strict_origin`, which
accepts a URL only when ``urllib.parse`` and urllib3 (the parser the connection uses) read the same
scheme, host and port; inside :func:`registered_hosts` an IP literal counts as registered only if it
is the one named there.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from urllib.parse import urlsplit

from cachetools import TTLCache
from requests.adapters import HTTPAdapter
from requests.exceptions import InvalidURL
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, LocationValueError, NewConnectionError
from urllib3.util import connection as u3conn
from urllib3.util import parse_url
from urllib3.util.ssl_ import create_urllib3_context

from cds_service import cpu
from cds_service.errors import Refused
from cds_service.security import urls

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud instance-metadata endpoints (AWS/GCP/Azure/OpenStack 169.254.169.254, AWS ECS task
# metadata, AWS IPv6 IMDS, Alibaba, Azure WireServer): never reachable, whatever is registered.
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "168.63.129.16",
))
LOOPBACK_NAMES = frozenset({"localhost", "localhost."})
RESOLVE_TTL_S = 15
DEFAULT_RESOLVE_TIMEOUT_S = 2.0


class EgressRefused(Exception):
    """The destination is not one painpa may connect to; the message says why (no secrets)."""


class Unresolvable(EgressRefused):
    """The host name did not resolve (in time): not a refusal of an address, so callers answer
    "unreachable" rather than "refused"."""


class _Policy:
    """Process-wide settings of the guard (set by the app factory from :class:`Settings`)."""

    allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    permissive: bool = False  # the local sandbox: every registered address is the operator's own


policy = _Policy()
_resolved: TTLCache[tuple[str, int], tuple[IPAddress, ...]] = TTLCache(maxsize=512, ttl=RESOLVE_TTL_S)
_lock = threading.Lock()
_resolver = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dns")
# None: every IP-literal (or localhost) host is "explicit" (the operator registered it). A set: only
# these are; see registered_hosts(). A context variable, so it follows the request's own thread.
_registered: ContextVar[frozenset[str] | None] = ContextVar("painpa_egress_registered", default=None)


def configure(settings) -> None:
    policy.allow_networks = tuple(ipaddress.ip_network(n, strict=False) for n in settings.egress_allow_networks)
    policy.permissive = bool(settings.sandbox)


def _unwrap(ip: IPAddress) -> IPAddress:
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped if mapped is not None else ip


def literal(host: str) -> IPAddress | None:
    try:
        return _unwrap(ipaddress.ip_address(host.strip("[]").split("%")[0]))
    except ValueError:
        return None


def refusal(ip: IPAddress, *, explicit: bool) -> str | None:
    """Why ``ip`` may not be reached (None when it may). ``explicit``: the URL named the address."""
    ip = _unwrap(ip)
    if ip in METADATA:
        return "a cloud metadata address"
    if explicit or policy.permissive or any(ip in net for net in policy.allow_networks):
        return None
    for test, name in ((ip.is_loopback, "a loopback"), (ip.is_link_local, "a link-local"),
                       (ip.is_multicast, "a multicast"), (ip.is_unspecified, "an unspecified"),
                       (ip.is_private, "a private")):
        if test:
            return f"{name} address"
    return None if ip.is_global else "a non-public address"


def resolve(host: str, port: int, timeout: float) -> tuple[IPAddress, ...]:
    """DNS answers for ``host`` (cached briefly), bounded by ``timeout``: getaddrinfo cannot be
    interrupted, so it runs on a small pool and a slow resolver costs at most ``timeout``."""
    ip = literal(host)
    if ip is not None:
        return (ip,)
    key = (host.lower(), port)
    with _lock:
        if key in _resolved:
            return _resolved[key]
    future = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        with cpu.released():   # a wait on the resolver: the worker's other calls run meanwhile
            infos = future.result(timeout=timeout)
    except FutureTimeout:
        raise Unresolvable("DNS resolution timed out") from None
    except (OSError, UnicodeError):   # UnicodeError: a label the IDNA codec refuses (> 63 characters)
        raise Unresolvable("the host name does not resolve") from None
    found = tuple(dict.fromkeys(_unwrap(ipaddress.ip_address(info[4][0].split("%")[0])) for info in infos))
    with _lock:
        _resolved[key] = found
    return found


def _host_key(host: str) -> str:
    ip = literal(host)
    return str(ip) if ip is not None else host.lower()


@contextmanager
def registered_hosts(*hosts: str) -> Iterator[None]:
    """Within the block, an IP-literal or ``localhost`` host gets the "explicitly registered" pass
    only if it is one of ``hosts`` (for requests to a URL a remote party named, e.g. the SMART token
    endpoint: only the registered ``iss``'s own address is the operator's choice). Any other literal
    is judged like a resolved name. Outside such a block the guard behaves as before."""
    token = _registered.set(frozenset(_host_key(h) for h in hosts if h))
    try:
        yield
    finally:
        _registered.reset(token)


def ambiguous_chars(text: str) -> bool:
    """A backslash, whitespace or a control character: where URL parsers disagree (``urllib.parse``
    silently drops tabs and newlines; browsers and urllib3 end the authority at a backslash)."""
    return "\\" in text or any(c.isspace() or not c.isprintable() for c in text)


def strict_origin(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an http(s) URL, or :class:`EgressRefused` when the URL could be
    read two ways. The checks before a request read URLs with ``urllib.parse``; requests/urllib3
    connect to the host ``urllib3.util.parse_url`` finds, and the two differ on some input
    (``https://127.0.0.1:1\\@name/`` is ``name`` to one and ``127.0.0.1`` to the other). So userinfo,
    backslashes, whitespace and control characters are refused outright, and both parsers must agree."""
    if not isinstance(url, str) or not url:
        raise EgressRefused("the URL is empty")
    if ambiguous_chars(url):
        raise EgressRefused("the URL contains a backslash, whitespace or a control character")
    try:
        parts = urlsplit(url)
        port = parts.port
        other = parse_url(url)
    except ValueError:  # urllib3's LocationParseError is a ValueError too
        raise EgressRefused("the URL cannot be parsed") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise EgressRefused("the URL is not http(s)")
    if "@" in parts.netloc or other.auth is not None:
        raise EgressRefused("the URL carries user information (user@host)")
    default = 443 if scheme == "https" else 80
    host = parts.hostname or ""
    if (not host or (other.scheme or "").lower() != scheme or (other.host or "").strip("[]").lower() != host
            or (other.port or default) != (port or default)):
        raise EgressRefused("the URL's host reads differently to different URL parsers")
    return scheme, host, port or default


def checked_addresses(host: str, port: int, timeout: float = DEFAULT_RESOLVE_TIMEOUT_S) -> tuple[IPAddress, ...]:
    """Every address ``host`` resolves to, or :class:`EgressRefused` if any of them is forbidden
    (a mixed answer is refused whole: the resolver, not us, would pick which one is used)."""
    explicit = literal(host) is not None or host.lower() in LOOPBACK_NAMES
    registered = _registered.get()
    if explicit and registered is not None:
        explicit = _host_key(host) in registered
    addresses = resolve(host, port, timeout)
    if host.lower() in LOOPBACK_NAMES and not all(a.is_loopback for a in addresses):
        raise EgressRefused("localhost does not resolve to loopback")
    for ip in addresses:
        why = refusal(ip, explicit=explicit)
        if why:
            raise EgressRefused(f"the host resolves to {why}")
    return addresses


def insecure_allowed(url: str, settings) -> bool:
    """``http`` only for a registered loopback base (tests, a dev EHR on this host) or the sandbox."""
    host = (urlsplit(url).hostname or "").lower()
    ip = literal(host)
    loopback = host in LOOPBACK_NAMES or (ip is not None and ip.is_loopback)
    return settings.allow_insecure_registered and (loopback or settings.sandbox)


class FhirServerRefused(Refused):
    """A hook call's ``fhirServer`` that may not receive the bearer token it came with."""


def admit_fhir_server(url: str | None, settings) -> None:
    """Raise :class:`FhirServerRefused` when ``url`` may not receive the bearer token. Call it after
    the registered-base check; it makes no connection (DNS only, bounded by the connect timeout).
    An unresolvable name is let through: the connection then fails and the answer says so."""
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme != "https" and not insecure_allowed(url, settings):
        raise FhirServerRefused("fhirServer must use https (http is accepted only for a registered loopback base)",
                                "fhirServer")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        checked_addresses(parts.hostname or "", port, settings.fhir_connect_timeout_s)
    except Unresolvable:
        pass
    except EgressRefused as exc:
        raise FhirServerRefused(f"fhirServer refused: {exc}", "fhirServer") from None


class RefusedConnection(NewConnectionError):
    """The guard refused a connection (a :class:`NewConnectionError`, so callers that handle
    ``requests.ConnectionError`` keep working); ``reason`` says why, without the URL."""

    def __init__(self, conn, refused: EgressRefused) -> None:
        super().__init__(conn, f"egress refused: {refused}")
        self.reason = str(refused)
        self.unresolvable = isinstance(refused, Unresolvable)


def refused_reason(exc: BaseException) -> str | None:
    """Why the guard refused the address behind ``exc`` (a requests/urllib3 error), or None when the
    failure was something else (a name that does not resolve is "unreachable", as before): lets each
    outbound path say "refused" rather than "unreachable"."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, RefusedConnection):
            return None if current.unresolvable else current.reason
        todo.extend((*current.args, getattr(current, "reason", None), current.__cause__, current.__context__))
    return None


class _GuardedConnectionMixin:
    """urllib3 connection whose socket goes only to an address :func:`checked_addresses` passed."""

    def _new_conn(self) -> socket.socket:
        timeout = self.timeout if isinstance(self.timeout, int | float) else DEFAULT_RESOLVE_TIMEOUT_S
        try:
            addresses = checked_addresses(self._dns_host, self.port, timeout)
        except EgressRefused as exc:
            raise RefusedConnection(self, exc) from None
        last: OSError | None = None
        for ip in addresses:
            try:
                return u3conn.create_connection((str(ip), self.port), self.timeout, source_address=self.source_address,
                                                socket_options=self.socket_options)
            except TimeoutError:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from None
            except OSError as exc:
                last = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {last}")


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass  # TLS server name and certificate checks still use the URL's host name


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


_GUARDED_POOLS = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


@lru_cache(maxsize=8)
def tls_context(ca_certs: str) -> ssl.SSLContext:
    """One client TLS context per CA bundle, shared by every guarded connection of the process:
    given only the file, urllib3 loads the CA bundle into a new TLS context for every new connection,
    a cost that dominates a query's CPU against an EHR that closes its connections, where every
    request is a new connection (bench/RESULTS.md, "the hook's FHIR reads on urllib3 pools")."""
    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)   # check_hostname on, TLS >= 1.2
    context.load_verify_locations(cafile=ca_certs)
    return context


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose pools open only guarded connections (mount on http:// and https://),
    verifying certificates with one shared :func:`tls_context` of ``ca_certs``."""

    def __init__(self, *args, ca_certs: str, **kwargs) -> None:
        self._tls = tls_context(ca_certs)
        super().__init__(*args, **kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, ssl_context=self._tls, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_GUARDED_POOLS)

    def send(self, request, *args, **kwargs):
        try:
            urls.sendable(request.url)
        except urls.UrlRefused as exc:
            raise InvalidURL(f"egress refused: {exc}") from None
        return super().send(request, *args, **kwargs)

    def cert_verify(self, conn, url: str, verify, cert) -> None:
        super().cert_verify(conn, url, verify, cert)
        if verify is True and url.lower().startswith("https"):
            conn.ca_certs = conn.ca_cert_dir = None    # the shared context already holds the bundle


class _GuardedPoolManager(PoolManager):
    def urlopen(self, method: str, url: str, *args, **kwargs):
        try:
            urls.sendable(url)
        except urls.UrlRefused as exc:
            raise LocationValueError(f"egress refused: {exc}") from None
        return super().urlopen(method, url, *args, **kwargs)


def guarded_pool_manager(size: int, ca_certs: str) -> PoolManager:
    """A urllib3 pool manager whose pools open only guarded connections, for the hook's FHIR reads
    (``requests`` adds CPU to every request on top of urllib3: merging session settings, hooks, the
    cookie jar, the response wrapper; bench/RESULTS.md, "the hook's FHIR reads on urllib3 pools").
    Certificates and host names are checked with one shared :func:`tls_context` of ``ca_certs``.
    No proxy, ``.netrc`` or cookie is ever used."""
    manager = _GuardedPoolManager(num_pools=size, maxsize=size, block=False, cert_reqs="CERT_REQUIRED",
                                  ssl_context=tls_context(ca_certs))
    manager.pool_classes_by_scheme = dict(_GUARDED_POOLS)
    return manager


def clear_cache() -> None:
    with _lock:
        _resolved.clear()
