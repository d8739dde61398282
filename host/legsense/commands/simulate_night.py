"""`legsense simulate-night`: write a synthetic night trace and its labels beside it."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from legsense.errors import InputError
from legsense.simulation.night_generator import PROFILES, simulate_night
from legsense.trace import labels_path_for, write_labels, write_trace


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    """Register the subcommand and its options."""
    p = subparsers.add_parser(
        name,
        help="write a synthetic night (trace CSV + labels)",
        description="Write a physically plausible synthetic ankle IMU night and its "
        "ground-truth labels (TRACE and TRACE's .labels.csv beside it).",
    )
    p.add_argument("--seed", type=int, required=True, help="random seed (same seed, same night)")
    p.add_argument("--hours", type=float, required=True, help="length of the night in hours")
    p.add_argument("--rate", type=float, required=True, help="sample rate in Hz (10-100)")
    p.add_argument("--out", type=Path, required=True, metavar="TRACE", help="trace CSV to write")
    p.add_argument("--imu", default="lsm6dsox", help="IMU to emulate (default lsm6dsox)")
    p.add_argument("--no-gyro", action="store_true", help="accelerometer only")
    p.add_argument(
        "--profile", default="plmd", help=f"kind of night: {', '.join(PROFILES)} (default plmd)"
    )
    p.add_argument("--start-utc", metavar="ISO", help="wall-clock start, ISO-8601")
    return p


def run(args: argparse.Namespace) -> int:
    """Generate the night and write both files atomically; bad options raise InputError."""
    if not (0 < args.hours <= 48):
        raise InputError(f"--hours must be more than 0 and at most 48, got {args.hours:g}")
    if not (10 <= args.rate <= 100):
        raise InputError(f"--rate must be 10-100 Hz, got {args.rate:g}")
    if args.profile not in PROFILES:
        raise InputError(f"--profile {args.profile!r} unknown (known: {', '.join(PROFILES)})")
    start = None
    if args.start_utc is not None:
        try:
            start = datetime.fromisoformat(args.start_utc)
        except ValueError:
            raise InputError(
                f"--start-utc {args.start_utc!r} is not ISO-8601 (e.g. 2026-01-05T22:30:00Z)"
            ) from None
    out: Path = args.out
    if out.is_dir():
        raise InputError("is a directory; --out names the trace file to write", out)
    if not out.parent.is_dir():
        raise InputError("folder does not exist", out.parent)
    try:
        trace, labels = simulate_night(
            args.seed,
            args.hours,
            args.rate,
            imu=args.imu,
            gyro=not args.no_gyro,
            profile=args.profile,
            start_utc=start,
        )
    except (ValueError, KeyError) as exc:
        raise InputError(str(exc).strip("\"'")) from None
    labels_path = labels_path_for(out)
    write_trace(out, trace)
    try:
        write_labels(labels_path, labels.onset_s, labels.offset_s, labels.extra)
    except BaseException:
        out.unlink(missing_ok=True)  # a trace without its labels would mislead
        raise
    print(f"{out}: {len(trace)} samples, {args.hours:g} h at {args.rate:g} Hz")
    print(f"{labels_path}: {len(labels)} labelled movements")
    return 0
