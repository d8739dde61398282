"""The diary: what a person tried, and how their legs felt, one row per entry.

DIR/diary.csv in the data folder (beside the device folders), plain CSV that people may
also edit by hand:

    # legsense diary (docs/weeks.md): one row per entry; lines starting with # are notes
    person,date,end_date,tag,value,unit,rating,note
    anna,2026-11-20,ongoing,iron,325,mg,,ferrous sulfate with orange juice
    anna,2026-11-22,,massage,,,4,20 min calves
    anna,2026-11-23,,,,,7,bad evening

- `person`: who: a name, or the device id of a synced night (no commas).
- `date`: the evening the entry is about, YYYY-MM-DD (a night belongs to the evening it
  starts on: a night started at 00:30 on the 23rd is the night of the 22nd).
- `end_date`: empty (that evening only), a later YYYY-MM-DD (inclusive), or `ongoing`
  (a treatment started on `date` and still going on).
- `tag`: what was tried, lower case (`iron`, `massage`, `mesotherapy`, `pramipexole`,
  `caffeine`, `exercise`, or any word of your own); may be empty for a rating alone.
- `value`, `unit`: an optional dose or amount (a number) and its unit.
- `rating`: the evening's symptom rating, 0 (none) to 10 (worst), optional.
- `note`: free text.

Every row needs a tag or a rating. A bad row is reported as one line naming the file and
line (exit status 2). Writes are atomic (temp + fsync + rename + fsync of the folder).
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from legsense.atomic_file import write_text_atomically
from legsense.errors import InputError

DIARY_FILE = "diary.csv"
COLUMNS = ["person", "date", "end_date", "tag", "value", "unit", "rating", "note"]
ONGOING = "ongoing"
HEADER_NOTE = (
    "# legsense diary (see docs/weeks.md): one row per entry; lines starting with # are notes"
)
PERSON_RE = re.compile(r"^[^\x00-\x1f,]{1,64}$")  # a name or a device id; no comma
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class DiaryEntry:
    """One diary row. `end` is None for one evening; `ongoing` for an open treatment."""

    person: str
    start: date
    end: date | None = None
    ongoing: bool = False
    tag: str = ""
    value: float | None = None
    unit: str = ""
    rating: int | None = None
    note: str = ""
    line: int = 0  # where it is in diary.csv (0: not written yet)

    def covers(self, evening: date, last: date | None = None) -> bool:
        """Whether the entry applies to this evening (`last`: the end of an ongoing one)."""
        if evening < self.start:
            return False
        if self.ongoing:
            return last is None or evening <= last
        return evening <= (self.end or self.start)

    @property
    def end_text(self) -> str:
        return ONGOING if self.ongoing else ("" if self.end is None else self.end.isoformat())

    def row(self) -> list[str]:
        """The CSV cells of this entry."""
        value = "" if self.value is None else f"{self.value:g}"
        rating = "" if self.rating is None else str(self.rating)
        return [
            self.person,
            self.start.isoformat(),
            self.end_text,
            self.tag,
            value,
            self.unit,
            rating,
            self.note,
        ]


def diary_path(data: Path) -> Path:
    """Where the diary of a data folder is."""
    return Path(data) / DIARY_FILE


def parse_date(text: str, what: str, path: Path | str | None = None, line: int | None = None):
    """YYYY-MM-DD -> date; InputError naming what, where."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            raise ValueError
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{what} must be a date YYYY-MM-DD, got {text!r}", path, line) from None


