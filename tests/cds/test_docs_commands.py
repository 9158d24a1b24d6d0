"""What an IT admin pastes from the docs runs: every shell block of README.md and docs/*.md is run by
bash exactly as pasted (continuations, comments, quoting), with ``painpa`` recording its arguments;
each recorded ``painpa`` command must parse, then runs for real against a temporary instance
(``clients``, ``keys``, ``db``, ``audit``) or answers ``--help`` (commands that serve or need more).
``painpa --help`` names only files that exist. ``painpa clients add`` refuses an ``--iss`` already
registered unless ``--replace`` (and then says what changed), and a plain-http ``--jwks-url`` on
another host unless ``--allow-http-jwks`` (CDS Hooks 2.0 §Trusting CDS Clients: keys from a trusted
source)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from cds_service.cli import build_parser
from tests.cds.test_cli import COMMANDS
from tests.support.procs import ROOT, VENV_BIN

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(\w*)\n(.*?)^\s*```", re.S | re.M)
# Tools the docs use that this test does not run: each is a stub that succeeds and prints nothing (so a
# block's `until curl …; do sleep 1; done` ends); any other command bash cannot find is a paste error.
OTHER_TOOLS = {"make", "curl", "pg_dump", "createdb", "pg_restore", "python", "date", "pip", "cat", "head", "sleep",
               "kill", "mkdir", "rm"}
RUN_FOR_REAL = {"clients", "keys", "db", "audit"}
PAINPA_COMMAND = re.compile(r"(?:^|\s)painpa(?= |$)", re.M)
RECORDER = r"""
painpa() { local a; for a in "$@"; do printf '%s\037' "$a"; done >> "$REC"; printf '\n' >> "$REC"; }
podman() { while [ $# -gt 0 ] && [ "$1" != painpa ]; do shift; done; [ $# -gt 0 ] && shift && painpa "$@"; return 0; }
"""


def _blocks() -> list[tuple[str, str]]:
    """(where, script) for every shell block; an untagged block counts by its ``$ `` prompt lines."""
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            lang, body = match.group(1), textwrap.dedent(match.group(2))
            if lang == "" and "$ painpa" in body:
                body = "\n".join(line[2:] for line in body.splitlines() if line.startswith("$ "))
            elif lang not in ("sh", "bash", "shell", "console"):
                continue
            if PAINPA_COMMAND.search(body):
                out.append((f"{doc.relative_to(ROOT)}:{text[:match.start()].count(chr(10)) + 1}", body + "\n"))
    return out


BLOCKS = _blocks()


def _painpa(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PAINPA_HOME": str(home)}
    env.pop("DATABASE_URL", None)
    return subprocess.run([str(VENV_BIN / "painpa"), *args], env=env, cwd=home.parent, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_the_docs_have_command_blocks():
    assert {w.split(":")[0] for w, _ in BLOCKS} >= {"README.md", "docs/registering.md", "docs/deploy.md"}


@pytest.mark.parametrize(("where", "script"), BLOCKS, ids=[w for w, _ in BLOCKS])
def test_every_painpa_command_in_the_docs_pastes_and_runs(where, script, tmp_path):
    (tmp_path / "bin").mkdir()
    for tool in OTHER_TOOLS:
        stub = tmp_path / "bin" / tool
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    (tmp_path / "secret.txt").write_text("a-test-client-secret-of-enough-length\n")
    record = tmp_path / "painpa.args"
    record.touch()
    shell = subprocess.run(["/bin/bash", "-c", RECORDER + script], cwd=tmp_path, capture_output=True, text=True,
                           timeout=60, env={"PATH": str(tmp_path / "bin"), "REC": str(record), "HOME": str(tmp_path)})
    assert "syntax error" not in shell.stderr, f"{where}: {shell.stderr}"
    missing = set(re.findall(r"line \d+: ([^:\s]+): (?:command not found|No such file)", shell.stderr))
    assert missing <= {".venv/bin/python"}, f"{where}: pasted, bash runs {sorted(missing)} as commands"
    commands = [line.split("\x1f")[:-1] for line in record.read_text().splitlines()]
    assert commands, f"{where}: no painpa command ran"
    home = tmp_path / "instance"
    for argv in commands:
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{where}: painpa {' '.join(argv)} does not parse")
        if argv[0] in RUN_FOR_REAL:
            out = _painpa(home, *argv, stdin="a-test-client-secret-of-enough-length\n")
        else:
            words = next((argv[:i] for i, a in enumerate(argv) if a.startswith("-")), argv)   # the subcommand
            out = _painpa(home, *words[:2], "--help")
        assert out.returncode == 0, f"{where}: painpa {' '.join(argv)}: {out.stderr}"


def _metavars(parser=None) -> set[str]:
    """Placeholders such as REQUEST.json: named in the help, not files."""
    out: set[str] = set()
    for action in (parser or build_parser())._actions:
        if isinstance(action.metavar, str):
            out.add(action.metavar)
        for sub in (action.choices or {}).values() if isinstance(action.choices, dict) else ():
            out |= _metavars(sub)
    return out


def test_help_names_only_files_that_exist():
    texts = [_painpa(Path("/tmp/unused"), *c.split(), "--help").stdout for c in ("", *COMMANDS)]
    named = {m for t in texts for m in re.findall(r"[\w./-]+\.(?:md|py|json|txt|toml)\b", t)} - _metavars()
    assert "README.md" in named                                   # the top-level help points somewhere
    assert not [p for p in named if not (ROOT / p).exists()], named


def _add(home: Path, *extra: str) -> subprocess.CompletedProcess:
    return _painpa(home, "clients", "add", "--iss", "https://ehr.example.org/cds", "--fhir-base",
                   "https://ehr.example.org/fhir", *extra)


def test_adding_a_registered_iss_is_refused_unless_replace_which_says_what_changed(tmp_path):
    home = tmp_path / "home"
    first = _add(home, "--jwks-url", "https://ehr.example.org/jwks.json", "--default-state", "TX")
    assert first.returncode == 0, first.stderr
    again = _add(home, "--jwks-url", "https://other.example/jwks.json")
    assert again.returncode == 2 and "already registered" in again.stderr and "--replace" in again.stderr
    listed = json.loads(_painpa(home, "clients", "list", "--json").stdout)
    assert [(c["jwks_url"], c["default_state"]) for c in listed] == [("https://ehr.example.org/jwks.json", "TX")]
    replaced = _add(home, "--jwks-url", "https://other.example/jwks.json", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert "jwks_url: 'https://ehr.example.org/jwks.json' -> 'https://other.example/jwks.json'" in replaced.stdout
    assert "default_state: 'TX' -> None" in replaced.stdout and "fhir_bases" not in replaced.stdout
    same = _add(home, "--jwks-url", "https://other.example/jwks.json", "--replace")
    assert same.returncode == 0 and "nothing changed" in same.stdout


def test_a_plain_http_jwks_url_on_another_host_needs_an_explicit_flag(tmp_path):
    home = tmp_path / "home"
    refused = _add(home, "--jwks-url", "http://ehr.example.org/jwks.json")
    assert refused.returncode == 2 and "plain http" in refused.stderr and "--allow-http-jwks" in refused.stderr
    assert json.loads(_painpa(home, "clients", "list", "--json").stdout) == []
    assert _add(home, "--jwks-url", "http://ehr.example.org/jwks.json", "--allow-http-jwks").returncode == 0
    local = _painpa(home, "clients", "add", "--iss", "http://127.0.0.1:9/cds", "--fhir-base", "http://127.0.0.1:9/fhir",
                    "--jwks-url", "http://127.0.0.1:9/jwks.json")
    assert local.returncode == 0, local.stderr                   # this machine: the sandbox and local tests
