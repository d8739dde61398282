"""markers.csv of a night folder: what the device marked during the night.

Columns (written by the sync): `t_s, utc, code, name, value, text`. `t_s` is seconds
from the start of the night on the same time base as events.csv; `name` is the
firmware's marker name ("button" for a press of the device's button, "resumed after
reset", "FIFO overflow", ...). Older night folders have no markers.csv: then nothing is
known about markers, which is not the same as "none" (see `MarkerList.known`).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

MARKERS_FILE = "markers.csv"
BUTTON = "button"


@dataclass(frozen=True)
class Marker:
    """One marker: when (s from the start of the night), what and its value/text."""

    t_s: float
    name: str
    value: str = ""
    text: str = ""


@dataclass
class MarkerList:
    """The markers of one night; `known` is False when the folder has no markers.csv."""

    markers: list[Marker] = field(default_factory=list)
    known: bool = False
    problem: str = ""  # why markers.csv could not be read (it is then `known` = False)

    @property
    def buttons(self) -> list[Marker]:
        """The person's button presses."""
        return [m for m in self.markers if m.name == BUTTON]


def read_markers(folder: Path) -> MarkerList:
    """Markers of the night folder; never raises (a night is readable without them)."""
    path = Path(folder) / MARKERS_FILE
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        return MarkerList()
    except (OSError, UnicodeDecodeError) as exc:
        return MarkerList(problem=f"{path}: {exc}")
    if not rows:
        return MarkerList(problem=f"{path}: empty")
    head = [c.strip() for c in rows[0]]
    if "t_s" not in head or "name" not in head:
        return MarkerList(problem=f"{path}:1: no t_s or name column")
    col = {name: i for i, name in enumerate(head)}
    out: list[Marker] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            t = float(row[col["t_s"]])
        except (ValueError, IndexError):
            return MarkerList(problem=f"{path}:{line}: t_s is not a number")
        if not math.isfinite(t):
            return MarkerList(problem=f"{path}:{line}: t_s is not finite")

        def cell(name: str, row: list[str] = row) -> str:
            i = col.get(name)
            return row[i].strip() if i is not None and i < len(row) else ""

        out.append(Marker(t, cell("name"), cell("value"), cell("text")))
    return MarkerList(out, known=True)
