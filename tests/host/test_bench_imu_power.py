"""The pieces of bench/imu_power_modes.py that are not measurements: the noise it adds
for a mode (the datasheet's RMS, typed in here: 1.8 mg low-power, 5.5 mg ultra-low-power,
70 ug/sqrt(Hz) over ODR/2 in high performance; 0.061 mg/LSB at +-2 g) and its table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench import imu_power_modes as bench


def still(n: int) -> np.ndarray:
    acc = np.zeros((n, 3))
    acc[:, 2] = 16393 * 61e-6  # 1 g on the LSB grid: 16393 counts of 61 ug
    return acc


def test_high_performance_leaves_the_trace_alone():
    acc = still(100)
    assert bench.with_mode_noise(acc, "high_performance", 52.0, seed=1) is acc


@pytest.mark.parametrize(("mode", "rms_mg"), [("low_power", 1.8), ("ultra_low_power", 5.5)])
@pytest.mark.parametrize("rate", [12.5, 52.0])
def test_added_noise_makes_the_datasheets_total(mode, rms_mg, rate):
    noisy = bench.with_mode_noise(still(20000), mode, rate, seed=2)
    hp_mg = 0.070 * math.sqrt(rate / 2)
    want = math.sqrt(rms_mg**2 - hp_mg**2)
    assert noisy.std(axis=0) * 1e3 == pytest.approx([want] * 3, rel=0.03)
    # back on the LSB grid
    counts = noisy / 61e-6
    assert np.allclose(counts, np.rint(counts), atol=1e-6)


def test_noise_is_seeded_by_the_night():
    a = bench.with_mode_noise(still(50), "low_power", 52.0, seed=3)
    b = bench.with_mode_noise(still(50), "low_power", 52.0, seed=3)
    c = bench.with_mode_noise(still(50), "low_power", 52.0, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_render_names_every_variant_and_the_verdict():
    def variant(name, f1_delta, plmi_max, ok):
        return {
            "name": name,
            "imu_ma": 0.1,
            "accel_rms_mg_52hz": 1.8,
            "f1": 0.99 + f1_delta,
            "f1_delta": f1_delta,
            "plmi_delta_mean": plmi_max / 2,
            "plmi_delta_max": plmi_max,
            "nights_identical": 3,
            "f1_delta_vs_accel_only_hp": f1_delta,
            "plmi_delta_max_vs_accel_only_hp": plmi_max,
            "nights_identical_vs_accel_only_hp": 1,
            "within_bar": ok,
        }

    result = {
        "nights": 4,
        "hours_each": 2.0,
        "true_lms": 400,
        "variants": [
            variant("ref", 0.0, 0.0, True),
            variant("no gyro", -0.001, 0.05, True),
            variant("lp", -0.02, 3.0, False),
        ],
    }
    text = "\n".join(bench.render(result))
    assert "| lp | 0.1 | 1.80 mg RMS | 0.9700 | -0.0200 | 1.50 / 3.00 /h | 3 of 4 | no |" in text
    assert "| no gyro |" in text and "yes |" in text
    assert bench.render({}) == []
