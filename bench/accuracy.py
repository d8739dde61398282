"""Detection and scoring accuracy over suites of synthetic nights with labels.

Each night: simulate (seeded) -> analyse with the firmware's detector -> score. Against the
labels: LM sensitivity, PPV and F1 (events of >= 0.5 s, matched by overlap), and the PLM
index of the detected movements against the PLM index of the labelled movements scored by
the same rules (so the figure isolates the detector's error, not the rules').

Three suites: the standard one (rates 10-104 Hz, regular sampling, a quiet first half
minute), low-rate irregular nights (8-12 Hz, every sample interval 50-150 % of the
period, as cheap loggers sample) and nights that start in the middle of a movement and
go on moving for half a minute (the detector's warm-up must not learn that as its floor).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from legsense.analysis import analyze_trace
from legsense.night import Movements
from legsense.scoring import ScoringParams, score_wasm2016
from legsense.simulation.night_generator import simulate_night
from legsense.trace import Labels, Trace

from bench.matching import MatchCounts, match_by_overlap

# The suite: (seed, hours, rate_hz, imu, gyro, profile). Varied rates, IMUs (noise),
# accelerometer-only nights and profiles; postures vary with every seed.
PROFILES = ("plmd", "rls-mild", "healthy")
RATES = (10, 12.5, 26, 50, 52, 100, 104)
IMUS = ("lsm6dsox", "mpu6050", "mpu6886", "lsm6dso")


LOW_RATES = (8, 10, 12)
START_RATES = (10, 26, 50, 104, 8, 12, 52, 12.5)
JITTER = 0.5  # sample intervals uniform in 50-150 % of the period
# The reading of the rules before MATPLM's became the default (an intervening LM never a
# PLM, IMIs over all LMs): its PLM-index error shows the detector apart from the rules.
EARLIER = ScoringParams(short_imi="exclude", imi_from="lm")

# (seed, hours, rate_hz, imu, gyro, profile, jitter, start_moving)
Night = tuple[int, float, float, str, bool, str, float, bool]


def suite(n: int = 24, hours: float = 2.0) -> list[Night]:
    nights: list[Night] = []
    for k in range(n):
        nights.append(
            (
                1000 + k,
                hours,
                RATES[k % len(RATES)],
                IMUS[(k // 2) % len(IMUS)],
                k % 5 != 4,  # every fifth night accelerometer-only
                PROFILES[k % len(PROFILES)],
                0.0,
                False,
            )
        )
    return nights


def low_rate_suite(n: int = 8, hours: float = 2.0) -> list[Night]:
    """8-12 Hz with 50 % jitter; every third night accelerometer-only."""
    return [
        (
            2000 + k,
            hours,
            LOW_RATES[k % len(LOW_RATES)],
            IMUS[k % len(IMUS)],
            k % 3 != 2,
            PROFILES[k % len(PROFILES)],
            JITTER,
            False,
        )
        for k in range(n)
    ]


def start_moving_suite(n: int = 8, hours: float = 2.0) -> list[Night]:
    """Nights that start moving; the low rates (<= 12.5 Hz) with 50 % jitter too."""
    nights: list[Night] = []
    for k in range(n):
        rate = START_RATES[k % len(START_RATES)]
        nights.append(
            (
                3000 + k,
                hours,
                rate,
                IMUS[(k + 1) % len(IMUS)],
                k % 4 != 3,
                PROFILES[k % len(PROFILES)],
                JITTER if rate <= 12.5 else 0.0,
                True,
            )
        )
    return nights


@dataclass(frozen=True)
class NightResult:
    seed: int
    rate_hz: float
    imu: str
    gyro: bool
    profile: str
    match: MatchCounts
    plmi_true: float
    plmi_detected: float
    plmi_true_earlier: float  # the same, by the earlier reading of the rules (EARLIER)
    plmi_detected_earlier: float
    seconds: float


def run_night(
    seed: int,
    hours: float,
    rate: float,
    imu: str,
    gyro: bool,
    profile: str,
    jitter: float = 0.0,
    start_moving: bool = False,
) -> NightResult:
    trace, labels = simulate_night(
        seed,
        hours,
        rate,
        imu=imu,
        gyro=gyro,
        profile=profile,
        jitter=jitter,
        start_moving=start_moving,
    )
    return evaluate(trace, labels, seed, rate, imu, gyro, profile)[0]


def evaluate(
    trace: Trace, labels: Labels, seed: int, rate: float, imu: str, gyro: bool, profile: str
) -> tuple[NightResult, Movements]:
    """Analyse one simulated night with the firmware's detector and score it against its
    labels: the night's figures and the detected movements."""
    t0 = time.perf_counter()
    detection, info = analyze_trace(trace)
    seconds = time.perf_counter() - t0
    det = detection.movements
    truth = Movements.from_arrays(labels.onset_s, labels.offset_s)
    s_det = score_wasm2016(det, recording_s=info.recording_s, analysed_s=info.analysed_s)
    s_true = score_wasm2016(truth, recording_s=info.recording_s, analysed_s=info.analysed_s)
    e_det = score_wasm2016(
        det, recording_s=info.recording_s, analysed_s=info.analysed_s, params=EARLIER
    )
    e_true = score_wasm2016(
        truth, recording_s=info.recording_s, analysed_s=info.analysed_s, params=EARLIER
    )
    # LMs only (>= 0.5 s) on both sides: shorter ones are not LMs by the rules.
    t_keep = truth.duration_s >= 0.5
    d_keep = det.duration_s >= 0.5
    match = match_by_overlap(
        truth.onset_s[t_keep], truth.offset_s[t_keep], det.onset_s[d_keep], det.offset_s[d_keep]
    )
    result = NightResult(
        seed,
        rate,
        imu,
        gyro,
        profile,
        match,
        float(s_true.summary["plm_index"]),
        float(s_det.summary["plm_index"]),
        float(e_true.summary["plm_index"]),
        float(e_det.summary["plm_index"]),
        seconds,
    )
    return result, det


