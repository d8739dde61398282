"""SIT scoring, the SIT folder, `legsense score --sit`, SITs in the catalog, the trend
report ("evening before the night") and the cohort export.

Expected values are worked out by hand from hand-built movements and ratings (the
comments say how), never taken from a run of the code.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from legsense.cli import main
from legsense.errors import InputError
from legsense.night import Epochs, Movements, NightInfo
from legsense.night_catalog import scan
from legsense.night_folder import write_night_folder
from legsense.scoring import ScoringParams, score_movements
from legsense.sit import Rating, SitSession, read_ratings_csv, score_sit, write_sit_folder

# A 60-min SIT (times in s):
# - a series of 6 LMs of 2 s every 15 s from 100 s: IMIs 15 s -> 6 PLMs (10-90 and 4-90)
# - one lone LM at 1000 s (IMI 825 s: no series)
# - a 0.3 s twitch at 2000 s: not an LM
# - 4 LMs of 1 s every 6 s from 2400 s: IMIs 6 s -> no PLM with the 2016 window (10-90 s),
#   4 PLMs with the older SIT window (4-90 s, Michaud et al. 2001)
SERIES = [100.0 + 15.0 * k for k in range(6)]
FAST = [2400.0 + 6.0 * k for k in range(4)]
ONSETS = [*SERIES, 1000.0, 2000.0, *FAST]
DURATIONS = [2.0] * 6 + [2.0, 0.3] + [1.0] * 4
# Ratings at 10..60 min: 2, missed, 5, 6, missed, 8 -> 4 answered, 2 missed,
# mean (2+5+6+8)/4 = 5.25, max 8, first 2, last 8.
RATINGS = [(10, 2), (20, None), (30, 5), (40, 6), (50, None), (60, 8)]
START = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)


def movements(onsets=ONSETS, durations=DURATIONS) -> Movements:
    on = np.array(onsets, dtype=float)
    return Movements.from_arrays(
        on, on + np.array(durations, dtype=float), np.array([""] * len(on), dtype=object)
    )


def session(test_min: float = 60.0, completed: bool = True, start=START, **kw) -> SitSession:
    ratings = [Rating(m * 60.0, r, "button") for m, r in RATINGS if m <= test_min]
    info = NightInfo(test_min * 60.0, test_min * 60.0, 52.0, start_utc=start, **kw)
    return SitSession(
        movements(),
        info,
        ratings,
        sit_min=60,
        every_min=10,
        test_s=test_min * 60.0,
        completed=completed,
        ending="SIT complete" if completed else "stopped by host",
    )


def test_indices_over_the_test_with_the_2016_window():
    s = score_sit(session()).summary
    assert s["kind"] == "sit"
    assert s["lm_count"] == 6 + 1 + 4  # the twitch is not an LM
    assert s["lm_index"] == pytest.approx(11.0)  # 11 LMs in 1 h
    assert s["plm_count"] == 6
    assert s["plmw_index"] == pytest.approx(6.0)
    assert s["imi_window_s"] == [10.0, 90.0]
    assert s["completed"] is True and s["stopped_early"] is False
    assert s["problems"] == []


def test_the_older_sit_window_counts_the_fast_series():
    s = score_sit(session(), ScoringParams(min_imi_s=4.0)).summary
    assert s["plm_count"] == 10
    assert s["plmw_index"] == pytest.approx(10.0)
    assert s["imi_window_s"] == [4.0, 90.0]


def test_discomfort_curve_and_cutoff():
    s = score_sit(session()).summary
    d = s["discomfort"]
    assert d["prompts_due"] == 6
    assert d["prompts_logged"] == 6
    assert d["rating_count"] == 4 and d["missed_count"] == 2
    assert d["mean_rating"] == pytest.approx(5.25)
    assert (d["max_rating"], d["first_rating"], d["last_rating"]) == (8, 2, 8)
    assert [p["minute"] for p in d["curve"]] == [10, 20, 30, 40, 50, 60]
    assert [p["rating"] for p in d["curve"]] == [2, None, 5, 6, None, 8]
    (cut,) = s["cutoffs"]
    assert cut["threshold_per_h"] == 40.0 and "Montplaisir" in cut["source"]
    assert cut["value"] == pytest.approx(6.0) and cut["above"] is False
    assert "EMG" in cut["limits"]


def test_stopped_early_scores_what_was_recorded_and_says_so():
    # Stopped by the host at 25 min: the series and the lone LM (7 LMs) in 25 min.
    s = score_sit(session(test_min=25.0, completed=False)).summary
    assert s["stopped_early"] is True and s["test_min"] == 25.0 and s["planned_min"] == 60
    assert s["lm_count"] == 7
    assert s["lm_index"] == pytest.approx(round(7 / (25 / 60), 2))
    assert s["plmw_index"] == pytest.approx(round(6 / (25 / 60), 2))
    assert s["discomfort"]["prompts_due"] == 2  # at 10 and 20 min
    assert any("stopped early" in p and "25.0 of 60" in p for p in s["problems"])


def test_sit_folder_files(tmp_path):
    ses = session()
    out = write_sit_folder(tmp_path / "2026-11-20_sit_3", ses, score_sit(ses))
    assert {p.name for p in out.iterdir()} == {
        "events.csv",
        "ratings.csv",
        "summary.json",
        "sit.png",
    }
    rows = list(csv.DictReader((out / "ratings.csv").open()))
    assert [r["rating"] for r in rows] == ["2", "missed", "5", "6", "missed", "8"]
    assert [float(r["minute"]) for r in rows] == [10, 20, 30, 40, 50, 60]
    assert rows[0]["utc"] == "2026-11-20T19:10:00+00:00"
    events = list(csv.DictReader((out / "events.csv").open()))
    assert [float(e["onset_s"]) for e in events] == ONSETS
    assert sum(int(e["plm"]) for e in events) == 6
    assert (out / "sit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- ratings files and the CLI ---------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def events_file(tmp_path: Path) -> Path:
    lines = ["onset_s,duration_s"] + [f"{o},{d}" for o, d in zip(ONSETS, DURATIONS, strict=True)]
    return write(tmp_path / "events.csv", "\n".join(lines) + "\n")


def ratings_file(tmp_path: Path) -> Path:
    lines = ["minute,rating,source"] + [
        f"{m},{'missed' if r is None else r},typed" for m, r in RATINGS
    ]
    return write(tmp_path / "ratings.csv", "\n".join(lines) + "\n")


def test_read_ratings_csv(tmp_path):
    got = read_ratings_csv(ratings_file(tmp_path))
    assert [(r.t_s, r.rating) for r in got] == [(m * 60.0, r) for m, r in RATINGS]


def test_score_sit_cli(tmp_path, capsys):
    out = tmp_path / "sit"
    argv = ["score", str(events_file(tmp_path)), "--sit", "--ratings", str(ratings_file(tmp_path))]
    assert main([*argv, "--out", str(out)]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["lm_count"], s["plm_count"], s["discomfort"]["mean_rating"]) == (11, 6, 5.25)
    assert json.loads((out / "summary.json").read_text())["plmw_index"] == 6.0
    assert main([*argv, "--min-imi", "4"]) == 0
    assert json.loads(capsys.readouterr().out)["plm_count"] == 10


@pytest.mark.parametrize(
    "text, message",
    [
        ("minute,rating\n10,11\n", "ratings.csv:2: rating 11 out of range: a rating is 0-10"),
        ("minute,rating\n10,-1\n", "ratings.csv:2: rating -1 out of range"),
        ("minute,rating\n10,bad\n", "ratings.csv:2: rating must be a whole number 0-10"),
        ("minute,rating\n", "ratings.csv: no ratings"),
        ("", "ratings.csv: no ratings"),
    ],
)
def test_bad_ratings_one_line_exit_2(tmp_path, capsys, text, message):
    rfile = write(tmp_path / "ratings.csv", text)
    code = main(["score", str(events_file(tmp_path)), "--sit", "--ratings", str(rfile)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err, err


def test_stopped_at_with_movements_after_it_is_bad_input(tmp_path, capsys):
    code = main(["score", str(events_file(tmp_path)), "--sit", "--stopped-at", "25"])
    err = capsys.readouterr().err
    assert code == 2 and "after the test's end (minute 25)" in err and err.count("\n") == 1


def test_stopped_at_cli_says_it_stopped_early(tmp_path, capsys):
    lines = ["onset_s,duration_s"] + [f"{o},2" for o in [*SERIES, 1000.0]]
    ev = write(tmp_path / "ev.csv", "\n".join(lines) + "\n")
    assert main(["score", str(ev), "--sit", "--stopped-at", "25"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["stopped_early"] is True and s["lm_count"] == 7
    assert s["plmw_index"] == pytest.approx(round(6 / (25 / 60), 2))


# --- the catalog, the report and the export -------------------------------------------


def write_night(root: Path, person: str, start: datetime, n_series: int) -> Path:
    """A night folder: 8 h, one series of n_series LMs every 20 s from 1 h in."""
    on = np.array([3600.0 + 20.0 * k for k in range(n_series)])
    mov = Movements.from_arrays(on, on + 2.0, np.array([""] * len(on), dtype=object))
    info = NightInfo(8 * 3600.0, 8 * 3600.0, 52.0, start_utc=start, source="test")
    info.extra["person"] = person
    scoring = score_movements(mov, info, ScoringParams())
    folder = root / person / f"{start:%Y-%m-%d}_1"
    write_night_folder(folder, mov, _no_epochs(), scoring, info, picture=False)
    return folder


def _no_epochs() -> Epochs:
    return Epochs(
        start_s=np.zeros(0),
        n_samples=np.zeros(0, dtype=np.int64),
        active_s=np.zeros(0),
        activity_mg_s=np.zeros(0, dtype=np.int64),
        posture_mg=np.zeros((0, 3), dtype=np.int64),
        epoch_s=30.0,
    )


def write_sit(root: Path, person: str, start: datetime, name: str, leg: str = "") -> Path:
    ses = session(start=start, leg=leg)
    ses.info.extra["person"] = person
    return write_sit_folder(root / person / name, ses, score_sit(ses), picture=False)


def test_catalog_never_counts_a_sit_as_a_night(tmp_path):
    write_night(tmp_path, "anna", datetime(2026, 11, 20, 22, 0, tzinfo=UTC), 30)
    write_sit(tmp_path, "anna", START, "2026-11-20_sit_2")
    cat = scan(tmp_path)
    assert len(cat.nights) == 1 and len(cat.sits) == 1
    assert cat.sits[0].folder.name == "2026-11-20_sit_2"
    assert cat.people() == ["anna"]


def test_report_shows_the_sit_beside_the_night_after(tmp_path):
    from legsense.trend_report import write_report

    # SIT 19:00-20:00; the night of the same evening at 22:00 (series of 30 LMs: 30 PLMs
    # in 8 h = 3.75/h); a night two days later is no SIT's "night after".
    night = write_night(tmp_path, "anna", datetime(2026, 11, 20, 22, 0, tzinfo=UTC), 30)
    write_night(tmp_path, "anna", datetime(2026, 11, 22, 22, 0, tzinfo=UTC), 8)
    write_sit(tmp_path, "anna", START, "2026-11-20_sit_2")
    report = write_report(tmp_path, tmp_path / "report.html", zone=UTC)
    assert len(report.nights) == 2
    (row,) = report.sits
    assert row.night is not None and row.night.folder == night
    assert row.night.summary["plm_index"] == pytest.approx(3.75)
    page = (tmp_path / "report.html").read_text()
    assert 'id="sits-table"' in page and "2026-11-20 (22:00)" in page
    assert (tmp_path / "report-sit.png").exists()


def test_overlapping_sits_of_one_person_are_bad_input(tmp_path, capsys):
    write_night(tmp_path, "anna", datetime(2026, 11, 20, 22, 0, tzinfo=UTC), 30)
    write_sit(tmp_path, "anna", START, "a_sit_1")
    write_sit(tmp_path, "anna", START + timedelta(minutes=30), "b_sit_2")
    code = main(["report", str(tmp_path), "--out", str(tmp_path / "r.html"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "overlapping SITs of anna" in err and "a_sit_1" in err and "b_sit_2" in err


def test_left_and_right_legs_of_one_sit_do_not_overlap(tmp_path):
    from legsense.sit_report import check_overlaps

    write_sit(tmp_path, "anna", START, "left_sit", leg="left")
    write_sit(tmp_path, "anna", START, "right_sit", leg="right")
    check_overlaps(scan(tmp_path).sits)  # no error
    write_sit(tmp_path, "anna", START + timedelta(minutes=59), "third_sit", leg="left")
    with pytest.raises(InputError, match="overlapping SITs of anna"):
        check_overlaps(scan(tmp_path).sits)


def test_export_has_a_sits_table(tmp_path):
    pytest.importorskip("pyarrow")
    pytest.importorskip("duckdb")
    from legsense.cohort_dataset import export, query

    data = tmp_path / "data"
    write_night(data, "anna", datetime(2026, 11, 20, 22, 0, tzinfo=UTC), 30)
    write_sit(data, "anna", START, "2026-11-20_sit_2")
    result = export(data, tmp_path / "ds", zone=UTC)
    assert result.nights == 1  # the SIT is not a night
    _cols, rows = query(
        tmp_path / "ds",
        "SELECT person, sit, plmw_index, lm_index, mean_rating, missed_count, completed, "
        "above_cutoff_40, next_night, next_night_plm_index FROM sits",
    )
    assert rows == [
        (
            "anna",
            "anna/2026-11-20_sit_2",
            6.0,
            11.0,
            5.25,
            2,
            True,
            False,
            "anna/2026-11-20_1",
            3.75,
        )
    ]
    _, nights = query(tmp_path / "ds", "SELECT count(*) FROM nights")
    assert nights == [(1,)]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--minutes", "0"], "--minutes must be 1..240, got 0"),
        (["--every", "61"], "--every must be 1..60, got 61"),
    ],
)
def test_legsense_sit_bad_plan_exit_2_before_the_device(tmp_path, capsys, extra, message):
    code = main(["sit", "--port", str(tmp_path / "no-such-port"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_legsense_sit_bad_ratings_file_exit_2_before_the_device(tmp_path, capsys):
    bad = write(tmp_path / "r.csv", "minute,rating\n10,12\n")
    code = main(["sit", "--port", str(tmp_path / "no-such-port"), "--ratings", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and "r.csv:2: rating 12 out of range" in err
