"""Resource limits on what a caller may send (standards.md §8.15: "cap request body size, prefetch
Bundle sizes and pagination depth"; CDS Hooks 2.0 §Prefetch). The body size itself is capped by
Flask's ``MAX_CONTENT_LENGTH`` (413); this module bounds what fits inside that size but would
still cost too much: JSON nested deeper than any FHIR resource needs (deep nesting breaks
recursive code with RecursionError), too many draft orders, too many prefetched resources.
Each refusal is a specific 4xx with an OperationOutcome naming the element.
"""

from __future__ import annotations

import json
import re
import threading
import time

from cds_service.errors import TOO_COSTLY, Refused

MAX_DEPTH = 48            # FHIR resources nest ~10 deep; Bundles of resources ~15
MAX_DRAFT_ORDERS = 50
MAX_FEEDBACK_ITEMS = 100


class LimitExceeded(Refused):
    """A body beyond what painpa takes: nested too deep (``invalid``) or holding too much (``too-costly``)."""


_CONTAINERS = (dict, list)


def depth_exceeds(value: object, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` nests containers deeper than ``limit`` (iterative: no recursion).

    Level by level, without a (node, depth) tuple per node: a per-node stack cost as much as parsing
    the JSON on a 500-resource prefetch, where this check ran on every call (bench/RESULTS.md, "What
    profiling found, and what was fixed")."""
    level: list[object] = [value]
    depth = 1
    while level:
        if depth > limit:
            return True
        deeper: list[object] = []
        for node in level:
            if isinstance(node, dict):
                deeper += [v for v in node.values() if isinstance(v, _CONTAINERS)]
            elif isinstance(node, list):
                deeper += [v for v in node if isinstance(v, _CONTAINERS)]
        level = deeper
        depth += 1
    return False


_ESCAPE = re.compile(rb"\\.", re.DOTALL)              # a backslash escape: never a delimiter
# Brackets become "(" / ")": the text is valid JSON (it parsed), so its brackets pair up and only
# how many are open matters; everything but brackets and quotes is deleted in the same pass.
_AS_PARENS = bytes.maketrans(b"[{]}", b"(())")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_STRING = re.compile(rb'"[^"]*"')


def _raw_depth_exceeds(raw: bytes, limit: int) -> bool:
    """Nesting of the JSON *text* ``raw`` (valid UTF-8 JSON) beyond ``limit``, without walking
    the parsed value: escapes out, then only brackets and quotes left, string contents out (a
    UCUM unit such as "{score}" holds brackets that are not structure), then one pass per level
    removes every innermost pair. Each step runs in C, so this costs a fraction of the walk of the
    parsed value (bench/RESULTS.md, "Figures behind design choices in the code")."""
    text = _ESCAPE.sub(b"", raw) if b"\\" in raw else raw
    skeleton = text.translate(_AS_PARENS, _NOT_STRUCTURE)
    skeleton = skeleton.replace(b'""', b"")    # dropping two adjacent quotes keeps every bracket's side
    if b'"' in skeleton:
        skeleton = _STRING.sub(b"", skeleton)   # strings that contain brackets
    for _ in range(limit):
        if not skeleton:
            return False
        skeleton = skeleton.replace(b"()", b"")  # one level: pairs this pass uncovers go in the next
    return bool(skeleton)


def depth_exceeds_raw(raw: bytes, value: object, limit: int = MAX_DEPTH) -> bool:
    """Same answer as :func:`depth_exceeds` for ``value = json.loads(raw)``, faster. The text nests
    at least as deep as the value (a duplicate key can only drop a subtree), so "not deeper" on
    the text is final and "deeper" is confirmed on the value; non-UTF-8 bodies take the walk."""
    if json.detect_encoding(raw) != "utf-8" or _raw_depth_exceeds(raw, limit):
        return depth_exceeds(value, limit)
    return False


def _entries(value: object) -> int:
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        entries = value.get("entry")
        return len(entries) if isinstance(entries, list) else 0
    return 1 if isinstance(value, dict) else 0


def bounded_hook(body: dict, max_prefetch_resources: int, raw: bytes | None = None) -> dict:
    """``body`` unchanged, or :class:`LimitExceeded` naming the limit it breaks. ``raw``: the text
    ``body`` was parsed from, when the caller has it (a faster depth check, same answer)."""
    if depth_exceeds_raw(raw, body) if raw is not None else depth_exceeds(body):
        raise LimitExceeded(f"Request JSON nests deeper than {MAX_DEPTH} levels; no FHIR payload needs that")
    context = body.get("context")
    orders = context.get("draftOrders") if isinstance(context, dict) else None
    if isinstance(orders, dict) and isinstance(orders.get("entry"), list) and len(orders["entry"]) > MAX_DRAFT_ORDERS:
        raise LimitExceeded(f"context.draftOrders holds {len(orders['entry'])} orders; at most "
                            f"{MAX_DRAFT_ORDERS} per call", "context.draftOrders", issue=TOO_COSTLY)
    prefetch = body.get("prefetch")
    if isinstance(prefetch, dict):
        total = 0
        for key, value in prefetch.items():
            total += _entries(value)
            if total > max_prefetch_resources:
                raise LimitExceeded(f"prefetch holds more than {max_prefetch_resources} resources "
                                    f"(reached at prefetch.{str(key)[:64]}); send fewer or let painpa query them",
                                    "prefetch", issue=TOO_COSTLY)
    return body


def bounded_feedback(body: dict) -> dict:
    if depth_exceeds(body):
        raise LimitExceeded(f"Feedback JSON nests deeper than {MAX_DEPTH} levels")
    return body


# What one hook call may read from the EHR in total (every query and page together): parsing JSON
# holds the GIL and evaluation is linear in resources, so these two bound the time a hostile or
# oversized answer can add after the deadline (a huge bundle is answered within the deadline + 0.5 s).
CALL_BYTES = 8 * 1024 * 1024
CALL_RESOURCES = 5000


class Budget:
    """Bytes and resources left for one call's FHIR reads; shared by its parallel queries."""

    def __init__(self, max_bytes: int = CALL_BYTES, max_resources: int = CALL_RESOURCES) -> None:
        self._lock = threading.Lock()
        self.bytes_left, self.resources_left = max_bytes, max_resources

    def take_bytes(self, n: int) -> bool:
        with self._lock:
            self.bytes_left -= n
            return self.bytes_left >= 0

    def take_resources(self, page: dict) -> bool:
        entries = page.get("entry") if page.get("resourceType") == "Bundle" else [page]
        with self._lock:
            self.resources_left -= len(entries) if isinstance(entries, list) else 0
            return self.resources_left >= 0


class BodyRefused(Exception):
    """An outbound response body broke the size or time bound; the message says which."""


def discard(resp) -> None:
    """Close a urllib3 response that will not be read to its end and free its pool slot: urllib3's
    ``close()`` alone does not (requests' did), and a half-read connection must never go back."""
    resp.close()
    resp.release_conn()


def read_bounded(resp, max_bytes: int, deadline: float, budget: Budget | None = None, chunk: int = 65536) -> bytes:
    """Read a streamed urllib3 response body (``preload_content=False``), stopping at ``max_bytes``
    (decoded) or the monotonic ``deadline``. ``read1`` returns what has arrived, so a server that
    drips one byte at a time cannot keep the call (or the worker thread) past the deadline. A body read to its end returns its connection to the pool; any refusal closes it."""
    parts: list[bytes] = []
    size = 0
    try:
        announced = resp.headers.get("Content-Length") or "0"
        if not announced.isdigit() or int(announced) > max_bytes:
            raise BodyRefused("response too large")
        while True:
            if time.monotonic() > deadline:
                raise BodyRefused("deadline passed while reading the response")
            data = resp.read1(chunk, decode_content=True)
            if not data:
                resp.release_conn()
                return b"".join(parts)
            size += len(data)
            if size > max_bytes:
                raise BodyRefused("response too large")
            if budget is not None and not budget.take_bytes(len(data)):
                raise BodyRefused("the call's FHIR byte budget is spent")
            parts.append(data)
    except BaseException:
        discard(resp)
        raise
