"""Every CDS service painpa offers, in discovery order (CDS Hooks 2.0 §Discovery): the order
services (order-select, order-sign), appointment-book, and chronic pain management (patient-view,
encounter-start). The app factory installs this list; ``painpa evaluate`` answers from it offline.
"""

from __future__ import annotations

from cds_service.chronic_pain import hook as chronic_pain
from cds_service.hooks import appointments, orders
from cds_service.hooks.registry import Registry

REGISTRY = Registry((*orders.SERVICES, *appointments.SERVICES, *chronic_pain.SERVICES))
