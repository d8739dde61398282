"""The alignment block of a merged night: the clock bound from what each clock map rests
on, and the estimate from bilateral onsets. Expected values are worked out here from the
constants the module documents (50 ppm unmeasured, 5 ppm extrapolated, 100 ms band, 10 ms
per setting, one sample period)."""

from __future__ import annotations

import numpy as np
import pytest
from legsense.bilateral_alignment import assess, clock_bound, summarise_lags
from legsense.time_base import build_time_base

H = 3_600_000
UTC0 = 1_767_652_200_000
EIGHT_H = (0.0, 8 * H)


def test_one_anchor_leaves_the_drift_unmeasured_all_night():
    clock = build_time_base([(0, UTC0)])
    b = clock_bound(clock, EIGHT_H, 52.0)
    assert b["unmeasured_drift_s"] == pytest.approx(8 * 3600, abs=0.1)
    assert b["bound_s"] == pytest.approx(0.1 + 0.01 + 50e-6 * 8 * 3600, abs=1e-3)  # 1.55 s


def test_drift_measured_before_and_after_leaves_only_the_band():
    clock = build_time_base([(-600_000, UTC0 - 600_000), (8 * H + 600_000, UTC0 + 8 * H + 600_288)])
    b = clock_bound(clock, EIGHT_H, 52.0)
    assert b["drift_ppm"] == pytest.approx(-9.6, abs=0.1)  # 288 ms slow over 8 h 20 min
    assert (b["unmeasured_drift_s"], b["extrapolated_drift_s"]) == (0.0, 0.0)
    assert b["bound_s"] == pytest.approx(0.11, abs=1e-3)


def test_a_measured_drift_extrapolated_past_the_last_anchor():
    clock = build_time_base([(0, UTC0), (4 * H, UTC0 + 4 * H + 144)])
    b = clock_bound(clock, EIGHT_H, 52.0)
    assert b["extrapolated_drift_s"] == pytest.approx(4 * 3600, abs=0.1)
    assert b["bound_s"] == pytest.approx(0.11 + 5e-6 * 4 * 3600, abs=1e-3)


def test_the_night_bound_adds_both_legs_and_the_longer_period_and_warns_past_a_quarter_s():
    good = build_time_base([(-600_000, UTC0 - 600_000), (9 * H, UTC0 + 9 * H)])
    left = clock_bound(good, EIGHT_H, 52.0)
    right = clock_bound(good, EIGHT_H, 26.0)
    out = assess(left, right, {"pairs": 0})
    assert out["clock_bound_s"] == pytest.approx(0.11 + 0.11 + 1 / 26, abs=1e-3)
    assert out["good_for_rule"] is False and "0.26 s" in out["warnings"][0]
    out = assess(left, clock_bound(good, EIGHT_H, 52.0), {"pairs": 0})
    assert out["clock_bound_s"] == pytest.approx(0.22 + 1 / 52, abs=1e-3)
    assert out["good_for_rule"] is True and out["warnings"] == []


def test_onset_lags_estimate_an_offset_and_a_trend():
    rng = np.random.default_rng(5)
    n = 400
    at_h = np.sort(rng.uniform(0, 8, n))
    lag = 0.2 + rng.laplace(0.0, 0.25, n) * rng.choice([-1, 1], n)
    out = summarise_lags(lag, at_h)
    lo, hi = out["median_ci95_s"]
    assert lo < 0.2 < hi and hi - lo < 0.15
    assert abs(out["trend_ms_per_h"]) < 3 * out["trend_se_ms_per_h"]
    drifting = summarise_lags(lag + 0.01 * at_h, at_h)  # 10 ms per hour apart
    assert drifting["trend_ms_per_h"] == pytest.approx(10.0, abs=3 * drifting["trend_se_ms_per_h"])
    far = assess(
        {"bound_s": 0.11, "sample_period_s": 0.0192},
        {"bound_s": 0.11, "sample_period_s": 0.0192},
        summarise_lags(lag + 0.3, at_h),
    )
    assert far["good_for_rule"] is False and "a leg that leads" in far["warnings"][0]


def test_few_pairs_give_no_interval():
    out = summarise_lags(np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0, 3.0]))
    assert out["pairs"] == 3 and out["median_s"] == 0.2 and "median_ci95_s" not in out


def test_a_sleeping_boards_fifo_bursts_add_the_trimmed_imu_drift_over_a_burst():
    # 224 samples a burst at 52 Hz: read every 4.31 s; the IMU's residual error after
    # the firmware's trim (0.1 %) over that interval adds 4.3 ms; an awake board (or a
    # night without the header key) reads at least every 0.25 s: 0.25 ms.
    clock = build_time_base([(-600_000, UTC0 - 600_000), (9 * H, UTC0 + 9 * H)])
    asleep = clock_bound(clock, EIGHT_H, 52.0, fifo_watermark=224)
    assert asleep["fifo_read_s"] == pytest.approx(224 / 52, abs=0.01)
    assert asleep["bound_s"] == pytest.approx(0.11 + 0.001 * 224 / 52, abs=1e-3)
    awake = clock_bound(clock, EIGHT_H, 52.0)
    assert awake["fifo_read_s"] == 0.25
    assert asleep["bound_s"] - awake["bound_s"] == pytest.approx(
        0.001 * (224 / 52 - 0.25), abs=1e-3
    )
