# Driver for the InvenSense MPU-6050 (GY-521 modules) and MPU-6886 (M5Stack boards).
#
# Registers from the MPU-6000/6050 Register Map (RM-MPU-6000A-00 rev 4.2) and the
# MPU-6886 datasheet (DS-000193). All sensor words are big-endian int16.
# The FIFO holds 1024 bytes. Data enter it at the sample rate, in register order:
#   MPU-6050: ACCEL X,Y,Z (FIFO_EN bit 3) then GYRO X,Y,Z (bits 6..4)  -> 6 or 12 bytes
#   MPU-6886: ACCEL_FIFO_EN/GYRO_FIFO_EN (bits 3/4) also write the temperature:
#             ACCEL X,Y,Z, TEMP, GYRO X,Y,Z                             -> 8 or 14 bytes
# When the FIFO overflows the oldest bytes are lost and INT_STATUS.FIFO_OFLOW_INT is
# set (cleared by reading INT_STATUS). The FIFO has no sample boundaries, so after an
# overflow the driver counts it and resets the FIFO: what follows is whole samples again.
# Interrupt: the MPU-6886 has a FIFO watermark (FIFO_WM_TH, in bytes; status
# FIFO_WM_INT_STATUS bit 6): the driver sets it to `watermark` samples and configures the
# INT pin latched (LATCH_INT_EN: held until the status is read, so a sleeping MCU can
# wake on the level even when the threshold was crossed just before it slept; a 50 us
# pulse could be missed), cleared only by reading the status (INT_RD_CLEAR = 0), with
# the polarity the board needs. The MPU-6050 has no watermark: `watermark` is kept for
# the app, which wakes on a timer sized to the FIFO (`has_fifo_int` is False).
# Without a watermark given (0), or with one too large, the driver takes the FIFO's
# capacity less an eighth.
#
# read_fifo() allocates nothing: FIFO_R_W is read in bursts through memoryviews made
# in __init__ (the register address does not advance while reading FIFO_R_W).

try:
    from micropython import const  # type: ignore  (the CPython fallback differs in signature)
except ImportError:  # CPython

    def const(x):
        return x


from legsense_core.imu_scales import scales

try:
    from time import sleep_ms  # type: ignore  (CPython fallback below)
except ImportError:  # CPython
    from time import sleep

    def sleep_ms(ms):
        sleep(ms / 1000)


WHO_AM_I = const(0x75)
WHO_AM_I_MPU6050 = const(0x68)
WHO_AM_I_MPU6886 = const(0x19)

_SMPLRT_DIV = const(0x19)
_CONFIG = const(0x1A)  # DLPF_CFG[2:0]; MPU-6886 bit 6 FIFO_MODE (0 = overwrite oldest)
_GYRO_CONFIG = const(0x1B)  # FS_SEL[1:0] << 3 (MPU-6886: FCHOICE_B[1:0] = 00)
_ACCEL_CONFIG = const(0x1C)  # AFS_SEL[1:0] << 3
_ACCEL_CONFIG2 = const(0x1D)  # MPU-6886 only: A_DLPF_CFG[2:0], ACCEL_FCHOICE_B = 0
_FIFO_EN = const(0x23)
_INT_PIN_CFG = const(0x37)
_INT_ENABLE = const(0x38)
_FIFO_WM_INT_STATUS = const(0x39)  # MPU-6886
_INT_STATUS = const(0x3A)
_FIFO_WM_TH1 = const(0x60)  # MPU-6886: threshold bits 9:8
_FIFO_WM_TH2 = const(0x61)  # MPU-6886: threshold bits 7:0
_PIN_ACTIVE_LOW = const(0x80)
_PIN_LATCH = const(0x20)
_USER_CTRL = const(0x6A)
_PWR_MGMT_1 = const(0x6B)
_PWR_MGMT_2 = const(0x6C)
_FIFO_COUNTH = const(0x72)
_FIFO_R_W = const(0x74)

_INT_FIFO_OFLOW = const(0x10)
_USER_FIFO_EN = const(0x40)
_USER_FIFO_RESET = const(0x04)
_PWR_DEVICE_RESET = const(0x80)
_PWR_SLEEP = const(0x40)
_STBY_GYRO = const(0x07)  # STBY_XG | STBY_YG | STBY_ZG
_STBY_ALL = const(0x3F)

_FS_CODE_G = {2: 0, 4: 1, 8: 2, 16: 3}
_FS_CODE_DPS = {250: 0, 500: 1, 1000: 2, 2000: 3}
# DLPF_CFG code and gyro bandwidth (Hz); the internal rate is 1 kHz for codes 1..6.
# The driver takes the widest bandwidth at most half the output rate (anti-aliasing).
_DLPF = ((1, 184), (2, 94), (3, 44), (4, 21), (5, 10), (6, 5))
_FIFO_BYTES = const(1024)
_BLOCK_SAMPLES = const(64)  # 896 bytes at most: a whole 64-sample burst in one transfer
_RESET_POLLS = const(200)

