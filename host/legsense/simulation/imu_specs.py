"""Sensor figures of the supported IMUs, from their datasheets (typical values).

Noise densities are per sqrt(Hz); the white-noise standard deviation at a sample rate
is density * sqrt(bandwidth), with the bandwidth taken as rate / 2 (the IMUs' digital
low-pass sits at ODR/2 by default). Offsets are the datasheets' zero-g / zero-rate
tolerances: a real part sits anywhere inside them. Quantisation is not here: it comes
from legsense_core.imu_scales, the one table the firmware uses too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ImuSpec:
    """Noise and offset figures of one IMU (accelerometer +/-2 g, gyro lowest range)."""

    accel_noise_ug_per_rthz: float  # accelerometer noise density, micro-g / sqrt(Hz)
    gyro_noise_mdps_per_rthz: float  # gyroscope rate noise density, mdps / sqrt(Hz)
    accel_offset_mg: float  # zero-g level offset tolerance, +/- mg
    gyro_offset_dps: float  # zero-rate level tolerance, +/- deg/s
    source: str  # where the figures come from

    def accel_noise_g(self, rate_hz: float) -> float:
        """White accelerometer noise, standard deviation in g, at this sample rate."""
        return self.accel_noise_ug_per_rthz * 1e-6 * math.sqrt(rate_hz / 2.0)

    def gyro_noise_dps(self, rate_hz: float) -> float:
        """White gyroscope noise, standard deviation in deg/s, at this sample rate."""
        return self.gyro_noise_mdps_per_rthz * 1e-3 * math.sqrt(rate_hz / 2.0)


IMU_SPECS: dict[str, ImuSpec] = {
    "lsm6dsox": ImuSpec(70.0, 3.8, 20.0, 1.0, "ST LSM6DSOX datasheet DS12814, table 3"),
    "lsm6dso": ImuSpec(70.0, 3.8, 20.0, 1.0, "ST LSM6DSO datasheet DS12140, table 2"),
    "lsm6ds3trc": ImuSpec(90.0, 5.0, 40.0, 10.0, "ST LSM6DS3TR-C datasheet DS12209, table 3"),
    # The LSM9DS0 sheet gives no accelerometer density; 150 ug/rtHz is our estimate
    # from its typical RMS noise. Gyro density and both offsets are datasheet figures.
    "lsm9ds0": ImuSpec(150.0, 30.0, 60.0, 10.0, "ST LSM9DS0 datasheet DocID024763, table 3"),
    "mpu6050": ImuSpec(400.0, 5.0, 50.0, 20.0, "InvenSense PS-MPU-6000A-00 rev 3.4, 6.1-6.2"),
    "mpu6886": ImuSpec(100.0, 4.0, 40.0, 1.0, "InvenSense DS-000193 rev 1.1, features"),
}


def imu_spec(imu: str) -> ImuSpec:
    """The spec of an IMU by name; KeyError names the known ones."""
    try:
        return IMU_SPECS[imu]
    except KeyError:
        raise KeyError(
            f"no sensor figures for IMU {imu!r} (known: {', '.join(IMU_SPECS)})"
        ) from None
