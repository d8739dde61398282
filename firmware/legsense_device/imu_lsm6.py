# Driver for the ST LSM6DSOX / LSM6DSO (tagged FIFO) and LSM6DS3TR-C (pattern FIFO).
#
# Register addresses, bit fields and codes are from the ST datasheets (LSM6DSOX DS12814,
# LSM6DSO DS12140, LSM6DS3TR-C DS12402). Both families share CTRL1_XL/CTRL2_G/CTRL3_C
# and the ODR and full-scale codes; their FIFOs differ:
#   LSM6DSOX/DSO: 512 words of 7 bytes (tag + X,Y,Z little-endian) read from 0x78..0x7E;
#                 a burst read rolls back from 0x7E to 0x78, so many words come in one
#                 transfer. The tag names the sensor and a 2-bit time-slot counter.
#   LSM6DS3TR-C : 4 KB of untagged 16-bit words read from 0x3E/0x3F (rolls back to 0x3E);
#                 each sample is a pattern Gx Gy Gz Ax Ay Az (gyro data set first) and
#                 FIFO_PATTERN says which word of the pattern comes next.
# The FIFO runs in continuous mode: when full, the oldest data is overwritten and the
# overrun flag is raised; the driver counts those in `overflows`.
#
# Interrupt: the FIFO threshold is routed to INT1 (INT1_CTRL bit 3, the same on both
# families), so the pin rises when the FIFO holds `watermark` samples and falls when a
# read takes it below (a level, not latched: the MCU may sleep on it as a level wake
# source). CTRL3_C.H_LACTIVE sets the polarity the board needs. Without a watermark
# given (0), or one too large, the driver takes the largest the FIFO allows with room for
# the read itself (`capacity` less an eighth), so a sleeping MCU wakes as rarely as the
# FIFO permits.
#
# Accelerometer power modes (LSM6DSOX/DSO only; DS12814 CTRL5_C/CTRL6_C): high
# performance (reset), low-power/normal (CTRL6_C.XL_HM_MODE = 1, 1.8 mg RMS) and
# ultra-low-power (CTRL5_C.XL_ULP_EN = 1, 5.5 mg RMS). They apply with the gyroscope
# powered down only: ULP requires it, and the low-power accelerometer beside a running
# gyroscope saves little (the gyroscope draws most of the 0.55 mA) and is not modelled by
# the emulator. With the gyroscope on, or on the LSM6DS3TR-C (whose CTRL5_C bit 7 is
# something else), the accelerometer stays in high performance; `accel_power` says which
# mode is in effect. docs/firmware.md ("IMU power modes") gives the measured effect.
#
# read_fifo() allocates nothing: transfers go through memoryviews of fixed sizes made in
# configure(); a read of n words is split into power-of-two blocks.

try:
    from micropython import const  # type: ignore  (the CPython fallback differs in signature)
except ImportError:  # CPython

    def const(x):
        return x


from array import array

try:
    from time import sleep_ms  # type: ignore  (CPython fallback below)
except ImportError:  # CPython
    from time import sleep

    def sleep_ms(ms):
        sleep(ms / 1000)


from legsense_core.imu_scales import scales

WHO_AM_I = const(0x0F)
WHO_AM_I_LSM6DSOX = const(0x6C)  # also LSM6DSO: the two cannot be told apart by WHO_AM_I
WHO_AM_I_LSM6DS3TRC = const(0x6A)

_INT1_CTRL = const(0x0D)
_INT1_FIFO_TH = const(0x08)
_CTRL1_XL = const(0x10)
_CTRL2_G = const(0x11)
_CTRL3_C = const(0x12)
_CTRL3_BDU = const(0x40)
_CTRL3_H_LACTIVE = const(0x20)
_CTRL3_IF_INC = const(0x04)
_CTRL3_SW_RESET = const(0x01)
_CTRL5_C = const(0x14)
_CTRL5_XL_ULP_EN = const(0x80)
_CTRL6_C = const(0x15)
_CTRL6_XL_HM_MODE = const(0x10)
_FIFO_STATUS1 = const(0x3A)

