"""IMU drivers (firmware) against the register emulators (simulation), on CPython.

Register values and sensitivities below are typed in from the datasheets (LSM6DSOX
DS12814, LSM6DS3TR-C DS12402, MPU-6000/6050 register map RM-MPU-6000A-00, MPU-6886
DS-000193), not read back from the driver.
"""

from __future__ import annotations

import errno
import math
import tracemalloc
from array import array

import numpy as np
import pytest
from legsense.simulation.i2c_bus import EmulatedI2C
from legsense.simulation.lsm6_emulator import LSM6Emulator
from legsense.simulation.mpu6_emulator import MPU6Emulator
from legsense.simulation.trace_feeder import TraceFeeder
from legsense.trace import Trace
from legsense_device import imu_lsm6, imu_mpu6
from legsense_device.imu_detect import IMUNotFoundError, open_imu

LSM = ("lsm6dsox", "lsm6dso", "lsm6ds3trc")
MPU = ("mpu6050", "mpu6886")
ALL = LSM + MPU

# WHO_AM_I values from the datasheets.
WHO_AM_I = {"lsm6dsox": 0x6C, "lsm6dso": 0x6C, "lsm6ds3trc": 0x6A, "mpu6050": 0x68, "mpu6886": 0x19}
# Sensitivities from the datasheets: micro-g per LSB and micro-dps per LSB.
UG_PER_LSB = {
    "lsm": {2: 61, 4: 122, 8: 244, 16: 488},
    "mpu": {2: 1e6 / 16384, 4: 1e6 / 8192, 8: 1e6 / 4096, 16: 1e6 / 2048},
}
UDPS_PER_LSB = {
    "lsm": {125: 4375, 250: 8750, 500: 17500, 1000: 35000, 2000: 70000},
    "mpu": {250: 1e6 / 131, 500: 1e6 / 65.5, 1000: 1e6 / 32.8, 2000: 1e6 / 16.4},
}


def family(name: str) -> str:
    return "lsm" if name.startswith("lsm") else "mpu"


def make(name: str, address: int | None = None):
    """A bus with one emulated chip and the driver open_imu() found for it."""
    bus = EmulatedI2C()
    emu = LSM6Emulator(name) if family(name) == "lsm" else MPU6Emulator(name)
    bus.attach(address or (0x6A if family(name) == "lsm" else 0x68), emu)
    drv = open_imu(bus, hint=name)
    return bus, emu, drv


def buffers(n: int):
    return array("h", bytes(6 * n)), array("h", bytes(6 * n))


def lsb_values(name: str, drv, counts_acc, counts_gyr):
    """Physical values that are exact multiples of one LSB (quantise to those counts)."""
    an, ad = drv.accel_scale
    gn, gd = drv.gyro_scale
    acc = tuple(c * an / ad / 1e6 for c in counts_acc)
    gyr = tuple(c * gn / gd / 1e6 for c in counts_gyr)
    return acc, gyr


def sample_counts(k: int):
    """Distinct, recognisable counts for sample k (acc, gyro)."""
    return (k, -k, 1000 + k), (2 * k, -3 * k, 500 - k)


def push_numbered(emu, drv, name, first: int, count: int) -> None:
    for k in range(first, first + count):
        acc, gyr = lsb_values(name, drv, *sample_counts(k))
        emu.push(acc, gyr)


# --- detection -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_who_am_i_of_each_emulated_variant_is_the_datasheet_value(name):
    bus, _, _ = make(name)
    reg = 0x0F if family(name) == "lsm" else 0x75
    address = 0x6A if family(name) == "lsm" else 0x68
    assert bus.readfrom_mem(address, reg, 1)[0] == WHO_AM_I[name]


