"""What the LSM6DSOX's power modes cost the detector, and what they save.

The benchmark nights of bench/accuracy.py (its three suites, same seeds, rates, profiles,
jitter and starts), each simulated with the LSM6DSOX and run four ways:

- accelerometer + gyroscope, high-performance (the config default; the reference);
- accelerometer only, high-performance (gyroscope powered down);
- accelerometer only, low-power mode (CTRL6_C.XL_HM_MODE = 1): the datasheet's 1.8 mg RMS;
- accelerometer only, ultra-low-power mode (CTRL5_C.XL_ULP_EN = 1): 5.5 mg RMS.

A noisier mode's noise is added to the simulated accelerometer trace the way the LSM6
emulator adds it (lsm6_power_modes: the difference of the variances, a seeded generator
per night), then the trace goes back onto the IMU's LSB grid. Each variant is scored
against the labels as bench/accuracy.py does, and against the reference: pooled LM F1
difference, PLM-index difference per night (mean and max of the absolute value) and the
nights whose detected movements are identical. The issue's bar: F1 within 0.002 and the
PLM index within 0.1/h.

The IMU's current per mode (datasheet) goes into the power budgets by hand
(hardware/*/power.json); this bench prints the IMU current next to the accuracy figures.
"""

from __future__ import annotations

import numpy as np
from legsense.night import Movements
from legsense.simulation.lsm6_power_modes import MODES
from legsense.simulation.night_generator import simulate_night
from legsense_core.imu_scales import scales

from bench.accuracy import (
    Night,
    NightResult,
    evaluate,
    low_rate_suite,
    start_moving_suite,
    suite,
    summarise,
)

IMU = "lsm6dsox"
NOISE_STREAM = 0x1D5  # the added-noise generator's stream, apart from the night's own
# (name, accelerometer mode, gyroscope on, IMU current in mA at 52 Hz from the datasheet)
VARIANTS: tuple[tuple[str, str, bool, float], ...] = (
    ("accel+gyro, high-performance", "high_performance", True, 0.55),
    ("accel only, high-performance", "high_performance", False, 0.17),
    ("accel only, low-power", "low_power", False, 0.026),
    ("accel only, ultra-low-power", "ultra_low_power", False, 0.0095),
)
F1_BAR = 0.002
PLMI_BAR = 0.1


def with_mode_noise(acc_g: np.ndarray, mode: str, rate_hz: float, seed: int) -> np.ndarray:
    """The accelerometer samples as the LSM6DSOX in `mode` would give them: the mode's
    extra noise added (seeded by the night) and back on the +-2 g LSB grid."""
    extra = MODES[mode].extra_noise_g(rate_hz)
    if extra == 0.0:
        return acc_g
    rng = np.random.default_rng([seed, NOISE_STREAM])
    noisy = acc_g + rng.normal(0.0, extra, acc_g.shape)
    num, den = scales(IMU)[0]  # micro-g per LSB as a fraction
    counts = np.clip(np.rint(noisy * 1e6 * den / num), -32768, 32767)
    return counts * num / den / 1e6


def run_night(night: Night, mode: str, gyro: bool) -> tuple[NightResult, Movements]:
    """One benchmark night with the LSM6DSOX in this mode, analysed and scored."""
    seed, hours, rate, _imu, _gyro, profile, jitter, start_moving = night
    trace, labels = simulate_night(
        seed,
        hours,
        rate,
        imu=IMU,
        gyro=gyro,
        profile=profile,
        jitter=jitter,
        start_moving=start_moving,
    )
    trace.acc_g = with_mode_noise(trace.acc_g, mode, rate, seed)
    return evaluate(trace, labels, seed, rate, IMU, gyro, profile)


def nights(n: int, hours: float, extra: int) -> list[Night]:
    """The accuracy bench's three suites, in its order."""
    return suite(n, hours) + low_rate_suite(extra, hours) + start_moving_suite(extra, hours)


def _same(a: Movements, b: Movements) -> bool:
    return np.array_equal(a.onset_s, b.onset_s) and np.array_equal(a.offset_s, b.offset_s)


