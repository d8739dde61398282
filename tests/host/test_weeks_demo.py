"""The end of `make demo`: beside one night, more nights, a diary and the trend report."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from legsense.cli import main
from legsense.diary import read_diary
from legsense.weeks_demo import EXTRA_NIGHTS, several_nights

NS = {"h": "http://www.w3.org/1999/xhtml"}


@pytest.mark.slow
def test_the_demo_ends_with_a_trend_report(tmp_path, capsys):
    out = tmp_path / "demo-output"
    out.mkdir()
    trace = out / "night.csv"
    assert main(["simulate-night", "--seed", "7", "--hours", "0.1", "--rate", "26",
                 "--start-utc", "2026-11-21T22:30:00+00:00", "--out", str(trace)]) == 0  # fmt: skip
    assert main(["analyze", str(trace), "--out", str(out / "night-seed7"), "-q"]) == 0
    assert several_nights(out) == 0
    printed = capsys.readouterr().out
    report = out / "report.html"
    assert f"Trend report of {EXTRA_NIGHTS + 1} nights with a diary: {report.resolve()}" in printed
    root = ET.fromstring(report.read_text())
    rows = root.findall(".//h:table[@id='nights-table']/h:tr[@data-night]", NS)
    assert len(rows) == EXTRA_NIGHTS + 1  # the demo's own night is among them
    entries = read_diary(out / "diary.csv")
    assert [e.tag for e in entries if e.tag] == ["iron"]
    assert root.find(".//h:table[@id='comparison']/h:tr[@data-tag='iron']", NS) is not None
    # Everything stays inside the demo's folder; a second run rewrites the same files.
    assert several_nights(out) == 0
    assert len(read_diary(out / "diary.csv")) == len(entries)
