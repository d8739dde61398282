"""The MCU's duty cycle over a night that sleeps between FIFO bursts (issue 12 item 4).

run() -> dict with:
  calibration  pystone on the MicroPython VM (per-step process CPU) against a published
               pystone figure measured on a real ESP32: the VM-to-ESP32 time ratio
  nights       a whole simulated night on the virtual board (the real firmware on the
               MicroPython VM, board profile "virtual" = the DevKitC's pins, LSM6DSOX
               emulator) at the default ODR, accel+gyro and accelerometer-only, USB cable
               out after `start` (so nothing keeps it awake): wakes per hour, awake ms per
               wake, MCU awake % of the night, bytes per FIFO burst; and whether the synced
               night's events and epochs equal `legsense analyze` of the same samples
  duty         per configuration, what hardware/power_budget.py reads (also written to
               hardware/measured_duty.json, committed so the calculator runs without this)

The awake-time model (per wake, on an ESP32 at 240 MHz):
  awake = firmware CPU on the VM x ratio + wake latency + I2C time
  * firmware CPU on the VM: the VM's process CPU over the awake stretch, less the time
    spent in the bridge to the emulators (board_runner.mjs, awake_log "cpu_us");
  * ratio: ESP32 pystone time / VM pystone time (calibrate());
  * wake latency: WAKE_LATENCY_MS per light-sleep wake (ESP-IDF's light-sleep wake-up
    is documented in the hundreds of microseconds to about a millisecond, depending on
    what has to be powered up again; 1 ms is the upper end);
  * I2C time: the SCL clocks the transfers took on the emulated bus (awake_log
    "bus_clocks": 9 per byte plus start/stop/address) at the profile's 400 kHz.
The night's awake share = sum of awake over the wakes / the night's length; the night is
counted from the first light sleep (the minute after the host's last frame the board
stays awake on purpose, see docs/firmware.md) to the end of the trace.
"""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from legsense.simulation import micropython_vm as mpvm
from legsense.simulation.night_generator import simulate_night
from legsense.simulation.vm_board.board import flash_firmware as flash
from legsense.simulation.vm_board.mp_lib import sim_machine_common as common
from legsense.trace import Trace, write_trace

ROOT = Path(__file__).resolve().parents[1]
PYSTONE = Path(__file__).with_name("pystone_mp.py")
DUTY_JSON = ROOT / "hardware" / "measured_duty.json"
LEGSENSE = [sys.executable, "-m", "legsense"]

ODR_HZ = 52  # the firmware's default (firmware/legsense_device/config.py)
NIGHT_HOURS = 8.0
SPEED = 1500.0  # simulated seconds per real second while the firmware sleeps
SEED = 12
# The profile's bus speed (firmware/boards/virtual.json, DevKitC). Not 1 MHz (Fast-mode
# Plus): ESP-IDF's I2C driver page for the ESP32 and for the ESP32-S3 ("ESP32 supports
# both I2C Standard-mode (Sm) and Fast-mode (Fm) which can go up to 100 kHz and 400 kHz
# respectively"; warning: "The clock frequency of SCL in master mode should not be
# larger than 400 kHz", docs.espressif.com/projects/esp-idf/en/latest/{esp32,esp32s3}/
# api-reference/peripherals/i2c.html) rules it out on every build here, whatever the IMU.
I2C_HZ = 400_000
WAKE_LATENCY_MS = 1.0
LINK_AWAKE_S = 60.0  # the app stays awake this long after the host's last frame

