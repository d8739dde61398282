"""Hardware-in-the-loop replay: trace -> IMU emulator -> the firmware on the virtual board
(the real MicroPython VM) -> flash log -> `legsense sync` over the pty -> night folder.

The synced events must equal `legsense analyze` of the samples the IMU produced (for the
committed traces, which sit on the IMU's exact rate grid, that is the trace itself) and
match the trace's labels. A power cut in the middle of a night loses nothing that was
written before it. With LEGSENSE_PORT / --hil-port the replay cases run against that
board instead: the trace's counts go over the link (REPLAY_BEGIN/REPLAY) into the
firmware's replay driver in place of its IMU, and the synced night must equal `legsense
analyze` of the replayed samples exactly. That path is proven here against a virtual
board whose port stands in for the real one.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from legsense.device_client import DeviceClient
from legsense.replay import ReplayResult, replay_counts
from legsense.simulation.micropython_vm import unavailable_reason
from legsense.simulation.vm_board.board import VirtualBoard, from_zero
from legsense.simulation.vm_board.board import flash_firmware as flash
from legsense.trace import Trace, from_counts, read_labels, read_trace, to_counts, write_trace
from legsense.transport.serial_port import SerialTransport
from legsense_core import records

pytestmark = pytest.mark.hil

REPO = Path(__file__).resolve().parents[2]
TRACES = REPO / "tests" / "traces"
SHARED = REPO.parent / "shared" / "traces"
LEGSENSE = [sys.executable, "-m", "legsense"]
SPEED = 40.0  # simulated seconds per real second; the VM keeps up with 26 Hz at this
LSM6_ODRS = (12.5, 26.0, 52.0, 104.0)
# The firmware's default full scales on the LSM6DSOX (datasheet: int16 x 0.061 mg and
# x 8.75 mdps per LSB at +/-2 g and +/-250 dps).
ACC_RANGE_G = (-32768 * 0.061e-3, 32767 * 0.061e-3)
GYRO_RANGE_DPS = (-32768 * 8.75e-3, 32767 * 8.75e-3)
# Numeric columns of events.csv that sync and analyze both write (leg comes from the
# trace's metadata on one side and the device config on the other).
COMPARED = ("onset_s", "offset_s", "duration_s", "lm", "candidate", "plm", "series",
            "imi_s", "peak_mg", "peak_dps", "channels")  # fmt: skip


def trace_files() -> list[Path]:
    files = sorted(TRACES.glob("*.csv.gz"))
    if SHARED.is_dir():
        files += sorted(p for p in SHARED.iterdir() if p.suffix in (".csv", ".txt"))
    return files


@pytest.fixture(scope="module")
def vm_ok():
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)


REPLAY_SPEED = 10.0  # the virtual board standing in for a real one: 26 Hz -> 260 samples/s


def hil_port(request) -> str | None:
    return request.config.getoption("--hil-port") or os.environ.get("LEGSENSE_PORT")


@pytest.fixture
def real_port(request):
    """The real board's port, or None (the cases then run on the virtual board)."""
    return hil_port(request)


@pytest.fixture
def no_real_port(request):
    port = hil_port(request)
    if port:
        pytest.skip(f"real board on {port}: a power cut needs the virtual board")


def replayed(trace: Trace) -> Trace:
    """The samples a replay over the link feeds the firmware: the trace's counts on the
    exact grid of its rate from 0 (the device stamps sample k at k/rate), in g and dps."""
    counts = to_counts(from_zero(trace) or trace)
    rate = trace.sample_rate_hz
    t = np.arange(len(counts.acc)) / rate
    gyr = None if counts.gyr is None else from_counts(counts.gyr, counts.gyro_scale)
    meta = {**trace.meta, "sample_rate_hz": f"{rate:g}", "imu": counts.imu}
    return Trace(t_s=t, acc_g=from_counts(counts.acc, counts.accel_scale), gyr_dps=gyr, meta=meta)


def replay_over_link(port: str, trace: Trace) -> ReplayResult:
    """Replay the trace's counts through the firmware on the board at port (one night)."""
    counts = to_counts(trace)

    async def run() -> ReplayResult:
        transport = SerialTransport(port)
        try:
            client = DeviceClient(transport, timeout=10.0)
            await client.hello()
            return await replay_counts(client, counts, trace.sample_rate_hz)
        finally:
            await transport.close()

    return asyncio.run(run())