@pytest.mark.parametrize(
    "name,address",
    [(n, a) for n in LSM for a in (0x6A, 0x6B)] + [(n, a) for n in MPU for a in (0x68, 0x69)],
)
def test_detection_returns_the_right_driver_at_either_address(name, address):
    _, _, drv = make(name, address)
    assert drv.name == name
    assert drv.address == address
    expected = {
        "lsm6dsox": imu_lsm6.LSM6DSOX,
        "lsm6dso": imu_lsm6.LSM6DSOX,
        "lsm6ds3trc": imu_lsm6.LSM6DS3TRC,
        "mpu6050": imu_mpu6.MPU6,
        "mpu6886": imu_mpu6.MPU6,
    }[name]
    assert type(drv) is expected


def test_lsm6dso_and_lsm6dsox_share_who_am_i_so_without_hint_it_is_lsm6dsox():
    bus = EmulatedI2C()
    bus.attach(0x6B, LSM6Emulator("lsm6dso"))
    assert open_imu(bus).name == "lsm6dsox"


def test_nothing_answers_error_names_bus_addresses_and_scan():
    bus = EmulatedI2C(bus_id=1, scl=33, sda=32)
    bus.attach(0x3C, MPU6Emulator("mpu6050"))  # something else on the bus (e.g. a display)
    with pytest.raises(IMUNotFoundError) as e:
        open_imu(bus)
    msg = str(e.value)
    assert "I2C(1, scl=33, sda=32" in msg
    for a in ("0x6a", "0x6b", "0x68", "0x69"):
        assert a in msg
    assert "scan() found 0x3c" in msg
    assert "\n" not in msg


def test_unknown_chip_answering_is_reported():
    bus = EmulatedI2C()
    other = MPU6Emulator("mpu6050")
    other.regs[0x75] = 0x71  # an MPU-9250 answers WHO_AM_I with 0x71
    bus.attach(0x68, other)
    with pytest.raises(IMUNotFoundError, match=r"0x68 answered WHO_AM_I=0x71"):
        open_imu(bus)


def test_absent_address_raises_enodev_like_micropython_on_esp32():
    bus = EmulatedI2C()
    with pytest.raises(OSError) as e:
        bus.readfrom_mem(0x6A, 0x0F, 1)
    assert e.value.errno == errno.ENODEV == 19
    assert bus.scan() == []


# --- configuration -------------------------------------------------------------------

# (requested Hz, ODR code of CTRL1_XL[7:4], actual Hz)
LSM_ODR = [(12.5, 0x1, 12.5), (13, 0x1, 12.5), (26, 0x2, 26.0), (30, 0x2, 26.0), (52, 0x3, 52.0)]
LSM_ODR += [(80, 0x4, 104.0), (104, 0x4, 104.0)]


@pytest.mark.parametrize("name", LSM)
@pytest.mark.parametrize("hz,code,actual", LSM_ODR)
def test_lsm_odr_codes(name, hz, code, actual):
    _, emu, drv = make(name)
    assert drv.configure(hz) == actual
    assert emu.regs[0x10] >> 4 == code  # CTRL1_XL.ODR_XL
    assert emu.regs[0x11] >> 4 == code  # CTRL2_G.ODR_G
    assert emu.regs[0x12] == 0x44  # CTRL3_C: BDU | IF_INC
    assert emu.odr_hz == actual


@pytest.mark.parametrize("name", LSM)
@pytest.mark.parametrize("fs,bits", [(2, 0b00), (4, 0b10), (8, 0b11), (16, 0b01)])
def test_lsm_accel_full_scale_bits(name, fs, bits):
    _, emu, drv = make(name)
    drv.configure(52, accel_fs_g=fs)
    assert (emu.regs[0x10] >> 2) & 3 == bits  # CTRL1_XL.FS_XL


@pytest.mark.parametrize("name", LSM)
@pytest.mark.parametrize(
    "dps,low_nibble", [(125, 0x2), (250, 0x0), (500, 0x4), (1000, 0x8), (2000, 0xC)]
)
def test_lsm_gyro_full_scale_bits(name, dps, low_nibble):
    _, emu, drv = make(name)
    drv.configure(52, gyro_fs_dps=dps)
    assert emu.regs[0x11] & 0x0F == low_nibble  # CTRL2_G: FS_G[3:2], FS_125[1]


