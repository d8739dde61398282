"""`legsense analyze` and `legsense score` as a user runs them: outputs and bad input.

Bad input must give exit status 2, one line on stderr naming the file (and line), no
traceback and no partial output folder.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from legsense.cli import main

GOOD_HEADER = "t,ax,ay,az,gx,gy,gz\n"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command in a child process: what a user sees, exit status included."""
    return subprocess.run(
        [sys.executable, "-m", "legsense", *args], capture_output=True, text=True, timeout=120
    )


def quiet_trace(path: Path, seconds: float = 60.0, rate: float = 50.0, movements=()) -> Path:
    """A still ankle (1 g on z, small noise) with raised-cosine tilts at given (onset, dur)."""
    rng = np.random.default_rng(3)
    t = np.arange(0, seconds, 1 / rate)
    acc = np.zeros((len(t), 3))
    acc[:, 2] = 1.0
    gyr = np.zeros((len(t), 3))
    for onset, dur in movements:
        m = (t >= onset) & (t < onset + dur)
        phase = (t[m] - onset) / dur
        angle = np.deg2rad(20) * 0.5 * (1 - np.cos(2 * np.pi * phase))
        acc[m, 0] = np.sin(angle)
        acc[m, 2] = np.cos(angle)
        gyr[m, 1] = np.rad2deg(np.gradient(angle, t[m]))
    acc += rng.normal(0, 0.001, acc.shape)
    gyr += rng.normal(0, 0.05, gyr.shape)
    with path.open("w") as f:
        f.write(f"# sample_rate_hz: {rate:g}\n# start_utc: 2026-11-21T23:00:00+00:00\n")
        f.write(GOOD_HEADER)
        for i in range(len(t)):
            f.write(
                f"{t[i]:.3f},{','.join(f'{v:.6f}' for v in acc[i])},"
                f"{','.join(f'{v:.4f}' for v in gyr[i])}\n"
            )
    return path


def test_analyze_writes_the_night_folder(tmp_path):
    moves = [(10.0, 2.0), (25.0, 1.5), (40.0, 3.0)]
    trace = quiet_trace(tmp_path / "t.csv", movements=moves)
    out = tmp_path / "night"
    r = run_cli("analyze", str(trace), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} == {
        "events.csv",
        "epochs.csv",
        "summary.json",
        "night.png",
    }
    rows = list(csv.DictReader((out / "events.csv").open()))
    for col in (
        "onset_s",
        "offset_s",
        "duration_s",
        "candidate",
        "plm",
        "series",
        "imi_s",
        "onset_utc",
    ):
        assert col in rows[0]
    # the three movements we put in, found where we put them (within half a second)
    lms = [r for r in rows if r["lm"] == "1"]
    assert len(lms) == 3
    for (onset, dur), row in zip(moves, lms, strict=True):
        assert abs(float(row["onset_s"]) - onset) < 0.5
        assert abs(float(row["duration_s"]) - dur) < 0.6
    assert lms[0]["onset_utc"].startswith("2026-11-21T23:00:1")
    summary = json.loads((out / "summary.json").read_text())
    for key in (
        "recording_hours",
        "lm_count",
        "clm_count",
        "plm_count",
        "plm_series_count",
        "lm_index",
        "plm_index",
        "periodicity_index",
        "index_basis",
        "params",
    ):
        assert key in summary
    assert summary["lm_count"] == 3 and summary["plm_count"] == 0  # 3 < 4: no series
    assert summary["params"]["min_imi_s"] == 10.0


def test_analyze_scoring_options_reach_the_summary(tmp_path):
    trace = quiet_trace(tmp_path / "t.csv", movements=[(10, 1), (16, 1), (22, 1), (28, 1)])
    out = tmp_path / "n"
    assert (
        main(["analyze", str(trace), "--out", str(out), "--min-imi", "5", "-q", "--no-picture"])
        == 0
    )
    s = json.loads((out / "summary.json").read_text())
    # IMIs of 6 s: a series by the older 5-s criterion, none by 2016's 10 s
    assert s["params"]["min_imi_s"] == 5.0 and s["plm_count"] == 4
    assert main(["analyze", str(trace), "--out", str(out), "-q", "--no-picture"]) == 0
    assert json.loads((out / "summary.json").read_text())["plm_count"] == 0


def test_score_rescores_events_csv(tmp_path):
    events = tmp_path / "e.csv"
    # five 2-s candidates 20 s apart: one series of 5
    events.write_text("onset_s,duration_s\n" + "".join(f"{20 * i + 5},2\n" for i in range(5)))
    r = run_cli("score", str(events), "--recording-hours", "1")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["plm_count"] == 5 and s["plm_series_count"] == 1 and s["recording_hours"] == 1
    assert s["plm_index"] == pytest.approx(5.0)
    r = run_cli("score", str(events), "--min-series", "6", "--recording-hours", "1")
    assert json.loads(r.stdout)["plm_count"] == 0


