"""The `machine` shim, the simulated clock and the virtual-time event loop."""

from __future__ import annotations

import asyncio
import importlib
import socket
import sys
import time

import pytest
from legsense.simulation import machine_shim, virtual_loop
from legsense.simulation.sim_board import SimBoard
from legsense.simulation.sim_clock import SimClock, SimulatedReset
from legsense.simulation.virtual_loop import VirtualTimeDeadlock, VirtualTimeLoop


def test_shim_exists_only_inside_its_context():
    assert "machine" not in sys.modules
    board = SimBoard("virtual")
    with machine_shim.installed(board):
        machine = importlib.import_module("machine")
        assert machine.unique_id() == board.uid
        with pytest.raises(RuntimeError), machine_shim.installed(SimBoard("virtual")):
            pass  # one board at a time
    assert "machine" not in sys.modules
    with pytest.raises(ImportError):
        importlib.import_module("machine")
    with pytest.raises(RuntimeError, match="no simulated board"):
        machine_shim.sim_ticks_ms()


def test_i2c_on_the_board_pins_reaches_the_imu_elsewhere_nothing():
    with machine_shim.installed(SimBoard("virtual", imu="mpu6886")) as board:
        m = machine_shim
        bus = m.I2C(0, scl=m.Pin(22), sda=m.Pin(21), freq=100_000)
        assert bus.scan() == [0x68]
        assert bus.readfrom_mem(0x68, 0x75, 1) == b"\x19"  # MPU-6886 WHO_AM_I
        assert bus.freq == 100_000 and bus is board.bus
        other = m.I2C(1, scl=m.Pin(18), sda=m.Pin(19))
        assert other.scan() == []
        with pytest.raises(OSError):
            other.readfrom_mem(0x68, 0x75, 1)


def test_the_imu_fills_its_fifo_as_simulated_time_passes():
    with machine_shim.installed(SimBoard("virtual")) as board:
        from legsense_device.imu_detect import open_imu

        m = machine_shim
        imu = open_imu(m.I2C(0, scl=m.Pin(22), sda=m.Pin(21)))
        imu.configure(52, watermark=26)
        board.clock.advance(1.0)
        assert imu.fifo_level() in (52, 53)  # 1 s at 52 Hz (+ the sample at start)
        board.clock.advance(1.0)
        assert imu.fifo_level() in (104, 105)


def test_pins_leds_buttons_and_irqs():
    with machine_shim.installed(SimBoard("virtual")) as board:
        m = machine_shim
        led = m.Pin(25, m.Pin.OUT)
        led.on()
        board.clock.advance(0.5)
        led.off()
        assert board.led_history() == [(0, 1), (500_000_000, 0)]
        button = m.Pin(0, m.Pin.IN, m.Pin.PULL_UP)
        assert button.value() == 1  # active low, released
        edges = []
        button.irq(lambda p: edges.append(p.level), m.Pin.IRQ_FALLING)
        board.press_button()
        board.press_button(False)
        assert button.value() == 1 and edges == [0]  # falling edge only


def test_adc_reads_the_battery_through_its_divider():
    with machine_shim.installed(SimBoard("virtual", battery_mv=3700)):
        m = machine_shim
        adc = m.ADC(m.Pin(35))
        adc.atten(m.ADC.ATTN_11DB)
        assert adc.read_uv() == 1_850_000  # virtual.json: divider 2
        assert m.ADC(m.Pin(34)).read_uv() == 0


def test_watchdog_fires_exactly_at_its_timeout_unless_fed():
    clock = SimClock()
    with machine_shim.installed(SimBoard("virtual", clock=clock)):
        wdt = machine_shim.WDT(timeout=2000)
        for _ in range(10):
            clock.advance(1.5)
            wdt.feed()
        with pytest.raises(SimulatedReset) as reset:
            clock.advance(5.0)
    assert reset.value.at_ns == 15_000_000_000 + 2_000_000_000
    assert clock.now_ns == reset.value.at_ns  # time stops at the reset
    assert reset.value.cause == "watchdog not fed for 2000 ms"


def test_timer_callbacks_fire_on_simulated_time_and_can_feed_the_watchdog():
    clock = SimClock()
    fired = []
    with machine_shim.installed(SimBoard("virtual", clock=clock)):
        wdt = machine_shim.WDT(timeout=2000)
        t = machine_shim.Timer(0)
        t.init(mode=machine_shim.Timer.PERIODIC, period=1000, callback=lambda _: wdt.feed())
        t2 = machine_shim.Timer(1)
        t2.init(period=300, callback=lambda _: fired.append(clock.now_ns // 1_000_000))
        clock.advance(60.0)  # fed by the timer: no reset
        t2.deinit()
        assert fired[:3] == [300, 600, 900] and len(fired) == 200
        with pytest.raises(SimulatedReset):
            machine_shim.reset()


def test_rtc_keeps_calendar_time_with_the_clock():
    with machine_shim.installed(SimBoard("virtual")) as board:
        rtc = machine_shim.RTC()
        rtc.datetime((2026, 1, 5, 0, 22, 30, 0, 0))
        board.clock.advance(90.0)
        assert rtc.datetime()[:3] == (2026, 1, 5)
        assert rtc.datetime()[4:7] == (22, 31, 30)


def test_an_hour_of_sleeping_takes_no_real_time():
    loop = VirtualTimeLoop()

    async def sleeper():
        t0 = asyncio.get_running_loop().time()
        await asyncio.sleep(3600)
        return asyncio.get_running_loop().time() - t0

    real = time.monotonic()
    try:
        assert loop.run_until_complete(sleeper()) == pytest.approx(3600, abs=1e-6)
    finally:
        loop.close()
    assert time.monotonic() - real < 1.0


def test_a_hang_is_reported_not_waited_for():
    async def hang():
        await asyncio.get_running_loop().create_future()

    with pytest.raises(VirtualTimeDeadlock):
        virtual_loop.run(hang())


def test_wait_for_times_out_on_virtual_time():
    async def slow():
        await asyncio.sleep(100)

    async def main():
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(slow(), 5)
        return asyncio.get_running_loop().time()

    assert virtual_loop.run(main()) == pytest.approx(5.0, abs=1e-6)


def test_real_io_still_arrives_with_a_speed_factor():
    a, b = socket.socketpair()
    clock = SimClock()

    async def main():
        loop = asyncio.get_running_loop()
        reader, _writer = await asyncio.open_connection(sock=a)
        loop.call_later(0.01, b.send, b"ping")  # 10 ms of loop time = 1 ms real here
        data = await asyncio.wait_for(reader.readexactly(4), 30)
        return data, loop.time()

    try:
        data, t = virtual_loop.run(main(), clock, speed=10.0)
    finally:
        b.close()
    assert data == b"ping"
    assert 0.01 <= t < 30