def _against(
    runs: list[tuple[NightResult, Movements]], ref: list[tuple[NightResult, Movements]]
) -> tuple[list[float], int]:
    """Per night |PLM index - the reference's|, and how many nights detected exactly
    the reference's movements."""
    pairs = list(zip(runs, ref, strict=True))
    deltas = [abs(r.plmi_detected - q.plmi_detected) for (r, _), (q, _) in pairs]
    return deltas, sum(_same(m, q) for (_, m), (_, q) in pairs)


def run(n: int = 24, hours: float = 2.0, extra: int = 8) -> dict:
    """Every variant over the benchmark nights; figures against the labels and against
    the reference (the first variant)."""
    plan = nights(n, hours, extra)
    runs = []
    for _name, mode, gyro, _ma in VARIANTS:
        runs.append([run_night(night, mode, gyro) for night in plan])
    ref = runs[0]
    ref_summary = summarise([r for r, _ in ref], hours)
    # The accelerometer-only high-performance run: what the mode alone changes.
    acc_ref = runs[1]
    acc_f1 = summarise([r for r, _ in acc_ref], hours)["f1"]
    variants = []
    for (name, mode, gyro, ma), res in zip(VARIANTS, runs, strict=True):
        s = summarise([r for r, _ in res], hours)
        d_plmi, same = _against(res, ref)
        d_acc, same_acc = _against(res, acc_ref)
        variants.append(
            {
                "name": name,
                "mode": mode,
                "gyro": gyro,
                "imu_ma": ma,
                "accel_rms_mg_52hz": round(MODES[mode].rms_g(52.0) * 1e3, 3),
                "f1": s["f1"],
                "f1_delta": s["f1"] - ref_summary["f1"],
                "f1_worst_night": s["f1_worst_night"],
                "plmi_abs_error_mean": s["plmi_abs_error_mean"],
                "plmi_delta_mean": float(np.mean(d_plmi)),
                "plmi_delta_max": float(np.max(d_plmi)),
                "nights_identical": int(same),
                "f1_delta_vs_accel_only_hp": s["f1"] - acc_f1,
                "plmi_delta_max_vs_accel_only_hp": float(np.max(d_acc)),
                "nights_identical_vs_accel_only_hp": int(same_acc),
                "within_bar": bool(
                    abs(s["f1"] - ref_summary["f1"]) <= F1_BAR and max(d_plmi) <= PLMI_BAR
                ),
            }
        )
    return {
        "nights": len(plan),
        "hours_each": hours,
        "imu": IMU,
        "true_lms": ref_summary["true_lms"],
        "variants": variants,
    }


def render(result: dict) -> list[str]:
    """The README lines for these figures."""
    if not result:
        return []
    lines = [
        f"The LSM6DSOX's power modes over the {result['nights']} benchmark nights of "
        f"`bench/accuracy.py` ({result['hours_each']:g} h each, {result['true_lms']} "
        "labelled LMs), each simulated with the LSM6DSOX; a mode's datasheet noise "
        "added as the emulator adds it (`bench/imu_power_modes.py`). Deltas against "
        f"the first row; the issue's bar: F1 within {F1_BAR}, PLM index within "
        f"{PLMI_BAR}/h on every night:",
        "",
        "| IMU mode | IMU mA | accel noise at 52 Hz | LM F1 | F1 delta | PLMI delta mean / max "
        "| nights identical | within the bar |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    n = result["nights"]
    for v in result["variants"]:
        lines.append(
            f"| {v['name']} | {v['imu_ma']:g} | {v['accel_rms_mg_52hz']:.2f} mg RMS "
            f"| {v['f1']:.4f} | {v['f1_delta']:+.4f} "
            f"| {v['plmi_delta_mean']:.2f} / {v['plmi_delta_max']:.2f} /h "
            f"| {v['nights_identical']} of {n} | {'yes' if v['within_bar'] else 'no'} |"
        )
    lines += [
        "",
        "The accelerometer's mode alone, against accelerometer-only high-performance: "
        + "; ".join(
            f"{v['name']}: F1 {v['f1_delta_vs_accel_only_hp']:+.4f}, PLMI max "
            f"{v['plmi_delta_max_vs_accel_only_hp']:.2f}/h, "
            f"{v['nights_identical_vs_accel_only_hp']} of {n} nights identical"
            for v in result["variants"][2:]
        )
        + ".",
        "",
    ]
    return lines
