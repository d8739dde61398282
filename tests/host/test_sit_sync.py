"""A SIT recorded by the device's own NightLog, synced over a real pty: it becomes a SIT
folder beside the nights whose events and ratings are exactly what was logged.

The device side is tests/link_device.py's LogDevice (the real NightLog and link code);
the SIT's records are written the way docs/sit.md says the firmware writes them (header
config mode/sit_min/rating_every_min, M_RATING markers, M_SIT_DONE at the end).
"""

from __future__ import annotations

import csv
import json

import pytest
from legsense.night_catalog import scan
from legsense_core import records
from link_device import BOARD, DEVICE_ID, FIRMWARE, IMU
from sync_harness import Rig

SIT_MIN = 60
EVERY_MIN = 10
# Ratings pressed at each prompt (None: nobody answered); text says where from.
PRESSED = [(10, 3, "button"), (20, None, "button"), (30, 4, "host"), (40, 7, "button")]
# LMs (onset ms, offset ms): a series of 5 every 12 s from 5 min, one lone LM at 45 min.
LMS = [(300_000 + 12_000 * k, 301_500 + 12_000 * k) for k in range(5)] + [(2_700_000, 2_702_000)]


def record_sit(rig: Rig, ratings, end_min: float, end_code: int) -> int:
    """Log a SIT as the firmware does; returns its night id."""
    dev, clock = rig.device, rig.clock
    dev.set_time(clock.utc_now_ms())
    assert dev.session.start("host")[0]
    dev.night_ticks = dev.ticks_ms
    assert dev.anchor is not None
    config = {
        "mode": "sit",
        "sit_min": SIT_MIN,
        "rating_every_min": EVERY_MIN,
        "person": "anna",
        "leg": "left",
    }
    dev.log.start_night(
        DEVICE_ID,
        FIRMWARE,
        BOARD,
        IMU,
        52000,
        (61, 1),
        (8750, 1),
        dev.ticks_ms,
        dev.anchor[0] - dev.ticks_ms,
        dev.anchor[1],
        json.dumps(config).encode(),
    )
    nid = dev.log.nights()[-1][0]
    end_ms = round(end_min * 60_000)
    for on, off in LMS:
        if on < end_ms:
            assert dev.log.append_event((on, off, 150, 30, 3, 200))
    for i in range(end_ms // 30_000):
        assert dev.log.append_epoch((i, 1560, 0, 10, 0, 0, 1000))
    for minute, value, text in ratings:
        if minute * 60_000 <= end_ms:
            code = records.RATING_MISSED if value is None else value
            assert dev.log.append_marker(minute * 60_000, records.M_RATING, code, text)
    clock.advance(end_ms)
    assert dev.log.stop_night(end_ms, end_code)
    dev.session.stop("host")
    return nid


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path / "device")
    yield r
    r.close()


def test_a_synced_sit_is_a_sit_folder_with_what_was_pressed(rig, tmp_path):
    nid = record_sit(rig, PRESSED, SIT_MIN, records.M_SIT_DONE)
    out = tmp_path / "data"
    report = rig.sync(out)
    (night,) = report.nights
    assert not night.unsynced, night.problem
    folder = night.folder
    assert folder is not None and folder.parent == out / DEVICE_ID
    assert folder.name.endswith(f"_sit_{nid}")
    rows = list(csv.DictReader((folder / "ratings.csv").open()))
    assert [(float(r["minute"]), r["rating"], r["source"]) for r in rows] == [
        (float(m), "missed" if v is None else str(v), t) for m, v, t in PRESSED
    ]
    events = list(csv.DictReader((folder / "events.csv").open()))
    assert [round(float(e["onset_s"]) * 1000) for e in events] == [on for on, _ in LMS]
    s = json.loads((folder / "summary.json").read_text())
    assert s["kind"] == "sit" and s["completed"] is True and s["test_min"] == 60.0
    # 6 LMs in 1 h; the 5 every 12 s are a PLM series.
    assert (s["lm_count"], s["plm_count"]) == (6, 5)
    assert s["lm_index"] == pytest.approx(6.0) and s["plmw_index"] == pytest.approx(5.0)
    d = s["discomfort"]
    assert (d["rating_count"], d["missed_count"]) == (3, 1)
    assert d["mean_rating"] == pytest.approx(round((3 + 4 + 7) / 3, 2))
    assert s["recording"]["person"] == "anna"
    # the catalog lists it as a SIT, never as a night
    cat = scan(out)
    assert cat.nights == [] and [r.folder for r in cat.sits] == [folder]


def test_a_sit_stopped_early_says_so(rig, tmp_path):
    record_sit(rig, PRESSED, 25, records.M_STOP_HOST)
    report = rig.sync(tmp_path / "data")
    (night,) = report.nights
    assert night.folder is not None and "stopped early" in night.problem
    s = json.loads((night.folder / "summary.json").read_text())
    assert s["stopped_early"] is True and s["test_min"] == 25.0
    assert s["ending"] == records.MARKER_NAMES[records.M_STOP_HOST]
    assert s["lm_count"] == 5  # the lone LM at 45 min was never recorded
    assert s["discomfort"]["prompts_logged"] == 2


def test_a_rating_out_of_range_keeps_the_bytes_and_says_why(rig, tmp_path):
    record_sit(rig, [(10, 12, "button")], SIT_MIN, records.M_SIT_DONE)
    report = rig.sync(tmp_path / "data")
    (night,) = report.nights
    assert "rating 12 out of range" in night.problem
    assert night.folder is not None and (night.folder / "night.bin").stat().st_size > 0
    assert not (night.folder / "summary.json").exists()
