# MicroPython's `machine` module for the virtual board (the parts legsense uses), inside
# the MicroPython VM. I2C and the ADC go to the host's emulators through _vmhost (the
# runner's JS module), carrying the simulated time; sim_ticks_ms is the simulated clock
# (board_runner.mjs: it advances while the VM waits, at most `speed` times real time)
# that legsense_device.hal prefers when present. Timers run on that clock. Reset causes,
# the RTC and its memory behave as in the CPython shim: both use sim_machine_common.
# Pins the host drives (the IMU's interrupt line, VBUS sense) read the host's level.
# lightsleep() hands the wake sources (esp32.wake_on_ext0/ext1) to the host, which lets
# simulated time pass to the first of them (the IMU's FIFO reaching its threshold, a
# host event, the timer) while the VM stands still, as a sleeping chip does.

from binascii import hexlify, unhexlify

import _vmhost
import esp32 as _esp32
import sim_machine_common as _common

PWRON_RESET = _common.PWRON_RESET
HARD_RESET = _common.HARD_RESET
WDT_RESET = _common.WDT_RESET
DEEPSLEEP_RESET = _common.DEEPSLEEP_RESET
SOFT_RESET = _common.SOFT_RESET
PIN_WAKE = _common.EXT0_WAKE
EXT0_WAKE = _common.EXT0_WAKE
EXT1_WAKE = _common.EXT1_WAKE
TIMER_WAKE = _common.TIMER_WAKE
_wake = [_common.WAKE_UNDEFINED]
_sleeps = [0]  # light sleeps so far (_vm_board: the scheduler returns to JS after one)
_driven = tuple(int(x) for x in _vmhost.driven_pins().split(",") if x)  # the host drives
_FAULTS = {250: ValueError, 251: MemoryError}  # injected by the host (fault campaigns)

_timers = []


def sim_ticks_ms():
    return _vmhost.ticks_ms()


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2
    _levels = {}

    def __init__(self, pin_id, mode=-1, pull=-1, value=None):
        self.id = pin_id
        self.mode = mode
        if pin_id not in Pin._levels:
            Pin._levels[pin_id] = 1 if pull == Pin.PULL_UP else 0
        if value is not None:
            self.value(value)

    def __repr__(self):
        return "Pin(%d)" % self.id

    def init(self, mode=-1, pull=-1, value=None):
        self.__init__(self.id, mode, pull, value)

    def value(self, v=None):
        if v is None:
            if self.id in _driven:
                return _vmhost.pin_level(self.id)
            return Pin._levels[self.id]
        Pin._levels[self.id] = 1 if v else 0

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3):
        self._irq = (handler, trigger)  # nothing drives the inputs of the virtual board


def _pin_id(p):
    return p.id if isinstance(p, Pin) else p


class I2C:
    def __init__(self, bus_id=0, scl=None, sda=None, freq=400000):
        self._bus = (bus_id, _pin_id(scl), _pin_id(sda))
        self.freq = freq

    def _xfer(self, op, addr, reg, data, n):
        b = self._bus
        hexdata = hexlify(data).decode() if data else ""
        r = _vmhost.i2c(op, b[0], b[1], b[2], addr, reg, hexdata, n)
        if isinstance(r, int):
            if r in _FAULTS:
                raise _FAULTS[r]("injected fault")
            raise OSError(r)
        return r

    # Data come back as hex text: unhexlify is C, a JS byte array would be copied into
    # Python element by element (slow, and counted as the firmware's CPU time).
    def scan(self):
        return list(unhexlify(self._xfer("scan", 0, 0, None, 0)))

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        n = len(buf)
        buf[0:n] = unhexlify(self._xfer("rm", addr, memaddr, None, n))

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        return unhexlify(self._xfer("rm", addr, memaddr, None, nbytes))

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        self._xfer("wm", addr, memaddr, buf, 0)

    def readfrom(self, addr, nbytes, stop=True):
        return unhexlify(self._xfer("r", addr, 0, None, nbytes))

    def readfrom_into(self, addr, buf, stop=True):
        n = len(buf)
        buf[0:n] = unhexlify(self._xfer("r", addr, 0, None, n))

    def writeto(self, addr, buf, stop=True):
        self._xfer("w", addr, 0, buf, 0)
        return 1


class SoftI2C(I2C):
    pass


class WDT:
    def __init__(self, id=0, timeout=5000):
        if timeout < 1:
            raise ValueError("timeout")
        _vmhost.wdt_start(timeout)

    def feed(self):
        _vmhost.wdt_feed()


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, timer_id=0, **kwargs):
        self.id = timer_id
        self._handle = None
        if kwargs:
            self.init(**kwargs)

    def init(self, mode=PERIODIC, period=1000, callback=None, freq=None):
        self.deinit()
        if callback is None:
            return
        if freq:
            period = 1000 // freq
        period = max(1, int(period))
        fire = lambda: callback(self)  # noqa: E731
        if mode == Timer.ONE_SHOT:
            self._handle = _vmhost.set_timer(fire, period)
        else:
            self._handle = _vmhost.set_interval(fire, period)
        _timers.append(self)

    def deinit(self):
        if self._handle is not None:
            _vmhost.clear_timer(self._handle)
            self._handle = None


def _stop_timers():
    while _timers:
        _timers.pop().deinit()


class RTC:
    # Counts across resets except a power-on; its memory lives as long (the runner keeps
    # both and hands them to the next boot).
    def __init__(self, rtc_id=0):
        pass

    def datetime(self, dt=None):
        if dt is None:
            return _common.rtc_tuple(_vmhost.rtc_ms())
        _vmhost.rtc_set(_common.rtc_ms_of(dt))

    def init(self, dt):
        self.datetime(dt)

    def memory(self, data=None):
        if data is None:
            return unhexlify(_vmhost.rtc_memory(None) or "")
        _vmhost.rtc_memory(hexlify(_common.check_memory(data)).decode())


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    _FULL_SCALE_UV = (950000, 1250000, 1750000, 3100000)

    def __init__(self, pin, atten=None):
        self._pin = _pin_id(pin)
        self._atten = 0 if atten is None else atten

    def atten(self, value):
        self._atten = value

    def read_uv(self):
        return min(_vmhost.adc_uv(self._pin), ADC._FULL_SCALE_UV[self._atten])

    def read_u16(self):
        return min(65535, self.read_uv() * 65535 // 3100000)


def unique_id():
    return unhexlify(_vmhost.uid_hex())


def reset():
    _vmhost.reset("machine.reset()")


def soft_reset():
    _vmhost.reset("machine.soft_reset()")


def reset_cause():
    return _vmhost.reset_cause()


_freq = [240000000]


def freq(hz=None):
    if hz is None:
        return _freq[0]
    _freq[0] = hz


def idle():
    pass


def lightsleep(ms=None):
    ext0 = _esp32._config["ext0"]
    ext1 = _esp32._config["ext1"]
    _wake[0] = _vmhost.lightsleep(
        -1 if ms is None else int(ms),
        -1 if ext0 is None else ext0[0],
        1 if ext0 is not None and ext0[1] else 0,
        "" if ext1 is None else ",".join(str(p) for p in ext1[0]),
        1 if ext1 is not None and ext1[1] else 0,
    )
    _sleeps[0] += 1


sleep = lightsleep


def wake_reason():
    return _wake[0]


def deepsleep(ms=0):
    _vmhost.reset("machine.deepsleep()")