@pytest.mark.parametrize("name", ["lsm6dsox", "lsm6dso"])
def test_lsm6dsox_fifo_registers(name):
    _, emu, drv = make(name)
    drv.configure(52, accel_fs_g=4, gyro_fs_dps=500, gyro=True, watermark=16)
    r = emu.regs
    assert (r[0x10], r[0x11]) == (0x38, 0x34)
    assert r[0x07] == 32 and r[0x08] & 1 == 0  # WTM = 16 samples x 2 words
    assert r[0x09] == 0x33  # BDR_GY = BDR_XL = 52 Hz
    assert r[0x0A] & 7 == 0b110  # continuous mode
    drv.configure(104, gyro=False, watermark=300)
    assert r[0x11] == 0x00  # gyro powered down
    assert r[0x09] == 0x04  # accel batched at 104 Hz, gyro not batched
    assert r[0x07] | (r[0x08] & 1) << 8 == 300


def test_lsm6ds3trc_fifo_registers():
    _, emu, drv = make("lsm6ds3trc")
    drv.configure(104, accel_fs_g=2, gyro_fs_dps=250, gyro=True, watermark=10)
    r = emu.regs
    assert (r[0x10], r[0x11]) == (0x40, 0x40)
    assert r[0x06] | (r[0x07] & 7) << 8 == 60  # FTH in 16-bit words: 10 x 6
    assert r[0x08] == 0x09  # DEC_FIFO_GYRO = DEC_FIFO_XL = 001 (no decimation)
    assert r[0x0A] == (0x4 << 3) | 0b110  # ODR_FIFO 104 Hz, continuous mode
    drv.configure(26, gyro=False, watermark=10)
    assert r[0x11] == 0x00
    assert r[0x08] == 0x01
    assert r[0x06] == 30
    assert r[0x0A] == (0x2 << 3) | 0b110


# (requested Hz, SMPLRT_DIV, DLPF_CFG, actual Hz): rate = 1 kHz / (1 + div), bandwidth
# <= rate / 2 (DLPF 3 = 44 Hz, 4 = 21 Hz, 5 = 10 Hz, 6 = 5 Hz on the MPU-6050).
MPU_ODR = [(12.5, 79, 6, 12.5), (26, 37, 5, 1000 / 38), (52, 18, 4, 1000 / 19)]
MPU_ODR += [(104, 9, 3, 100.0)]


@pytest.mark.parametrize("name", MPU)
@pytest.mark.parametrize("hz,div,dlpf,actual", MPU_ODR)
def test_mpu_rate_and_filter(name, hz, div, dlpf, actual):
    _, emu, drv = make(name)
    assert drv.configure(hz) == pytest.approx(actual)
    assert emu.regs[0x19] == div
    assert emu.regs[0x1A] == dlpf  # CONFIG; MPU-6886 FIFO_MODE (bit 6) = 0: overwrite
    if name == "mpu6886":
        assert emu.regs[0x1D] == dlpf  # ACCEL_CONFIG2: A_DLPF_CFG, FCHOICE_B = 0
    assert emu.odr_hz == pytest.approx(actual)


@pytest.mark.parametrize("name", MPU)
def test_mpu_registers_with_and_without_gyro(name):
    _, emu, drv = make(name)
    drv.configure(52, accel_fs_g=8, gyro_fs_dps=1000, gyro=True)
    r = emu.regs
    assert r[0x1B] == 0x10 and r[0x1C] == 0x10  # FS_SEL = AFS_SEL = 2
    assert r[0x23] == (0x78 if name == "mpu6050" else 0x18)  # FIFO_EN
    assert r[0x6A] == 0x40  # USER_CTRL.FIFO_EN
    assert r[0x38] == 0x10  # INT_ENABLE.FIFO_OFLOW_EN
    assert r[0x6B] == 0x01 and r[0x6C] == 0x00
    drv.configure(52, gyro=False)
    assert r[0x23] == 0x08  # accelerometer only
    assert r[0x6C] == 0x07  # STBY_XG | STBY_YG | STBY_ZG
    assert r[0x6B] & 0x40 == 0  # awake


