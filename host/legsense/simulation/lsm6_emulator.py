"""Register-level emulator of the ST LSM6DSOX / LSM6DSO / LSM6DS3TR-C on the I2C bus.

Modelled (from the datasheets):
- the 128-byte register map with reset values of the registers legsense uses,
  WHO_AM_I (0x6C for LSM6DSOX and LSM6DSO, 0x6A for LSM6DS3TR-C), read-only status
  registers, software reset (CTRL3_C.SW_RESET);
- address auto-increment when CTRL3_C.IF_INC = 1 (reset value), with the FIFO output
  windows rolling back (0x7E -> 0x78 tagged, 0x3F -> 0x3E untagged) so whole FIFO words
  come out of one burst; with IF_INC = 0 the pointer stays put;
- ODR (CTRL1_XL / CTRL2_G, power-down code 0) and full scale (FS_XL, FS_G, FS_125):
  values quantise with legsense_core.imu_scales and saturate at int16; the output
  registers OUTX_L_G..OUTZ_H_A hold the latest sample;
- FIFO in bypass (empties it), FIFO (stops when full) and continuous mode (overwrites the
  oldest word). LSM6DSOX/DSO: 512 words of TAG + 6 bytes (3 KB; ST's "9 KB" needs the
  3:1 compression, not modelled), batch rates BDR_XL/BDR_GY with decimation, TAG_CNT
  time slots, tag parity; FIFO_STATUS1/2 with DIFF_FIFO, WTM_IA, OVR_IA, FULL_IA and
  OVR_LATCHED (cleared by reading FIFO_STATUS2). LSM6DS3TR-C: 2048 16-bit words, the
  gyro data set before the accelerometer one, FIFO ODR with decimation, DEC_FIFO 000/001,
  FIFO_STATUS1..4 with DIFF_FIFO, FIFO_EMPTY, FIFO_FULL_SMART, OVER_RUN, WaterM and
  FIFO_PATTERN;
- the INT1 pin for the FIFO interrupts routed to it by INT1_CTRL (0x0D, the same bits on
  both families): FIFO threshold (bit 3: DSOX INT1_FIFO_TH, DS3TR-C INT1_FTH), FIFO
  overrun (bit 4) and FIFO full (bit 5). These are level signals, not latched: INT1
  follows the status flag (WTM_IA / WaterM, OVR_IA / OVER_RUN, FULL_IA / FIFO_FULL_SMART)
  and falls as soon as a read takes the FIFO below the condition; the latch setting
  (TAP_CFG LIR) applies only to the embedded-function interrupts, which are not
  modelled. Polarity: CTRL3_C.H_LACTIVE (bit 5, 1 = active low). `int1_level()` is the
  pin's electrical level now and `ticks_until_int1()` how many sample periods until it
  becomes active (the boards use it to wake a sleeping MCU at the right instant).

- the accelerometer's power modes of the LSM6DSOX/DSO (lsm6_power_modes): high
  performance (reset), low-power/normal (CTRL6_C.XL_HM_MODE = 1) and ultra-low-power
  (CTRL5_C.XL_ULP_EN = 1). A noisier mode adds, per axis, Gaussian noise of
  sqrt(rms_mode**2 - rms_hp**2) to the values pushed (which carry the high-performance
  noise already), drawn from a generator seeded by `noise_seed`, before quantising.
  Refused (NotImplementedError when a sample is pushed): a low-power mode with the
  gyroscope on, XL_ULP_EN together with XL_HM_MODE, a low-power mode at a full scale
  other than +-2 g, and the LSM6DS3TR-C's low-power mode.

Not modelled: filters, the high-performance noise (the traces carry it), low-power
modes' timing (turn-on, settling), FIFO compression, timestamps,
temperature and external-sensor batching, other FIFO modes (treated as bypass), DS3TR-C
decimation factors above 1 (NotImplementedError), INT2, data-ready and embedded-function
interrupts (routing one to INT1 raises NotImplementedError when the pin is read), the
open-drain output (CTRL3_C.PP_OD) and INT1's internal pull-down, the sensor hub, SPI.
`push()` is one tick of the fastest enabled ODR; a gyro at a different ODR than the
accelerometer is not modelled.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
from legsense_core.imu_scales import scales

from legsense.simulation.i2c_bus import RegisterTarget
from legsense.simulation.imu_quantise import axes_to_counts, rows_to_counts
from legsense.simulation.lsm6_power_modes import CTRL5_C, CTRL6_C, AccelPowerMode, mode_of_bits

VARIANTS = {"lsm6dsox": 0x6C, "lsm6dso": 0x6C, "lsm6ds3trc": 0x6A}

INT1_CTRL = 0x0D
WHO_AM_I = 0x0F
CTRL1_XL = 0x10
CTRL2_G = 0x11
CTRL3_C = 0x12
OUTX_L_G = 0x22
OUTX_L_A = 0x28
FIFO_STATUS1 = 0x3A
FIFO_STATUS2 = 0x3B
FIFO_STATUS3 = 0x3C
FIFO_STATUS4 = 0x3D

ODR_HZ = {
    1: 12.5,
    2: 26.0,
    3: 52.0,
    4: 104.0,
    5: 208.0,
    6: 416.0,
    7: 833.0,
    8: 1666.0,
    9: 3333.0,
    10: 6666.0,
}
_FS_G = {0: 2, 1: 16, 2: 4, 3: 8}
_FS_DPS = {0: 250, 1: 500, 2: 1000, 3: 2000}

# LSM6DSOX / LSM6DSO
O_FIFO_CTRL1 = 0x07
O_FIFO_CTRL2 = 0x08
O_FIFO_CTRL3 = 0x09
O_FIFO_CTRL4 = 0x0A
O_FIFO_DATA_OUT_TAG = 0x78
O_CAPACITY_WORDS = 512
TAG_GYRO = 0x01
TAG_ACCEL = 0x02

# LSM6DS3TR-C
T_FIFO_CTRL1 = 0x06
T_FIFO_CTRL2 = 0x07
T_FIFO_CTRL3 = 0x08
T_FIFO_CTRL5 = 0x0A
T_FIFO_DATA_OUT_L = 0x3E
T_CAPACITY_WORDS = 2048

MODE_BYPASS = 0
MODE_FIFO = 1
MODE_CONTINUOUS = 6

_READ_ONLY = {WHO_AM_I, FIFO_STATUS1, FIFO_STATUS2, FIFO_STATUS3, FIFO_STATUS4}

# INT1_CTRL bits (LSM6DSOX DS12814 / LSM6DS3TR-C DS12402, register 0x0D).
INT1_FIFO_TH = 0x08
INT1_FIFO_OVR = 0x10
INT1_FIFO_FULL = 0x20
_INT1_MODELLED = INT1_FIFO_TH | INT1_FIFO_OVR | INT1_FIFO_FULL
CTRL3_H_LACTIVE = 0x20


def tag_byte(tag: int, slot: int) -> int:
    """FIFO_DATA_OUT_TAG: TAG_SENSOR[7:3], TAG_CNT[2:1], TAG_PARITY[0] (even parity)."""
    b = (tag << 3) | ((slot & 3) << 1)
    return b | (bin(b).count("1") & 1)


class LSM6Emulator(RegisterTarget):
    """One LSM6 chip: attach it to an EmulatedI2C and push() samples at its ODR."""

    def __init__(
        self, variant: str = "lsm6dsox", accel_word_first: bool = False, noise_seed: int = 0
    ):
        """accel_word_first: order of the two words of a time slot in the tagged FIFO
        (the datasheet does not fix it; drivers must pair words by TAG_CNT).
        noise_seed seeds the extra noise of the accelerometer's low-power modes."""
        if variant not in VARIANTS:
            raise ValueError(f"unknown LSM6 variant {variant!r} (known: {', '.join(VARIANTS)})")
        self.variant = variant
        self.accel_word_first = accel_word_first
        self.tagged = variant != "lsm6ds3trc"
        self.capacity_words = O_CAPACITY_WORDS if self.tagged else T_CAPACITY_WORDS
        self.regs = bytearray(128)
        self.fifo: deque = deque()
        self.samples_pushed = 0
        self.words_overwritten = 0
        self._noise = np.random.default_rng(noise_seed)
        self.reset()

    # --- chip state ------------------------------------------------------------------

    def reset(self) -> None:
        """Power-on / software reset: registers to their reset values, FIFO empty."""
        self.regs[:] = bytes(128)
        self.regs[WHO_AM_I] = VARIANTS[self.variant]
        self.regs[CTRL3_C] = 0x04  # IF_INC
        self.ptr = 0
        self.fifo.clear()
        self._tick = 0
        self._slot = 0
        self._write_pos = 0  # DS3TR-C: pattern position of the next word written
        self._ovr_live = False
        self._ovr_latched = False

    @property
    def odr_hz(self) -> float:
        """Rate at which push() is expected: the fastest enabled ODR (0 = powered down)."""
        code = self._base_code()
        return ODR_HZ.get(code, 0.0)

    def _base_code(self) -> int:
        return max(self.regs[CTRL1_XL] >> 4, self.regs[CTRL2_G] >> 4) if self._any_on() else 0

    def _any_on(self) -> bool:
        return (self.regs[CTRL1_XL] >> 4) in ODR_HZ or (self.regs[CTRL2_G] >> 4) in ODR_HZ

    def accel_fs_g(self) -> int:
        """Accelerometer full scale set in CTRL1_XL."""
        return _FS_G[(self.regs[CTRL1_XL] >> 2) & 3]

    def gyro_fs_dps(self) -> int:
        """Gyroscope full scale set in CTRL2_G."""
        if self.regs[CTRL2_G] & 0x02:
            return 125
        return _FS_DPS[(self.regs[CTRL2_G] >> 2) & 3]

    def accel_power_mode(self) -> AccelPowerMode:
        """The accelerometer's power mode set in CTRL5_C/CTRL6_C; NotImplementedError
        for a combination this emulator does not model (see the module docstring)."""
        c5, c6 = self.regs[CTRL5_C], self.regs[CTRL6_C]
        mode = mode_of_bits(c5, c6)
        if mode is None:
            raise NotImplementedError(
                f"CTRL5_C = 0x{c5:02x}, CTRL6_C = 0x{c6:02x}: XL_ULP_EN with XL_HM_MODE "
                "is not an accelerometer power mode"
            )
        if mode.name == "high_performance":
            return mode
        if not self.tagged:
            raise NotImplementedError("the LSM6DS3TR-C's low-power mode is not modelled")
        if (self.regs[CTRL2_G] >> 4) in ODR_HZ:
            raise NotImplementedError(
                f"accelerometer {mode.name} with the gyroscope on is not modelled"
            )
        if self.accel_fs_g() != 2:
            raise NotImplementedError(
                f"accelerometer {mode.name} at +-{self.accel_fs_g()} g is not modelled"
            )
        return mode

    def _accel_extra_noise_g(self, xl_code: int) -> float:
        # Standard deviation to add to the pushed values in the current power mode.
        if xl_code not in ODR_HZ:
            return 0.0
        return self.accel_power_mode().extra_noise_g(ODR_HZ[xl_code])

    def fifo_mode(self) -> int:
        """FIFO_MODE[2:0] of FIFO_CTRL4 (tagged) or FIFO_CTRL5 (DS3TR-C)."""
        return self.regs[O_FIFO_CTRL4 if self.tagged else T_FIFO_CTRL5] & 0x07

    # --- I2C target ------------------------------------------------------------------

    def _next(self, reg: int) -> int:
        if not self.regs[CTRL3_C] & 0x04:
            return reg
        if self.tagged and reg == 0x7E:
            return O_FIFO_DATA_OUT_TAG
        if not self.tagged and reg == 0x3F:
            return T_FIFO_DATA_OUT_L
        return (reg + 1) & 0x7F

    def _write_reg(self, reg: int, value: int) -> None:
        if reg in _READ_ONLY:
            return
        if reg == CTRL3_C and value & 0x01:
            self.reset()  # SW_RESET clears itself
            return
        mode_reg = O_FIFO_CTRL4 if self.tagged else T_FIFO_CTRL5
        self.regs[reg] = value
        if reg == mode_reg and value & 0x07 == MODE_BYPASS:
            self._clear_fifo()

    def _clear_fifo(self) -> None:
        self.fifo.clear()
        self._write_pos = 0
        self._ovr_live = False

    def _read_reg(self, reg: int) -> int:
        if self.tagged:
            if reg == O_FIFO_DATA_OUT_TAG:
                self._pop_word_tagged()
            elif reg == FIFO_STATUS1:
                return len(self.fifo) & 0xFF
            elif reg == FIFO_STATUS2:
                return self._status2_tagged()
        else:
            if reg == T_FIFO_DATA_OUT_L:
                self._pop_word_untagged()
            elif reg == FIFO_STATUS1:
                return len(self.fifo) & 0xFF
            elif reg == FIFO_STATUS2:
                return self._status2_untagged()
            elif reg == FIFO_STATUS3:
                return self._head_pattern() & 0xFF
            elif reg == FIFO_STATUS4:
                return self._head_pattern() >> 8
        return self.regs[reg]

    # --- tagged FIFO (LSM6DSOX / LSM6DSO) --------------------------------------------

    def _pop_word_tagged(self) -> None:
        if self.fifo:
            word = self.fifo.popleft()
            self._ovr_live = False
        else:
            word = bytes(7)
        self.regs[0x78:0x7F] = word

    def _watermark_words(self) -> int:
        if self.tagged:
            return self.regs[O_FIFO_CTRL1] | ((self.regs[O_FIFO_CTRL2] & 1) << 8)
        return self.regs[T_FIFO_CTRL1] | ((self.regs[T_FIFO_CTRL2] & 7) << 8)

    def _status2_tagged(self) -> int:
        level = len(self.fifo)
        wtm = self._watermark_words()
        v = (level >> 8) & 0x03
        if self._ovr_latched:
            v |= 0x08
        if level >= self.capacity_words - self._words_per_tick():
            v |= 0x20  # FIFO_FULL_IA: full at the next batch
        if self._ovr_live:
            v |= 0x40
        if wtm and level >= wtm:
            v |= 0x80
        self._ovr_latched = False  # OVR_LATCHED is reset by reading FIFO_STATUS2
        return v

    # --- untagged FIFO (LSM6DS3TR-C) -------------------------------------------------

    def _pattern_len(self) -> int:
        c3 = self.regs[T_FIFO_CTRL3]
        return 3 * ((1 if c3 & 0x07 else 0) + (1 if c3 & 0x38 else 0)) or 1

    def _head_pattern(self) -> int:
        return (self._write_pos - len(self.fifo)) % self._pattern_len()

    def _pop_word_untagged(self) -> None:
        if self.fifo:
            value = self.fifo.popleft()
            self._ovr_live = False
        else:
            value = 0
        self.regs[0x3E] = value & 0xFF
        self.regs[0x3F] = (value >> 8) & 0xFF

    def _status2_untagged(self) -> int:
        level = len(self.fifo)
        fth = self._watermark_words()
        v = (level >> 8) & 0x07
        if level == 0:
            v |= 0x10
        if level >= self.capacity_words - self._pattern_len():
            v |= 0x20  # FIFO_FULL_SMART
        if self._ovr_live:
            v |= 0x40
        if fth and level >= fth:
            v |= 0x80
        return v

    # --- INT1 -------------------------------------------------------------------------

    def _int1_sources(self) -> int:
        routed = self.regs[INT1_CTRL]
        if routed & ~_INT1_MODELLED & 0xFF:
            raise NotImplementedError(
                f"INT1_CTRL = 0x{routed:02x}: only the FIFO interrupts (0x38) are modelled"
            )
        return routed

    def _int1_condition(self, level: int, overrun: bool) -> bool:
        # The flags INT1 follows, for a FIFO holding `level` words.
        routed = self._int1_sources()
        wtm = self._watermark_words()
        if routed & INT1_FIFO_TH and wtm and level >= wtm:
            return True
        if routed & INT1_FIFO_FULL and level >= self._full_words():
            return True
        return bool(routed & INT1_FIFO_OVR and overrun)

    def _full_words(self) -> int:
        # FIFO_FULL_IA (tagged) / FIFO_FULL_SMART (DS3TR-C): the next batch would not fit.
        if self.tagged:
            return self.capacity_words - self._words_per_tick()
        return self.capacity_words - self._pattern_len()

    def int1_active(self) -> bool:
        """Whether an interrupt routed to INT1 is asserted now (before the polarity)."""
        return self._int1_condition(len(self.fifo), self._ovr_live)

    def int1_level(self) -> int:
        """The INT1 pin's electrical level now (CTRL3_C.H_LACTIVE inverts it)."""
        active = self.int1_active()
        low = bool(self.regs[CTRL3_C] & CTRL3_H_LACTIVE)
        return int(active != low)

    def ticks_until_int1(self, limit: int = 100_000) -> int | None:
        """Sample periods (push() calls) until INT1 becomes active: 0 if it is now, None
        if it will not within `limit` periods (nothing routed, FIFO off, sensors off)."""
        if not self._int1_sources():
            return None
        level = len(self.fifo)
        overrun = self._ovr_live
        if self._int1_condition(level, overrun):
            return 0
        base = self._base_code()
        mode = self.fifo_mode()
        if base == 0 or mode not in (MODE_FIFO, MODE_CONTINUOUS):
            return None
        tick = self._tick
        for k in range(1, limit + 1):
            words = self._words_at(tick, base)
            tick += 1
            if words:
                room = self.capacity_words - level
                if words > room:
                    if mode != MODE_CONTINUOUS:
                        return None  # FIFO mode: the FIFO stops, nothing changes any more
                    overrun = True
                    level = self.capacity_words
                else:
                    level += words
            if self._int1_condition(level, overrun):
                return k
        return None

    def _words_at(self, tick: int, base: int) -> int:
        # FIFO words one push() at `tick` adds (the batching rules of _batch_*).
        xl_code = self.regs[CTRL1_XL] >> 4
        g_code = self.regs[CTRL2_G] >> 4
        if self.tagged:
            c3 = self.regs[O_FIFO_CTRL3]
            bdr_xl = min(c3 & 0x0F, xl_code) if xl_code in ODR_HZ else 0
            bdr_gy = min(c3 >> 4, g_code) if g_code in ODR_HZ else 0
            return int(self._due(tick, base, bdr_xl)) + int(self._due(tick, base, bdr_gy))
        odr_fifo = (self.regs[T_FIFO_CTRL5] >> 3) & 0x0F
        if odr_fifo == 0 or not self._due(tick, base, odr_fifo):
            return 0
        c3 = self.regs[T_FIFO_CTRL3]
        return 3 * ((1 if c3 & 0x07 else 0) + (1 if c3 & 0x38 else 0))

    # --- data in ---------------------------------------------------------------------

    def _words_per_tick(self) -> int:
        if self.tagged:
            c3 = self.regs[O_FIFO_CTRL3]
            return (1 if c3 & 0x0F else 0) + (1 if c3 & 0xF0 else 0)
        return self._pattern_len()

    def _store(self, word) -> None:
        if len(self.fifo) >= self.capacity_words:
            if self.fifo_mode() != MODE_CONTINUOUS:
                return  # FIFO mode: stops collecting when full
            self.fifo.popleft()
            self.words_overwritten += 1
            self._ovr_live = True
            self._ovr_latched = True
        self.fifo.append(word)

    def push(self, acc_g: Sequence[float], gyr_dps: Sequence[float] | None = None) -> None:
        """One sample period at odr_hz: update outputs and batch into the FIFO."""
        base = self._base_code()
        if base == 0:
            return
        xl_code = self.regs[CTRL1_XL] >> 4
        g_code = self.regs[CTRL2_G] >> 4
        acc_scale, gyr_scale = scales(self.variant, self.accel_fs_g(), self.gyro_fs_dps())
        extra = self._accel_extra_noise_g(xl_code)
        if extra:
            acc_g = [v + e for v, e in zip(acc_g, self._noise.normal(0.0, extra, 3), strict=True)]
        acc = axes_to_counts(acc_g, acc_scale) if xl_code in ODR_HZ else (0, 0, 0)
        gyr = (
            axes_to_counts(gyr_dps if gyr_dps is not None else (0.0, 0.0, 0.0), gyr_scale)
            if g_code in ODR_HZ
            else (0, 0, 0)
        )
        self._set_outputs(acc, gyr)
        self._batch(base, xl_code, g_code, acc, gyr)

    def push_rows(self, acc_rows, gyr_rows=None) -> None:
        """Many sample periods at once (rows of g and dps): the same as push() per row,
        with the quantisation done for all rows together (imu_quantise.rows_to_counts)."""
        base = self._base_code()
        n = len(acc_rows)
        if base == 0 or n == 0:
            return
        xl_code = self.regs[CTRL1_XL] >> 4
        g_code = self.regs[CTRL2_G] >> 4
        acc_scale, gyr_scale = scales(self.variant, self.accel_fs_g(), self.gyro_fs_dps())
        extra = self._accel_extra_noise_g(xl_code)
        if extra:
            acc_rows = np.asarray(acc_rows, dtype=float)
            acc_rows = acc_rows + self._noise.normal(0.0, extra, acc_rows.shape)
        acc = rows_to_counts(acc_rows, acc_scale) if xl_code in ODR_HZ else [(0, 0, 0)] * n
        if g_code in ODR_HZ and gyr_rows is not None:
            gyr = rows_to_counts(gyr_rows, gyr_scale)
        else:
            gyr = [(0, 0, 0)] * n
        for i in range(n):
            self._batch(base, xl_code, g_code, acc[i], gyr[i])
        self._set_outputs(acc[-1], gyr[-1])

    def _set_outputs(self, acc, gyr) -> None:
        for i in range(3):
            self.regs[OUTX_L_G + 2 * i : OUTX_L_G + 2 * i + 2] = (gyr[i] & 0xFFFF).to_bytes(
                2, "little"
            )
            self.regs[OUTX_L_A + 2 * i : OUTX_L_A + 2 * i + 2] = (acc[i] & 0xFFFF).to_bytes(
                2, "little"
            )

    def _batch(self, base, xl_code, g_code, acc, gyr) -> None:
        self.samples_pushed += 1
        tick = self._tick
        self._tick += 1
        mode = self.fifo_mode()
        if mode not in (MODE_FIFO, MODE_CONTINUOUS):
            return
        if self.tagged:
            self._batch_tagged(tick, base, xl_code, g_code, acc, gyr)
        else:
            self._batch_untagged(tick, base, xl_code, g_code, acc, gyr)

    @staticmethod
    def _due(tick: int, base: int, code: int) -> bool:
        # A rate `code` below the tick rate `base` takes every 2**(base-code)-th tick.
        return code > 0 and tick % (1 << max(base - code, 0)) == 0

    def _batch_tagged(self, tick, base, xl_code, g_code, acc, gyr) -> None:
        c3 = self.regs[O_FIFO_CTRL3]
        bdr_xl = min(c3 & 0x0F, xl_code) if xl_code in ODR_HZ else 0
        bdr_gy = min(c3 >> 4, g_code) if g_code in ODR_HZ else 0
        wrote = False
        words = [(TAG_GYRO, bdr_gy, gyr), (TAG_ACCEL, bdr_xl, acc)]
        if self.accel_word_first:
            words.reverse()
        for tag, code, xyz in words:
            if self._due(tick, base, code):
                data = b"".join((v & 0xFFFF).to_bytes(2, "little") for v in xyz)
                self._store(bytes((tag_byte(tag, self._slot),)) + data)
                wrote = True
        if wrote:
            self._slot = (self._slot + 1) & 3

    def _batch_untagged(self, tick, base, xl_code, g_code, acc, gyr) -> None:
        odr_fifo = (self.regs[T_FIFO_CTRL5] >> 3) & 0x0F
        if odr_fifo == 0 or not self._due(tick, base, odr_fifo):
            return
        c3 = self.regs[T_FIFO_CTRL3]
        dec_xl, dec_g = c3 & 0x07, (c3 >> 3) & 0x07
        if dec_xl > 1 or dec_g > 1:
            raise NotImplementedError("LSM6DS3TR-C FIFO decimation above 1 is not modelled")
        sets = []
        if dec_g:
            sets.append(gyr if g_code in ODR_HZ else (0, 0, 0))
        if dec_xl:
            sets.append(acc if xl_code in ODR_HZ else (0, 0, 0))
        for xyz in sets:
            for v in xyz:
                self._store(v & 0xFFFF)
                self._write_pos = (self._write_pos + 1) % self._pattern_len()
