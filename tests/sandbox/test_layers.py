"""The sandbox's layers (sandbox/__init__.py): every room imports only rooms of lower layers. Read
from the source by tests/support/import_graph.py; the rules for the whole tree (no cycle, imports
inside functions say why, one typed state) are tests/test_architecture.py's."""

from __future__ import annotations

from tests.support.import_graph import cycles, read

LAYERS = (
    {"sandbox.codes", "sandbox.keys", "sandbox.tables", "sandbox.scopes", "sandbox.cdsclient"},
    {"sandbox.tokens", "sandbox.state"},
    {"sandbox.fhir"},
    {"sandbox.payer"},
    {"sandbox.seed"},
    {"sandbox.roster", "sandbox.setup"},
    {"sandbox.auth"},
    {"sandbox.ehr"},
    {"sandbox.app"},
    {"sandbox.cli"},
)
GRAPH = read()


def _layer(room: str) -> int:
    return next(n for n, members in enumerate(LAYERS) if room in members)


def test_every_sandbox_room_has_a_layer():
    rooms = {GRAPH.room(m) for m in GRAPH.modules if m.startswith("sandbox.")}
    assert rooms == set().union(*LAYERS)


def test_sandbox_imports_point_down():
    edges = {a: bs for a, bs in GRAPH.room_edges().items() if a.startswith("sandbox.")}
    sideways_or_up = sorted(f"{a} -> {b}" for a, bs in edges.items() for b in bs
                            if b.startswith("sandbox.") and _layer(b) >= _layer(a))
    assert sideways_or_up == []
    assert [c for c in cycles(GRAPH.edges()) if any(m.startswith("sandbox") for m in c)] == []
