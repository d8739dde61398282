"""`legsense analyze TRACE --out DIR`: detect and score a recorded trace offline.

The trace is streamed through the detector a block at a time (memory does not grow with
the night); the output folder is checked first, so a folder that cannot be written costs
a one-line error (exit 2), not a whole detection.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from legsense.analysis import analyze_file
from legsense.commands.scoring_options import add_scoring_options, scoring_params_from_args
from legsense.errors import InputError
from legsense.night_folder import write_night_folder
from legsense.progress import Progress
from legsense.scoring import score_movements


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


def check_output_folder(out: Path) -> None:
    """Raise InputError (exit 2, naming the path) unless the night folder `out` can be
    written: it is a folder or does not exist yet, and we can create files beside it and
    in it. Creates nothing that stays (a probe folder is made and removed)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("--out is not a directory", out)
    # write_night_folder writes a temporary folder beside `out` (creating missing
    # parents) and, when `out` exists, replaces files in it: probe where it will write.
    places = [out] if out.is_dir() else []
    parent = out.parent if str(out.parent) else Path(".")
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"--out cannot be created: {parent} is not a directory", out)
    places.append(parent)
    for place in places:
        try:
            probe = tempfile.mkdtemp(prefix=".legsense-probe-", dir=place)
            os.rmdir(probe)
        except OSError as exc:
            raise InputError(f"--out cannot be written: {exc.strerror or exc}", place) from None


def run(args: argparse.Namespace) -> int:
    params = scoring_params_from_args(args)
    check_output_folder(args.out)
    progress = Progress("analyse", "MB", enabled=not args.quiet, scale=1e-6)
    detection, info = analyze_file(args.trace, progress=progress)
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
