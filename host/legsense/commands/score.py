"""`legsense score EVENTS_CSV`: score an event list by WASM/IRLSSG 2016, print JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from legsense.commands.scoring_options import add_scoring_options, scoring_params_from_args
from legsense.errors import InputError
from legsense.night import NightInfo
from legsense.night_folder import read_events_csv
from legsense.scoring import score_movements


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="score an event list (onset_s,duration_s[,leg]) and print the summary JSON",
        description="Score leg movements by the WASM/IRLSSG 2016 rules. Indices are per "
        "hour of analysed recording time (not of sleep).",
    )
    p.add_argument("events", type=Path, help="CSV with onset_s,duration_s (optional leg)")
    p.add_argument(
        "--recording-hours",
        type=float,
        default=None,
        metavar="H",
        help="length of the recording (default: up to the last movement's offset)",
    )
    add_scoring_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    params = scoring_params_from_args(args)
    movements = read_events_csv(args.events)
    if args.recording_hours is not None:
        if not args.recording_hours > 0:
            raise InputError("--recording-hours must be > 0")
        recording_s = args.recording_hours * 3600.0
    else:
        recording_s = float(movements.offset_s.max()) if len(movements) else 0.0
    if recording_s <= 0:
        raise InputError(
            "no movements to tell the recording length: give --recording-hours", args.events
        )
    if len(movements) and recording_s < float(movements.offset_s.max()):
        raise InputError(
            f"--recording-hours {args.recording_hours:g} is shorter than the events "
            f"(last offset at {movements.offset_s.max() / 3600:.3f} h)"
        )
    info = NightInfo(recording_s, recording_s, 0.0, source=str(args.events))
    scoring = score_movements(movements, info, params)
    summary = dict(scoring.summary)
    if args.recording_hours is None:
        summary["recording_hours_source"] = "last offset in the event list"
    json.dump(summary, sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")
    return 0
