"""The firmware's runtime heap while recording stays well inside its budget.

Issue 3's budget: the app needs at most 64 KB of MicroPython heap while recording. With
the firmware frozen into the image (firmware/manifest.py) the heap holds the app's data,
not its bytecode, so the data of a recording night is what must stay small: here it may
take at most half the budget.

The firmware runs on the real MicroPython VM (the virtual board) with a heap probe as
its /boot.py (bench/heap_probe_boot.py): every 2 s of simulated time it lets the VM
collect garbage and logs gc.mem_alloc(). The night's runtime data is the live heap while
recording minus the live heap idle before the night. Measured: about 1.7 KB (the
detector, the night log's buffers and the raw recorder's state; the sampler and IMU
driver exist from boot). bench/virtual_board.py gives the whole budget table.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from legsense.simulation.micropython_vm import unavailable_reason
from legsense.simulation.night_generator import simulate_night
from legsense.simulation.vm_board.board import VirtualBoard, seed_flash
from legsense.trace import Trace

pytestmark = pytest.mark.micropython

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
PROBE = REPO / "bench" / "heap_probe_boot.py"
LEGSENSE = [sys.executable, "-m", "legsense"]
RUNTIME_LIMIT = 32 * 1024  # half the 64 KB budget
SPEED = 40.0
IDLE_S = 30.0
RECORD_S = 120.0


def cli(*args: str) -> None:
    done = subprocess.run([*LEGSENSE, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"legsense {' '.join(args)}: {done.stderr.strip()}"


def flash_with_probe(state: Path) -> None:
    """The firmware as `make flash` deploys it, a 52 Hz gyro config, the probe as boot.py."""
    seed_flash(state)
    for src in FIRMWARE.rglob("*"):
        rel = src.relative_to(FIRMWARE)
        if "__pycache__" in rel.parts or not src.is_file():
            continue
        if src.suffix == ".py" or (rel.parts[0] == "boards" and src.suffix == ".json"):
            (state / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, state / rel)
    (state / "config.json").write_text(json.dumps({"board": "virtual", "odr_hz": 52}))
    shutil.copy(PROBE, state / "boot.py")


def live_heap(probe_text: str) -> tuple[list[int], list[int]]:
    """Live heap (after a collection) idle before the first night, and while recording."""
    idle, recording = [], []
    for line in probe_text.splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue  # the module list
        state, after = parts[1], int(parts[3])
        if state == "recording":
            recording.append(after)
        elif state == "idle" and not recording:
            idle.append(after)
    return idle, recording


def test_recording_night_runtime_heap_is_under_half_the_budget(tmp_path):
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    gen, _labels = simulate_night(3, (RECORD_S + 30.0) / 3600.0, 52.0)
    n = len(gen.t_s)
    trace = Trace(t_s=np.arange(n) / 52.0, acc_g=gen.acc_g, gyr_dps=gen.gyr_dps, meta=gen.meta)
    state = tmp_path / "flash"
    flash_with_probe(state)
    with VirtualBoard(trace, state, speed=SPEED) as board:
        cli("status", "--port", board.port)
        board.wait_world_ms(board.world_ms() + IDLE_S * 1000.0)
        cli("start", "--port", board.port)
        start = board.trace_start_ms
        assert start is not None
        board.wait_world_ms(start + RECORD_S * 1000.0)
        cli("stop", "--port", board.port)
        board.wait_world_ms(board.world_ms() + 12000.0)  # the probe writes its lines
        assert board.resets == []
    idle, recording = live_heap((state / "heap_probe.txt").read_text())
    assert len(idle) >= 5 and len(recording) >= 20, (len(idle), len(recording))
    runtime = statistics.median(recording[2:]) - statistics.median(idle)
    # The night does allocate (a detector alone is about 1 KB), so a probe that saw
    # nothing would fail here rather than pass vacuously.
    assert 512 <= runtime <= RUNTIME_LIMIT, runtime
