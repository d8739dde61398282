"""Light sleep between FIFO bursts (issue 12): the app on the CPython board with its USB
cable unplugged, so nothing keeps it awake.

Expected figures come from the datasheets, not from the app: the LSM6DSOX FIFO holds 512
tagged words (one per sensor and sample: 256 samples with the gyro, 512 without), the
driver's watermark is that less an eighth (224 samples, 4.31 s at 52 Hz), the app caps
it at 90 % of a sleep (the 8 s watchdog less its 2 s margin: 5.4 s, 280 samples at
52 Hz); the MPU-6886 FIFO holds 1024 bytes (14 per sample with gyro and temperature);
the MPU-6050 has no watermark interrupt. Events and epochs are compared with `legsense
analyze` of the same trace (an independent run of the detector on all samples at once).
"""

from __future__ import annotations

import itertools
import statistics

import pytest
from app_harness import Run, at, exact_rate_trace, night_records, of_type, offline, write_config
from legsense.simulation.sim_board import SimBoard
from legsense.simulation.sim_clock import SimulatedReset
from legsense.simulation.vm_board.mp_lib import sim_machine_common as common
from legsense.trace import Trace
from legsense_core import records

RATE = 52.0
EXT0, EXT1, TIMER = common.EXT0_WAKE, common.EXT1_WAKE, common.TIMER_WAKE


def sleeping_night(root, trace, imu="lsm6dsox", config=None, extra=None, board=None):
    """Record the whole trace with the board unplugged; returns (run, board, events,
    epochs). extra(app, board) runs before the night starts (to break things)."""
    write_config(root, {"board": "virtual", "odr_hz": 52, **(config or {})})
    n = len(trace.t_s)
    rate = float(trace.meta["sample_rate_hz"])
    board = board or SimBoard(
        "virtual", imu=imu, trace=trace, trace_start_ms=1001, usb_powered=False
    )

    async def scenario(app):
        if extra is not None:
            extra(app, board)
        await at(1.0)
        assert app.start("host")[0]
        await at(1.001 + (n - 1) / rate + 0.5 / rate)
        status = app.status()
        assert app.stop("host")[0]
        return status

    run = Run(board, root)(scenario)
    recs = night_records(root)
    events = [e[:5] for e in of_type(recs, records.T_EVENT)]
    return run, board, events, of_type(recs, records.T_EPOCH)


def check_intact(run, board, events, epochs, trace):
    """What a night that slept between bursts must still be: every sample read (no FIFO
    overflow), events and epochs equal to the offline analysis."""
    assert run.result["overflows"] == 0, "the FIFO overflowed while the MCU slept"
    want_events, want_epochs = offline(trace)
    assert events == want_events
    assert epochs == want_epochs


def bursts(board, cause):
    return [s for s in board.sleeps if s.cause == cause]


def test_a_sleeping_night_wakes_on_int1_and_records_the_same_night(root):
    trace = exact_rate_trace(0.25, RATE, "lsm6dsox", seed=11)
    run, board, events, epochs = sleeping_night(root, trace)
    check_intact(run, board, events, epochs, trace)
    assert len(events) >= 10
    status = run.result["sleep"]
    assert status["awake"] == "" and status["wakes"] == len(board.sleeps)
    # Nearly all of the 15 minutes was slept.
    slept = sum(s.end_ns - s.start_ns for s in board.sleeps) / 1e9
    assert slept > 0.99 * 901.0
    # The FIFO wakes the MCU every 224 samples: 4.31 s at 52 Hz (bursts after the first,
    # whose sleep began before the night).
    int1 = bursts(board, EXT1)
    gaps = [(b.end_ns - a.end_ns) / 1e9 for a, b in itertools.pairwise(int1)]
    assert statistics.median(gaps) == pytest.approx(224 / RATE, abs=0.02)
    assert len(int1) == pytest.approx(900 * RATE / 224, abs=2)
    # The other wakes are timers (LED, schedule, storage), never more than the bursts'
    # number again and a half; no sleep reached the 6 s cap (watchdog 8 s less 2 s).
    assert len(bursts(board, TIMER)) < 1.5 * len(int1)
    assert max(s.end_ns - s.start_ns for s in board.sleeps) < 6.0e9


