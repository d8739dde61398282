"""Two virtual boards on a person's two ankles, synced by the real host into one folder.

Each board is the firmware app (legsense_device.app.App) on a CPython SimBoard on
virtual time, its IMU replaying one leg's trace of a simulated bilateral night, its USB
link on a pseudo-terminal. The boards have crystals of their own (`mcu_ppm`: ticks_ms
and the RTC run fast or slow) and IMU oscillators of their own (`imu_ppm`: the output
data rate is off); both see the same world: a movement at true time t shows in the
trace at t on both legs.

A board's timeline runs in pure virtual time (a night in a minute); at each sync the
event loop switches to real time (speed SYNC_SPEED) and `legsense sync`'s engine runs in
the same loop against the board's port, its UTC being the world's true time, so the
device's clock is set, its nights fetched and the person's bilateral night made exactly
as a user's sync would. The boards run one after the other (machine_shim serves one
board at a time), each in its own world clock; they share the world's UTC.

Also recorded: the true time of every sample each IMU produced and the trace row it
showed, so the samples the firmware saw can be run through the detector offline on true
time (`reference_movements`): the same events, but on a perfect clock. The difference
from the merged night's UTC times is each leg's clock error, event by event.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tty
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from legsense.analysis import detect, detector_config_for
from legsense.device_client import DeviceClient
from legsense.night import Movements
from legsense.simulation import machine_shim
from legsense.simulation.sim_board import BOARDS_DIR, SimBoard
from legsense.simulation.virtual_loop import VirtualTimeLoop, _cancel_all
from legsense.sync import SyncEngine, SyncReport
from legsense.trace import Trace, to_counts
from legsense.transport import SerialTransport

SYNC_SPEED = 1.0  # simulated seconds per real second while a host talks to the board


@dataclass
class LegPlan:
    """One board: whose leg, its oscillators, and when things happen (world s)."""

    leg: str
    uid: bytes
    person: str = "anna"
    mcu_ppm: float = 0.0
    imu_ppm: float = 0.0
    power_on_s: float = 0.0  # world time of the board's power-on (its virtual time 0)
    syncs_s: list[float] = field(default_factory=list)  # every `legsense sync`
    start_s: float = 0.0  # the night starts (the person presses start)
    stop_s: float = 0.0
    odr_hz: int = 52
    sleeps: bool = False  # the USB cable is in only while a host syncs: the board sleeps


@dataclass
class LegRun:
    """What one board's run left: the sync reports, what its IMU sampled."""

    plan: LegPlan
    reports: list[SyncReport]
    sample_t_s: np.ndarray  # trace time of every sample the IMU produced
    sample_rows: np.ndarray  # the trace row each showed
    night_world_s: tuple[float, float]  # when the night started and stopped


async def _at(seconds: float) -> None:
    await asyncio.sleep(max(0.0, seconds - asyncio.get_running_loop().time()))


