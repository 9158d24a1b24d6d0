"""One thread at a time runs a hook call's CPU-bound work in each worker process (docs/deploy.md §6
"Capacity per worker"; bench/RESULTS.md, "One CPU slot per worker process").

CPython runs one thread's Python code at a time. When the eight threads of a gthread worker parse,
evaluate and render eight 300 KB requests at once, none of them finishes sooner: the interpreter
passes the lock round every 5 ms (its switch interval), and each switch evicts the other request's
working set from the CPU caches. ``make bench`` measured it (2 workers × 8 threads, 8 clients, 500
resources in prefetch): admitted one at a time, a call costs less server CPU than when the calls
interleave, and the same two cores answer more order-signs per second (the figures are in that
section of bench/RESULTS.md).

So a hook call holds this process's slot (:func:`section`) and gives it up while it waits on
something outside the process (:func:`released`): the caller uploading its body, the EHR's FHIR
server, a JWKS endpoint, another worker's JWKS fetch. A slow EHR or FHIR server never holds the
slot; threads still cover those waits. The rule that keeps this deadlock-free: a thread
that holds the slot never waits for another thread of its process except inside ``released()``.
The database and Redis stay inside the slot: their statements are short, and giving the slot up
and taking it back around each of them cost more than it saved (same section of bench/RESULTS.md).
The price: while another process, or a long write outside the hook path (an admin CSV import), holds
SQLite's write lock, the slot holder waits for it (up to ``busy_timeout``, 5 s) and so does the
rest of its worker; a Redis outage costs one connect timeout per 5 s (the shared cache's circuit
breaker), not one per call.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_slot = threading.Lock()
_local = threading.local()


@contextmanager
def section() -> Iterator[None]:
    """Hold the slot for the block. Re-entrant: an inner ``section`` in the same thread is a no-op."""
    if getattr(_local, "held", False):
        yield
        return
    with _slot:
        _local.held = True
        try:
            yield
        finally:
            _local.held = False


@contextmanager
def released() -> Iterator[None]:
    """Give the slot up for the block (a wait on I/O) and take it back after; a no-op for a thread
    that does not hold it (the CLI, the SMART app, the FHIR fetch threads)."""
    if not getattr(_local, "held", False):
        yield
        return
    _local.held = False
    _slot.release()
    try:
        yield
    finally:
        _slot.acquire()
        _local.held = True
