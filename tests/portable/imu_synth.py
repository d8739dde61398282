# Synthetic ankle IMU for the portable detector tests (CPython and the MicroPython VM).
#
# A streaming source of raw int16 counts, read in batches like the IMU FIFO driver:
#   LSM6DSOX at +-2 g / 250 dps: 0.061 mg/LSB (1 g = 16393 counts), 8.75 mdps/LSB.
# The leg is a rigid segment rotating about the sensor's y axis: gravity lies in the
# x-z plane at the posture angle (beta + theta), the gyroscope's y axis sees the rate
# of that angle. A movement is an oscillation theta = A (1 - cos(2 pi c u / d)) / 2 over
# u in [0, d] with c whole cycles: it starts and ends at rest with zero velocity. A turn
# moves beta by delta along half a cosine. Noise: sum of four uniforms (~Gaussian).
#
# Integer arithmetic below 2**30 throughout: MicroPython boxes larger ints and floats
# (a heap allocation each), and its VM collects garbage only between top-level calls.

import math
from array import array

G_COUNTS = 16393  # 1 g at 0.061 mg/LSB
ACC_SCALE = (61, 1)  # ug per LSB, as the detector takes it
GYR_SCALE = (8750, 1)  # udps per LSB

# cos in Q14 for whole degrees 0..360 (built once; floats only here).
_COS_Q14 = array("h", [round(16384 * math.cos(d * math.pi / 180)) for d in range(361)])


def cos_q14(mdeg):
    """cos of an angle in millidegrees, Q14 (16384 = 1), linear between whole degrees."""
    mdeg %= 360000
    k = mdeg // 1000
    f = mdeg - k * 1000
    c0 = _COS_Q14[k]
    return c0 + ((_COS_Q14[k + 1] - c0) * f) // 1000


def sin_q14(mdeg):
    """sin of an angle in millidegrees, Q14."""
    return cos_q14(mdeg - 90000)


