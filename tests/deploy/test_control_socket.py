"""gunicorn's control socket (``gunicornc``) is off in ``painpa serve`` (cds_service/gunicorn_conf.py):
its default path is one per user, so two instances on a host would bind one socket, each start
taking it over and each stop deleting it. Two real ``painpa serve`` with different PAINPA_HOME and
the same user's HOME and XDG_RUNTIME_DIR: both answer, neither binds a control socket, and one
stopping leaves the other serving."""

from __future__ import annotations

from pathlib import Path

import requests

from cds_service.gunicorn_conf import Application, options
from tests.support.serve_harness import painpa_service

FHIR = ["https://ehr.example.org/fhir"]


def test_the_settings_turn_the_control_socket_off_in_the_installed_gunicorn():
    app = Application(lambda: None, options(env={}))   # an unknown setting name raises here
    assert app.cfg.control_socket_disable is True


def _listening_unix_paths() -> set[str]:
    lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    return {parts[-1] for parts in (line.split() for line in lines) if len(parts) > 7}


def test_two_instances_on_one_host_share_no_control_socket(tmp_path):
    user = tmp_path / "user"            # the one user both instances run as
    (user / "run").mkdir(parents=True)
    env = {"HOME": str(user), "XDG_RUNTIME_DIR": str(user / "run")}
    with painpa_service(FHIR, workers=1, env=env, home=tmp_path / "one") as one, \
            painpa_service(FHIR, workers=1, env=env, home=tmp_path / "two") as two:
        for service in (one, two):
            assert requests.get(f"{service.base}/healthz", timeout=5).status_code == 200
        assert list(user.rglob("*")) == [user / "run"]       # no gunicorn.ctl, no ~/.gunicorn
        assert not {p for p in _listening_unix_paths() if p.startswith(str(tmp_path))}
        assert "Control socket" not in one.logs() + two.logs()
    with painpa_service(FHIR, workers=1, env=env, home=tmp_path / "three") as three:
        with painpa_service(FHIR, workers=1, env=env, home=tmp_path / "four"):
            pass
        assert requests.get(f"{three.base}/healthz", timeout=5).status_code == 200
        assert list(user.rglob("*")) == [user / "run"]