def check_replay_on(port: str, path: Path, tmp: Path) -> None:
    """Replay a trace over the link at port, sync, and compare with analyze exactly."""
    trace = replayed(load(path, tmp))
    trace_csv = tmp / "replayed.csv"
    write_trace(trace_csv, trace)
    trace = read_trace(trace_csv)  # exactly what analyze will read
    assert np.array_equal(to_counts(trace).acc, to_counts(replayed(trace)).acc)
    result = replay_over_link(port, trace)
    assert result.late == 0, f"the host fell behind: {result.late} samples late"
    out = tmp / "synced"
    cli("sync", "--port", port, "--out", str(out), "--no-picture", "-q")
    offline = tmp / "offline"
    cli("analyze", str(trace_csv), "--out", str(offline), "--no-picture", "-q")
    folders = [p.parent for p in out.rglob("night.bin")]
    (folder,) = [f for f in folders if night_id_of(f) == result.night_id]
    got = events(folder)
    assert got, "the replay night has no events"
    assert got == events(offline)
    night = records.iter_records((folder / "night.bin").read_bytes())
    texts = [p[-1] for _o, t, p in night if t == records.T_MARKER]
    assert "replay" in texts, texts


def night_id_of(folder: Path) -> int:
    _, header = records.decode_record((folder / "night.bin").read_bytes(), 0)
    return header[1]


def load(path: Path, tmp: Path) -> Trace:
    if path.suffix == ".gz":
        plain = tmp / path.name.removesuffix(".gz")
        with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        path = plain
    return read_trace(path)


def odr_for(trace: Trace) -> float:
    rate = trace.sample_rate_hz
    return min(LSM6_ODRS, key=lambda odr: abs(odr - rate))


def as_sampled(trace: Trace, odr: float) -> Trace:
    """The samples the IMU emulator produces from the trace at odr: sample-and-hold on
    its own grid from trace time 0 (the feeder's rule), over the trace's length."""
    tr = from_zero(trace)
    assert tr is not None
    n = int(np.floor(tr.t_s[-1] * odr + 1e-9)) + 1
    ticks = np.arange(n) / odr
    rows = np.maximum(np.searchsorted(tr.t_s, ticks, side="right") - 1, 0)
    gyr = None if tr.gyr_dps is None else np.clip(tr.gyr_dps[rows], *GYRO_RANGE_DPS)
    acc = np.clip(tr.acc_g[rows], *ACC_RANGE_G)  # the sensor saturates at its full scale
    meta = {**tr.meta, "sample_rate_hz": f"{odr:g}"}
    return Trace(t_s=ticks, acc_g=acc, gyr_dps=gyr, meta=meta)


