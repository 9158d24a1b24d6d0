"""The lock files (requirements/prod.txt for the image, requirements/dev.txt for ``make install`` and
CI; ``make lock`` writes both from pyproject.toml): every package at one exact version with hashes,
every dependency pyproject.toml names present at a version it allows (a dependency added without
``make lock`` fails here), and the image's versions the ones CI tests."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.procs import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCKS = {"prod": ROOT / "requirements" / "prod.txt", "dev": ROOT / "requirements" / "dev.txt"}
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")


def read_lock(kind: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) for every requirement in the lock."""
    pins: dict[str, tuple[str, int]] = {}
    name = None
    for line in LOCKS[kind].read_text().splitlines():
        if match := _PIN.match(line):
            name = canonicalize_name(match["name"])
            assert name not in pins, f"{name} twice in {LOCKS[kind].name}"
            pins[name] = (match["version"], 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            pins[name] = (pins[name][0], pins[name][1] + 1)
        else:
            assert not line.strip() or line.lstrip().startswith("#"), f"{LOCKS[kind].name}: unexpected {line!r}"
    return pins


def declared(kind: str) -> list[Requirement]:
    names = PYPROJECT["project"]["dependencies"] + PYPROJECT["build-system"]["requires"]
    if kind == "dev":
        names += PYPROJECT["project"]["optional-dependencies"]["dev"]
    return [Requirement(r) for r in names]


@pytest.mark.parametrize("kind", sorted(LOCKS))
def test_every_package_is_pinned_with_hashes(kind):
    pins = read_lock(kind)
    assert pins and all(hashes for _, hashes in pins.values()), [n for n, (_, h) in pins.items() if not h]
    assert "make lock" in LOCKS[kind].read_text()[:300]   # the command that regenerates it


@pytest.mark.parametrize("kind", sorted(LOCKS))
def test_every_declared_dependency_is_locked_at_an_allowed_version(kind):
    pins = read_lock(kind)
    missing = [str(r) for r in declared(kind) if canonicalize_name(r.name) not in pins]
    assert not missing, f"not in {LOCKS[kind].name}: {missing}; run `make lock`"
    wrong = [f"{r} locked at {pins[canonicalize_name(r.name)][0]}" for r in declared(kind)
             if not r.specifier.contains(pins[canonicalize_name(r.name)][0], prereleases=True)]
    assert not wrong, f"{LOCKS[kind].name}: {wrong}; run `make lock`"


def test_the_image_runs_the_versions_ci_tests():
    prod, dev = read_lock("prod"), read_lock("dev")
    assert {n: v for n, (v, _) in prod.items()} == {n: dev[n][0] for n in prod if n in dev}
    assert set(prod) <= set(dev)
    dev_only = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    assert not dev_only & set(prod)   # no test tool in the image


@pytest.mark.slow
def test_the_dev_lock_installs_into_a_fresh_python_311_venv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    done = subprocess.run([*pip, "install", "--quiet", "--require-hashes", "-r", str(LOCKS["dev"])],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    check = subprocess.run([*pip, "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
