"""Replay of the real recorded ankle trace in ../shared/traces through `legsense analyze`.

The expectations are read off the raw data independently of the detector: the gyro
(bias taken from the first 3 s) stays within a few deg/s until ~8.5 s, never drops below
~10 deg/s between ~8.7 s and ~48 s, and is quiet again after ~48.6 s.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from legsense.cli import main
from legsense.trace import read_trace

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "traces"
TRACE = SHARED / "emory-ankle-lsm9ds0-raw.txt"

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not TRACE.exists(), reason=f"{TRACE} not present (../shared is absent)"),
]


def test_raw_data_has_the_structure_the_expectations_rely_on():
    tr = read_trace(TRACE)
    assert tr.gyr_dps is not None
    bias = np.median(tr.gyr_dps[tr.t_s < tr.t_s[0] + 3], axis=0)
    rate = np.abs(tr.gyr_dps - bias).sum(axis=1)
    assert rate[tr.t_s < 8.4].max() < 5
    moving = (tr.t_s > 8.8) & (tr.t_s < 48.0)
    assert np.percentile(rate[moving], 5) > 10
    assert rate[tr.t_s > 49.0].max() < 5


def test_one_long_movement_not_a_candidate_and_quiet_ends(tmp_path):
    out = tmp_path / "night"
    assert main(["analyze", str(TRACE), "--out", str(out), "-q"]) == 0
    rows = list(csv.DictReader((out / "events.csv").open()))
    lms = [r for r in rows if r["lm"] == "1"]
    long_ones = [r for r in lms if float(r["duration_s"]) > 10]
    assert len(long_ones) == 1
    long = long_ones[0]
    assert 8.0 < float(long["onset_s"]) < 9.0
    assert 48.0 < float(long["offset_s"]) < 49.5
    assert long["candidate"] == "0" and long["plm"] == "0"
    # nothing in the quiet stretches, and no candidate inside the long movement
    for r in rows:
        assert 8.0 < float(r["onset_s"]) < 49.5
    summary = json.loads((out / "summary.json").read_text())
    assert summary["plm_count"] == 0
    assert summary["recording"]["imu"] == "lsm9ds0"
    # the 0.6 s dropout is a gap: analysed time is shorter than the recording
    assert summary["recording"]["analysed_s"] < summary["recording"]["recording_s"]
