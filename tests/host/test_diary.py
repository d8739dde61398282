"""The diary: a plain CSV people can edit, validated row by row, written atomically."""

from __future__ import annotations

from datetime import date

import pytest
from legsense.cli import main
from legsense.diary import add_entry, make_entry, read_diary, remove_lines
from legsense.errors import InputError

HEADER = "person,date,end_date,tag,value,unit,rating,note\n"


def test_add_list_remove_round_trip(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["diary", "--data", str(data), "add", "--person", "anna", "--date",
                 "2026-11-20", "--to", "ongoing", "--tag", "Iron", "--value", "325",
                 "--unit", "mg", "--note", "with juice, daily"]) == 0  # fmt: skip
    assert main(["diary", "--data", str(data), "add", "--date", "2026-11-22", "--rating", "7"]) == 0
    text = (data / "diary.csv").read_text()
    lines = text.splitlines()
    assert lines[0].startswith("#")  # the file documents itself
    assert lines[1] == HEADER.strip()
    assert lines[2] == 'anna,2026-11-20,ongoing,iron,325,mg,,"with juice, daily"'
    assert lines[3] == "anna,2026-11-22,,,,,7,"  # the only person is the default
    entries = read_diary(data / "diary.csv")
    assert [(e.line, e.tag, e.rating) for e in entries] == [(3, "iron", None), (4, "", 7)]
    assert entries[0].ongoing and entries[0].covers(date(2026, 12, 31))
    assert not entries[0].covers(date(2026, 11, 19))
    capsys.readouterr()
    assert main(["diary", "--data", str(data), "list"]) == 0
    listed = capsys.readouterr().out
    assert "iron 325 mg" in listed and "rating 7" in listed
    assert main(["diary", "--data", str(data), "remove", "3"]) == 0
    assert [e.rating for e in read_diary(data / "diary.csv")] == [7]
    assert list(data.iterdir()) == [data / "diary.csv"]  # no temporary file left


def test_date_ranges_are_inclusive():
    e = make_entry("bo", "2026-11-20", "2026-11-22", "massage")
    assert [e.covers(date(2026, 11, d)) for d in (19, 20, 21, 22, 23)] == [
        False, True, True, True, False
    ]  # fmt: skip
    one = make_entry("bo", "2026-11-20", tag="caffeine")
    assert one.covers(date(2026, 11, 20)) and not one.covers(date(2026, 11, 21))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("anna,2026-13-01,,iron,,,,", "date must be a date YYYY-MM-DD"),
        ("anna,2026-11-20,2026-11-01,iron,,,,", "end_date 2026-11-01 is before date"),
        ("anna,2026-11-20,,iron,lots,,,", "value must be a number"),
        ("anna,2026-11-20,,iron,,,11,", "rating must be a whole number 0-10"),
        ("anna,2026-11-20,,,,,,just a note", "needs a tag or a rating"),
        (",2026-11-20,,iron,,,,", "person must be"),
        ("anna,2026-11-20,,two words,,,,", "tag must be one word"),
        ("anna,2026-11-20,,iron,,,,note,extra", "fields but the header has 8"),
    ],
)
def test_a_bad_row_names_file_and_line(tmp_path, capsys, row, message):
    data = tmp_path / "data"
    data.mkdir()
    (data / "diary.csv").write_text(
        "# hand-edited\n" + HEADER + "anna,2026-11-19,,iron,,,,\n\n" + row + "\n"
    )
    with pytest.raises(InputError) as err:
        read_diary(data / "diary.csv")
    assert err.value.line == 5 and message in str(err.value)
    assert main(["diary", "--data", str(data), "list"]) == 2
    out = capsys.readouterr().err.strip()
    assert len(out.splitlines()) == 1 and "diary.csv:5: " in out and message in out


def test_nothing_is_appended_to_a_file_that_does_not_read_back(tmp_path):
    path = tmp_path / "diary.csv"
    path.write_text(HEADER + "anna,yesterday,,iron,,,,\n")
    before = path.read_bytes()
    with pytest.raises(InputError):
        add_entry(path, make_entry("anna", "2026-11-20", tag="iron"))
    assert path.read_bytes() == before


def test_bad_options_and_missing_lines_exit_2(tmp_path, capsys):
    data = tmp_path / "d"
    args = ["diary", "--data", str(data)]
    assert main([*args, "add", "--person", "anna", "--date", "20/11/2026", "--tag", "x"]) == 2
    assert "date must be a date YYYY-MM-DD" in capsys.readouterr().err
    assert main([*args, "add", "--date", "2026-11-20", "--tag", "iron"]) == 2  # whose?
    assert "--person" in capsys.readouterr().err
    assert main([*args, "add", "--person", "a", "--date", "2026-11-20", "--tag", "iron"]) == 0
    with pytest.raises(InputError, match="no entry on line 9"):
        remove_lines(data / "diary.csv", [9])
    assert main([*args, "remove", "9"]) == 2
