"""`legsense export DIR --out DATASET`: the nights under DIR (and DIR/diary.csv) as a
Parquet dataset partitioned by person and month, written atomically and incrementally."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from legsense.progress import Progress


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="write the nights as a Parquet dataset (nights, events, epochs, diary)",
        description="Export every night folder under DIR and the diary to DATASET: Parquet "
        "tables nights, events, epochs and diary, partitioned by person and month "
        "(person=P/month=YYYY-MM/), readable by DuckDB (`legsense query`), pyarrow, pandas, "
        "Spark and Dask. Only partitions whose nights changed are rewritten; every file is "
        "written atomically. Schema and units: docs/weeks.md.",
    )
    p.add_argument("dir", type=Path, metavar="DIR", help="data folder with night folders")
    p.add_argument("--out", type=Path, required=True, metavar="DATASET", help="dataset folder")
    p.add_argument("--utc-offset", metavar="+HH:MM", help="time zone for the nights' dates")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    return p


def run(args: argparse.Namespace) -> int:
    from legsense.cohort_dataset import export  # pyarrow: loaded only when needed
    from legsense.night_catalog import parse_utc_offset

    zone = parse_utc_offset(args.utc_offset) if args.utc_offset else None
    t0 = time.perf_counter()
    result = export(
        args.dir, args.out, zone, progress=Progress("export", "nights", enabled=not args.quiet)
    )
    if not args.quiet:
        print(
            f"{result.nights} night(s) in {result.dataset}: {result.partitions_written} "
            f"partition(s) written, {result.partitions_unchanged} unchanged, "
            f"{result.partitions_removed} removed, in {time.perf_counter() - t0:.1f} s"
        )
        for _folder, why in result.unreadable:
            print(f"  not read: {why}")
    return 0
