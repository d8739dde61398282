# Sensitivities of the IMUs legsense supports, as exact integer ratios.
#
# Each scale is (num, den): one LSB is num/den micro-g (accelerometer) or
# micro-degrees-per-second (gyroscope). Integer ratios keep every conversion exact
# and identical on MicroPython and CPython. Figures from the datasheets:
#   ST LSM6DSOX/LSM6DSO/LSM6DS3TR-C: 0.061/0.122/0.244/0.488 mg/LSB;
#       4.375/8.75/17.5/35/70 mdps/LSB.
#   ST LSM9DS0 (accel/gyro part): same accelerometer steps; 8.75 mdps/LSB at 245 dps.
#   InvenSense MPU-6050/MPU-6886: 16384/8192/4096/2048 LSB/g;
#       131/65.5/32.8/16.4 LSB/(deg/s).

_LSM_ACCEL = {2: (61, 1), 4: (122, 1), 8: (244, 1), 16: (488, 1)}
_LSM_GYRO = {125: (4375, 1), 250: (8750, 1), 500: (17500, 1), 1000: (35000, 1), 2000: (70000, 1)}
_LSM9DS0_GYRO = {245: (8750, 1), 500: (17500, 1), 2000: (70000, 1)}
_MPU_ACCEL = {2: (15625, 256), 4: (15625, 128), 8: (15625, 64), 16: (15625, 32)}
_MPU_GYRO = {250: (1000000, 131), 500: (2000000, 131), 1000: (10000000, 328), 2000: (10000000, 164)}

# name -> (accel table, gyro table, default accel full scale g, default gyro full scale dps)
IMUS = {
    "lsm6dsox": (_LSM_ACCEL, _LSM_GYRO, 2, 250),
    "lsm6dso": (_LSM_ACCEL, _LSM_GYRO, 2, 250),
    "lsm6ds3trc": (_LSM_ACCEL, _LSM_GYRO, 2, 250),
    "lsm9ds0": (_LSM_ACCEL, _LSM9DS0_GYRO, 2, 245),
    "mpu6050": (_MPU_ACCEL, _MPU_GYRO, 2, 250),
    "mpu6886": (_MPU_ACCEL, _MPU_GYRO, 2, 250),
}

DEFAULT_IMU = "lsm6dsox"


def scales(imu=DEFAULT_IMU, accel_fs_g=0, gyro_fs_dps=0):
    """Return ((acc_num, acc_den), (gyr_num, gyr_den)) for an IMU and full-scale setting.

    A full scale of 0 picks the IMU's default (the most sensitive sensible range).
    Raises ValueError naming what is unknown.
    """
    try:
        acc, gyr, dacc, dgyr = IMUS[imu]
    except KeyError:
        raise ValueError("unknown IMU %r (known: %s)" % (imu, ", ".join(sorted(IMUS)))) from None
    fa = accel_fs_g or dacc
    fg = gyro_fs_dps or dgyr
    if fa not in acc:
        raise ValueError("%s has no accelerometer range of %d g" % (imu, fa))
    if fg not in gyr:
        raise ValueError("%s has no gyroscope range of %d dps" % (imu, fg))
    return acc[fa], gyr[fg]


def counts_to_micro(counts, scale):
    """Convert raw counts to micro-units (ug or udps) exactly, rounding toward zero."""
    num, den = scale
    v = counts * num
    if v < 0:
        return -((-v) // den)
    return v // den


def micro_to_counts(micro, scale):
    """Convert micro-units (ug or udps) to whole counts, rounding to nearest (>= 1 for >0)."""
    num, den = scale
    c = (micro * den + num // 2) // num
    if micro > 0 and c < 1:
        c = 1
    return c