# LSM6DSOX / LSM6DSO FIFO
_O_FIFO_CTRL1 = const(0x07)  # WTM[7:0]
_O_FIFO_CTRL2 = const(0x08)  # bit 0: WTM[8]
_O_FIFO_CTRL3 = const(0x09)  # BDR_GY[3:0] << 4 | BDR_XL[3:0]
_O_FIFO_CTRL4 = const(0x0A)  # FIFO_MODE[2:0]
_O_FIFO_DATA_OUT_TAG = const(0x78)
_O_STATUS2_OVR_LATCHED = const(0x08)
_O_TAG_GYRO = const(0x01)
_O_TAG_ACCEL = const(0x02)
_O_WORD = const(7)
_O_CAPACITY_WORDS = const(512)  # 3 KB of words without compression (not used here)
_O_MAX_WTM = const(511)  # WTM[8:0]

# LSM6DS3TR-C FIFO
_T_FIFO_CTRL1 = const(0x06)  # FTH[7:0]
_T_FIFO_CTRL2 = const(0x07)  # FTH[10:8]
_T_FIFO_CTRL3 = const(0x08)  # DEC_FIFO_GYRO[2:0] << 3 | DEC_FIFO_XL[2:0]
_T_FIFO_CTRL5 = const(0x0A)  # ODR_FIFO[3:0] << 3 | FIFO_MODE[2:0]
_T_FIFO_DATA_OUT_L = const(0x3E)
_T_STATUS2_OVER_RUN = const(0x40)
_T_STATUS2_EMPTY = const(0x10)
_T_CAPACITY_WORDS = const(2048)
_T_MAX_WTM = const(2047)  # FTH[10:0]

_FIFO_MODE_BYPASS = const(0)
_FIFO_MODE_CONTINUOUS = const(6)

# ODR codes (CTRL1_XL/CTRL2_G ODR, FIFO BDR and DS3TR-C ODR_FIFO use the same codes).
_ODR_HZ = (12.5, 26.0, 52.0, 104.0)
_ODR_CODE = (1, 2, 3, 4)
_FS_XL_CODE = {2: 0, 16: 1, 4: 2, 8: 3}
_FS_G_CODE = {125: 0x02, 250: 0x00, 500: 0x04, 1000: 0x08, 2000: 0x0C}  # incl. FS_125 bit

_RESET_POLLS = const(100)

NAMES = ("lsm6dsox", "lsm6dso", "lsm6ds3trc")
ACCEL_POWER_MODES = ("high_performance", "low_power", "ultra_low_power")
# (CTRL5_C, CTRL6_C) of each mode
_ACCEL_POWER_BITS = {
    "high_performance": (0, 0),
    "low_power": (0, _CTRL6_XL_HM_MODE),
    "ultra_low_power": (_CTRL5_XL_ULP_EN, 0),
}
_NO_SAMPLES = array("h")


def nearest_odr(odr_hz):
    """Return (code, hz) of the supported ODR nearest to odr_hz (12.5-104 Hz)."""
    if not 12.5 <= odr_hz <= 104:
        raise ValueError("ODR %s Hz outside 12.5-104 Hz" % odr_hz)
    best = 0
    for i in range(1, len(_ODR_HZ)):
        if abs(_ODR_HZ[i] - odr_hz) < abs(_ODR_HZ[best] - odr_hz):
            best = i
    return _ODR_CODE[best], _ODR_HZ[best]


