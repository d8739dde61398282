"""The trace CSV, labels and raw LSM9DS0 format: round trips and every error case."""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from legsense.errors import InputError
from legsense.trace import (
    BLOCK_BYTES,
    MAX_HEADER_LINES,
    MAX_LINE_BYTES,
    IntervalCounter,
    Trace,
    TraceFile,
    format_fixed,
    intervals_us,
    labels_path_for,
    median_rate_hz,
    read_labels,
    read_trace,
    to_counts,
    write_labels,
    write_trace,
)

SHARED = Path(__file__).parents[2].parent / "shared"
RAW_TRACE = SHARED / "traces" / "emory-ankle-lsm9ds0-raw.txt"

# Datasheet sensitivities, written out here on purpose (not imported from imu_scales):
# one LSB in g and in deg/s.
LSB = {
    "lsm6dsox": (0.061e-3, 8.75e-3),
    "mpu6886": (1.0 / 16384.0, 1.0 / 131.0),
    "lsm9ds0": (0.061e-3, 8.75e-3),
}


def _write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = (
    "# sample_rate_hz: 50\n# start_utc: 2026-01-05T22:30:00Z\n# imu: lsm6dsox\n# leg: left\n"
    "t,ax,ay,az,gx,gy,gz\n"
    "0.0,0.01,-0.02,0.99,0.5,-0.25,0.125\n"
    "0.02,0.011,-0.021,0.991,0.4,-0.2,0.1\n"
    "0.041,0.012,-0.022,0.992,0.3,-0.15,0.075\n"
)


def test_read_good_trace_and_properties(tmp_path):
    trace = read_trace(_write(tmp_path, GOOD))
    assert trace.t_s.tolist() == [0.0, 0.02, 0.041]
    assert trace.acc_g[2].tolist() == [0.012, -0.022, 0.992]
    assert trace.gyr_dps is not None and trace.gyr_dps[0].tolist() == [0.5, -0.25, 0.125]
    assert trace.sample_rate_hz == 50.0
    assert trace.start_utc == datetime(2026, 1, 5, 22, 30, tzinfo=UTC)
    assert (trace.imu, trace.leg) == ("lsm6dsox", "left")
    assert trace.duration_s == pytest.approx(0.041)


def test_accel_only_trace_and_rate_from_timestamps(tmp_path):
    text = "t,ax,ay,az\n0,0,0,1\n0.1,0,0,1\n0.2,0,0,1\n0.35,0,0,1\n"
    trace = read_trace(_write(tmp_path, text))
    assert trace.gyr_dps is None
    assert trace.sample_rate_hz == pytest.approx(10.0)  # median interval 0.1 s
    assert trace.start_utc is None and trace.imu is None


def test_crlf_blank_lines_and_unknown_keys_are_kept(tmp_path):
    text = (
        "# note: hello\r\n# Comment without a colon\r\nt,ax,ay,az\r\n0,0,0,1\r\n\r\n1,0,0,1\r\n\r\n"
    )
    trace = read_trace(_write(tmp_path, text))
    assert trace.t_s.tolist() == [0.0, 1.0]
    assert trace.meta == {"note": "hello"}


def test_start_utc_with_offset_is_converted_to_utc(tmp_path):
    text = "# start_utc: 2026-01-06T00:30:00+02:00\nt,ax,ay,az\n0,0,0,1\n"
    assert read_trace(_write(tmp_path, text)).start_utc == datetime(2026, 1, 5, 22, 30, tzinfo=UTC)


def test_write_read_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    n = 500
    original = Trace(
        t_s=np.cumsum(rng.uniform(0.01, 0.03, n)),
        acc_g=rng.normal(0, 0.7, (n, 3)),
        gyr_dps=rng.normal(0, 40, (n, 3)),
        meta={"sample_rate_hz": "50", "imu": "mpu6886", "x-extra": "kept"},
    )
    path = tmp_path / "night.csv"
    write_trace(path, original)
    back = read_trace(path)
    assert back.meta == original.meta
    np.testing.assert_allclose(back.t_s, original.t_s, atol=5e-7, rtol=0)
    np.testing.assert_allclose(back.acc_g, original.acc_g, atol=5e-7, rtol=0)
    np.testing.assert_allclose(back.gyr_dps, original.gyr_dps, atol=5e-7, rtol=0)
    assert not list(tmp_path.glob(".*tmp")), "temporary file left behind"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_format_fixed_matches_printf():
    rng = np.random.default_rng(1)
    table = np.column_stack([rng.normal(0, 3, 2000), rng.normal(0, 300, 2000)])
    table[:6, 0] = [0.0, -4e-7, 4e-7, -0.5, 12345.0000007, -9.9999996]
    expected = "".join("%.6f,%.6f\n" % tuple(row) for row in table)  # noqa: UP031
    expected = expected.replace("-0.000000", "0.000000")
    assert format_fixed(table, 6).decode() == expected


