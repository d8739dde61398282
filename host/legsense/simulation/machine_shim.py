"""MicroPython's `machine` module for CPython, served by a SimBoard.

Install it only inside a context::

    board = SimBoard("virtual", trace=trace)
    with installed(board):
        import legsense_device.app   # its `import machine` gets this module
        ...

This module object itself becomes sys.modules["machine"]; its classes act on the
current board, so firmware modules imported under one board keep working under the
next. Outside the context `import machine` fails as on CPython and every call here
raises RuntimeError.

What it offers (the parts of the ESP32 port legsense uses): Pin (IN/OUT, pulls,
value/on/off, irq), I2C (the board's emulated bus when the pins match its wiring, an
empty bus otherwise), WDT (a starved one raises SimulatedReset from the clock), Timer
(periodic callbacks on simulated time), RTC, ADC (the battery behind its divider),
unique_id, reset, reset_cause, freq, idle, lightsleep and wake_reason (SimBoard.lightsleep:
time jumps to the first wake source), and sim_ticks_ms, the simulated ticks_ms that tells
legsense_device.hal it runs on a simulated board. The `esp32` module beside it
(esp32_shim: wake_on_ext0/ext1 on RTC GPIOs only) is installed with it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from legsense.simulation import esp32_shim
from legsense.simulation.i2c_bus import EmulatedI2C
from legsense.simulation.sim_board import SimBoard
from legsense.simulation.sim_clock import SimulatedReset
from legsense.simulation.vm_board.mp_lib import sim_machine_common as common

_board: SimBoard | None = None

# Reset causes as numbered by MicroPython's ESP32 port (shared with the VM's machine).
PWRON_RESET = common.PWRON_RESET
HARD_RESET = common.HARD_RESET
WDT_RESET = common.WDT_RESET
DEEPSLEEP_RESET = common.DEEPSLEEP_RESET
SOFT_RESET = common.SOFT_RESET
# machine.wake_reason() values (the ESP32 port's names).
PIN_WAKE = common.EXT0_WAKE
EXT0_WAKE = common.EXT0_WAKE
EXT1_WAKE = common.EXT1_WAKE
TIMER_WAKE = common.TIMER_WAKE


def current_board() -> SimBoard:
    """The board served now; RuntimeError outside installed()."""
    if _board is None:
        raise RuntimeError("no simulated board: use machine_shim.installed(board)")
    return _board


@contextlib.contextmanager
def installed(board: SimBoard) -> Iterator[SimBoard]:
    """Serve `board` as sys.modules["machine"] for the duration of the block."""
    global _board
    if _board is not None:
        raise RuntimeError("a simulated board is already installed")
    saved = {name: sys.modules.get(name) for name in ("machine", "esp32")}
    sys.modules["machine"] = sys.modules[__name__]
    sys.modules["esp32"] = esp32_shim
    _board = board
    try:
        yield board
    finally:
        _board = None
        for name, module in saved.items():
            if module is None:
                del sys.modules[name]
            else:
                sys.modules[name] = module


def sim_ticks_ms() -> int:
    """time.ticks_ms() of the simulated board (ms since its last boot)."""
    return current_board().ticks_ms()


class Pin:
    """A GPIO of the current board."""

    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, pin_id: int, mode: int = -1, pull: int | None = None, value=None):
        self.id = pin_id
        self._state = current_board().pin(pin_id)
        if mode != -1:
            self._state.mode = mode
        if value is not None:
            self.value(value)

    def __repr__(self) -> str:
        return f"Pin({self.id})"

    def value(self, v=None):
        """Read the level, or drive it when v is given (outputs only record writes)."""
        s = self._state
        if v is None:
            return s.read()
        s.level = 1 if v else 0
        s.history.append((current_board().clock.now_ns, s.level))
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self) -> None:
        self.value(1)

    def off(self) -> None:
        self.value(0)

    def irq(self, handler=None, trigger: int = IRQ_FALLING | IRQ_RISING):
        """Call handler(pin) on the chosen edges (driven by SimBoard.drive)."""
        self._state.irq_handler = handler
        self._state.irq_trigger = trigger


class I2C:
    """machine.I2C(id, scl=Pin, sda=Pin, freq=...): the board's bus if wired so."""

    def __new__(cls, bus_id: int, *, scl=None, sda=None, freq: int = 400_000):
        board = current_board()
        scl_id = getattr(scl, "id", scl)
        sda_id = getattr(sda, "id", sda)
        bus = board.bus
        if (bus_id, scl_id, sda_id) == (bus.bus_id, bus.scl, bus.sda):
            bus.freq = freq
            return bus
        # Other pins: nothing is connected there.
        return EmulatedI2C(bus_id, scl_id if scl_id is not None else -1, sda_id or -1, freq)