@pytest.mark.parametrize("name", ALL)
def test_bad_settings_are_refused(name):
    _, _, drv = make(name)
    for kwargs in ({"odr_hz": 5}, {"odr_hz": 200}, {"odr_hz": 52, "accel_fs_g": 3}):
        with pytest.raises(ValueError):
            drv.configure(**kwargs)
    with pytest.raises(ValueError):
        drv.configure(52, gyro_fs_dps=300)


@pytest.mark.parametrize("name", ALL)
def test_power_down_stops_sampling(name):
    _, emu, drv = make(name)
    drv.configure(52)
    drv.power_down()
    assert emu.odr_hz == 0.0
    emu.push((0, 0, 1), (0, 0, 0))
    if family(name) == "lsm":
        assert emu.regs[0x10] == 0 and emu.regs[0x11] == 0
        assert len(emu.fifo) == 0
    else:
        assert emu.regs[0x6B] & 0x40  # SLEEP
        assert emu.regs[0x6C] == 0x3F


# --- scaling -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("fs_g,fs_dps", [(2, 250), (4, 500), (8, 1000), (16, 2000)])
def test_scaling_within_one_lsb(name, fs_g, fs_dps):
    _, emu, drv = make(name)
    drv.configure(26, accel_fs_g=fs_g, gyro_fs_dps=fs_dps)
    ug = UG_PER_LSB[family(name)][fs_g]
    udps = UDPS_PER_LSB[family(name)][fs_dps]
    num, den = drv.accel_scale
    assert num / den == pytest.approx(ug, rel=2e-3)
    num, den = drv.gyro_scale
    assert num / den == pytest.approx(udps, rel=2e-3)
    accs = [(0.0, 0.0, 1.0), (0.5 * fs_g, -0.25 * fs_g, 0.123), (-0.9 * fs_g, 0.0071, -1.0)]
    gyrs = [(0.0, 0.0, 0.0), (0.5 * fs_dps, -0.25 * fs_dps, 3.3), (-0.9 * fs_dps, 0.77, -7.0)]
    for a, g in zip(accs, gyrs, strict=True):
        emu.push(a, g)
    acc, gyr = buffers(8)
    assert drv.read_fifo(acc, gyr, 8) == 3
    for i in range(3):
        for axis in range(3):
            got_ug = acc[3 * i + axis] * ug
            assert abs(got_ug - accs[i][axis] * 1e6) <= ug
            got_udps = gyr[3 * i + axis] * udps
            assert abs(got_udps - gyrs[i][axis] * 1e6) <= udps * 1.002


@pytest.mark.parametrize("name", ALL)
def test_values_beyond_full_scale_saturate(name):
    _, emu, drv = make(name)
    drv.configure(52, accel_fs_g=2, gyro_fs_dps=250)
    emu.push((3.0, -3.0, 0.0), (400.0, -400.0, 0.0))
    acc, gyr = buffers(1)
    assert drv.read_fifo(acc, gyr, 1) == 1
    assert list(acc[:2]) == [32767, -32768]
    assert list(gyr[:2]) == [32767, -32768]


