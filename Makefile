# The README's two commands: `make demo` and `make test`. Both set up .venv first (plain pip; torch CPU wheel first).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nwb-dyn-installed

.PHONY: setup demo test docs clean chromium neurosift-check

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test,docs]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py --out demo-out

# Headless Chromium for the report's page-load test, from the Debian package: installed only when missing and we are
# root; otherwise (or when apt fails) nothing is stamped and that test skips, saying how to get Chromium.
CHROMIUM_STAMP := $(VENV)/.chromium

chromium: $(CHROMIUM_STAMP)

$(CHROMIUM_STAMP):
	@mkdir -p $(VENV)
	@if [ -x /usr/bin/chromium ]; then touch $@; \
	elif [ "$$(id -u)" = 0 ] && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; then \
		touch $@; \
	else echo "nwb-dyn: headless Chromium is not installed (needs root and apt); the report's browser test will skip"; fi

test: $(STAMP) $(CHROMIUM_STAMP)
	DANDI_NO_ET=1 $(PY) -m pytest

# What Neurosift shows of both model families' outputs of MC_Maze_Small (not in CI: needs Chromium and
# ../shared/tools/neurosift-check); prints one JSON line per family with the check's summary.
neurosift-check: $(STAMP)
	$(PY) benchmarks/neurosift_check.py

docs: $(STAMP)
	$(PY) -m mkdocs build --strict

clean:
	rm -rf $(VENV) demo-out site
