"""RemLogic "Event Export" text files (Natus/Embla RemLogic PSG software).

The layout, as exported::

    RemLogic Event Export
    Patient ID:\t...                 (header lines: never kept)
    Recording Date:\t7/8/2008
    ...
    Time [hh:mm:ss]\tEvent\tDuration[s]\tLocation
    2008-07-08T22:56:53.000000\tSLEEP-S0\t30\tEEG-F4-A1
    2008-07-08T23:13:40.000000\tPLM-LM\t1.5\tLeft Leg

Columns are found by their header names (`Time [hh:mm:ss]` or `Time [hh:mm:ss.xxx]`,
`Event`, `Duration[s]`, optional `Location`; other columns are ignored), so their
order may vary. Times are ISO date-times, or times of day (then the `Recording Date`
gives the date when it can be read; each time goes on the day that puts it nearest the
row before it, so a night crosses midnight). Decimal commas are
accepted. Rows that cannot be read (a bad time, a bad duration, too few fields) are
counted and skipped, never fatal; a file without the table header is refused.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

from legsense.errors import InputError
from legsense.psg.labels import EventPatterns
from legsense.psg.record import PsgRecord, RecordBuilder, file_digest

FORMAT = "remlogic"
_TIME_HEADER = re.compile(r"(^|\t)\s*time\s*\[hh:mm:ss", re.IGNORECASE)
_DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d", "%d.%m.%Y", "%m/%d/%y", "%d.%m.%y")
_TIME_OF_DAY = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?$")


def looks_like_remlogic(head: bytes) -> bool:
    """True when the first bytes of a file look like a RemLogic export (any encoding)."""
    text = _decode_head(head)
    return (
        "remlogic" in text.lower()
        or re.search(r"(?im)(^|\t)\s*time\s*\[hh:mm:ss", text) is not None
    )


def read_remlogic(path: Path, patterns: EventPatterns | None = None) -> PsgRecord:
    """Read a RemLogic event export. InputError (exit 2) for a file that is not one."""
    path = Path(path)
    patterns = patterns or EventPatterns()
    try:
        digest = file_digest(path)
        encoding = _encoding(path)
        with open(path, encoding=encoding, errors="replace", newline="") as f:
            builder = _read_rows(f, path, patterns, digest)
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None
    try:
        return builder.build()
    except ValueError as exc:
        raise InputError(str(exc), path) from None


def _read_rows(
    lines: Iterator[str], path: Path, patterns: EventPatterns, digest: str
) -> RecordBuilder:
    builder = RecordBuilder(patterns, FORMAT, digest)
    recording_date: date | None = None
    columns: dict[str, int] | None = None
    prev: datetime | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if columns is None:
            if _TIME_HEADER.search(line):
                columns = _columns(line, path, number)
                continue
            key, _, value = line.partition(":")
            if key.strip().lower() == "recording date":
                recording_date = _parse_date(value.strip())
            continue  # header lines: read for the date only, never kept
        if not line.strip():
            continue
        fields = line.split("\t")
        need = max(columns["time"], columns["event"], columns["duration"])
        if len(fields) <= need:
            builder.skip("too few fields", number)
            continue
        label = fields[columns["event"]].strip()
        if not label:
            builder.skip("no event name", number)
            continue
        loc = fields[columns["location"]].strip() if 0 <= columns["location"] < len(fields) else ""
        when = _parse_time(fields[columns["time"]].strip(), recording_date)
        if when is None:
            builder.skip("unreadable time", number)
            continue
        if isinstance(when, time):
            builder.date_known = recording_date is not None
            when = _nearest_day(when, recording_date, prev)
        duration = _parse_number(fields[columns["duration"]].strip())
        if duration is None:
            builder.skip("unreadable duration", number)
            continue
        prev = when
        builder.add(when, duration, label, loc, number)
    if columns is None:
        raise InputError(
            "not a RemLogic event export: no 'Time [hh:mm:ss]' table header found", path
        )
    return builder


def _nearest_day(tod: time, recording_date: date | None, prev: datetime | None) -> datetime:
    """A time of day on the date that puts it nearest the row before (a night crosses
    midnight; rows are in time order, give or take events listed after the epochs)."""
    if prev is None:
        return datetime.combine(recording_date or date(1970, 1, 1), tod)
    same = datetime.combine(prev.date(), tod)
    options = (same - timedelta(days=1), same, same + timedelta(days=1))
    return min(options, key=lambda t: abs((t - prev).total_seconds()))


def _columns(header: str, path: Path, line: int) -> dict[str, int]:
    names = [h.strip().lower() for h in header.split("\t")]
    found: dict[str, int] = {"location": -1}
    for i, name in enumerate(names):
        if name.startswith("time") and "time" not in found:
            found["time"] = i
        elif name == "event" or name.startswith("event "):
            found.setdefault("event", i)
        elif name.startswith("duration"):
            found.setdefault("duration", i)
        elif name.startswith("location") or name == "channel":
            found["location"] = i
    missing = [k for k in ("time", "event", "duration") if k not in found]
    if missing:
        raise InputError(f"table header lacks the {', '.join(missing)} column", path, line)
    return found


def _parse_time(text: str, recording_date: date | None) -> datetime | time | None:
    """An ISO date-time (naive; a zone, if any, is dropped: PSG clocks are local), or a
    time of day."""
    m = _TIME_OF_DAY.match(text)
    if m:
        h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3))
        frac = m.group(4) or ""
        micro = int((frac + "000000")[:6]) if frac else 0
        if h > 23 or mi > 59 or s > 59:
            return None
        return time(h, mi, s, micro)
    try:
        stamp = datetime.fromisoformat(text.replace(",", "."))
    except ValueError:
        return None
    return stamp.replace(tzinfo=None)


def _parse_number(text: str) -> float | None:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _parse_date(text: str) -> date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _encoding(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still UTF-8.
        return "utf-8" if exc.start >= len(head) - 3 else "cp1252"


def _decode_head(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head.decode("utf-16", errors="replace")
    return head.decode("utf-8", errors="replace")
