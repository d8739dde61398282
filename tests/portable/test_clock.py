# Clock arithmetic (portable: runs on CPython and on the MicroPython VM).
from legsense_core import clock

PERIOD = 1 << 30


def test_ticks_diff_across_the_wrap():
    assert clock.ticks_diff(5, PERIOD - 5) == 10
    assert clock.ticks_diff(PERIOD - 5, 5) == -10
    assert clock.ticks_diff(1000, 400) == 600
    assert clock.ticks_add(PERIOD - 1, 2) == 1
    assert clock.ticks_add(0, -1) == PERIOD - 1
    # the largest forward step that still reads as forward
    assert clock.ticks_diff(clock.ticks_add(7, (PERIOD >> 1) - 1), 7) == (PERIOD >> 1) - 1


def test_ticks_ms_is_in_range():
    t = clock.ticks_ms()
    assert 0 <= t < PERIOD


def test_night_clock_keeps_growing_past_wraps():
    start = PERIOD - 1000
    nc = clock.NightClock(start)
    ticks = start
    total = 0
    # more than three wraps, in steps of 10^8 ms (well under half a period)
    step = 100000000
    for _ in range(35):
        ticks = (ticks + step) % PERIOD
        total += step
        assert nc.now(ticks) == total
    assert total > 3 * PERIOD


def test_one_anchor_is_an_offset():
    m = clock.ClockMap([(1000, 1763780000000)])
    assert m.to_utc(1000) == 1763780000000
    assert m.to_utc(61000) == 1763780060000
    assert m.to_utc(0) == 1763779999000
    assert m.drift_ppm() == 0


def test_no_anchor_is_an_error():
    try:
        clock.ClockMap().to_utc(5)
    except ValueError:
        pass
    else:
        raise AssertionError("no error")


def test_drift_corrected_between_anchors():
    # Device crystal 50 ppm fast: 10 h of UTC read as 36000000 + 1800 device ms.
    u0 = 1763780000000
    m = clock.ClockMap([(0, u0), (36001800, u0 + 36000000)])
    assert m.drift_ppm() == 50
    assert m.to_utc(36001800) == u0 + 36000000
    # half way in device time is half way in UTC
    assert m.to_utc(18000900) == u0 + 18000000
    # one device hour is 3600000 * 1e6 / 1000050 UTC ms = 3599820.009 -> 3599820
    assert m.to_utc(3600000) == u0 + 3599820
    # beyond the last anchor the last rate goes on
    assert m.to_utc(72003600) == u0 + 72000000


def test_piecewise_segments_and_replacing_an_anchor():
    u0 = 1763780000000
    m = clock.ClockMap()
    m.add(20000, u0 + 20010)  # out of order on purpose
    m.add(0, u0)
    m.add(10000, u0 + 10000)
    assert m.anchors == [(0, u0), (10000, u0 + 10000), (20000, u0 + 20010)]
    assert m.to_utc(5000) == u0 + 5000  # first segment: rate 1
    assert m.to_utc(15000) == u0 + 15005  # second segment: 1.001
    assert m.to_utc(-1000) == u0 - 1000  # before the first: first segment's rate
    m.add(20000, u0 + 20000)
    assert len(m.anchors) == 3 and m.to_utc(15000) == u0 + 15000
    assert m.drift_ppm() == 0
