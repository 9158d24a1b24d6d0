"""painpa's shape, kept: imports point one way (shared core ← features ← app factory), one readiness
assessment behind every surface, the product never reaches into the sandbox, and every wire is an
ordinary import a reader can follow (ARCHITECTURE.md "Shape" and "One way for the data to travel").

The graph is read from the source by tests/support/import_graph.py (``python -m
tests.support.import_graph`` prints its summary). A new module is placed in :data:`LAYERS` on
purpose: the failure names it."""

from __future__ import annotations

import ast
import sys

import pytest

from tests.support.import_graph import REPO, cycles, read

# Rooms (a module at a package's top, or a whole sub-package), lowest layer first. A room may import
# rooms of its own layer or below, never above.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("foundations", frozenset({
        "cds_service.config", "cds_service.clock", "cds_service.cpu", "cds_service.errors",
        "cds_service.policy", "cds_service.shared", "cds_service.store", "cds_service.metrics",
        "cds_service.jsontext"})),
    ("infrastructure", frozenset({
        "cds_service.security", "cds_service.render", "cds_service.clients", "cds_service.applinks",
        "cds_service.fhir", "cds_service.auth", "cds_service.state", "cds_service.retention",
        "cds_service.audit"})),
    ("payer history", frozenset({"cds_service.denials"})),
    ("readiness", frozenset({"cds_service.readiness"})),
    ("surfaces", frozenset({
        "cds_service.http_errors", "cds_service.hooks", "cds_service.dtr", "cds_service.admin", "cds_service.health",
        "cds_service.favicon", "smart_app"})),
    ("features above the surfaces", frozenset({"cds_service.chronic_pain"})),
    ("assembly", frozenset({
        "cds_service.services", "cds_service.app", "cds_service.evaluate", "cds_service.serve",
        "cds_service.gunicorn_conf", "cds_service.cli", "cds_service.clients_cli"})),
    ("sandbox", frozenset({"sandbox"})),
)
GRAPH = read()


def layer_of(room: str) -> int:
    for n, (_, members) in enumerate(LAYERS):
        if room in members or room.split(".")[0] in members:
            return n
    raise LookupError(room)


def test_every_room_has_a_layer():
    unplaced = sorted({GRAPH.room(m) for m in GRAPH.modules} - {r for r in map(GRAPH.room, GRAPH.modules)
                                                                if _placed(r)})
    assert not unplaced, f"place these rooms in LAYERS: {unplaced}"


def _placed(room: str) -> bool:
    try:
        layer_of(room)
    except LookupError:
        return room in ("cds_service", "smart_app", "sandbox")   # the packages' faces hold no code
    return True


def test_imports_point_one_way():
    upward = sorted(f"{i.source}:{i.line} imports {i.target} ({LAYERS[layer_of(GRAPH.room(i.target))][0]} is above "
                    f"{LAYERS[layer_of(GRAPH.room(i.source))][0]})"
                    for i in GRAPH.imports
                    if _placed(GRAPH.room(i.source)) and _placed(GRAPH.room(i.target))
                    and "." in GRAPH.room(i.target)
                    and layer_of(GRAPH.room(i.target)) > layer_of(GRAPH.room(i.source)))
    assert not upward, "\n".join(upward)


def test_no_import_cycle_between_modules_or_rooms():
    assert cycles(GRAPH.edges()) == []
    assert cycles(GRAPH.room_edges()) == []


def test_the_surfaces_do_not_import_each_other():
    # The CDS hooks (and the dashboard) and the SMART app are siblings: what both need lives below
    # them (readiness, state); only the feature above them (chronic pain) and the assembly use both.
    cds = ("cds_service.hooks", "cds_service.admin", "cds_service.health")
    crossing = [f"{i.source} -> {i.target}" for i in GRAPH.imports
                if (GRAPH.room(i.source).startswith(cds) and i.target.startswith("smart_app"))
                or (i.source.startswith("smart_app") and GRAPH.room(i.target).startswith(cds))]
    assert crossing == []


def test_only_readiness_gathers_and_evaluates():
    """One pipeline: no surface calls gather or evaluate itself (cds_service/readiness.py)."""
    callers = set()
    for name, path in GRAPH.modules.items():
        if name.startswith("cds_service.policy") or name.startswith("cds_service.fhir"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.ImportFrom) and node.module in ("cds_service.fhir.gather", "cds_service.policy.engine")
                    and {a.name for a in node.names} & {"gather", "evaluate"}):
                callers.add(name)
    assert callers == {"cds_service.readiness"}


def test_the_product_never_reaches_into_the_sandbox():
    product = {n: p for n, p in GRAPH.modules.items() if not n.startswith("sandbox")}
    imports = [f"{i.source} -> {i.target}" for i in GRAPH.imports if i.source in product and i.target.startswith("sandbox")]
    named = [f"{n}:{node.lineno}" for n, p in product.items() for node in ast.walk(ast.parse(p.read_text()))
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("sandbox.")]
    assert imports == [] and named == []


def test_wiring_is_ordinary_imports():
    # Blueprints, handlers and services are imported and registered, never resolved from strings;
    # the app's shared state is reached through one typed accessor per owner, not app.extensions.
    assert GRAPH.dynamic == []
    owners = sorted(n for n, p in GRAPH.modules.items() if ".extensions" in p.read_text())
    assert owners == ["cds_service.hooks.registry", "cds_service.state", "sandbox.state"]


def test_every_import_inside_a_function_says_why():
    unexplained = [f"{i.source}:{i.line} -> {i.target}" for i in GRAPH.imports if i.in_function and not i.commented]
    assert unexplained == []


@pytest.mark.parametrize("module", sorted(m for m in GRAPH.modules if m.startswith("cds_service.policy")))
def test_the_policy_core_is_pure(module):
    """No Flask, no HTTP, no database, no clock read in cds_service/policy/ (ARCHITECTURE.md)."""
    allowed = set(sys.stdlib_module_names) | {"jsonschema", "cds_service"}
    tree = ast.parse(GRAPH.modules[module].read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level}
    assert {n.split(".")[0] for n in names} <= allowed
    assert all(n.startswith("cds_service.policy") for n in names if n.startswith("cds_service"))
    clock_reads = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                   and n.attr in ("today", "now", "utcnow", "time") and isinstance(n.value, ast.Name)
                   and n.value.id in ("date", "datetime", "time")]
    assert clock_reads == [], f"{module} reads the clock at lines {clock_reads}; today is a parameter"


def test_the_graph_reads_this_checkout():
    assert GRAPH.modules["cds_service.readiness"] == REPO / "cds_service" / "readiness.py"
