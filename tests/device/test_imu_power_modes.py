"""The LSM6 driver sets the accelerometer power mode from the config, on the emulator.

Register bits typed in from DS12814: CTRL5_C (0x14) bit 7 XL_ULP_EN, CTRL6_C (0x15)
bit 4 XL_HM_MODE (1 = high performance off).
"""

from __future__ import annotations

from array import array

import pytest
from legsense.simulation.i2c_bus import EmulatedI2C
from legsense.simulation.lsm6_emulator import LSM6Emulator
from legsense_device import config
from legsense_device.imu_detect import open_imu

CTRL5_C = 0x14
CTRL6_C = 0x15


def make(name: str = "lsm6dsox"):
    bus = EmulatedI2C()
    emu = LSM6Emulator(name, noise_seed=3)
    bus.attach(0x6A, emu)
    return emu, open_imu(bus, hint=name)


@pytest.mark.parametrize(
    ("mode", "ctrl5_bit", "ctrl6_bit"),
    [("high_performance", 0, 0), ("low_power", 0, 0x10), ("ultra_low_power", 0x80, 0)],
)
def test_driver_writes_the_mode_bits_with_the_gyro_off(mode, ctrl5_bit, ctrl6_bit):
    emu, drv = make()
    assert drv.configure(52, gyro=False, accel_power=mode) == 52.0
    assert emu.regs[CTRL5_C] & 0x80 == ctrl5_bit
    assert emu.regs[CTRL6_C] & 0x10 == ctrl6_bit
    assert drv.accel_power == mode
    assert emu.accel_power_mode().name == mode
    # and the chip still delivers samples the driver reads
    for _ in range(10):
        emu.push((0.0, 0.0, 1.0))
    acc = array("h", bytes(6 * 16))
    assert drv.read_fifo(acc, None, 16) == 10
    assert abs(acc[2] - 16393) < 300  # 1 g at 0.061 mg/LSB, plus at most 5.5 mg of noise


@pytest.mark.parametrize("mode", ["low_power", "ultra_low_power"])
def test_gyro_on_keeps_high_performance(mode):
    emu, drv = make()
    drv.configure(52, gyro=True, accel_power=mode)
    assert drv.accel_power == "high_performance"
    assert emu.regs[CTRL5_C] & 0x80 == 0 and emu.regs[CTRL6_C] & 0x10 == 0
    emu.push((0.0, 0.0, 1.0), (0.0, 0.0, 0.0))  # a modelled combination: no refusal


def test_other_full_scales_and_the_ds3trc_keep_high_performance():
    emu, drv = make()
    drv.configure(52, accel_fs_g=4, gyro=False, accel_power="low_power")
    assert drv.accel_power == "high_performance" and emu.regs[CTRL6_C] & 0x10 == 0
    emu, drv = make("lsm6ds3trc")
    drv.configure(52, gyro=False, accel_power="ultra_low_power")
    assert drv.accel_power == "high_performance"
    # CTRL5_C bit 7 is ROUNDING on the DS3TR-C, never written to 1 here
    assert emu.regs[CTRL5_C] == 0 and emu.regs[CTRL6_C] & 0x10 == 0


def test_a_reconfigure_back_to_high_performance_clears_the_bits():
    emu, drv = make()
    drv.configure(52, gyro=False, accel_power="ultra_low_power")
    drv.configure(52, gyro=False, accel_power="high_performance")
    assert emu.regs[CTRL5_C] & 0x80 == 0 and emu.regs[CTRL6_C] & 0x10 == 0


def test_unknown_mode_is_a_value_error():
    _emu, drv = make()
    with pytest.raises(ValueError, match="power mode"):
        drv.configure(52, gyro=False, accel_power="eco")


def test_config_key_is_validated():
    cfg, reasons = config.validate({"accel_power": "low_power"})
    assert cfg["accel_power"] == "low_power" and not reasons
    cfg, reasons = config.validate({"accel_power": "eco"})
    assert cfg["accel_power"] == config.DEFAULTS["accel_power"]
    assert any("accel_power" in r for r in reasons)


def test_the_app_passes_the_config_to_the_chip(root):
    # config -> app -> sampler -> driver -> the emulated chip on the simulated board
    from app_harness import Run, at, exact_rate_trace, write_config
    from legsense.simulation.sim_board import SimBoard

    trace = exact_rate_trace(60 / 3600, 52.0, "lsm6dsox", seed=4)
    write_config(root, {"board": "virtual", "gyro": False, "accel_power": "low_power"})
    board = SimBoard("virtual", imu="lsm6dsox", trace=trace, trace_start_ms=1001)

    async def scenario(app):
        await at(1.0)
        assert app.start("host")[0]
        await at(30.0)
        chip = board.imu
        mode = chip.accel_power_mode().name, chip.regs[CTRL5_C], chip.regs[CTRL6_C]
        assert app.stop("host")[0]
        return mode, app.status()["samples"]

    (name, ctrl5, ctrl6), samples = Run(board, root)(scenario).result
    assert name == "low_power" and ctrl6 & 0x10 and not ctrl5 & 0x80
    assert samples > 52 * 25  # it recorded
