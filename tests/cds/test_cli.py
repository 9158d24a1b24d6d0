"""The ``painpa`` command line (ARCHITECTURE.md interface contract): every command and subcommand
answers ``--help``, and choosing a command loads only what that command needs — the parser itself
loads neither Flask nor SQLAlchemy, so ``painpa clients list`` or ``painpa --help`` start at once."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.procs import ROOT, VENV_BIN

COMMANDS = ("serve", "sandbox", "clients", "clients add", "clients list", "clients remove", "clients set-smart-secret",
            "admin",
            "admin create-user", "admin import-denials", "admin import-metrics", "admin import-pas", "admin remap",
            "evaluate", "audit", "audit purge", "db", "db current", "db upgrade", "db downgrade", "keys",
            "keys rotate", "keys list")


def _painpa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "painpa"), *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_top_level_help_lists_every_command():
    out = _painpa("--help")
    assert out.returncode == 0, out.stderr
    for name in ("serve", "sandbox", "clients", "admin", "evaluate", "audit"):
        assert name in out.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_answers_help(command):
    out = _painpa(*command.split(), "--help")
    assert out.returncode == 0 and out.stdout.startswith(f"usage: painpa {command}"), out.stderr


def test_building_the_parser_loads_no_web_or_database_stack():
    probe = ("import sys; from cds_service.cli import build_parser; build_parser(); "
             "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} & "
             "{'flask', 'werkzeug', 'sqlalchemy', 'requests', 'joserfc', 'fhir', 'authlib'})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)
    assert out.stdout.strip() == ""
