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
"""

from __future__ import annotations

import json
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