@pytest.mark.parametrize("imu", ["lsm6dsox", "mpu6886"])
def test_on_grid_values_round_trip_to_the_same_counts(tmp_path, imu):
    rng = np.random.default_rng(7)
    n = 2000
    acc = rng.integers(-32768, 32768, (n, 3))
    gyr = rng.integers(-32768, 32768, (n, 3))
    acc[:4] = [[-32768, 32767, 0]] * 4
    t_ms = np.cumsum(rng.integers(1, 200, n))
    a_lsb, g_lsb = LSB[imu]
    trace = Trace(t_ms / 1000.0, acc * a_lsb, gyr * g_lsb, {"imu": imu})
    path = tmp_path / "grid.csv"
    write_trace(path, trace)
    counts = to_counts(read_trace(path))
    assert counts.imu == imu
    assert counts.acc.dtype == np.int16 and counts.gyr is not None
    np.testing.assert_array_equal(counts.t_ms, t_ms)
    np.testing.assert_array_equal(counts.acc, acc)
    np.testing.assert_array_equal(counts.gyr, gyr)


@settings(max_examples=40, deadline=None)
@given(
    imu=st.sampled_from(["lsm6dsox", "mpu6886", "lsm9ds0"]),
    gyro=st.booleans(),
    steps=st.lists(st.integers(1, 5000), min_size=1, max_size=30),
    data=st.data(),
)
def test_any_on_grid_trace_round_trips(tmp_path_factory, imu, gyro, steps, data):
    n = len(steps)
    int16 = st.integers(-32768, 32767)
    acc = np.array(data.draw(st.lists(st.tuples(int16, int16, int16), min_size=n, max_size=n)))
    gyr = np.array(data.draw(st.lists(st.tuples(int16, int16, int16), min_size=n, max_size=n)))
    t_ms = np.cumsum(steps) - steps[0]
    a_lsb, g_lsb = LSB[imu]
    trace = Trace(t_ms / 1000.0, acc * a_lsb, gyr * g_lsb if gyro else None, {"imu": imu})
    path = tmp_path_factory.mktemp("hyp") / "t.csv"
    write_trace(path, trace)
    counts = to_counts(read_trace(path))
    np.testing.assert_array_equal(counts.t_ms, t_ms)
    np.testing.assert_array_equal(counts.acc, acc)
    if gyro:
        np.testing.assert_array_equal(counts.gyr, gyr)
    else:
        assert counts.gyr is None


def test_to_counts_clips_and_defaults_to_lsm6dsox():
    trace = Trace(np.array([0.0]), np.array([[3.0, -3.0, 0.0]]), None, {})
    counts = to_counts(trace)
    assert counts.imu == "lsm6dsox"
    assert counts.acc.tolist() == [[32767, -32768, 0]]


def test_to_counts_unknown_imu_is_an_input_error():
    trace = Trace(np.array([0.0]), np.zeros((1, 3)), None, {"imu": "bmi999"})
    with pytest.raises(InputError, match="bmi999"):
        to_counts(trace)


