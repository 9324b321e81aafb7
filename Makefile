# PitBox developer entry points. `make demo` and `make test` work on a fresh Debian/Ubuntu machine
# with Python 3.11+; everything else they need is installed by the targets themselves.

PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
# Written after a successful `pip install -e ".[dev]"`; older than pyproject.toml -> reinstall.
VENV_STAMP := $(VENV)/.pitbox-installed
PYTEST_ARGS ?=
# Two workers: the side lane (tests/conftest.py: the five-minute Qt guard, the recognition run)
# beside everything else, in order. PYTEST_WORKERS=0 runs the suite in one process.
PYTEST_WORKERS ?= 2
PYTEST_LANES := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadgroup)
# Screen for tests under xvfb-run: 24-bit colour (xvfb-run's default is 8-bit, bad for screenshots).
XVFB_SCREEN ?= 1920x1080x24

# Tests that do not need a real X display render offscreen; a test that needs one (xcb under
# Xvfb) sets QT_QPA_PLATFORM=xcb itself. A value already in the environment wins.
QT_QPA_PLATFORM ?= offscreen
export QT_QPA_PLATFORM
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Prerequisites run in the order written (system packages before the venv, venv before tests).
.NOTPARALLEL:
.PHONY: venv system-deps demo test lint bench dist dist-deps clean distclean

venv: $(VENV_STAMP)

$(VENV_PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "error: '$(PYTHON)' not found. PitBox needs Python >= 3.11: install it, or name it with" >&2; \
	  echo "       make PYTHON=python3.11 $(MAKECMDGOALS)" >&2; \
	  exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "error: PitBox needs Python >= 3.11; '$(PYTHON)' is $$($(PYTHON) --version 2>&1)." >&2; \
	  echo "       Install python3.11 (or newer) and run: make PYTHON=python3.11 $(MAKECMDGOALS)" >&2; \
	  exit 1; }
	$(PYTHON) -m venv $(VENV) || { \
	  echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu install python3-venv (or run 'make system-deps' as root)." >&2; \
	  rm -rf $(VENV); exit 1; }

$(VENV_STAMP): pyproject.toml | $(VENV_PY)
	@$(VENV_PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "error: $(VENV) uses $$($(VENV_PY) --version 2>&1); PitBox needs >= 3.11. Remove $(VENV) and rerun." >&2; \
	  exit 1; }
	$(VENV_PY) -m pip install --quiet --upgrade pip
	$(VENV_PY) -m pip install --quiet -e ".[dev]"
	@touch $@

system-deps:
	bash scripts/install-system-deps.sh

demo: venv
	$(VENV)/bin/pitbox demo --headless --laps 2 --speed 30

# The whole suite, slow tests included, under a virtual X server when xvfb-run is there.
test: system-deps venv
	@$(VENV_PY) -c 'import pynput' 2>/dev/null || $(VENV_PY) -m pip install --quiet "pynput>=1.7.6" || \
	  echo "note: pynput did not install (it compiles evdev: gcc and Python headers); the key-hook test will skip" >&2
	@if command -v xvfb-run >/dev/null 2>&1; then \
	  echo "QT_QPA_PLATFORM=$$QT_QPA_PLATFORM xvfb-run -a $(VENV_PY) -m pytest $(PYTEST_LANES) $(PYTEST_ARGS)"; \
	  xvfb-run -a -s "-screen 0 $(XVFB_SCREEN)" $(VENV_PY) -m pytest $(PYTEST_LANES) $(PYTEST_ARGS); \
	else \
	  echo "note: xvfb-run not found (run 'make system-deps' as root); tests needing an X display will skip" >&2; \
	  echo "QT_QPA_PLATFORM=$$QT_QPA_PLATFORM $(VENV_PY) -m pytest $(PYTEST_LANES) $(PYTEST_ARGS)"; \
	  $(VENV_PY) -m pytest $(PYTEST_LANES) $(PYTEST_ARGS); \
	fi

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Each tests/bench/bench_*.py runs standalone; its last output line is a JSON summary
# {"bench", "metrics", "goals", "met"}. Full output goes to tests/artifacts/bench/NAME.log.
bench: venv
	@mkdir -p tests/artifacts/bench
	@status=0; found=0; \
	for f in tests/bench/bench_*.py; do \
	  [ -e "$$f" ] || continue; found=1; \
	  name=$$(basename "$$f" .py); log=tests/artifacts/bench/$$name.log; \
	  echo "== $$name (full output: $$log)"; \
	  if PYTHONPATH=$(CURDIR) $(VENV_PY) "$$f" >"$$log" 2>&1; then \
	    tail -n 1 "$$log"; \
	  else \
	    echo "FAILED (exit $$?); last lines:"; tail -n 20 "$$log"; status=1; \
	  fi; \
	done; \
	[ $$found = 1 ] || echo "no benchmarks in tests/bench/"; \
	exit $$status

# The executable bundle (build.spec, PyInstaller one-folder): $(DIST_DIR)/pitbox/pitbox and pitbox-relay
# (PitBox.exe and pitbox-relay.exe in $(DIST_DIR)/PitBox on Windows, see installer/README.md).
# Check it with `$(DIST_DIR)/pitbox/pitbox --self-test`.
DIST_DIR ?= dist
DIST_WORK_DIR ?= build/pyinstaller

# PyInstaller comes from pyproject.toml's `dist` extra.
dist-deps: venv
	@$(VENV_PY) -c 'import PyInstaller' 2>/dev/null || $(VENV_PY) -m pip install --quiet -e ".[dist]"

dist: dist-deps
	$(VENV_PY) -m PyInstaller --noconfirm --log-level WARN --distpath "$(DIST_DIR)" --workpath "$(DIST_WORK_DIR)" build.spec
	@$(VENV_PY) -c 'import os, sys; root = sys.argv[1]; \
	  size = sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(root) for f in fs); \
	  print(f"bundle: {root}, {size / 1e6:.1f} MB unpacked")' "$(DIST_DIR)/pitbox"

# Build output, caches and test artifacts; `make distclean` also removes the venv.
clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis tests/artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