# The published figure (see docs/firmware.md, "Power"): MicroPython issue #5673
# (https://github.com/micropython/micropython/issues/5673), an ESP32 module at
# machine.freq(240 MHz) running pystone_lowmem from micropython-lib on the official
# MicroPython v1.12 release (2019-12-20): "Pystone(1.2) time for 500 passes" giving
# 1661 pystones/second. (The same post shows a development build of the time at 499:
# builds differ; 1661 is the release's figure.) Our pystone (bench/pystone_mp.py) follows
# the same Dhrystone 1.1 procedure mix from its description, not micropython-lib's code,
# so the ratio carries that approximation besides the machine-load spread it shows.
ESP32_PYSTONES = 1661.0
ESP32_SOURCE = (
    "https://github.com/micropython/micropython/issues/5673: ESP32 module at 240 MHz, "
    "MicroPython v1.12 release, pystone_lowmem 500 passes: 1661 pystones/s"
)
# (IMU emulator, name, gyro): the DevKitC/XIAO's LSM6DSOX, and the MPU-6886 of the
# M5StickC Plus (on the virtual profile its INT is wired; the M5StickC Plus wakes on a
# timer at the same watermark instead, see docs/firmware.md).
CONFIGS = (
    ("lsm6dsox", "accel_gyro", True),
    ("lsm6dsox", "accel_only", False),
    ("mpu6886", "accel_gyro", True),
    ("mpu6886", "accel_only", False),
)
PYSTONE_LOOPS = 5000  # per VM step (the VM collects garbage only between steps)
PYSTONE_STEPS = 10  # the first few are slow (WebAssembly tiers up); the median of the rest


# --- calibration -------------------------------------------------------------------------


