"""The trend report: one self-contained page whose numbers are the nights' own."""

from __future__ import annotations

import base64
import csv
import json
import shutil
import statistics
import subprocess
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from legsense.cli import main
from legsense.night_catalog import load_night
from legsense.synthetic_cohort import make_cohort
from legsense.treatment_effect import MIN_NIGHTS, compare
from legsense.trend_report import HEAT_FIRST_HOUR, hourly_rates
from matplotlib.image import imread

NS = {"h": "http://www.w3.org/1999/xhtml"}
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("cohort")
    make_cohort(data, people=1, nights=12, seed=3)
    return data


@pytest.fixture(scope="module")
def page(cohort, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", str(cohort), "--out", str(out), "-q"]) == 0
    return out


def parse(page: Path) -> ET.Element:
    return ET.fromstring(page.read_text(encoding="utf-8"))


def test_the_page_parses_and_embeds_every_figure(page):
    root = parse(page)  # XHTML-compatible: a strict XML parser reads it
    text = page.read_text()
    assert (
        "<script" not in text
        and "<link" not in text
        and "http://" not in text.replace('xmlns="http://www.w3.org/1999/xhtml"', "")
    )
    for name in ("trend", "heatmap", "comparison"):
        img = root.find(f".//h:figure[@id='figure-{name}']/h:img", NS)
        assert img is not None, name
        src = img.get("src", "")
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1])
        beside = page.with_name(f"report-{name}.png")
        assert beside.read_bytes() == png  # the same figure as a file
        image = imread(beside)
        assert image.shape[0] > 200 and image[..., :3].std() > 0.05  # drawn, not blank


def test_numbers_in_the_page_are_the_night_summaries(page, cohort):
    rows = parse(page).findall(".//h:table[@id='nights-table']/h:tr[@data-night]", NS)
    summaries = {str(p.parent): json.loads(p.read_text()) for p in cohort.rglob("summary.json")}
    assert len(rows) == len(summaries) == 12
    for tr in rows:
        s = summaries[tr.get("data-night")]
        cells = {td.get("data-key"): td for td in tr.findall("h:td[@data-key]", NS)}
        for key in ("plm_index", "lm_index", "recording_hours", "analysed_hours"):
            assert float(cells[key].get("data-value")) == s[key]
        assert cells["plm_index"].text == f"{s['plm_index']:.1f}"
        pi = s["periodicity_index"]
        assert cells["periodicity_index"].text == ("–" if pi is None else f"{pi:.2f}")
        links = [a.get("href") for a in tr.findall(".//h:a", NS)]
        assert any(h.endswith("night.png") or h.endswith("/") for h in links)
        folder_link = next(h for h in links if h.endswith("/"))
        assert (page.parent / folder_link).resolve() == Path(tr.get("data-night")).resolve()


def test_the_comparison_is_computed_from_the_nights(page, cohort):
    # Independently: the diary says iron from an evening on; a night belongs to its
    # evening (the folder name here); medians by the standard library.
    with open(cohort / "diary.csv") as f:
        rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")][1:]
    iron_from = date.fromisoformat(next(r[1] for r in rows if r[3] == "iron"))
    with_, without = [], []
    for p in cohort.rglob("summary.json"):
        plmi = json.loads(p.read_text())["plm_index"]
        (with_ if date.fromisoformat(p.parent.name) >= iron_from else without).append(plmi)
    tr = parse(page).find(
        ".//h:table[@id='comparison']/h:tr[@data-tag='iron'][@data-measure='PLM index']", NS
    )
    assert tr is not None
    cells = {td.get("data-key"): td.get("data-value") for td in tr.findall("h:td", NS)}
    assert int(cells["n_with"]) == len(with_) and int(cells["n_without"]) == len(without)
    assert float(cells["median_with"]) == pytest.approx(statistics.median(with_))
    assert float(cells["median_without"]) == pytest.approx(statistics.median(without))
    assert float(cells["difference"]) == pytest.approx(
        statistics.median(with_) - statistics.median(without)
    )


def test_the_bootstrap_interval_is_reproducible_and_honest():
    same = compare("PLM index", [10.0] * 6, [20.0] * 6)
    assert (same.difference, same.ci_low, same.ci_high) == (-10.0, -10.0, -10.0)
    assert "lower" in same.caution and "not a trial" in same.caution
    rng = np.random.default_rng(5)
    a, b = rng.normal(20, 8, 9), rng.normal(22, 8, 11)
    first, again = compare("PLM index", a, b), compare("PLM index", a, b)
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)  # fixed seed
    assert first.ci_low < first.difference < first.ci_high
    few = compare("PLM index", [12.0, 14.0], [30.0] * 10)
    assert not few.enough and few.caution.startswith("Too few nights to tell")
    assert f"at least {MIN_NIGHTS}" in few.caution
    none = compare("PLM index", [], [30.0] * 10)
    assert none.difference is None and none.caution.startswith("Cannot compare")