HEADER = "t,ax,ay,az,gx,gy,gz\n"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", None, "no header"),
        ("# imu: x\n", None, "no header"),
        ("time,ax,ay,az\n0,0,0,1\n", 1, "wrong header"),
        ("t,ax,ay\n0,0,0\n", 1, "wrong header"),
        (HEADER, 1, "empty trace"),
        (HEADER + "\n\n", 1, "empty trace"),
        (HEADER + "0,0,0,1,0,0,0\n0.1,0,0,1,0,0\n", 3, "expected 7 columns, found 6"),
        (HEADER + "0,0,0,1,0,0\n", 2, "expected 7 columns, found 6"),
        ("t,ax,ay,az\n0,0,0,1,0\n", 2, "expected 4 columns, found 5"),
        (HEADER + "0,0,0,1,0,0,0\n0.1,0,0,1,0,0,0,9\n", 3, "expected 7 columns, found 8"),
        (HEADER + "0,0,0,1,0,0,0\n0.1,0,abc,1,0,0,0\n", 3, "column ay"),
        (HEADER + "0,0,0,1,0,0,0\n0.1,0,0,1,0,,0\n", 3, "column gy"),
        (HEADER + "0,0,0,1,0,0,0\n0.1,0,0,nan,0,0,0\n", 3, "column az is not finite"),
        (HEADER + "0,0,0,1,0,0,0\n0.1,0,0,1,0,0,inf\n", 3, "column gz is not finite"),
        (HEADER + "0,0,0,1,0,0,0\n0.2,0,0,1,0,0,0\n0.1,0,0,1,0,0,0\n", 4, "backwards"),
        (HEADER + "0,0,0,1,0,0,0\n0,0,0,1,0,0,0\n", 3, "backwards or repeats"),
        ("# a: b\n# sample_rate_hz: fast\n" + HEADER + "0,0,0,1,0,0,0\n", 2, "sample_rate_hz"),
        ("# sample_rate_hz: -5\n" + HEADER + "0,0,0,1,0,0,0\n", 1, "sample_rate_hz"),
        ("# start_utc: yesterday\n" + HEADER + "0,0,0,1,0,0,0\n", 1, "start_utc"),
        ("1,2,3,4,5\n", 1, "not the raw"),
        ("100, 1, 2, 3, 4, 5, 6, 7, 8, 9,\n200, 1, 2, 3, 4, 5, 6, 7, 8,\n", 2, "columns"),
        ("100, 1, 2, 3, 4, 5, 6, 7, 8, 9,\n90, 1, 2, 3, 4, 5, 6, 7, 8, 9,\n", 2, "backwards"),
    ],
)
def test_bad_traces_name_file_and_line(tmp_path, text, line, fragment):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        read_trace(path)
    err = info.value
    assert err.path == str(path)
    assert err.line == line
    assert fragment in err.message
    assert "\n" not in str(err)


def test_bad_row_deep_in_a_big_file_is_found(tmp_path):
    rows = [f"{k * 0.02:.2f},0,0,1,0,0,0" for k in range(20000)]
    rows[15000] = rows[15000].replace(",1,", ",1x,")
    path = _write(tmp_path, HEADER + "\n".join(rows) + "\n")
    with pytest.raises(InputError) as info:
        read_trace(path)
    assert info.value.line == 15002 and "column az" in info.value.message


def test_missing_unreadable_and_binary_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_trace(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="directory"):
        read_trace(tmp_path)
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(InputError, match="not a text file"):
        read_trace(binary)


def test_labels_path_for():
    assert labels_path_for("/x/night.csv") == Path("/x/night.labels.csv")
    assert labels_path_for("night") == Path("night.labels.csv")
    assert labels_path_for("a.b/n.trace.csv") == Path("a.b/n.trace.labels.csv")


def test_labels_round_trip_with_extra_columns(tmp_path):
    path = tmp_path / "n.labels.csv"
    onset = np.array([1.5, 30.25, 61.0])
    offset = np.array([3.0, 32.0, 75.125])
    kind = np.array(["plm", "plm", "long"])
    series = np.array([0, 0, -1])
    write_labels(path, onset, offset, {"kind": kind, "series": series})
    with open(path, newline="") as fh:
        assert next(csv.reader(fh)) == ["onset_s", "offset_s", "kind", "series"]
    labels = read_labels(path)
    np.testing.assert_array_equal(labels.onset_s, onset)
    np.testing.assert_array_equal(labels.offset_s, offset)
    np.testing.assert_array_equal(labels.duration_s, offset - onset)
    assert labels.extra["kind"].tolist() == ["plm", "plm", "long"]
    assert labels.extra["series"].tolist() == [0, 0, -1]
    assert len(labels) == 3


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", None, "no header"),
        ("onset_s,kind\n1,plm\n", 1, "missing offset_s"),
        ("onset_s,offset_s\n1,2\n3,x\n", 3, "column offset_s"),
        ("onset_s,offset_s\n1,2\n3,nan\n", 3, "not finite"),
        ("onset_s,offset_s\n5,2\n", 2, "before onset_s"),
        ("onset_s,offset_s,kind\n1,2\n", 2, "expected 3 columns"),
    ],
)
def test_bad_labels(tmp_path, text, line, fragment):
    path = _write(tmp_path, text, "x.labels.csv")
    with pytest.raises(InputError) as info:
        read_labels(path)
    assert (info.value.path, info.value.line) == (str(path), line)
    assert fragment in info.value.message


