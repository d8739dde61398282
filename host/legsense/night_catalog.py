"""The nights under a data folder: where they are, whose, which evening, how good.

A night folder is any folder holding a summary.json (what `legsense sync`, `analyze` and
`reanalyze` write). Whose night it is: the summary's `recording.person` when the device
was given one, else its `recording.device_id` (a synced night), else the name of the
folder that holds the night folder (`DIR/anna/2026-11-21/` is anna's). Which evening:
a night belongs to the local date of its start minus 12 hours, so a night started at
00:30 is the night of the evening before. Hidden folders (a sync's temporary ones) are
skipped. A SIT folder (summary `kind: "sit"`) goes into `Catalog.sits`, never into the
nights. A person's bilateral night (DIR/persons/<person>/..., bilateral_night) stands
for the two single-leg nights it was made of: those are not listed beside it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

from legsense.errors import InputError

SUMMARY = "summary.json"
EVENING_SHIFT = timedelta(hours=12)
MAX_DEPTH = 6  # DIR/device/night is depth 2; leave room for study layouts


@dataclass
class NightRef:
    """One night folder and what its summary.json says."""

    folder: Path
    person: str
    summary: dict[str, Any]
    start_utc: datetime | None
    zone: tzinfo
    evening: date | None  # None: the start time is unknown (an undated night)
    problem: str = ""

    @property
    def recording(self) -> dict[str, Any]:
        r = self.summary.get("recording")
        return r if isinstance(r, dict) else {}

    @property
    def start_local(self) -> datetime | None:
        return None if self.start_utc is None else self.start_utc.astimezone(self.zone)

    def key(self, root: Path) -> str:
        """A stable name for the night: its folder relative to the data folder."""
        try:
            return self.folder.relative_to(root).as_posix()
        except ValueError:
            return self.folder.as_posix()


@dataclass
class Catalog:
    """The readable nights under a folder (sorted by person, evening, start) and the
    folders that looked like nights but could not be read."""

    root: Path
    nights: list[NightRef] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    sits: list[NightRef] = field(default_factory=list)  # SIT folders: never counted as nights

    def people(self) -> list[str]:
        return sorted({n.person for n in self.nights} | {s.person for s in self.sits})


def parse_utc_offset(text: str) -> timezone:
    """ "+01:00", "-05:30", "UTC", or minutes east of UTC ("60") -> a fixed zone."""
    t = text.strip()
    if t.upper() in ("UTC", "Z"):
        return UTC  # type: ignore[return-value]
    m = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})", t)
    if m:
        minutes = int(m.group(2)) * 60 + int(m.group(3))
        minutes = -minutes if m.group(1) == "-" else minutes
    elif re.fullmatch(r"[+-]?\d{1,4}", t):
        minutes = int(t)
    else:
        raise InputError(f"--utc-offset must look like +01:00, -05:30 or 60, got {text!r}")
    if abs(minutes) > 14 * 60:
        raise InputError(f"--utc-offset {text!r} is more than 14 hours from UTC")
    return timezone(timedelta(minutes=minutes))


def person_of(summary: dict[str, Any], folder: Path, root: Path) -> str:
    """Whose night it is (see the module doc)."""
    rec = summary.get("recording") if isinstance(summary.get("recording"), dict) else {}
    for key in ("person", "device_id"):
        value = (rec or {}).get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    parent = folder.parent
    return parent.name if parent != root and parent.name else (root.resolve().name or "unnamed")


def zone_for(summary: dict[str, Any], start_utc: datetime | None, fixed: tzinfo | None) -> tzinfo:
    """The person's zone: the report's --utc-offset, else the night's configured
    utc_offset_min, else the host's zone at the night's start."""
    if fixed is not None:
        return fixed
    rec = summary.get("recording") if isinstance(summary.get("recording"), dict) else {}
    configured = (rec or {}).get("utc_offset_min")
    if configured not in (None, ""):
        try:
            return timezone(timedelta(minutes=int(str(configured))))
        except ValueError:
            pass
    if start_utc is not None:
        return start_utc.astimezone().tzinfo or UTC
    return UTC


def evening_of(start_local: datetime | None) -> date | None:
    """The evening a night belongs to (its local start minus 12 h)."""
    return None if start_local is None else (start_local - EVENING_SHIFT).date()


def _start_utc(summary: dict[str, Any]) -> datetime | None:
    rec = summary.get("recording") if isinstance(summary.get("recording"), dict) else {}
    text = (rec or {}).get("start_utc")
    if not isinstance(text, str) or not text:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def night_folders(root: Path) -> list[Path]:
    """Every folder under root (root included) holding a summary.json."""
    found: list[Path] = []
    base_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if len(here.parts) - base_depth >= MAX_DEPTH:
            dirnames[:] = []
        if SUMMARY in filenames:
            found.append(here)
    return found


def load_night(folder: Path, root: Path, fixed_zone: tzinfo | None = None) -> NightRef:
    """Read one night's summary; raises InputError when it is not a readable night."""
    path = folder / SUMMARY
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path) from None
    except ValueError as exc:
        raise InputError(f"not JSON: {exc}", path) from None
    if not isinstance(summary, dict):
        raise InputError("not a night summary (expected a JSON object)", path)
    for key in ("plm_index", "lm_index", "recording_hours", "analysed_hours"):
        value = summary.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InputError(f"not a night summary: {key} missing or not a number", path)
    start = _start_utc(summary)
    zone = zone_for(summary, start, fixed_zone)
    local = None if start is None else start.astimezone(zone)
    return NightRef(
        folder, person_of(summary, folder, root), summary, start, zone, evening_of(local)
    )


