"""`legsense simulate-night`: write a synthetic night trace and its labels beside it.

With --bilateral, both legs: TRACE's name with .left and .right before its suffix
(night.csv -> night.left.csv, night.right.csv), each with its leg's labels beside it, and
TRACE's labels (night.labels.csv) with both legs and a `leg` column."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from legsense.errors import InputError
from legsense.simulation.bilateral_generator import (
    LEGS,
    leg_labels,
    simulate_bilateral_night,
)
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
    p.add_argument(
        "--bilateral",
        action="store_true",
        help="both legs: TRACE.left / TRACE.right and labels with the leg (docs/bilateral.md)",
    )
    return p


def leg_trace_path(out: Path, leg: str) -> Path:
    """night.csv -> night.left.csv (the trace of one leg of a bilateral night)."""
    suffix = out.suffix
    stem = out.name[: -len(suffix)] if suffix else out.name
    return out.with_name(f"{stem}.{leg}{suffix}")


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
    if args.bilateral:
        return _write_bilateral(args, out, start)
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


def _write_bilateral(args: argparse.Namespace, out: Path, start: datetime | None) -> int:
    try:
        left, right, labels = simulate_bilateral_night(
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
    written: list[Path] = []
    try:
        for leg, trace in zip(LEGS, (left, right), strict=True):
            path = leg_trace_path(out, leg)
            write_trace(path, trace)
            written.append(path)
            mine = leg_labels(labels, leg)
            write_labels(labels_path_for(path), mine.onset_s, mine.offset_s, mine.extra)
            written.append(labels_path_for(path))
            print(f"{path}: {len(trace)} samples, {args.hours:g} h at {args.rate:g} Hz, {leg} leg")
        both = labels_path_for(out)
        write_labels(both, labels.onset_s, labels.offset_s, labels.extra)
    except BaseException:
        for path in written:  # half a bilateral night would mislead
            path.unlink(missing_ok=True)
        raise
    legs = labels.extra["leg"]
    print(
        f"{both}: {len(labels)} labelled movements "
        f"({int((legs == 'left').sum())} left, {int((legs == 'right').sum())} right)"
    )
    return 0
