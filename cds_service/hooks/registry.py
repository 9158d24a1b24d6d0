"""The CDS services one app offers (CDS Hooks 2.0 §Discovery): the registry the app factory
installs (cds_service/services.py), looked up by id for a call and listed for discovery, in its order.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from cds_service.hooks.service import ServiceDef

_KEY = "painpa.hooks"


@dataclass(frozen=True)
class Registry:
    services: tuple[ServiceDef, ...]

    def __post_init__(self) -> None:
        ids = [s.id for s in self.services]
        if len(set(ids)) != len(ids):
            raise ValueError(f"CDS service ids must be unique: {ids}")

    def by_id(self, service_id: str) -> ServiceDef | None:
        return next((s for s in self.services if s.id == service_id), None)

    def for_hook(self, hook: str) -> ServiceDef | None:
        """The first service bound to ``hook`` (``painpa evaluate`` picks a service this way)."""
        return next((s for s in self.services if s.hook == hook), None)

    def discovery_document(self) -> dict:
        return {"services": [s.discovery() for s in self.services]}


def install(app: Flask, registry: Registry) -> None:
    app.extensions[_KEY] = registry


def current() -> Registry:
    """The services of the app handling the current request."""
    return current_app.extensions[_KEY]