def test_periodic_work_rides_on_the_bursts_while_asleep(root):
    # The LED's recording heartbeat (20 ms every 10 s), the minute's log flush and the
    # battery reading wait for the next INT1 burst instead of waking the chip on timers
    # of their own: the only timer wakes left are the heartbeat's 20 ms off edge (at
    # most one per 10 s) and the 30 s schedule check (docs/firmware.md).
    trace = exact_rate_trace(0.25, RATE, "lsm6dsox", seed=11)
    run, board, events, epochs = sleeping_night(root, trace)
    check_intact(run, board, events, epochs, trace)
    night_ns = 901e9
    timers = bursts(board, TIMER)
    assert len(timers) <= night_ns / 10e9 + night_ns / 30e9 + 3
    # The heartbeat still shows: each flash lit as it starts right after a burst was
    # read and lasts 20 ms, and flashes come 10 s to 10 s + one burst span apart.
    led = board.profile["led"]
    lit = 0 if led["active_low"] else 1
    hist = [(t, v) for t, v in board.led_history() if 2e9 < t < night_ns]
    ons = [t for (_, p), (t, v) in itertools.pairwise(hist) if v == lit and p != lit]
    offs = [t for (_, p), (t, v) in itertools.pairwise(hist) if v != lit and p == lit]
    assert len(ons) >= night_ns / (10e9 + 224e9 / RATE) - 2
    ends = [b.end_ns for b in bursts(board, EXT1)]
    for on in ons[1:]:  # (the first may come before the first burst)
        last_burst = max(e for e in ends if e <= on)
        assert on - last_burst < 0.2e9  # the chip was awake for the burst anyway
    widths = [min(o - t for o in offs if o > t) for t in ons if any(o > t for o in offs)]
    assert all(w == pytest.approx(20e6, abs=2e6) for w in widths)
    gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(ons)]
    assert min(gaps) >= 10.0 - 0.05 and max(gaps) <= 10.0 + 224 / RATE + 0.5


def test_accelerometer_only_bursts_are_capped_by_the_watchdog(root):
    gen = exact_rate_trace(0.1, RATE, "lsm6dsox", seed=12)
    trace = Trace(t_s=gen.t_s, acc_g=gen.acc_g, gyr_dps=None, meta=gen.meta)
    run, board, events, epochs = sleeping_night(root, trace, config={"gyro": False})
    check_intact(run, board, events, epochs, trace)
    int1 = bursts(board, EXT1)
    gaps = [(b.end_ns - a.end_ns) / 1e9 for a, b in itertools.pairwise(int1)]
    # 512 accel words would hold 9.8 s; the app's cap is 5.4 s of sleep: 280 samples.
    assert statistics.median(gaps) == pytest.approx(280 / RATE, abs=0.02)


def test_mpu6886_latched_interrupt_wakes_the_mcu(root):
    trace = exact_rate_trace(0.05, 1000 / 19, "mpu6886", seed=13)
    run, board, events, epochs = sleeping_night(root, trace, imu="mpu6886")
    check_intact(run, board, events, epochs, trace)
    int1 = bursts(board, EXT1)
    assert len(int1) > 100
    # 1024 bytes / 14 = 73 samples; watermark 73 - 9 = 64 samples at 1000/19 Hz.
    gaps = [(b.end_ns - a.end_ns) / 1e9 for a, b in itertools.pairwise(int1)]
    assert statistics.median(gaps) == pytest.approx(64 * 19 / 1000, abs=0.02)
    assert board.imu.regs[0x37] & 0x20  # INT_PIN_CFG.LATCH_INT_EN


def test_mpu6050_without_a_watermark_wakes_on_the_timer(root):
    trace = exact_rate_trace(0.05, 1000 / 19, "mpu6050", seed=14)
    run, board, events, epochs = sleeping_night(root, trace, imu="mpu6050")
    check_intact(run, board, events, epochs, trace)
    assert bursts(board, EXT1) == []  # nothing drives the line: the timer does it all
    assert len(bursts(board, TIMER)) > 100


def test_a_firmware_sleeping_without_int1_or_its_timer_fails_the_night_check(root):
    # The mutant: INT1 left out of the wake sources and the backup timer stretched to
    # the longest sleep the watchdog allows (6 s > the FIFO's 4.9 s with the gyro).
    from legsense_device import hal

    def break_it(app, board):
        ext0, _ext1 = app._wake
        hal.set_wake_sources(ext0, ((34,), True))  # VBUS only
        app._int1 = None
        app._int1_in = None

    real_watch = None

    def long_spans(app, board):
        nonlocal real_watch
        break_it(app, board)
        real_watch = app._watch

        def watch(imu, odr, t):
            real_watch(imu, odr, t)
            app._sleep_span_ms = app._sleep_cap_ms()

        app._watch = watch

    trace = exact_rate_trace(0.05, RATE, "lsm6dsox", seed=15)
    run, board, events, epochs = sleeping_night(root, trace, extra=long_spans)
    with pytest.raises(AssertionError, match="overflowed"):
        check_intact(run, board, events, epochs, trace)
    assert bursts(board, EXT1) == []


