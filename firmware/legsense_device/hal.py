# Hardware access layer: the one firmware module that touches `machine` and `time`.
#
# Everything above it (the app, the sampler, the LED and button logic) sees plain
# objects: a ticks_ms() clock, an awaitable sleep_ms(), the I2C bus of the board
# profile, LED and button pins, the watchdog, the battery, the chip's id, free heap
# and free flash, and light sleep: the wake sources (esp32.wake_on_ext0/ext1 on RTC
# GPIOs), machine.lightsleep() and when the event loop's next timed task is due. On
# CPython it runs against the `machine` and `esp32` shims of the simulation
# (legsense.simulation.machine_shim), which provide sim_ticks_ms: when `machine` has
# it, that is the time source, so the app's clock and the event loop's agree.

import gc
import os
from binascii import hexlify

import machine

try:
    import asyncio
except ImportError:  # MicroPython before 1.21
    import uasyncio as asyncio  # type: ignore

try:
    import esp32  # type: ignore  (ESP32 ports, and the simulations' own)
except ImportError:  # another port: no light sleep
    esp32 = None

from legsense_core.clock import ticks_add, ticks_diff  # noqa: F401  (re-exported for the app)

_sim_ticks = getattr(machine, "sim_ticks_ms", None)
if _sim_ticks is not None:
    ticks_ms = _sim_ticks  # a simulated board: its clock drives the event loop
else:
    import time

    ticks_ms = time.ticks_ms  # type: ignore  (MicroPython)

if hasattr(asyncio, "sleep_ms"):  # MicroPython
    sleep_ms = asyncio.sleep_ms  # type: ignore
else:  # CPython

    def sleep_ms(ms):
        """An awaitable pause of ms milliseconds."""
        return asyncio.sleep(ms / 1000)


# Input-only ESP32 GPIOs have no internal pull resistors (their boards pull up outside).
_NO_PULL_PINS = (34, 35, 36, 37, 38, 39)

_AXP192_ADDR = 0x34
_AXP192_VBAT_H = 0x78  # battery voltage, 12 bits (8 high + 4 low), 1.1 mV per LSB

# LiPo resting voltage -> charge (%), a typical single-cell curve at room temperature.
_LIPO_CURVE = (
    (4200, 100),
    (4100, 90),
    (4000, 78),
    (3900, 63),
    (3800, 45),
    (3700, 25),
    (3600, 10),
    (3500, 3),
    (3300, 0),
)


def make_i2c(profile):
    """The I2C bus of a board profile (machine.I2C on its pins and frequency)."""
    bus = profile["i2c"]
    return machine.I2C(
        bus["id"],
        scl=machine.Pin(bus["scl"]),
        sda=machine.Pin(bus["sda"]),
        freq=bus["freq_hz"],
    )


class Led:
    """The status LED of a profile ({"pin", "active_low"} or None: no LED, no-op)."""

    def __init__(self, spec):
        self._pin = None
        self._on = 1
        if spec is not None:
            self._on = 0 if spec["active_low"] else 1
            self._pin = machine.Pin(spec["pin"], machine.Pin.OUT, value=1 - self._on)

    def set(self, on):
        if self._pin is not None:
            self._pin.value(self._on if on else 1 - self._on)


class Button:
    """The user button of a profile ({"pin", "active_low"}); pressed() reads it raw."""

    def __init__(self, spec):
        self._active = 0 if spec["active_low"] else 1
        pin = spec["pin"]
        if pin in _NO_PULL_PINS:
            self._pin = machine.Pin(pin, machine.Pin.IN)
        else:
            pull = machine.Pin.PULL_UP if spec["active_low"] else machine.Pin.PULL_DOWN
            self._pin = machine.Pin(pin, machine.Pin.IN, pull)

    def pressed(self):
        return self._pin.value() == self._active

    def on_edge(self, handler):
        """Call handler() from the pin interrupt on every press and release edge."""
        self._pin.irq(lambda pin: handler(), machine.Pin.IRQ_FALLING | machine.Pin.IRQ_RISING)


if hasattr(asyncio, "ThreadSafeFlag"):  # MicroPython: set() is safe from an interrupt
    Flag = asyncio.ThreadSafeFlag  # type: ignore
else:  # CPython: interrupts of the simulated board run in the loop's thread

    class Flag:
        """set() from an interrupt handler, await wait() in a task (clears itself)."""

        def __init__(self):
            self._event = asyncio.Event()

        def set(self):
            self._event.set()

        async def wait(self):
            await self._event.wait()
            self._event.clear()


