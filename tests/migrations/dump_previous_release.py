"""Write the previous release's schema as its own code created it, for tests/migrations: the DDL that
``Base.metadata.create_all`` sent for the product's tables (what ``painpa serve`` created at its first
start), for SQLite and for PostgreSQL, one file per dialect under previous_release/.

    git archive 21da843 | tar -x -C /tmp/previous
    .venv/bin/python -m tests.migrations.dump_previous_release /tmp/previous 21da843

The previous release's code is imported from that checkout (its app factory, so its tables are
exactly those ``create_all`` saw), never from this one; SQLAlchemy's mock engine records the
statements ``create_all`` emits (SQLAlchemy docs, "How can I get the CREATE TABLE/ DROP TABLE output
as a string?"). The checkout is read in a child process, so this one never mixes the two releases.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).with_name("previous_release")
DIALECTS = {"sqlite": "sqlite://", "postgresql": "postgresql+psycopg://"}

_CHILD = """
import json, sys
from sqlalchemy import create_mock_engine
sys.path.insert(0, sys.argv[1])
import cds_service.app  # the previous release's app factory: every table module its create_all saw
from cds_service.store.base import Base
assert cds_service.app.__file__.startswith(sys.argv[1]), cds_service.app.__file__
assert not [t for t in Base.metadata.tables if t.startswith("sbx_")], "the sandbox is not the product"
out = {}
for name, url in json.loads(sys.argv[2]).items():
    statements = []
    engine = create_mock_engine(url, lambda sql, *a, **k: statements.append(str(sql.compile(dialect=engine.dialect)).strip()))
    Base.metadata.create_all(engine, checkfirst=False)
    out[name] = statements
print(json.dumps(out))
"""


def main(checkout: str, commit: str, out: Path = OUT) -> None:
    root = str(Path(checkout).resolve())
    done = subprocess.run([sys.executable, "-c", _CHILD, root, json.dumps(DIALECTS)], capture_output=True,
                          text=True, check=True, cwd=root)
    for dialect, statements in json.loads(done.stdout).items():
        header = (f"-- The schema of painpa at git commit {commit} (the release before Alembic migrations), as\n"
                  f"-- its Base.metadata.create_all created it on {dialect}: every product table, no sandbox table.\n"
                  f"-- Written by tests/migrations/dump_previous_release.py; do not edit.\n\n")
        (out / f"{dialect}.sql").write_text(header + "".join(s + ";\n\n" for s in statements))


if __name__ == "__main__":
    main(*sys.argv[1:3])
