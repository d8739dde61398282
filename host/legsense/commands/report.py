"""`legsense report DIR [--person P] [--from D --to D] --out report.html`: the trend
report of one person's nights (self-contained HTML plus the figures as PNG)."""

from __future__ import annotations

import argparse
from pathlib import Path

from legsense.progress import Progress


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="trend report of a person's nights: one HTML file (works offline) + PNG figures",
        description="Read every night folder under DIR (and DIR/diary.csv) and write one "
        "self-contained HTML report: PLM/LM/periodicity index, hours and data quality per "
        "night with the diary's tags as bands, a nights x hour-of-night heatmap, nights "
        "with and without each tag compared (medians, bootstrap 95 %% interval), and a "
        "table linking every night's folder and picture. The figures are also written as "
        "PNG beside the HTML (REPORT-trend.png, REPORT-heatmap.png, REPORT-comparison.png).",
    )
    p.add_argument("dir", type=Path, metavar="DIR", help="data folder with night folders")
    p.add_argument("--out", type=Path, required=True, metavar="REPORT.html")
    p.add_argument("--person", help="whose nights (needed when DIR holds several people)")
    p.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first evening")
    p.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last evening")
    p.add_argument(
        "--utc-offset",
        metavar="+HH:MM",
        help="the person's time zone (default: each night's configured offset, else this "
        "computer's zone)",
    )
    p.add_argument("--diary", type=Path, metavar="CSV", help="diary file (default DIR/diary.csv)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    return p


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `legsense` loads every command's module to build its
    # parser, and matplotlib would slow down every command's start.
    from legsense.night_catalog import parse_utc_offset
    from legsense.trend_report import parse_day, write_report

    first = parse_day(args.first, "--from") if args.first else None
    last = parse_day(args.last, "--to") if args.last else None
    if first and last and last < first:
        from legsense.errors import InputError

        raise InputError(f"--to {last} is before --from {first}")
    zone = parse_utc_offset(args.utc_offset) if args.utc_offset else None
    progress = Progress("report", "nights", enabled=not args.quiet)
    report = write_report(
        args.dir, args.out, args.person, first, last, zone, args.diary, progress=progress
    )
    if not args.quiet:
        print(
            f"{report.person}: {len(report.nights)} night(s) from {report.first} to "
            f"{report.last}, {len(report.entries)} diary entr"
            + ("y" if len(report.entries) == 1 else "ies")
        )
        if report.sits:
            print(f"  {len(report.sits)} SIT(s), shown beside the night after each")
        for _tag, label, plm, _lm in report.comparisons:
            print(f"  {label}: {plm.caution}")
        for _folder, why in report.unreadable:
            print(f"  not read: {why}")
        pngs = ", ".join(
            report.files[n].name
            for n in ("trend", "heatmap", "comparison", "sit")
            if n in report.files
        )
        print(f"wrote {report.files['html']} (and {pngs})")
    return 0