@pytest.mark.shared
@pytest.mark.skipif(not RAW_TRACE.exists(), reason=f"shared trace not present: {RAW_TRACE}")
def test_raw_shared_trace_scales_and_returns_the_raw_counts():
    raw = []
    with open(RAW_TRACE, newline="") as fh:
        for row in csv.reader(fh):
            raw.append([int(c) for c in row[:10]])
    raw_arr = np.array(raw)
    trace = read_trace(RAW_TRACE)
    assert trace.imu == "lsm9ds0" and trace.meta["format"] == "lsm9ds0-raw"
    assert len(trace) == len(raw_arr) == 506
    np.testing.assert_allclose(trace.acc_g, raw_arr[:, 1:4] * 0.061e-3, rtol=1e-12)
    np.testing.assert_allclose(trace.gyr_dps, raw_arr[:, 4:7] * 8.75e-3, rtol=1e-12)
    # |a| near 1 g at rest, as the README says
    assert 0.9 < np.median(np.linalg.norm(trace.acc_g, axis=1)) < 1.1
    counts = to_counts(trace)
    np.testing.assert_array_equal(counts.t_ms, raw_arr[:, 0])
    np.testing.assert_array_equal(counts.acc, raw_arr[:, 1:4])
    np.testing.assert_array_equal(counts.gyr, raw_arr[:, 4:7])
    assert 9 < trace.sample_rate_hz < 11


# ---------------------------------------------------------------- streamed reading


def _drain(path: Path, block: int = BLOCK_BYTES) -> np.ndarray:
    """Every row a TraceFile yields, as (t, ax, ay, az[, gx, gy, gz])."""
    parts = [
        np.column_stack([c.t_s, c.acc_g] + ([] if c.gyr_dps is None else [c.gyr_dps]))
        for c in TraceFile(path, block_bytes=block).chunks()
    ]
    return np.concatenate(parts)


BAD_TRACES = [
    ("time,ax,ay,az\n0,0,0,1\n", 1, "wrong header"),
    (HEADER, 1, "empty trace"),
    (HEADER + "0,0,0,1,0,0,0\n0.1,0,0,1,0,0\n", 3, "expected 7 columns, found 6"),
    (HEADER + "0,0,0,1,0,0,0\n0.1,0,0,1,0,0,0,9\n", 3, "expected 7 columns, found 8"),
    (HEADER + "0,0,0,1,0,0,0\n0.1,0,abc,1,0,0,0\n", 3, "column ay"),
    (HEADER + "0,0,0,1,0,0,0\n0.1,0,0,nan,0,0,0\n", 3, "column az is not finite"),
    (HEADER + "0,0,0,1,0,0,0\n\n0.2,0,0,1,0,0,0\n\n0.1,0,0,1,0,0,0\n", 6, "backwards"),
    (HEADER + "0,0,0,1,0,0,0\n0.1,0,0,1,0,0,0\n0.2,0,0,1,0,\x00,0\n", 4, "NUL"),
    (HEADER + "0,0,0,1,0,0,0\n0.1,0,0,\xe9,0,0,0\n", 3, "column az"),
    ("100, 1, 2, 3, 4, 5, 6, 7, 8, 9,\n200, 1, 2, 3, 4, 5, 6, 7, 8,\n", 2, "columns"),
    ("100, 1, 2, 3, 4, 5, 6, 7, 8, 9,\n200, 1, 2.5, 3, 4, 5, 6, 7, 8, 9,\n", 2, "int16 count"),
    ("100, 1, 2, 3, 4, 5, 6, 7, 8, 9,\n200, 1, 2, 3, 4, 5, 6, 7, 8, 40000,\n", 2, "column mz"),
    ("100, 1, 2, 3, 4, 5, 6, 7, 8, 9,\n200, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,\n", 2, "found 11"),
]


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, BLOCK_BYTES])
@pytest.mark.parametrize(("text", "line", "fragment"), BAD_TRACES)
def test_bad_rows_are_found_at_their_line_whatever_the_blocks(
    tmp_path, text, line, fragment, block
):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        _drain(path, block)
    assert (info.value.path, info.value.line) == (str(path), line)
    assert fragment in info.value.message and "\n" not in str(info.value)


@pytest.mark.parametrize("block", [1, 2, 3, 7, 4096])
@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_any_line_ending_and_block_size_give_the_same_rows(tmp_path, block, ending):
    rows = [f"{k * 0.02:.2f},{k % 7 * 0.001:.3f},0,1,0.5,-0.25,{k}" for k in range(300)]
    text = ("# sample_rate_hz: 50\n" + HEADER + "\n".join(rows) + "\n").encode()
    path = tmp_path / "t.csv"
    path.write_bytes(text.replace(b"\n", ending))
    got = _drain(path, block)
    expected = np.array([[float(c) for c in r.split(",")] for r in rows])
    np.testing.assert_array_equal(got, expected)
    assert TraceFile(path, block_bytes=block).declared_rate_hz == 50.0


