# mlnotes: `make book` builds the book, `make test` runs every check. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
VENDOR := book/_static/vendor/.stamp
PORT ?= 8000
PYTEST_WORKERS ?= 2
# nbval re-runs every notebook under other CPU kernels than the build did (torch's unvectorised
# ATen kernels, oneDNN/MKL capped to SSE4, one thread): each `make test` checks every chapter
# on two kernel sets. `make book` on a reader's machine stays native.
BASELINE_CPU := ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2 OMP_NUM_THREADS=1

.PHONY: all book lab serve test lint format bench system-deps clean help

all: book

help:
	@echo "make book   build the HTML book into _build/html (creates .venv on first use)"
	@echo "make serve  serve _build/html on http://127.0.0.1:$(PORT)"
	@echo "make lab    open the first chapter in JupyterLab (MyST rendered by jupyterlab-myst)"
	@echo "make test   install test dependencies (chromium), build the book, run all tests"
	@echo "make bench  time the build, the tests, widgets and kernels against torch"

# --- environment --------------------------------------------------------------------------
# --no-compile: pip would byte-compile every module of every package (torch's thousands of
# them): 50 s of a fresh install becomes 28 s. Python compiles what it imports on first use.
$(INSTALLED): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-compile --no-deps -e .
	touch $@

$(VENDOR): tools/vendor_assets.sh
	bash tools/vendor_assets.sh
	touch $@

# --- the book -----------------------------------------------------------------------------
book: $(INSTALLED) $(VENDOR)
	@# jupyter-cache only hashes a notebook's own cells: drop it when the library changes.
	@mkdir -p _build
	@h=$$(find mlnotes_lib -type f \( -name '*.py' -o -name '*.pt' \) -print0 | sort -z \
	      | xargs -0 sha256sum | sha256sum | cut -d' ' -f1); \
	 if [ "$$(cat _build/.mlnotes_lib.sha256 2>/dev/null)" != "$$h" ]; then \
	   echo "mlnotes_lib changed: clearing the execution cache"; \
	   rm -rf _build/.jupyter_cache; echo "$$h" > _build/.mlnotes_lib.sha256; fi
	@# The build executes notebooks one by one; fill its cache one notebook per core first.
	$(BIN)/python tools/execute_parallel.py
	$(BIN)/jupyter-book build . -W --keep-going
	@echo
	@echo "The book is in _build/html: open _build/html/index.html, or run 'make serve'."

serve:
	@test -f _build/html/index.html || { echo "Run 'make book' first."; exit 1; }
	@echo "Serving the book on http://127.0.0.1:$(PORT) (Ctrl-C stops)"
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

# The chapters' markup ({cite}, {doc}, :::{note}, solution dropdowns) needs jupyterlab-myst.
FIRST_CHAPTER = $(shell $(BIN)/python -c "import yaml; t = yaml.safe_load(open('_toc.yml')); \
  print(t['parts'][0]['chapters'][0]['file'].removeprefix('book/') + '.ipynb')" 2>/dev/null)
lab: $(INSTALLED)
	@$(BIN)/python -c "import jupyterlab_myst" 2>/dev/null || { \
	  echo "jupyterlab-myst is missing (it renders the chapters' MyST markup): pip install jupyterlab-myst"; exit 1; }
	$(BIN)/jupyter lab --ServerApp.root_dir=book $(FIRST_CHAPTER) \
	  $(if $(filter 0,$(shell id -u)),--allow-root,)

# --- checks -------------------------------------------------------------------------------
system-deps:
	@# Debian's chromium drives the browser tests (never `playwright install`).
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-dejavu-core; }

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The nbval pass runs in a kernel whose kernelspec sets $(BASELINE_CPU), so tests/ and the
# notebooks share one pytest run (two workers, the longest modules first: see tests/conftest.py).
BASELINE_KERNEL := $(VENV)/share/jupyter/kernels/mlnotes-baseline/kernel.json
$(BASELINE_KERNEL): $(INSTALLED) Makefile
	@mkdir -p $(dir $@)
	$(BIN)/python -c 'import json, sys; env = dict(a.split("=", 1) for a in sys.argv[2:]); \
	  json.dump({"argv": [sys.argv[1], "-m", "ipykernel_launcher", "-f", "{connection_file}"], \
	  "display_name": "Python 3 (baseline CPU kernels)", "language": "python", "env": env}, \
	  open("$@", "w"), indent=1)' $(abspath $(BIN))/python $(BASELINE_CPU)

test: $(INSTALLED) system-deps lint book $(BASELINE_KERNEL)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder \
	  --nbval-lax --nbval-kernel-name mlnotes-baseline --durations=30 tests book

bench: $(INSTALLED) $(VENDOR)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf _build