# FIFO capacities from the datasheets, in samples for (gyro on, gyro off):
# LSM6DSOX/DSO 512 words of 7 bytes (one word per sensor); LSM6DS3TR-C 4 KB of 16-bit
# words (12 or 6 bytes a sample); MPU 1024 bytes (6050: 12/6, 6886: 14/8 bytes a sample).
CAPACITY = {
    "lsm6dsox": (256, 512),
    "lsm6dso": (256, 512),
    "lsm6ds3trc": (4096 // 12, 4096 // 6),
    "mpu6050": (1024 // 12, 1024 // 6),
    "mpu6886": (1024 // 14, 1024 // 8),
}


# --- burst reads ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("gyro", [True, False])
def test_burst_reads_return_every_sample_in_order(name, gyro):
    bus, emu, drv = make(name)
    drv.configure(104, gyro=gyro)
    total = min(80, CAPACITY[name][0 if gyro else 1])  # no overflow
    push_numbered(emu, drv, name, 0, total)
    assert drv.fifo_level() == total
    acc, gyr = buffers(64)
    got_acc, got_gyr = [], []
    before = bus.stats.transfers
    for max_n in (7, 50, 64):
        n = drv.read_fifo(acc, gyr, max_n)
        assert n <= max_n
        got_acc += [tuple(acc[3 * i : 3 * i + 3]) for i in range(n)]
        got_gyr += [tuple(gyr[3 * i : 3 * i + 3]) for i in range(n)]
    transfers = bus.stats.transfers - before
    assert [a for a, _ in map(sample_counts, range(total))] == got_acc
    if gyro:
        assert [g for _, g in map(sample_counts, range(total))] == got_gyr
    assert drv.fifo_level() == 0
    # Bursts, not a transfer per sample: 3 status reads + a few blocks each.
    assert transfers < total / 2


def test_read_fifo_without_gyro_buffer():
    _, emu, drv = make("lsm6dsox")
    drv.configure(52, gyro=False)
    push_numbered(emu, drv, "lsm6dsox", 0, 5)
    acc, _ = buffers(5)
    assert drv.read_fifo(acc, None, 5) == 5
    assert tuple(acc[12:15]) == sample_counts(4)[0]


# --- FIFO overflow -------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("gyro", [True, False])
def test_overflow_is_counted_and_later_data_is_correct(name, gyro):
    _, emu, drv = make(name)
    drv.configure(52, gyro=gyro)
    cap = CAPACITY[name][0 if gyro else 1]
    total = cap + 37
    push_numbered(emu, drv, name, 0, total)
    acc, gyr = buffers(700)
    n = drv.read_fifo(acc, gyr, 700)
    assert drv.overflows == 1
    if family(name) == "lsm":
        # Continuous mode: the newest samples survive, whole and in order.
        assert cap - 2 <= n <= cap
        first = total - n
        for i in range(n):
            a, g = sample_counts(first + i)
            assert tuple(acc[3 * i : 3 * i + 3]) == a
            if gyro:
                assert tuple(gyr[3 * i : 3 * i + 3]) == g
    else:
        assert n == 0  # frames may be torn: the driver reset the FIFO
    # After the overflow, new data comes out exactly.
    push_numbered(emu, drv, name, 5000, 20)
    n = drv.read_fifo(acc, gyr, 700)
    assert n == 20
    for i in range(20):
        a, g = sample_counts(5000 + i)
        assert tuple(acc[3 * i : 3 * i + 3]) == a
        if gyro:
            assert tuple(gyr[3 * i : 3 * i + 3]) == g
    assert drv.overflows == 1
    # A second overflow counts again.
    push_numbered(emu, drv, name, 0, total)
    drv.read_fifo(acc, gyr, 700)
    assert drv.overflows == 2


def test_mpu_overflow_sets_fifo_oflow_and_drops_oldest_bytes():
    bus, emu, drv = make("mpu6050")
    drv.configure(52, gyro=True)
    push_numbered(emu, drv, "mpu6050", 0, 86)  # 86 x 12 = 1032 bytes > 1024
    assert len(emu.fifo) == 1024
    assert emu.bytes_dropped == 8
    assert bus.readfrom_mem(0x68, 0x3A, 1)[0] & 0x10  # INT_STATUS.FIFO_OFLOW_INT
    assert bus.readfrom_mem(0x68, 0x3A, 1)[0] & 0x10 == 0  # cleared by the read


def test_lsm6ds3trc_pattern_realigns_after_overrun():
    bus, emu, drv = make("lsm6ds3trc")
    drv.configure(52, gyro=True)
    push_numbered(emu, drv, "lsm6ds3trc", 0, 342)  # 2052 words into 2048
    assert emu.words_overwritten == 4
    status = bus.readfrom_mem(0x6A, 0x3A, 4)  # FIFO_STATUS1..4
    assert status[1] & 0x40  # OVER_RUN
    assert status[2] | (status[3] & 3) << 8 == 4  # FIFO_PATTERN: next word is Ay of sample 0
    acc, gyr = buffers(400)
    n = drv.read_fifo(acc, gyr, 400)
    assert n == 341
    assert tuple(gyr[0:3]) == sample_counts(1)[1] and tuple(acc[0:3]) == sample_counts(1)[0]


@pytest.mark.parametrize("name,wtm_words_per_sample", [("lsm6dsox", 2), ("lsm6ds3trc", 6)])
def test_lsm_watermark_flag(name, wtm_words_per_sample):
    bus, emu, drv = make(name)
    drv.configure(52, gyro=True, watermark=16)
    assert drv.watermark == 16
    push_numbered(emu, drv, name, 0, 15)
    assert bus.readfrom_mem(0x6A, 0x3B, 1)[0] & 0x80 == 0  # FIFO_STATUS2: WTM below
    push_numbered(emu, drv, name, 15, 1)
    assert bus.readfrom_mem(0x6A, 0x3B, 1)[0] & 0x80  # 16 samples: watermark reached
    assert len(emu.fifo) == 16 * wtm_words_per_sample


@pytest.mark.parametrize("total", [100, 300])
def test_lsm6dsox_pairs_words_by_time_slot_in_either_order(total):
    bus = EmulatedI2C()
    emu = LSM6Emulator("lsm6dsox", accel_word_first=True)
    bus.attach(0x6A, emu)
    drv = open_imu(bus)
    drv.configure(52, gyro=True)
    push_numbered(emu, drv, "lsm6dsox", 0, total)  # 300: overruns 512 words
    acc, gyr = buffers(300)
    n = drv.read_fifo(acc, gyr, 300)
    assert n == min(total, 256)  # 512 words: 256 whole time slots
    first = total - n
    for i in range(n):
        a, g = sample_counts(first + i)
        assert (tuple(acc[3 * i : 3 * i + 3]), tuple(gyr[3 * i : 3 * i + 3])) == (a, g)


def test_lsm6dsox_slot_split_across_reads_and_lost_half():
    _, emu, drv = make("lsm6dsox")
    drv.configure(52, gyro=True)
    push_numbered(emu, drv, "lsm6dsox", 0, 10)
    emu.fifo.popleft()  # the oldest gyro word is lost: sample 0 is incomplete
    late = emu.fifo.pop()  # the chip has not yet written sample 9's second word
    acc, gyr = buffers(16)
    assert drv.read_fifo(acc, gyr, 16) == 8  # samples 1..8; 9's first word waits
    assert tuple(acc[0:3]) == sample_counts(1)[0]
    emu.fifo.append(late)
    assert drv.read_fifo(acc, gyr, 16) == 1
    assert (tuple(acc[0:3]), tuple(gyr[0:3])) == sample_counts(9)


# --- accelerometer-only mode ---------------------------------------------------------


@pytest.mark.parametrize("name,bytes_per_sample", [("mpu6050", 6), ("mpu6886", 8)])
def test_mpu_accel_only_fifo_content(name, bytes_per_sample):
    _, emu, drv = make(name)
    drv.configure(26, gyro=False)
    push_numbered(emu, drv, name, 0, 10)
    assert len(emu.fifo) == 10 * bytes_per_sample  # accel (+ temperature on the 6886)


@pytest.mark.parametrize("name", LSM)
def test_lsm_accel_only_fifo_holds_accel_words_only(name):
    _, emu, drv = make(name)
    drv.configure(26, gyro=False)
    push_numbered(emu, drv, name, 0, 10)
    if name == "lsm6ds3trc":
        assert len(emu.fifo) == 30  # X, Y, Z words
    else:
        assert len(emu.fifo) == 10
        assert {w[0] >> 3 for w in emu.fifo} == {0x02}  # TAG_SENSOR: accelerometer NC


# --- no allocation -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lsm6dsox", "lsm6ds3trc", "mpu6050", "mpu6886"])
def test_read_fifo_does_not_grow_memory(name):
    _, emu, drv = make(name)
    drv.configure(52, gyro=True)
    acc, gyr = buffers(64)
    driver_file = imu_lsm6.__file__ if family(name) == "lsm" else imu_mpu6.__file__
    push_numbered(emu, drv, name, 0, 40)
    drv.read_fifo(acc, gyr, 64)  # warm-up
    tracemalloc.start()
    try:
        push_numbered(emu, drv, name, 0, 40)
        drv.read_fifo(acc, gyr, 64)
        before = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, driver_file)])
        for _ in range(50):
            push_numbered(emu, drv, name, 0, 40)
            assert drv.read_fifo(acc, gyr, 64) == 40
        after = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, driver_file)])
    finally:
        tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "lineno"))
    assert growth == 0


