# Timestamps of IMU samples: counted at the output data rate, checked against ticks.
#
# A FIFO gives samples without times. Counting them at the configured rate is exact for
# a perfect IMU and smooth for a real one, whose oscillator may be off by up to ~1 %:
# then the count drifts from the MCU clock (tens of ppm), and once the two disagree by
# more than SLEW_LIMIT_MS the count is pulled back a little per batch (at most half a
# period, so timestamps keep increasing). After a FIFO overflow the lost samples make
# the count meaningless: the clock is re-anchored to the ticks and the hole becomes a
# gap the detector handles.
#
# The period is an exact fraction p/q ms (52 Hz: 250/13 ms; MPU at 1000/19 Hz: 19/1),
# so sample k is at k*p/q ms: whole ms plus a remainder in 1/q ms. Only small integers:
# no big ints, no floats per sample (MicroPython small ints are 31-bit).

SLEW_LIMIT_MS = 100


def period_fraction(odr_hz):
    """(p, q): the sample period 1000/odr_hz ms as a fraction with the smallest q."""
    if not odr_hz > 0:
        raise ValueError("output data rate must be > 0 Hz")
    for q in range(1, 1001):
        x = 1000.0 * q / odr_hz
        p = int(x + 0.5)
        if abs(x - p) < 1e-3:  # single-precision floats on the ESP32: be generous
            return p, q
    return int(1000000.0 / odr_hz + 0.5), 1000  # no small fraction: 1 us steps


class SampleClock:
    """ms since night start of each sample read, by counting at the ODR."""

    def __init__(self):
        self.p = 1
        self.q = 1
        self._step = 1  # whole ms per period
        self._step_rem = 0  # remainder per period, in 1/q ms
        self._ms = 0  # time of the next sample: _ms + _rem/q
        self._rem = 0
        self.last = -1  # timestamp given to the last sample (-1: none yet)
        self.slewed_ms = 0  # total correction applied (+ forwards)
        self.lost = 0  # samples estimated lost in overflows

    def start(self, odr_hz, t0_ms):
        """Count from t0_ms (the first sample's time) at odr_hz."""
        self.p, self.q = period_fraction(odr_hz)
        self._step = self.p // self.q
        self._step_rem = self.p % self.q
        self._ms = t0_ms
        self._rem = 0
        self.last = -1
        self.slewed_ms = 0
        self.lost = 0

    def period_ms(self):
        """The period rounded to whole ms (for scheduling, not for stamping)."""
        return (self.p + self.q // 2) // self.q

    def stamp(self, ts, n):
        """Write the times of the next n samples into ts[0:n] (rounded half up)."""
        ms = self._ms
        rem = self._rem
        q = self.q
        step = self._step
        step_rem = self._step_rem
        for i in range(n):
            ts[i] = ms + 1 if 2 * rem >= q else ms
            ms += step
            rem += step_rem
            if rem >= q:
                rem -= q
                ms += 1
        self._ms = ms
        self._rem = rem
        if n > 0:
            self.last = ts[n - 1]

    def slew(self, now_ms):
        """Compare the newest sample with the MCU clock (now_ms, just after reading the
        FIFO dry) and pull the count towards it when they disagree too much."""
        if self.last < 0:
            return 0
        diff = now_ms - self.last
        if diff > SLEW_LIMIT_MS:
            excess = diff - SLEW_LIMIT_MS
        elif diff < -SLEW_LIMIT_MS:
            excess = diff + SLEW_LIMIT_MS
        else:
            return 0
        limit = self._step // 2
        step = excess if -limit <= excess <= limit else (limit if excess > 0 else -limit)
        self._ms += step
        self.slewed_ms += step
        return step

    def reanchor(self, newest_ms, n):
        """After an overflow: the next n samples end `newest_ms` (the MCU's estimate of
        the newest one's time). Returns the samples estimated lost in the hole."""
        # Start so that sample n-1 lands on newest_ms; never before the next count time.
        start = newest_ms - ((n - 1) * self.p + self.q // 2) // self.q
        expected = self._ms
        lost = 0
        if start > expected:
            lost = ((start - expected) * self.q + self.p // 2) // self.p
            self._ms = start
            self._rem = 0
        self.lost += lost
        return lost