BAD_TRACES = {
    "wrong_header": ("time,x,y,z\n0,0,0,1\n", "header", 1),
    "non_numeric": (GOOD_HEADER + "0,0,0,1,0,0,0\n0.02,0,abc,1,0,0,0\n", "ay", 3),
    "backwards": (GOOD_HEADER + "0,0,0,1,0,0,0\n0.02,0,0,1,0,0,0\n0.01,0,0,1,0,0,0\n", "", 4),
    "empty": (GOOD_HEADER, "", None),
    "short_row": (GOOD_HEADER + "0,0,0,1,0,0\n", "", 2),
}


@pytest.mark.parametrize("name", sorted(BAD_TRACES))
def test_analyze_bad_trace_is_one_line_exit_2_nothing_left(tmp_path, name):
    text, word, line = BAD_TRACES[name]
    trace = tmp_path / f"{name}.csv"
    trace.write_text(text)
    out = tmp_path / "night"
    r = run_cli("analyze", str(trace), "--out", str(out))
    assert r.returncode == 2, (r.stdout, r.stderr)
    err = r.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert str(trace) in err
    if line is not None:
        assert f"{trace}:{line}" in err
    assert word in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".night")]


def test_missing_file_and_bad_options(tmp_path):
    r = run_cli("analyze", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "nope.csv" in r.stderr and "Traceback" not in r.stderr
    trace = quiet_trace(tmp_path / "t.csv", seconds=5)
    for opts in (
        ["--min-imi", "100", "--max-imi", "90"],
        ["--min-series", "0"],
        ["--min-lm", "-1"],
        ["--max-imi", "abc"],
    ):
        r = run_cli("analyze", str(trace), "--out", str(tmp_path / "o"), *opts)
        assert r.returncode == 2, opts
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    r = run_cli("analyze", str(trace))  # --out missing
    assert r.returncode == 2


@pytest.mark.parametrize(
    "text,where",
    [
        ("onset,dur\n1,2\n", ":1"),
        ("onset_s,duration_s\n1,2\nx,2\n", ":3"),
        ("onset_s,duration_s\n1,-2\n", ":2"),
        ("onset_s,duration_s,leg\n1,2,middle\n", ":2"),
        ("", ":1"),
    ],
)
def test_score_bad_events_file(tmp_path, text, where):
    p = tmp_path / "e.csv"
    p.write_text(text)
    r = run_cli("score", str(p))
    assert r.returncode == 2
    assert f"{p}{where}" in r.stderr and "Traceback" not in r.stderr


def test_interrupted_write_leaves_no_partial_folder(tmp_path, monkeypatch):
    """A failure while writing (here: the picture) leaves no night folder behind."""
    import legsense.night_plot

    def boom(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(legsense.night_plot, "plot_night", boom)
    trace = quiet_trace(tmp_path / "t.csv", seconds=10)
    out = tmp_path / "night"
    assert main(["analyze", str(trace), "--out", str(out), "-q"]) == 130
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


# ---------------------------------------------------------------- bounded input, checked output


def run_cli_limited(*args: str, address_space: int = 2**30) -> subprocess.CompletedProcess[str]:
    """The real command with at most `address_space` bytes of memory: a file it tried to
    read whole would end in MemoryError (exit 1), not in a one-line refusal."""
    import os
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "legsense", *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
        env=env,
    )


def sparse_file(path: Path, size: int) -> Path:
    try:
        with path.open("wb") as fh:
            fh.truncate(size)
    except OSError as exc:
        pytest.skip(f"cannot make a sparse file of {size} bytes here: {exc}")
    return path


def assert_refused(r: subprocess.CompletedProcess[str], where: str, word: str, out: Path) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    err = r.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert where in err and word in err, err
    assert not out.exists()


def test_a_2g_file_of_nul_bytes_is_refused_unread(tmp_path):
    big = sparse_file(tmp_path / "x.csv", 2 * 2**30)  # `truncate -s 2G x.csv`
    out = tmp_path / "night"
    r = run_cli_limited("analyze", str(big), "--out", str(out))
    assert_refused(r, f"{big}:1", "not a text file", out)


def test_a_file_larger_than_any_trace_is_refused_unread(tmp_path):
    from legsense.trace import MAX_TRACE_BYTES

    huge = sparse_file(tmp_path / "huge.csv", MAX_TRACE_BYTES + 1)
    out = tmp_path / "night"
    r = run_cli_limited("analyze", str(huge), "--out", str(out))
    assert_refused(r, str(huge), "at most", out)


@pytest.mark.parametrize(
    ("content", "line", "word"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", 1, "not a text file"),
        (bytes(range(128, 256)) * 50, 1, "not a text file"),
        (b"name,age,city\nbob,31,Lyon\n", 1, "wrong header"),
        (b"1.5,2.25,3,4,5,6,7,8,9,10\n2.5,2.25,3,4,5,6,7,8,9,10\n", 1, "int16 count"),
        (b"x" * 50_000_000, 1, "longer than"),
    ],
    ids=["png", "high-bytes", "other-csv", "ten-float-columns", "one-endless-line"],
)
def test_files_that_are_not_traces_are_refused(tmp_path, content, line, word):
    path = tmp_path / "not-a-trace.csv"
    path.write_bytes(content)
    out = tmp_path / "night"
    r = run_cli_limited("analyze", str(path), "--out", str(out))
    assert_refused(r, f"{path}:{line}", word, out)


def test_bad_row_deep_in_a_long_trace_names_its_line_and_writes_nothing(tmp_path):
    """Past the first block (4 MiB) of the stream: found, named, nothing written."""
    n = 100_000
    t = np.arange(n) / 50.0
    rows = [f"{x:.2f},0.001234,-0.002345,1.000000,0.1234,0.2345,0.3456" for x in t]
    rows[90_000] = rows[90_000].replace(",1.0", ",1.O")
    path = tmp_path / "long.csv"
    path.write_text("# sample_rate_hz: 50\n" + GOOD_HEADER + "\n".join(rows) + "\n")
    assert path.stat().st_size > 4 * 2**20
    out = tmp_path / "night"
    r = run_cli("analyze", str(path), "--out", str(out), "-q")
    assert_refused(r, f"{path}:90003", "column az", out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.csv"]


@pytest.fixture
def no_detection(monkeypatch):
    """Records whether analyze started detecting (it must not, for a bad --out)."""
    import legsense.commands.analyze as analyze_cmd

    calls: list[object] = []
    real = analyze_cmd.analyze_file

    def spy(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(analyze_cmd, "analyze_file", spy)
    return calls


def test_out_that_is_a_file_is_refused_before_detection(tmp_path, no_detection, capsys):
    trace = quiet_trace(tmp_path / "t.csv", seconds=5)
    out = tmp_path / "night"
    out.write_text("I am a file\n")
    assert main(["analyze", str(trace), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(out) in err and "not a directory" in err
    assert no_detection == [] and out.read_text() == "I am a file\n"
    below = out / "sub"
    assert main(["analyze", str(trace), "--out", str(below), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert str(out) in err and "not a directory" in err and no_detection == []


def test_out_that_cannot_be_written_is_refused_before_detection(tmp_path, no_detection, capsys):
    trace = quiet_trace(tmp_path / "t.csv", seconds=5)
    # /proc takes no new folders, not even from root (a chmod'ed folder would not stop root)
    out = Path("/proc/legsense-test-no-such-folder/night")
    if not Path("/proc").is_dir():
        pytest.skip("no /proc here")
    assert main(["analyze", str(trace), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "/proc" in err and "cannot be written" in err
    assert no_detection == []


def test_out_in_a_read_only_folder_is_refused(tmp_path, no_detection, capsys):
    import os

    trace = quiet_trace(tmp_path / "t.csv", seconds=5)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        assert main(["analyze", str(trace), "--out", str(locked / "night"), "-q"]) == 2
        assert str(locked) in capsys.readouterr().err and no_detection == []
    finally:
        locked.chmod(0o700)


def test_cli_writes_what_the_in_memory_analysis_finds(tmp_path):
    """The command streams the file; its night folder equals the one written from
    analyze_trace on the trace in memory."""
    from legsense.analysis import analyze_trace
    from legsense.night_folder import write_night_folder
    from legsense.scoring import ScoringParams, score_movements
    from legsense.trace import read_trace

    moves = [(12.0, 1.5), (40.0, 2.0), (63.0, 1.0), (90.0, 3.0), (118.0, 1.2)]
    trace_path = quiet_trace(tmp_path / "t.csv", seconds=140, movements=moves)
    out = tmp_path / "cli"
    r = run_cli("analyze", str(trace_path), "--out", str(out), "-q", "--no-picture")
    assert r.returncode == 0, r.stderr
    detection, info = analyze_trace(read_trace(trace_path))
    scoring = score_movements(detection.movements, info, ScoringParams())
    ref = write_night_folder(
        tmp_path / "ref",
        detection.movements,
        detection.epochs,
        scoring,
        info,
        detector=detection.config.as_dict(),
        picture=False,
    )
    assert len(detection.movements) == len(moves)
    for name in ("events.csv", "epochs.csv", "summary.json"):
        assert (out / name).read_text() == (ref / name).read_text(), name
