# Streaming leg-movement (LM) detector: the one detector legsense has.
#
# It runs unchanged on the ESP32 (MicroPython) and on the host (CPython, offline
# analysis and replays). Everything in the per-sample path is small-integer arithmetic:
# MicroPython boxes every float (one heap allocation per operation) and computes in
# single precision, so integers are what keep the loop allocation-free and make both
# interpreters agree to the last digit.
#
# Signal path per sample (accelerometer counts a, gyroscope counts g; "Q4" = x16):
#   a  -> lag difference a[n] - a[n-D] (D ~0.2 s) -> L1 over axes -> boxcar (W) = A
#         (gravity cancels; unlike an EMA high-pass it has no tail after a tilt, so
#         offsets are not late, yet a slow 2-s tilt still shows clearly)
#   g  -> minus bias (EMA while quiet, ~10 s)   -> L1 over axes -> boxcar (W) = G
#         (W ~60 ms, a power of two; a boxcar, unlike an EMA, ends exactly W samples
#         after the motion whatever its amplitude, so the offset can be corrected)
#   A, G -> adaptive noise floors: winsorised means (each sample clipped at the OFF
#           level before it enters a slow EMA; 12x slower while moving), so movements
#           hardly pull the floor up, yet a real rise in noise is followed geometrically
#           (each step may go up to 2x) and can never lock the detector in a movement
#   score = max(A / floorA, G / floorG) in 1/16 units
#   onset : score reaches ON; backdated to where it last rose above OFF
#   offset: first sample below OFF, less what the filters add (D + W samples after
#           the accelerometer's last sample above OFF, W after the gyroscope's: both
#           outlive the motion exactly); the movement ends once quiet_ms have passed
#           since that corrected offset with the score staying below OFF
# Movements closer than quiet_ms therefore merge into one LM (WASM 2016: < 0.5 s).
# Held movements: a leg lifted, held still and put back is one movement, but the
# accelerometer sees no motion during the hold. So when a movement goes quiet while the
# posture is still away from the rest posture (learned while idle), the event is held
# open for up to hold_ms: a movement starting within it continues the same LM.
# Movements of every length are reported; scoring decides what is a candidate.
#
# Start and restart (the first samples, or the first after a gap of over a minute): the
# warm-up learns the floors from the first seconds, which may be a movement (a recording
# that starts while the leg moves, someone settling in bed). So the floors are also
# checked against the mean of each block of block_ms: a block mean below half the floor
# means the floor is too high (a real noise level does not halve within seconds), and
# the floor drops to it at once; with 2-s blocks a stretch of noise falls below half its
# own mean with negligible chance, so nights that start quiet are not touched. A drop
# also takes the posture of the moment as the rest posture (learned moving, it would
# hold movements open). In the start phase (HIST_BLOCKS blocks) the block means are
# kept and events are held back: once a drop shows that the (re)start fell in a
# movement, that movement is reported from the first sample to the end of its last
# block at OFF or above against the new floor (to a block), and the held events within
# it become part of it. The gyro bias is kept across gaps: it belongs to the sensor.

try:
    from micropython import const  # type: ignore  (the CPython fallback differs in signature)
except ImportError:  # CPython

    def const(x):
        return x


import math
from array import array

# Channel flags of an event: which signal crossed the ON threshold.
CH_ACCEL = const(1)
CH_GYRO = const(2)

# Fields of an event tuple and an epoch tuple (kept as tuples: cheap on MicroPython).
EVENT_FIELDS = ("onset_ms", "offset_ms", "peak_mg", "peak_dps", "channels", "peak_snr_x16")
EPOCH_FIELDS = (
    "index",
    "n_samples",
    "active_ms",
    "activity_mg_s",
    "posture_x_mg",
    "posture_y_mg",
    "posture_z_mg",
)

_IDLE = const(0)
_MOVING = const(1)
_HOLD = const(2)  # quiet, but away from the rest posture: the LM may go on

_CLIP_Q4 = const(1 << 20)  # ceiling for values fed to the noise floors (keeps Q12 < 2**30)
HIST_BLOCKS = const(32)  # floor blocks remembered after a (re)start, for its movement
HELD_MAX = const(8)  # events held back in that start phase (then it ends)


