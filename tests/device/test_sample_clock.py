"""Sample timestamps by counting at the ODR (firmware/legsense_device/sample_clock.py).

Expected times are computed with exact rational arithmetic (fractions.Fraction), not
with the clock's own integer scheme.
"""

from __future__ import annotations

import itertools
from array import array
from fractions import Fraction

import pytest
from legsense_device.sample_clock import (
    RECENTRE_MS,
    SLEW_LIMIT_MS,
    TRIM_WINDOW_MS,
    SampleClock,
    period_fraction,
)


@pytest.mark.parametrize(
    ("odr_hz", "fraction"),
    [
        (12.5, (80, 1)),  # LSM6 ODRs: 1000/odr ms
        (26.0, (500, 13)),
        (52.0, (250, 13)),
        (104.0, (125, 13)),
        (1000 / 19, (19, 1)),  # MPU: 1 kHz / (1 + SMPLRT_DIV 18)
        (1000 / 77, (77, 1)),  # MPU, SMPLRT_DIV 76: 12.99 Hz
        (50.0, (20, 1)),
    ],
)
def test_period_is_the_exact_fraction(odr_hz, fraction):
    assert period_fraction(odr_hz) == fraction


def test_period_from_single_precision_rates():
    # The ESP32 computes in float32: 1000/19 Hz is 52.631577 there, 52 stays 52.
    assert period_fraction(52.631577) == (19, 1)
    assert period_fraction(26.000002) == (500, 13)


def test_bad_rate_is_refused():
    with pytest.raises(ValueError):
        period_fraction(0)


@pytest.mark.parametrize("odr_hz", [12.5, 26.0, 52.0, 104.0, 1000 / 19])
def test_stamps_are_k_periods_rounded_half_up(odr_hz):
    p, q = period_fraction(odr_hz)
    clock = SampleClock()
    clock.start(odr_hz, 1000)
    ts = array("i", bytes(4 * 37))
    got = []
    for _ in range(2000):  # batches of 37: the remainder carries across batches
        clock.stamp(ts, 37)
        got.extend(ts)
    period = Fraction(1000) / Fraction(odr_hz).limit_denominator(1000)
    want = [1000 + int(k * period + Fraction(1, 2)) for k in range(len(got))]
    assert got == want
    assert clock.last == want[-1]
    assert Fraction(p, q) == period


def _simulate(odr_true_hz, odr_nominal_hz, seconds, poll_ms=250):
    """An IMU whose real rate is odr_true_hz, read dry every poll_ms by the MCU."""
    clock = SampleClock()
    clock.start(odr_nominal_hz, 0)
    ts = array("i", bytes(4 * 4096))
    made = 0
    stamped = []
    for now in range(poll_ms, int(seconds * 1000) + 1, poll_ms):
        due = int(Fraction(now, 1000) * Fraction(odr_true_hz)) + 1  # samples made by now
        n = due - made
        made = due
        clock.stamp(ts, n)
        stamped.extend(ts[:n])
        clock.slew(now)
        # The newest sample was made at (due - 1) / odr_true: stamped within the limit.
        assert abs(now - clock.last) <= SLEW_LIMIT_MS + 1000 / odr_nominal_hz + poll_ms
    return clock, stamped


@pytest.mark.parametrize("error", [0.01, -0.01, 0.002])
def test_a_fast_or_slow_imu_is_slewed_then_trimmed_to_the_mcu_clock(error):
    clock, stamped = _simulate(52.0 * (1 + error), 52.0, 900)
    assert all(b > a for a, b in itertools.pairwise(stamped))
    # Slewed for the first window (|error| x 300 s less the 100 ms allowance, in the
    # right direction), then counted at the measured period: the real one is
    # 1 / (52 (1 + error)) s, so -error / (1 + error) off the nominal.
    first = abs(error) * TRIM_WINDOW_MS - SLEW_LIMIT_MS
    assert first - 30 <= abs(clock.slewed_ms) <= first + 30 + 0.001 * 600_000
    assert (clock.slewed_ms < 0) == (error > 0)
    assert clock.trimmed_ppm == pytest.approx(-error / (1 + error) * 1e6, abs=150)
    # Steps are one nominal period (19 or 20 ms), except where the count was pulled:
    # there by at most half a period (9 ms), so time never stands still or leaps.
    steps = {b - a for a, b in itertools.pairwise(stamped)}
    assert steps - {19, 20}
    assert min(steps) >= 19 - 9 and max(steps) <= 20 + 9


def test_an_exact_imu_is_never_slewed():
    clock, stamped = _simulate(52.0, 52.0, 3600)
    assert clock.slewed_ms == 0
    assert stamped == [int(k * Fraction(250, 13) + Fraction(1, 2)) for k in range(len(stamped))]


