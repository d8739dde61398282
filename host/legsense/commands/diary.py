"""`legsense diary add|list|remove`: what a person tried and how their evening was.

The diary is DIR/diary.csv in the data folder (--data, else $LEGSENSE_DATA, else the
user data folder), plain CSV documented in legsense/diary.py and docs/weeks.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from legsense.diary import (
    ONGOING,
    DiaryEntry,
    add_entry,
    diary_path,
    make_entry,
    read_diary,
    remove_lines,
)
from legsense.errors import InputError


def data_folder(option: Path | None) -> Path:
    """--data, else $LEGSENSE_DATA, else the user data folder (as `legsense sync`)."""
    from legsense.sync import data_dir

    return data_dir(option)


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="add, list or remove diary entries (treatments, evening symptom ratings)",
        description="The diary (DIR/diary.csv, editable by hand) records what a person tried "
        "(a tag such as iron, massage, mesotherapy, pramipexole, caffeine, exercise; an "
        "optional dose) and the evening's symptom rating 0-10. `legsense report` compares "
        "the nights with and without each tag.",
    )
    p.add_argument("--data", type=Path, metavar="DIR", help="data folder (default: as sync)")
    verbs = p.add_subparsers(dest="diary_verb", metavar="VERB", parser_class=type(p))
    verbs.required = True

    a = verbs.add_parser("add", help="add an entry")
    a.add_argument("--person", help="who (default: the only person in the data folder)")
    a.add_argument("--date", required=True, help="the evening, YYYY-MM-DD")
    a.add_argument(
        "--to", default="", metavar="END", help=f"last evening (YYYY-MM-DD) or '{ONGOING}'"
    )
    a.add_argument("--tag", default="", help="what was tried: iron, massage, pramipexole, ...")
    a.add_argument("--value", default="", help="dose or amount (a number)")
    a.add_argument("--unit", default="", help="unit of the value (mg, min, cups, ...)")
    a.add_argument("--rating", default="", help="evening symptom rating, 0 (none) to 10 (worst)")
    a.add_argument("--note", default="", help="free text")

    lst = verbs.add_parser("list", help="show the entries with their line numbers")
    lst.add_argument("--person", help="only this person")

    r = verbs.add_parser("remove", help="remove entries by the line numbers `list` shows")
    r.add_argument("lines", type=int, nargs="+", metavar="LINE")
    return p


def describe(e: DiaryEntry) -> str:
    """One entry as a line of `legsense diary list`."""
    when = e.start.isoformat()
    if e.ongoing:
        when += " on"
    elif e.end is not None and e.end != e.start:
        when += f"..{e.end.isoformat()}"
    what = e.tag or "-"
    if e.value is not None:
        what += f" {e.value:g}{(' ' + e.unit) if e.unit else ''}"
    parts = [f"{e.line:>5}  {e.person:<12} {when:<23} {what:<24}"]
    parts.append(f"rating {e.rating}" if e.rating is not None else " " * 9)
    if e.note:
        parts.append(f"  {e.note}")
    return " ".join(parts).rstrip()


def _default_person(data: Path, entries: list[DiaryEntry]) -> str:
    from legsense.night_catalog import scan

    people = {e.person for e in entries}
    if data.is_dir():
        people |= set(scan(data).people())
    if len(people) == 1:
        return people.pop()
    known = ", ".join(sorted(people)) if people else "none yet"
    raise InputError(f"name the person with --person (people in {data}: {known})")


def run(args: argparse.Namespace) -> int:
    data = data_folder(args.data)
    path = diary_path(data)
    if data.exists() and not data.is_dir():
        raise InputError("the data folder is not a folder", data)
    if args.diary_verb == "add":
        entries = read_diary(path)
        person = args.person or _default_person(data, entries)
        entry = make_entry(
            person,
            args.date,
            args.to,
            args.tag,
            args.value,
            args.unit,
            args.rating,
            args.note,
        )
        written = add_entry(path, entry)
        print(f"added to {path}:\n{describe(written)}")
        return 0
    if args.diary_verb == "list":
        entries = [e for e in read_diary(path) if not args.person or e.person == args.person]
        if not entries:
            print(f"no diary entries in {path}")
            return 0
        print(f" line  {'person':<12} {'evening(s)':<23} {'tag':<24}")
        for e in entries:
            print(describe(e))
        return 0
    removed = remove_lines(path, sorted(set(args.lines)))
    print(f"removed from {path}:")
    for e in removed:
        print(describe(e))
    return 0
