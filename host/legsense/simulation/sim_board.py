"""A simulated legsense board: the hardware the `machine` shim exposes to the firmware.

Wired like a board profile (firmware/boards/*.json): an emulated I2C bus with the
board's IMU emulator at its address, GPIO levels (LED out, button in), a battery behind
its ADC divider, a unique id, and a SimClock with the watchdog and timers. The IMU is
fed from a Trace through a TraceFeeder, advanced to the current simulated time on every
bus access (so the FIFO holds exactly what a real chip would hold when it is read).

Simulated time is true time. Trace time 0 plays at `trace_start_ms` of it: the trace is
what the leg does, in true time. Two oscillators can be off, as on a real board:

* `imu_clock_ppm`: the IMU's own oscillator runs fast (+) or slow (-), so its output
  data rate is off by that much (datasheets allow about +/-1 %): it takes its samples at
  k / (ODR (1 + ppm)) of true time, each showing the leg as it is at that instant;
* `mcu_clock_ppm`: the ESP32's crystal runs fast or slow (tens of ppm), and with it
  everything the firmware counts time with: time.ticks_ms() and the RTC. The event
  loop's sleeps are not skewed (tens of ppm of a poll period are microseconds).

The IMU's interrupt line is wired to the profile's `imu.int1_pin`: that GPIO reads the
emulator's INT1 (LSM6) or INT (MPU) level. A profile with a GPIO `usb.vbus` reads 1 on
it while USB power is present (`usb_powered`, `set_usb()`). `lightsleep(ms)` is
machine.lightsleep(): simulated time jumps to the first wake source that fires (the
timer, or an ext0/ext1 level: the IMU's interrupt at the instant its FIFO reaches the
threshold, an outside event scheduled with `schedule()`), or to the watchdog's reset;
every sleep is logged in `sleeps` (start, end, cause).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from legsense_device import board as board_profiles

from legsense.simulation.i2c_bus import EmulatedI2C
from legsense.simulation.lsm6_emulator import VARIANTS as LSM6_VARIANTS
from legsense.simulation.lsm6_emulator import LSM6Emulator
from legsense.simulation.mpu6_emulator import MPU6Emulator
from legsense.simulation.sim_clock import SimClock
from legsense.simulation.trace_feeder import TraceFeeder
from legsense.simulation.vm_board.mp_lib import sim_machine_common as common
from legsense.trace import Trace

BOARDS_DIR = Path(__file__).resolve().parents[3] / "firmware" / "boards"
DEFAULT_UID = bytes.fromhex("240ac4a1b2c3")  # an Espressif-style MAC


def still_trace(acc_g: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> Trace:
    """A leg lying still (one row, held for ever by the feeder's sample-and-hold)."""
    return Trace(
        t_s=np.zeros(1),
        acc_g=np.asarray([acc_g], dtype=float),
        gyr_dps=np.zeros((1, 3)),
        meta={},
    )


def load_profile(name: str) -> dict:
    """A board profile from firmware/boards, validated as the firmware does."""
    with open(BOARDS_DIR / f"{name}.json", "rb") as f:
        return board_profiles.validate(json.load(f), name)


@dataclass
class PinState:
    """One GPIO: its level, what drives it and an optional IRQ handler."""

    level: int = 0
    mode: int = -1  # -1 never configured; Pin.IN / Pin.OUT once it is
    history: list[tuple[int, int]] = field(default_factory=list)  # (ns, level) writes
    irq_handler: object = None
    irq_trigger: int = 0
    source: Callable[[], int] | None = None  # a chip driving the line (the IMU's INT)

    def read(self) -> int:
        """The level on the pin now."""
        return self.source() if self.source is not None else self.level


@dataclass
class Sleep:
    """One machine.lightsleep(): when it began and ended (ns) and what woke the chip."""

    start_ns: int
    end_ns: int
    cause: int


class _ClockedTarget:
    """Puts the IMU emulator on the bus, catching its samples up before each transfer."""

    def __init__(self, board: SimBoard, emulator):
        self.board = board
        self.emulator = emulator

    def i2c_write(self, data: bytes) -> None:
        self.board.advance_imu()
        self.board.take_fault()
        self.emulator.i2c_write(data)

    def i2c_read(self, n: int) -> bytes:
        self.board.advance_imu()
        self.board.take_fault()
        return self.emulator.i2c_read(n)


class SimBoard:
    """Everything the `machine` shim serves for one simulated board."""

    def __init__(
        self,
        profile: dict | str = "virtual",
        imu: str | None = "lsm6dsox",
        address: int | None = None,
        trace: Trace | None = None,
        trace_start_ms: int = 0,
        imu_clock_ppm: float = 0.0,
        mcu_clock_ppm: float = 0.0,
        battery_mv: int = 3900,
        uid: bytes = DEFAULT_UID,
        clock: SimClock | None = None,
        usb_powered: bool = True,
    ):
        self.profile = load_profile(profile) if isinstance(profile, str) else profile
        self.clock = clock or SimClock()
        self.uid = uid
        self.battery_mv = battery_mv
        self.reset_cause = common.PWRON_RESET
        self.cpu_hz = 240_000_000
        self.mcu_ppb = round(mcu_clock_ppm * 1000)  # the crystal's error, parts per 10^9
        self.rtc_offset_ns = 0  # RTC (ns since 2000-01-01) minus the crystal's time
        self.rtc_memory = b""  # machine.RTC().memory(): survives resets but power-on
        self.boot_ns = self.clock.now_ns  # ticks_ms() counts from the last boot
        self.resets: list[tuple[int, str]] = []  # (ns, kind) of every reset
        self.fault: BaseException | None = None  # raised by the next IMU transfer
        self.pins: dict[int, PinState] = {}
        i2c = self.profile["i2c"]
        self.bus = EmulatedI2C(i2c["id"], i2c["scl"], i2c["sda"], i2c["freq_hz"])
        self.imu = None
        self.feeder: TraceFeeder | None = None
        self.trace_start_ns = trace_start_ms * 1_000_000
        imu_clock_factor = 1.0 + imu_clock_ppm / 1e6
        if imu is not None:
            self.imu = LSM6Emulator(imu) if imu in LSM6_VARIANTS else MPU6Emulator(imu)
            family = "lsm6" if imu in LSM6_VARIANTS else "mpu6"
            if address is None:
                matches = [a for f, a in self.profile["imu"]["candidates"] if f == family]
                if not matches:
                    raise ValueError(f"board {self.profile['name']} lists no {family} address")
                address = int(matches[0])
            self.bus.attach(address, _ClockedTarget(self, self.imu))
            self.feeder = TraceFeeder(
                self.imu,
                trace if trace is not None else still_trace(),
                rate_factor=imu_clock_factor,
            )
        button = self.profile.get("button")
        if button is not None:  # released: the inactive level
            self.pin(button["pin"]).level = 1 if button["active_low"] else 0
        int1 = self.profile["imu"].get("int1_pin")
        if int1 is not None and self.imu is not None:
            self.pin(int1).source = self._int_level
        self.rtc_pins = tuple(board_profiles.MCUS[self.profile["mcu"]]["rtc"])
        vbus = self.profile["usb"].get("vbus")
        self.vbus_pin = vbus if isinstance(vbus, int) else None
        self.usb_powered = usb_powered
        if self.vbus_pin is not None:
            self.pin(self.vbus_pin).level = 1 if usb_powered else 0
        self.ext0: tuple[int, bool] | None = None  # esp32.wake_on_ext0
        self.ext1: tuple[tuple[int, ...], bool] | None = None  # esp32.wake_on_ext1
        self.wake_cause = common.WAKE_UNDEFINED
        self.sleeps: list[Sleep] = []

    # --- resets and the RTC -------------------------------------------------------------

    def crystal_ns(self, ns: int) -> int:
        """What the MCU's crystal has counted by true time ns (mcu_clock_ppm applied)."""
        return ns + ns * self.mcu_ppb // 1_000_000_000

    def ticks_ms(self) -> int:
        """time.ticks_ms(): ms since the last boot, wrapped at 2**30 as on the ESP32."""
        elapsed = self.crystal_ns(self.clock.now_ns) - self.crystal_ns(self.boot_ns)
        return (elapsed // 1_000_000) % (1 << 30)

    def rtc_ms(self) -> int:
        """The RTC in ms since 2000-01-01 (counts across resets but a power-on)."""
        return (self.crystal_ns(self.clock.now_ns) + self.rtc_offset_ns) // 1_000_000

    def set_rtc_ms(self, ms: int) -> None:
        self.rtc_offset_ns = ms * 1_000_000 - self.crystal_ns(self.clock.now_ns)

    def restart(self, kind: str, boot_ms: int = common.BOOT_MS) -> None:
        """The board resets (kind: sim_machine_common.RESET_KINDS) and boots again:
        the watchdog and timers stop, the RTC and its memory live unless the power went,
        and boot_ms pass before the firmware runs again (the IMU keeps sampling, unless
        it lost power too)."""
        cause, keeps_rtc = common.after_reset(kind)
        self.resets.append((self.clock.now_ns, kind))
        self.clock.stop_hardware()
        self.fault = None
        if not keeps_rtc:
            self.rtc_memory = b""
            if self.imu is not None:
                self.advance_imu()
                self.imu.reset()  # the IMU was on the same supply
        for p in self.pins.values():
            p.irq_handler = None
        self.ext0 = None
        self.ext1 = None
        self.wake_cause = common.WAKE_UNDEFINED
        self.reset_cause = cause
        self.clock.advance(boot_ms / 1000)
        self.boot_ns = self.clock.now_ns
        if not keeps_rtc:
            self.rtc_offset_ns = -self.crystal_ns(self.clock.now_ns)  # from 2000-01-01 00:00

    def take_fault(self) -> None:
        """Raise the injected fault, once (fault campaigns: an exception in a task)."""
        fault = self.fault
        if fault is not None:
            self.fault = None
            raise fault

    # --- the IMU ----------------------------------------------------------------------

    def advance_imu(self) -> None:
        """Push every IMU sample due by now (its ODR skewed by imu_clock_ppm)."""
        if self.feeder is None:
            return
        self.feeder.advance_to((self.clock.now_ns - self.trace_start_ns) / 1e9)

    def _int_level(self) -> int:
        # The IMU's interrupt pin, caught up to now.
        self.advance_imu()
        imu = self.imu
        if isinstance(imu, LSM6Emulator):
            return imu.int1_level()
        assert imu is not None
        return imu.int_level()

    def _int_pulses(self) -> int:
        return getattr(self.imu, "int_pulses", 0)

    def next_int_ns(self) -> int | None:
        """When the IMU's interrupt line next becomes active (or pulses), by its FIFO
        filling at the IMU's own rate (None: not within its capacity)."""
        imu = self.imu
        feeder = self.feeder
        if imu is None or feeder is None:
            return None
        self.advance_imu()
        if isinstance(imu, LSM6Emulator):
            ticks = imu.ticks_until_int1(limit=1 << 16)
        else:
            ticks = imu.ticks_until_int(limit=1 << 16)
        if ticks is None:
            return None
        if ticks == 0:
            return self.clock.now_ns
        t_s = feeder.tick_time(ticks)
        if t_s is None:
            return None
        # Trace time is true time (the feeder skews the IMU's tick rate instead).
        return self.trace_start_ns + math.ceil(t_s * 1e9) + 1

    # --- USB power and outside events ---------------------------------------------------

    def set_usb(self, powered: bool) -> None:
        """Plug (True) or unplug the USB cable: the profile's VBUS pin follows."""
        self.usb_powered = bool(powered)
        if self.vbus_pin is not None:
            self.drive(self.vbus_pin, 1 if powered else 0)

    def schedule(self, at_s: float, action: Callable[[], object]) -> None:
        """Do action() when simulated time reaches at_s, even while the MCU sleeps (a
        button press, a cable plugged in): an event from outside the board."""

        def fire() -> None:
            action()

        self.clock.add_oneshot(round(at_s * 1e9), fire)

    # --- light sleep ------------------------------------------------------------------

    def set_wake_ext0(self, pin_id: int | None, level: bool) -> None:
        """esp32.wake_on_ext0(pin, level): ValueError unless pin is an RTC GPIO."""
        if pin_id is None:
            self.ext0 = None
            return
        self.ext0 = (common.check_wake_pin(pin_id, self.rtc_pins), bool(level))

    def set_wake_ext1(self, pins, level: bool) -> None:
        """esp32.wake_on_ext1(pins, level): ValueError unless every pin is an RTC GPIO."""
        if not pins:
            self.ext1 = None
            return
        checked = tuple(common.check_wake_pin(p, self.rtc_pins) for p in pins)
        self.ext1 = (checked, bool(level))

    def _uses_int(self, level: int) -> bool:
        # Is the IMU's interrupt line a wake source waiting for `level`?
        int1 = self.profile["imu"].get("int1_pin")
        if int1 is None:
            return False
        if self.ext0 is not None and self.ext0[0] == int1 and int(self.ext0[1]) == level:
            return True
        ext1 = self.ext1
        return ext1 is not None and int1 in ext1[0] and int(ext1[1]) == level

    def wake_now(self) -> int:
        """The ext0/ext1 wake cause the pins give now, or 0."""
        return common.ext_wake(self.ext0, self.ext1, lambda p: self.pin(p).read())

    def lightsleep(self, ms: int | None = None) -> int:
        """machine.lightsleep(ms): returns the wake cause (simulated time has moved on
        to it). A watchdog that expires meanwhile resets the board (SimulatedReset)."""
        clock = self.clock
        start = clock.now_ns
        deadline = start + int(ms) * 1_000_000 if ms is not None and ms >= 0 else 1 << 62
        int1 = self.profile["imu"].get("int1_pin")
        active = None if int1 is None or self.imu is None else (0 if self._int_low() else 1)
        cause = 0
        try:
            while True:
                cause = self.wake_now()
                if cause:
                    break
                target = deadline
                t_int = None
                if active is not None and self._uses_int(active):
                    t_int = self.next_int_ns()
                if t_int is not None:  # strictly ahead: every turn of the loop moves on
                    target = min(target, max(t_int, clock.now_ns + 1))
                t_evt = clock.next_event_ns()
                if t_evt is not None:
                    target = min(target, t_evt)
                pulses = self._int_pulses()
                clock.advance_to_ns(max(target, clock.now_ns))
                self.advance_imu()
                if self._int_pulses() != pulses and active is not None and self._uses_int(active):
                    cause = common.EXT0_WAKE if self._int_on_ext0() else common.EXT1_WAKE
                    break
                if clock.now_ns >= deadline:
                    cause = common.TIMER_WAKE
                    break
        finally:
            self.sleeps.append(Sleep(start, clock.now_ns, cause))
        self.wake_cause = cause
        return cause

    def _int_low(self) -> bool:
        # The IMU's interrupt polarity as configured in the chip.
        imu = self.imu
        if isinstance(imu, LSM6Emulator):
            return bool(imu.regs[0x12] & 0x20)  # CTRL3_C.H_LACTIVE
        assert imu is not None
        return bool(imu.regs[0x37] & 0x80)  # INT_PIN_CFG.INT_LEVEL

    def _int_on_ext0(self) -> bool:
        return self.ext0 is not None and self.ext0[0] == self.profile["imu"].get("int1_pin")

    # --- GPIO -------------------------------------------------------------------------

    def pin(self, pin_id: int) -> PinState:
        """The state of GPIO pin_id (created on first use)."""
        return self.pins.setdefault(pin_id, PinState())

    def drive(self, pin_id: int, level: int) -> None:
        """Drive an input from outside (a finger on the button); fires its IRQ."""
        p = self.pin(pin_id)
        old = p.level
        p.level = 1 if level else 0
        if p.irq_handler is not None and old != p.level:
            rising = p.level == 1
            if p.irq_trigger & (1 if rising else 2):  # ESP32: IRQ_RISING=1, IRQ_FALLING=2
                p.irq_handler(p)  # type: ignore[operator]

    def press_button(self, pressed: bool = True) -> None:
        """Hold the profile's button down (or let it go)."""
        button = self.profile["button"]
        active = 0 if button["active_low"] else 1
        self.drive(button["pin"], active if pressed else 1 - active)

    def led_history(self) -> list[tuple[int, int]]:
        """(ns, level) of every write to the LED pin, electrical levels."""
        led = self.profile.get("led")
        return [] if led is None else self.pin(led["pin"]).history

    # --- battery ----------------------------------------------------------------------

    def adc_uv(self, pin_id: int) -> int:
        """Microvolts at an ADC pin: the battery through its divider, else 0."""
        bat = self.profile.get("battery")
        if bat is None or bat.get("adc_pin") != pin_id:
            return 0
        return round(self.battery_mv * 1000 / bat["divider"])
