"""Fault campaign: resets at random moments of recorded nights (issue 10, item 8).

For each kind of reset (the watchdog after a hang, machine.reset(), an exception in the
sampling task, MemoryError, a brownout, a power cut), with fixed seeds, nights of a
synthetic PLMD trace run through the unchanged firmware on the CPython board (volume)
and a sample on the MicroPython VM board, with resets injected at random moments: nights
of a few minutes with four resets each, 30-60 s apart (the reset-loop guard counts
five resets within ten minutes of one night, so it stays out of it; it has its own test).
Each night records its raw samples (config raw_samples), so "the same samples" are known
exactly. Per kind it reports:

* resets injected and nights resumed;
* seconds of night not recorded per reset (the "resumed" marker's value; the target is
  the boot time, a few seconds; a hang adds the watchdog's timeout before the reset);
* nights split (a night in more than one file) or lost (no closed night file);
* events within the recorded stretches equal to `legsense analyze`'s detector on the
  same samples (the raw samples of each stretch), exactly: mismatches (target 0), and
  the events a reset cut (the movement in progress at the reset, at most one per reset);
* for a power cut, which cannot resume (no clock after a power-on): the night is closed
  by recovery and the events finished before the cut but lost with the RAM buffer.
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
import struct
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from legsense.analysis import detect, detector_config_for
from legsense.simulation.device_runner import DeviceRunner
from legsense.simulation.night_generator import simulate_night
from legsense.simulation.sim_board import BOARDS_DIR, SimBoard
from legsense.trace import CountsTrace, Trace
from legsense_core import records

KINDS = ("watchdog", "hard", "exception", "memory", "brownout", "power cut")
RATE_HZ = 12.5  # the lowest ODR: the campaign's volume is in resets, not samples
GAP_S = (30.0, 60.0)  # between two resets (and after the last, before the stop)
RESETS_PER_NIGHT = 4  # below the reset-loop guard's 5
START_S = 2.0
UTC0 = 1_795_000_000_000


def _trace(hours: float, seed: int) -> Trace:
    gen, _ = simulate_night(seed, hours, RATE_HZ, imu="lsm6dsox")
    n = len(gen.t_s)  # on the IMU's exact grid, as the emulator samples it
    return Trace(t_s=np.arange(n) / RATE_HZ, acc_g=gen.acc_g, gyr_dps=None, meta=gen.meta)


def _flash(root: Path) -> None:
    shutil.copytree(BOARDS_DIR, root / "boards")
    cfg = {"board": "virtual", "odr_hz": RATE_HZ, "gyro": False, "raw_samples": True}
    (root / "config.json").write_text(json.dumps(cfg))


def _night_files(root: Path) -> list[Path]:
    return sorted((root / "nights").glob("*.log"))


def check_night(data: bytes) -> dict:
    """Stretches of one night log (split at each resume), each stretch's events against
    the detector on the stretch's raw samples. Returns the figures."""
    reader = records.iter_records(data)
    recs: list[tuple[int, Any]] = [(t, p) for _o, t, p in reader]
    header: dict[str, Any] = dict(zip(records.NIGHT_FIELDS, recs[0][1], strict=True))
    rate = header["rate_mhz"] / 1000.0
    bounds = [0]
    gaps = []
    causes = []
    for t, p in recs:
        if t == records.T_MARKER and p[1] == records.M_RESUMED:
            bounds.append(p[0])
            gaps.append(p[2])
            causes.append(p[3])
    bounds.append(1 << 40)
    events = [p for t, p in recs if t == records.T_EVENT]
    ts_parts, rows = [], []
    for t, p in recs:
        if t == records.T_RAW:
            t_ms, n, codec, chunk = p
            plain = zlib.decompress(bytes(chunk)) if codec == records.RAW_DEFLATE else bytes(chunk)
            fmt = records.raw_row_format(len(plain), n)
            assert fmt is not None, "a raw chunk that does not decode"
            table = np.array(list(struct.iter_unpack(fmt, plain)), dtype=np.int64)
            ts_parts.append(t_ms + table[:, 0])
            rows.append(table[:, 1:4])
    t_all = np.concatenate(ts_parts) if ts_parts else np.zeros(0, dtype=np.int64)
    acc_all = np.concatenate(rows) if rows else np.zeros((0, 3), dtype=np.int64)
    mismatches = 0
    cut = 0
    compared = 0
    for a, b in itertools.pairwise(bounds):
        sel = (t_all >= a) & (t_all < b)
        if not sel.any():
            continue
        counts = CountsTrace(
            t_ms=t_all[sel],
            acc=acc_all[sel].astype(np.int16),
            gyr=None,
            accel_scale=header["accel_scale"],
            gyro_scale=header["gyro_scale"],
            imu=header["imu"],
        )
        ref = detect(counts, detector_config_for(rate)).movements
        want = [
            (round(x * 1000), round(y * 1000))
            for x, y in zip(ref.onset_s, ref.offset_s, strict=True)
        ]
        got = [(e[0], e[1]) for e in events if a <= e[0] < b]
        compared += len(got)
        if got != want[: len(got)] or len(want) - len(got) > 1:
            mismatches += 1
        cut += len(want) - len(got)
    last = recs[-1]
    closed = last[0] == records.T_MARKER and last[1][1] in records.ENDING_MARKERS
    return {
        "resumes": len(gaps),
        "gaps_ms": gaps,
        "causes": causes,
        "events": compared,
        "mismatched_stretches": mismatches,
        "events_cut": cut,
        "closed": closed,
        "end_code": last[1][1] if last[0] == records.T_MARKER else 0,
        "reader_error": reader.reason,
    }


