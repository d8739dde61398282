# Timestamps of IMU samples: counted at the output data rate, checked against ticks.
#
# A FIFO gives samples without times. Counting them at the configured rate is exact for
# a perfect IMU and smooth for a real one, whose oscillator may be off by up to ~1 %:
# then the count drifts from the MCU clock, and once the two disagree by more than
# SLEW_LIMIT_MS the count is pulled back by the whole excess, spread over the last
# samples of the next batch at most half a period each (so timestamps keep increasing
# and never leap). A light-sleeping board reads a batch every few seconds: a cap per
# batch instead of per sample (as before) could not keep up with a 0.5 % oscillator
# error (21 ms per 4.3 s batch against 9 ms) and the stamps drifted seconds from the
# MCU clock in an hour. After a FIFO overflow the lost samples make
# the count meaningless: the clock is re-anchored to the ticks and the hole becomes a
# gap the detector handles.
#
# The period is an exact fraction p/q ms (52 Hz: 250/13 ms; MPU at 1000/19 Hz: 19/1),
# so sample k is at k*p/q ms: whole ms plus a remainder in 1/q ms. Only small integers:
# no big ints, no floats per sample (MicroPython small ints are 31-bit).

SLEW_LIMIT_MS = 100
# Rate tracking: the IMU's real period, measured against the MCU clock over windows of
# samples (in 1/TRIM_Q ms), replaces the nominal one when they differ by more than
# TRIM_MIN_PPM. Real
# parts are off by whole percents (an LSM6 trims its oscillator in 0.15 % steps and
# reports the residue; parts run up to several % from the nominal ODR), which a light-
# sleeping board, reading every few seconds, would otherwise only catch at each read:
# 5 % of a 4.3 s burst is 215 ms between two slews.
TRIM_WINDOW_MS = 300000  # a window's span: read jitter (<= ~100 ms) is 0.03 % of it
TRIM_MIN_PPM = 1000  # below this the nominal period stays (exact stamps on exact IMUs)
TRIM_Q = 10000  # a measured period in 1/TRIM_Q ms (0.1 us: 5 ppm at 52 Hz); = 100 * 100
BIG_MS = 1 << 29
RECENTRE_MS = 25  # a nominal count re-centred when the window's closest read is this far
WINDOW_OPEN = 0  # what _track_rate found: no window closed,
WINDOW_NOMINAL = 1  # one closed at the nominal period,
WINDOW_TRIMMED = 2  # one closed with a measured period in use


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
        self._pending = 0  # correction (ms) slew() asked for, not yet in any stamp

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
        self._pending = 0
        self._nominal = (self.p, self.q)
        self.trimmed_ppm = 0  # the period in use against the nominal one (0: nominal)
        self._win_t0 = -1  # MCU ms at the start of the rate window (-1: none yet)
        self._win_n = 0  # samples stamped since then
        self._win_min = BIG_MS  # smallest (now - newest sample) seen in the window
        self._win_next = TRIM_WINDOW_MS  # the baseline's length at the next trim

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
        self._win_n += n
        if n > 0:
            if self._pending:
                self._apply_pending(ts, n)
            self.last = ts[n - 1]

    def _apply_pending(self, ts, n):
        # Spread the pending correction over the batch's last k samples, at most half a
        # period per sample, so only slewed batches pay and the steps stay within half a
        # period of the nominal one; the rest waits for the next batch.
        half = self._step // 2
        if half < 1:
            return  # a period of 1 ms cannot be slewed without time standing still
        c = self._pending
        cap = n * half
        if c > cap:
            c = cap
        elif c < -cap:
            c = -cap
        k = (abs(c) + half - 1) // half  # 1..n samples
        base = n - k
        for j in range(k):
            ts[base + j] += (c * (j + 1)) // k
        self._ms += c
        self._pending -= c
        self.slewed_ms += c

    def slew(self, now_ms):
        """Compare the newest sample with the MCU clock (now_ms, just after reading the
        FIFO dry) and pull the count towards it when they disagree too much: the
        correction goes into the next batch's stamps (returns it, in ms)."""
        if self.last < 0:
            return 0
        closed = self._track_rate(now_ms)
        diff = now_ms - (self.last + self._pending)
        # A closed window re-centres a trimmed count; a nominal one only when the MCU's
        # crystal has walked it off by more than RECENTRE_MS (an exact IMU on an exact
        # MCU clock keeps its exact stamps).
        recenter = closed == WINDOW_TRIMMED or (
            closed == WINDOW_NOMINAL
            and self._win_min < BIG_MS
            and (self._win_min > RECENTRE_MS or self._win_min < -RECENTRE_MS)
        )
        if closed and not recenter:
            self._win_min = BIG_MS
        if recenter:
            # Over the window's reads the newest sample was made between 0 and a
            # period before each, so the smallest difference seen is
            # where an exact count puts ~0. Pull the count there instead of leaving it
            # at the band's edge (two legs would then sit up to twice the band apart).
            # Without a clean read since the last pull (the first window's slews), half
            # a period before this read is the best guess.
            if self._win_min < BIG_MS:
                excess = self._win_min if self._win_min < diff else diff
            else:
                excess = diff - (self._step + 1) // 2
            self._win_min = BIG_MS
            self._pending += excess
            return excess
        if diff < self._win_min:
            self._win_min = diff
        if diff > SLEW_LIMIT_MS:
            excess = diff - SLEW_LIMIT_MS
        elif diff < -SLEW_LIMIT_MS:
            excess = diff + SLEW_LIMIT_MS
        else:
            return 0
        self._pending += excess
        self._win_min = BIG_MS  # the differences seen so far are off by this pull
        return excess

    def _track_rate(self, now_ms):
        # Every TRIM_WINDOW_MS: the MCU ms since the first read over the samples read
        # since is the IMU's real period (in 1/TRIM_Q ms), used when it is off the
        # nominal by TRIM_MIN_PPM or more. Read just after the FIFO ran dry, both ends
        # carry the same small latency. Returns WINDOW_OPEN, WINDOW_NOMINAL or
        # WINDOW_TRIMMED (the caller re-centres the count).
        if self._win_t0 < 0:
            self._win_t0 = now_ms
            self._win_n = 0
            self._win_next = TRIM_WINDOW_MS
            return WINDOW_OPEN
        span = now_ms - self._win_t0
        n = self._win_n
        if span < self._win_next or n <= 0:
            return WINDOW_OPEN
        # The baseline grows with the night (from its first read): the count's error of
        # a sample at either end shrinks against it. Small ints: span * TRIM_Q is not.
        self._win_next = span + TRIM_WINDOW_MS
        whole, part = divmod(span, n)
        f1, r1 = divmod(part * 100, n)
        period = whole * TRIM_Q + f1 * 100 + (r1 * 100 + n // 2) // n
        p0, q0 = self._nominal
        nominal = (p0 * TRIM_Q + q0 // 2) // q0
        ppm = (period - nominal) * 10000 // nominal * 100  # 100 ppm steps, small ints
        if -TRIM_MIN_PPM < ppm < TRIM_MIN_PPM:
            if self.trimmed_ppm:
                self._set_period(p0, q0)
                self.trimmed_ppm = 0
            return WINDOW_NOMINAL
        self._set_period(period, TRIM_Q)
        self.trimmed_ppm = ppm
        return WINDOW_TRIMMED

    def _set_period(self, p, q):
        # The remainder of the next sample's time moves to the new denominator.
        self._rem = (self._rem * q + self.q // 2) // self.q
        if self._rem >= q:
            self._rem = q - 1
        self.p = p
        self.q = q
        self._step = p // q
        self._step_rem = p % q

    def reanchor(self, newest_ms, n):
        """After an overflow: the next n samples end `newest_ms` (the MCU's estimate of
        the newest one's time). Returns the samples estimated lost in the hole."""
        # Start so that sample n-1 lands on newest_ms; never before the next count time.
        start = newest_ms - ((n - 1) * self.p + self.q // 2) // self.q
        expected = self._ms
        self._pending = 0  # the count starts afresh from the MCU's estimate
        self._win_t0 = -1  # lost samples: the rate window starts afresh too
        lost = 0
        if start > expected:
            lost = ((start - expected) * self.q + self.p // 2) // self.p
            self._ms = start
            self._rem = 0
        self.lost += lost
        return lost