def cli(*args: str) -> str:
    done = subprocess.run([*LEGSENSE, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"legsense {' '.join(args)}: {done.stderr.strip()}"
    return done.stdout


def events(folder: Path) -> list[tuple[str, ...]]:
    with open(folder / "events.csv", newline="") as f:
        return [tuple(row[c] for c in COMPARED) for row in csv.DictReader(f)]


def night_folder(out: Path) -> Path:
    (folder,) = [p.parent for p in out.rglob("night.bin")]
    return folder


def record(board: VirtualBoard, port: str, seconds: float) -> None:
    """Start a night, let `seconds` of the trace play, stop it."""
    cli("start", "--port", port)
    start = board.trace_start_ms
    assert start is not None, "the IMU was not switched on by start"
    board.wait_world_ms(start + seconds * 1000.0)
    cli("stop", "--port", port)


@pytest.mark.parametrize("path", trace_files(), ids=lambda p: p.name)
def test_replay_through_firmware_equals_analyze(path, tmp_path, real_port):
    if real_port:
        check_replay_on(real_port, path, tmp_path)
        return
    if reason := unavailable_reason():
        pytest.skip(reason)
    trace = load(path, tmp_path)
    odr = odr_for(trace)
    sampled = as_sampled(trace, odr)
    has_gyro = trace.gyr_dps is not None
    state = tmp_path / "flash"
    # raw_samples: the device also logs what its detector saw, so the exact check below
    # holds for any trace, even one that the emulator has to resample and clip.
    flash(
        state,
        {"odr_hz": odr if odr != int(odr) else int(odr), "gyro": has_gyro, "raw_samples": True},
    )
    out = tmp_path / "synced"
    with VirtualBoard(trace, state, speed=SPEED) as board:
        duration = float(sampled.t_s[-1])
        record(board, board.port, duration + 1.0)
        cli("sync", "--port", board.port, "--out", str(out), "--no-picture", "-q")
        assert board.resets == [], board.resets
    sampled_csv = tmp_path / "sampled.csv"
    write_trace(sampled_csv, sampled)
    offline = tmp_path / "offline"
    cli("analyze", str(sampled_csv), "--out", str(offline), "--no-picture", "-q")

    got = events(night_folder(out))
    # Exact, on every trace: the firmware's events on the MicroPython VM equal the host's
    # detector on the very samples the firmware logged (raw.csv in the night folder).
    from_raw = tmp_path / "from_raw"
    cli("analyze", str(night_folder(out) / "raw.csv"), "--out", str(from_raw), "--no-picture", "-q")
    assert got == events(from_raw)
    # And the host's model of the emulator (sample-and-hold on the ODR grid, clipped at
    # the full scale) gives the same samples, so analyze of the trace agrees exactly too.
    assert got == events(offline)

    labels_path = path.parent / (path.name.split(".csv")[0] + ".labels.csv")
    if labels_path.exists() and path.parent == TRACES:
        labels = read_labels(labels_path)
        onsets = [float(e[0]) for e in got]  # every movement (twitches are not LMs)
        hits = [
            any(abs(o - a) <= 0.5 for o in onsets)
            for a, kind in zip(labels.onset_s, labels.extra.get("kind", []), strict=False)
            if kind != "turn"
        ]
        assert hits and sum(hits) >= 0.8 * len(hits), (labels.onset_s, onsets)


@pytest.mark.parametrize("path", sorted(TRACES.glob("*.csv.gz")), ids=lambda p: p.name)
def test_replay_over_the_link_on_a_virtual_board_as_the_real_one(path, tmp_path, vm_ok):
    # The real-board path (REPLAY over the serial link instead of the IMU) against the
    # virtual board's port: what LEGSENSE_PORT=/dev/ttyUSB0 runs on hardware.
    state = tmp_path / "flash"
    flash(state, {})
    with VirtualBoard(None, state, speed=REPLAY_SPEED) as board:
        check_replay_on(board.port, path, tmp_path)
        assert board.resets == [], board.resets


def test_power_cut_mid_night_loses_nothing_written(tmp_path, vm_ok, no_real_port):
    path = TRACES / "plmd-gyro-26hz.csv.gz"
    trace = load(path, tmp_path)
    state = tmp_path / "flash"
    flash(state, {"odr_hz": 26})
    out = tmp_path / "synced"
    night = state / "nights" / "00000001.log"
    with VirtualBoard(trace, state, speed=SPEED) as board:
        cli("start", "--port", board.port)
        start = board.trace_start_ms
        assert start is not None
        board.wait_world_ms(start + 150_000)  # two minute flushes are on flash by now
        before = night.read_bytes()
        board.power_cut()
        written = night.read_bytes()  # what the flash holds after the cut
        assert written[: len(before)] == before
        reader = records.iter_records(written)
        whole = [off for off, _t, _p in reader]
        assert reader.error == 0 or reader.offset > 0
        assert len(whole) > 10, "nothing was flushed before the cut"
        cli("sync", "--port", board.port, "--out", str(out), "--no-picture", "-q")
        assert board.resets == ["power cut"]
    synced = (night_folder(out) / "night.bin").read_bytes()
    assert synced[: reader.offset] == written[: reader.offset]
    sampled = as_sampled(trace, 26.0)
    offline = tmp_path / "offline"
    sampled_csv = tmp_path / "sampled.csv"
    write_trace(sampled_csv, sampled)
    cli("analyze", str(sampled_csv), "--out", str(offline), "--no-picture", "-q")
    got = [e[:2] for e in events(night_folder(out))]
    want = [e[:2] for e in events(offline)]
    assert got, "no event survived the cut"
    assert got == want[: len(got)]  # every event written before the cut, in order
