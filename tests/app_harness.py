"""The app on a simulated board, for device tests: boot it on virtual time, replay a trace
through it, read the night it logged.

`root` (tests/device/conftest.py) gives a device filesystem with the board profiles.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import numpy as np
from legsense.analysis import analyze_trace
from legsense.simulation import machine_shim, virtual_loop
from legsense.simulation.night_generator import simulate_night
from legsense.simulation.sim_board import SimBoard
from legsense.trace import Trace
from legsense_core import records

UID_HEX = "240ac4a1b2c3"  # SimBoard's default unique id
LED_PIN = 25  # virtual.json: active high
BUTTON_PIN = 0  # virtual.json: active low


def write_config(root: Path, cfg: dict | str) -> None:
    text = cfg if isinstance(cfg, str) else json.dumps(cfg)
    (root / "config.json").write_text(text)


class Run:
    """One boot of the app on a simulated board; .app stays readable after a reset."""

    def __init__(self, board: SimBoard, root: Path, space=None):
        self.board = board
        self.root = root
        self.space = space
        self.app = None
        self.result = None

    def __call__(self, scenario):
        """Boot, run the app's tasks and scenario(app) on virtual time; returns self."""
        with machine_shim.installed(self.board):
            from legsense_device.app import App

            self.app = app = App(fs_root=str(self.root), space=self.space)

            async def main():
                runner = asyncio.create_task(app.run())
                await asyncio.sleep(0)  # let it boot
                try:
                    return await scenario(app)
                finally:
                    runner.cancel()

            self.result = virtual_loop.run(main(), self.board.clock)
        return self


async def at(seconds: float) -> None:
    """Sleep until an absolute simulated time."""
    await asyncio.sleep(max(0.0, seconds - asyncio.get_running_loop().time()))


def night_records(root: Path, night_id: int = 1) -> list[tuple[int, tuple]]:
    """(type, payload) of every record of a night; fails on any bad record."""
    data = (root / "nights" / f"{night_id:08d}.log").read_bytes()
    reader = records.iter_records(data)
    out = [(rtype, payload) for _off, rtype, payload in reader]
    assert reader.error == 0, reader.reason
    return out


def of_type(recs, rtype):
    return [p for t, p in recs if t == rtype]


def led_on_durations_ms(board: SimBoard, start_s: float, end_s: float) -> list[int]:
    """Lengths of the LED's on-phases that start within [start_s, end_s)."""
    hist = board.pin(LED_PIN).history
    out = []
    for (t0, v0), (t1, _v1) in itertools.pairwise(hist):
        if v0 == 1 and start_s * 1e9 <= t0 < end_s * 1e9:
            out.append(round((t1 - t0) / 1e6))
    return out


def exact_rate_trace(hours: float, rate_hz: float, imu: str, seed: int) -> Trace:
    """A synthetic night re-timed on the exact ODR grid.

    The generator adds timestamp jitter and dropped samples (as a real logger would);
    an IMU's FIFO has neither, and the emulator samples the trace on its exact grid. So
    the generator's rows are kept as consecutive samples at exactly k / rate.
    """
    gen, _labels = simulate_night(seed, hours, rate_hz, imu=imu)
    n = len(gen.t_s)
    return Trace(t_s=np.arange(n) / rate_hz, acc_g=gen.acc_g, gyr_dps=gen.gyr_dps, meta=gen.meta)


def replay_night(root: Path, trace: Trace, imu: str, config: dict) -> tuple[list, list, int]:
    """Play a trace through the app; returns the logged events, epochs and samples."""
    write_config(root, {"board": "virtual", **config})
    rate = float(trace.meta["sample_rate_hz"])
    n = len(trace.t_s)
    start_s = 1.0
    # Trace time 0 plays 1 ms after the night starts (the IMU is running by then).
    board = SimBoard("virtual", imu=imu, trace=trace, trace_start_ms=1001)

    async def scenario(app):
        await at(start_s)
        assert app.start("host")[0]
        # Stop half a period after the last trace sample: exactly n samples were made.
        await at(1.001 + (n - 1) / rate + 0.5 / rate)
        assert app.stop("host")[0]
        return app.status()["samples"]

    run = Run(board, root)(scenario)
    recs = night_records(root)
    return of_type(recs, records.T_EVENT), of_type(recs, records.T_EPOCH), run.result


def offline(trace: Trace) -> tuple[list, list]:
    detection, _info = analyze_trace(trace)
    m = detection.movements
    events = [
        (round(a * 1000), round(b * 1000), int(p), int(d), int(c))
        for a, b, p, d, c in zip(
            m.onset_s, m.offset_s, m.peak_mg, m.peak_dps, m.channels, strict=True
        )
    ]
    e = detection.epochs
    epochs = [
        (round(s / e.epoch_s), int(k), round(a * 1000), int(act), *map(int, pos))
        for s, k, a, act, pos in zip(
            e.start_s, e.n_samples, e.active_s, e.activity_mg_s, e.posture_mg, strict=True
        )
    ]
    return events, epochs