def run_board(
    plan: LegPlan,
    trace: Trace,
    trace_start_world_s: float,
    state_dir: Path,
    out: Path,
    world0_utc_ms: int,
    *,
    picture: bool = False,
) -> LegRun:
    """Power the board on, run its timeline, sync it into `out` at each sync time."""
    state_dir.mkdir(parents=True, exist_ok=True)
    if not (state_dir / "boards").is_dir():
        shutil.copytree(BOARDS_DIR, state_dir / "boards")
    config = (
        f'{{"board": "virtual", "odr_hz": {plan.odr_hz}, "leg": "{plan.leg}", '
        f'"person": "{plan.person}", "utc_offset_min": 60}}'
    )
    (state_dir / "config.json").write_text(config)
    # The leg lies still as the trace begins from the board's power-on (the IMU samples
    # from then on): the trace shifted onto the board's time, its first row held before.
    lead_s = trace_start_world_s - plan.power_on_s
    assert lead_s >= 0, "the board is powered on before the night's trace starts"
    on_board = Trace(
        t_s=np.concatenate([[0.0], trace.t_s + lead_s]),
        acc_g=np.concatenate([trace.acc_g[:1], trace.acc_g]),
        gyr_dps=None
        if trace.gyr_dps is None
        else np.concatenate([trace.gyr_dps[:1], trace.gyr_dps]),
        meta=dict(trace.meta),
    )
    board = SimBoard(
        "virtual",
        imu="lsm6dsox",
        trace=on_board,
        trace_start_ms=0,
        imu_clock_ppm=plan.imu_ppm,
        mcu_clock_ppm=plan.mcu_ppm,
        uid=plan.uid,
        usb_powered=not plan.sleeps,
    )
    ticks: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    assert board.feeder is not None

    def seen(t: np.ndarray, r: np.ndarray) -> None:
        ticks.append(np.array(t, dtype=np.float64) - lead_s)  # back on the trace's time
        rows.append(np.maximum(np.array(r, dtype=np.int64) - 1, 0))

    board.feeder.on_ticks = seen
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    power_ms = world0_utc_ms + round(plan.power_on_s * 1000)

    def world_utc_ms() -> int:
        return power_ms + board.clock.now_ns // 1_000_000

    reports: list[SyncReport] = []
    events = sorted(
        [(t, "sync") for t in plan.syncs_s] + [(plan.start_s, "start"), (plan.stop_s, "stop")]
    )
    try:
        with machine_shim.installed(board):
            from legsense_device.app import App
            from legsense_device.usb_link import FdPort

            app = App(fs_root=str(state_dir))
            app.link_port = FdPort(master)  # pyright: ignore[reportAttributeAccessIssue]
            loop = VirtualTimeLoop(board.clock)
            selector = loop._selector  # pyright: ignore[reportAttributeAccessIssue]

            async def host_sync() -> SyncReport:
                if plan.sleeps:  # plug the cable in: the board wakes and stays awake
                    board.set_usb(True)
                    await asyncio.sleep(1.0)
                transport = SerialTransport(port)
                selector.speed = SYNC_SPEED
                try:
                    engine = SyncEngine(
                        DeviceClient(transport, timeout=10.0),
                        out,
                        utc_now_ms=world_utc_ms,
                        picture=picture,
                    )
                    return await engine.run()
                finally:
                    await transport.close()
                    selector.speed = None
                    if plan.sleeps:
                        board.set_usb(False)

            async def main() -> None:
                runner = asyncio.create_task(app.run())
                await asyncio.sleep(0)
                try:
                    for t, what in events:
                        await _at(t - plan.power_on_s)
                        if what == "sync":
                            reports.append(await host_sync())
                        elif what == "start":
                            ok, why = app.start("host")
                            assert ok, why
                        else:
                            ok, why = app.stop("host")
                            assert ok, why
                finally:
                    runner.cancel()

            try:
                loop.run_until_complete(main())
            finally:
                _cancel_all(loop)
                loop.close()
    finally:
        os.close(master)
        os.close(slave)
    sample_t = np.concatenate(ticks) if ticks else np.zeros(0)
    sample_rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    return LegRun(plan, reports, sample_t, sample_rows, (plan.start_s, plan.stop_s))


def reference_movements(run: LegRun, trace: Trace, trace_start_world_s: float) -> Movements:
    """The firmware's movements on a perfect clock: the samples its IMU produced during
    the night, at their true times (trace s), through the detector offline."""
    t = run.sample_t_s
    start, stop = (s - trace_start_world_s for s in run.night_world_s)
    keep = (t >= start) & (t <= stop)
    rows = run.sample_rows[keep]
    base = float(t[keep][0])  # the firmware counts from its first sample, as here
    samples = Trace(
        t_s=t[keep] - base,
        acc_g=trace.acc_g[rows],
        gyr_dps=None if trace.gyr_dps is None else trace.gyr_dps[rows],
        meta={"sample_rate_hz": str(run.plan.odr_hz), "imu": "lsm6dsox"},
    )
    m = detect(to_counts(samples), detector_config_for(run.plan.odr_hz)).movements
    return Movements(
        onset_s=m.onset_s + base,
        offset_s=m.offset_s + base,
        peak_mg=m.peak_mg,
        peak_dps=m.peak_dps,
        channels=m.channels,
        leg=np.full(len(m), run.plan.leg, dtype=object),
    )


# --- what came out, against the truth ---------------------------------------------------


