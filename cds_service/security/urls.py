"""One reading of an outbound URL, used by every check of a URL against a registered FHIR base and
by every guarded transport (docs/security.md §2.2; standards.md §8.3; checks CC-27..CC-29, CC-62).

A text check ("does the URL start with the base?") is not enough: urllib3 removes dot segments
before it sends (RFC 3986 §5.2.4), so ``{base}/../../admin/X`` starts with the base and reaches
``/admin/X``; and a server that decodes ``%2e%2e`` to ``..`` after routing walks out of the base
the same way. :func:`canonical` therefore applies RFC 3986 §6.2.2 syntax-based normalisation
(lower-case scheme and host, default port dropped, ``%2E`` decoded as the unreserved character it
is) and §5.2.4 dot-segment removal, and refuses what servers read in different ways (userinfo,
backslashes, whitespace and control characters, percent-encoded ``/`` or ``\\`` in the path).
:func:`under` compares the canonical URL with the canonical base on a segment boundary and returns
the URL to send: what was checked is what is reached. :func:`sendable` is the transports' own gate
(cds_service/security/egress.py): whatever path built a URL, none with a dot segment leaves.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
_ENCODED_DOT = re.compile("%2e", re.IGNORECASE)
_ENCODED_SEPARATOR = re.compile("%(2f|5c)", re.IGNORECASE)
_AMBIGUOUS = re.compile(r"[\x00-\x20\x7f\\]")


class UrlRefused(ValueError):
    """A URL painpa will not send a request to; the message says why (never the URL's query)."""


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, for an absolute path."""
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


def has_dot_segments(path: str) -> bool:
    """True when ``path`` holds a ``.`` or ``..`` segment, plain or percent-encoded."""
    return any(seg in (".", "..") for seg in _ENCODED_DOT.sub(".", path).split("/"))


def canonical(url: str) -> str:
    """``url`` in its one normal form, or :class:`UrlRefused`; the fragment is dropped (never sent)."""
    if not isinstance(url, str) or _AMBIGUOUS.search(url):
        raise UrlRefused("whitespace, control characters or backslashes in the URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused("not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise UrlRefused("not an absolute http(s) URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlRefused("credentials in the URL")
    if _ENCODED_SEPARATOR.search(parts.path):
        raise UrlRefused("an encoded '/' or '\\' in the path")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = remove_dot_segments(_ENCODED_DOT.sub(".", parts.path)) if parts.path else ""
    return f"{scheme}://{netloc}{path}" + (f"?{parts.query}" if parts.query else "")


def sendable(url: str) -> str:
    """``url`` if a transport may send it as it is: in normal form but for case and default port (no
    dot segment, plain or encoded, that the HTTP library or the server would resolve after a check)."""
    if has_dot_segments(urlsplit(url).path if isinstance(url, str) else ""):
        raise UrlRefused("dot segments in the path")
    return canonical(url)


def under(url: str, base: str) -> str | None:
    """The canonical ``url`` when it is ``base`` or lies beneath it (a path segment boundary, or the
    base's own query); None when it leaves the base or is refused."""
    try:
        root = canonical(base).rstrip("/")
    except UrlRefused:
        return None
    return beneath(url, root)


def beneath(url: str, root: str) -> str | None:
    """:func:`under` for a ``root`` already in canonical form without a trailing slash (a client
    that checks every URL of a call against one base canonicalises the base once)."""
    try:
        checked = canonical(url)
    except UrlRefused:
        return None
    if checked == root or checked.startswith((root + "/", root + "?")):
        return checked
    return None
