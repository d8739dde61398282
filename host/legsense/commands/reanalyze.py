"""`legsense reanalyze DIR --out OUT`: the detector and scoring again over many nights'
raw samples, in parallel on Dask (a local cluster, or --scheduler ADDRESS)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from legsense.commands.scoring_options import add_scoring_options, scoring_params_from_args
from legsense.errors import InputError
from legsense.progress import Progress


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="re-run detection and scoring over many nights' raw samples on Dask",
        description="Find every night folder under DIR with raw samples (raw.csv) and run "
        "`legsense analyze` on each, in parallel on a Dask cluster, into OUT (same folder "
        "layout). Resumable: finished nights are skipped when run again with the same "
        "options.",
    )
    p.add_argument("dir", type=Path, metavar="DIR")
    p.add_argument("--out", type=Path, required=True, metavar="OUT")
    p.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        metavar="N",
        help="worker processes of the local cluster (default: up to 2; 0: in this process)",
    )
    p.add_argument(
        "--scheduler", metavar="ADDRESS", help="a running Dask scheduler (tcp://host:8786)"
    )
    p.add_argument("--picture", action="store_true", help="draw night.png for every night")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    add_scoring_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    from legsense.reanalysis import reanalyze

    params = scoring_params_from_args(args)
    if args.workers < 0 or args.workers > 256:
        raise InputError(f"--workers must be 0-256, got {args.workers}")
    options = (
        "--min-imi", f"{params.min_imi_s:g}",
        "--max-imi", f"{params.max_imi_s:g}",
        "--min-series", str(params.min_series),
        "--min-lm", f"{params.min_lm_s:g}",
        "--max-lm", f"{params.max_lm_s:g}",
    )  # fmt: skip
    result = reanalyze(
        args.dir,
        args.out,
        options,
        workers=args.workers,
        scheduler=args.scheduler,
        picture=args.picture,
        progress=Progress("reanalyze", "nights", enabled=not args.quiet),
    )
    if not args.quiet:
        print(
            f"{result.done} night(s) analysed, {result.skipped} already done, "
            f"{len(result.failed)} failed, in {result.seconds:.1f} s on {result.cluster} "
            f"({result.nights_per_minute:.1f} nights/min)"
        )
    for o in result.failed:
        print(f"  failed: {o.out}: {o.message}")
    return 2 if result.failed else 0
