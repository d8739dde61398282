"""Detection and scoring accuracy over a suite of synthetic nights with labels.

Each night: simulate (seeded) -> analyse with the firmware's detector -> score. Against the
labels: LM sensitivity, PPV and F1 (events of >= 0.5 s, matched by overlap), and the PLM
index of the detected movements against the PLM index of the labelled movements scored by
the same rules (so the figure isolates the detector's error, not the rules').
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from legsense.analysis import analyze_trace
from legsense.night import Movements
from legsense.scoring import score_wasm2016
from legsense.simulation.night_generator import simulate_night

from bench.matching import MatchCounts, match_by_overlap

# The suite: (seed, hours, rate_hz, imu, gyro, profile). Varied rates, IMUs (noise),
# accelerometer-only nights and profiles; postures vary with every seed.
PROFILES = ("plmd", "rls-mild", "healthy")
RATES = (10, 12.5, 26, 50, 52, 100, 104)
IMUS = ("lsm6dsox", "mpu6050", "mpu6886", "lsm6dso")


def suite(n: int = 24, hours: float = 2.0) -> list[tuple[int, float, float, str, bool, str]]:
    nights = []
    for k in range(n):
        nights.append(
            (
                1000 + k,
                hours,
                RATES[k % len(RATES)],
                IMUS[(k // 2) % len(IMUS)],
                k % 5 != 4,  # every fifth night accelerometer-only
                PROFILES[k % len(PROFILES)],
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
    seconds: float


def run_night(
    seed: int, hours: float, rate: float, imu: str, gyro: bool, profile: str
) -> NightResult:
    trace, labels = simulate_night(seed, hours, rate, imu=imu, gyro=gyro, profile=profile)
    t0 = time.perf_counter()
    detection, info = analyze_trace(trace)
    seconds = time.perf_counter() - t0
    det = detection.movements
    truth = Movements.from_arrays(labels.onset_s, labels.offset_s)
    s_det = score_wasm2016(det, recording_s=info.recording_s, analysed_s=info.analysed_s)
    s_true = score_wasm2016(truth, recording_s=info.recording_s, analysed_s=info.analysed_s)
    # LMs only (>= 0.5 s) on both sides: shorter ones are not LMs by the rules.
    t_keep = truth.duration_s >= 0.5
    d_keep = det.duration_s >= 0.5
    match = match_by_overlap(
        truth.onset_s[t_keep], truth.offset_s[t_keep], det.onset_s[d_keep], det.offset_s[d_keep]
    )
    return NightResult(
        seed,
        rate,
        imu,
        gyro,
        profile,
        match,
        float(s_true.summary["plm_index"]),
        float(s_det.summary["plm_index"]),
        seconds,
    )


def run(n: int = 24, hours: float = 2.0) -> dict:
    results = [run_night(*night[:1], hours, *night[2:]) for night in suite(n, hours)]
    total = MatchCounts(
        true_events=sum(r.match.true_events for r in results),
        detected=sum(r.match.detected for r in results),
        matched=sum(r.match.matched for r in results),
    )
    err = np.array([abs(r.plmi_detected - r.plmi_true) for r in results])
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


def render(acc: dict) -> list[str]:
    """The README lines for these figures (bench/run_all.py puts them in their block)."""
    lines: list[str] = []
    if acc:
        lines += [
            f"Detection over {acc['nights']} synthetic nights of {acc['hours_each']:g} h "
            f"({acc['true_lms']} labelled LMs; rates 10-104 Hz, four IMU noise models, "
            "accelerometer-only every fifth night; `bench/accuracy.py`):",
            "",
            "| figure | value | target |",
            "|---|---|---|",
            f"| LM sensitivity | {acc['sensitivity']:.3f} | |",
            f"| LM positive predictive value | {acc['ppv']:.3f} | |",
            f"| LM F1 (all nights pooled) | {acc['f1']:.3f} | >= 0.95 |",
            f"| LM F1, worst night | {acc['f1_worst_night']:.3f} | |",
            f"| mean abs PLM-index error | {acc['plmi_abs_error_mean']:.2f} /h | <= 1 /h |",
            f"| max abs PLM-index error | {acc['plmi_abs_error_max']:.2f} /h | |",
            "",
        ]
    return lines