def make_entry(
    person: str,
    start: str,
    end: str = "",
    tag: str = "",
    value: str = "",
    unit: str = "",
    rating: str = "",
    note: str = "",
    path: Path | str | None = None,
    line: int | None = None,
) -> DiaryEntry:
    """Validate the cells of one entry; InputError (exit 2) naming the field and line."""
    person = person.strip()
    if not PERSON_RE.match(person):
        raise InputError(
            f"person must be 1-64 characters without commas, got {person!r}",
            path,
            line,
        )
    first = parse_date(start, "date", path, line)
    end = end.strip()
    last: date | None = None
    ongoing = end.lower() == ONGOING
    if end and not ongoing:
        last = parse_date(end, "end_date", path, line)
        if last < first:
            raise InputError(f"end_date {last} is before date {first}", path, line)
    tag = tag.strip().lower()
    if tag and not TAG_RE.match(tag):
        raise InputError(
            f"tag must be one word of lower-case letters, digits, '_' or '-', got {tag!r}",
            path,
            line,
        )
    number: float | None = None
    if value.strip():
        try:
            number = float(value)
        except ValueError:
            raise InputError(f"value must be a number, got {value!r}", path, line) from None
        if not math.isfinite(number):
            raise InputError(f"value must be a finite number, got {value!r}", path, line)
    score: int | None = None
    if rating.strip():
        if not re.fullmatch(r"\d{1,2}", rating.strip()) or int(rating) > 10:
            raise InputError(f"rating must be a whole number 0-10, got {rating!r}", path, line)
        score = int(rating)
    if not tag and score is None:
        raise InputError("an entry needs a tag or a rating", path, line)
    for name, text in (("unit", unit), ("note", note)):
        if "\n" in text or "\r" in text:
            raise InputError(f"{name} must be one line", path, line)
    return DiaryEntry(
        person, first, last, ongoing, tag, number, unit.strip(), score, note.strip(), line or 0
    )


def read_diary(path: Path) -> list[DiaryEntry]:
    """All entries of diary.csv (none when it does not exist). InputError on a bad row."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the diary: {exc}", path) from None
    return _parse(text, path)


def _parse(text: str, path: Path) -> list[DiaryEntry]:
    entries: list[DiaryEntry] = []
    header: list[str] | None = None
    for line, cells in _rows(text, path):
        if header is None:
            header = [c.strip().lower() for c in cells]
            missing = [c for c in ("person", "date", "tag") if c not in header]
            if missing:
                raise InputError(
                    f"the header must name the columns {','.join(COLUMNS)} "
                    f"(missing: {', '.join(missing)})",
                    path,
                    line,
                )
            continue
        if len(cells) > len(header):
            raise InputError(
                f"{len(cells)} fields but the header has {len(header)} "
                "(quote a note that holds a comma)",
                path,
                line,
            )
        get = dict(zip(header, cells, strict=False))
        entries.append(
            make_entry(
                get.get("person", ""),
                get.get("date", ""),
                get.get("end_date", ""),
                get.get("tag", ""),
                get.get("value", ""),
                get.get("unit", ""),
                get.get("rating", ""),
                get.get("note", ""),
                path,
                line,
            )
        )
    return entries


def _rows(text: str, path: Path):
    """(line number, cells) of every row that is not blank or a # note."""
    lines = text.splitlines()
    reader = csv.reader(lines)
    try:
        for cells in reader:
            line = reader.line_num
            if not cells or not "".join(cells).strip():
                continue
            if cells[0].lstrip().startswith("#"):
                continue
            yield line, cells
    except csv.Error as exc:
        raise InputError(f"not CSV: {exc}", path, reader.line_num) from None


def format_row(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def add_entry(path: Path, entry: DiaryEntry) -> DiaryEntry:
    """Append an entry (creating the documented file if needed); returns it with its line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = HEADER_NOTE + "\n" + format_row(COLUMNS)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the diary: {exc}", path) from None
    _parse(text, path)  # never append to a file we could not read back
    if text and not text.endswith("\n"):
        text += "\n"
    text += format_row(entry.row())
    write_text_atomically(path, text, make_parents=True)
    line = len(text.splitlines())
    return DiaryEntry(**{**entry.__dict__, "line": line})


def remove_lines(path: Path, lines: list[int]) -> list[DiaryEntry]:
    """Remove the entries at these line numbers; returns what was removed."""
    path = Path(path)
    entries = read_diary(path)
    if not path.exists():
        raise InputError("no diary yet (add an entry first)", path)
    by_line = {e.line: e for e in entries}
    unknown = [n for n in lines if n not in by_line]
    if unknown:
        raise InputError(
            f"no entry on line {', '.join(map(str, unknown))} (see `legsense diary list`)", path
        )
    text = path.read_text(encoding="utf-8")
    kept = [s for n, s in enumerate(text.splitlines(keepends=True), start=1) if n not in lines]
    write_text_atomically(path, "".join(kept), make_parents=True)
    return [by_line[n] for n in lines]
