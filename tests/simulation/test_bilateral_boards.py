"""Two virtual boards on anna's ankles, synced into one folder: one bilateral night equal
to the truth, the two clocks aligned well under the 0.5 s rule.

The firmware runs on two CPython SimBoards (tests/bilateral_rig.py) replaying the left
and right traces of one simulated bilateral night. Their crystals are off by +40 and
-40 ppm, their IMU oscillators by +1 % and -1 %, their clocks set at different times
and corrected by a sync mid-night; `legsense sync`'s engine syncs each over its pty into
one data folder. Expected, from outside the code under test:

* the merged night's LMs are the labels scored bilaterally (scoring.score_wasm2016 of
  the generator's labels, in the test): same count, legs, candidacy and PLMs;
* each leg's clock error (merged UTC minus the same event on a perfect clock: the IMU's
  samples at their true times through the detector offline) sits within the firmware's
  sample-clock band (SLEW_LIMIT_MS = 100 ms, docs/firmware.md) for the first rate
  window (TRIM_WINDOW_MS), then within a period and a few ms once the firmware counts
  at the IMU's measured period; the legs never disagree by 0.25 s; the merged night's
  own bound covers that. The left board light-sleeps (its cable in only to sync).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
from bilateral_rig import (
    LegPlan,
    alignment_errors,
    clock_errors,
    compare_with_truth,
    merged_movements,
    reference_movements,
    run_board,
)
from legsense.simulation.bilateral_generator import simulate_bilateral_night
from legsense_device.sample_clock import TRIM_WINDOW_MS

WORLD0_MS = int(datetime(2026, 1, 5, 21, 0, tzinfo=UTC).timestamp() * 1000)
TRACE0_S = 1200.0  # the night's movements begin 20 min after the left board powers on
MINUTES = 20.0
RATE = 52  # the default ODR


@pytest.fixture(scope="module")
def night():
    start = datetime.fromtimestamp((WORLD0_MS / 1000) + TRACE0_S, tz=UTC)
    return simulate_bilateral_night(8, MINUTES / 60, float(RATE), start_utc=start)


def test_two_boards_synced_into_one_bilateral_night(tmp_path, night):
    left, right, labels = night
    end = TRACE0_S + MINUTES * 60
    plans = [
        LegPlan(
            "left",
            bytes.fromhex("240ac4000011"),
            mcu_ppm=40.0,
            imu_ppm=10_000.0,
            power_on_s=0.0,
            syncs_s=[60.0, TRACE0_S + 240.0, end + 300.0],
            start_s=TRACE0_S - 60.0,
            stop_s=end + 60.0,
            odr_hz=RATE,
            sleeps=True,  # the cable in only to sync: light sleep between FIFO bursts
        ),
        LegPlan(
            "right",
            bytes.fromhex("240ac4000022"),
            mcu_ppm=-40.0,
            imu_ppm=-10_000.0,
            power_on_s=-600.0,  # on and set 11 min before the left one
            syncs_s=[-540.0, TRACE0_S + 420.0, end + 900.0],
            start_s=TRACE0_S - 30.0,
            stop_s=end + 90.0,
            odr_hz=RATE,
        ),
    ]
    out = tmp_path / "data"
    runs = {}
    for plan, trace in zip(plans, (left, right), strict=True):
        runs[plan.leg] = run_board(plan, trace, TRACE0_S, tmp_path / plan.leg, out, WORLD0_MS)
    # The right leg's mid-night sync found the left's night and made the merged one;
    # its final sync brought the rest of its night and made it again.
    merges = [r.merge for r in runs["right"].reports]
    assert [len(m.written) if m else 0 for m in merges] == [0, 1, 1]
    folders = sorted((out / "persons" / "anna").iterdir())
    assert len(folders) == 1
    folder = folders[0]
    summary = json.loads((folder / "summary.json").read_text())
    movements, utc_ms = merged_movements(folder / "events.csv")

    start_ms = datetime.fromisoformat(summary["recording"]["start_utc"]).timestamp() * 1000
    trace_ms = WORLD0_MS + TRACE0_S * 1000
    result = compare_with_truth(movements, (start_ms - trace_ms) / 1000, labels)
    assert result["mismatches"] == [] and result["extra"] == []
    assert result["merged_lms"] == result["truth_lms"] > 15
    assert result["merged_bilateral"] == result["truth_bilateral"] > 5
    assert summary["lm_count"] == result["truth_lms"]

    errors = {}
    for leg, trace in (("left", left), ("right", right)):
        ref = reference_movements(runs[leg], trace, TRACE0_S)
        at, err = clock_errors(movements, utc_ms, ref, trace_ms)
        assert len(err) == int((movements.leg == leg).sum())  # every event found
        errors[leg] = (at, err)
    # For the first rate window each IMU's count runs at the nominal period, held within
    # the sample-clock band (100 ms) of its MCU's clock by the slew; from then on it
    # counts at the period it measured and sits on the MCU clock, within a period and
    # a few ms (the left board light-sleeps, reading a burst every few seconds).
    for leg, plan in zip(("left", "right"), plans, strict=True):
        at, err = errors[leg]
        trimmed = at > plan.start_s - TRACE0_S + (TRIM_WINDOW_MS + 10_000) / 1000
        assert trimmed.sum() > 10 and (~trimmed).sum() >= 2
        assert np.abs(err[~trimmed]).max() < 0.1 + 0.01 * 6 + 0.02  # band, 1 % of a burst, period
        assert np.abs(err[trimmed]).max() < 0.035, leg
    worst = float(np.abs(alignment_errors(errors["left"], errors["right"])).max())
    assert worst < 0.25
    alignment = summary["bilateral"]["alignment"]
    assert worst <= alignment["clock_bound_s"] + 0.01
    assert alignment["good_for_rule"] is True
