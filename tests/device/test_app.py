"""The firmware app on CPython: unchanged app code, the `machine` shim wired to the IMU
emulators, and a virtual-time event loop (hours of night in seconds).

Expected values are typed in from the design (LED patterns, marker codes, sample
rates, datasheet FIFO sizes) or computed independently (the offline analysis of the
same trace, the emulator's own count of overwritten FIFO words), never read back from
the app.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
from app_harness import (
    BUTTON_PIN,
    UID_HEX,
    Run,
    at,
    exact_rate_trace,
    led_on_durations_ms,
    night_records,
    of_type,
    offline,
    replay_night,
    write_config,
)
from legsense.simulation.sim_board import SimBoard
from legsense.simulation.sim_clock import SimulatedReset
from legsense_core import records
from legsense_core.detector import DetectorConfig
from legsense_device.night_log import EmulatedSpace

# --- boot ----------------------------------------------------------------------------


def test_missing_imu_boots_reports_error_and_keeps_serving(root):
    board = SimBoard("virtual", imu=None)

    async def scenario(app):
        await at(10.0)
        return app.start("host"), app.status()

    run = Run(board, root)(scenario)
    (ok, why), status = run.result
    app = run.app
    assert "imu=none" in app.boot_line
    assert "no supported IMU" in app.boot_line
    assert not ok and "no supported IMU" in why
    assert status["state"] == "idle"
    assert status["led"] == "error"
    assert any(e.startswith("imu: no supported IMU") for e in status["errors"])
    # The error pattern: three 100 ms flashes every 2 s.
    assert led_on_durations_ms(board, 2.0, 4.0) == [100, 100, 100]
    # Still alive after 10 s: the watchdog was fed all along (default timeout 8 s).
    feeds = board.clock.wdt_feeds
    assert feeds and max(np.diff([0, *feeds])) < 8e9


def test_bad_config_falls_back_to_defaults_and_says_why(root):
    write_config(root, {"board": "virtual", "odr_hz": 50, "watchdog_ms": 100, "colour": 1})

    async def scenario(app):
        await at(1.0)
        app.start("host")
        await at(61.0)
        app.stop("host")
        return app.status()

    run = Run(SimBoard("virtual"), root)(scenario)
    line = run.app.boot_line
    assert "config: odr_hz must be one of 12.5, 26, 52, 104: kept default 52" in line
    assert "config: watchdog_ms must be 2000-60000 ms: kept default 8000" in line
    assert "config: unknown key 'colour' ignored" in line
    assert line.count("\n") == 0
    assert run.result["led"] == "idle" and not run.result["errors"]
    # It records at the default 52 Hz: 60 s of samples, give or take one.
    assert abs(run.result["samples"] - 52 * 60) <= 1
    header = of_type(night_records(root), records.T_NIGHT)[0]
    assert dict(zip(records.NIGHT_FIELDS, header, strict=True))["rate_mhz"] == 52000


@pytest.mark.parametrize(
    ("config_text", "reason"),
    [
        ("{board: virtual", "/config.json is not valid JSON"),
        (None, "/config.json, using defaults"),
        ('{"board": "no_such_board"}', "board: "),
    ],
)
def test_unusable_config_or_board_still_boots(root, config_text, reason):
    if config_text is None:
        (root / "config.json").unlink()
    else:
        write_config(root, config_text)

    async def scenario(app):
        await at(2.0)
        return app.start("host")

    run = Run(SimBoard("virtual"), root)(scenario)
    assert reason in run.app.boot_line
    # The fallback profiles probe the same bus: the IMU is still found and a night starts.
    assert run.app.imu is not None
    assert run.result[0]


# --- the session through the command interface -----------------------------------------


def test_start_stop_writes_header_anchor_samples_and_markers(root):
    utc1 = int(datetime(2026, 1, 5, 22, 0, tzinfo=UTC).timestamp() * 1000)
    utc2 = utc1 + 65_000 + 7  # the host's second setting: 7 ms of drift

    async def scenario(app):
        await at(5.0)
        assert app.set_time(utc1) == (True, "time set")
        assert not app.set_time(12)[0]  # not a time: refused, nothing changes
        await at(10.0)
        started = app.start("host")
        again = app.start("host")
        await at(70.0)
        app.set_time(utc2)
        await at(130.0)
        stopped = app.stop("host")
        return started, again, stopped, app.status()

    run = Run(SimBoard("virtual"), root)(scenario)
    started, again, stopped, status = run.result
    assert started == (True, "started by host")
    assert again == (False, "already recording")
    assert stopped == (True, "stopped by host")
    assert status["state"] == "stopped" and status["stopped_by"] == "host"

    recs = night_records(root)
    assert recs[0][0] == records.T_NIGHT
    h = dict(zip(records.NIGHT_FIELDS, recs[0][1], strict=True))
    assert h["night_id"] == 1
    assert h["device_id"] == UID_HEX
    assert h["firmware"] == "0.1.0"
    assert h["board"] == "virtual"
    assert h["imu"] == "lsm6dsox"
    assert h["rate_mhz"] == 52000
    assert h["accel_scale"] == (61, 1)  # 0.061 mg/LSB at 2 g (LSM6DSOX datasheet)
    assert h["gyro_scale"] == (8750, 1)  # 8.75 mdps/LSB at 250 dps
    assert h["start_ticks"] == 10_000
    assert (h["anchor_dev_ms"], h["anchor_utc_ms"]) == (-5000, utc1)
    # the detector settings, plus the configured leg and person (the host labels
    # movements with the leg, and merges a person's two legs), and the samples per FIFO
    # burst (the host bounds two legs' alignment with it): a burst is read well within
    # the 8 s watchdog
    config = json.loads(h["config_json"])
    assert 0 < config.pop("fifo_watermark") < 8 * 52
    assert config == {**DetectorConfig(rate_hz=52).as_dict(), "leg": "", "person": ""}

    markers = of_type(recs, records.T_MARKER)
    assert markers[0][:2] == (0, records.M_STARTED)
    assert markers[-1][:2] == (120_000, records.M_STOP_HOST)
    assert recs[-1] == (records.T_MARKER, markers[-1])
    assert of_type(recs, records.T_ANCHOR) == [(60_000, utc2)]
    # Four whole 30 s epochs of 52 Hz samples (the last is cut by the stop).
    epochs = of_type(recs, records.T_EPOCH)
    assert [e[0] for e in epochs] == [0, 1, 2, 3]
    assert [e[1] for e in epochs] == [1560, 1560, 1560, 1560]
    # The IMU is powered down between nights (ODR 0 in CTRL1_XL).
    assert run.board.imu is not None and run.board.imu.odr_hz == 0.0


def test_button_short_press_starts_marks_and_long_press_stops(root):
    board = SimBoard("virtual")

    async def bouncy_press(at_s: float, hold_s: float = 0.3) -> None:
        # Contact bounce: 5 changes within 8 ms, then held, released likewise.
        for i, level in enumerate((0, 1, 0, 1, 0)):
            await at(at_s + i * 0.002)
            board.drive(BUTTON_PIN, level)
        for i, level in enumerate((1, 0, 1)):
            await at(at_s + hold_s + i * 0.002)
            board.drive(BUTTON_PIN, level)

    async def scenario(app):
        await bouncy_press(5.0)  # idle: a short press starts a night
        await at(6.0)
        first = app.status()
        await bouncy_press(20.0)  # recording: a short press is the person's marker
        await at(21.0)
        second = app.status()
        await bouncy_press(40.0, hold_s=3.0)  # held 3 s: stops the night
        await at(42.5)  # the stop comes at 2 s, while the button is still held
        held = app.status()
        await at(45.0)
        return first, second, held, app.status()

    run = Run(board, root)(scenario)
    first, second, held, after = run.result
    assert first["state"] == "recording" and first["started_by"] == "button"
    assert second["state"] == "recording"
    assert held["state"] == "stopped" and held["stopped_by"] == "button"
    assert after["state"] == "stopped"  # the release of the long press does nothing
    assert run.app.session.nights_started == 1  # the bounces did not count
    markers = of_type(night_records(root), records.T_MARKER)
    buttons = [m for m in markers if m[1] == records.M_BUTTON]
    # one marker, at the release 20.3 s (night started at the 5.3 s release), held
    # 300 ms give or take the 60 ms debounce
    assert len(buttons) == 1
    assert abs(buttons[0][0] - 15_000) <= 100 and abs(buttons[0][2] - 300) <= 60
    assert markers[-1][1] == records.M_STOP_BUTTON
    assert abs(markers[-1][0] - (42_000 - 5_300)) <= 100
    # the LED acknowledged the marker: three 60 ms flashes right after the release
    assert led_on_durations_ms(board, 20.2, 20.8) == [60, 60, 60]


def test_schedule_starts_and_stops_the_night_in_local_time(root):
    write_config(
        root,
        {
            "board": "virtual",
            "schedule": {"start": "22:00", "stop": "22:05"},
            "utc_offset_min": 60,
        },
    )
    # 20:59:00 UTC is 21:59 local: the window opens one minute after the host sets it.
    utc = int(datetime(2026, 1, 5, 20, 59, tzinfo=UTC).timestamp() * 1000)

    async def scenario(app):
        await at(1.0)
        app.set_time(utc)
        await at(59.0)
        before = app.status()["state"]
        await at(92.0)
        during = app.status()
        await at(1.0 + 6 * 60 + 31)
        return before, during, app.status()

    run = Run(SimBoard("virtual"), root)(scenario)
    before, during, after = run.result
    assert before == "idle"
    assert during["state"] == "recording" and during["started_by"] == "schedule"
    assert after["state"] == "stopped" and after["stopped_by"] == "schedule"
    markers = of_type(night_records(root), records.T_MARKER)
    assert markers[-1][1] == records.M_STOP_SCHEDULE


# --- failures --------------------------------------------------------------------------


@pytest.mark.parametrize("stall", ["imu brown-out", "i2c wire loose"])
def test_watchdog_resets_the_board_when_the_sampler_stalls(root, stall):
    board = SimBoard("virtual")
    stall_s = 60.0

    async def scenario(app):
        await at(1.0)
        app.start("host")
        await at(stall_s)
        if stall == "imu brown-out":  # the chip lost power: registers reset, no data
            board.imu.reset()
        else:
            board.bus.detach(0x6A)
        await at(stall_s + 60.0)  # never reached: the watchdog resets the board first

    with pytest.raises(SimulatedReset) as reset:
        Run(board, root)(scenario)
    assert reset.value.cause == "watchdog not fed for 8000 ms"
    # The last feed was at most one poll period after the last sample (2 s stall
    # allowance + 0.25 s poll), then the 8 s timeout ran out.
    at_s = reset.value.at_ns / 1e9
    assert stall_s + 8.0 <= at_s <= stall_s + 2.25 + 8.0 + 0.01

    # After the reset the app boots again on the same flash: the night left open is
    # closed by recovery, with everything recorded before the stall intact.
    async def after_reboot(app):
        await at(1.0)
        return app.status()

    rerun = Run(SimBoard("virtual"), root)(after_reboot)
    assert rerun.result["state"] == "idle" and not rerun.result["errors"]
    recs = night_records(root)
    assert recs[-1][0] == records.T_MARKER and recs[-1][1][1] == records.M_RECOVERED
    assert len(of_type(recs, records.T_EPOCH)) == 1  # the one whole 30 s epoch flushed


def test_flash_full_stops_the_night_and_refuses_a_new_one(root):
    write_config(root, {"board": "virtual", "epoch_s": 10, "flash_reserve_kb": 16})
    # 512-byte blocks: next_id, boot_count and the recording state take one each, the
    # night's log may grow to two (1 KB).
    space = EmulatedSpace(str(root / "nights"), capacity=16 * 1024 + 5 * 512, block=512)

    async def scenario(app):
        await at(1.0)
        first = app.start("host")
        await at(1200.0)
        return first, app.status(), app.start("host")

    run = Run(SimBoard("virtual"), root, space)(scenario)
    first, status, refused = run.result
    assert first[0]
    assert status["state"] == "stopped" and status["stopped_by"] == "flash full"
    assert status["flash_full"] and status["led"] == "flash full"
    assert refused == (False, "flash full: sync and erase nights first")
    recs = night_records(root)
    assert recs[-1][0] == records.T_MARKER and recs[-1][1][1] == records.M_FLASH_FULL
    # The reserve is checked after each write: the log stops within one 1 KB buffer.
    assert (root / "nights" / "00000001.log").stat().st_size <= 1024 + 1024
    assert len(of_type(recs, records.T_EPOCH)) >= 10
    # The double-blink pattern once full: two 150 ms flashes every 2 s.
    assert led_on_durations_ms(run.board, 1196.0, 1198.0) == [150, 150]


def test_fifo_overflow_is_counted_logged_and_becomes_a_gap(root):
    # The leg's signal starts 1 ms after the night (so the emulator's sample count has
    # none made while the driver was still setting the FIFO up).
    board = SimBoard("virtual", trace_start_ms=1001)

    async def scenario(app):
        await at(1.0)
        app.start("host")
        await at(60.0)
        board.clock.advance(7.0)  # the CPU was busy for 7 s (watchdog: 8 s)
        await at(121.0)
        app.stop("host")
        return app.status()

    run = Run(board, root)(scenario)
    status = run.result
    emu = board.imu
    assert emu is not None
    # The emulator's own count: each sample is two FIFO words (gyro + accel); a sample
    # that lost one of its words is dropped by the driver too.
    lost = emu.words_overwritten // 2
    assert lost > 0
    assert status["overflows"] == 1
    assert abs(status["lost_samples"] - lost) <= 1
    assert status["samples"] == emu.samples_pushed - lost
    recs = night_records(root)
    overflow = [m for m in of_type(recs, records.T_MARKER) if m[1] == records.M_FIFO_OVERFLOW]
    assert len(overflow) == 1 and abs(overflow[0][2] - lost) <= 1
    # The hole is a gap in time just after night ms 59000 (where the stall began): the
    # epochs around it miss `lost` samples between them, the others are whole
    # (1560 = 30 s at 52 Hz).
    counts = [e[1] for e in of_type(recs, records.T_EPOCH)]
    assert counts[0] == 1560 and counts[3] == 1560
    assert abs((1560 - counts[1]) + (1560 - counts[2]) - lost) <= 1
    assert counts[1] < 1560 and counts[2] < 1560


def test_imu_clock_off_by_one_percent_is_slewed_then_trimmed_to_the_mcu_clock(root):
    board = SimBoard("virtual", imu_clock_ppm=10_000)  # the IMU runs 1 % fast

    async def scenario(app):
        await at(1.0)
        app.start("host")
        await at(601.0)
        app.stop("host")  # drains the FIFO: the last sample is the newest
        clock = app.sampler.clock
        return app.status(), clock.last, clock.slewed_ms, clock.trimmed_ppm

    run = Run(board, root)(scenario)
    status, last_ts, slewed, app_clock_trim = run.result
    # 1 % more samples than the nominal rate in 600 s...
    assert abs(status["samples"] - round(52 * 600 * 1.01)) <= 1
    # ...but their times stay within the slew limit of the MCU clock (the stop is at
    # night ms 600000): pulled back by about 1 % of the first 300 s (the rate window)
    # minus the 100 ms allowance, then counted at the measured period (1 % short) and
    # re-centred on the MCU clock. Unslewed, the last one would be stamped about 606 s.
    assert abs(600_000 - last_ts) <= 20 + 20
    assert abs(slewed + (3000 - 100)) <= 150
    assert app_clock_trim == pytest.approx(-1e6 * 0.01 / 1.01, abs=150)
    assert status["overflows"] == 0


# --- THE test: a full night, trace -> emulator -> app -> log == offline analysis ---------


@pytest.mark.parametrize(
    ("imu", "rate_hz", "hours", "odr_config"),
    [
        ("lsm6dsox", 52.0, 1.0, 52),  # LSM6 ODRs: 12.5, 26, 52, 104 Hz
        ("mpu6886", 1000 / 19, 0.3, 52),  # MPU: 1 kHz / (1 + SMPLRT_DIV 18) = 52.63 Hz
    ],
)
def test_full_simulated_night_equals_offline_analysis(root, imu, rate_hz, hours, odr_config):
    trace = exact_rate_trace(hours, rate_hz, imu, seed=11)
    events, epochs, samples = replay_night(root, trace, imu, {"odr_hz": odr_config})
    want_events, want_epochs = offline(trace)
    assert samples == len(trace.t_s)
    assert len(want_events) >= 20  # a PLMD night: the comparison is not vacuous
    assert [e[:5] for e in events] == want_events
    assert epochs == want_epochs


@pytest.mark.slow
def test_full_eight_hour_night_equals_offline_analysis(root):
    trace = exact_rate_trace(8.0, 52.0, "lsm6dsox", seed=5)
    events, epochs, samples = replay_night(root, trace, "lsm6dsox", {"odr_hz": 52})
    want_events, want_epochs = offline(trace)
    assert samples == len(trace.t_s)
    assert [e[:5] for e in events] == want_events
    assert epochs == want_epochs
