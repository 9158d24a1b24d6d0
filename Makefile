# painpa — two commands on a fresh machine: `make sandbox` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Lock files: every package pip installs, at an exact version with its hashes, resolved from
# pyproject.toml for Python 3.11 on any platform. requirements/dev.txt (the dev extra too) is what
# `make install` and so CI install; requirements/prod.txt is what deploy/Containerfile installs. Both
# also pin the build backend (pyproject.toml [build-system]), which builds painpa itself with nothing
# fetched unpinned. After changing dependencies in pyproject.toml, run `make lock`: it keeps every
# other pin as it is. `make lock UPGRADE=1` moves every package to its newest allowed release.
LOCK_DEV   := requirements/dev.txt
LOCK_PROD  := requirements/prod.txt
UV_VERSION := 0.13.9

.PHONY: install lock sandbox serve test lint fmt bench soak clean

$(STAMP): pyproject.toml $(LOCK_DEV)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK_DEV)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $(STAMP)

install: $(STAMP)

# uv (pinned above) resolves, from a throw-away venv: the project's venv gets no lock tool.
lock:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp/venv" && "$$tmp/venv/bin/pip" install --quiet uv==$(UV_VERSION) && \
	build=$$("$$tmp/venv/bin/python" -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')") && \
	for lock in $(LOCK_PROD) $(LOCK_DEV); do \
	  echo "$$build" | "$$tmp/venv/bin/uv" pip compile --quiet pyproject.toml - \
	    $$([ $$lock = $(LOCK_DEV) ] && echo --extra dev) $(if $(UPGRADE),--upgrade) \
	    --universal --python-version 3.11 --generate-hashes --custom-compile-command 'make lock' \
	    -o $$lock || exit 1; \
	done

sandbox: $(STAMP)
	$(BIN)/painpa sandbox

serve: $(STAMP)
	$(BIN)/painpa serve

lint: $(STAMP)
	$(BIN)/ruff check .

fmt: $(STAMP)
	$(BIN)/ruff check --fix .

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench

soak: $(STAMP)
	$(BIN)/python -m pytest -m slow

clean:
	rm -rf $(VENV) instance .pytest_cache tests/artifacts