class _LSM6Base:
    """What both LSM6 FIFO flavours share: registers, configuration, power."""

    word_bytes = 0  # bytes per FIFO word (set by subclasses)
    block_words = 0  # largest single FIFO transfer, a power of two (at most 1 KB)
    capacity_words = 0  # FIFO size in words
    max_wtm_words = 0  # largest threshold the register holds
    _data_reg = 0  # FIFO output register a burst starts at
    has_fifo_int = True  # the FIFO threshold can drive INT1
    low_power_accel = False  # the chip has the DSOX/DSO accelerometer power modes

    def __init__(self, i2c, address, name):
        if name not in NAMES:
            raise ValueError("not an LSM6 name: %r" % name)
        self.i2c = i2c
        self.address = address
        self.name = name
        self.gyro = False
        self.odr_hz = 0.0
        self.accel_power = "high_performance"  # the accelerometer mode in effect
        self.watermark = 0
        self.capacity = 0  # samples the FIFO holds with the configured sensors
        self.int1 = False  # the FIFO threshold drives INT1
        self.overflows = 0
        self.accel_scale, self.gyro_scale = scales(name, 2, 250)
        self._reg = bytearray(1)
        self._status = bytearray(4)
        self._status_mv = memoryview(self._status)
        self._status2_mv = self._status_mv[:2]  # slicing allocates on MicroPython: once
        self._buf = bytearray(self.block_words * self.word_bytes)
        mv = memoryview(self._buf)
        # Views of 32, 16, ..., 1 words: every read length is a sum of these.
        views = []
        n = self.block_words
        while n:
            views.append(mv[: n * self.word_bytes])
            n >>= 1
        self._views = tuple(views)

    def _write(self, reg, value):
        self._reg[0] = value
        self.i2c.writeto_mem(self.address, reg, self._reg)

    def _read(self, reg):
        self.i2c.readfrom_mem_into(self.address, reg, self._reg)
        return self._reg[0]

    def _reset(self):
        # SW_RESET takes about 50 us; poll it (1 ms apart, at most _RESET_POLLS ms).
        self._write(_CTRL3_C, _CTRL3_SW_RESET)
        for _ in range(_RESET_POLLS):
            try:
                if not self._read(_CTRL3_C) & _CTRL3_SW_RESET:
                    return
            except OSError:
                pass  # not acknowledging while it resets
            sleep_ms(1)
        raise OSError("%s at 0x%02x: software reset did not complete" % (self.name, self.address))

    def configure(
        self,
        odr_hz,
        accel_fs_g=2,
        gyro_fs_dps=250,
        gyro=True,
        watermark=0,
        int1=False,
        int1_active_low=False,
        accel_power="high_performance",
    ):
        """Reset the chip, set ODR and full scales, start the FIFO in continuous mode.

        odr_hz is rounded to the nearest supported rate (12.5, 26, 52, 104 Hz), which is
        returned. gyro=False powers the gyroscope down and keeps it out of the FIFO.
        watermark is in samples (the FIFO watermark flag rises at that level), at most
        the FIFO's capacity less an eighth, which 0 takes. int1=True routes the watermark
        to the INT1 pin, active low when int1_active_low. accel_power is one of
        ACCEL_POWER_MODES; it takes effect with the gyroscope off on an LSM6DSOX/DSO
        (else high performance), and `accel_power` says which mode runs.
        """
        code, hz = nearest_odr(odr_hz)
        if accel_power not in _ACCEL_POWER_BITS:
            raise ValueError("no accelerometer power mode %r" % (accel_power,))
        if accel_fs_g not in _FS_XL_CODE:
            raise ValueError("%s has no accelerometer range of %s g" % (self.name, accel_fs_g))
        if gyro_fs_dps not in _FS_G_CODE:
            raise ValueError("%s has no gyroscope range of %s dps" % (self.name, gyro_fs_dps))
        self.accel_scale, self.gyro_scale = scales(self.name, accel_fs_g, gyro_fs_dps)
        self.gyro = bool(gyro)
        self.odr_hz = hz
        self._reset()
        ctrl3 = _CTRL3_BDU | _CTRL3_IF_INC
        if int1_active_low:
            ctrl3 |= _CTRL3_H_LACTIVE
        self._write(_CTRL3_C, ctrl3)
        # The power mode before the ODR: the accelerometer is powered down after the
        # reset, where XL_ULP_EN may change.
        if gyro or not self.low_power_accel or accel_fs_g != 2:
            accel_power = "high_performance"
        ctrl5, ctrl6 = _ACCEL_POWER_BITS[accel_power]
        if self.low_power_accel:
            self._write(_CTRL5_C, ctrl5)
        self._write(_CTRL6_C, ctrl6)
        self.accel_power = accel_power
        self._write(_CTRL1_XL, (code << 4) | (_FS_XL_CODE[accel_fs_g] << 2))
        self._write(_CTRL2_G, ((code << 4) | _FS_G_CODE[gyro_fs_dps]) if gyro else 0)
        per = self._words_per_sample()
        self.capacity = self.capacity_words // per
        safe = self.capacity - self.capacity // 8  # room for the read itself
        if watermark <= 0 or watermark > safe:
            watermark = safe
        words = min(int(watermark) * per, self.max_wtm_words)
        self.watermark = words // per
        self._configure_fifo(code, words)
        self.int1 = bool(int1)
        self._write(_INT1_CTRL, _INT1_FIFO_TH if int1 else 0)
        return hz

    def _words_per_sample(self):
        raise NotImplementedError

    def power_down(self):
        """Stop both sensors (ODR power-down), the FIFO and its interrupt."""
        self._write(_INT1_CTRL, 0)
        self.int1 = False
        self._stop_fifo()
        self._write(_CTRL1_XL, 0)
        self._write(_CTRL2_G, 0)
        self.odr_hz = 0.0

    def _configure_fifo(self, code, words):
        raise NotImplementedError

    def _stop_fifo(self):
        raise NotImplementedError

    def _decode(self, b, nwords):
        raise NotImplementedError

    def _read_words(self, words):
        # Read `words` FIFO words in power-of-two blocks; yields nothing, calls _decode.
        while words:
            for view in self._views:
                nw = len(view) // self.word_bytes
                if nw <= words:
                    break
            self.i2c.readfrom_mem_into(self.address, self._data_reg, view)
            self._decode(view, nw)
            words -= nw