NAMES = ("mpu6050", "mpu6886")


def sample_rate_divider(odr_hz):
    """Return (SMPLRT_DIV, actual Hz) nearest to odr_hz with the 1 kHz internal rate."""
    if not 12.5 <= odr_hz <= 104:
        raise ValueError("ODR %s Hz outside 12.5-104 Hz" % odr_hz)
    d = int(1000 / odr_hz) - 1
    if abs(1000 / (d + 1) - odr_hz) > abs(1000 / (d + 2) - odr_hz):
        d += 1
    return d, 1000 / (d + 1)


def dlpf_code(odr_hz):
    """DLPF_CFG for an output rate: widest bandwidth <= odr/2."""
    for code, bw in _DLPF:
        if bw <= odr_hz / 2:
            return code
    return 6


class MPU6:
    """MPU-6050 / MPU-6886 with FIFO burst reads (same API as the LSM6 drivers)."""

    def __init__(self, i2c, address=0x68, name="mpu6050"):
        if name not in NAMES:
            raise ValueError("not an MPU-6 name: %r" % name)
        self.i2c = i2c
        self.address = address
        self.name = name
        self.gyro = False
        self.accel_power = "high_performance"  # no low-power modes driven here
        self.odr_hz = 0.0
        self.watermark = 0
        self.capacity = 0  # whole samples the FIFO holds with the configured sensors
        self.int1 = False  # the FIFO watermark drives the INT pin
        self.has_fifo_int = name == "mpu6886"
        self.overflows = 0
        self.accel_scale, self.gyro_scale = scales(name, 2, 250)
        self._temp_in_fifo = name == "mpu6886"
        self._sample_bytes = 6
        self._reg = bytearray(1)
        self._count = bytearray(2)
        self._buf = bytearray(_BLOCK_SAMPLES * 14)
        self._mv = memoryview(self._buf)
        self._views = ()

    def _write(self, reg, value):
        self._reg[0] = value
        self.i2c.writeto_mem(self.address, reg, self._reg)

    def _read(self, reg):
        self.i2c.readfrom_mem_into(self.address, reg, self._reg)
        return self._reg[0]

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
        """Reset the chip, set sample rate, filters and full scales, start the FIFO.

        Returns the actual rate 1000/(1+SMPLRT_DIV) nearest to odr_hz. gyro=False puts
        the gyroscope in standby and keeps it out of the FIFO. watermark is in samples
        (0: the largest the FIFO allows). int1=True drives the INT pin from the FIFO
        watermark (MPU-6886 only), active low when int1_active_low. accel_power is
        accepted for the LSM6 drivers' sake and ignored: the accelerometer runs in its
        normal mode (`accel_power` stays "high_performance").
        """
        div, hz = sample_rate_divider(odr_hz)
        if accel_fs_g not in _FS_CODE_G:
            raise ValueError("%s has no accelerometer range of %s g" % (self.name, accel_fs_g))
        if gyro_fs_dps not in _FS_CODE_DPS:
            raise ValueError("%s has no gyroscope range of %s dps" % (self.name, gyro_fs_dps))
        self.accel_scale, self.gyro_scale = scales(self.name, accel_fs_g, gyro_fs_dps)
        self.gyro = bool(gyro)
        self.odr_hz = hz
        # DEVICE_RESET clears itself when the reset is done (up to ~100 ms; the chip may
        # not acknowledge meanwhile): poll 1 ms apart, at most _RESET_POLLS ms.
        self._write(_PWR_MGMT_1, _PWR_DEVICE_RESET)
        for _ in range(_RESET_POLLS):
            try:
                if not self._read(_PWR_MGMT_1) & _PWR_DEVICE_RESET:
                    break
            except OSError:
                pass
            sleep_ms(1)
        else:
            raise OSError("%s at 0x%02x: device reset did not complete" % (self.name, self.address))
        # Wake up; clock from the gyro PLL (MPU-6886: auto-select), internal oscillator
        # on the MPU-6050 when its gyro is in standby.
        pll = 1 if (gyro or self._temp_in_fifo) else 0
        self._write(_PWR_MGMT_1, pll)
        self._write(_PWR_MGMT_2, 0 if gyro else _STBY_GYRO)
        self._write(_SMPLRT_DIV, div)
        self._write(_CONFIG, dlpf_code(hz))
        self._write(_GYRO_CONFIG, _FS_CODE_DPS[gyro_fs_dps] << 3)
        self._write(_ACCEL_CONFIG, _FS_CODE_G[accel_fs_g] << 3)
        if self._temp_in_fifo:
            self._write(_ACCEL_CONFIG2, dlpf_code(hz))
        self._write(_INT_ENABLE, _INT_FIFO_OFLOW)
        if self._temp_in_fifo:
            self._sample_bytes = 14 if gyro else 8
            fifo_en = 0x18 if gyro else 0x08
        else:
            self._sample_bytes = 12 if gyro else 6
            fifo_en = 0x78 if gyro else 0x08
        self.capacity = _FIFO_BYTES // self._sample_bytes
        safe = self.capacity - self.capacity // 8  # room for the read itself
        if watermark <= 0 or watermark > safe:
            watermark = safe
        self.watermark = int(watermark)
        self.int1 = bool(int1) and self.has_fifo_int
        if self.has_fifo_int:
            wm = self.watermark * self._sample_bytes if self.int1 else 0
            self._write(_FIFO_WM_TH1, wm >> 8)
            self._write(_FIFO_WM_TH2, wm & 0xFF)
        self._write(_INT_PIN_CFG, _PIN_LATCH | (_PIN_ACTIVE_LOW if int1_active_low else 0))
        views = []
        n = _BLOCK_SAMPLES
        while n:
            views.append(self._mv[: n * self._sample_bytes])
            n >>= 1
        self._views = tuple(views)
        self._write(_FIFO_EN, fifo_en)
        self._restart_fifo()
        return hz

    def _restart_fifo(self):
        self._write(_USER_CTRL, _USER_FIFO_RESET)
        self._write(_USER_CTRL, _USER_FIFO_EN)
        self._read(_INT_STATUS)  # clear a stale overflow flag

    def power_down(self):
        """FIFO and its interrupt off, all axes in standby, chip asleep."""
        if self.has_fifo_int:
            self._write(_FIFO_WM_TH1, 0)
            self._write(_FIFO_WM_TH2, 0)
            self._read(_FIFO_WM_INT_STATUS)  # release a latched pin
        self.int1 = False
        self._write(_USER_CTRL, 0)
        self._write(_FIFO_EN, 0)
        self._write(_PWR_MGMT_2, _STBY_ALL)
        self._write(_PWR_MGMT_1, _PWR_SLEEP)
        self.odr_hz = 0.0

    def _check_overflow(self):
        if self._read(_INT_STATUS) & _INT_FIFO_OFLOW:
            self.overflows += 1
            self._restart_fifo()
            return True
        return False

    def _fifo_bytes(self):
        self.i2c.readfrom_mem_into(self.address, _FIFO_COUNTH, self._count)
        return ((self._count[0] & 0x1F) << 8) | self._count[1]

    def fifo_level(self):
        """Whole samples waiting in the FIFO (0 right after an overflow reset)."""
        if self._check_overflow():
            return 0
        return self._fifo_bytes() // self._sample_bytes

    def read_fifo(self, acc, gyr, max_n):
        """Read up to max_n samples into acc (and gyr) counts; return how many."""
        if self._check_overflow():
            return 0
        sb = self._sample_bytes
        todo = min(self._fifo_bytes() // sb, max_n)
        g0 = 8 if self._temp_in_fifo else 6  # offset of GYRO_XOUT_H in a sample
        with_gyr = self.gyro and gyr is not None
        n = 0
        while todo:
            for view in self._views:
                k = len(view) // sb
                if k <= todo:
                    break
            self.i2c.readfrom_mem_into(self.address, _FIFO_R_W, view)
            b = view
            i = 0
            end = k * sb
            # Big-endian int16s, sign without a branch, locals only (see imu_lsm6._decode).
            if with_gyr and gyr is not None:  # (the second test: for the type checker)
                while i < end:
                    j = 3 * n
                    acc[j] = (((b[i] ^ 0x80) << 8) | b[i + 1]) - 32768
                    acc[j + 1] = (((b[i + 2] ^ 0x80) << 8) | b[i + 3]) - 32768
                    acc[j + 2] = (((b[i + 4] ^ 0x80) << 8) | b[i + 5]) - 32768
                    g = i + g0
                    gyr[j] = (((b[g] ^ 0x80) << 8) | b[g + 1]) - 32768
                    gyr[j + 1] = (((b[g + 2] ^ 0x80) << 8) | b[g + 3]) - 32768
                    gyr[j + 2] = (((b[g + 4] ^ 0x80) << 8) | b[g + 5]) - 32768
                    n += 1
                    i += sb
            else:
                while i < end:
                    j = 3 * n
                    acc[j] = (((b[i] ^ 0x80) << 8) | b[i + 1]) - 32768
                    acc[j + 1] = (((b[i + 2] ^ 0x80) << 8) | b[i + 3]) - 32768
                    acc[j + 2] = (((b[i + 4] ^ 0x80) << 8) | b[i + 5]) - 32768
                    n += 1
                    i += sb
            todo -= k
        if self.int1:
            self._read(_FIFO_WM_INT_STATUS)  # the latched pin falls (rises again if due)
        return n


def open_mpu6(i2c, address, name):
    """Return the driver object for an MPU chip `name` at `address`."""
    return MPU6(i2c, address, name)
