"""Tables of the CDS service: registered clients, feedback, audit, replay cache."""

from __future__ import annotations