# --- emulator details ----------------------------------------------------------------


def test_lsm_auto_increment_can_be_turned_off():
    bus, _, _ = make("lsm6dsox")
    assert bus.readfrom_mem(0x6A, 0x0F, 2) == bytes((0x6C, 0x00))  # 0x0F then CTRL1_XL
    bus.writeto_mem(0x6A, 0x12, b"\x00")  # CTRL3_C.IF_INC = 0
    assert bus.readfrom_mem(0x6A, 0x0F, 2) == bytes((0x6C, 0x6C))


def test_mpu_fifo_r_w_repeats_last_byte_when_empty():
    bus, emu, drv = make("mpu6886")
    drv.configure(52, gyro=False)
    emu.push((0.0, 0.0, -1.0), None)
    data = bus.readfrom_mem(0x68, 0x74, 10)
    assert data[:6] == bytes((0, 0, 0, 0, 0xC0, 0x00))  # -16384 big-endian
    assert data[6:8] == bytes((0, 0))  # temperature at 25 degC is 0 on the MPU-6886
    assert data[8:] == bytes((0, 0))


def test_bus_counts_traffic():
    bus, _, _ = make("lsm6dsox")
    bus.stats.__init__()
    buf = bytearray(6)
    bus.readfrom_mem_into(0x6A, 0x28, buf)
    # two transfers (write register address, repeated start + read 6 bytes)
    assert (bus.stats.transfers, bus.stats.bytes_written, bus.stats.bytes_read) == (2, 1, 6)
    assert bus.stats.clocks == 9 * (2 + 1 + 6) + 2 * 2
    assert bus.stats.seconds(400_000) == pytest.approx(85 / 400_000)


