"""Simulated time for a virtual board: one integer nanosecond counter.

The virtual-time event loop advances it instead of sleeping, the `machine` shim reads
its ticks, and the board's hardware timers hang off it: the watchdog (a starved one
raises SimulatedReset at the instant it would have fired) and periodic machine.Timer
callbacks (fired in time order as the clock passes them). Nothing here reads the real
clock, so a run is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from legsense.simulation.vm_board.mp_lib.sim_machine_common import kind_of

TICKS_PERIOD = 1 << 30  # MicroPython's ticks_ms wraps at 2**30 on the ESP32


class SimulatedReset(BaseException):
    """The simulated board reset; `cause` says why, `kind` is the reset's kind
    (sim_machine_common.RESET_KINDS: watchdog, hard, soft, panic, brownout, power cut).

    A BaseException, as a reset is not an error the firmware could catch: its
    `except Exception` handlers let it through, as the chip's reset goes through them.
    """

    def __init__(self, cause: str, at_ns: int, kind: str | None = None):
        super().__init__(f"{cause} at {at_ns / 1e9:.3f} s")
        self.cause = cause
        self.at_ns = at_ns
        self.kind = kind or kind_of(cause)


@dataclass
class _Periodic:
    period_ns: int
    due_ns: int
    callback: Callable[[], None]
    active: bool = True


class SimClock:
    """Nanoseconds since the simulated power-on, with a watchdog and periodic timers."""

    def __init__(self, start_ns: int = 0):
        self.now_ns = start_ns
        self.wdt_timeout_ns = 0  # 0: no watchdog running
        self.wdt_fed_ns = 0
        self.wdt_feeds: list[int] = []  # ns of every feed (tests read the cadence)
        self._timers: list[_Periodic] = []
        # A reset raised inside a task (machine.reset() from the firmware) ends only
        # that task; the event loop raises it from here at its next wait.
        self.pending_reset: SimulatedReset | None = None

    # --- reading ----------------------------------------------------------------------

    def seconds(self) -> float:
        """Simulated time in seconds (what the event loop's time() returns)."""
        return self.now_ns / 1e9

    def ticks_ms(self) -> int:
        """time.ticks_ms() of the simulated board: ms since power-on, wrapped at 2**30."""
        return (self.now_ns // 1_000_000) % TICKS_PERIOD

    # --- advancing --------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Let `seconds` of simulated time pass (rounded up to whole ns)."""
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError(f"cannot advance the clock by {seconds!r} s")
        self.advance_to_ns(self.now_ns + math.ceil(seconds * 1e9))

    def advance_to_ns(self, target_ns: int) -> None:
        """Move to target_ns, firing timers on the way; SimulatedReset if the watchdog
        expires first (the clock then stands at the instant it fired)."""
        while True:
            due = self._next_due(target_ns)
            if due is None:
                break
            self.now_ns = due
            if self.wdt_timeout_ns and due == self.wdt_fed_ns + self.wdt_timeout_ns:
                expired = self.wdt_timeout_ns // 1_000_000
                self.wdt_timeout_ns = 0  # the reset stops everything, the watchdog too
                raise SimulatedReset(f"watchdog not fed for {expired} ms", due)
            for t in list(self._timers):
                if t.active and t.due_ns == due:
                    if t.period_ns:
                        t.due_ns += t.period_ns
                    else:  # one-shot
                        t.active = False
                        self._timers.remove(t)
                    t.callback()
        self.now_ns = max(self.now_ns, target_ns)

    def _next_due(self, target_ns: int) -> int | None:
        due = [t.due_ns for t in self._timers if t.active and t.due_ns <= target_ns]
        if self.wdt_timeout_ns:
            deadline = self.wdt_fed_ns + self.wdt_timeout_ns
            if deadline <= target_ns:
                due.append(deadline)
        return min(due) if due else None

    def take_pending_reset(self) -> None:
        """Raise a reset the firmware asked for from inside a task (once)."""
        reset = self.pending_reset
        if reset is not None:
            self.pending_reset = None
            raise reset

    def stop_hardware(self) -> None:
        """A reset: the watchdog and every timer stop (nothing of the last boot runs)."""
        self.wdt_timeout_ns = 0
        for t in self._timers:
            t.active = False
        self._timers = []
        self.pending_reset = None

    # --- hardware hanging off the clock -----------------------------------------------

    def start_watchdog(self, timeout_ms: int) -> None:
        """machine.WDT(timeout=...): starts counting now; it cannot be stopped."""
        self.wdt_timeout_ns = timeout_ms * 1_000_000
        self.wdt_fed_ns = self.now_ns

    def feed_watchdog(self) -> None:
        """WDT.feed(): the deadline moves to now + timeout."""
        self.wdt_fed_ns = self.now_ns
        self.wdt_feeds.append(self.now_ns)

    def add_oneshot(self, at_ns: int, callback: Callable[[], None]) -> _Periodic:
        """Call callback once when the clock reaches at_ns (an outside event: a finger on
        the button, a USB cable plugged in); deactivate with .active."""
        t = _Periodic(0, max(at_ns, self.now_ns), callback)
        self._timers.append(t)
        return t

    def next_event_ns(self) -> int | None:
        """When the next timer or the watchdog fires (None: nothing scheduled)."""
        return self._next_due(1 << 62)

    def add_periodic(self, period_ms: int, callback: Callable[[], None]) -> _Periodic:
        """A periodic timer firing every period_ms from now; deactivate with .active."""
        if period_ms <= 0:
            raise ValueError("timer period must be > 0 ms")
        t = _Periodic(period_ms * 1_000_000, self.now_ns + period_ms * 1_000_000, callback)
        self._timers.append(t)
        return t