class Watchdog:
    """The hardware watchdog; once started it cannot be stopped (ESP32)."""

    def __init__(self, timeout_ms):
        self.timeout_ms = timeout_ms
        self._wdt = machine.WDT(timeout=timeout_ms)
        self._timer = None

    def feed(self):
        self._wdt.feed()

    def feed_from_timer(self, period_ms=1000):
        """Feed from a hardware timer from now on: after a crash, so the board stays at
        its REPL instead of resetting into the same crash again."""
        self._timer = machine.Timer(0)
        self._timer.init(
            mode=machine.Timer.PERIODIC, period=period_ms, callback=lambda t: self._wdt.feed()
        )


def lipo_percent(mv):
    """State of charge (%) of a resting LiPo cell at mv millivolts (linear between points)."""
    if mv >= _LIPO_CURVE[0][0]:
        return 100
    for i in range(1, len(_LIPO_CURVE)):
        v1, p1 = _LIPO_CURVE[i]
        if mv >= v1:
            v0, p0 = _LIPO_CURVE[i - 1]
            return p1 + (p0 - p1) * (mv - v1) // (v0 - v1)
    return 0


class Battery:
    """Battery voltage from the profile: an ADC pin behind a divider, or the AXP192 PMU."""

    def __init__(self, spec, i2c):
        self._adc = None
        self._i2c = None
        self._divider = 1.0
        if spec is None:
            return
        if spec["adc_pin"] == "axp192":
            self._i2c = i2c
            self._buf = bytearray(2)
        else:
            self._adc = machine.ADC(machine.Pin(spec["adc_pin"]))
            self._adc.atten(machine.ADC.ATTN_11DB)  # about 0.15-2.45 V at the pin
            self._divider = spec["divider"]

    def read_mv(self):
        """Battery millivolts, or -1 when the board cannot measure it."""
        try:
            if self._adc is not None:
                return int(self._adc.read_uv() * self._divider) // 1000
            if self._i2c is not None:
                self._i2c.readfrom_mem_into(_AXP192_ADDR, _AXP192_VBAT_H, self._buf)
                raw = (self._buf[0] << 4) | (self._buf[1] & 0x0F)
                return raw * 11 // 10
        except OSError:
            pass
        return -1


def unique_id():
    """The chip's unique id (the ESP32's MAC) as lowercase hex."""
    return hexlify(machine.unique_id()).decode()


def free_heap():
    """Free MicroPython heap in bytes, or -1 where there is no such figure (CPython)."""
    mem_free = getattr(gc, "mem_free", None)
    return mem_free() if mem_free is not None else -1


def collect():
    """Run the garbage collector (before measuring the heap or a long idle)."""
    gc.collect()


def free_flash(path="/"):
    """Free bytes of the filesystem holding path."""
    s = os.statvfs(path)
    return s[1] * s[4]  # fragment size * blocks available


class FlashSpace:
    """free_bytes() of the filesystem holding root: the NightLog's view of the flash."""

    def __init__(self, root):
        self.root = root

    def free_bytes(self):
        return free_flash(self.root)


def reset():
    """Hard reset of the board."""
    machine.reset()


# machine.reset_cause() -> one word. MicroPython's ESP32 port reports a brownout as a
# power-on and a panic (or machine.reset()) as a hard reset; the app tells a brownout
# from a real power-on by its RTC memory, which only a power-on clears.
_CAUSES = {
    getattr(machine, "PWRON_RESET", 1): "power-on",
    getattr(machine, "HARD_RESET", 2): "hard",
    getattr(machine, "WDT_RESET", 3): "watchdog",
    getattr(machine, "DEEPSLEEP_RESET", 4): "deepsleep",
    getattr(machine, "SOFT_RESET", 5): "soft",
}


def reset_cause():
    """Why the board booted: "power-on", "hard", "watchdog", "deepsleep" or "soft"."""
    try:
        return _CAUSES.get(machine.reset_cause(), "unknown")
    except Exception:
        return "unknown"


# The RTC counts milliseconds across every reset but a power-on (which restarts it at
# 2000-01-01); its memory (RTC slow RAM, up to 2 KB on the ESP32) survives the same.
_DAYS_BEFORE_MONTH = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