class Lcg24:
    """x <- (214013 x + 2531011) mod 2**24, multiplied in 12-bit limbs so every
    intermediate stays a small int on MicroPython. Full period 2**24 (a = 1 mod 4,
    c odd); the top 15 bits are used."""

    def __init__(self, seed):
        self.x = (seed * 2654435 + 12345) & 0xFFFFFF

    def u15(self):
        x = self.x
        xl = x & 4095
        xh = x >> 12
        # a = 52 * 4096 + 1021
        x = (1021 * xl + (((52 * xl + 1021 * xh) & 4095) << 12) + 2531011) & 0xFFFFFF
        self.x = x
        return x >> 9

    def gauss(self, sigma_x16):
        """Approximately normal integer, standard deviation sigma_x16 / 16 counts."""
        s = self.u15() + self.u15() + self.u15() + self.u15() - 65534
        # sd of the sum of four uniforms on 0..32767 is 32768 / sqrt(3) = 18919
        v = s * sigma_x16
        if v >= 0:
            return (v + 151352) // 302704  # 18919 * 16, rounded
        return -((-v + 151352) // 302704)


class SyntheticImu:
    """Raw counts of a synthetic night segment, read in batches with read().

    movements: (onset_ms, offset_ms, amplitude_mdeg, cycles)
    turns: (start_ms, end_ms, delta_mdeg): posture changes
    gaps: (start_ms, end_ms): no samples in [start, end)
    drift_mdeg_per_min: slow posture drift; bias_drift_x16_per_min: gyro bias drift
    jitter_ms: timestamps jitter uniformly in [-jitter, +jitter] (order kept)
    """

    def __init__(
        self,
        rate_hz=50,
        duration_ms=60000,
        movements=(),
        turns=(),
        gaps=(),
        seed=1,
        gyro=True,
        acc_noise_x16=64,
        gyr_noise_x16=48,
        bias=(343, -229, 114),
        beta_mdeg=20000,
        drift_mdeg_per_min=0,
        bias_drift_x16_per_min=0,
        jitter_ms=0,
        t0_ms=0,
    ):
        self.rate_hz = rate_hz
        self.duration_ms = duration_ms
        self.movements = list(movements)
        self.turns = list(turns)
        self.gaps = list(gaps)
        self.rng = Lcg24(seed)
        self.gyro = gyro
        self.acc_noise = acc_noise_x16
        self.gyr_noise = gyr_noise_x16
        self.bias = bias
        self.beta0 = beta_mdeg
        self.drift = drift_mdeg_per_min
        self.bias_drift = bias_drift_x16_per_min
        self.jitter = jitter_ms
        self.t0 = t0_ms
        self.k = 0  # next sample index on the nominal grid
        self.angle = 0
        self.rate = 0
        self.last_t = -1
        # Peak rates in mdps, computed once here (the products may be big ints):
        # movement: (A / 2) (2 pi c / d) = A pi c / d; turn: delta pi / (2 d); pi ~ 355/113
        self._rate_k = []
        for on, off, amp, cyc in self.movements:
            if (off - on) % cyc or (off - on) // cyc > 2000:
                raise ValueError("movement length must be whole cycles of <= 2 s")
            self._rate_k.append((amp * 355 * cyc * 1000) // (113 * (off - on)))
        self._turn_k = []
        for s, e, delta in self.turns:
            if not 0 < e - s <= 5000:
                raise ValueError("turns last 0-5 s")
            self._turn_k.append((delta * 355 * 1000) // (226 * (e - s)))

    def _posture_at(self, t):
        """Set self.angle (mdeg) and self.rate (mdps) at time t (ms from start); not
        returned as a tuple, which would allocate on MicroPython."""
        angle = self.beta0
        rate = 0
        if self.drift:
            angle += ((t // 60) * self.drift) // 1000
            rate += self.drift // 60  # mdeg/min -> mdps, small
        i = 0
        turns = self.turns
        while i < len(turns):
            s, e, delta = turns[i]
            if t >= e:
                angle += delta
            elif t > s:
                ph = ((t - s) * 180000) // (e - s)
                angle += (delta * (16384 - cos_q14(ph))) >> 15
                rate += (self._turn_k[i] * (sin_q14(ph) >> 2)) >> 12
            i += 1
        movs = self.movements
        i = 0
        while i < len(movs):
            on, off, amp, cyc = movs[i]
            if on < t < off:
                period = (off - on) // cyc
                ph = (((t - on) % period) * 360000) // period
                angle += (amp * (16384 - cos_q14(ph))) >> 15
                rate += (self._rate_k[i] * (sin_q14(ph) >> 2)) >> 12
            i += 1
        self.angle = angle
        self.rate = rate

    def _in_gap(self, t):
        gaps = self.gaps
        i = 0
        while i < len(gaps):
            if gaps[i][0] <= t < gaps[i][1]:
                return True
            i += 1
        return False

    def read(self, ts, acc, gyr, max_n):
        """Fill ts[i] (ms), acc[3i..] and gyr[3i..] (counts) with up to max_n samples;
        return how many (0 at the end)."""
        n = 0
        rng = self.rng
        rate = self.rate_hz
        while n < max_n:
            t = (self.k * 1000) // rate
            if t >= self.duration_ms:
                break
            self.k += 1
            if self._in_gap(t):
                continue
            if self.jitter:
                t += rng.u15() % (2 * self.jitter + 1) - self.jitter
            t += self.t0
            if t <= self.last_t:
                t = self.last_t + 1
            self.last_t = t
            self._posture_at(t - self.t0)
            angle = self.angle
            rate_mdps = self.rate
            j = 3 * n
            ts[n] = t
            acc[j] = (G_COUNTS * sin_q14(angle)) >> 14
            acc[j] += rng.gauss(self.acc_noise)
            acc[j + 1] = rng.gauss(self.acc_noise)
            acc[j + 2] = ((G_COUNTS * cos_q14(angle)) >> 14) + rng.gauss(self.acc_noise)
            if gyr is not None:
                drift = ((t - self.t0) // 60 * self.bias_drift) // 16000
                # counts = mdps / 8.75 = mdps * 4 / 35
                gyr[j] = self.bias[0] + drift + rng.gauss(self.gyr_noise)
                gyr[j + 1] = self.bias[1] + drift + (rate_mdps * 4) // 35
                gyr[j + 1] += rng.gauss(self.gyr_noise)
                gyr[j + 2] = self.bias[2] - drift + rng.gauss(self.gyr_noise)
            n += 1
        return n


def buffers(batch):
    """Preallocated batch buffers (ts, acc, gyr) as the firmware's driver uses them."""
    return array("l", [0] * batch), array("h", [0] * (3 * batch)), array("h", [0] * (3 * batch))


def run(detector, imu, batch=256):
    """Feed the whole source through the detector in batches; return (events, epochs,
    samples). Events and epochs are taken away after each batch, as the firmware does."""
    ts, acc, gyr = buffers(batch)
    if not imu.gyro:
        gyr = None
    events = []
    epochs = []
    total = 0
    while True:
        n = imu.read(ts, acc, gyr, batch)
        if n == 0:
            break
        total += n
        detector.process(ts, acc, gyr, n)
        if detector.events:
            events.extend(detector.events)
            detector.events.clear()
        if detector.epochs:
            epochs.extend(detector.epochs)
            detector.epochs.clear()
    detector.finish()
    events.extend(detector.events)
    epochs.extend(detector.epochs)
    detector.events.clear()
    detector.epochs.clear()
    return events, epochs, total
