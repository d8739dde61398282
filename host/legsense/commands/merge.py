"""`legsense merge DIR [--person P]`: (re)build the bilateral nights of the nights synced
into DIR: a person's left and right legs as one night (docs/bilateral.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from legsense.commands.scoring_options import add_scoring_options, scoring_params_from_args
from legsense.errors import EXIT_OK, EXIT_USAGE, InputError


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="make each person's left and right nights one bilateral night",
        description="Pair the nights synced into DIR by person and leg (the devices' "
        "`person` and `leg`), and write each pair that overlaps as "
        "DIR/persons/<person>/<date>_bilateral_<id>/ (both legs on one UTC time axis, "
        "scored by the 2016 bilateral rules). A pair whose folder is current is left as "
        "it is. Exit status 2 when some nights cannot be merged for what they are: a "
        "person with two left (or right) legs, a leg not named, a night without UTC next "
        "to the other leg's, or the two legs' nights close but not overlapping. A leg "
        "with no other leg's night near it stays single-leg, and says so (status 0).",
    )
    p.add_argument("dir", type=Path, metavar="DIR", help="data folder `legsense sync` wrote")
    p.add_argument("--person", action="append", metavar="P", help="only this person (repeat)")
    p.add_argument("--no-picture", action="store_true", help="skip night.png")
    p.add_argument("-q", "--quiet", action="store_true", help="only problems")
    add_scoring_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    from legsense.bilateral_merge import merge_nights
    from legsense.night_folder import ensure_writable_dir

    params = scoring_params_from_args(args)
    root: Path = args.dir
    if not root.exists():
        raise InputError("no such folder", root)
    if not root.is_dir():
        raise InputError("is not a folder", root)
    ensure_writable_dir(root)
    report = merge_nights(root, params=params, persons=args.person, picture=not args.no_picture)
    if not args.quiet:
        for b in report.built:
            state = "wrote" if b.written else "up to date:"
            s = b.summary
            figures = ""
            if s is not None:
                figures = (
                    f" (PLM index {s['plm_index']:.1f}/h, {s['bilateral_lm_count']} bilateral "
                    f"of {s['lm_count']} LM)"
                )
            print(f"{b.pair.person}: {state} {b.folder}{figures}")
        for path in report.removed:
            print(f"removed {path}: its nights no longer make one night")
        for f in report.findings:
            if not f.problem:
                print(f"note: {f.text}")
        if not report.built and not report.findings:
            print(f"{root}: no night names a person (`legsense config set person=P leg=left`)")
    for f in report.problems:
        print(f"legsense merge: {f.text}", file=sys.stderr)
    return EXIT_USAGE if report.problems else EXIT_OK