class WDT:
    """The hardware watchdog: cannot be stopped; starving it resets the board."""

    def __init__(self, id: int = 0, timeout: int = 5000):  # MicroPython's names
        if timeout < 1:
            raise ValueError("timeout must be >= 1 ms")
        self._clock = current_board().clock
        self._clock.start_watchdog(timeout)

    def feed(self) -> None:
        self._clock.feed_watchdog()


class Timer:
    """machine.Timer(id): periodic (or one-shot) callbacks on simulated time."""

    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, timer_id: int = 0):
        self.id = timer_id
        self._timer = None

    def init(self, mode: int = PERIODIC, period: int = 1000, callback=None) -> None:
        self.deinit()
        if callback is None:
            return
        clock = current_board().clock

        def fire() -> None:
            if mode == Timer.ONE_SHOT and self._timer is not None:
                self._timer.active = False
            callback(self)

        self._timer = clock.add_periodic(period, fire)

    def deinit(self) -> None:
        if self._timer is not None:
            self._timer.active = False
            self._timer = None


class RTC:
    """The RTC: counts across resets except a power-on (from 2000-01-01 then), and its
    memory (up to 2 KB) lives as long (sim_machine_common)."""

    def __init__(self, rtc_id: int = 0):
        self._board = current_board()

    def datetime(self, dt=None):
        """Get or set (year, month, day, weekday, hours, minutes, seconds, microseconds)."""
        b = self._board
        if dt is None:
            return common.rtc_tuple(b.rtc_ms())
        b.set_rtc_ms(common.rtc_ms_of(dt))
        return None

    def init(self, dt) -> None:
        self.datetime(dt)

    def memory(self, data=None):
        """Read the RTC memory, or replace it with data."""
        b = self._board
        if data is None:
            return b.rtc_memory
        b.rtc_memory = common.check_memory(data)
        return None


class ADC:
    """ADC(Pin(n)) on the current board: the battery divider's voltage, else 0 V."""

    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3

    def __init__(self, pin, atten: int | None = None):
        self.pin_id = getattr(pin, "id", pin)
        self._atten = self.ATTN_0DB if atten is None else atten

    def atten(self, value: int) -> None:
        self._atten = value

    def read_uv(self) -> int:
        """Calibrated microvolts (what the ESP32 port's read_uv returns)."""
        uv = current_board().adc_uv(self.pin_id)
        full_scale = {0: 950_000, 1: 1_250_000, 2: 1_750_000, 3: 3_100_000}[self._atten]
        return min(uv, full_scale)

    def read_u16(self) -> int:
        full_scale = 3_100_000
        return min(65535, self.read_uv() * 65535 // full_scale)


def unique_id() -> bytes:
    return current_board().uid


def reset() -> None:
    """A hard reset: the simulated program ends with SimulatedReset (raised here, and by
    the event loop at its next wait when this runs inside a task)."""
    b = current_board()
    reset = SimulatedReset("machine.reset()", b.clock.now_ns, "hard")
    b.clock.pending_reset = reset
    raise reset


def soft_reset() -> None:
    b = current_board()
    reset = SimulatedReset("machine.soft_reset()", b.clock.now_ns, "soft")
    b.clock.pending_reset = reset
    raise reset


def reset_cause() -> int:
    return current_board().reset_cause


def freq(hz: int | None = None) -> int | None:
    b = current_board()
    if hz is None:
        return b.cpu_hz
    b.cpu_hz = hz
    return None


def idle() -> None:
    """Wait for an interrupt: on a simulated board nothing is pending, so no-op."""


def lightsleep(ms: int | None = None) -> None:
    """Light sleep until a wake source fires (SimBoard.lightsleep): the timer (ms) or an
    ext0/ext1 level set with esp32.wake_on_ext0/ext1. A watchdog that expires meanwhile
    resets the board: SimulatedReset, raised again by the event loop at its next wait
    when this runs inside a task (as machine.reset() is)."""
    b = current_board()
    try:
        b.lightsleep(ms)
    except SimulatedReset as reset:
        b.clock.pending_reset = reset
        raise


sleep = lightsleep  # the old name, still in the ESP32 port


def wake_reason() -> int:
    """Why the last light sleep ended (EXT0_WAKE, EXT1_WAKE, TIMER_WAKE; 0: no sleep)."""
    return current_board().wake_cause