def detector_rate(odr_hz):
    """The integer rate the detector is configured with for a sample rate in Hz.

    One rule for the device (the IMU's ODR, e.g. 12.5 Hz) and the host (a trace's rate),
    halves rounded up, so both build the same filters: 12.5 -> 13.
    """
    return int(odr_hz + 0.5)


def shift_for(rate_hz, tau_ms):
    """Shift k for an EMA y += (x - y) >> k whose time constant is closest to tau_ms."""
    target = rate_hz * tau_ms / 1000.0
    best_k = 0
    best_err = 1e9
    for k in range(0, 16):
        alpha = 1.0 / (1 << k)
        tau = 1.0 / -math.log(1.0 - alpha) if k else 0.5
        err = abs(math.log(tau / target)) if target > 0 else k
        if err < best_err:
            best_err = err
            best_k = k
    return best_k


class DetectorConfig:
    """Parameters of the detector; integers, so they travel in the night header as is.

    Thresholds are multiples of the adaptive noise floor, in 1/16 (64 = 4x floor).
    """

    def __init__(
        self,
        rate_hz=50,
        on_x16=64,
        off_x16=32,
        quiet_ms=500,
        hold_ms=5000,
        hold_min_ug=20000,
        lag_ms=200,
        smooth_ms=60,
        bias_tau_ms=10000,
        floor_tau_ms=10000,
        floor_moving_tau_ms=120000,
        warmup_ms=2000,
        gap_ms=0,
        epoch_ms=30000,
        min_floor_ug=1500,
        min_floor_udps=300000,
        block_ms=2000,
    ):
        if not 5 <= rate_hz <= 1000:
            raise ValueError("rate_hz must be 5..1000, got %r" % (rate_hz,))
        if not 16 < off_x16 <= on_x16:
            raise ValueError("need 16 < off_x16 <= on_x16")
        self.rate_hz = int(rate_hz)
        self.on_x16 = int(on_x16)
        self.off_x16 = int(off_x16)
        self.quiet_ms = int(quiet_ms)
        self.hold_ms = int(hold_ms)
        self.hold_min_ug = int(hold_min_ug)
        self.lag_ms = int(lag_ms)
        self.smooth_ms = int(smooth_ms)
        self.bias_tau_ms = int(bias_tau_ms)
        self.floor_tau_ms = int(floor_tau_ms)
        self.floor_moving_tau_ms = int(floor_moving_tau_ms)
        self.warmup_ms = int(warmup_ms)
        # A hole in the timestamps longer than this is a gap (dropped samples): filters
        # restart after it and a movement in progress ends where the data ended.
        period = 1000 // self.rate_hz
        self.gap_ms = int(gap_ms) if gap_ms else max(300, 4 * period)
        self.epoch_ms = int(epoch_ms)
        self.min_floor_ug = int(min_floor_ug)
        self.min_floor_udps = int(min_floor_udps)
        if block_ms < 200:
            raise ValueError("block_ms must be >= 200")
        self.block_ms = int(block_ms)

    def as_dict(self):
        return {
            "rate_hz": self.rate_hz,
            "on_x16": self.on_x16,
            "off_x16": self.off_x16,
            "quiet_ms": self.quiet_ms,
            "hold_ms": self.hold_ms,
            "hold_min_ug": self.hold_min_ug,
            "lag_ms": self.lag_ms,
            "smooth_ms": self.smooth_ms,
            "bias_tau_ms": self.bias_tau_ms,
            "floor_tau_ms": self.floor_tau_ms,
            "floor_moving_tau_ms": self.floor_moving_tau_ms,
            "warmup_ms": self.warmup_ms,
            "gap_ms": self.gap_ms,
            "epoch_ms": self.epoch_ms,
            "min_floor_ug": self.min_floor_ug,
            "min_floor_udps": self.min_floor_udps,
            "block_ms": self.block_ms,
        }


