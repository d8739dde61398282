"""`legsense sim`: a virtual board on a pseudo-terminal, until SIGINT/SIGTERM.

Each state folder is its own board: its device id is derived from the folder (stable
across restarts of the same folder), and the running sim leaves a marker naming its port
beside that folder (`<state>.sim-port`: not inside, which is the board's flash), removed
when it ends. `make flash` without PORT finds
the board by that marker: the one of STATE (default: the default state folder), never
another user's or another folder's board.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from legsense.errors import InputError
from legsense.trace import read_trace


def default_state_dir() -> Path:
    """The virtual board's flash when --state is not given (persists like a board's)."""
    import platformdirs

    return Path(platformdirs.user_state_dir("legsense")) / "virtual-board"


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    """Register the subcommand and its options."""
    p = subparsers.add_parser(
        name,
        help="run a virtual board (firmware on the MicroPython VM) on a pseudo-terminal",
        description="Run the firmware on a virtual board: the MicroPython WebAssembly VM "
        "under Node.js (or CPython) with an emulated IMU replaying TRACE. Prints the serial "
        "port's path as the first line, then serves until SIGINT/SIGTERM. The trace starts "
        "when the IMU is first switched on (the first night's start). The board boots what "
        "was flashed into --state (`make flash PORT=...`); --vm cpython runs the repository's "
        "firmware instead.",
    )
    p.add_argument("--trace", type=Path, required=True, help="trace CSV the IMU replays")
    p.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)"
    )
    p.add_argument("--vm", choices=("micropython", "cpython"), default="micropython")
    p.add_argument("--state", type=Path, help="the board's flash folder (default: user state)")
    p.add_argument("--imu", default=None, help="IMU to emulate (default: the trace's, or lsm6dsox)")
    p.add_argument("-v", "--verbose", action="store_true", help="log resets and boots on stderr")
    return p


def run(args: argparse.Namespace) -> int:
    """Start the board, print its port, serve until a signal."""
    from legsense.simulation.micropython_vm import unavailable_reason
    from legsense.simulation.vm_board.board import VirtualBoard, run_until_signalled
    from legsense.simulation.vm_board.cpython_board import CPythonBoard

    if not (0 < args.speed <= 10000):
        raise InputError(f"--speed must be more than 0 and at most 10000, got {args.speed:g}")
    trace = read_trace(args.trace)
    imu = args.imu or trace.imu or "lsm6dsox"
    state = args.state or default_state_dir()
    vm = args.vm
    if vm == "micropython":
        reason = unavailable_reason()
        if reason:
            print(f"legsense sim: {reason}; running the firmware on CPython", file=sys.stderr)
            vm = "cpython"

    def log(text: str) -> None:
        if args.verbose:
            print(f"legsense sim: {text}", file=sys.stderr, flush=True)

    try:
        if vm == "micropython":
            board = VirtualBoard(trace, state, speed=args.speed, imu=imu, log=log)
        else:
            board = CPythonBoard(trace, state, speed=args.speed, imu=imu, log=log)
    except ValueError as e:
        raise InputError(str(e)) from None
    port = board.start()
    print(port, flush=True)
    marker: Path | None = port_file(state)
    try:
        marker.write_text(port + "\n")  # type: ignore[union-attr]
    except OSError:
        marker = None
    try:
        return run_until_signalled(board)  # type: ignore[arg-type]
    finally:
        if marker is not None:
            marker.unlink(missing_ok=True)


def port_file(state: Path | None = None) -> Path:
    """Where a running `legsense sim` on the state folder leaves its port's path (for
    `make flash`): beside that folder, so a marker names one folder's board only."""
    folder = Path(state or default_state_dir()).resolve()
    return folder.parent / (folder.name + ".sim-port")


def running_port(state: Path | str | None = None) -> str | None:
    """The port of a `legsense sim` running on the state folder (default: the default
    state folder), or None. A marker left by a killed sim whose port is gone, or one
    the user cannot open, is ignored."""
    try:
        port = port_file(Path(state) if state else None).read_text().strip()
    except OSError:
        return None
    if not port or not Path(port).exists():
        return None
    try:
        if Path(port).stat().st_uid != os.getuid():  # another user's pseudo-terminal
            return None
    except OSError:
        return None
    return port