# --- feeding from a trace ------------------------------------------------------------


def test_trace_feeder_samples_and_holds_at_the_imu_rate():
    _, emu, drv = make("lsm6dsox")
    drv.configure(26, accel_fs_g=2, gyro=True)
    num, den = drv.accel_scale
    t = np.arange(0, 3.0, 0.01)  # a 100 Hz trace
    counts = np.arange(len(t))  # row i holds i counts on x
    acc = np.column_stack([counts * num / den / 1e6, np.zeros_like(t), np.ones_like(t)])
    feeder = TraceFeeder(emu, Trace(t_s=t, acc_g=acc, gyr_dps=None))
    assert feeder.advance_to(1.0) == 27  # ticks at 0, 1/26, ..., 26/26
    accb, gyrb = buffers(64)
    n = drv.read_fifo(accb, gyrb, 64)
    assert n == 27
    for k in range(n):
        tick = k / 26
        row = max(i for i in range(len(t)) if t[i] <= tick + 1e-12)
        assert accb[3 * k] == row
        assert tuple(gyrb[3 * k : 3 * k + 3]) == (0, 0, 0)
    drv.configure(52, gyro=True)  # the feeder follows a new rate
    assert feeder.advance_to(2.0) == math.floor(52 * 1.0)
    drv.power_down()
    assert feeder.advance_to(3.0) == 0
