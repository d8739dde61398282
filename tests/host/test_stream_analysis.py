"""The streamed analysis (`analyze_file`, what `legsense analyze` runs) against the
in-memory one (`analyze_trace`): the same events, epochs and summary on the same data,
however the file is cut into blocks and the samples into detector batches.

The in-memory side is given the night itself (values on the IMU's count grid, times on
a microsecond grid, so the trace CSV holds them exactly), not the file read back: the
two paths share only the detector feed and the quantiser.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from legsense.analysis import (
    HOST_BATCH,
    Detection,
    SpanTracker,
    analyze_file,
    analyze_trace,
    data_spans,
)
from legsense.night import NightInfo
from legsense.night_folder import write_night_folder
from legsense.scoring import ScoringParams, score_movements
from legsense.simulation.night_generator import simulate_night
from legsense.trace import (
    RAW_IMU,
    Trace,
    TraceFile,
    format_fixed,
    from_counts,
    read_trace,
    samples_to_counts,
    to_counts,
    write_trace,
)
from legsense_core.imu_scales import scales

SHARED = Path(__file__).parents[2].parent / "shared"
RAW_TRACE = SHARED / "traces" / "emory-ankle-lsm9ds0-raw.txt"

# Block sizes in bytes (1, primes, one that ends blocks inside CR LF pairs) and detector
# batches in samples: each cuts the night in other places.
BLOCKS = (1, 2, 3, 7, 61, 997, 4093)
BATCHES = (1, 13, 4099, HOST_BATCH)


def on_grid(trace: Trace) -> Trace:
    """The trace with times on a 1 us grid and values on its IMU's count grid: what a
    trace CSV (6 decimals) holds exactly."""
    counts = to_counts(trace)
    return Trace(
        t_s=np.rint(np.asarray(trace.t_s) * 1e6) / 1e6,
        acc_g=from_counts(counts.acc, counts.accel_scale),
        gyr_dps=None if counts.gyr is None else from_counts(counts.gyr, counts.gyro_scale),
        meta=dict(trace.meta),
        path=trace.path,
    )


def without(trace: Trace, *spans_s: tuple[float, float]) -> Trace:
    """The trace with the samples in [a, b) removed: gaps in the data."""
    keep = np.ones(len(trace.t_s), dtype=bool)
    for a, b in spans_s:
        keep &= ~((trace.t_s >= a) & (trace.t_s < b))
    return Trace(
        trace.t_s[keep],
        trace.acc_g[keep],
        None if trace.gyr_dps is None else trace.gyr_dps[keep],
        dict(trace.meta),
    )


def night(seed: int, minutes: float, rate: float, **kw) -> Trace:
    trace, _labels = simulate_night(seed, minutes / 60.0, rate, **kw)
    return trace


def night_files(detection: Detection, info: NightInfo, out: Path) -> dict[str, str]:
    """events.csv, epochs.csv and summary.json as `legsense analyze` writes them."""
    scoring = score_movements(detection.movements, info, ScoringParams())
    write_night_folder(
        out,
        detection.movements,
        detection.epochs,
        scoring,
        info,
        detector=detection.config.as_dict(),
        picture=False,
    )
    return {name: (out / name).read_text() for name in ("events.csv", "epochs.csv", "summary.json")}


def assert_same(a: tuple[Detection, NightInfo], b: tuple[Detection, NightInfo]) -> None:
    (da, ia), (db, ib) = a, b
    for name in ("onset_s", "offset_s", "peak_mg", "peak_dps", "channels", "leg"):
        np.testing.assert_array_equal(getattr(da.movements, name), getattr(db.movements, name))
    for name in ("start_s", "n_samples", "active_s", "activity_mg_s", "posture_mg"):
        np.testing.assert_array_equal(getattr(da.epochs, name), getattr(db.epochs, name))
    assert (da.gaps, da.gap_s, da.samples) == (db.gaps, db.gap_s, db.samples)
    assert da.config.as_dict() == db.config.as_dict()
    assert ia == ib  # recording and analysed time, rate, spans, start, imu, leg, source


def _nights() -> dict[str, Trace]:
    undeclared = night(12, 5.0, 52.0)
    del undeclared.meta["sample_rate_hz"]  # the rate comes from the timestamps (jittered)
    return {
        "50 Hz": night(12, 5.0, 50.0),
        "12.5 Hz": night(13, 5.0, 12.5),
        "100 Hz accel-only": night(14, 5.0, 100.0, gyro=False),
        "26 Hz mpu6886": night(15, 5.0, 26.0, imu="mpu6886"),
        "104 Hz with gaps": without(night(16, 5.0, 104.0), (50.0, 52.5), (120.0, 195.0)),
        "undeclared rate": undeclared,
    }


NIGHTS = _nights()


@pytest.mark.parametrize("name", sorted(NIGHTS))
def test_streamed_file_equals_the_night_in_memory(tmp_path, name):
    trace = on_grid(NIGHTS[name])
    path = tmp_path / "night.csv"
    write_trace(path, trace)
    trace.path = path  # summary.json names the source
    in_memory = analyze_trace(trace)
    assert len(in_memory[0].movements) >= 3, "a night without movements proves little"
    streamed = analyze_file(path)
    assert_same(in_memory, streamed)
    assert night_files(*in_memory, tmp_path / "a") == night_files(*streamed, tmp_path / "b")
    assert_same(in_memory, analyze_file(path, block_bytes=997, batch=4099))


def test_gaps_jitter_and_the_rate_are_really_exercised():
    """The cases above cover what they claim: gaps (one long enough to restart the
    warm-up), jittered intervals and a rate taken from the timestamps."""
    gaps = on_grid(NIGHTS["104 Hz with gaps"])
    detection, info = analyze_trace(gaps)
    assert detection.gaps >= 2 and info.data_spans_s is not None and len(info.data_spans_s) >= 3
    intervals = np.diff(on_grid(NIGHTS["undeclared rate"]).t_s)
    assert intervals.std() > 1e-4  # jitter
    assert analyze_trace(on_grid(NIGHTS["undeclared rate"]))[1].sample_rate_hz == pytest.approx(
        52.0, rel=0.01
    )


@pytest.fixture(scope="module")
def short_night(tmp_path_factory) -> tuple[Path, tuple[Detection, NightInfo]]:
    """Two minutes at 25 Hz with a gap and CR LF line ends, small enough for 1-byte blocks."""
    trace = on_grid(without(night(21, 2.5, 25.0), (80.0, 81.0)))
    path = tmp_path_factory.mktemp("short") / "short.csv"
    write_trace(path, trace)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    trace.path = path
    return path, analyze_trace(trace)


@pytest.mark.parametrize("block", BLOCKS)
def test_block_boundaries_anywhere_change_nothing(short_night, block):
    path, in_memory = short_night
    assert len(in_memory[0].movements) >= 1
    assert_same(in_memory, analyze_file(path, block_bytes=block))


@pytest.mark.parametrize("batch", BATCHES)
def test_detector_batches_of_any_size_change_nothing(short_night, batch):
    path, in_memory = short_night
    assert_same(in_memory, analyze_file(path, block_bytes=4093, batch=batch))
    assert_same(in_memory, analyze_file(path, block_bytes=1, batch=batch))


def test_small_blocks_really_cut_the_file(short_night):
    path, in_memory = short_night
    chunks = list(TraceFile(path, block_bytes=7).chunks())
    assert len(chunks) > in_memory[0].samples // 2  # at most one row or two per block
    assert sum(len(c) for c in chunks) == in_memory[0].samples


def raw_lines(t_ms: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> bytes:
    """Rows of the raw LSM9DS0 logger format, hand-built: t_ms, 9 int16, trailing comma."""
    mag = np.zeros_like(acc)
    table = np.column_stack([t_ms, acc, gyr, mag]).astype(np.int64)
    return "".join(", ".join(str(v) for v in row) + ", \n" for row in table).encode()


def test_raw_logger_format_streams_like_the_counts_in_memory(tmp_path):
    trace = on_grid(without(night(14, 5.0, 10.0, imu=RAW_IMU), (60.0, 70.0)))
    counts = to_counts(trace)
    path = tmp_path / "raw.txt"
    path.write_bytes(raw_lines(counts.t_ms, counts.acc, counts.gyr))
    # The in-memory night as the raw format means it: counts -> physical units of the
    # LSM9DS0, t in ms from the logger's origin; the rate from the timestamps.
    acc_scale, gyr_scale = scales(RAW_IMU)
    expected = Trace(
        t_s=counts.t_ms / 1000.0,
        acc_g=from_counts(counts.acc, acc_scale),
        gyr_dps=from_counts(counts.gyr, gyr_scale),
        meta={"imu": RAW_IMU, "format": "lsm9ds0-raw"},
        path=path,
    )
    in_memory = analyze_trace(expected)
    assert len(in_memory[0].movements) >= 3
    for block in (2, 61, 1 << 22):
        assert_same(in_memory, analyze_file(path, block_bytes=block, batch=13))


@pytest.mark.shared
@pytest.mark.skipif(not RAW_TRACE.exists(), reason=f"shared trace not present: {RAW_TRACE}")
@pytest.mark.parametrize("block", (1, 7, 1 << 22))
def test_shared_raw_trace_streams_like_it_reads(block):
    in_memory = analyze_trace(read_trace(RAW_TRACE))
    assert_same(in_memory, analyze_file(RAW_TRACE, block_bytes=block, batch=7))


def test_span_tracker_equals_data_spans_for_any_cut():
    rng = np.random.default_rng(8)
    steps = rng.choice([0.02, 0.021, 0.5, 2.0, 90.0], size=3000, p=[0.6, 0.37, 0.01, 0.01, 0.01])
    t = np.cumsum(steps)
    expected = data_spans(t, 300)
    assert len(expected) > 30
    for _ in range(20):
        cuts = np.sort(rng.integers(0, len(t), rng.integers(0, 40)))
        tracker = SpanTracker(300)
        for part in np.split(t, cuts):
            tracker.add(part)
        assert tracker.spans == expected
        assert (tracker.first_t, tracker.last_t, tracker.count) == (t[0], t[-1], len(t))


def _quiet_trace_file(path: Path, minutes: float) -> Path:
    """A still ankle at 50 Hz written block by block (no whole-night array here)."""
    rng = np.random.default_rng(2)
    with path.open("wb") as fh:
        fh.write(b"# sample_rate_hz: 50\nt,ax,ay,az,gx,gy,gz\n")
        n = int(minutes * 60 * 50)
        for start in range(0, n, 30000):
            k = np.arange(start, min(n, start + 30000))
            table = np.column_stack(
                [
                    k / 50.0,
                    rng.normal(0, 0.002, (len(k), 3)) + np.array([0.0, 0.0, 1.0]),
                    rng.normal(0, 0.1, (len(k), 3)),
                ]
            )
            fh.write(format_fixed(table, 6))
    return path


def _peak_bytes(path: Path, block: int) -> int:
    """Peak bytes allocated while the file is read, checked, quantised and its spans
    followed: all of analyze but the detector (whose state is fixed; pure Python under
    tracemalloc would take minutes)."""
    acc_scale, gyr_scale = scales("lsm6dsox")
    tracemalloc.start()
    try:
        spans = SpanTracker(300)
        for chunk in TraceFile(path, block_bytes=block).chunks():
            samples_to_counts(chunk.t_s, chunk.acc_g, chunk.gyr_dps, acc_scale, gyr_scale)
            spans.add(chunk.t_s)
        assert spans.count == 50 * 60 * int(path.stem.split("-")[1])
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_file(tmp_path):
    """Four times the night, the same peak: reading holds a block at a time (numpy
    reports its buffers to tracemalloc)."""
    short = _quiet_trace_file(tmp_path / "quiet-10.csv", 10.0)
    long = _quiet_trace_file(tmp_path / "quiet-40.csv", 40.0)
    block = 1 << 16
    peak_short, peak_long = _peak_bytes(short, block), _peak_bytes(long, block)
    assert long.stat().st_size > 4 * 2**20
    assert peak_long < peak_short * 1.25 + 100_000, (peak_short, peak_long)
    assert peak_long < long.stat().st_size / 8, (peak_long, long.stat().st_size)


def test_summary_names_the_source_and_the_declared_rate(tmp_path):
    trace = on_grid(NIGHTS["50 Hz"])
    path = tmp_path / "n.csv"
    write_trace(path, trace)
    files = night_files(*analyze_file(path), tmp_path / "out")
    recording = json.loads(files["summary.json"])["recording"]
    assert recording["source"] == str(path) and recording["sample_rate_hz"] == 50.0