def test_bad_row_far_beyond_the_first_block_names_its_line(tmp_path):
    rows = [f"{k * 0.02:.2f},0,0,1,0,0,0" for k in range(5000)]
    rows[4321] = rows[4321].replace(",1,", ",one,")
    path = _write(tmp_path, "# imu: lsm6dsox\n" + HEADER + "\n".join(rows) + "\n")
    with pytest.raises(InputError) as info:
        _drain(path, 4096)
    assert info.value.line == 4324 and "column az" in info.value.message


def test_byte_order_mark_is_not_part_of_the_first_line(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf# sample_rate_hz: 25\nt,ax,ay,az\n0,0,0,1\n0.04,0,0,1\n")
    trace = read_trace(path)
    assert trace.sample_rate_hz == 25.0 and trace.gyr_dps is None and len(trace) == 2


@pytest.mark.parametrize("block", [1, 1000, BLOCK_BYTES])
def test_a_line_longer_than_any_row_is_not_a_trace(tmp_path, block):
    path = tmp_path / "long.csv"
    path.write_bytes(HEADER.encode() + b"0,0,0,1,0,0,0\n" + b"1" * (MAX_LINE_BYTES + 10) + b"\n")
    with pytest.raises(InputError) as info:
        _drain(path, block)
    assert info.value.line == 3 and "longer than" in info.value.message
    path.write_bytes(b"t" * (3 * MAX_LINE_BYTES))  # no line end at all
    with pytest.raises(InputError) as info:
        TraceFile(path, block_bytes=block)
    assert info.value.line == 1 and "longer than" in info.value.message


def test_binary_files_are_refused_from_their_first_block(tmp_path):
    zeros = tmp_path / "zeros.csv"
    with zeros.open("wb") as fh:
        fh.truncate(64 * 2**20)  # sparse: NUL bytes, no line ends
    with pytest.raises(InputError) as info:
        TraceFile(zeros)
    assert info.value.line == 1 and "not a text file" in info.value.message
    noise = tmp_path / "noise.bin"
    noise.write_bytes(np.random.default_rng(3).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match=r"not a text file|not a trace"):
        TraceFile(noise)


def test_files_over_the_limit_are_refused_unread(tmp_path):
    path = _write(tmp_path, GOOD)
    with pytest.raises(InputError, match="at most") as info:
        TraceFile(path, max_bytes=100)
    assert info.value.path == str(path) and info.value.line is None
    with pytest.raises(InputError, match="into memory"):
        read_trace(path, max_bytes=100)


def test_a_fifo_is_not_a_trace_file(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        TraceFile(fifo)  # refused without opening it (opening would block)


def test_endless_header_lines_are_not_a_trace(tmp_path):
    path = _write(tmp_path, "# note: x\n" * (MAX_HEADER_LINES + 5) + HEADER + "0,0,0,1,0,0,0\n")
    with pytest.raises(InputError) as info:
        TraceFile(path)
    assert info.value.line == MAX_HEADER_LINES + 1 and "not a trace" in info.value.message


def test_median_rate_is_the_median_interval_in_microseconds():
    rng = np.random.default_rng(5)
    for n in (1, 2, 3, 10, 1001):
        t = np.cumsum(rng.uniform(0.009, 0.011, n + 1))
        expected = 1.0 / np.median(np.round(np.diff(t), 6))  # independent: numpy's median
        assert median_rate_hz(intervals_us(t)) == pytest.approx(expected, rel=1e-12)
    assert median_rate_hz(intervals_us(np.array([0.0]))) == 0.0
    assert median_rate_hz(intervals_us(np.array([0.0, 0.5, 1.0]))) == 0.0  # under 3.8 Hz
    assert median_rate_hz(intervals_us(np.array([0.0, 0.1, 0.2, 0.35]))) == 10.0


def test_interval_counter_equals_the_median_for_any_cut():
    rng = np.random.default_rng(6)
    steps = rng.choice([0.0192, 0.0193, 0.0194, 0.5, 400.0], 5000, p=[0.3, 0.3, 0.38, 0.01, 0.01])
    t = np.cumsum(steps)
    expected = median_rate_hz(intervals_us(t))
    for _ in range(10):
        counter = IntervalCounter()
        for part in np.split(t, np.sort(rng.integers(0, len(t), rng.integers(0, 50)))):
            counter.add(part)
        assert counter.rate_hz() == expected and counter.count == len(t) - 1
    slow = IntervalCounter()
    slow.add(np.arange(0.0, 100.0, 0.4))  # 2.5 Hz: the median is past the table
    assert slow.rate_hz() == 0.0