def test_reanchor_after_overflow_skips_the_hole():
    clock = SampleClock()
    clock.start(52.0, 0)
    ts = array("i", bytes(4 * 64))
    clock.stamp(ts, 52)  # 0 .. 980.8 ms; the next would be at 1000 ms
    # The FIFO overflowed; what it holds now ends at 10000 ms (the MCU's estimate).
    lost = clock.reanchor(10_000, 64)
    first = 10_000 - int(63 * Fraction(250, 13) + Fraction(1, 2))
    assert lost == round((first - 1000) / Fraction(250, 13))
    clock.stamp(ts, 64)
    assert ts[0] == first and ts[63] == 10_000
    assert clock.lost == lost


def test_reanchor_never_moves_time_backwards():
    clock = SampleClock()
    clock.start(52.0, 0)
    ts = array("i", bytes(4 * 64))
    clock.stamp(ts, 64)
    last = clock.last
    assert clock.reanchor(last - 5000, 10) == 0  # an estimate behind the count: ignored
    clock.stamp(ts, 10)
    assert ts[0] > last


SLEEP_POLL_MS = 4300  # a light-sleeping board: one FIFO burst of 224 samples at 52 Hz


def _sleeping_night(rate: Fraction, hours: float, after_ms: int):
    """An IMU making samples at `rate` Hz, read dry every SLEEP_POLL_MS: the clock, every
    stamp, and the largest |MCU time - newest stamp| at the reads after after_ms."""
    clock = SampleClock()
    clock.start(52.0, 0)
    ts = array("i", bytes(4 * 4096))
    made = 0
    stamped = []
    worst = 0.0
    for now in range(SLEEP_POLL_MS, int(hours * 3600_000) + 1, SLEEP_POLL_MS):
        due = int(Fraction(now, 1000) * rate) + 1  # samples made by now
        n, made = due - made, due
        clock.stamp(ts, n)
        stamped.extend(ts[:n])
        if now > after_ms:
            worst = max(worst, abs(now - clock.last))
        clock.slew(now)
    return clock, stamped, worst


@pytest.mark.parametrize("error", [0.005, -0.005, 0.01, -0.01])
def test_a_light_sleeping_board_keeps_up_with_a_fast_or_slow_imu(error):
    # Each burst brings |error| x 4.3 s of drift (21-43 ms), more than half a period
    # (9 ms). The stamps must stay within the slew limit, a period and one burst's drift
    # of the MCU clock all night (an hour here), not drift away from it.
    _clock, stamped, worst = _sleeping_night(Fraction(52.0 * (1 + error)), 1, 0)
    assert worst <= SLEW_LIMIT_MS + 20 + abs(error) * SLEEP_POLL_MS + 2
    assert all(b > a for a, b in itertools.pairwise(stamped))
    steps = {b - a for a, b in itertools.pairwise(stamped)}
    assert min(steps) >= 19 - 9 and max(steps) <= 20 + 9


@pytest.mark.parametrize("error", [0.05, -0.05, 0.0525])
def test_a_part_several_percent_off_is_trimmed_within_a_window(error):
    # Real LSM6 parts run several % off their nominal ODR (one reported 109.46 Hz for
    # 104 Hz). Read every 4.3 s, such an error is 215 ms a burst; once the first window
    # has measured the real period, the stamps stay within the slew limit, a period and
    # a few ms of the MCU clock at every read; re-centred at each window, the newest
    # sample sits within a period (20 ms) and 10 ms of "now".
    clock, _stamped, worst = _sleeping_night(Fraction(52.0 * (1 + error)), 1, 2 * TRIM_WINDOW_MS)
    assert clock.trimmed_ppm == pytest.approx(-error / (1 + error) * 1e6, abs=150)
    assert worst <= 1000 / (52 * (1 + error)) + 10


@pytest.mark.parametrize("ppm", [40, -40, 150])
def test_an_exact_imu_on_a_drifting_crystal_is_re_centred_not_left_at_the_band(ppm):
    # The MCU's crystal off by tens of ppm walks an exact IMU's count off the MCU clock
    # (12 ms per 5 min at 40 ppm): too little to trim the period, so each rate window
    # re-centres the count once its closest read is RECENTRE_MS off, instead of letting
    # it sit at the 100 ms band's edge all night.
    rate = Fraction(52) * Fraction(1_000_000 + ppm, 1_000_000)
    clock, _stamped, worst = _sleeping_night(rate, 8, TRIM_WINDOW_MS)
    assert clock.trimmed_ppm == 0
    assert worst <= RECENTRE_MS + 20 + 5 + abs(ppm) * 1e-6 * TRIM_WINDOW_MS