def test_the_button_wakes_a_sleeping_board_and_its_press_is_logged(root):
    trace = exact_rate_trace(0.02, RATE, "lsm6dsox", seed=16)
    board = SimBoard("virtual", trace=trace, trace_start_ms=1001, usb_powered=False)
    # A short press at 20.0-20.3 s: the board sleeps then (next burst at ~5.3 s steps).
    board.schedule(20.0, lambda: board.press_button(True))
    board.schedule(20.3, lambda: board.press_button(False))
    run, board, events, epochs = sleeping_night(root, trace, board=board)
    woke = [s for s in board.sleeps if s.cause == EXT0]
    assert len(woke) == 1 and woke[0].end_ns == 20_000_000_000
    markers = [m for m in of_type(night_records(root), records.T_MARKER)]
    button = [m for m in markers if m[1] == records.M_BUTTON]
    assert len(button) == 1 and 280 <= button[0][2] <= 320  # held ~300 ms
    check_intact(run, board, events, epochs, trace)


def test_usb_power_wakes_the_board_and_keeps_it_awake_until_unplugged(root):
    trace = exact_rate_trace(0.03, RATE, "lsm6dsox", seed=17)
    board = SimBoard("virtual", trace=trace, trace_start_ms=1001, usb_powered=False)
    board.schedule(40.0, lambda: board.set_usb(True))
    board.schedule(70.0, lambda: board.set_usb(False))
    reasons = []

    def probe(app, board):
        import asyncio

        async def watch():
            for t in (35.0, 50.0, 60.0, 80.0):
                await at(t)
                reasons.append(app.awake_reason())

        asyncio.get_running_loop().create_task(watch())

    run, board, events, epochs = sleeping_night(root, trace, board=board, extra=probe)
    assert reasons == ["", "usb", "usb", ""]
    # Plugging in ended a sleep at once (VBUS shares ext1 with INT1)...
    assert any(s.end_ns == 40_000_000_000 and s.cause == EXT1 for s in board.sleeps)
    # ...and no sleep began while the cable was in.
    assert not [s for s in board.sleeps if 40e9 <= s.start_ns < 70e9]
    check_intact(run, board, events, epochs, trace)


def test_a_stalled_imu_still_resets_a_sleeping_board(root):
    trace = exact_rate_trace(0.05, RATE, "lsm6dsox", seed=18)
    write_config(root, {"board": "virtual"})
    board = SimBoard("virtual", trace=trace, trace_start_ms=1001, usb_powered=False)
    board.schedule(60.0, lambda: board.bus.detach(0x6A))

    async def scenario(app):
        await at(1.0)
        app.start("host")
        await at(200.0)

    with pytest.raises(SimulatedReset) as reset:
        Run(board, root)(scenario)
    assert reset.value.cause == "watchdog not fed for 8000 ms"
    # The last feed came at most one burst span before the stall plus the stall rule
    # (two spans), then the 8 s ran out (a span: 4.31 s to INT1, backup at 4.6 s).
    at_s = reset.value.at_ns / 1e9
    assert 60.0 + 8.0 <= at_s <= 60.0 + 3 * 4.62 + 8.0


def test_wake_sources_must_be_rtc_gpios_on_the_cpython_board():
    from legsense.simulation import esp32_shim, machine_shim

    board = SimBoard("virtual")
    with machine_shim.installed(board):
        esp32_shim.wake_on_ext0(machine_shim.Pin(27), esp32_shim.WAKEUP_ANY_HIGH)
        with pytest.raises(ValueError, match="invalid pin 5"):
            esp32_shim.wake_on_ext0(machine_shim.Pin(5), esp32_shim.WAKEUP_ANY_HIGH)
        with pytest.raises(ValueError, match="invalid pin 23"):
            esp32_shim.wake_on_ext1([machine_shim.Pin(27), 23], esp32_shim.WAKEUP_ANY_HIGH)
        assert board.ext0 == (27, True) and board.ext1 is None


def test_a_level_already_at_its_wake_value_wakes_at_once_and_the_timer_otherwise():
    from legsense.simulation import machine_shim

    board = SimBoard("virtual", usb_powered=True)  # VBUS pin 34 high
    with machine_shim.installed(board):
        import esp32  # the shim, installed beside machine

        esp32.wake_on_ext1([machine_shim.Pin(34)], esp32.WAKEUP_ANY_HIGH)
        assert machine_shim.wake_reason() == 0  # no sleep yet
        machine_shim.lightsleep(1000)
        assert machine_shim.wake_reason() == EXT1 and board.clock.now_ns == 0
        board.set_usb(False)
        machine_shim.lightsleep(1000)
        assert machine_shim.wake_reason() == TIMER and board.clock.now_ns == 1_000_000_000
