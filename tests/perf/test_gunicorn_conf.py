"""The process model of ``painpa serve`` (cds_service/gunicorn_conf.py; docs/deploy.md): settings
from the environment, refused with a clear message when malformed, and the GC freeze hook."""

from __future__ import annotations

import gc
import subprocess

import pytest

from cds_service.config import ConfigError
from cds_service.gunicorn_conf import GC_BACKSTOP, GC_THRESHOLDS, options, post_request, post_worker_init
from tests.support.procs import VENV_BIN


def test_defaults_and_environment():
    opts = options(host="127.0.0.2", port=9000, env={})
    assert opts["bind"] == "127.0.0.2:9000" and opts["workers"] == 2 and opts["threads"] == 8
    assert opts["worker_class"] == "gthread" and opts["accesslog"] is None
    tuned = options(env={"PAINPA_WORKERS": "4", "PAINPA_THREADS": "16", "PAINPA_MAX_REQUESTS": "500"})
    assert (tuned["workers"], tuned["threads"], tuned["max_requests"]) == (4, 16, 500)
    assert options(workers=3, env={"PAINPA_WORKERS": "4"})["workers"] == 3  # --workers wins


@pytest.mark.parametrize("value", ["abc", "0", "-2"])
def test_malformed_values_are_refused_by_name(value):
    with pytest.raises(ConfigError, match="PAINPA_THREADS"):
        options(env={"PAINPA_THREADS": value})


def test_serve_exits_with_a_message_on_a_bad_setting(tmp_path):
    proc = subprocess.run([str(VENV_BIN / "painpa"), "serve", "--port", "1"], capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "PAINPA_HOME": str(tmp_path),
                                            "PAINPA_WORKERS": "many"})
    assert proc.returncode == 2
    assert "PAINPA_WORKERS" in proc.stderr and "Traceback" not in proc.stderr


def test_worker_hook_freezes_the_start_up_heap_and_collects_only_between_requests():
    try:
        before = gc.get_threshold()
        post_worker_init(None)
        assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == GC_BACKSTOP
        assert options(env={})["post_request"] is post_request
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


class _Cycle:
    def __init__(self, freed: list) -> None:
        self.me, self.freed = self, freed     # a reference cycle: only the collector frees it

    def __del__(self) -> None:
        self.freed.append(1)


def test_cyclic_garbage_of_a_request_is_collected_after_it():
    freed: list = []
    gc.collect()
    gc.disable()   # as in a worker, where only the backstop (a million objects) would collect
    try:
        for _ in range(GC_THRESHOLDS[0] + 100):   # a request that leaves cycles behind
            _Cycle(freed)
        assert freed == []                        # nothing collects during the request
        post_request(None, None, None, None)
        assert len(freed) == GC_THRESHOLDS[0] + 100
        post_request(None, None, None, None)      # below every threshold: nothing to do
    finally:
        gc.enable()
