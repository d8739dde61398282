"""The LSM6 emulator's accelerometer power modes: register bits, noise level, refusals.

Expected values are typed in from ST's datasheets, not taken from lsm6_power_modes:
CTRL5_C (0x14) bit 7 XL_ULP_EN, CTRL6_C (0x15) bit 4 XL_HM_MODE; RMS noise at +-2 g
1.8 mg (low-power/normal) and 5.5 mg (ultra-low-power), independent of the ODR, against
70 ug/sqrt(Hz) over ODR/2 in high performance (LSM6DSO DS12140 Table 2, which the
LSM6DSOX shares); sensitivity 0.061 mg/LSB at +-2 g (DS12814 Table 3).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from legsense.simulation.lsm6_emulator import LSM6Emulator

CTRL1_XL = 0x10
CTRL2_G = 0x11
CTRL5_C = 0x14
CTRL6_C = 0x15
OUTX_L_A = 0x28
ODR_52HZ = 0x30  # ODR code 3 in bits 7:4, FS +-2 g
FIFO_CTRL3 = 0x09
FIFO_CTRL4 = 0x0A
MG_PER_LSB = 0.061


def expected_extra_mg(rms_mg: float, rate_hz: float = 52.0) -> float:
    # The pushed values carry the high-performance noise; the mode adds the rest.
    hp_mg = 70e-3 * math.sqrt(rate_hz / 2)
    return math.sqrt(rms_mg**2 - hp_mg**2)


def chip(ctrl5: int = 0, ctrl6: int = 0, gyro: bool = False, seed: int = 1) -> LSM6Emulator:
    emu = LSM6Emulator("lsm6dsox", noise_seed=seed)
    emu.i2c_write(bytes((CTRL5_C, ctrl5)))
    emu.i2c_write(bytes((CTRL6_C, ctrl6)))
    emu.i2c_write(bytes((CTRL1_XL, ODR_52HZ)))
    if gyro:
        emu.i2c_write(bytes((CTRL2_G, 0x30)))
    return emu


def outputs(emu: LSM6Emulator, n: int) -> np.ndarray:
    """n samples of a still sensor (0, 0, 1 g) read back from OUTX/Y/Z_A, in counts."""
    out = np.empty((n, 3))
    for i in range(n):
        emu.push((0.0, 0.0, 1.0))
        raw = bytes(emu.regs[OUTX_L_A : OUTX_L_A + 6])
        out[i] = [int.from_bytes(raw[k : k + 2], "little", signed=True) for k in (0, 2, 4)]
    return out


def test_mode_bits_select_the_mode():
    assert chip().accel_power_mode().name == "high_performance"  # reset values
    assert chip(ctrl6=0x10).accel_power_mode().name == "low_power"
    assert chip(ctrl5=0x80).accel_power_mode().name == "ultra_low_power"
    # other bits of the two registers do not change the mode
    assert chip(ctrl5=0x03, ctrl6=0x07).accel_power_mode().name == "high_performance"


def test_high_performance_adds_no_noise():
    counts = outputs(chip(), 200)
    assert np.all(counts == [0, 0, round(1000 / MG_PER_LSB)])


@pytest.mark.parametrize(
    ("ctrl5", "ctrl6", "rms_mg"), [(0x00, 0x10, 1.8), (0x80, 0x00, 5.5)], ids=["lp", "ulp"]
)
def test_low_power_noise_level_is_the_datasheets(ctrl5, ctrl6, rms_mg):
    counts = outputs(chip(ctrl5, ctrl6), 8000)
    std_mg = counts.std(axis=0) * MG_PER_LSB
    want = expected_extra_mg(rms_mg)
    # 8000 samples per axis: the standard error of a standard deviation is 0.8 %
    assert std_mg == pytest.approx([want] * 3, rel=0.04)
    mean_mg = counts.mean(axis=0) * MG_PER_LSB
    assert mean_mg == pytest.approx([0, 0, 1000], abs=4 * want / math.sqrt(8000) + MG_PER_LSB)


def test_fifo_rows_carry_the_noise_too():
    emu = chip(ctrl6=0x10)
    emu.i2c_write(bytes((FIFO_CTRL3, 0x03)))  # accelerometer batched at 52 Hz
    emu.i2c_write(bytes((FIFO_CTRL4, 0x06)))  # continuous
    emu.push_rows([(0.0, 0.0, 1.0)] * 500)
    words = list(emu.fifo)
    assert len(words) == 500
    z = np.array([int.from_bytes(w[5:7], "little", signed=True) for w in words])
    assert z.std() * MG_PER_LSB == pytest.approx(expected_extra_mg(1.8), rel=0.15)


def test_noise_is_seeded():
    a = outputs(chip(ctrl6=0x10, seed=7), 50)
    b = outputs(chip(ctrl6=0x10, seed=7), 50)
    c = outputs(chip(ctrl6=0x10, seed=8), 50)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_unmodelled_combinations_are_refused():
    with pytest.raises(NotImplementedError, match="not an accelerometer power mode"):
        chip(ctrl5=0x80, ctrl6=0x10).push((0.0, 0.0, 1.0))
    with pytest.raises(NotImplementedError, match="gyroscope on"):
        chip(ctrl6=0x10, gyro=True).push((0.0, 0.0, 1.0), (0.0, 0.0, 0.0))
    with pytest.raises(NotImplementedError, match="gyroscope on"):
        chip(ctrl5=0x80, gyro=True).push_rows([(0.0, 0.0, 1.0)], [(0.0, 0.0, 0.0)])
    wide = chip(ctrl6=0x10)
    wide.i2c_write(bytes((CTRL1_XL, ODR_52HZ | 0x08)))  # FS_XL = 10: +-4 g
    with pytest.raises(NotImplementedError, match="4 g"):
        wide.push((0.0, 0.0, 1.0))
    ds3 = LSM6Emulator("lsm6ds3trc")
    ds3.i2c_write(bytes((CTRL6_C, 0x10)))
    ds3.i2c_write(bytes((CTRL1_XL, ODR_52HZ)))
    with pytest.raises(NotImplementedError, match="LSM6DS3TR-C"):
        ds3.push((0.0, 0.0, 1.0))