def calibrate(loops: int = PYSTONE_LOOPS, steps: int = PYSTONE_STEPS) -> dict:
    """Pystone on the MicroPython VM: steady-state pystones per CPU second, and the ratio
    of an ESP32's time to the VM's for the same bytecode."""
    vm = mpvm.MicroPythonVM(heap_bytes=8 * 1024 * 1024)
    src = PYSTONE.read_text()
    run = [f"run({loops})"] * steps
    result = vm.run([src, f"null_loop({loops})", *run]).check()
    null_s = result.step_cpu_s[1]
    times = [t - null_s for t in result.step_cpu_s[2:]]
    steady = statistics.median(times[steps // 2 :])
    vm_pystones = loops / steady
    return {
        "vm_pystones_per_s": round(vm_pystones),
        "vm_step_s": [round(t, 4) for t in times],
        "esp32_pystones_per_s": ESP32_PYSTONES,
        "esp32_source": ESP32_SOURCE,
        "ratio": round(vm_pystones / ESP32_PYSTONES, 2),
    }


# --- one night on the virtual board ------------------------------------------------------


def exact_night(hours: float, seed: int, rate: float) -> Trace:
    """A synthetic PLMD night on the IMU's exact sample grid (the emulator's view)."""
    gen, _labels = simulate_night(seed, hours, rate)
    n = len(gen.t_s)
    return Trace(t_s=np.arange(n) / rate, acc_g=gen.acc_g, gyr_dps=gen.gyr_dps, meta=gen.meta)


def cli(*args: str) -> str:
    done = subprocess.run([*LEGSENSE, *args], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"legsense {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def night_rows(out: Path) -> tuple[list[dict], list[dict]]:
    """events.csv and epochs.csv of the one night folder under out."""
    (folder,) = {p.parent for p in out.rglob("events.csv")}
    rows = []
    for name in ("events.csv", "epochs.csv"):
        with open(folder / name, newline="") as f:
            rows.append(list(csv.DictReader(f)))
    return rows[0], rows[1]


def same_rows(got: list[dict], want: list[dict]) -> bool:
    """Equal row by row on the columns both sides write, but the leg (the device's
    config on one side, the trace's metadata on the other); onset_utc is written only
    where the night has a wall clock."""
    if len(got) != len(want):
        return False
    if not got:
        return True
    cols = sorted((set(got[0]) & set(want[0])) - {"leg"})
    return all([g[c] for c in cols] == [w[c] for c in cols] for g, w in zip(got, want, strict=True))


def vm_night(
    hours: float, gyro: bool, tmp: Path, imu: str = "lsm6dsox", speed: float = SPEED
) -> dict:
    """Record a night on the virtual board with the cable out; sync it; compare."""
    from legsense.simulation.vm_board.board import VirtualBoard

    trace = exact_night(hours, SEED, float(ODR_HZ))
    if not gyro:
        trace = Trace(t_s=trace.t_s, acc_g=trace.acc_g, gyr_dps=None, meta=trace.meta)
    state = tmp / "flash"
    flash(state, {"odr_hz": ODR_HZ, "gyro": gyro})
    out = tmp / "synced"
    t0 = time.monotonic()
    with VirtualBoard(trace, state, speed=speed, imu=imu) as board:
        cli("start", "--port", board.port)
        start = board.trace_start_ms
        if start is None:
            raise RuntimeError("the IMU was not switched on by start")
        board.set_usb(False)  # bedtime: nothing keeps it awake now
        end_ms = start + float(trace.t_s[-1]) * 1000.0 + 1000.0
        board.wait_world_ms(end_ms, timeout_s=300)
        board.set_usb(True)  # morning: plugged in, it stays awake and hears the host
        board.wait_world_ms(board.world_ms() + 500.0, timeout_s=120)
        cli("stop", "--port", board.port)
        cli("sync", "--port", board.port, "--out", str(out), "--no-picture", "-q")
        resets = list(board.resets)
        log = list(board.awake_log)
        sleeps = list(board.sim.sleeps)
        achieved = board.achieved_speed()
    wall = time.monotonic() - t0
    if resets:
        raise RuntimeError(f"the board reset during the night: {resets}")
    sampled = tmp / "sampled.csv"
    write_trace(sampled, trace)
    cli("analyze", str(sampled), "--out", str(tmp / "offline"), "--no-picture", "-q")
    got_ev, got_ep = night_rows(out)
    want_ev, want_ep = night_rows(tmp / "offline")
    first_sleep_ms = sleeps[0].start_ns / 1e6 if sleeps else end_ms
    return {
        "imu": imu,
        "gyro": gyro,
        "hours": hours,
        "start_ms": start,
        "end_ms": end_ms,
        "first_sleep_ms": first_sleep_ms,
        "awake_log": log,
        "sleeps": len(sleeps),
        "events": len(got_ev),
        "epochs": len(got_ep),
        "events_equal": same_rows(got_ev, want_ev) and len(got_ev) > 0,
        # The device samples on past the trace's end until `stop` (the IMU holds the last
        # value): its last epochs hold more samples. Every full epoch of the trace counts.
        "epochs_equal": len(want_ep) > 1 and same_rows(got_ep[: len(want_ep) - 1], want_ep[:-1]),
        "wall_s": round(wall, 1),
        "achieved_speed": round(achieved, 1),
    }


def duty(night: dict, ratio: float, mhz: float = 240.0) -> dict:
    """Wakes, awake time and bytes per burst of one night (the model in the module doc),
    with the ESP32 at mhz (the CPU part scales with the clock; the pystone figure is at
    240 MHz)."""
    t0, t1 = night["first_sleep_ms"], night["end_ms"]
    # Awake stretches that end in a sleep inside the night (the first one is the stretch
    # from `start` through the host's minute, not counted: the night starts at its end).
    wakes = [e for e in night["awake_log"] if t0 < e["start_ms"] and e["end_ms"] <= t1]
    hours = (t1 - t0) / 3.6e6
    cpu_ms = [e["cpu_us"] / 1000.0 for e in wakes]
    i2c_ms = [e["bus_clocks"] / I2C_HZ * 1000.0 for e in wakes]
    scale = ratio * 240.0 / mhz
    awake_ms = [c * scale + WAKE_LATENCY_MS + b for c, b in zip(cpu_ms, i2c_ms, strict=True)]
    bursts = [e["bytes_read"] for e in wakes if e["woke_by"] == common.EXT1_WAKE]
    by_cause: dict[str, int] = {}
    names = {common.EXT0_WAKE: "ext0", common.EXT1_WAKE: "int1", common.TIMER_WAKE: "timer"}
    for e in wakes:
        key = names.get(e["woke_by"], str(e["woke_by"]))
        by_cause[key] = by_cause.get(key, 0) + 1
    total_awake_s = sum(awake_ms) / 1000.0
    return {
        "mhz": mhz,
        "night_hours": round(hours, 3),
        "wakes": len(wakes),
        "wakes_per_hour": round(len(wakes) / hours, 1),
        "wakes_by_cause": by_cause,
        "vm_cpu_ms_per_wake": round(statistics.mean(cpu_ms), 3),
        "i2c_ms_per_wake": round(statistics.mean(i2c_ms), 3),
        "awake_ms_per_wake": round(statistics.mean(awake_ms), 2),
        "awake_ms_per_wake_p95": round(float(np.percentile(awake_ms, 95)), 2),
        "awake_s_per_hour": round(total_awake_s / hours, 2),
        "awake_fraction": round(total_awake_s / (hours * 3600.0), 5),
        "bytes_per_burst": int(statistics.median(bursts)) if bursts else 0,
    }


# --- all of it ----------------------------------------------------------------------------


def run(hours: float = NIGHT_HOURS) -> dict:
    reason = mpvm.unavailable_reason()
    if reason:
        return {"skipped": reason}
    # Calibrated before and after each night (the machine is shared and its speed
    # drifts; the firmware's CPU and pystone's are measured alike, as process CPU time):
    # each night is scaled by the mean of its two calibrations.
    nights = {}
    cals = []
    for imu, name, gyro in CONFIGS:
        before = calibrate()
        with tempfile.TemporaryDirectory(prefix="legsense-power-") as tmp:
            night = vm_night(hours, gyro, Path(tmp), imu)
        after = calibrate()
        vm_pystones = (before["vm_pystones_per_s"] + after["vm_pystones_per_s"]) / 2
        ratio = round(vm_pystones / ESP32_PYSTONES, 2)
        cals.append(ratio)
        log = night.pop("awake_log")
        night["calibration"] = {
            "vm_pystones_per_s": [before["vm_pystones_per_s"], after["vm_pystones_per_s"]],
            "ratio": ratio,
        }
        night["duty"] = duty({**night, "awake_log": log}, ratio, 240.0)
        night["duty_160mhz"] = duty({**night, "awake_log": log}, ratio, 160.0)
        if imu != "lsm6dsox":
            # The emulated MPU-6886 samples at 1000/19 Hz with its own scale: analyze of the
            # 52 Hz trace is not the same night, so the equality is checked on the LSM6DSOX.
            night["events_equal"] = night["epochs_equal"] = None
        nights[f"{imu}_{name}"] = night
    cal = {
        "ratios": cals,
        "ratio": round(statistics.mean(cals), 2),
        "esp32_pystones_per_s": ESP32_PYSTONES,
        "esp32_source": ESP32_SOURCE,
    }
    measured = {
        "source": "bench/power_duty.py (make bench; python -m bench.run_all --only power)",
        "board_profile": "virtual (the DevKitC's pins and LSM6DSOX)",
        "odr_hz": ODR_HZ,
        "vm_to_esp32_ratio": cal["ratio"],  # the mean; each night used its own
        "ratio_source": ESP32_SOURCE,
        "model": "awake per wake = VM firmware CPU x ratio + "
        f"{WAKE_LATENCY_MS:g} ms wake latency + I2C clocks / {I2C_HZ // 1000} kHz",
        "scenarios": {
            f"{name}@{int(d['mhz'])}MHz": {
                "awake_fraction": d["awake_fraction"],
                "wakes_per_hour": d["wakes_per_hour"],
                "awake_ms_per_wake": d["awake_ms_per_wake"],
                "bytes_per_burst": d["bytes_per_burst"],
                "events_equal": None
                if n["events_equal"] is None
                else n["events_equal"] and n["epochs_equal"],
            }
            for name, n in nights.items()
            for d in (n["duty"], n["duty_160mhz"])
        },
    }
    DUTY_JSON.write_text(json.dumps(measured, indent=2) + "\n")
    return {"calibration": cal, "nights": nights, "measured": measured}


TARGETS = {True: 0.02, False: 0.01}  # issue 12: awake share of the night (gyro on / off)


def render(result: dict) -> list[str]:
    """The README lines for these figures (bench/run_all.py puts them in their block)."""
    if "skipped" in result:
        return [f"Power duty cycle skipped: {result['skipped']}", ""]
    cal, nights = result["calibration"], result["nights"]
    lines = [
        "The MCU's duty cycle over a night that light-sleeps between FIFO bursts "
        "(`bench/power_duty.py`): the real firmware on the MicroPython VM board "
        f"(DevKitC pins; LSM6DSOX and MPU-6886 emulators), {ODR_HZ} Hz, USB cable out after "
        "`start`. Each night counts from its first light sleep (the board stays awake for a "
        "minute after the host's last frame) to the end of the trace.",
        "",
        "Calibration: pystone (`bench/pystone_mp.py`) on the VM, process CPU time, before and "
        "after each night, against "
        f"{cal['esp32_pystones_per_s']:g} pystones/s on an ESP32 at 240 MHz "
        f"({cal['esp32_source']}): the ESP32 takes **{min(cal['ratios']):g}-"
        f"{max(cal['ratios']):g}x** the VM's time (mean {cal['ratio']:g}x; the VM's speed "
        "follows the shared machine's load, so each night is scaled by its own). "
        f"Awake per wake = VM CPU x ratio + {WAKE_LATENCY_MS:g} ms wake latency + I2C "
        f"clocks at {I2C_HZ // 1000} kHz.",
        "",
        "| IMU, sensors | night | wakes/h | awake ms/wake (p95) | VM CPU ms/wake | I2C ms/wake "
        "| bytes/burst | MCU awake | target | events, epochs = analyze |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in nights.values():
        d = n["duty"]
        target = TARGETS[n["gyro"]]
        ok = "met" if d["awake_fraction"] <= target else "missed"
        if n["events_equal"] is None:
            same = "n/a"
        else:
            same = "yes" if n["events_equal"] and n["epochs_equal"] else "**no**"
        lines.append(
            f"| {n['imu']} {'accel+gyro' if n['gyro'] else 'accel only'} | "
            f"{d['night_hours']:.2f} h | {d['wakes_per_hour']:g} | "
            f"{d['awake_ms_per_wake']:.1f} ({d['awake_ms_per_wake_p95']:.1f}) | "
            f"{d['vm_cpu_ms_per_wake']:.2f} | {d['i2c_ms_per_wake']:.1f} | "
            f"{d['bytes_per_burst']} | {d['awake_fraction']:.2%} | <= {target:.0%} {ok} | "
            f"{same} ({n['events']} events, {n['epochs']} epochs) |"
        )
    lines += [
        "",
        "At 160 MHz (MicroPython's default clock on the ESP32) the CPU part takes 1.5x as "
        "long: MCU awake "
        + ", ".join(
            f"{n['imu']} {'accel+gyro' if n['gyro'] else 'accel only'} "
            f"{n['duty_160mhz']['awake_fraction']:.2%}"
            for n in nights.values()
        )
        + ". Targets (issue 12, at the default ODR): <= 2 % with the gyro, <= 1 % without.",
        "",
        f"Nights ran at up to {SPEED:g}x real time while asleep (achieved "
        + ", ".join(f"{n['achieved_speed']:g}x" for n in nights.values())
        + "). The measured duty goes to `hardware/measured_duty.json`, which "
        "`hardware/power_budget.py` reads.",
        "",
    ]
    return lines


if __name__ == "__main__":
    hours = float(sys.argv[1]) if len(sys.argv) > 1 else NIGHT_HOURS
    res = run(hours)
    print("\n".join(render(res)))