class LegMovementDetector:
    """Streaming LM detector over batches of raw IMU counts.

    Feed batches with process(); completed movements accumulate in `events` and
    finished epochs in `epochs` (lists of tuples, see EVENT_FIELDS / EPOCH_FIELDS);
    the caller takes them away after each batch, so memory stays bounded.
    Call finish() at the end of the recording.
    """

    def __init__(self, config=None, accel_scale=(61, 1), gyro_scale=(8750, 1)):
        cfg = config or DetectorConfig()
        self.config = cfg
        r = cfg.rate_hz
        self._acc_num, self._acc_den = accel_scale
        self._gyr_num, self._gyr_den = gyro_scale
        self._k_fast = shift_for(r, 250)  # gyro bias during warm-up
        self._lag = max(1, (r * cfg.lag_ms + 500) // 1000)
        self._ring = array("h", bytes(6 * self._lag))  # last D accel samples, x y z
        # Boxcar of W = 2**k_w samples (a power of two: the mean is a shift).
        w = r * cfg.smooth_ms / 1000.0
        k_w = 0
        k_w = 1  # at least 2 samples: a single sample's L1 has too long a tail
        while k_w < 4 and (2 << k_w) <= w * 1.41:
            k_w += 1
        self._k_w = k_w
        self._box_a = array("i", bytes(4 << k_w))
        self._box_g = array("i", bytes(4 << k_w))
        # What the filters add after the last sample above OFF (see _emit), in ms.
        n_w = 1 << k_w
        self._comp_a_ms = ((self._lag + n_w - 2) * 1000) // r
        self._comp_g_ms = ((n_w - 2) * 1000) // r
        self._k_bias = shift_for(r, cfg.bias_tau_ms)
        self._k_floor = shift_for(r, cfg.floor_tau_ms)
        self._k_floor_mov = shift_for(r, cfg.floor_moving_tau_ms)
        # Noise-floor guards in Q4 counts (L1 over three axes): a floor, not a threshold.
        self._min_fa = max(16, (cfg.min_floor_ug * self._acc_den * 16) // self._acc_num)
        self._min_fg = max(16, (cfg.min_floor_udps * self._gyr_den * 16) // self._gyr_num)
        self._hold_min = (cfg.hold_min_ug * self._acc_den * 16) // self._acc_num  # Q4
        self._k_rest = shift_for(r, 1000)
        # Floor check blocks (see the header): a sample count, about block_ms long.
        self._blk_n = max(4, (r * cfg.block_ms + 500) // 1000)
        # Block means and end times since the last (re)start: accel, gyro (Q4), ms.
        self._hist_a = array("i", bytes(4 * HIST_BLOCKS))
        self._hist_g = array("i", bytes(4 * HIST_BLOCKS))
        self._hist_t = array("i", bytes(4 * HIST_BLOCKS))
        self.events = []
        self.epochs = []
        self.samples = 0
        self.gaps = 0
        self.gap_ms_total = 0
        self._started = False
        self._reset_state()

    def _reset_state(self):
        self._t_prev = 0
        self._t_warm_end = 0
        self._pos = 0  # next slot of the ring
        self._bias = [0, 0, 0]  # gyro bias, Q4
        self._as = 0  # smoothed accel activity, Q4
        self._gs = 0  # smoothed gyro activity, Q4
        self._sum_a = 0  # boxcar running sums, Q4
        self._sum_g = 0
        self._bpos = 0
        for k in range(len(self._box_a)):
            self._box_a[k] = 0
            self._box_g[k] = 0
        self._fa = 0  # accel floor, Q12
        self._fg = 0  # gyro floor, Q12
        self._state = _IDLE
        self._rest = [0, 0, 0]  # rest posture (accel), Q4: learned while idle and still
        self._base = [0, 0, 0]  # rest posture when the current movement began, Q4
        self._pend_off = 0  # offset of a movement in _HOLD
        self._rise_t = -1  # last time the score rose above OFF while idle
        self._onset = 0
        self._below = -1  # corrected offset of the current below-OFF stretch, or -1
        self._last_a = -1  # last time the accel score was >= OFF in this movement
        self._last_g = -1  # same for the gyro
        self._pk_a = 0
        self._pk_g = 0
        self._pk_s = 0
        self._ch = 0
        # floor check blocks
        self._blk_i = 0
        self._blk_sa = 0
        self._blk_sg = 0
        self._t_start = 0  # first sample after the last (re)start
        self._n_hist = 0  # blocks in the history; -1: no movement at the start to find
        self._held = []  # events of the start phase, held back (see _start_block)
        # epoch accumulators
        self._ep_idx = -1
        self._ep_n = 0
        self._ep_active = 0
        self._ep_act = 0
        self._ep_sx = 0
        self._ep_sy = 0
        self._ep_sz = 0

    # -- public API -------------------------------------------------------------------

    def process(self, ts, acc, gyr, n):
        """Consume n samples: ts[i] in ms (int, increasing), acc[3i..3i+2] and optionally
        gyr[3i..3i+2] in raw counts (gyr None for an accelerometer-only IMU).

        Returns the number of events completed by this batch.
        """
        if n <= 0:
            return 0
        cfg = self.config
        n_ev = len(self.events)
        if not self._started:
            self._start(ts[0], acc, gyr)
        # Locals: attribute access is slow on both interpreters.
        k_fast = self._k_fast
        ring = self._ring
        ring_len = 3 * self._lag
        pos = self._pos
        k_w = self._k_w
        n_w = 1 << k_w
        box_a = self._box_a
        box_g = self._box_g
        sum_a = self._sum_a
        sum_g = self._sum_g
        bpos = self._bpos
        k_bias = self._k_bias
        k_fl = self._k_floor
        k_flm = self._k_floor_mov
        k_warm = self._k_fast
        min_fa = self._min_fa
        min_fg = self._min_fg
        on = cfg.on_x16
        off = cfg.off_x16
        quiet = cfg.quiet_ms
        hold = cfg.hold_ms
        k_rest = self._k_rest
        gap = cfg.gap_ms
        epoch_ms = cfg.epoch_ms
        bias = self._bias
        bx = bias[0]
        by = bias[1]
        bz = bias[2]
        a_s = self._as
        g_s = self._gs
        fa = self._fa
        fg = self._fg
        state = self._state
        rise_t = self._rise_t
        below = self._below
        t_prev = self._t_prev
        warm_end = self._t_warm_end
        ep_idx = self._ep_idx
        ep_end = (ep_idx + 1) * epoch_ms
        ep_n = self._ep_n
        ep_active = self._ep_active
        ep_act = self._ep_act
        sx = self._ep_sx
        sy = self._ep_sy
        sz = self._ep_sz
        has_g = gyr is not None
        blk_n = self._blk_n
        blk_i = self._blk_i
        blk_sa = self._blk_sa
        blk_sg = self._blk_sg
        rest = self._rest  # the rest posture, kept in locals rx ry rz during the batch
        rx = rest[0]
        ry = rest[1]
        rz = rest[2]
        j = 0
        for i in range(n):  # a counted loop: cheaper than while on MicroPython
            t = ts[i]
            ax = acc[j]
            ay = acc[j + 1]
            az = acc[j + 2]
            dt = t - t_prev
            if dt > gap or dt < 0:
                # Gap (or a clock step): end any movement where the data ended and
                # restart the filters from this sample so the hole is not a "step".
                self.gaps += 1
                if dt > 0:
                    self.gap_ms_total += dt
                if state == _MOVING:
                    self._emit(self._onset, below if below >= 0 else self._offset(t_prev))
                elif state == _HOLD:
                    self._emit(self._onset, self._pend_off)
                state = _IDLE
                rise_t = -1
                below = -1
                k = 0
                while k < ring_len:
                    ring[k] = ax
                    ring[k + 1] = ay
                    ring[k + 2] = az
                    k += 3
                a_s = 0
                g_s = 0
                sum_a = 0
                sum_g = 0
                k = 0
                while k < n_w:
                    box_a[k] = 0
                    box_g[k] = 0
                    k += 1
                dt = 0
                # The gyro bias is a property of the sensor, not of the data stream: it
                # is kept. Taking the first sample after the gap as the bias (as once
                # done) turned a gap inside a movement into a bias of the movement's
                # rate, a gyro that never looked quiet and an LM that never ended.
                blk_i = 0
                blk_sa = 0
                blk_sg = 0
                # A long gap may mean the strap moved: learn the floors again.
                if t - t_prev > 60000:
                    warm_end = t + cfg.warmup_ms
                    self._end_start_phase()
                    self._t_start = t
                    self._n_hist = 0
            t_prev = t
            # -- epoch bookkeeping --
            if t >= ep_end:
                if ep_n:
                    self._emit_epoch(ep_idx, ep_n, ep_active, ep_act, sx, sy, sz)
                ep_idx = t // epoch_ms
                ep_end = (ep_idx + 1) * epoch_ms
                ep_n = 0
                ep_active = 0
                ep_act = 0
                sx = 0
                sy = 0
                sz = 0
            ep_n += 1
            sx += ax
            sy += ay
            sz += az
            # -- accelerometer: lag difference, L1, smooth --
            hx = (ax - ring[pos]) << 4
            hy = (ay - ring[pos + 1]) << 4
            hz = (az - ring[pos + 2]) << 4
            ring[pos] = ax
            ring[pos + 1] = ay
            ring[pos + 2] = az
            pos += 3
            if pos >= ring_len:
                pos = 0
            if hx < 0:
                hx = -hx
            if hy < 0:
                hy = -hy
            if hz < 0:
                hz = -hz
            v = hx + hy + hz
            sum_a += v - box_a[bpos]
            box_a[bpos] = v
            a_s = sum_a >> k_w
            # -- gyroscope: bias removal, L1, smooth --
            if has_g:
                cx = (gyr[j] << 4) - bx
                cy = (gyr[j + 1] << 4) - by
                cz = (gyr[j + 2] << 4) - bz
                ux = cx if cx >= 0 else -cx
                uy = cy if cy >= 0 else -cy
                uz = cz if cz >= 0 else -cz
                v = ux + uy + uz
                sum_g += v - box_g[bpos]
                box_g[bpos] = v
                g_s = sum_g >> k_w
            bpos += 1
            if bpos == n_w:
                bpos = 0
            # -- noise floors (Q12) and score --
            xa = a_s if a_s < _CLIP_Q4 else _CLIP_Q4
            xg = g_s if g_s < _CLIP_Q4 else _CLIP_Q4
            # -- floor check blocks (see the header) --
            blk_sa += xa
            blk_sg += xg
            blk_i += 1
            if blk_i >= blk_n:
                ma = blk_sa // blk_i
                mg = blk_sg // blk_i
                blk_sa = 0
                blk_sg = 0
                blk_i = 0
                dropped = False
                if t >= warm_end:
                    if (ma << 9) < fa:  # block mean below half the floor (Q4 vs Q12)
                        fa = ma << 8
                        dropped = True
                    if has_g and (mg << 9) < fg:
                        fg = mg << 8
                        dropped = True
                if dropped:
                    # The floor was learned from a movement; so may the rest posture
                    # have been. The leg is still now: its posture is the rest, and a
                    # movement held open only against the old rest posture ends now.
                    # (A gyro bias learned moving is learned again while still; the
                    # gyro floor follows it down block by block.)
                    self._rest_from_ring(ring)
                    rx = rest[0]
                    ry = rest[1]
                    rz = rest[2]
                    if state == _HOLD:
                        self._emit(self._onset, self._pend_off)
                        state = _IDLE
                        rise_t = -1
                if self._n_hist >= 0:
                    rest[0] = rx  # _start_block reads the rest posture
                    rest[1] = ry
                    rest[2] = rz
                    if self._start_block(ma, mg, t, dropped, fa, fg, state) == 2:
                        state = _MOVING  # the movement from the start goes on
                        below = -1
                        rise_t = -1
            if t < warm_end:
                fa += ((xa << 8) - fa) >> k_warm
                fg += ((xg << 8) - fg) >> k_warm
                if has_g:
                    bx += cx >> k_fast
                    by += cy >> k_fast
                    bz += cz >> k_fast
                j += 3
                continue
            fa_q4 = fa >> 8
            if fa_q4 < min_fa:
                fa_q4 = min_fa
            fg_q4 = fg >> 8
            if fg_q4 < min_fg:
                fg_q4 = min_fg
            # Winsorised mean: clip at the OFF level (off/16 x floor), in Q12.
            ca = (fa_q4 * off) << 4
            cg = (fg_q4 * off) << 4
            xa = xa << 8
            xg = xg << 8
            if xa > ca:
                xa = ca
            if xg > cg:
                xg = cg
            if state == _MOVING:
                fa += (xa - fa) >> k_flm
                fg += (xg - fg) >> k_flm
            else:
                fa += (xa - fa) >> k_fl
                fg += (xg - fg) >> k_fl
            sa = (a_s << 4) // fa_q4
            score = sa
            if has_g:
                sg = (g_s << 4) // fg_q4
                if sg > score:
                    score = sg
            else:
                sg = 0
            # -- hysteresis state machine --
            if state == _HOLD:
                if score >= on:
                    state = _MOVING  # the held movement goes on: same LM
                    below = -1
                elif t - self._pend_off >= hold:
                    self._emit(self._onset, self._pend_off)
                    state = _IDLE
                    rise_t = -1
            if state == _IDLE:
                if score >= off:
                    if rise_t < 0:
                        rise_t = t
                    if score >= on:
                        state = _MOVING
                        self._onset = rise_t
                        below = -1
                        self._pk_a = 0
                        self._pk_g = 0
                        self._pk_s = 0
                        self._ch = 0
                        self._last_a = -1
                        self._last_g = -1
                        base = self._base
                        base[0] = rx
                        base[1] = ry
                        base[2] = rz
                else:
                    rise_t = -1
                    # Learn the rest posture and the gyro bias only while still.
                    rx += ((ax << 4) - rx) >> k_rest
                    ry += ((ay << 4) - ry) >> k_rest
                    rz += ((az << 4) - rz) >> k_rest
                    if has_g:
                        bx += cx >> k_bias
                        by += cy >> k_bias
                        bz += cz >> k_bias
            if state == _MOVING:
                ep_active += dt
                if score >= off:
                    below = -1
                    if a_s > self._pk_a:
                        self._pk_a = a_s
                    if g_s > self._pk_g:
                        self._pk_g = g_s
                    if score > self._pk_s:
                        self._pk_s = score
                    if sa >= off:
                        self._last_a = t
                        if sa >= on:
                            self._ch |= CH_ACCEL
                    if sg >= off:
                        self._last_g = t
                        if sg >= on:
                            self._ch |= CH_GYRO
                elif below < 0:
                    # Quiet is measured from the corrected offset: the filtered signal
                    # hides the first D + W samples of a gap between movements.
                    below = self._offset(t)
                elif t - below >= quiet:
                    offset = below
                    if self._away_from_rest(ring, fa_q4):
                        state = _HOLD
                        self._pend_off = offset
                    else:
                        self._emit(self._onset, offset)
                        state = _IDLE
                    rise_t = -1
                    below = -1
            # Activity above the floor, Q4 counts summed over the epoch's samples.
            ex = a_s - fa_q4
            if ex > 0:
                ep_act += ex if ex < 32768 else 32768
            j += 3
        self.samples += n
        rest[0] = rx
        rest[1] = ry
        rest[2] = rz
        self._pos = pos
        bias[0] = bx
        bias[1] = by
        bias[2] = bz
        self._as = a_s
        self._gs = g_s
        self._sum_a = sum_a
        self._sum_g = sum_g
        self._bpos = bpos
        self._fa = fa
        self._fg = fg
        self._state = state
        self._rise_t = rise_t
        self._below = below
        self._t_prev = t_prev
        self._t_warm_end = warm_end
        self._blk_i = blk_i
        self._blk_sa = blk_sa
        self._blk_sg = blk_sg
        self._ep_idx = ep_idx
        self._ep_n = ep_n
        self._ep_active = ep_active
        self._ep_act = ep_act
        self._ep_sx = sx
        self._ep_sy = sy
        self._ep_sz = sz
        return len(self.events) - n_ev

    def finish(self):
        """End of recording: close a movement in progress and the last epoch."""
        self._end_start_phase()
        if self._state == _MOVING:
            below = self._below
            self._emit(self._onset, below if below >= 0 else self._offset(self._t_prev))
        elif self._state == _HOLD:
            self._emit(self._onset, self._pend_off)
        self._state = _IDLE
        if self._ep_n:
            self._emit_epoch(
                self._ep_idx,
                self._ep_n,
                self._ep_active,
                self._ep_act,
                self._ep_sx,
                self._ep_sy,
                self._ep_sz,
            )
            self._ep_n = 0
        return len(self.events)

    def noise_floor(self):
        """Current noise floors as (accel mg, gyro dps) floats, for status displays."""
        fa = max(self._fa >> 8, self._min_fa)
        fg = max(self._fg >> 8, self._min_fg)
        return (
            fa * self._acc_num / (16 * self._acc_den * 1000.0),
            fg * self._gyr_num / (16 * self._gyr_den * 1000000.0),
        )

    # -- internals (not per sample) -------------------------------------------------

    def _start(self, t0, acc, gyr):
        self._started = True
        self._t_start = t0
        self._n_hist = 0
        self._t_prev = t0
        self._t_warm_end = t0 + self.config.warmup_ms
        self._rest[0] = acc[0] << 4
        self._rest[1] = acc[1] << 4
        self._rest[2] = acc[2] << 4
        ring = self._ring
        for k in range(0, len(ring), 3):
            ring[k] = acc[0]
            ring[k + 1] = acc[1]
            ring[k + 2] = acc[2]
        if gyr is not None:
            self._bias[0] = gyr[0] << 4
            self._bias[1] = gyr[1] << 4
            self._bias[2] = gyr[2] << 4

    def _start_block(self, ma, mg, t, dropped, fa, fg, state):
        # Called at the end of each floor block of the start phase (after a (re)start,
        # HIST_BLOCKS blocks at most). Remembers the block; whenever the floors dropped,
        # checks whether the (re)start fell in a movement: the first block at ON or
        # above against the new floors, and the blocks from it while at OFF or above.
        # Events detected meanwhile (against the old, too high floors) are held back
        # (_emit), so those within that run become part of it. Returns 2 when the
        # movement from the start goes on (the caller turns to moving), else 0.
        k = self._n_hist
        if k >= HIST_BLOCKS:
            self._end_start_phase()
            return 0
        hist_a = self._hist_a
        hist_g = self._hist_g
        hist_t = self._hist_t
        hist_a[k] = ma
        hist_g[k] = mg
        hist_t[k] = t
        self._n_hist = k + 1
        if not dropped:
            return 0
        cfg = self.config
        fa_q4 = fa >> 8
        if fa_q4 < self._min_fa:
            fa_q4 = self._min_fa
        fg_q4 = fg >> 8
        if fg_q4 < self._min_fg:
            fg_q4 = self._min_fg
        if (hist_a[0] << 4) // fa_q4 < cfg.on_x16 and (hist_g[0] << 4) // fg_q4 < cfg.on_x16:
            return 0  # quiet against these floors: nothing missed (so far)
        pk_a = 0
        pk_g = 0
        pk_s = 0
        ch = 0
        m = 0
        while m <= k:
            sa = (hist_a[m] << 4) // fa_q4
            sg = (hist_g[m] << 4) // fg_q4
            if sa < cfg.off_x16 and sg < cfg.off_x16:
                break
            if hist_a[m] > pk_a:
                pk_a = hist_a[m]
            if hist_g[m] > pk_g:
                pk_g = hist_g[m]
            if sa > pk_s:
                pk_s = sa
            if sg > pk_s:
                pk_s = sg
            if sa >= cfg.on_x16:
                ch |= CH_ACCEL
            if sg >= cfg.on_x16:
                ch |= CH_GYRO
            m += 1
        # The run ends with block m - 1, less what the filters add (see _offset); it
        # lasts to now when every block so far is loud.
        end = t if m > k else hist_t[m - 1] - self._comp_a_ms
        if end <= self._t_start:
            end = self._t_start + 1000 // cfg.rate_hz
        held = self._held
        self._held = []
        self._n_hist = -1  # found: the start phase is over
        if state != _IDLE and self._onset <= end:
            # The movement detected now is part of the one from the start: it began
            # then. Held events (all before it) were parts of it too.
            self._onset = self._t_start
            if pk_a > self._pk_a:
                self._pk_a = pk_a
            if pk_g > self._pk_g:
                self._pk_g = pk_g
            if pk_s > self._pk_s:
                self._pk_s = pk_s
            self._ch |= ch
            return 0
        # Held events starting within the run belong to it; the others follow it.
        peak_mg = (pk_a * self._acc_num) // (16000 * self._acc_den)
        peak_dps = (pk_g * self._gyr_num) // (16000000 * self._gyr_den)
        offset = end
        later = 0
        for ev in held:
            if ev[0] > end:
                break
            later += 1
            if ev[1] > offset:
                offset = ev[1]
            if ev[2] > peak_mg:
                peak_mg = ev[2]
            if ev[3] > peak_dps:
                peak_dps = ev[3]
            if ev[5] > pk_s:
                pk_s = ev[5]
            ch |= ev[4]
        if m > k and state == _IDLE and later == len(held):
            # Still loud: the movement from the start goes on; the state machine ends it.
            self._onset = self._t_start
            self._pk_a = pk_a
            self._pk_g = pk_g
            self._pk_s = pk_s
            self._ch = ch
            self._last_a = t
            self._last_g = t
            self._below = -1
            rest = self._rest
            base = self._base
            base[0] = rest[0]
            base[1] = rest[1]
            base[2] = rest[2]
            return 2
        self.events.append((self._t_start, offset, peak_mg, peak_dps, ch, pk_s))
        while later < len(held):
            self.events.append(held[later])
            later += 1
        return 0

    def held_events(self):
        """Events detected in the start phase and not yet released to `events` (at most
        HELD_MAX, in time order). A device that may reset keeps a copy of them: a reset
        ends the stretch, and the detector would then have released them as they are."""
        return self._held

    def _end_start_phase(self):
        # The start phase is over without a movement at the start: events held back
        # go out as they were.
        self._n_hist = -1
        held = self._held
        if held:
            for ev in held:
                self.events.append(ev)
            self._held = []

    def _rest_from_ring(self, ring):
        # The rest posture := the mean posture over the lag ring (the last D samples).
        sx = 0
        sy = 0
        sz = 0
        n = len(ring) // 3
        for k in range(0, 3 * n, 3):
            sx += ring[k]
            sy += ring[k + 1]
            sz += ring[k + 2]
        rest = self._rest
        rest[0] = (sx << 4) // n
        rest[1] = (sy << 4) // n
        rest[2] = (sz << 4) // n

    def _away_from_rest(self, ring, fa_q4):
        # Mean posture over the lag ring (the last D samples) against the rest posture
        # at onset; "away" beyond max(3x the accel floor, hold_min). Once per movement.
        sx = 0
        sy = 0
        sz = 0
        n = len(ring) // 3
        for k in range(0, 3 * n, 3):
            sx += ring[k]
            sy += ring[k + 1]
            sz += ring[k + 2]
        base = self._base
        dev = abs((sx << 4) // n - base[0])
        dev += abs((sy << 4) // n - base[1])
        dev += abs((sz << 4) // n - base[2])
        lim = 3 * fa_q4
        if lim < self._hold_min:
            lim = self._hold_min
        return dev > lim

    def _offset(self, below):
        # `below` is the first sample after the movement. The filters outlive the
        # motion by a fixed number of samples: D + W for the accelerometer, W for the
        # gyroscope. The offset is the first motion-free sample: last above OFF + 1,
        # less that (see __init__), whichever signal ends later.
        period = 1000 // self.config.rate_hz
        offset = -1
        if self._last_a >= 0:
            offset = self._last_a - self._comp_a_ms
        if self._last_g >= 0 and self._last_g - self._comp_g_ms > offset:
            offset = self._last_g - self._comp_g_ms
        if offset < 0 or offset > below:
            offset = below
        if offset <= self._onset:
            offset = self._onset + period
        return offset

    def _emit(self, onset, offset):
        # Peaks: Q4 counts (L1 over axes) -> mg and deg/s, exact integer arithmetic.
        peak_mg = (self._pk_a * self._acc_num) // (16000 * self._acc_den)
        peak_dps = (self._pk_g * self._gyr_num) // (16000000 * self._gyr_den)
        ev = (onset, offset, peak_mg, peak_dps, self._ch, self._pk_s)
        if self._n_hist < 0:
            self.events.append(ev)
        elif len(self._held) < HELD_MAX:
            self._held.append(ev)  # the start phase: may become part of its movement
        else:
            self._end_start_phase()
            self.events.append(ev)

    def _emit_epoch(self, idx, n, active_ms, act, sx, sy, sz):
        # act is Q4 counts per sample; x epoch length / n gives counts*ms -> mg*s.
        num = self._acc_num
        den = self._acc_den
        act_mg_s = (act * num * self.config.epoch_ms) // (16 * den * n * 1000000)
        self.epochs.append(
            (
                idx,
                n,
                active_ms,
                act_mg_s,
                (sx * num) // (n * den * 1000),
                (sy * num) // (n * den * 1000),
                (sz * num) // (n * den * 1000),
            )
        )
