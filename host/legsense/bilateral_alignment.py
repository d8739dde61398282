"""How well two legs' clocks agree in a merged night: a bound from the clocks, an
estimate from the movements.

The bilateral rule pairs LMs of the two legs that overlap or are less than 0.5 s apart,
so the two devices' times must agree to well under 0.5 s all night. Each leg's events
come to UTC through its own clock map (time_base: anchors, steps, drift); what is left:

* the firmware stamps samples by counting them at the IMU's output data rate and lets
  that count stray up to SAMPLE_CLOCK_BAND_S from its MCU clock before pulling it back
  (legsense_device.sample_clock.SLEW_LIMIT_MS): the IMU's oscillator and the MCU's
  crystal are never the same, so a leg's events may sit up to that much off the MCU
  time the anchors map, on either side, and two legs twice that apart. The band is
  measured at each FIFO read, against samples up to one sample period old: add the
  longer of the two legs' periods. Between two reads the count drifts from the MCU clock
  by what is left of the IMU oscillator's error once the firmware measured its real
  period (up to IMU_ODR_TOLERANCE) over the read interval, which a
  light-sleeping board stretches to a whole FIFO burst (the header's `fifo_watermark`
  samples; at least AWAKE_READ_S): add that too;
* where the map rests on one anchor only (no drift measured), a crystal may be off by
  up to UNMEASURED_DRIFT_PPM; where it extrapolates a measured drift beyond its anchors,
  the drift may have changed (temperature) by up to EXTRAPOLATED_DRIFT_PPM;
* each setting itself is good to SETTING_S (half a USB round trip).

`clock_bound` adds these up per leg: a worst case under these assumptions, not a
measurement. `onset_lags` measures: in bilateral LMs of exactly one LM per leg, the
onset of the right leg's minus the left leg's. Neither leg leads on average in the
literature (Ferri et al., Sleep 2016), so their median estimates how far the right
leg's clock is ahead of the left's, with a 95 % interval from the order statistics; a
slope over the night says whether the two clocks drifted apart. A person whose one leg
does lead would show that lead here too: the estimate is reported, never applied.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from legsense.night import Movements
from legsense.scoring import Scoring
from legsense.time_base import TimeBase

SAMPLE_CLOCK_BAND_S = 0.1  # firmware sample_clock.SLEW_LIMIT_MS
# The IMU's oscillator against the MCU's once the firmware has measured its real period
# (sample_clock.TRIM_MIN_PPM; the first TRIM_WINDOW_MS of a night are counted at the
# nominal one and may stray further: not covered by the bound).
IMU_ODR_TOLERANCE = 0.001
AWAKE_READ_S = 0.25  # an awake board reads its FIFO at least this often
UNMEASURED_DRIFT_PPM = 50.0  # a watch crystal over temperature and age: tens of ppm
EXTRAPOLATED_DRIFT_PPM = 5.0  # a measured drift changing with temperature
SETTING_S = 0.01  # a clock setting over USB: half a round trip of a few ms
RULE_GAP_S = 0.5  # the bilateral rule
COMFORTABLE_S = 0.25  # alignment this good leaves half the rule's gap
MIN_PAIRS = 10  # fewer bilateral pairs say too little for an estimate


def clock_stretches(clock: TimeBase, window_ms: tuple[float, float]) -> dict[str, float]:
    """Longest stretches (s) of the window, in device ms, whose mapping to UTC rests on
    no drift measurement (an era of one anchor) and on an extrapolated one (beyond the
    outermost anchors of an era that measured drift)."""
    w0, w1 = window_ms
    unmeasured = 0.0
    extrapolated = 0.0
    eras = clock.eras
    for k, era in enumerate(eras):
        lo = -math.inf if k == 0 else float(era.dev[0])
        hi = math.inf if k == len(eras) - 1 else float(eras[k + 1].dev[0])
        a, b = max(lo, w0), min(hi, w1)
        if b <= a:
            continue
        if len(era.dev) < 2:
            unmeasured = max(unmeasured, _longest_from_anchor(a, b, float(era.dev[0])))
            continue
        first, last = float(era.dev[0]), float(era.dev[-1])
        if a < first:
            extrapolated = max(extrapolated, min(b, first) - a)
        if b > last:
            extrapolated = max(extrapolated, b - max(a, last))
    return {
        "unmeasured_drift_s": unmeasured / 1000.0,
        "extrapolated_drift_s": extrapolated / 1000.0,
    }


def _longest_from_anchor(a: float, b: float, anchor: float) -> float:
    # The error grows with the distance from the one anchor: the farthest point counts.
    return max(abs(a - anchor), abs(b - anchor))


def clock_bound(
    clock: TimeBase,
    window_ms: tuple[float, float],
    rate_hz: float,
    fifo_watermark: int = 0,
) -> dict[str, Any]:
    """One leg's clock in the merged window: what its map rests on, and a bound (s).
    `fifo_watermark`: samples per FIFO burst (the night header's; 0 when not logged)."""
    stretches = clock_stretches(clock, window_ms) if clock.utc_known else {}
    read_s = max(AWAKE_READ_S, fifo_watermark / rate_hz if rate_hz > 0 else 0.0)
    bound = SAMPLE_CLOCK_BAND_S + SETTING_S + IMU_ODR_TOLERANCE * read_s
    bound += UNMEASURED_DRIFT_PPM * 1e-6 * stretches.get("unmeasured_drift_s", 0.0)
    bound += EXTRAPOLATED_DRIFT_PPM * 1e-6 * stretches.get("extrapolated_drift_s", 0.0)
    return {
        "utc_known": clock.utc_known,
        "anchors_used": clock.anchors_used,
        "steps": len(clock.steps),
        "drift_ppm": None if clock.drift_ppm is None else round(clock.drift_ppm, 1),
        **{k: round(v, 1) for k, v in stretches.items()},
        "sample_period_s": round(1.0 / rate_hz, 4) if rate_hz > 0 else None,
        "fifo_read_s": round(read_s, 2),
        "bound_s": round(bound, 3),
    }


def onset_lags(scoring: Scoring, movements: Movements) -> dict[str, Any]:
    """Right-minus-left onset lags of the bilateral LMs made of one LM per leg."""
    lms = scoring.lms
    rows = np.flatnonzero((lms.n_mono == 2) & (lms.leg == "bilateral"))
    if not len(rows):
        return {"pairs": 0}
    first = {leg: np.full(len(lms), np.inf) for leg in ("left", "right")}
    owner = np.asarray(scoring.movement_lm)
    onset = np.asarray(movements.onset_s, dtype=float)
    legs = np.asarray(movements.leg, dtype=object)
    for leg, earliest in first.items():
        mine = (owner >= 0) & (legs == leg)
        np.minimum.at(earliest, owner[mine], onset[mine])
    right, left = first["right"][rows], first["left"][rows]
    ok = np.isfinite(right) & np.isfinite(left)
    lag = (right - left)[ok]
    at_h = lms.onset_s[rows][ok] / 3600.0
    return summarise_lags(lag, at_h)


def summarise_lags(lag_s: np.ndarray, at_h: np.ndarray) -> dict[str, Any]:
    """Median lag with its 95 % interval (order statistics), spread and trend."""
    n = len(lag_s)
    out: dict[str, Any] = {"pairs": int(n)}
    if n == 0:
        return out
    s = np.sort(lag_s)
    out["median_s"] = round(float(np.median(s)), 3)
    out["iqr_s"] = round(float(np.percentile(s, 75) - np.percentile(s, 25)), 3)
    if n >= MIN_PAIRS:
        half = 1.96 * math.sqrt(n) / 2.0
        lo = max(0, math.floor(n / 2.0 - half) - 1)
        hi = min(n - 1, math.ceil(n / 2.0 + half))
        out["median_ci95_s"] = [round(float(s[lo]), 3), round(float(s[hi]), 3)]
        span_h = float(at_h.max() - at_h.min())
        if span_h > 0.5:
            slope, se = _slope(at_h, lag_s)
            out["trend_ms_per_h"] = round(slope * 1000.0, 1)
            out["trend_se_ms_per_h"] = round(se * 1000.0, 1)
    return out


def _slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of y on x and its standard error."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    xm = x - x.mean()
    sxx = float((xm * xm).sum())
    slope = float((xm * (y - y.mean())).sum() / sxx)
    resid = y - y.mean() - slope * xm
    dof = max(1, len(x) - 2)
    se = math.sqrt(float((resid * resid).sum()) / dof / sxx)
    return slope, se


def assess(left: dict[str, Any], right: dict[str, Any], lags: dict[str, Any]) -> dict[str, Any]:
    """The `alignment` block of a merged night's summary (see the module docstring)."""
    periods = [leg.get("sample_period_s") or 0.0 for leg in (left, right)]
    bound = round(float(left["bound_s"]) + float(right["bound_s"]) + max(periods), 3)
    out: dict[str, Any] = {
        "clock_bound_s": bound,
        "left": left,
        "right": right,
        "onset_lags": lags,
        "method": (
            "clock_bound_s: worst case of the two clock maps (sample-clock band, a "
            "sample period and the IMU's drift over a FIFO read interval, unmeasured or "
            "extrapolated drift, settings); onset_lags: "
            "right minus left onset of the bilateral LMs of one LM per leg (median: the "
            "right clock's lead if neither leg leads; reported, not applied)"
        ),
    }
    warnings = []
    if bound >= COMFORTABLE_S:
        warnings.append(
            f"the clocks may disagree by up to {bound:.2f} s (more than half the "
            f"{RULE_GAP_S:g} s bilateral rule): sync both sensors before and after a night "
            "so drift is measured"
        )
    ci = lags.get("median_ci95_s")
    if ci is not None and min(abs(ci[0]), abs(ci[1])) >= COMFORTABLE_S and ci[0] * ci[1] > 0:
        warnings.append(
            f"the right leg's movements start {lags['median_s']:+.2f} s after the left's "
            "on average: a clock offset, or a leg that leads"
        )
    out["good_for_rule"] = not warnings
    out["warnings"] = warnings
    return out
