"""The LSM6DSOX accelerometer's power modes: register bits, noise and current.

One table for the emulator (which adds the mode's extra noise to what it is pushed), the
IMU power-mode benchmark (bench/imu_power_modes.py) and the docs. Figures are typical
values from ST's datasheets:

- Noise. High-performance: noise density 70 ug/sqrt(Hz) at +-2 g, independent of the ODR
  (imu_specs.IMU_SPECS["lsm6dsox"], DS12814 Table 3 "Mechanical characteristics").
  Low-power / normal mode (CTRL6_C.XL_HM_MODE = 1): 1.8 mg RMS at +-2 g; ultra-low-power
  (CTRL5_C.XL_ULP_EN = 1): 5.5 mg RMS at +-2 g; both independent of the ODR and related
  to a bandwidth of ODR/2 (footnotes 9 and 10 of the table). Read in the LSM6DSO
  datasheet DS12140 Rev 2, Table 2, p. 10 (the LSM6DSOX shares its sensing chain and
  this table); not re-read in DS12814 itself.
- Current at 52 Hz, accelerometer alone (gyroscope powered down): high-performance
  170 uA (DS12814, Table 4 "Electrical characteristics", LA_IddHP), low-power 26 uA
  (LA_IddLP at ODR 52 Hz) and ultra-low-power 9.5 uA (LA_IddULP at ODR 52 Hz). The
  low-power figures could not be re-read through our search tools: they are marked
  unchecked in the power budgets.

The traces the emulator is pushed already carry the high-performance noise (the night
generator adds it), so a noisier mode adds the difference of the variances:
extra = sqrt(rms_mode**2 - rms_hp**2), rms_hp = 70 ug/sqrt(Hz) x sqrt(ODR / 2).

Modelled: the accelerometer's three modes at +-2 g with the gyroscope powered down.
Not modelled (the emulator refuses them): a low-power accelerometer with the gyroscope
running (its current and noise in that combination are not in the table), XL_ULP_EN with
XL_HM_MODE set (not a mode: ST lists three), full scales other than +-2 g in the
low-power modes, and the LSM6DS3TR-C's low-power mode (other figures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CTRL5_C = 0x14
CTRL6_C = 0x15
CTRL5_XL_ULP_EN = 0x80  # CTRL5_C bit 7: accelerometer ultra-low-power mode
CTRL6_XL_HM_MODE = 0x10  # CTRL6_C bit 4: 1 = high-performance mode disabled

HP_DENSITY_UG_PER_RTHZ = 70.0


@dataclass(frozen=True)
class AccelPowerMode:
    """One accelerometer power mode of the LSM6DSOX."""

    name: str  # the config value ("high_performance", ...)
    ctrl5_ulp: bool  # CTRL5_C.XL_ULP_EN
    ctrl6_hm: bool  # CTRL6_C.XL_HM_MODE (1 = high performance off)
    rms_mg: float | None  # RMS noise at +-2 g, ODR-independent (None: density applies)
    current_ua_52hz: float  # accelerometer supply current at 52 Hz, gyroscope off
    source: str

    def rms_g(self, rate_hz: float) -> float:
        """Total white-noise standard deviation per axis, in g, at this output rate."""
        if self.rms_mg is None:
            return HP_DENSITY_UG_PER_RTHZ * 1e-6 * math.sqrt(rate_hz / 2.0)
        return self.rms_mg * 1e-3

    def extra_noise_g(self, rate_hz: float) -> float:
        """Noise to add (standard deviation, g) to a trace carrying the high-performance
        noise, so that it carries this mode's."""
        hp = HP_DENSITY_UG_PER_RTHZ * 1e-6 * math.sqrt(rate_hz / 2.0)
        return math.sqrt(max(0.0, self.rms_g(rate_hz) ** 2 - hp**2))


MODES: dict[str, AccelPowerMode] = {
    "high_performance": AccelPowerMode(
        "high_performance",
        False,
        False,
        None,
        170.0,
        "DS12814 Table 3 (70 ug/sqrt(Hz)) and Table 4 (LA_IddHP 170 uA)",
    ),
    "low_power": AccelPowerMode(
        "low_power",
        False,
        True,
        1.8,
        26.0,
        "DS12140 Table 2 (1.8 mg RMS, normal/low-power); DS12814 Table 4 (26 uA, unchecked)",
    ),
    "ultra_low_power": AccelPowerMode(
        "ultra_low_power",
        True,
        False,
        5.5,
        9.5,
        "DS12140 Table 2 (5.5 mg RMS, ultra-low-power); DS12814 Table 4 (9.5 uA, unchecked)",
    ),
}


def mode_of_bits(ctrl5: int, ctrl6: int) -> AccelPowerMode | None:
    """The mode CTRL5_C/CTRL6_C select, or None for a combination that is not a mode."""
    ulp = bool(ctrl5 & CTRL5_XL_ULP_EN)
    hm = bool(ctrl6 & CTRL6_XL_HM_MODE)
    for mode in MODES.values():
        if mode.ctrl5_ulp == ulp and mode.ctrl6_hm == hm:
            return mode
    return None
