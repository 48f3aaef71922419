# kerasgene: `make demo` and `make test` create .venv and install everything on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast bench lint install clean

install: $(STAMP)

$(STAMP): requirements.txt setup.cfg pyproject.toml
	@# docker-compose (Debian) validates serving/docker-compose.yml; no Docker engine is needed
	command -v docker-compose >/dev/null || [ "$$(id -u)" != 0 ] || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps alibi==0.9.6
	$(PIP) install --quiet --no-deps -e .
	@# memelite's Tomtom / FIMO kernels compiled once into numba's on-disk cache
	$(PY) -c "from kerasgene.explain.motifs import compile_kernels; compile_kernels()"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/kerasgene demo --out demo_out

# two pytest-xdist workers: the one that takes tests/test_demo.py trains the shared demo run
# (two systems at a time itself) while the other runs the rest; the other tests that read
# the run come last (tests/conftest.py); each module goes whole to one worker
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadscope --no-loadscope-reorder tests

# the edit-test loop, under pytest-xdist (one worker per core, at most 4): all but the tests
# that train a whole system (marker `demo`) or start processes / train whole runs and
# searches (marker `slow`)
test-fast: $(STAMP)
	$(PY) -m pytest -q -n auto --maxprocesses 4 -m "not demo and not slow" tests

bench: $(STAMP)
	for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check kerasgene tests bench

clean:
	rm -rf $(VENV) demo_out .pytest_cache
