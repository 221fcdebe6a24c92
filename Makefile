# Two commands: `make demo` (set up, then serve the demo on SQLite at http://127.0.0.1:8000;
# `make demo PORT=8080` for another port)
# and `make test` (set up, then run the whole test suite; it prints its 15 slowest tests).
# `make check`: ruff (lint and format) and `mypy --strict` over service/, clustering/, judges/.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test setup browser check typecheck bench clean

$(BIN)/axial: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "could not create a venv: on Debian run 'apt-get install python3-venv'"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	@touch $(BIN)/axial

setup: $(BIN)/axial

PORT ?= 8000

demo: setup
	$(BIN)/axial --db sqlite:///axial-demo.db serve --demo --host 127.0.0.1 --port $(PORT)

# Browser tests drive Debian's chromium; install it when missing (needs root or sudo).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

# One pytest worker per core (pytest-xdist); a test file stays on one worker, in order, the
# files that fit UMAP share one worker, and the longest files start first (tests/conftest.py).
test: setup browser
	$(BIN)/python -m pytest -q -n auto --dist loadfile

check: setup
	$(BIN)/ruff check clustering judges service review_ui tests bench
	$(BIN)/ruff format --check clustering judges service review_ui tests bench
	$(MAKE) --no-print-directory typecheck

# mypy --strict over the libraries and the service (also pyproject.toml's [tool.mypy] files);
# .ci/run runs it before the tests.
typecheck: setup
	$(BIN)/mypy --strict service clustering judges

clean:
	rm -rf $(VENV) axial-demo.db* tests/artifacts .mypy_cache
