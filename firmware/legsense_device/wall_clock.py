# Wall-clock time on the device: UTC from the last anchor the host set, plus ticks since.
#
# The ESP32 has no battery-backed clock on our boards, so until the host sets the time
# the device does not know it (known() is False) and schedules do not run. UTC epoch ms
# are big integers on MicroPython (beyond 31 bits): fine here, this is not a per-sample
# path.

from legsense_core.clock import ticks_diff

_REBASE_MS = 1 << 27  # move the anchor forward well before ticks_diff's 2**29 limit


class WallClock:
    def __init__(self):
        self.utc_ms = 0  # UTC at self.ticks; 0 = never set
        self.ticks = 0

    def set(self, utc_ms, ticks):
        """The host says it is utc_ms (epoch ms) at ticks (a ticks_ms() value)."""
        self.utc_ms = utc_ms
        self.ticks = ticks

    def known(self):
        return self.utc_ms > 0

    def now(self, ticks):
        """UTC epoch ms at ticks (0 when the time was never set)."""
        if not self.utc_ms:
            return 0
        d = ticks_diff(ticks, self.ticks)
        if d > _REBASE_MS:  # keep the anchor recent so ticks_diff never wraps
            self.utc_ms += d
            self.ticks = ticks
            d = 0
        return self.utc_ms + d

    def minute_of_day(self, ticks, utc_offset_min):
        """Local minutes after midnight at ticks, or -1 when the time is unknown."""
        utc = self.now(ticks)
        if not utc:
            return -1
        return (utc // 60000 + utc_offset_min) % 1440
