"""The per-stage table of a scored night as text (terminal) and CSV (stages.csv)."""

from __future__ import annotations

import csv
import io
from typing import Any

# Rows shown, in order, with the label a clinician reads; rows absent from a table
# (no respiratory channel, no arousals) are left out.
ROWS = (
    ("hours", "time (h)"),
    ("lm_index", "LM /h"),
    ("clm_index", "CLM /h"),
    ("plm_index", "PLM /h"),
    ("plm_arousal_index", "PLM with arousal /h"),
    ("periodicity_index", "periodicity index"),
    ("imi_log_mean_s", "IMI log mean (s)"),
    ("imi_log_sd_factor", "IMI log SD (x)"),
    ("clm_nr_index", "CLMnr /h"),
    ("plm_nr_index", "PLMnr /h"),
    ("plm_nr_arousal_index", "PLMnr with arousal /h"),
    ("periodicity_index_nr", "periodicity index nr"),
    ("imi_nr_log_mean_s", "IMInr log mean (s)"),
    ("imi_nr_log_sd_factor", "IMInr log SD (x)"),
    ("respiratory_clm_count", "respiratory CLM (n)"),
    ("respiratory_event_index", "respiratory events /h"),
    ("arousal_index", "arousals /h"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 and value != int(value) else f"{value:.2f}"
    return str(value)


def stage_table_text(table: dict[str, Any]) -> str:
    """The table as aligned text, one row per figure, one column per stage."""
    columns = table["columns"]
    lines = [["", *columns]]
    for key, label in ROWS:
        if key in table:
            lines.append([label, *(_cell(v) for v in table[key])])
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    out = []
    for row in lines:
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
        out.append("  ".join([first, *rest]).rstrip())
    return "\n".join(out) + "\n"


def stage_table_csv(table: dict[str, Any]) -> str:
    """The table as CSV: a `figure` column then one column per stage; every row the
    table has, under its JSON name."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    columns = table["columns"]
    w.writerow(["figure", *columns])
    for key, values in table.items():
        if key == "columns":
            continue
        w.writerow([key, *("" if v is None else v for v in values)])
    return buf.getvalue()
