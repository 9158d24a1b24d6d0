"""The tenant setting for windows that are painpa's own choice: stored with the registered client (a
real SQLite database under Alembic head), read back into the tenant defaults every hook call uses, and
set with ``painpa clients set-windows`` run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cds_service import clients
from cds_service.policy.engine import evaluate
from cds_service.policy.loader import window_keys
from cds_service.policy.model import Status
from cds_service.store import init_db
from tests.support import fhir_builders as b
from tests.support.procs import ROOT

ISS = "https://ehr.example.org"


@pytest.fixture
def db(tmp_path):
    database = init_db(f"sqlite:///{tmp_path / 'painpa.db'}")
    clients.add_client(database, iss=ISS, fhir_bases=["https://ehr.example.org/fhir"], jwks_url=f"{ISS}/jwks")
    return database


def _active_program(policies, defaults):
    p = b.esi_ready(b.Patient())
    p.resources = [r for r in p.resources if r["resourceType"] != "Procedure"]
    p.add(b.procedure("97110", b.days(100)), b.procedure("97110", b.days(30)), b.coverage("121"), b.location("TX", "11"))
    p.defaults = defaults
    det = evaluate([b.order("64483")], p.record(), policies, b.TODAY)[0]
    return next(r for r in det.requirements if r.id == "esi.active-program")


def test_a_tenants_window_is_stored_and_used(db, policies):
    assert _active_program(policies, clients.get_client(db, ISS).defaults).status is Status.UNMET
    clients.set_policy_windows(db, ISS, {"esi.active-program.within_days": 120}, window_keys(policies))
    defaults = clients.get_client(db, ISS).defaults
    assert defaults.windows == (("esi.active-program.within_days", 120),)
    r = _active_program(policies, defaults)
    assert r.status is Status.MET
    clients.set_policy_windows(db, ISS, {}, window_keys(policies))          # back to painpa's defaults
    assert clients.get_client(db, ISS).defaults.windows == ()


def test_only_painpas_own_windows_can_be_set(db, policies):
    with pytest.raises(clients.ClientError, match="not a window painpa lets a tenant set"):
        clients.set_policy_windows(db, ISS, {"esi.frequency.max": 6}, window_keys(policies))
    with pytest.raises(clients.ClientError, match="between 1 and"):
        clients.set_policy_windows(db, ISS, {"esi.active-program.within_days": 0}, window_keys(policies))
    with pytest.raises(clients.ClientError, match="no client registered"):
        clients.set_policy_windows(db, "https://other.example", {}, window_keys(policies))


def test_painpa_clients_set_windows_command(tmp_path):
    env = {**os.environ, "PAINPA_HOME": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'painpa.db'}",
           "PYTHONPATH": str(ROOT)}
    database = init_db(env["DATABASE_URL"])
    clients.add_client(database, iss=ISS, fhir_bases=["https://ehr.example.org/fhir"], jwks_url=f"{ISS}/jwks")
    run = [sys.executable, "-m", "cds_service.cli", "clients", "set-windows", "--iss", ISS]
    ok = subprocess.run([*run, "scs.psych-eval.within_days=540"], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "scs.psych-eval.within_days = 540\n" in ok.stdout and "esi.active-program.within_days = 90 (painpa default)" in ok.stdout
    assert clients.get_client(database, ISS).defaults.windows == (("scs.psych-eval.within_days", 540),)
    bad = subprocess.run([*run, "esi.frequency.max=6"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "not a window painpa lets a tenant set" in bad.stderr and "Traceback" not in bad.stderr
