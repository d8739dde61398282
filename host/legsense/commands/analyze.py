"""`legsense analyze TRACE --out DIR`: detect and score a recorded trace offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from legsense.analysis import analyze_trace
from legsense.commands.scoring_options import add_scoring_options, scoring_params_from_args
from legsense.night_folder import write_night_folder
from legsense.progress import Progress
from legsense.scoring import score_movements
from legsense.trace import read_trace


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="detect and score the leg movements of a recorded trace",
        description="Run the firmware's detector over a trace (legsense trace CSV or the raw "
        "LSM9DS0 format) and write events.csv, epochs.csv, summary.json and night.png to DIR.",
    )
    p.add_argument("trace", type=Path, help="trace file")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="night folder to write")
    p.add_argument("--no-picture", action="store_true", help="skip night.png")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    add_scoring_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    params = scoring_params_from_args(args)
    trace = read_trace(args.trace)
    progress = Progress("analyse", "samples", enabled=not args.quiet)
    detection, info = analyze_trace(trace, progress=progress)
    scoring = score_movements(detection.movements, info, params)
    write_night_folder(
        args.out,
        detection.movements,
        detection.epochs,
        scoring,
        info,
        detector=detection.config.as_dict(),
        picture=not args.no_picture,
    )
    if not args.quiet:
        s = scoring.summary
        print(
            f"{args.trace}: {s['analysed_hours']:.2f} h analysed, {s['lm_count']} LM, "
            f"{s['plm_count']} PLM in {s['plm_series_count']} series, "
            f"PLM index {s['plm_index']:.1f}/h (per hour of analysed time)"
        )
        print(
            f"wrote {args.out}/ (events.csv, epochs.csv, summary.json"
            + (", night.png)" if not args.no_picture else ")")
        )
    return 0
