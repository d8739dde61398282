"""`make demo`: a synthetic night on the virtual board, end to end.

Simulates a night, starts a virtual board (the firmware on the MicroPython VM) replaying
it at high speed, deploys the firmware with `make flash`, records the night, syncs it
with `legsense sync` and prints the night summary and the picture's path. Without
Node.js or the MicroPython package it says so and analyses the trace offline instead.
Runs the product's own commands, exactly as a user would type them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from legsense.cli import main as legsense


def simulate(out: Path, seed: int, hours: float, rate: float) -> Path | None:
    """Write the synthetic night; its path, or None when that failed."""
    trace = out / f"night-seed{seed}.csv"
    print(
        f"$ legsense simulate-night --seed {seed} --hours {hours:g} --rate {rate:g} --out {trace}"
    )
    status = legsense(
        [
            "simulate-night",
            "--seed",
            str(seed),
            "--hours",
            str(hours),
            "--rate",
            str(rate),
            "--start-utc",
            "2026-11-21T22:30:00+00:00",
            "--out",
            str(trace),
        ]
    )
    return None if status else trace


def print_summary(night: Path) -> None:
    summary = json.loads((night / "summary.json").read_text())
    keys = [
        "recording_hours",
        "lm_count",
        "clm_count",
        "plm_count",
        "plm_series_count",
        "lm_index",
        "plm_index",
        "periodicity_index",
        "index_basis",
    ]
    print("\nNight summary (WASM/IRLSSG 2016):")
    for k in keys:
        print(f"  {k:18} {summary.get(k)}")
    print(f"\nPicture of the night: {(night / 'night.png').resolve()}")


def run_offline(out: Path, seed: int, hours: float, rate: float) -> int:
    out.mkdir(parents=True, exist_ok=True)
    trace = simulate(out, seed, hours, rate)
    if trace is None:
        return 1
    night = out / f"night-seed{seed}"
    print(f"$ legsense analyze {trace} --out {night}")
    status = legsense(["analyze", str(trace), "--out", str(night)])
    if status:
        return status
    print_summary(night)
    return 0


def _sh(args: list[str], shown: str) -> None:
    print(f"$ {shown}", flush=True)
    subprocess.run(args, check=True)


def run_virtual_board(out: Path, seed: int, hours: float, rate: float, speed: float) -> int:
    from legsense.simulation.vm_board.board import VirtualBoard
    from legsense.trace import read_trace

    out.mkdir(parents=True, exist_ok=True)
    trace_path = simulate(out, seed, hours, rate)
    if trace_path is None:
        return 1
    state = out / "virtual-board"
    shutil.rmtree(state, ignore_errors=True)  # a fresh board: MicroPython, no firmware yet
    synced = out / "synced"
    cmd = [sys.executable, "-m", "legsense"]
    print(f"$ legsense sim --trace {trace_path} --speed {speed:g} --state {state} &")
    with VirtualBoard(read_trace(trace_path), state, speed=speed) as board:
        port = board.port
        print(port, flush=True)
        _sh(["make", "--no-print-directory", "flash", f"PORT={port}", "MIP_DEPS="],
            f"make flash PORT={port}")  # fmt: skip
        # Set the clock first, as at the bedside: the night is dated and its events in UTC.
        # The clock log goes beside the nights it dates, in the demo's own folder.
        _sh([*cmd, "time", "--port", port, "--set", "--out", str(synced)],
            f"legsense time --port {port} --set --out {synced}")  # fmt: skip
        _sh([*cmd, "start", "--port", port], f"legsense start --port {port}")
        start = board.trace_start_ms
        if start is None:
            print("demo: the board did not switch its IMU on", file=sys.stderr)
            return 1
        length_s = hours * 3600.0
        print(f"(recording {hours:g} h of night at {speed:g}x: {length_s / speed:.0f} s)")
        while board.world_ms() < start + length_s * 1000.0 + 1000.0:
            time.sleep(0.5)
            if board.failure:
                print(f"demo: {board.failure}", file=sys.stderr)
                return 1
        _sh([*cmd, "stop", "--port", port], f"legsense stop --port {port}")
        before = night_folders(synced)
        _sh([*cmd, "sync", "--port", port, "--out", str(synced)],
            f"legsense sync --port {port} --out {synced}")  # fmt: skip
    made = new_nights(before, night_folders(synced))
    if len(made) != 1:
        print(
            f"demo: expected the sync to write one new night, it wrote {len(made)}", file=sys.stderr
        )
        return 1
    print_summary(made[0])
    return 0


def night_folders(root: Path) -> dict[Path, int]:
    """Every night folder under root with its summary's modification time (ns)."""
    return {p.parent: p.stat().st_mtime_ns for p in root.rglob("summary.json")}


def new_nights(before: dict[Path, int], after: dict[Path, int]) -> list[Path]:
    """The night folders a run created or rewrote: the night it just made, not the last
    folder by name (a board flashed afresh restarts its night ids, the dates repeat)."""
    return sorted(p for p, t in after.items() if before.get(p) != t)


def run(out: Path, seed: int, hours: float, rate: float, speed: float = 60.0) -> int:
    """The virtual-board demo, or the offline one when the VM cannot run here."""
    from legsense.simulation.micropython_vm import unavailable_reason

    reason = unavailable_reason()
    if reason:
        print(f"demo: no virtual board ({reason}); analysing the night offline instead")
        return run_offline(out, seed, hours, rate)
    try:
        return run_virtual_board(out, seed, hours, rate, speed)
    except subprocess.CalledProcessError as e:
        print(f"demo: {' '.join(map(str, e.cmd))} failed (status {e.returncode})", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="legsense-demo", description=__doc__)
    p.add_argument("--out", type=Path, default=Path("demo-output"))
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--hours", type=float, default=0.5)
    p.add_argument("--rate", type=float, default=52.0)
    p.add_argument("--speed", type=float, default=60.0)
    p.add_argument("--offline", action="store_true", help="skip the virtual board")
    a = p.parse_args(argv)
    if a.offline:
        status = run_offline(a.out, a.seed, a.hours, a.rate)
    else:
        status = run(a.out, a.seed, a.hours, a.rate, a.speed)
    if status == 0:  # weeks of nights: a few more beside this one, a diary, the trend report
        from legsense.weeks_demo import several_nights

        status = several_nights(a.out)
    return status


if __name__ == "__main__":
    sys.exit(main())
