"""Where tests leave what a person may want to look at after a run (screenshots of the browser tests,
the sandbox server's log): tests/artifacts/, ignored by git and removed by ``make clean``."""

from __future__ import annotations

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
