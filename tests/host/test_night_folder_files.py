"""Night folder files: durable writes, leftovers of killed runs, markers.csv and the
summary's resets, gaps and clock blocks.

On the main of before this change: nothing was fsynced, leftover temporary folders stayed
for ever, markers.csv and the three summary blocks did not exist, and a clock log whose
last line was torn made every later sync fail on the line glued behind it.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from fake_device import FakeDevice, FakeLink, NightSpec, fake_night
from legsense import clock_log
from legsense.device_client import TimeSetting
from legsense.night import Epochs, Movements, NightInfo
from legsense.night_folder import atomic_folder, remove_leftovers, write_night_folder
from legsense.scoring import ScoringParams, score_movements
from legsense_core import records as R
from sync_harness import sync_port


def small_night() -> tuple:
    movements = Movements.from_arrays(np.array([10.0, 40.0]), np.array([11.0, 41.5]))
    epochs = Epochs(30.0, np.array([0.0, 30.0]), np.array([1560, 1560]), np.zeros(2),
                    np.zeros(2, dtype=int), np.zeros((2, 3), dtype=int))  # fmt: skip
    info = NightInfo(recording_s=60.0, analysed_s=60.0, sample_rate_hz=52.0)
    return movements, epochs, score_movements(movements, info, ScoringParams()), info


def test_files_are_fsynced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    log: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        log.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(a, b):
        log.append(("replace", f"{a} -> {b}"))
        return real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "night"
    write_night_folder(target, *small_night(), picture=False)
    kinds = [k for k, _ in log]
    (rename,) = [i for i, k in enumerate(kinds) if k == "replace"]
    synced_before = {Path(p).name for k, p in log[:rename] if k == "fsync"}
    assert {p.name for p in target.iterdir()} <= synced_before  # every file
    assert any(Path(p).name.startswith(".night.tmp-") for k, p in log[:rename] if k == "fsync")
    assert ("fsync", str(tmp_path)) in log[rename + 1 :]  # the parent, after the rename


def test_rewriting_a_folder_replaces_summary_last(tmp_path, monkeypatch):
    target = tmp_path / "night"
    write_night_folder(target, *small_night(), picture=False)
    order: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(
        os, "replace", lambda a, b: (order.append(Path(b).name), real_replace(a, b))
    )
    write_night_folder(target, *small_night(), picture=False)
    assert order[-1] == "summary.json" and len(order) == 3


def test_leftovers_of_killed_runs_are_removed_by_the_next_sync(tmp_path):
    out = tmp_path / "host"
    night = fake_night(NightSpec(1, uid=0x42, minutes=10))
    device = FakeDevice([night])
    folder = out / device.device_id
    dead = [
        folder / ".2026-01-05_1.tmp-k3j2h1g0",  # before this change: no pid in the name
        folder / ".2026-01-05_2.tmp-999999999-abcdefgh",  # a pid that is not running
    ]
    alive = folder / ".2026-01-05_3.tmp-1-abcdefgh"  # pid 1 runs: another sync, maybe
    for d in [*dead, alive]:
        d.mkdir(parents=True)
        (d / "events.csv").write_text("half")
    link = FakeLink(device)
    try:
        report = sync_port(link.port, out)
    finally:
        link.close()
    assert report.leftovers_removed == 2
    assert not any(d.exists() for d in dead) and alive.exists()


def test_analyze_style_targets_clean_their_own_leftovers_only(tmp_path):
    (tmp_path / ".night.tmp-999999999-aaaa").mkdir()
    (tmp_path / ".other.tmp-999999999-aaaa").mkdir()
    with atomic_folder(tmp_path / "night") as tmp:
        (tmp / "x").write_text("x")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [".other.tmp-999999999-aaaa", "night"]
    assert remove_leftovers(tmp_path) == [tmp_path / ".other.tmp-999999999-aaaa"]


def test_markers_csv_and_the_summary_blocks(tmp_path):
    spec = NightSpec(
        3,
        uid=0x3,
        minutes=60,
        seed=2,
        resumes=[(1_200_000, 90_000, "watchdog"), (2_400_000, 30_000, "brownout")],
        buttons=[600_000, 3_000_000],
    )
    night = fake_night(spec)
    link = FakeLink(FakeDevice([night]))
    try:
        report = sync_port(link.port, tmp_path / "host")
    finally:
        link.close()
    folder = report.nights[0].folder
    assert folder is not None
    rows = list(csv.DictReader(io.StringIO((folder / "markers.csv").read_text())))
    assert list(rows[0]) == ["t_s", "utc", "code", "name", "value", "text"]
    # written here by hand from the spec: started, button, resumed, resumed, button, stop
    expected = [
        ("0.000", "2026-01-05T22:30:00.000+00:00", "1", "started", "0", ""),
        ("600.000", "2026-01-05T22:40:00.000+00:00", "10", "button", "0", ""),
        (
            "1290.000",
            "2026-01-05T22:51:30.000+00:00",
            "8",
            "resumed after reset",
            "90000",
            "watchdog",
        ),
        (
            "2430.000",
            "2026-01-05T23:10:30.000+00:00",
            "8",
            "resumed after reset",
            "30000",
            "brownout",
        ),
        ("3000.000", "2026-01-05T23:20:00.000+00:00", "10", "button", "0", ""),
        ("3600.000", "2026-01-05T23:30:00.000+00:00", "3", "stopped by host", "0", ""),
    ]
    assert [tuple(r.values()) for r in rows] == expected
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["resets"] == 2
    gaps = summary["gaps"]
    assert gaps["count"] == 2 and gaps["total_s"] == 120.0
    assert [g["duration_s"] for g in gaps["longest"]] == [90.0, 30.0]
    assert gaps["longest"][0]["start_s"] == 1200.0
    assert gaps["longest"][0]["cause"] == "reset: watchdog"
    assert gaps["longest"][0]["start_utc"] == "2026-01-05T22:50:00+00:00"
    assert summary["analysed_hours"] == round((3600 - 120) / 3600, 4)
    clock = summary["clock"]
    assert clock["utc_known"] is True and clock["steps"] == 0
    assert clock["drift_ppm"] is None and "one clock anchor" in clock["drift_reason"]
    assert summary["recording"]["night_uid"] == "0000000000000003"


def test_a_torn_clock_log_line_is_dropped_before_the_next(tmp_path):
    path = tmp_path / "clock.csv"
    setting = TimeSetting(1_767_652_200_000, 1_767_652_200_010, 0, 5000, 20)
    clock_log.append(path, setting)
    with open(path, "a") as f:
        f.write("1767652300000,17676")  # killed mid-line
    clock_log.append(path, setting)
    assert clock_log.read(path) == [setting, setting]


@pytest.mark.parametrize("code", sorted(R.MARKER_NAMES))
def test_every_marker_code_has_a_name_in_markers_csv(code):
    from legsense.night_decode import decode_night

    buf = bytearray(512)
    end = R.encode_night(buf, 0, 1, "d", "f", "b", "lsm6dsox", 52000, (61, 1), (8750, 1),
                         0, 0, 1_767_652_200_000, b"{}", 9, 1)  # fmt: skip
    end = R.encode_epoch(buf, end, (0, 1560, 0, 0, 0, 0, 1000))
    end = R.encode_marker(buf, end, 5000, code, 7, "why")
    decoded = decode_night(bytes(buf[:end]))
    (row,) = decoded.markers
    assert row[2] == code and row[3] == R.MARKER_NAMES[code] and row[4:] == (7, "why")