def _days_since_2000(year, month, day):
    y = year - 2000
    leap = (y + 3) // 4 - (y + 99) // 100 + (y + 399) // 400  # leap years before `year`
    days = 365 * y + leap + _DAYS_BEFORE_MONTH[month - 1] + day - 1
    if month > 2 and (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        days += 1
    return days


def rtc_ms():
    """The RTC in ms since 2000-01-01 (it keeps counting across resets, not power-on)."""
    y, mo, d, _wd, h, mi, s, sub = machine.RTC().datetime()
    return ((_days_since_2000(y, mo, d) * 24 + h) * 60 + mi) * 60000 + s * 1000 + sub // 1000


def rtc_memory(data=None):
    """Read (no argument) or replace the RTC memory: bytes that survive every reset
    except a power-on. Returns b"" where the board has none."""
    rtc = machine.RTC()
    mem = getattr(rtc, "memory", None)
    if mem is None:
        return b""
    if data is None:
        return mem()
    mem(data)
    return b""


def random_u64():
    """A random 64-bit number (the hardware RNG where there is one)."""
    urandom = getattr(os, "urandom", None)
    if urandom is not None:
        b = urandom(8)
        v = 0
        for x in b:
            v = (v << 8) | x
        return v
    import random

    return (random.getrandbits(32) << 32) | random.getrandbits(32)


# --- light sleep -------------------------------------------------------------------------

# machine.wake_reason() values (ESP-IDF esp_sleep_source_t, as the ESP32 port names them).
WAKE_EXT0 = getattr(machine, "EXT0_WAKE", 2)
WAKE_EXT1 = getattr(machine, "EXT1_WAKE", 3)
WAKE_TIMER = getattr(machine, "TIMER_WAKE", 4)


def can_sleep():
    """True where machine.lightsleep() and RTC-GPIO wake sources exist (the ESP32)."""
    return esp32 is not None and hasattr(machine, "lightsleep")


def set_wake_sources(ext0, ext1):
    """Choose the pins that end a light sleep: ext0 = (gpio, level) or None (one pin at a
    level), ext1 = (gpios, any_high) or None (any of them high, or all of them low).
    ValueError names a pin that is not an RTC GPIO (only those can wake the ESP32)."""
    if esp32 is None:
        raise ValueError("no esp32 module: this port cannot light-sleep")
    if ext0 is None:
        esp32.wake_on_ext0(None, esp32.WAKEUP_ALL_LOW)
    else:
        esp32.wake_on_ext0(machine.Pin(ext0[0]), ext0[1])
    if ext1 is None:
        esp32.wake_on_ext1(None, esp32.WAKEUP_ALL_LOW)
    else:
        pins = [machine.Pin(p) for p in ext1[0]]
        esp32.wake_on_ext1(pins, esp32.WAKEUP_ANY_HIGH if ext1[1] else esp32.WAKEUP_ALL_LOW)


def lightsleep(ms):
    """Light-sleep at most ms (RAM and the app's state kept); returns why it woke
    (WAKE_TIMER, WAKE_EXT0, WAKE_EXT1)."""
    machine.lightsleep(ms)
    try:
        return machine.wake_reason()
    except AttributeError:  # a port without it: the timer is all there is
        return WAKE_TIMER


def input_pin(pin):
    """A GPIO driven from outside (the IMU's INT1, a VBUS divider) as an input without
    pull resistors; read it with .value()."""
    return machine.Pin(pin, machine.Pin.IN)


_AXP192_BUF = bytearray(1)  # one register read, no allocation per check


def axp192_vbus(i2c):
    """True while the AXP192 PMU sees USB power (register 0x00 bit 5, VBUS present)."""
    buf = _AXP192_BUF
    try:
        i2c.readfrom_mem_into(_AXP192_ADDR, 0x00, buf)
    except OSError:
        return False
    return bool(buf[0] & 0x20)


def next_deadline_ms():
    """ms until the event loop's next timed task is due: 0 when one is ready now, -1
    when none waits on a timer (tasks waiting on a pin, a flag or input are not timed)."""
    core = getattr(asyncio, "core", None)
    queue = getattr(core, "_task_queue", None)
    if queue is not None:  # MicroPython: a heap of tasks keyed by their wake-up ticks
        task = queue.peek()
        if task is None:
            return -1
        return max(0, ticks_diff(task.ph_key, ticks_ms()))
    loop = asyncio.get_running_loop()  # CPython (the simulations)
    if loop._ready:  # type: ignore  (CPython's event loop internals)
        return 0
    best = -1.0
    now = loop.time()
    for handle in loop._scheduled:  # type: ignore
        if not handle.cancelled():
            left = (handle.when() - now) * 1000.0
            if best < 0 or left < best:
                best = left
    if best < 0:
        return -1
    if best <= 0.0:
        return 0  # due: it runs at the loop's next turn
    whole = int(best)
    return whole + 1 if whole < best else whole  # a timer not yet due is >= 1 ms away