def summarise(results: list[NightResult], hours: float) -> dict:
    """Pooled figures of a list of nights, and each night's."""
    total = MatchCounts(
        true_events=sum(r.match.true_events for r in results),
        detected=sum(r.match.detected for r in results),
        matched=sum(r.match.matched for r in results),
    )
    err = np.array([abs(r.plmi_detected - r.plmi_true) for r in results])
    err_earlier = np.array([abs(r.plmi_detected_earlier - r.plmi_true_earlier) for r in results])
    return {
        "nights": len(results),
        "hours_each": hours,
        "true_lms": total.true_events,
        "sensitivity": total.sensitivity,
        "ppv": total.ppv,
        "f1": total.f1,
        "f1_worst_night": min(r.match.f1 for r in results),
        "plmi_abs_error_mean": float(err.mean()),
        "plmi_abs_error_max": float(err.max()),
        "plmi_abs_error_mean_earlier_rules": float(err_earlier.mean()),
        "per_night": [
            {
                "seed": r.seed,
                "rate_hz": r.rate_hz,
                "imu": r.imu,
                "gyro": r.gyro,
                "profile": r.profile,
                "sensitivity": round(r.match.sensitivity, 4),
                "ppv": round(r.match.ppv, 4),
                "f1": round(r.match.f1, 4),
                "plmi_true": round(r.plmi_true, 2),
                "plmi_detected": round(r.plmi_detected, 2),
            }
            for r in results
        ],
    }


def run(n: int = 24, hours: float = 2.0, extra: int = 8) -> dict:
    """The standard suite (its figures at the top level, as before) and the two others
    under "suites"."""
    standard = summarise([run_night(*night) for night in suite(n, hours)], hours)
    out = dict(standard)
    out["suites"] = {
        "low_rate_irregular": summarise(
            [run_night(*night) for night in low_rate_suite(extra, hours)], hours
        ),
        "start_moving": summarise(
            [run_night(*night) for night in start_moving_suite(extra, hours)], hours
        ),
    }
    return out


def render(acc: dict) -> list[str]:
    """The README lines for these figures (bench/run_all.py puts them in their block)."""
    if not acc:
        return []
    suites = acc.get("suites", {})
    low = suites.get("low_rate_irregular")
    start = suites.get("start_moving")
    columns = [("standard", acc)]
    if low:
        columns.append(("8-12 Hz, 50 % jitter", low))
    if start:
        columns.append(("starts moving", start))
    lines = [
        "Detection over synthetic nights of "
        f"{acc['hours_each']:g} h (`bench/accuracy.py`): the standard suite ({acc['nights']} "
        f"nights, {acc['true_lms']} labelled LMs; rates 10-104 Hz, four IMU noise models, "
        "accelerometer-only every fifth night)"
        + (
            f", {low['nights']} low-rate nights with irregular sampling (each interval "
            "50-150 % of the period)"
            if low
            else ""
        )
        + (
            f" and {start['nights']} nights that start in the middle of a movement and "
            "keep moving for half a minute"
            if start
            else ""
        )
        + ". PLM indices by the default scoring (docs/scoring.md); the last row scores both "
        "sides with the earlier reading (an intervening LM never a PLM, IMIs over all LMs), "
        "as this figure was measured before:",
        "",
        "| figure | " + " | ".join(name for name, _ in columns) + " | target |",
        "|---|" + "---|" * len(columns) + "---|",
    ]
    rows = [
        ("LM sensitivity", "sensitivity", "{:.3f}", ""),
        ("LM positive predictive value", "ppv", "{:.3f}", ""),
        ("LM F1 (all nights pooled)", "f1", "{:.3f}", ">= 0.95"),
        ("LM F1, worst night", "f1_worst_night", "{:.3f}", ""),
        ("mean abs PLM-index error", "plmi_abs_error_mean", "{:.2f} /h", "<= 1 /h"),
        ("max abs PLM-index error", "plmi_abs_error_max", "{:.2f} /h", ""),
        (
            "mean abs PLM-index error, earlier reading of the rules",
            "plmi_abs_error_mean_earlier_rules",
            "{:.2f} /h",
            "",
        ),
    ]
    for label, key, fmt, target in rows:
        cells = [fmt.format(c[key]) for _, c in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")
    lines.append("")
    return lines