def merged_movements(events_csv: Path) -> tuple[Movements, np.ndarray]:
    """A merged night's events.csv as Movements (its own time axis) and each row's
    onset in UTC ms."""
    import csv
    from datetime import datetime

    with open(events_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    on = np.array([float(r["onset_s"]) for r in rows])
    off = np.array([float(r["offset_s"]) for r in rows])
    legs = np.array([r["leg"] for r in rows], dtype=object)
    utc = np.array([datetime.fromisoformat(r["onset_utc"]).timestamp() * 1000 for r in rows])
    return Movements.from_arrays(on, off, legs), utc


def clock_errors(
    merged: Movements, onset_utc_ms: np.ndarray, reference: Movements, trace_utc_ms: float
) -> tuple[np.ndarray, np.ndarray]:
    """One leg's clock error (s) at each of its events: its onset in the merged night
    (UTC) minus the same event's onset on a perfect clock (`reference`, trace s); and
    when (trace s). Events are paired by nearest onset and duration."""
    leg = str(reference.leg[0]) if len(reference) else ""
    mine = np.flatnonzero(np.asarray(merged.leg) == leg)
    at, err = [], []
    ref_on = np.asarray(reference.onset_s)
    ref_dur = np.asarray(reference.offset_s - reference.onset_s)
    for i in mine:
        t = (onset_utc_ms[i] - trace_utc_ms) / 1000.0
        k = int(np.argmin(np.abs(ref_on - t))) if len(ref_on) else -1
        if k < 0 or abs(ref_on[k] - t) > 0.5:
            continue
        if abs(ref_dur[k] - (merged.offset_s[i] - merged.onset_s[i])) > 0.05:
            continue
        at.append(ref_on[k])
        err.append(t - ref_on[k])
    return np.asarray(at), np.asarray(err)


def alignment_errors(
    left: tuple[np.ndarray, np.ndarray], right: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Right minus left clock error at every event of either leg (the other leg's error
    interpolated between its own events: clock errors change slowly)."""
    (tl, el), (tr, er) = left, right
    if len(tl) < 2 or len(tr) < 2:
        return np.zeros(0)
    at_left = np.interp(tl, tr, er) - el
    at_right = er - np.interp(tr, tl, el)
    return np.concatenate([at_left, at_right])


def compare_with_truth(merged: Movements, axis_shift_s: float, labels) -> dict:
    """The merged night's LMs against the labels, both scored bilaterally: LM for LM
    (paired by overlap) the same leg class, candidacy, PLM and series membership."""
    from legsense.scoring import score_wasm2016

    end = float(max(labels.offset_s.max(), (merged.offset_s + axis_shift_s).max())) + 60.0
    truth = score_wasm2016(
        Movements.from_arrays(
            labels.onset_s, labels.offset_s, np.asarray(labels.extra["leg"], dtype=object)
        ),
        recording_s=end,
    ).lms
    got = score_wasm2016(
        Movements.from_arrays(
            merged.onset_s + axis_shift_s, merged.offset_s + axis_shift_s, merged.leg
        ),
        recording_s=end,
    ).lms
    mismatches = []
    used = set()
    for i in range(len(truth)):
        overlap = np.minimum(got.offset_s, truth.offset_s[i]) - np.maximum(
            got.onset_s, truth.onset_s[i]
        )
        k = int(np.argmax(overlap)) if len(got) else -1
        if k < 0 or overlap[k] <= 0 or k in used:
            mismatches.append((float(truth.onset_s[i]), "missed", str(truth.leg[i])))
            continue
        used.add(k)
        for name in ("leg", "n_mono", "candidate", "plm"):
            a, b = getattr(truth, name)[i], getattr(got, name)[k]
            if a != b:
                mismatches.append((float(truth.onset_s[i]), name, f"{a} != {b}"))
    extra = [float(got.onset_s[k]) for k in range(len(got)) if k not in used]
    return {
        "truth_lms": len(truth),
        "truth_bilateral": int((truth.n_mono > 1).sum()),
        "truth_plms": int(truth.plm.sum()),
        "merged_lms": len(got),
        "merged_bilateral": int((got.n_mono > 1).sum()),
        "merged_plms": int(got.plm.sum()),
        "mismatches": mismatches,
        "extra": extra,
        "onset_error_s": float(
            np.median([got.onset_s[k] - truth.onset_s[i] for i, k in _pairs(truth, got)])
        )
        if len(got) and len(truth)
        else 0.0,
    }


def _pairs(truth, got):
    for i in range(len(truth)):
        overlap = np.minimum(got.offset_s, truth.offset_s[i]) - np.maximum(
            got.onset_s, truth.onset_s[i]
        )
        k = int(np.argmax(overlap))
        if overlap[k] > 0:
            yield i, k
