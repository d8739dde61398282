# Clock arithmetic for the night log: device milliseconds and UTC anchors.
#
# The device counts time with time.ticks_ms(), which wraps (every 2**30 ms, about 12.4
# days, on MicroPython ports with 31-bit small ints). Differences therefore go through
# ticks_diff, which is correct while the two instants are less than half a period
# apart. Night time is "device ms since night start" (NightClock keeps it growing
# past any wrap). The host sets the time: each setting is an anchor (device ms <-> UTC
# epoch ms) logged in the night, and the host maps device ms to UTC by linear
# interpolation between anchors, which corrects the crystal's drift (tens of ppm).
# All arithmetic is integer milliseconds.

try:
    from time import ticks_add, ticks_diff, ticks_ms  # type: ignore  (MicroPython)
except ImportError:  # CPython: same semantics over a monotonic millisecond counter
    import time as _time

    def ticks_ms():
        """Milliseconds from a monotonic clock, wrapped like MicroPython's ticks_ms."""
        return int(_time.monotonic() * 1000) & (TICKS_PERIOD - 1)  # type: ignore

    def ticks_add(ticks, delta):
        """ticks + delta, wrapped to the ticks period."""
        return (ticks + delta) & (TICKS_PERIOD - 1)

    def ticks_diff(a, b):
        """Signed a - b across a wrap, in [-period/2, period/2)."""
        return ((a - b + TICKS_HALF) & (TICKS_PERIOD - 1)) - TICKS_HALF


TICKS_PERIOD = 1 << 30
TICKS_HALF = 1 << 29


def _div_round(num, den):
    # Integer num/den rounded half up (den > 0), for negative num too.
    return (2 * num + den) // (2 * den)


class NightClock:
    """Device ms since the start of a night, from ticks, growing past any ticks wrap.

    Call now(ticks) at least once every few days (half a ticks period) — the app does
    it for every FIFO batch — and each call adds the ticks elapsed since the last one.
    """

    def __init__(self, start_ticks):
        self.start_ticks = start_ticks
        self._last = start_ticks
        self._ms = 0

    def now(self, ticks):
        """Device ms since night start at `ticks` (a ticks_ms() value)."""
        self._ms += ticks_diff(ticks, self._last)
        self._last = ticks
        return self._ms


class ClockMap:
    """Maps device ms (since night start) to UTC epoch ms through logged anchors.

    One anchor gives an offset (no drift correction); two or more give piecewise
    linear interpolation, extrapolated beyond the ends with the nearest segment's rate.
    """

    def __init__(self, anchors=()):
        self.anchors = []  # (device ms, utc ms), sorted by device ms, unique device ms
        for dev_ms, utc_ms in anchors:
            self.add(dev_ms, utc_ms)

    def add(self, dev_ms, utc_ms):
        """Add an anchor; a later anchor at the same device ms replaces the earlier."""
        a = self.anchors
        i = 0
        while i < len(a) and a[i][0] < dev_ms:
            i += 1
        if i < len(a) and a[i][0] == dev_ms:
            a[i] = (dev_ms, utc_ms)
        else:
            a.insert(i, (dev_ms, utc_ms))

    def _segment(self, dev_ms):
        a = self.anchors
        i = 0
        while i < len(a) - 2 and a[i + 1][0] < dev_ms:
            i += 1
        return a[i], a[i + 1]

    def to_utc(self, dev_ms):
        """UTC epoch ms at device ms dev_ms; raises ValueError without any anchor."""
        a = self.anchors
        if not a:
            raise ValueError("no clock anchor: the device time was never set")
        if len(a) == 1:
            return a[0][1] + dev_ms - a[0][0]
        (d0, u0), (d1, u1) = self._segment(dev_ms)
        return u0 + _div_round((dev_ms - d0) * (u1 - u0), d1 - d0)

    def drift_ppm(self):
        """How fast the device clock ran against UTC over all anchors, in ppm (0 if < 2).

        Positive: the device counted more ms than passed in UTC.
        """
        a = self.anchors
        if len(a) < 2:
            return 0
        dd = a[-1][0] - a[0][0]
        du = a[-1][1] - a[0][1]
        if du <= 0:
            return 0
        return _div_round((dd - du) * 1000000, du)
