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
