"""Register-level emulator of the InvenSense MPU-6050 and MPU-6886 on the I2C bus.

Modelled (MPU-6000/6050 register map rev 4.2, MPU-6886 datasheet rev 1.1):
- the register map with reset values legsense depends on: WHO_AM_I 0x68 (MPU-6050) /
  0x19 (MPU-6886), PWR_MGMT_1 = 0x40 (MPU-6050, asleep) / 0x41 (MPU-6886), DEVICE_RESET;
- register auto-increment on every register except FIFO_R_W (0x74), which a burst read
  keeps reading;
- sample rate = internal rate / (1 + SMPLRT_DIV), internal rate 1 kHz for DLPF_CFG 1-6
  and 8 kHz for 0 and 7; SLEEP stops sampling; PWR_MGMT_2 standby bits zero those axes;
- full scales ACCEL_CONFIG.AFS_SEL and GYRO_CONFIG.FS_SEL, big-endian data registers,
  quantised with legsense_core.imu_scales and saturated at int16; temperature at a
  fixed temp_c;
- the 1024-byte FIFO: enabled by USER_CTRL.FIFO_EN, emptied by USER_CTRL.FIFO_RESET
  (self-clearing), filled each sample in register order with what FIFO_EN selects
  (MPU-6050: accel bit 3, temp bit 7, gyro X/Y/Z bits 6/5/4; MPU-6886: accel bit 3 and
  gyro bit 4, each also writing the temperature); FIFO_COUNTH/L (reading COUNTH latches
  the count); FIFO_R_W returns the last byte again when the FIFO is empty;
- overflow: the oldest bytes are dropped (byte granularity: frames lose alignment, as on
  the chip) and INT_STATUS.FIFO_OFLOW_INT is set; MPU-6886 with CONFIG.FIFO_MODE = 1
  keeps the old data and drops the new instead. INT_STATUS clears when read;
- the INT pin: INT_PIN_CFG (0x37) INT_LEVEL (bit 7, 1 = active low), LATCH_INT_EN (bit 5:
  1 = held until the status is cleared, 0 = a 50 us pulse per event) and INT_RD_CLEAR
  (bit 4: 1 = any register read clears the status, 0 = only reading it does); the
  sources INT_ENABLE (0x38) FIFO_OFLOW_EN (bit 4) and DATA_RDY_EN (bit 0), and on the
  MPU-6886 the FIFO watermark: FIFO_WM_TH (0x60 bits 1:0 and 0x61, in bytes), status
  FIFO_WM_INT (0x39 bit 6, set when a sample brings the count to the threshold or above,
  cleared by reading 0x39). The watermark interrupt is taken as enabled whenever the
  threshold is not 0: the MPU-6886 shares the ICM-20602's register map, whose text says
  so; the MPU-6886 datasheet's own description was not available to check it.
  `int_level()` is the pin's level now (a pulse is over before any read, so a pulsed
  interrupt shows only in `int_pulses`), `ticks_until_int()` how many samples until the
  pin is next asserted or pulsed.

Not modelled: filters and noise, offsets and self-test, the DMP, the auxiliary I2C
master and external-sensor FIFO data, FSYNC, wake-on-motion and low-power cycle modes,
open-drain output (INT_OPEN), SPI.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from legsense_core.imu_scales import scales

from legsense.simulation.i2c_bus import RegisterTarget
from legsense.simulation.imu_quantise import axes_to_counts

VARIANTS = {"mpu6050": 0x68, "mpu6886": 0x19}

SMPLRT_DIV = 0x19
CONFIG = 0x1A
GYRO_CONFIG = 0x1B
ACCEL_CONFIG = 0x1C
ACCEL_CONFIG2 = 0x1D
FIFO_EN = 0x23
INT_PIN_CFG = 0x37
INT_ENABLE = 0x38
FIFO_WM_INT_STATUS = 0x39  # MPU-6886
INT_STATUS = 0x3A
ACCEL_XOUT_H = 0x3B
TEMP_OUT_H = 0x41
GYRO_XOUT_H = 0x43
USER_CTRL = 0x6A
PWR_MGMT_1 = 0x6B
PWR_MGMT_2 = 0x6C
FIFO_COUNTH = 0x72
FIFO_COUNTL = 0x73
FIFO_R_W = 0x74
WHO_AM_I = 0x75
FIFO_WM_TH1 = 0x60  # MPU-6886: threshold bits 9:8
FIFO_WM_TH2 = 0x61  # MPU-6886: threshold bits 7:0

FIFO_BYTES = 1024
INT_FIFO_OFLOW = 0x10
INT_DATA_RDY = 0x01
FIFO_WM_INT = 0x40
PIN_ACTIVE_LOW = 0x80
PIN_LATCH = 0x20
PIN_RD_CLEAR = 0x10

_READ_ONLY = {INT_STATUS, FIFO_COUNTH, FIFO_COUNTL, WHO_AM_I, FIFO_WM_INT_STATUS}
_FS_G = (2, 4, 8, 16)
_FS_DPS = (250, 500, 1000, 2000)


def _be(values: Sequence[int]) -> bytes:
    return b"".join((v & 0xFFFF).to_bytes(2, "big") for v in values)


class MPU6Emulator(RegisterTarget):
    """One MPU chip: attach it to an EmulatedI2C and push() samples at its rate."""

    def __init__(self, variant: str = "mpu6050", temp_c: float = 25.0):
        if variant not in VARIANTS:
            raise ValueError(f"unknown MPU variant {variant!r} (known: {', '.join(VARIANTS)})")
        self.variant = variant
        self.temp_c = temp_c
        self.regs = bytearray(128)
        self.fifo: deque[int] = deque()
        self.samples_pushed = 0
        self.bytes_dropped = 0
        self.reset()

    def reset(self) -> None:
        """Power-on / DEVICE_RESET state."""
        self.regs[:] = bytes(128)
        self.regs[WHO_AM_I] = VARIANTS[self.variant]
        self.regs[PWR_MGMT_1] = 0x41 if self.variant == "mpu6886" else 0x40
        self.ptr = 0
        self.fifo.clear()
        self._int_status = 0
        self._wm_status = 0
        self._count_latch = 0
        self._last_fifo_byte = 0
        self.int_pulses = 0  # 50 us pulses given in pulse mode (LATCH_INT_EN = 0)

    @property
    def odr_hz(self) -> float:
        """Sample rate at which push() is expected (0 while asleep)."""
        if self.regs[PWR_MGMT_1] & 0x40:
            return 0.0
        dlpf = self.regs[CONFIG] & 0x07
        internal = 8000.0 if dlpf in (0, 7) else 1000.0
        return internal / (1 + self.regs[SMPLRT_DIV])

    def accel_fs_g(self) -> int:
        """Accelerometer full scale (ACCEL_CONFIG.AFS_SEL)."""
        return _FS_G[(self.regs[ACCEL_CONFIG] >> 3) & 3]

    def gyro_fs_dps(self) -> int:
        """Gyroscope full scale (GYRO_CONFIG.FS_SEL)."""
        return _FS_DPS[(self.regs[GYRO_CONFIG] >> 3) & 3]

    def temp_counts(self) -> int:
        """TEMP_OUT for temp_c (MPU-6050: /340 + 36.53; MPU-6886: /326.8 + 25)."""
        if self.variant == "mpu6886":
            return round((self.temp_c - 25.0) * 326.8)
        return round((self.temp_c - 36.53) * 340.0)

    # --- I2C target ------------------------------------------------------------------

    @staticmethod
    def _next(reg: int) -> int:
        return reg if reg == FIFO_R_W else (reg + 1) & 0x7F

    def _write_reg(self, reg: int, value: int) -> None:
        if reg in _READ_ONLY:
            return
        if reg == PWR_MGMT_1 and value & 0x80:
            self.reset()
            return
        if reg == FIFO_R_W:
            self._append(bytes((value,)))
            return
        if reg == USER_CTRL:
            if value & 0x04:
                self.fifo.clear()
            value &= ~0x07  # the reset bits clear themselves
        self.regs[reg] = value

    def _read_reg(self, reg: int) -> int:
        if self.regs[INT_PIN_CFG] & PIN_RD_CLEAR:  # any read clears every status
            v = self._read_value(reg)
            self._int_status = 0
            self._wm_status = 0
            return v
        return self._read_value(reg)

    def _read_value(self, reg: int) -> int:
        if reg == INT_STATUS:
            v = self._int_status
            self._int_status = 0
            return v
        if reg == FIFO_WM_INT_STATUS and self.variant == "mpu6886":
            v = self._wm_status
            self._wm_status = 0
            return v
        if reg == FIFO_COUNTH:
            self._count_latch = len(self.fifo)
            return (self._count_latch >> 8) & 0x1F
        if reg == FIFO_COUNTL:
            return self._count_latch & 0xFF
        if reg == FIFO_R_W:
            if self.fifo:
                self._last_fifo_byte = self.fifo.popleft()
            return self._last_fifo_byte
        return self.regs[reg]

    # --- data in ---------------------------------------------------------------------

    # --- the INT pin -------------------------------------------------------------------

    def watermark_bytes(self) -> int:
        """FIFO_WM_TH of the MPU-6886 (0 = no watermark interrupt; always 0 on the 6050)."""
        if self.variant != "mpu6886":
            return 0
        return ((self.regs[FIFO_WM_TH1] & 0x03) << 8) | self.regs[FIFO_WM_TH2]

    def _enabled_status(self) -> bool:
        return bool(self._int_status & self.regs[INT_ENABLE] & (INT_FIFO_OFLOW | INT_DATA_RDY)) or (
            bool(self._wm_status) and self.watermark_bytes() > 0
        )

    def _event(self, int_bit: int = 0, wm: bool = False) -> None:
        # A status bit is set. Latched, the pin follows the enabled status bits (held
        # until they are cleared); in pulse mode each enabled event is a 50 us pulse.
        self._int_status |= int_bit
        if wm:
            self._wm_status |= FIFO_WM_INT
        fires = (int_bit & self.regs[INT_ENABLE]) or (wm and self.watermark_bytes() > 0)
        if fires and not self.regs[INT_PIN_CFG] & PIN_LATCH:
            self.int_pulses += 1

    def int_active(self) -> bool:
        """Whether the INT pin is asserted now (latched mode; a pulse is never seen)."""
        return bool(self.regs[INT_PIN_CFG] & PIN_LATCH) and self._enabled_status()

    def int_level(self) -> int:
        """The INT pin's electrical level now (INT_LEVEL inverts it)."""
        low = bool(self.regs[INT_PIN_CFG] & PIN_ACTIVE_LOW)
        return int(self.int_active() != low)

    def ticks_until_int(self, limit: int = 100_000) -> int | None:
        """Samples until the INT pin is next asserted or pulsed: 0 if asserted now, None
        if no enabled source will fire within `limit` samples."""
        if self.int_active():
            return 0
        if self.odr_hz == 0.0:
            return None
        enable = self.regs[INT_ENABLE]
        if enable & INT_DATA_RDY:
            return 1
        packet = len(self._packet()) if self.regs[USER_CTRL] & 0x40 else 0
        if not packet:
            return None
        wm = self.watermark_bytes()
        count = len(self.fifo)
        for k in range(1, limit + 1):
            count += packet
            if wm and count >= wm:
                return k
            if count > FIFO_BYTES and enable & INT_FIFO_OFLOW:
                return k
            count = min(count, FIFO_BYTES)
        return None

    def _append(self, packet: bytes) -> None:
        excess = len(self.fifo) + len(packet) - FIFO_BYTES
        if excess > 0:
            self._event(INT_FIFO_OFLOW)
            if self.variant == "mpu6886" and self.regs[CONFIG] & 0x40:
                self.bytes_dropped += len(packet)
                return  # FIFO_MODE = 1: no writes once full
            for _ in range(excess):
                self.fifo.popleft()
            self.bytes_dropped += excess
        self.fifo.extend(packet)
        wm = self.watermark_bytes()
        if wm and len(self.fifo) >= wm:
            self._event(wm=True)

    def push(self, acc_g: Sequence[float], gyr_dps: Sequence[float] | None = None) -> None:
        """One sample period: update data registers, DATA_RDY, and the FIFO."""
        if self.odr_hz == 0.0:
            return
        acc_scale, gyr_scale = scales(self.variant, self.accel_fs_g(), self.gyro_fs_dps())
        standby = self.regs[PWR_MGMT_2]
        acc = list(axes_to_counts(acc_g, acc_scale))
        gyr = list(axes_to_counts(gyr_dps if gyr_dps is not None else (0, 0, 0), gyr_scale))
        for i in range(3):
            if standby & (0x20 >> i):
                acc[i] = 0
            if standby & (0x04 >> i):
                gyr[i] = 0
        temp = self.temp_counts() if not self.regs[PWR_MGMT_1] & 0x08 else 0
        self.regs[ACCEL_XOUT_H : ACCEL_XOUT_H + 6] = _be(acc)
        self.regs[TEMP_OUT_H : TEMP_OUT_H + 2] = _be((temp,))
        self.regs[GYRO_XOUT_H : GYRO_XOUT_H + 6] = _be(gyr)
        self._event(INT_DATA_RDY)
        self.samples_pushed += 1
        if self.regs[USER_CTRL] & 0x40:
            packet = self._packet()
            if packet:
                self._append(packet)

    def _packet(self) -> bytes:
        en = self.regs[FIFO_EN]
        r = self.regs
        if self.variant == "mpu6886":
            accel, temp, gyro = en & 0x08, en & 0x18, en & 0x10
            parts = []
            if accel:
                parts.append(r[ACCEL_XOUT_H : ACCEL_XOUT_H + 6])
            if temp:
                parts.append(r[TEMP_OUT_H : TEMP_OUT_H + 2])
            if gyro:
                parts.append(r[GYRO_XOUT_H : GYRO_XOUT_H + 6])
            return b"".join(parts)
        parts = []
        if en & 0x08:
            parts.append(r[ACCEL_XOUT_H : ACCEL_XOUT_H + 6])
        if en & 0x80:
            parts.append(r[TEMP_OUT_H : TEMP_OUT_H + 2])
        for bit, reg in ((0x40, GYRO_XOUT_H), (0x20, GYRO_XOUT_H + 2), (0x10, GYRO_XOUT_H + 4)):
            if en & bit:
                parts.append(r[reg : reg + 2])
        return b"".join(parts)
