"""`legsense sim`: a virtual board on a pseudo-terminal, until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
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
            board = CPythonBoard(trace, state, speed=args.speed, imu=imu)
    except ValueError as e:
        raise InputError(str(e)) from None
    port = board.start()
    print(port, flush=True)
    marker = port_file()
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(port + "\n")
    except OSError:
        marker = None
    try:
        return run_until_signalled(board)  # type: ignore[arg-type]
    finally:
        if marker is not None:
            marker.unlink(missing_ok=True)


def port_file() -> Path:
    """Where a running `legsense sim` leaves its port's path (for `make flash`)."""
    import platformdirs

    return Path(platformdirs.user_runtime_dir("legsense")) / "sim.port"


def running_port() -> str | None:
    """The port of a running `legsense sim`, or None."""
    try:
        port = port_file().read_text().strip()
    except OSError:
        return None
    return port if port and Path(port).exists() else None