class LSM6DSOX(_LSM6Base):
    """LSM6DSOX / LSM6DSO: tagged FIFO words (TAG, X_L, X_H, Y_L, Y_H, Z_L, Z_H)."""

    word_bytes = _O_WORD
    block_words = 128  # 896 bytes: a batch of 64 samples with the gyro in one transfer
    capacity_words = _O_CAPACITY_WORDS
    max_wtm_words = _O_MAX_WTM
    _data_reg = _O_FIFO_DATA_OUT_TAG
    low_power_accel = True

    def __init__(self, i2c, address=0x6A, name="lsm6dsox"):
        super().__init__(i2c, address, name)
        # A sample with the gyro on is two words (one per sensor) of the same time slot
        # (TAG_CNT); after an overrun one of them may be gone, so words are paired here.
        self._pend = array("h", (0, 0, 0, 0, 0, 0))  # ax ay az gx gy gz
        self._pend_slot = -1
        self._pend_mask = 0
        self._acc = _NO_SAMPLES  # the caller's buffers while read_fifo() runs
        self._gyr = _NO_SAMPLES
        self._n = 0
        self._max = 0

    def _words_per_sample(self):
        return 2 if self.gyro else 1  # one tagged word per sensor

    def _configure_fifo(self, code, words):
        self._write(_O_FIFO_CTRL4, _FIFO_MODE_BYPASS)  # empties the FIFO
        self._write(_O_FIFO_CTRL1, words & 0xFF)
        self._write(_O_FIFO_CTRL2, words >> 8)
        self._write(_O_FIFO_CTRL3, ((code << 4) if self.gyro else 0) | code)
        self._write(_O_FIFO_CTRL4, _FIFO_MODE_CONTINUOUS)
        self._pend_slot = -1
        self._pend_mask = 0

    def _stop_fifo(self):
        self._write(_O_FIFO_CTRL4, _FIFO_MODE_BYPASS)
        self._write(_O_FIFO_CTRL3, 0)

    def _fifo_words(self):
        self.i2c.readfrom_mem_into(self.address, _FIFO_STATUS1, self._status2_mv)
        if self._status[1] & _O_STATUS2_OVR_LATCHED:  # latched; cleared by this read
            self.overflows += 1
        return self._status[0] | ((self._status[1] & 0x03) << 8)

    def fifo_level(self):
        """Samples waiting in the FIFO (complete or not yet paired)."""
        words = self._fifo_words()
        return words // 2 if self.gyro else words

    def read_fifo(self, acc, gyr, max_n):
        """Read up to max_n samples into acc (and gyr) counts; return how many."""
        words = self._fifo_words()
        if self.gyro:
            words = min(words, 2 * max_n - (1 if self._pend_mask else 0))
        else:
            words = min(words, max_n)
        if words <= 0:
            return 0
        self._acc = acc
        self._gyr = gyr
        self._n = 0
        self._max = max_n
        self._read_words(words)
        self._acc = _NO_SAMPLES
        self._gyr = _NO_SAMPLES
        return self._n

    def _decode(self, b, nwords):
        # Per word: tag, then three little-endian int16. Everything the loop touches is
        # a local (attribute and global look-ups cost more than the arithmetic on
        # MicroPython); the sign is taken without a branch: ((hi ^ 0x80) << 8 | lo) -
        # 32768 is the int16 of (hi, lo).
        acc = self._acc
        gyr = self._gyr
        n = self._n
        top = self._max
        end = nwords * _O_WORD
        i = 0
        if not self.gyro:
            while i < end:
                if b[i] >> 3 == _O_TAG_ACCEL and n < top:
                    j = 3 * n
                    acc[j] = (((b[i + 2] ^ 0x80) << 8) | b[i + 1]) - 32768
                    acc[j + 1] = (((b[i + 4] ^ 0x80) << 8) | b[i + 3]) - 32768
                    acc[j + 2] = (((b[i + 6] ^ 0x80) << 8) | b[i + 5]) - 32768
                    n += 1
                i += _O_WORD  # temperature, timestamp, config-change words: skipped
            self._n = n
            return
        pend = self._pend
        slot_p = self._pend_slot
        mask = self._pend_mask
        last_pair = end - 2 * _O_WORD
        while i < end:
            t = b[i]
            if mask == 0 and i <= last_pair and n < top:
                # The usual case: an accelerometer and a gyroscope word of one time slot
                # side by side (either order), nothing pending. Straight to the caller's
                # buffers; anything else goes word by word below.
                u = b[i + _O_WORD]
                if (t ^ u) & 0x06 == 0:  # same TAG_CNT
                    if t >> 3 == _O_TAG_ACCEL and u >> 3 == _O_TAG_GYRO:
                        ia = i
                        ig = i + _O_WORD
                    elif t >> 3 == _O_TAG_GYRO and u >> 3 == _O_TAG_ACCEL:
                        ia = i + _O_WORD
                        ig = i
                    else:
                        ia = -1
                        ig = 0
                    if ia >= 0:
                        j = 3 * n
                        acc[j] = (((b[ia + 2] ^ 0x80) << 8) | b[ia + 1]) - 32768
                        acc[j + 1] = (((b[ia + 4] ^ 0x80) << 8) | b[ia + 3]) - 32768
                        acc[j + 2] = (((b[ia + 6] ^ 0x80) << 8) | b[ia + 5]) - 32768
                        if gyr is not None:
                            gyr[j] = (((b[ig + 2] ^ 0x80) << 8) | b[ig + 1]) - 32768
                            gyr[j + 1] = (((b[ig + 4] ^ 0x80) << 8) | b[ig + 3]) - 32768
                            gyr[j + 2] = (((b[ig + 6] ^ 0x80) << 8) | b[ig + 5]) - 32768
                        n += 1
                        slot_p = -1
                        i += 2 * _O_WORD
                        continue
            tag = t >> 3
            if tag == _O_TAG_ACCEL:
                off = 0
                bit = 1
            elif tag == _O_TAG_GYRO:
                off = 3
                bit = 2
            else:
                i += _O_WORD
                continue
            slot = (t >> 1) & 0x03
            if slot != slot_p or mask & bit:
                slot_p = slot  # new time slot: an unpaired half is dropped
                mask = 0
            pend[off] = (((b[i + 2] ^ 0x80) << 8) | b[i + 1]) - 32768
            pend[off + 1] = (((b[i + 4] ^ 0x80) << 8) | b[i + 3]) - 32768
            pend[off + 2] = (((b[i + 6] ^ 0x80) << 8) | b[i + 5]) - 32768
            mask |= bit
            if mask == 3:
                mask = 0
                slot_p = -1
                if n < top:
                    j = 3 * n
                    acc[j] = pend[0]
                    acc[j + 1] = pend[1]
                    acc[j + 2] = pend[2]
                    if gyr is not None:
                        gyr[j] = pend[3]
                        gyr[j + 1] = pend[4]
                        gyr[j + 2] = pend[5]
                    n += 1
            i += _O_WORD
        self._n = n
        self._pend_slot = slot_p
        self._pend_mask = mask


