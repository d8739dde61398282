"""An asyncio event loop on simulated time, so firmware tasks replay a night in seconds.

VirtualTimeLoop is the standard selector loop with two changes: time() reads a SimClock,
and when the loop would block its selector first polls the real file descriptors (so
real I/O still works) and, when nothing is ready, advances the simulated clock to the
next timer instead of sleeping. The app code runs unchanged: asyncio.sleep, wait_for and
friends all schedule against loop.time().

speed=None (the default) is pure simulation: waiting costs no real time, and a loop
with nothing scheduled and no timer raises VirtualTimeDeadlock instead of hanging.
speed=k (for runs that talk to real I/O, e.g. a pseudo-terminal) waits for real I/O
for timeout / k real seconds and advances simulated time by k times the real time
that passed (never past the next timer).
"""

from __future__ import annotations

import asyncio
import selectors
import time

from legsense.simulation.sim_clock import SimClock, SimulatedReset


class VirtualTimeDeadlock(RuntimeError):
    """Nothing is scheduled and no I/O can arrive: the simulated program would hang."""


class VirtualSelector(selectors.DefaultSelector):
    """A selector whose blocking waits pass simulated time instead of real time."""

    def __init__(self, clock: SimClock, speed: float | None = None):
        super().__init__()
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self.clock = clock
        self.speed = speed

    def select(self, timeout: float | None = None):
        self.clock.take_pending_reset()
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if self.speed is None:
            if timeout is None:
                raise VirtualTimeDeadlock(
                    "virtual time: no task is scheduled and no I/O is expected"
                )
            self.clock.advance(timeout)
            return []
        real_timeout = None if timeout is None else timeout / self.speed
        start = time.monotonic()
        ready = super().select(real_timeout)
        passed = (time.monotonic() - start) * self.speed
        if timeout is not None and (not ready or passed > timeout):
            passed = timeout  # a timed wait that ran out lands exactly on its timer
        self.clock.advance(passed)
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """asyncio.SelectorEventLoop whose time() is simulated (see the module doc)."""

    def __init__(self, clock: SimClock | None = None, speed: float | None = None):
        self.clock = clock or SimClock()
        super().__init__(VirtualSelector(self.clock, speed))
        self.set_exception_handler(_quiet_about_resets)

    def time(self) -> float:
        return self.clock.seconds()


def _quiet_about_resets(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    # A task ended by the board's reset (machine.reset() inside it) is not an error.
    if isinstance(context.get("exception"), SimulatedReset):
        return
    loop.default_exception_handler(context)


def run(coro, clock: SimClock | None = None, speed: float | None = None):
    """Run a coroutine to completion on a fresh VirtualTimeLoop; returns its result."""
    loop = VirtualTimeLoop(clock, speed)
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.clock.pending_reset = None  # a reset ends this run; it is not raised again
        _cancel_all(loop)
        loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    # Like asyncio.run's clean-up: cancel what is left and let it unwind, so no
    # "Task was destroyed but it is pending" noise. A reset leaves tasks behind.
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in tasks:
        t.cancel()
    if tasks and not loop.is_closed():
        gathered = asyncio.gather(*tasks, return_exceptions=True)
        for _ in range(3):  # a run ended by an exception may leave one stop() queued
            try:
                loop.run_until_complete(gathered)
                break
            except RuntimeError:
                continue
