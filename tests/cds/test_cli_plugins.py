"""Subcommands from the ``painpa.commands`` entry points (cds_service/cli.py): a plugin whose package
is not installed (the production image leaves the sandbox out, deploy/Containerfile) is skipped in
silence, one that fails to import is named on stderr, and neither stops the product's commands."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from cds_service import cli


def _plugins(monkeypatch, *values: tuple[str, str]) -> None:
    found = [EntryPoint(name=name, value=value, group=cli.PLUGINS) for name, value in values]
    monkeypatch.setattr(cli, "entry_points", lambda group: found if group == cli.PLUGINS else [])


def _help(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as done:
        cli.main([*args, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_a_plugin_whose_package_is_absent_is_skipped_quietly(monkeypatch, capsys):
    _plugins(monkeypatch, ("sandbox", "painpa_absent_sandbox.cli:register"),
             ("other", "painpa_absent_sandbox:register"))
    out = _help(capsys)
    assert "sandbox" not in out and "serve" in out and "audit" in out
    assert capsys.readouterr().err == ""
    assert "--force" in _help(capsys, "audit", "purge")


@pytest.mark.parametrize(("source", "error"), [
    ("import painpa_missing_dependency\n", "ModuleNotFoundError: No module named 'painpa_missing_dependency'"),
    ("from os import painpa_no_such_name\n", "ImportError: cannot import name 'painpa_no_such_name'"),
])
def test_a_plugin_that_fails_to_import_is_named_and_the_rest_still_runs(monkeypatch, capsys, tmp_path, source, error):
    (tmp_path / "painpa_broken_plugin.py").write_text(source + "def register(sub):\n    sub.add_parser('broken')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _plugins(monkeypatch, ("broken", "painpa_broken_plugin:register"))
    parser = cli.build_parser()
    err = capsys.readouterr().err
    assert "painpa: the 'broken' command is unavailable: " + error in err
    assert parser.parse_args(["audit", "purge", "--days", "400"]).days == 400


def test_an_installed_plugin_adds_its_command(monkeypatch, capsys, tmp_path):
    (tmp_path / "painpa_extra_plugin.py").write_text("def register(sub):\n    sub.add_parser('extra', help='x')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _plugins(monkeypatch, ("extra", "painpa_extra_plugin:register"))
    assert "extra" in _help(capsys)
