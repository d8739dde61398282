"""The firmware app on a SimBoard through resets: boot, run, reset, boot again.

A DeviceRunner boots the unchanged app (legsense_device.app.App) under the `machine`
shim on virtual time, carries out a timeline of actions at given simulated times (the
host starting or stopping a night, setting the clock, faults), and when the board
resets (the watchdog, machine.reset(), a crash the firmware answers with a reset, or an
injected brownout or power cut) it restarts the board as that kind of reset does
(SimBoard.restart: RTC and RTC memory kept or lost, boot time) and boots the app again
on the same flash folder. Used by the device tests and the fault campaigns.

Faults (`inject(kind)`), as they happen on a board:

=========== ==========================================================================
watchdog    the firmware hangs (no task runs); the watchdog resets it `watchdog_ms` later
hard        machine.reset() (a host's `mpremote reset`, a firmware path)
soft        a soft reset (Ctrl-D at the REPL, machine.soft_reset())
exception   the next IMU transfer raises ValueError inside the sampling task
memory      the next IMU transfer raises MemoryError inside the sampling task
brownout    the supply dips: the ESP32 restarts its CPU, the RTC domain stays up
power cut   the supply goes and comes back: RAM, RTC and its memory are lost
=========== ==========================================================================
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from legsense.simulation import machine_shim, virtual_loop
from legsense.simulation.sim_board import SimBoard
from legsense.simulation.sim_clock import SimulatedReset
from legsense.simulation.vm_board.mp_lib.sim_machine_common import BOOT_MS

FAULT_KINDS = ("watchdog", "hard", "soft", "exception", "memory", "brownout", "power cut")

Action = Callable[[object], object]  # action(app) -> anything (kept in .results)


@dataclass
class Boot:
    """One boot of the app: when it began, how it ended, its boot line and status."""

    start_ns: int
    ended_by: str = ""  # the reset's kind, or "" for the end of the run
    end_ns: int = 0
    boot_line: str = ""
    resume: str = ""


@dataclass
class DeviceRunner:
    """Boots the app on `board` with its files in `root` (see the module doc)."""

    board: SimBoard
    root: Path
    space: object = None
    boot_ms: int = BOOT_MS
    boots: list[Boot] = field(default_factory=list)
    results: list[tuple[float, object]] = field(default_factory=list)
    app: object = None

    def inject(self, kind: str) -> Action:
        """An action that causes a fault of this kind (FAULT_KINDS) when it runs."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        board = self.board

        def fault(app) -> None:
            if kind == "watchdog":  # hung: time passes, nothing runs, the watchdog fires
                board.clock.advance(3600.0)
            elif kind == "hard":
                machine_shim.reset()
            elif kind == "soft":
                machine_shim.soft_reset()
            elif kind == "exception":
                board.fault = ValueError("injected fault")
            elif kind == "memory":
                board.fault = MemoryError("injected: memory allocation failed")
            else:  # brownout, power cut: the supply
                raise SimulatedReset(kind, board.clock.now_ns, kind)

        return fault

    def run(self, until_s: float, timeline: list[tuple[float, Action]]) -> DeviceRunner:
        """Boot and run until simulated time until_s, doing each (time_s, action) of the
        timeline when its time comes (actions due during a reboot run right after it)."""
        pending = sorted(timeline, key=lambda a: a[0])
        with machine_shim.installed(self.board):
            from legsense_device.app import App

            while True:
                boot = Boot(start_ns=self.board.clock.now_ns)
                self.boots.append(boot)
                app = App(fs_root=str(self.root), space=self.space)
                self.app = app

                async def main(app=app) -> None:
                    runner = asyncio.create_task(app.run())
                    await asyncio.sleep(0)
                    try:
                        while pending:
                            t, action = pending[0]
                            await _at(t)
                            pending.pop(0)
                            self.results.append((t, action(app)))
                        await _at(until_s)
                    finally:
                        runner.cancel()

                try:
                    virtual_loop.run(main(), self.board.clock)
                    boot.end_ns = self.board.clock.now_ns
                    boot.boot_line = app.boot_line
                    boot.resume = app.resume_report
                    return self
                except SimulatedReset as reset:
                    boot.ended_by = reset.kind
                    boot.end_ns = self.board.clock.now_ns
                    boot.boot_line = app.boot_line
                    boot.resume = app.resume_report
                    if pending and pending[0][1] is not None and _is_fault_at(pending, reset):
                        pending.pop(0)  # the fault that caused this reset has run
                    self.board.restart(reset.kind, self.boot_ms)
                    if self.board.clock.now_ns >= until_s * 1e9 and not pending:
                        return self


def _is_fault_at(pending, reset) -> bool:
    # A fault action raises the reset itself (hard, soft, brownout, power cut, the
    # watchdog's hang) before it is popped: drop it so it does not run again.
    t, action = pending[0]
    return getattr(action, "__name__", "") == "fault" and t * 1e9 <= reset.at_ns + 1


async def _at(seconds: float) -> None:
    await asyncio.sleep(max(0.0, seconds - asyncio.get_running_loop().time()))
