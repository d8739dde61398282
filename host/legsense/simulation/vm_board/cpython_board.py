"""The same firmware app under CPython: machine_shim + a virtual-time loop at a speed
factor, its USB link on a pty (``legsense sim --vm cpython``, and the fallback when
Node.js or the MicroPython package is missing).

The app runs from the repository's firmware/ (there is no interpreter to flash), with
its files (config, boards, nights) in the state folder. There is no REPL behind the
port: a Ctrl-C from the host ends the link, and the board boots the app again, as a
reset would. A reset (the watchdog, machine.reset(), a crash the firmware answers with
a reset) restarts the board as the MicroPython board does (SimBoard.restart: RTC and its
memory kept, the boot time passes), so a recording night resumes. The trace starts 1 ms
after the IMU is first switched on, as on the MicroPython virtual board. The device id
comes from the state folder (vm_board.board.uid_for_state).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

from legsense.simulation import machine_shim, virtual_loop
from legsense.simulation.sim_board import BOARDS_DIR, SimBoard
from legsense.simulation.sim_clock import SimulatedReset
from legsense.simulation.vm_board.board import (
    DEFAULT_FLASH_BYTES,
    NEVER_NS,
    from_zero,
    seed_flash,
    uid_for_state,
)
from legsense.trace import Trace


class _StartOnSwitchOn:
    """Wraps the IMU on the bus: trace time 0 plays 1 ms after its first switch-on."""

    def __init__(self, sim: SimBoard, target) -> None:
        self.sim = sim
        self.target = target

    def i2c_write(self, data: bytes) -> None:
        self.target.i2c_write(data)
        sim = self.sim
        if sim.trace_start_ns == NEVER_NS and sim.imu is not None and sim.imu.odr_hz > 0:
            sim.trace_start_ns = sim.clock.now_ns + 1_000_000

    def i2c_read(self, n: int) -> bytes:
        return self.target.i2c_read(n)


class CPythonBoard:
    """The firmware app on CPython behind a pty; start() returns the port's path."""

    def __init__(
        self,
        trace: Trace | None,
        state_dir: Path | str,
        *,
        speed: float = 1.0,
        imu: str = "lsm6dsox",
        flash_bytes: int = DEFAULT_FLASH_BYTES,
        log: Callable[[str], None] = lambda text: None,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self.state_dir = Path(state_dir).resolve()
        seed_flash(self.state_dir)
        if not (self.state_dir / "boards").is_dir():
            shutil.copytree(BOARDS_DIR, self.state_dir / "boards")
        (self.state_dir / "nights").mkdir(exist_ok=True)
        self.speed = speed
        self.flash_bytes = flash_bytes
        self.log = log  # progress lines for `legsense sim -v` (as VirtualBoard's)
        self._t0 = time.monotonic()
        self.sim = SimBoard(
            "virtual", imu=imu, trace=from_zero(trace), uid=uid_for_state(self.state_dir)
        )
        self.sim.trace_start_ns = NEVER_NS
        for address in list(self.sim.bus._targets):
            target = self.sim.bus._targets[address]
            self.sim.bus.detach(address)
            self.sim.bus.attach(address, _StartOnSwitchOn(self.sim, target))
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self.failure: str | None = None
        self.boots = 0
        self.resets: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="cpython-board", daemon=True)
        self._thread.start()
        return self.port

    def close(self) -> None:
        self._stopping = True
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def world_ms(self) -> float:
        """Simulated time since the board was first powered, in ms."""
        return self.sim.clock.now_ns / 1e6

    def achieved_speed(self) -> float:
        """Simulated seconds per real second since start() (at most the speed asked)."""
        real = time.monotonic() - self._t0
        return self.world_ms() / 1000.0 / real if real > 0 else 0.0

    def __enter__(self) -> CPythonBoard:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self) -> None:
        from legsense_device.night_log import EmulatedSpace
        from legsense_device.usb_link import FdPort

        try:
            with machine_shim.installed(self.sim):
                from legsense_device.app import App

                while not self._stopping:
                    self.boots += 1
                    space = EmulatedSpace(str(self.state_dir / "nights"), self.flash_bytes)
                    app = App(fs_root=str(self.state_dir), space=space)
                    app.link_port = FdPort(self.master)  # pyright: ignore[reportAttributeAccessIssue]
                    loop = virtual_loop.VirtualTimeLoop(self.sim.clock, self.speed)
                    self._loop = loop
                    reset = None
                    try:
                        loop.run_until_complete(app.run())
                    except SimulatedReset as e:
                        reset = e
                    except (KeyboardInterrupt, RuntimeError):
                        pass  # Ctrl-C on the port, or close(): boot again / stop
                    finally:
                        self.sim.clock.pending_reset = None
                        virtual_loop._cancel_all(loop)
                        loop.close()
                    if reset is not None and not self._stopping:
                        self.resets.append(reset.cause)
                        self.sim.restart(reset.kind)
        except Exception as e:  # reported by `legsense sim`
            self.failure = f"the CPython board stopped: {e!r}"
