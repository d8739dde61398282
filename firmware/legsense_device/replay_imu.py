# An IMU driver whose samples come over the link (REPLAY) instead of from a chip.
#
# Hardware-in-the-loop replay on a real board: the host streams a trace's int16 counts
# into a ring buffer allocated once per replay night; the sampler reads it through the
# same driver API as the LSM6/MPU6 drivers (configure, fifo_level, read_fifo, overflows,
# power_down). Like a real FIFO, sample k becomes readable only once the board's clock
# has reached k sample periods after configure(), so the sampler's count-based stamps
# and its slew check see what they would see with a chip. When the host falls behind
# and a due sample is missing, `late` counts it (the replay is then not exact); after
# the host has marked the trace's last samples (R_LAST), an empty ring is just the end.
# Before the first samples arrive nothing is late yet: the first delivery must hold every
# sample due by then (it does unless the host took longer than a whole message's worth
# of samples to send it), and the sampler stamps them by count, not by arrival.

from array import array

from legsense_core.clock import ticks_diff
from legsense_core.imu_scales import scales

from legsense_device.sample_clock import period_fraction

DEFAULT_CAPACITY = 512  # samples: 20 s at 26 Hz, 6 KB of buffers with gyro


class ReplayImu:
    """Driver API over a ring of replayed samples (see the module comment)."""

    address = 0  # no bus address: shown as @0x00 in the boot line and status

    def __init__(
        self, name, odr_hz, gyro, accel_fs_g=0, gyro_fs_dps=0, capacity=None, ticks_ms=None
    ):
        if not 0 < odr_hz <= 10000:
            raise ValueError("replay rate %r Hz outside 0..10000" % (odr_hz,))
        self.name = name
        self.odr_hz = float(odr_hz)
        self.gyro = bool(gyro)
        self.accel_power = "high_performance"
        self.accel_scale, self.gyro_scale = scales(name, accel_fs_g, gyro_fs_dps)
        self.capacity = capacity or DEFAULT_CAPACITY
        self.width = 6 if self.gyro else 3  # int16 values per sample on the wire
        self._acc = array("h", bytes(6 * self.capacity))
        self._gyr = array("h", bytes(6 * self.capacity)) if self.gyro else None
        self._p, self._q = period_fraction(self.odr_hz)
        self.watermark = 32
        self.int1 = False  # no interrupt pin: the host feeds it over the link
        self.has_fifo_int = False
        self.overflows = 0  # never: the host is refused what does not fit
        self.late = 0  # samples that were due before they had arrived
        self._late_upto = 0  # due samples already checked for lateness
        self.ended = False
        self.running = False
        self._head = 0  # ring index of the next sample to read
        self._count = 0  # samples in the ring
        self.taken = 0  # samples accepted since configure()
        self.read = 0  # samples handed to the sampler since configure()
        self._t0 = 0
        if ticks_ms is None:  # the board's clock (tests pass their own)
            from legsense_device import hal

            ticks_ms = hal.ticks_ms
        self._ticks_ms = ticks_ms

    # -- the driver API ---------------------------------------------------------------

    def configure(
        self,
        odr_hz=0,
        accel_fs_g=0,
        gyro_fs_dps=0,
        gyro=True,
        watermark=32,
        int1=False,
        int1_active_low=False,
        accel_power="high_performance",
    ):
        """Start the replay clock now. The rate, ranges and gyro are the replayed
        trace's (fixed at construction); the night config's are ignored (a replay night
        keeps the board awake: no interrupt is wired); accel_power is ignored too."""
        if watermark <= 0:
            watermark = self.capacity // 4
        self.watermark = max(1, min(int(watermark), self.capacity // 4))
        self._head = 0
        self._count = 0
        self.taken = 0
        self.read = 0
        self.late = 0
        self._late_upto = 0
        self.ended = False
        self.running = True
        self._t0 = self._ticks_ms()
        return self.odr_hz

    def power_down(self):
        """Stop the replay clock; what was not read is dropped."""
        self.running = False
        self._count = 0

    def _due(self):
        # Samples whose time has come since configure(): sample k is due at k*p/q ms.
        if not self.running:
            return 0
        elapsed = ticks_diff(self._ticks_ms(), self._t0)
        return (elapsed * self._q) // self._p + 1 if elapsed >= 0 else 0

    def fifo_level(self):
        """Samples readable now."""
        n = self._due() - self.read
        if n > self._count:
            n = self._count
        return n if n > 0 else 0

    def read_fifo(self, acc, gyr, max_n):
        """Copy up to max_n readable samples into acc (and gyr) as x, y, z int16 counts;
        returns how many."""
        due_total = self._due()
        due = due_total - self.read
        n = self._count
        if due > n and not self.ended and self.taken:  # before the first samples: waiting
            # Samples read + n .. due_total - 1 are due but not here: count each once.
            have = self.read + n
            self.late += due_total - (have if have > self._late_upto else self._late_upto)
            self._late_upto = due_total
        if n > due:
            n = due
        if n > max_n:
            n = max_n
        if n <= 0:
            return 0
        cap = self.capacity
        src_a = self._acc
        src_g = self._gyr
        i = self._head
        j = 0
        for _ in range(n):
            k = 3 * i
            acc[j] = src_a[k]
            acc[j + 1] = src_a[k + 1]
            acc[j + 2] = src_a[k + 2]
            if gyr is not None and src_g is not None:
                gyr[j] = src_g[k]
                gyr[j + 1] = src_g[k + 1]
                gyr[j + 2] = src_g[k + 2]
            j += 3
            i += 1
            if i == cap:
                i = 0
        self._head = i
        self._count -= n
        self.read += n
        return n

    # -- the link side ----------------------------------------------------------------

    def room(self):
        """Samples the ring can take now."""
        return self.capacity - self._count

    def feed(self, data, last=False):
        """Take whole samples from data (int16 LE counts, `width` per sample) while they
        fit; returns how many. last marks the trace's end (once all of data was taken)."""
        width = 2 * self.width
        if len(data) % width:
            raise ValueError("%d bytes are not whole samples of %d bytes" % (len(data), width))
        if not self.running:
            raise ValueError("the replay night is not running")
        n = len(data) // width
        first = self.taken == 0 and n > 0
        room = self.capacity - self._count
        if n > room:
            n = room
        cap = self.capacity
        dst_a = self._acc
        dst_g = self._gyr
        i = self._head + self._count
        if i >= cap:
            i -= cap
        p = 0
        for _ in range(n):
            k = 3 * i
            for c in range(3):
                v = data[p] | (data[p + 1] << 8)
                dst_a[k + c] = v - 65536 if v > 32767 else v
                p += 2
            if dst_g is not None:
                for c in range(3):
                    v = data[p] | (data[p + 1] << 8)
                    dst_g[k + c] = v - 65536 if v > 32767 else v
                    p += 2
            i += 1
            if i == cap:
                i = 0
        self._count += n
        self.taken += n
        if first:
            # The replay begins with its first samples: those due by now are late only
            # if this delivery does not hold them all (the sampler reads them at once,
            # each keeps its counted time, so the night is the same as if on time).
            due = self._due()
            if due > n and not last:
                self.late += due - n
            self._late_upto = due
        if last and n == len(data) // width:
            self.ended = True
        return n
