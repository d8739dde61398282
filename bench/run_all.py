"""`make bench` / `make faults`: run the benchmarks or the fault campaigns, print the
figures, write them into README.md.

Each benchmark is a module with `run() -> dict` (what it measured) and
`render(result) -> list[str]` (README lines). Its figures live in their own README block,
between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->` inside its group's
section (`<!-- bench:start -->`..`<!-- bench:end -->` for `bench`,
`<!-- faults:start -->`..`<!-- faults:end -->` for `faults`), so running one benchmark
(`--only NAME`) rewrites only its own block and no figure there is older than the last
run of the benchmark that made it. Results are also kept in bench/out/NAME.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
README = ROOT / "README.md"

# name -> (group, module, what it does, keyword arguments for run()). Order = README order.
BENCHES: dict[str, tuple[str, str, str, dict]] = {
    "accuracy": ("bench", "bench.accuracy", "detection accuracy over synthetic nights", {}),
    "speed": ("bench", "bench.speed", "analyze of an 8 h 50 Hz night, detector per sample", {}),
    "memory": ("bench", "bench.memory", "peak RSS and time of analyze, 1-24 h at 50/100 Hz", {}),
    "sync": ("bench", "bench.sync_throughput", "a typical night over a paced pty", {}),
    "ble": ("bench", "bench.ble_efficiency", "protocol efficiency over a Bumble link", {}),
    "virtual_board": ("bench", "bench.virtual_board", "detector, app, heap, flash on the VM", {}),
    "cohort": ("bench", "bench.cohort", "report, export, query, reanalyze over cohorts", {}),
    "bilateral": (
        "bench",
        "bench.bilateral",
        "two virtual boards on two ankles, opposite crystal errors: alignment of the legs",
        {},
    ),
    "power": (
        "bench",
        "bench.power_duty",
        "MCU duty cycle over a night that light-sleeps between FIFO bursts (VM, calibrated)",
        {},
    ),
    "imu_power": (
        "bench",
        "bench.imu_power_modes",
        "LSM6DSOX power modes (gyro off, low-power accelerometer) over the accuracy nights",
        {},
    ),
    "faults_device_resets": (
        "faults",
        "bench.faults_device_resets",
        "resets of each kind at random moments of recorded nights (CPython board, VM sample)",
        {},
    ),
    "faults_device_flash": (
        "faults",
        "bench.faults_device_flash",
        "power cuts and bit flips in night logs, re-flashing",
        {},
    ),
    "faults_device_littlefs": (
        "faults",
        "bench.faults_device_littlefs",
        "small state files on a full LittleFS (needs littlefs-python)",
        {},
    ),
    "host_hostile": ("faults", "bench.faults_host_hostile", "hostile devices against sync", {}),
    "host_kill": ("faults", "bench.faults_host_kill", "syncs SIGKILLed at random points", {}),
    "host_fuzz": ("faults", "bench.faults_host_fuzz", "fuzzed frames into the host", {}),
}
GROUPS = ("bench", "faults")


def section_markers(group: str) -> tuple[str, str]:
    return f"<!-- {group}:start -->", f"<!-- {group}:end -->"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def block_markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def render_block(name: str, result: dict, render: Callable[[dict], list[str]]) -> str:
    start, end = block_markers(name)
    head = f"*{name}: measured {result['date']} on {result['machine']}.*"
    return "\n".join([start, head, "", *render(result), end])


def update_readme(name: str, block: str, readme: Path = README) -> bool:
    """Replace the named block in its group's README section (added at its end if new)."""
    text = readme.read_text()
    START, END = section_markers(BENCHES[name][0])
    if START not in text or END not in text:
        return False
    start, end = block_markers(name)
    if start in text and end in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _m: block, text, flags=re.S)
    else:
        text = text.replace(END, block + "\n\n" + END)
    readme.write_text(text)
    return True


def run_one(name: str, write_readme: bool = True, **kwargs) -> dict:
    """Run one benchmark, keep its result in bench/out and its block in the README."""
    _group, module_name, what, defaults = BENCHES[name]
    module = importlib.import_module(module_name)
    print(f"{name}: {what} ...", flush=True)
    t0 = time.perf_counter()
    result = module.run(**{**defaults, **kwargs})
    result["date"] = datetime.now(UTC).strftime("%Y-%m-%d")
    result["machine"] = machine()
    result["bench_s"] = round(time.perf_counter() - t0, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    block = render_block(name, result, module.render)
    print(block)
    if write_readme and update_readme(name, block):
        print(f"README.md: {name} block updated")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--group", choices=GROUPS, default="bench")
    p.add_argument("--only", choices=sorted(BENCHES), action="append", default=None)
    p.add_argument("--no-readme", action="store_true")
    args = p.parse_args(argv)
    names = args.only or [n for n, b in BENCHES.items() if b[0] == args.group]
    for name in names:
        run_one(name, write_readme=not args.no_readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
