"""Speed: `legsense analyze` on an 8 h 50 Hz night, and the detector's cost per sample.

The machine is shared: the wall time is given with the analyze process's CPU time and
the load average, which say how much of it was waiting (bench/memory.py does the same
for 1-24 h nights)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

import numpy as np
from legsense.simulation.night_generator import simulate_night
from legsense.trace import to_counts, write_trace
from legsense_core.detector import DetectorConfig, LegMovementDetector


def analyze_8h(tmp: Path) -> dict:
    """Wall time of the real command line on an 8 h, 50 Hz trace (process start included)."""
    trace, _labels = simulate_night(42, 8.0, 50.0)
    path = tmp / "night-8h.csv"
    write_trace(path, trace)
    size_mb = path.stat().st_size / 1e6
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "legsense", "analyze", str(path), "--out", str(tmp / "out"), "-q"],
        check=True,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the analyze child alone
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "samples": len(trace.t_s),
        "trace_mb": round(size_mb, 1),
        "analyze_s": round(wall, 2),
        "analyze_cpu_s": round(cpu, 2),
        "load": round(os.getloadavg()[0], 2),
    }


def detector_cost(seconds_of_data: float = 600.0, rate: int = 50) -> dict:
    """CPython cost per sample of the portable detector alone (best of 3)."""
    trace, _ = simulate_night(7, seconds_of_data / 3600.0, rate)
    counts = to_counts(trace)
    n = len(counts.t_ms)
    ts = array("i", counts.t_ms.astype(np.int32).tobytes())
    acc = array("h", counts.acc.astype(np.int16).tobytes())
    gyr = array("h", counts.gyr.astype(np.int16).tobytes()) if counts.gyr is not None else None
    best = {}
    for label, g in (("accel+gyro", gyr), ("accel only", None)):
        times = []
        for _ in range(3):
            det = LegMovementDetector(
                DetectorConfig(rate_hz=rate), counts.accel_scale, counts.gyro_scale
            )
            t0 = time.perf_counter()
            det.process(ts, acc, g, n)
            det.finish()
            times.append(time.perf_counter() - t0)
        best[label] = round(min(times) / n * 1e6, 3)
    return {"samples": n, "us_per_sample": best}


def run() -> dict:
    with tempfile.TemporaryDirectory() as d:
        return {"analyze_8h_50hz": analyze_8h(Path(d)), "detector_cpython": detector_cost()}


def render(sp: dict) -> list[str]:
    """The README lines for these figures (bench/run_all.py puts them in their block)."""
    lines: list[str] = []
    if sp:
        a = sp["analyze_8h_50hz"]
        d = sp["detector_cpython"]["us_per_sample"]
        lines += [
            "| speed | value | target |",
            "|---|---|---|",
            f"| `legsense analyze`, 8 h at 50 Hz "
            f"({a['samples']:,} samples, {a['trace_mb']} MB CSV) "
            f"| {a['analyze_s']:.1f} s"
            + (
                f" ({a['analyze_cpu_s']:.1f} s CPU; machine load {a['load']:.1f} on 2 cores)"
                if "analyze_cpu_s" in a
                else ""
            )
            + " | <= 10 s |",
            f"| detector on CPython, accel+gyro | {d['accel+gyro']:.2f} us/sample "
            f"({1e6 / d['accel+gyro'] / 50 / 3600:.0f} h of 50 Hz data per second) | |",
            f"| detector on CPython, accel only | {d['accel only']:.2f} us/sample | |",
            "",
        ]
    return lines
