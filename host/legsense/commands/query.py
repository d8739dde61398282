"""`legsense query DATASET "SQL"`: ask the cohort dataset a question with DuckDB."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import date, datetime
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="run SQL (DuckDB) over a dataset made by `legsense export`",
        description="Run one SQL statement with DuckDB (embedded) over the dataset's tables "
        "nights, events, epochs and diary (each with the columns person and month). "
        'Example: legsense query DATASET "SELECT person, median(plm_index) FROM nights '
        'GROUP BY person"',
    )
    p.add_argument("dataset", type=Path, metavar="DATASET")
    p.add_argument("sql", metavar="SQL")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="print CSV")
    fmt.add_argument("--json", action="store_true", help="print JSON lines")
    p.add_argument("--max-rows", type=int, default=1000, metavar="N", help="table: at most N rows")
    return p


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def run(args: argparse.Namespace) -> int:
    from legsense.cohort_dataset import query  # duckdb: loaded only when needed

    names, rows = query(args.dataset, args.sql)
    out = sys.stdout
    if args.csv:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(names)
        w.writerows([[_cell(v) for v in r] for r in rows])
        return 0
    if args.json:
        for r in rows:
            out.write(json.dumps(dict(zip(names, r, strict=True)), default=str) + "\n")
        return 0
    shown = [[_cell(v) for v in r] for r in rows[: max(0, args.max_rows)]]
    widths = [max([len(n)] + [len(r[i]) for r in shown]) for i, n in enumerate(names)]
    out.write("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)).rstrip() + "\n")
    for r in shown:
        out.write("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
    more = len(rows) - len(shown)
    out.write(
        f"({len(rows)} row{'s' if len(rows) != 1 else ''}"
        + (f", {more} not shown)\n" if more else ")\n")
    )
    return 0
