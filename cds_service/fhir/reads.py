"""How many FHIR reads one hook call made (CDS Hooks 2.0 §Prefetch: a call whose prefetch was
honoured needs none), for its audit row and ``/metrics``.

The view starts a count for the call (:func:`begin`); :func:`cds_service.fhir.gather.gather` adds
the reads its client made, every page of a search and every read that failed included. The count is
a context variable of the request's thread, so calls served side by side in one worker never mix.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class ReadCount:
    reads: int = 0


_current: ContextVar[ReadCount | None] = ContextVar("painpa_fhir_reads", default=None)


def begin() -> ReadCount:
    """A fresh count for the call this thread now serves."""
    count = ReadCount()
    _current.set(count)
    return count


def add(reads: int) -> None:
    """Count ``reads`` against the current call (nothing outside a hook call: the SMART app's reads)."""
    count = _current.get()
    if count is not None:
        count.reads += reads