def _window(night: Trace, seconds: float, rng: random.Random) -> Trace:
    """A random stretch of a long night, re-timed from 0 (nights of minutes taken from
    all hours of a night, not only its first minutes)."""
    n = int(seconds * RATE_HZ) + 2
    start = rng.randrange(0, max(1, len(night.t_s) - n))
    acc = night.acc_g[start : start + n]
    return Trace(t_s=np.arange(len(acc)) / RATE_HZ, acc_g=acc, gyr_dps=None, meta=night.meta)


def _cpython_kind(kind: str, resets: int, seed: int, work: Path, night_trace: Trace) -> dict:
    rng = random.Random(f"{seed}-{kind}")
    done = 0
    nights = 0
    files = 0
    split = 0
    lost = 0
    gaps: list[int] = []
    mismatches = 0
    events = 0
    cut = 0
    causes: dict[str, int] = {}
    lost_at_cut: list[int] = []
    t0 = time.perf_counter()
    while done < resets:
        per_night = 1 if kind == "power cut" else min(RESETS_PER_NIGHT, resets - done)
        times = []
        t = START_S
        for _ in range(per_night):
            t += rng.uniform(*GAP_S)
            times.append(t)
        end_s = t + rng.uniform(*GAP_S)
        root = work / f"{kind.replace(' ', '_')}-{nights}"
        root.mkdir(parents=True)
        _flash(root)
        trace = _window(night_trace, end_s + 10.0, rng)
        board = SimBoard("virtual", trace=trace, trace_start_ms=int(START_S * 1000) + 1)
        runner = DeviceRunner(board, root)
        finished = []

        def note(app, finished=finished):
            finished.append(app.sampler.events if app.sampler is not None else 0)

        timeline: list[tuple[float, Any]] = [
            (1.0, lambda app: app.set_time(UTC0)),
            (START_S, lambda app: app.start("host")),
        ]
        for t in times:
            timeline.append((t, note))
            timeline.append((t, runner.inject(kind)))
        timeline.append((end_s, lambda app: app.stop("host")))
        runner.run(end_s + 1.0, timeline)
        nights += 1
        done += per_night
        logs = _night_files(root)
        files += len(logs)
        if not logs:
            lost += 1
            continue
        split += max(0, len(logs) - 1)
        got = check_night(logs[0].read_bytes())
        if not got["closed"] or got["reader_error"]:
            lost += 1
        gaps += got["gaps_ms"]
        for c in got["causes"]:
            causes[c] = causes.get(c, 0) + 1
        mismatches += got["mismatched_stretches"]
        events += got["events"]
        cut += got["events_cut"]
        if kind == "power cut":
            logged = sum(
                1
                for _o, t, _p in records.iter_records(logs[0].read_bytes())
                if t == records.T_EVENT
            )
            lost_at_cut.append(max(0, finished[0] - logged))
        shutil.rmtree(root)
    out = {
        "board": "cpython",
        "resets": done,
        "nights": nights,
        "night_files": files,
        "nights_split": split if kind != "power cut" else 0,
        "nights_lost": lost,
        "resumed": len(gaps),
        "causes": causes,
        "gap_s_mean": round(float(np.mean(gaps)) / 1000, 2) if gaps else None,
        "gap_s_max": round(max(gaps) / 1000, 2) if gaps else None,
        "events_compared": events,
        "stretch_mismatches": mismatches,
        "events_cut_by_resets": cut,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if kind == "power cut":
        out["events_lost_at_cut_mean"] = round(float(np.mean(lost_at_cut)), 2)
        out["events_lost_at_cut_max"] = int(max(lost_at_cut))
    return out


def _vm_sample(per_kind: int, seed: int, work: Path) -> dict:
    """A few resets of each kind on the MicroPython VM board (the real VM)."""
    from legsense.simulation.micropython_vm import unavailable_reason

    if unavailable_reason():
        return {"skipped": unavailable_reason()}
    import subprocess
    import sys

    from legsense.simulation.vm_board.board import VirtualBoard

    rng = random.Random(seed)
    firmware = Path(__file__).resolve().parents[1] / "firmware"
    state = work / "vm"
    state.mkdir(parents=True)
    for src in firmware.rglob("*"):
        rel = src.relative_to(firmware)
        if "__pycache__" in rel.parts or not src.is_file() or rel.name == "manifest.py":
            continue
        if src.suffix == ".py" or (rel.parts[0] == "boards" and src.suffix == ".json"):
            (state / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, state / rel)
    cfg = {"board": "virtual", "odr_hz": RATE_HZ, "gyro": False, "raw_samples": True}
    (state / "config.json").write_text(json.dumps(cfg))
    kinds = [k for k in KINDS if k != "power cut"] * per_kind
    rng.shuffle(kinds)
    hours = (len(kinds) + 3) * 60.0 / 3600.0 + 0.05
    trace = _trace(hours, seed=rng.randrange(1 << 30))
    cli = [sys.executable, "-m", "legsense"]
    t0 = time.perf_counter()

    def run(*args: str) -> None:
        subprocess.run([*cli, *args], check=True, capture_output=True, timeout=120)

    board_log: list[str] = []
    with VirtualBoard(trace, state, speed=40.0, log=board_log.append) as board:
        run("time", "--port", board.port, "--set", "--out", str(work / "clock"))
        for i, kind in enumerate(kinds):
            if i % RESETS_PER_NIGHT == 0:  # a new night every four resets (loop guard)
                if i:
                    run("stop", "--port", board.port)
                run("start", "--port", board.port)
            board.wait_world_ms(board.world_ms() + rng.uniform(*GAP_S) * 1000, timeout_s=120)
            if kind == "watchdog":
                board.hang()
            elif kind == "brownout":
                board.brownout()
            elif kind in ("exception", "memory"):
                board.inject_fault(kind)
            else:  # hard: machine.reset() at the REPL, as `mpremote reset` does
                board.inject_fault("exception")  # the firmware's own machine.reset()
        board.wait_world_ms(board.world_ms() + 60_000, timeout_s=120)
        run("stop", "--port", board.port)
        # and one power cut in a second night
        run("start", "--port", board.port)
        board.wait_world_ms(board.world_ms() + rng.uniform(*GAP_S) * 1000, timeout_s=120)
        board.power_cut()
        board.wait_world_ms(board.world_ms() + 10_000, timeout_s=120)
        resets = list(board.resets)
        speed = board.achieved_speed()
    logs = sorted((state / "nights").glob("*.log"))
    nights = [check_night(p.read_bytes()) for p in logs]
    resumed = nights[:-1]
    gaps = [g for n in resumed for g in n["gaps_ms"]]
    return {
        "board": "micropython",
        "resets": len(resets),
        "reset_log": resets,
        "resumed": len(gaps),
        "causes": [c for n in resumed for c in n["causes"]],
        "gap_s_mean": round(float(np.mean(gaps)) / 1000, 2) if gaps else None,
        "gap_s_max": round(max(gaps) / 1000, 2) if gaps else None,
        "events_compared": sum(n["events"] for n in nights),
        "stretch_mismatches": sum(n["mismatched_stretches"] for n in nights),
        "events_cut_by_resets": sum(n["events_cut"] for n in nights),
        "night_files": len(logs),
        "nights_closed": sum(1 for n in nights if n["closed"]),
        "power_cut_night_closed": nights[-1]["closed"]
        and nights[-1]["end_code"] == records.M_RECOVERED,
        "achieved_speed": round(speed, 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def run(
    resets_per_kind: int = 1000, vm_per_kind: int = 2, seed: int = 10, night_hours: float = 8.0
) -> dict:
    """The campaign (see the module doc); smaller counts for the test-suite sample. The
    nights are random stretches of one synthetic night of night_hours."""
    shm = Path("/dev/shm")  # RAM: the flash's fsyncs cost nothing there
    work = Path(tempfile.mkdtemp(prefix="legsense-faults-", dir=shm if shm.is_dir() else None))
    try:
        night = _trace(night_hours, seed)
        kinds = {k: _cpython_kind(k, resets_per_kind, seed, work, night) for k in KINDS}
        vm = _vm_sample(vm_per_kind, seed, work) if vm_per_kind else {"skipped": "not asked"}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"seed": seed, "resets_per_kind": resets_per_kind, "kinds": kinds, "vm": vm}


def render(result: dict) -> list[str]:
    """README lines."""
    lines = [
        f"Resets at random moments of recorded nights (seed {result['seed']}; "
        "`bench/faults_device_resets.py`): the firmware on the CPython board, 12.5 Hz "
        "PLMD nights with raw samples, four resets per night 30-60 s apart. Not recorded = the "
        "'resumed' marker's value (target: the 1.5 s boot time; a hang adds the 8 s "
        "watchdog); events compared = logged events checked against the detector on the "
        "raw samples of their stretch (exactly equal: mismatching stretches must be 0).",
        "",
        "| kind | resets | nights resumed | not recorded per reset, mean / max "
        "| nights split / lost | events compared | mismatching stretches "
        "| events cut by a reset |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, k in result["kinds"].items():
        if kind == "power cut":
            resumed = "0 (by design: no clock after a power-on; the night is closed)"
            lost = (
                f"the rest of the night; {k['events_lost_at_cut_mean']} events lost "
                f"(max {k['events_lost_at_cut_max']}) with the RAM buffer"
            )
        else:
            resumed = f"{k['resumed']} of {k['resets']}"
            lost = f"{k['gap_s_mean']} s / {k['gap_s_max']} s"
        lines.append(
            f"| {kind} | {k['resets']:,} | {resumed} | {lost} | {k['nights_split']} / "
            f"{k['nights_lost']} | {k['events_compared']:,} | {k['stretch_mismatches']} | "
            f"{k['events_cut_by_resets']} |"
        )
    vm = result["vm"]
    lines.append("")
    if "skipped" in vm:
        lines.append(f"MicroPython VM sample: skipped ({vm['skipped']}).")
    else:
        lines.append(
            f"MicroPython VM sample (the real VM, {vm['achieved_speed']}x achieved): "
            f"{vm['resets']} resets ({', '.join(sorted(set(vm['causes'])))} and a power cut); "
            f"{vm['resumed']} resumed, not recorded {vm['gap_s_mean']} s mean, "
            f"{vm['gap_s_max']} s max; {vm['events_compared']} events compared, "
            f"{vm['stretch_mismatches']} mismatching stretches; power-cut night closed: "
            f"{vm['power_cut_night_closed']}."
        )
    return lines
