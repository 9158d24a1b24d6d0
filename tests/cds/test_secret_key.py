"""``PAINPA_SECRET_KEY`` (cds_service/config.py; docs/deploy.md): when set, a key shorter than 32
characters, a copied placeholder or a value of a few repeated characters stops start-up with a
message that names the variable and how to generate one, never repeating the value; when unset,
painpa keeps generating a random key in ``PAINPA_HOME`` as before."""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import replace

import pytest

from cds_service.config import SECRET_KEY_MIN_LENGTH, ConfigError, Settings, check_secret_key, secret_key
from tests.support.procs import ROOT, VENV_BIN

GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
REFUSED = [
    "CHANGE_ME", "changeme", "secret", "password", "s3cret-for-tests",
    secrets.token_urlsafe(48)[:SECRET_KEY_MIN_LENGTH - 1],                # random, but one too short
    "CHANGE_ME" * 4, "Change-Me-" + "x9" * 20, "please replace me with 48 random characters!!",
    "this-is-a-placeholder-secret-for-painpa-prod", "my-painpa-production-SECRET_KEY-2026",
    "a" * 64, "0123" * 10,                                                # long, but barely random
]


def _env(value: str, home) -> dict[str, str]:
    return {"PAINPA_HOME": str(home), "PAINPA_SECRET_KEY": value}


@pytest.mark.parametrize("value", REFUSED)
def test_a_short_placeholder_or_repetitive_key_is_refused_by_name(value, tmp_path):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env=_env(value, tmp_path))
    message = str(refused.value)
    assert message.startswith("PAINPA_SECRET_KEY ") and GENERATE in message
    assert value not in message.split(GENERATE)[0]   # the advice after it may hold a short word


@pytest.mark.parametrize("value", [secrets.token_urlsafe(48), secrets.token_hex(32), secrets.token_urlsafe(24)])
def test_a_generated_key_is_accepted(value, tmp_path):
    assert len(value) >= SECRET_KEY_MIN_LENGTH
    settings = Settings.from_env(env=_env(value, tmp_path))
    assert secret_key(settings) == value
    assert not (tmp_path / "secret_key").exists()


def test_unset_generates_a_random_key_in_painpa_home_once(tmp_path):
    settings = Settings.from_env(env={"PAINPA_HOME": str(tmp_path)})
    key = secret_key(settings)
    assert check_secret_key(key) == key and len(key) >= SECRET_KEY_MIN_LENGTH
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert secret_key(Settings.from_env(env={"PAINPA_HOME": str(tmp_path), "PAINPA_SECRET_KEY": ""})) == key


def test_settings_built_without_the_environment_are_checked_too(settings):
    """Tests and embedders build Settings with dataclasses.replace; the app factory still refuses."""
    with pytest.raises(ConfigError, match="PAINPA_SECRET_KEY"):
        secret_key(replace(settings, secret_key="shared"))


def test_the_deployment_example_ships_a_value_that_start_up_refuses(tmp_path):
    example = (ROOT / "deploy" / "painpa.env.example").read_text()
    value = next(line.split("=", 1)[1] for line in example.splitlines() if line.startswith("PAINPA_SECRET_KEY="))
    assert GENERATE in example
    with pytest.raises(ConfigError, match="placeholder"):
        Settings.from_env(env=_env(value, tmp_path))


def test_serve_stops_with_the_message_and_no_traceback(tmp_path):
    proc = subprocess.run([str(VENV_BIN / "painpa"), "serve", "--port", "1"], capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", **_env("CHANGE_ME", tmp_path)})
    assert proc.returncode == 2, proc.stderr
    assert "PAINPA_SECRET_KEY" in proc.stderr and GENERATE in proc.stderr and "Traceback" not in proc.stderr
