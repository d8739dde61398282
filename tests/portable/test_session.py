# Night-session state machine (portable: runs on CPython and on the MicroPython VM).
from legsense_device.session import IDLE, RECORDING, STOPPED, NightSession


def test_host_start_stop_cycle():
    s = NightSession()
    assert s.state == IDLE
    assert s.start("host") == (True, "started by host")
    assert s.state == RECORDING
    ok, why = s.start("host")
    assert not ok and why == "already recording"
    assert s.stop("host") == (True, "stopped by host")
    assert s.state == STOPPED
    ok, _ = s.stop("host")
    assert not ok
    # a new night after a stopped one
    assert s.start("button")[0]
    assert s.nights_started == 2


def test_button_toggles():
    s = NightSession()
    assert s.press_button()[0] and s.state == RECORDING
    assert s.press_button()[0] and s.state == STOPPED
    assert s.stopped_by == "button"


def test_unknown_source_refused():
    s = NightSession()
    ok, why = s.start("cat")
    assert not ok and "unknown source" in why and s.state == IDLE


def test_flash_full_stops_and_refuses_until_freed():
    s = NightSession()
    s.start("host")
    assert s.on_flash_full() == (True, "stopped: flash full")
    assert s.state == STOPPED
    ok, why = s.start("host")
    assert not ok and "flash full" in why
    s.on_flash_freed()
    assert s.start("host")[0]


def test_schedule_window_spanning_midnight():
    s = NightSession()
    window = (22 * 60 + 30, 7 * 60)  # 22:30-07:00
    assert s.on_schedule(21 * 60, window) == (False, "")
    assert s.on_schedule(22 * 60 + 30, window)[0]
    assert s.state == RECORDING and s.started_by == "schedule"
    assert s.on_schedule(3 * 60, window) == (False, "")  # still inside
    assert s.on_schedule(7 * 60, window)[0]
    assert s.state == STOPPED and s.stopped_by == "schedule"


def test_schedule_respects_a_manual_stop_until_the_window_ends():
    s = NightSession()
    window = (60, 120)
    s.on_schedule(60, window)
    s.stop("button")
    assert s.on_schedule(90, window) == (False, "")  # the person stopped it: stay stopped
    s.on_schedule(130, window)  # window over
    assert s.on_schedule(60, window)[0]  # next night's window starts again


def test_schedule_does_not_stop_a_night_the_host_started():
    s = NightSession()
    s.start("host")
    s.on_schedule(200, (60, 120))
    assert s.state == RECORDING
