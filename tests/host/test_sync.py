"""Sync engine over a real pty against the device's protocol server and USB link."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from legsense.analysis import analyze_trace
from legsense.clock_log import read as read_clock_log
from legsense.device_client import NightEntry
from legsense.night_decode import decode_night
from legsense.night_folder import epochs_csv, events_csv
from legsense.scoring import ScoringParams, score_movements
from legsense.simulation.night_generator import simulate_night
from legsense.transport import DeviceRefused
from legsense_core import protocol as P
from legsense_core import records
from link_device import DEVICE_ID, Client
from sync_harness import (
    UTC0_MS,
    Rig,
    night_bytes,
    record_detected_night,
    snapshot,
)


@pytest.fixture(scope="module")
def detected():
    trace, _ = simulate_night(3, 1.0, 52)
    del trace.meta["leg"]  # the night header does not say which leg (the config does)
    detection, info = analyze_trace(trace)
    return trace, detection, info


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path / "device")
    yield r
    r.close()


def evening(rig: Rig, detection) -> int:
    """The host sets the time in the evening, then a night is recorded."""
    Client(rig.link.slave).call(P.SET_TIME, (rig.clock.utc_now_ms(),))
    return record_detected_night(rig.device, rig.clock, detection)


def test_full_sync_writes_the_night_folder_like_analyze(rig, detected, tmp_path):
    trace, detection, info = detected
    night_id = evening(rig, detection)
    rig.clock.advance(3_600_000)
    out = tmp_path / "host"
    report = rig.sync(out)
    folder = out / DEVICE_ID / f"2026-01-05_{night_id}"
    assert [n.folder for n in report.nights] == [folder]
    assert (folder / "night.bin").read_bytes() == night_bytes(rig.device, night_id)
    assert report.received == len(night_bytes(rig.device, night_id))
    # The detector's events went through flash, link and decoder unchanged: the folder's
    # events and epochs are exactly those `legsense analyze` writes for the trace.
    scoring = score_movements(detection.movements, info, ScoringParams())
    assert (folder / "events.csv").read_text() == events_csv(detection.movements, scoring, info)
    assert (folder / "epochs.csv").read_text() == epochs_csv(detection.epochs)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["recording"]["start_utc"] == trace.start_utc.isoformat()
    assert summary["lm_count"] == scoring.summary["lm_count"]
    assert summary["plm_count"] == scoring.summary["plm_count"]
    assert {p.name for p in folder.iterdir()} >= {
        "night.bin",
        "events.csv",
        "epochs.csv",
        "summary.json",
        "night.edf",
    }
    # acknowledged to the end: the device may now free it, and does on ERASE
    client = Client(rig.link.slave)
    _, _, nights = client.call(P.LIST_NIGHTS, (0,))
    assert nights[0][4] == nights[0][3]
    assert client.call(P.ERASE, (night_id,))[0] == night_id


def test_second_sync_transfers_nothing_and_changes_no_file(rig, detected, tmp_path):
    evening(rig, detected[1])
    rig.device.record_night(n_events=30, raw_chunks=4)
    rig.clock.advance(3_600_000)
    out = tmp_path / "host"
    rig.sync(out)
    before = snapshot(out)
    clock_lines = (out / DEVICE_ID / "clock.csv").read_text().count("\n")
    rig.clock.advance(60_000)
    report = rig.sync(out)
    assert report.received == 0
    assert not any(n.folder_written for n in report.nights)
    assert snapshot(out) == before  # bytes and mtimes of every night file
    # the clock log is the one file that grows: each sync sets the time and logs it
    assert (out / DEVICE_ID / "clock.csv").read_text().count("\n") == clock_lines + 1


def _device_state(rig: Rig) -> list[NightEntry]:
    return rig.call(lambda client: client.list_nights())


def test_cut_syncs_resume_to_the_same_bytes_and_never_free_unacked(detected, tmp_path):
    random_cut = random.Random(7)
    rigs = [Rig(tmp_path / "uncut-device"), Rig(tmp_path / "cut-device")]
    try:
        for r in rigs:  # the very same nights on both devices
            evening(r, detected[1])
            r.device.record_night(n_events=40, raw_chunks=14)
            r.clock.advance(3_600_000)
        uncut, cut = rigs
        assert night_bytes(uncut.device, 1) == night_bytes(cut.device, 1)
        uncut.sync(tmp_path / "uncut", flush_bytes=2048)
        out = tmp_path / "cut"
        cuts = 0
        while True:
            try:
                report = cut.sync(out, cut_after=random_cut.randint(0, 9), flush_bytes=2048)
                break
            except Exception as exc:  # LinkClosed from the cut (a DeviceError)
                assert "cut by the test" in str(exc), exc
                cuts += 1
            # After every cut: night.bin is a prefix of the device's log made of whole
            # records, and the device's acknowledgement never passes what the host holds.
            for entry in _device_state(cut):
                night_id, size, acked = entry.night_id, entry.size, entry.acked
                found = list((out / DEVICE_ID).glob(f"*_{night_id}/night.bin"))
                held = found[0].read_bytes() if found else b""
                assert night_bytes(cut.device, night_id).startswith(held)
                assert acked <= len(held)
                if acked < size:  # unacknowledged data cannot be freed
                    with pytest.raises(DeviceRefused) as refused:
                        cut.call(lambda client, n=night_id: client.erase(n))
                    assert refused.value.code == P.E_NOT_ACKNOWLEDGED
        assert cuts >= 10
        assert all(n.stored == n.size for n in report.nights)
        assert snapshot(out, skip=("clock.csv", "night.png")) != {}
        a = {k: v[0] for k, v in snapshot(tmp_path / "uncut").items()}
        b = {k: v[0] for k, v in snapshot(out).items()}
        assert a.keys() == b.keys()
        for name in a:
            assert a[name] == b[name], name
    finally:
        for r in rigs:
            r.close()


def test_clock_drift_is_corrected_between_anchors(detected, tmp_path):
    drift_ppm = 50.0
    r = Rig(tmp_path / "device", drift_ppm=drift_ppm)
    try:
        out = tmp_path / "host"
        r.sync(out)  # evening sync: sets the clock (the night's anchor)
        r.clock.advance(600_000)
        dev_start = r.device.ticks_ms
        true_start = r.clock.true_ms
        night_id = record_detected_night(r.device, r.clock, detected[1])
        r.clock.advance(1_800_000)
        r.sync(out)  # morning sync: the device's estimate shows the drift
        folder = next((out / DEVICE_ID).glob(f"*_{night_id}"))
        decoded = decode_night((folder / "night.bin").read_bytes())
        rows = list(csv.DictReader(io.StringIO((folder / "events.csv").read_text())))
        log = read_clock_log(out / DEVICE_ID / "clock.csv")
    finally:
        r.close()
    # Where each event really happened: its device ms counted at (1 + drift) speed.
    factor = 1.0 + drift_ppm * 1e-6
    onsets_dev = [e[0] for e in decoded.records.events]
    assert onsets_dev and len(rows) == len(onsets_dev)
    # Error budget: the evening anchor is off by the latency the host added (sent - when
    # it read its clock), the morning one by half its round trip; then three roundings
    # to whole ms (device ticks, event ms, ClockMap) of at most 0.5 ms each.
    evening_err = log[0].sent_utc_ms - (log[0].mid_utc_ms - log[0].rtt_ms // 2)
    morning_err = log[1].rtt_ms / 2
    tolerance_ms = max(evening_err, morning_err) + 1.5
    worst = 0.0
    naive_worst = 0.0
    start_utc = UTC0_MS + true_start
    for dev, row in zip(onsets_dev, rows, strict=True):
        true_utc = (
            start_utc
            + (dev_start - r.clock.ticks0 + dev) / factor
            - (dev_start - r.clock.ticks0) / factor
        )
        got = datetime.fromisoformat(row["onset_utc"]).timestamp() * 1000
        worst = max(worst, abs(got - true_utc))
        naive_worst = max(naive_worst, abs(start_utc + dev - true_utc))
    assert worst <= tolerance_ms
    assert naive_worst > 100 * tolerance_ms  # without the correction it would fail
    summary = json.loads((folder / "summary.json").read_text())
    assert int(summary["recording"]["clock_drift_ppm"]) == pytest.approx(drift_ppm, abs=1)
    assert datetime.fromisoformat(summary["recording"]["start_utc"]) == datetime.fromtimestamp(
        start_utc / 1000, tz=UTC
    )


def test_resume_drops_a_torn_tail_and_refuses_a_foreign_file(rig, detected, tmp_path):
    night_id = evening(rig, detected[1])
    out = tmp_path / "host"
    rig.sync(out)
    bin_path = next((out / DEVICE_ID).glob(f"*_{night_id}/night.bin"))
    full = bin_path.read_bytes()
    bin_path.write_bytes(full[:1000])  # a crash mid-record
    (bin_path.parent / "summary.json").unlink()
    report = rig.sync(out)
    assert bin_path.read_bytes() == full
    assert report.received == len(full) - _record_end_before(full, 1000)
    Path(bin_path).write_bytes(full + b"\xa5")  # longer than the device's night
    report = rig.sync(out)
    assert report.nights[0].problem and "left alone" in report.nights[0].problem


def _record_end_before(data: bytes, limit: int) -> int:
    reader = records.iter_records(data[:limit])
    for _ in reader:
        pass
    return reader.offset