def test_hourly_rates_fall_in_real_clock_hours(tmp_path):
    # A night from 22:30 to 00:30 (UTC, told so): 4 LMs between 22:40 and 22:50, of which
    # 3 PLMs... by hand: the 22:00 column has 30 min of data (8 LM/h, 6 PLM/h); the
    # 23:00 column a whole hour with one LM; 00:00 half an hour with none.
    night = tmp_path / "anna" / "2026-11-21"
    night.mkdir(parents=True)
    summary = {
        "plm_index": 1.5, "lm_index": 2.5, "recording_hours": 2.0, "analysed_hours": 2.0,
        "params": {"merge_gap_s": 0.5},
        "recording": {"start_utc": "2026-11-21T22:30:00+00:00", "utc_offset_min": "0"},
    }  # fmt: skip
    (night / "summary.json").write_text(json.dumps(summary))
    (night / "epochs.csv").write_text(
        "start_s,n_samples\n" + "".join(f"{30 * k},1500\n" for k in range(240))
    )
    (night / "events.csv").write_text(
        "onset_s,offset_s,lm,plm\n"
        "600,601,1,1\n630,631,1,1\n631.2,631.9,1,1\n660,661,1,1\n"  # 631.2: same LM
        "700,702,1,0\n710,710.2,0,0\n3000,3002,1,0\n"
    )
    lm, plm = hourly_rates(load_night(night, tmp_path))
    col = 22 - HEAT_FIRST_HOUR
    assert lm[col] == pytest.approx(4 / 0.5) and plm[col] == pytest.approx(3 / 0.5)
    assert lm[col + 1] == pytest.approx(1.0) and plm[col + 1] == 0.0
    assert lm[col + 2] == 0.0
    assert np.isnan(lm[col - 1]) and np.isnan(lm[col + 3])  # no data: blank, not zero


def test_progress_and_summary_on_a_pipe(cohort, tmp_path, capsys):
    assert main(["report", str(cohort), "--out", str(tmp_path / "r.html")]) == 0
    captured = capsys.readouterr()
    assert "report: 100%" in captured.err
    assert "iron (since" in captured.out and "wrote" in captured.out


def test_bad_input_exits_2_with_one_line(cohort, tmp_path, capsys):
    out = str(tmp_path / "r.html")

    def fails(args: list[str], text: str) -> None:
        assert main(["report", *args, "--out", out, "-q"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and text in err, err

    fails([str(tmp_path / "nowhere")], "no such folder")
    fails([str(cohort), "--from", "2026-02-30"], "--from must be a date")
    fails([str(cohort), "--from", "2026-01-10", "--to", "2026-01-08"], "is before --from")
    fails([str(cohort), "--person", "zoe"], "no nights of person 'zoe'")
    fails([str(cohort), "--utc-offset", "+25:00"], "more than 14 hours")
    broken = tmp_path / "broken"
    shutil.copytree(cohort, broken)
    (broken / "diary.csv").write_text((cohort / "diary.csv").read_text() + "p001,soon,,iron\n")
    fails([str(broken)], "diary.csv:")
    only_bad = tmp_path / "bad" / "n1"
    only_bad.mkdir(parents=True)
    (only_bad / "summary.json").write_text("{not json")
    fails([str(tmp_path / "bad")], "no readable night folders")
    assert main(["report", str(cohort), "--out", str(tmp_path), "-q"]) == 2  # a folder


def test_an_unreadable_night_is_listed_not_fatal(cohort, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(cohort, data)
    bad = next(iter(sorted(data.rglob("summary.json")))).parent
    (bad / "summary.json").write_text('{"plm_index": "lots"}')
    assert main(["report", str(data), "--out", str(tmp_path / "r.html"), "-q"]) == 0
    root = parse(tmp_path / "r.html")
    listed = " ".join(li.text or "" for li in root.findall(".//h:li", NS))
    assert str(bad) in listed and "plm_index missing or not a number" in listed


def test_several_people_need_a_choice(tmp_path, capsys):
    make_cohort(tmp_path / "two", people=2, nights=3, seed=4)
    assert main(["report", str(tmp_path / "two"), "--out", str(tmp_path / "r.html"), "-q"]) == 2
    assert "several people (p001, p002)" in capsys.readouterr().err
    args = ["report", str(tmp_path / "two"), "--person", "p002", "--out", str(tmp_path / "r.html")]
    assert main([*args, "-q"]) == 0
    assert "Nights of p002" in (tmp_path / "r.html").read_text()


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="headless Chromium not installed (apt-get install chromium)"
)
def test_the_page_renders_in_a_browser(page, tmp_path):
    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars",
            "--window-size=1280,2400", f"--screenshot={shot}", page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    rgb = imread(shot)[..., :3]
    assert rgb.shape[:2] == (2400, 1280)
    ink = np.mean(rgb.min(axis=-1) < 0.8)
    assert ink > 0.05  # text and figures, not an empty page
    vermillion = np.all(np.abs(rgb - np.array([0xD5, 0x5E, 0x00]) / 255) < 0.06, axis=-1)
    assert vermillion.sum() > 200  # the PLM index line of the embedded trend figure
