"""Real processes for the SMART app tests: ``painpa serve`` and small authlib EHRs
(tests/smart/ehr_server.py) on free loopback ports, registered with ``painpa clients add``; the
tests reach them through tests/support/smart_stack.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.jwt import jwks, make_key
from tests.support.procs import ROOT, free_port, running, wait_for
from tests.support.smart_stack import CLIENT_ID, MODES, SECRET, Ehr, Stack, ehr_process_env


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("painpa") / "instance"
    home.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"PAINPA_HOME": str(home), "PAINPA_BASE_URL": base, "PAINPA_WORKERS": "1"}
    ports: dict[str, int] = {}
    for mode in (*MODES, "foreign", "unregistered"):
        # free_port() can hand out a port twice; two EHRs on one port would answer for each other.
        while (candidate := free_port()) in (port, *ports.values()):
            pass
        ports[mode] = candidate
    key = make_key()
    jwks_file = home / "cds-client-jwks.json"
    jwks_file.write_text(json.dumps(jwks(key)))
    bin_ = str(Path(sys.executable).parent / "painpa")
    proc_env = {**os.environ, **env}

    for mode in MODES:
        subprocess.run([bin_, "clients", "add", "--iss", f"http://127.0.0.1:{ports[mode]}/cds-client",
                        "--jwks-file", str(jwks_file), "--fhir-base", f"http://127.0.0.1:{ports[mode]}/fhir",
                        "--smart-client-id", CLIENT_ID], env=proc_env, check=True, cwd=ROOT, capture_output=True)
    # The secret goes in on standard input and is kept sealed in the database (smart_app/registry.py).
    subprocess.run([bin_, "clients", "set-smart-secret", "--fhir-base", f"http://127.0.0.1:{ports['secret']}/fhir"],
                   input=SECRET + "\n", text=True, env=proc_env, check=True, cwd=ROOT, capture_output=True)
    logs = home.parent

    with ExitStack() as stack_:
        stack_.enter_context(running(["painpa", "serve", "--port", str(port), "--base-url", base],
                                     ready_url=base + "/healthz", env=env, log_path=logs / "painpa.log"))
        result = Stack(base=base, home=home, cds_key=key)
        procs: dict = {}
        for mode in (*MODES, "foreign", "unregistered"):
            ehr_env = ehr_process_env("normal" if mode in ("foreign", "unregistered") else mode, base)
            if mode == "foreign-next":
                ehr_env["EHR_FOREIGN_URL"] = f"http://127.0.0.1:{ports['foreign']}/fhir"
            procs[mode] = stack_.enter_context(running(  # started together, waited for below
                [sys.executable, "-m", "tests.smart.ehr_server", str(ports[mode])], ready_url=None, env=ehr_env,
                log_path=logs / f"ehr-{mode}.log"))
            ehr = Ehr(ports[mode], mode)
            if mode == "unregistered":
                result.unregistered = ehr
            else:
                result.ehrs[mode] = ehr
        for mode, proc in procs.items():
            wait_for(f"http://127.0.0.1:{ports[mode]}/_test/log", 30, proc)
        yield result
