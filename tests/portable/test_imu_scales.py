# IMU sensitivities (portable: CPython and the MicroPython VM). Expected values are the
# datasheet figures written out here, not derived from the module's tables.

from legsense_core import imu_scales


def approx_equal(scale, micro_per_lsb, rel=1e-3):
    num, den = scale
    return abs(num / den - micro_per_lsb) <= rel * micro_per_lsb


def test_default_ranges_are_the_most_sensitive():
    assert imu_scales.scales() == imu_scales.scales("lsm6dsox", 2, 250)
    acc, gyr = imu_scales.scales("lsm6dsox")
    assert acc == (61, 1)  # 0.061 mg/LSB at +-2 g
    assert gyr == (8750, 1)  # 8.75 mdps/LSB at 250 dps


def test_lsm6dsox_datasheet_steps():
    for fs_g, mg in ((2, 0.061), (4, 0.122), (8, 0.244), (16, 0.488)):
        assert approx_equal(imu_scales.scales("lsm6dsox", fs_g, 250)[0], mg * 1000)
    for fs_dps, mdps in ((125, 4.375), (250, 8.75), (500, 17.5), (1000, 35.0), (2000, 70.0)):
        assert approx_equal(imu_scales.scales("lsm6dsox", 2, fs_dps)[1], mdps * 1000)


def test_mpu6050_datasheet_steps():
    # 16384 / 8192 / 4096 / 2048 LSB/g; 131 / 65.5 / 32.8 / 16.4 LSB/(deg/s)
    for fs_g, lsb_per_g in ((2, 16384), (4, 8192), (8, 4096), (16, 2048)):
        assert approx_equal(imu_scales.scales("mpu6050", fs_g, 250)[0], 1e6 / lsb_per_g)
    for fs_dps, lsb_per_dps in ((250, 131), (500, 65.5), (1000, 32.8), (2000, 16.4)):
        assert approx_equal(imu_scales.scales("mpu6050", 2, fs_dps)[1], 1e6 / lsb_per_dps)


def test_every_imu_has_integer_scales():
    for imu in imu_scales.IMUS:
        acc, gyr = imu_scales.scales(imu)
        for num, den in (acc, gyr):
            assert isinstance(num, int) and isinstance(den, int) and num > 0 and den > 0


def test_unknown_imu_and_range_are_named():
    for args, words in (
        (("bmi160",), ("bmi160", "lsm6dsox")),
        (("lsm6dsox", 3), ("lsm6dsox", "3 g")),
        (("mpu6050", 2, 300), ("mpu6050", "300 dps")),
    ):
        try:
            imu_scales.scales(*args)
        except ValueError as e:
            msg = str(e)
            for w in words:
                assert w in msg, (msg, w)
        else:
            raise AssertionError(f"no error for {args}")


def test_counts_to_micro_is_exact_and_symmetric():
    lsm = (61, 1)
    mpu = (15625, 256)  # 1e6 / 16384 ug per LSB
    assert imu_scales.counts_to_micro(16384, lsm) == 999424
    assert imu_scales.counts_to_micro(-16384, lsm) == -999424
    assert imu_scales.counts_to_micro(16384, mpu) == 1000000  # exactly 1 g
    assert imu_scales.counts_to_micro(-3, mpu) == -183  # -183.1 rounds toward zero
    assert imu_scales.counts_to_micro(3, mpu) == 183
    assert imu_scales.counts_to_micro(0, mpu) == 0


def test_micro_to_counts_rounds_to_nearest_and_keeps_small_positives():
    lsm = (61, 1)
    assert imu_scales.micro_to_counts(1000000, lsm) == 16393  # 16393.44
    assert imu_scales.micro_to_counts(91, lsm) == 1  # 1.49 -> 1
    assert imu_scales.micro_to_counts(92, lsm) == 2  # 1.51 -> 2
    assert imu_scales.micro_to_counts(1, lsm) == 1  # a positive floor stays positive
    assert imu_scales.micro_to_counts(0, lsm) == 0


def test_round_trip_within_half_a_count():
    for scale in ((61, 1), (8750, 1), (15625, 256), (1000000, 131)):
        for counts in (1, 7, 100, 16393, 32767):
            micro = imu_scales.counts_to_micro(counts, scale)
            assert abs(imu_scales.micro_to_counts(micro, scale) - counts) <= 1