class LSM6DS3TRC(_LSM6Base):
    """LSM6DS3TR-C: untagged 16-bit FIFO words in the pattern [Gx Gy Gz] Ax Ay Az."""

    word_bytes = 2
    block_words = 128
    capacity_words = _T_CAPACITY_WORDS
    max_wtm_words = _T_MAX_WTM
    _data_reg = _T_FIFO_DATA_OUT_L

    def __init__(self, i2c, address=0x6A, name="lsm6ds3trc"):
        super().__init__(i2c, address, name)
        self._acc = _NO_SAMPLES  # the caller's buffers while read_fifo() runs
        self._gyr = _NO_SAMPLES
        self._n = 0
        self._k = 0  # position within the current sample's pattern
        self._pattern = 0  # FIFO_PATTERN at the last status read

    def _pattern_words(self):
        return 6 if self.gyro else 3

    def _words_per_sample(self):
        return self._pattern_words()

    def _configure_fifo(self, code, words):
        self._write(_T_FIFO_CTRL5, _FIFO_MODE_BYPASS)
        self._write(_T_FIFO_CTRL1, words & 0xFF)
        self._write(_T_FIFO_CTRL2, words >> 8)
        # Decimation code 001 = every sample; 000 = data set not in the FIFO.
        self._write(_T_FIFO_CTRL3, (0x08 if self.gyro else 0) | 0x01)
        self._write(_T_FIFO_CTRL5, (code << 3) | _FIFO_MODE_CONTINUOUS)

    def _stop_fifo(self):
        self._write(_T_FIFO_CTRL5, _FIFO_MODE_BYPASS)
        self._write(_T_FIFO_CTRL3, 0)

    def _fifo_status(self):
        # FIFO_STATUS1..4 in one transfer: level, flags, pattern position.
        self.i2c.readfrom_mem_into(self.address, _FIFO_STATUS1, self._status_mv)
        s = self._status
        words = s[0] | ((s[1] & 0x07) << 8)
        if words == 0 and not s[1] & _T_STATUS2_EMPTY:
            words = _T_CAPACITY_WORDS  # DIFF_FIFO has 11 bits: a full FIFO reads 0
        if s[1] & _T_STATUS2_OVER_RUN:
            self.overflows += 1
        self._pattern = s[2] | ((s[3] & 0x03) << 8)  # not returned: a tuple would allocate
        return words

    def fifo_level(self):
        """Whole samples waiting in the FIFO."""
        return self._fifo_status() // self._pattern_words()

    def read_fifo(self, acc, gyr, max_n):
        """Read up to max_n samples into acc (and gyr) counts; return how many."""
        words = self._fifo_status()
        pattern = self._pattern
        pw = self._pattern_words()
        self._acc = acc
        self._gyr = gyr
        self._n = 0
        if pattern:
            # An overrun left the oldest sample partial: read its tail and drop it.
            skip = min(pw - pattern, words)
            self._k = -skip
            self._read_words(skip)
            words -= skip
        self._k = 0
        self._read_words(min(words // pw, max_n) * pw)
        self._acc = _NO_SAMPLES
        self._gyr = _NO_SAMPLES
        return self._n

    def _decode(self, b, nwords):
        if self._k < 0:  # discarding the tail of a partial sample
            self._k += nwords
            return
        acc = self._acc
        gyr = self._gyr
        gyro = self.gyro
        width = 6 if gyro else 3
        first_acc = 3 if gyro else 0
        k = self._k
        n = self._n
        j = 3 * n
        end = 2 * nwords
        i = 0
        while i < end:
            v = b[i] | (b[i + 1] << 8)
            if v & 0x8000:
                v -= 65536
            if k < first_acc:
                if gyr is not None:
                    gyr[j + k] = v
            else:
                acc[j + k - first_acc] = v
            k += 1
            if k == width:
                k = 0
                n += 1
                j += 3
            i += 2
        self._k = k
        self._n = n


def open_lsm6(i2c, address, name):
    """Return the driver object for an LSM6 chip `name` at `address`."""
    if name == "lsm6ds3trc":
        return LSM6DS3TRC(i2c, address, name)
    return LSM6DSOX(i2c, address, name)