def _is_sit(summary: dict[str, Any]) -> bool:
    # A SIT (legsense.sit, docs/sit.md) is a test in the evening, not a night.
    rec = summary.get("recording")
    return summary.get("kind") == "sit" or (isinstance(rec, dict) and rec.get("kind") == "sit")


def _bilateral_sources(nights: list[NightRef]) -> set[Path]:
    """The single-leg night folders the bilateral nights among `nights` were made of
    (their summary names them relative to the data folder, DIR/persons/<person>/<night>)."""
    out: set[Path] = set()
    for n in nights:
        block = n.summary.get("bilateral")
        if n.recording.get("kind") != "bilateral" or not isinstance(block, dict):
            continue
        legs = block.get("legs")
        data_dir = n.folder.parents[2] if len(n.folder.parents) > 2 else n.folder
        for source in (legs or {}).values() if isinstance(legs, dict) else ():
            rel = source.get("folder") if isinstance(source, dict) else None
            if isinstance(rel, str) and rel:
                out.add((data_dir / rel).resolve())
    return out


def scan(
    root: Path,
    fixed_zone: tzinfo | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Catalog:
    """All nights under root. Missing or non-folder root: InputError (exit 2)."""
    root = Path(root)
    if not root.exists():
        raise InputError("no such folder", root)
    if not root.is_dir():
        raise InputError("not a folder", root)
    catalog = Catalog(root)
    folders = night_folders(root)
    for i, folder in enumerate(folders, start=1):
        try:
            ref = load_night(folder, root, fixed_zone)
            (catalog.sits if _is_sit(ref.summary) else catalog.nights).append(ref)
        except InputError as exc:
            catalog.unreadable.append((folder, str(exc)))
        if progress is not None:
            progress(i, len(folders))
    merged_from = _bilateral_sources(catalog.nights)
    if merged_from:
        catalog.nights = [n for n in catalog.nights if n.folder.resolve() not in merged_from]
    catalog.sits.sort(key=lambda n: (n.person, n.start_utc or datetime.max.replace(tzinfo=UTC)))
    catalog.nights.sort(
        key=lambda n: (
            n.person,
            n.evening or date.max,
            n.start_utc or datetime.max.replace(tzinfo=UTC),
            str(n.folder),
        )
    )
    return catalog
