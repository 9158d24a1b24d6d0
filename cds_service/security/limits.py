"""Resource limits on what a caller may send (standards.md §8.15: "cap request body size, prefetch
Bundle sizes and pagination depth"; CDS Hooks 2.0 §Prefetch). The body size itself is capped by
Flask's ``MAX_CONTENT_LENGTH`` (413); this module bounds what fits inside that size but would
still cost too much: JSON nested deeper than any FHIR resource needs (deep nesting breaks
recursive code with RecursionError), too many draft orders, too many prefetched resources.
Each refusal is a specific 4xx with an OperationOutcome naming the element.
"""

from __future__ import annotations

from cds_service.hooks.errors import HookError

MAX_DEPTH = 48            # FHIR resources nest ~10 deep; Bundles of resources ~15
MAX_DRAFT_ORDERS = 50
MAX_FEEDBACK_ITEMS = 100


_CONTAINERS = (dict, list)


def depth_exceeds(value: object, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` nests containers deeper than ``limit`` (iterative: no recursion).

    Level by level, without a (node, depth) tuple per node: half the time of a per-node stack on
    a 500-resource prefetch, where this check ran on every call (bench/RESULTS.md)."""
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


def _entries(value: object) -> int:
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        entries = value.get("entry")
        return len(entries) if isinstance(entries, list) else 0
    return 1 if isinstance(value, dict) else 0


def bounded_hook(body: dict, max_prefetch_resources: int) -> dict:
    """``body`` unchanged, or :class:`HookError` naming the limit it breaks."""
    if depth_exceeds(body):
        raise HookError(400, f"Request JSON nests deeper than {MAX_DEPTH} levels; no FHIR payload needs that")
    context = body.get("context")
    orders = context.get("draftOrders") if isinstance(context, dict) else None
    if isinstance(orders, dict) and isinstance(orders.get("entry"), list) and len(orders["entry"]) > MAX_DRAFT_ORDERS:
        raise HookError(413, f"context.draftOrders holds {len(orders['entry'])} orders; at most "
                             f"{MAX_DRAFT_ORDERS} per call", "context.draftOrders")
    prefetch = body.get("prefetch")
    if isinstance(prefetch, dict):
        total = 0
        for key, value in prefetch.items():
            total += _entries(value)
            if total > max_prefetch_resources:
                raise HookError(413, f"prefetch holds more than {max_prefetch_resources} resources "
                                     f"(reached at prefetch.{str(key)[:64]}); send fewer or let painpa query them",
                                "prefetch")
    return body


def bounded_feedback(body: dict) -> dict:
    if depth_exceeds(body):
        raise HookError(400, f"Feedback JSON nests deeper than {MAX_DEPTH} levels")
    return body


class BodyRefused(Exception):
    """An outbound response body broke the size or time bound; the message says which."""


def read_bounded(resp, max_bytes: int, deadline: float, chunk: int = 65536) -> bytes:
    """Read a streamed ``requests`` response body, stopping at ``max_bytes`` or the monotonic
    ``deadline``. ``read1`` returns what has arrived, so a server that drips one byte at a time
    cannot keep the call (or the worker thread) past the deadline (issue 6 fault injection).
    A body read to its end returns its connection to the pool; any refusal closes it."""
    import time

    parts: list[bytes] = []
    size = 0
    try:
        announced = resp.headers.get("Content-Length") or "0"
        if not announced.isdigit() or int(announced) > max_bytes:
            raise BodyRefused("response too large")
        while True:
            if time.monotonic() > deadline:
                raise BodyRefused("deadline passed while reading the response")
            data = resp.raw.read1(chunk, decode_content=True)
            if not data:
                return b"".join(parts)
            size += len(data)
            if size > max_bytes:
                raise BodyRefused("response too large")
            parts.append(data)
    except BaseException:
        resp.close()
        raise
