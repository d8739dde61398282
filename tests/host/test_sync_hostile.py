"""A buggy or hostile device costs a clear error, never a hang, a crash, unbounded memory
or another night: the fake device speaks the real protocol over a real pty and lies.

Which of these fail on the main of before this change, and how: the endless list never
ended (memory grew without bound); garbage after a header was re-checked from its start on
every flush (quadratic); 2^64-1 as a start time was an internal error; a damaged header
stopped every later sync (exit 1) and a mismatched one stopped it with exit 2; a bad DATA
reply ended the whole sync; a night left on the device still gave exit 0.
"""

from __future__ import annotations

import json
import random

import pytest
from fake_device import UTC0_MS, FakeDevice, FakeLink, FakeNight, NightSpec, fake_night
from hostile_devices import (
    SCENARIOS,
    Chatty,
    EndlessList,
    GoesSilent,
    HugeCounts,
    WrongData,
    flip_header_bit,
    good_nights,
    run_scenario,
)
from legsense.cli import main
from legsense.errors import EXIT_DEVICE, EXIT_OK, EXIT_UNSYNCED
from legsense.night_store import device_folder_name
from legsense_core import protocol as P
from legsense_core import records
from sync_harness import sync_port

pytestmark = pytest.mark.timeout(120)  # a hang fails, it does not eat CI's time


def sync_cli(link: FakeLink, out, capsys, *extra: str) -> tuple[int, str, str]:
    status = main(["sync", "--port", link.port, "--out", str(out), "--no-picture", *extra])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def night_bins(out, device_id: str) -> dict[int, bytes]:
    from legsense.night_decode import read_header_file

    got = {}
    for p in (out / device_folder_name(device_id)).glob("*/night.bin"):
        h = read_header_file(p)
        assert h is not None
        got[h.night_id] = p.read_bytes()
    return got


def test_an_endless_night_list_is_refused(tmp_path, capsys):
    device = EndlessList(good_nights())
    link = FakeLink(device)
    try:
        status, _, err = sync_cli(link, tmp_path / "host", capsys)
    finally:
        link.close()
    assert status == EXIT_DEVICE
    assert "answered from 0" in err and "\n" not in err.strip()
    assert device.requests[P.LIST_NIGHTS] == 2  # refused at the second page
    assert device.requests[P.READ] == 0


def test_huge_counts_are_bounded(tmp_path, capsys):
    nights = good_nights()
    device = HugeCounts(nights)
    link = FakeLink(device)
    try:
        status, out, _ = sync_cli(link, tmp_path / "host", capsys)
    finally:
        link.close()
    assert status == EXIT_UNSYNCED
    assert "night 1: 0 of 4,294,967,295 bytes, NOT SYNCED" in out
    assert "more than a night can hold" in out
    got = night_bins(tmp_path / "host", device.device_id)
    assert got == {2: nights[1].data, 3: nights[2].data}


def test_garbage_nights_are_skipped_and_the_others_sync(tmp_path, capsys):
    rng = random.Random(3)
    nights = good_nights()
    garbage = FakeNight(7, bytes(rng.randrange(256) for _ in range(50_000)), uid=0xBAD)
    device = FakeDevice([nights[0], garbage, *nights[1:]])
    link = FakeLink(device)
    try:
        status, out, err = sync_cli(link, tmp_path / "host", capsys)
        second, out2, _ = sync_cli(link, tmp_path / "host", capsys)
    finally:
        link.close()
    assert status == second == EXIT_UNSYNCED
    assert "night 7: 0 of 50,000 bytes, NOT SYNCED" in out
    assert "header is damaged" in out and "what to do:" in out
    assert "night 7" in err
    assert garbage.acked == 0  # the device keeps it
    assert night_bins(tmp_path / "host", device.device_id) == {n.night_id: n.data for n in nights}
    assert "0 bytes received" in out2


def test_garbage_after_a_header_costs_one_pass(tmp_path, monkeypatch):
    """Bytes that never form a record are looked at once each, not once per block."""
    head = fake_night(NightSpec(9, uid=0x99, minutes=1)).data[:200]
    n_header = records.check_record(head, 0, len(head))
    rng = random.Random(4)
    noise = bytes(rng.randrange(256) for _ in range(300_000))
    night = FakeNight(9, head[:n_header] + noise, uid=0x99, closed=True)
    calls = 0
    real = records.check_record

    def counting(buf, off, end):
        nonlocal calls
        calls += 1
        return real(buf, off, end)

    monkeypatch.setattr(records, "check_record", counting)
    link = FakeLink(FakeDevice([night]))
    try:
        report = sync_port(link.port, tmp_path / "host", flush_bytes=4096)
    finally:
        link.close()
    # one candidate per magic byte (1/256 of random bytes) plus a few per flush; the
    # quadratic re-check made it about (bytes / flush) / 2 times as many
    assert calls < 3 * len(noise) // 256 + 500, calls
    result = report.nights[0]
    assert result.stored == len(night.data)  # a closed night is kept whole
    assert result.problem and "damaged" in result.problem


def test_times_out_of_range_are_refused_not_crashed(tmp_path, capsys):
    spec = NightSpec(
        1,
        uid=0x1,
        minutes=10,
        header_anchor=(0, 2**64 - 1),
        anchors=[(2**32 - 1, 2**63)],
    )
    night = fake_night(spec, start_ms=2**64 - 1)
    buf = bytearray(64)
    end = records.encode_event(buf, 0, (2**32 - 2, 2**32 - 1, 1, 1, 1, 1))
    end = records.encode_epoch(buf, end, (2**32 - 1, 1, 1, 1, 0, 0, 0))
    night.data = night.data + bytes(buf[:end])
    device = FakeDevice([night])
    link = FakeLink(device)
    try:
        status, _, err = sync_cli(link, tmp_path / "host", capsys)
    finally:
        link.close()
    assert status == EXIT_OK, err
    (folder,) = (tmp_path / "host" / device.device_id).glob("undated_1")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["clock"]["utc_known"] is False
    assert summary["clock"]["warnings"]
    assert summary["recording_hours"] == pytest.approx(10 / 60, abs=0.01)
    assert "events with times out of range ignored" in summary["recording"]["log_problem"]


def test_a_damaged_header_does_not_block_later_syncs(tmp_path, capsys):
    nights = good_nights(4)
    flip_header_bit(nights[1])
    device = FakeDevice(nights)
    link = FakeLink(device)
    try:
        first = sync_cli(link, tmp_path / "host", capsys)
        second = sync_cli(link, tmp_path / "host", capsys)
    finally:
        link.close()
    for status, out, _ in (first, second):
        assert status == EXIT_UNSYNCED
        assert "night 2: 0 of" in out and "bad CRC at byte 0" in out
    got = night_bins(tmp_path / "host", device.device_id)
    assert got == {n.night_id: n.data for n in nights if n.night_id != 2}
    assert nights[1].acked == 0


@pytest.mark.parametrize("field", ["id", "uid"])
def test_a_header_that_does_not_match_its_listing_is_skipped(tmp_path, capsys, field):
    nights = good_nights()
    if field == "id":
        nights[0] = fake_night(NightSpec(1, uid=0xAB01, minutes=25, seed=1), night_id=5)
        nights[0].data = fake_night(NightSpec(7, uid=0xAB01, minutes=25, seed=1)).data
    else:
        nights[0].uid = 0xDEAD
    link = FakeLink(FakeDevice(nights))
    try:
        status, out, _ = sync_cli(link, tmp_path / "host", capsys)
    finally:
        link.close()
    assert status == EXIT_UNSYNCED
    assert ("header says night 7" if field == "id" else "header says 000000000000ab01") in out
    assert len(night_bins(tmp_path / "host", "fa4e0000d3v1")) == 2


def test_wrong_data_costs_only_its_night(tmp_path, capsys):
    nights = good_nights()
    link = FakeLink(WrongData(nights))
    try:
        status, out, _ = sync_cli(link, tmp_path / "host", capsys)
    finally:
        link.close()
    assert status == EXIT_UNSYNCED
    assert "answered a READ of night 2" in out
    got = night_bins(tmp_path / "host", "fa4e0000d3v1")
    assert got[1] == nights[0].data and got[3] == nights[2].data
    assert nights[1].data.startswith(got.get(2, b""))  # a prefix at most, never mixed
    assert nights[1].acked <= len(got.get(2, b""))


def test_reused_ids_in_one_listing_are_skipped(tmp_path, capsys):
    nights = good_nights()
    twin = fake_night(NightSpec(2, uid=0xEEEE, minutes=12, seed=9))
    link = FakeLink(FakeDevice([*nights, twin]))
    try:
        status, out, _ = sync_cli(link, tmp_path / "host", capsys)
    finally:
        link.close()
    assert status == EXIT_UNSYNCED
    assert out.count("lists night 2 more than once") == 2
    assert set(night_bins(tmp_path / "host", "fa4e0000d3v1")) == {1, 3}


def test_a_silent_device_times_out_and_the_next_sync_resumes(tmp_path, capsys):
    nights = [fake_night(NightSpec(1, uid=0x51, minutes=240, seed=1))]
    device = GoesSilent(nights, reads=6)
    link = FakeLink(device)
    try:
        status, _, err = sync_cli(link, tmp_path / "host", capsys, "--timeout", "0.5")
        assert status == EXIT_DEVICE and "no answer" in err
        device.reads_left = 10**9
        status, _, _ = sync_cli(link, tmp_path / "host", capsys)
    finally:
        link.close()
    assert status == EXIT_OK
    assert night_bins(tmp_path / "host", "fa4e0000d3v1") == {1: nights[0].data}


def test_noise_and_stale_replies_cost_nothing(tmp_path, capsys):
    nights = good_nights()
    link = FakeLink(Chatty(nights))
    try:
        status, _, err = sync_cli(link, tmp_path / "host", capsys)
    finally:
        link.close()
    assert status == EXIT_OK, err
    assert night_bins(tmp_path / "host", "fa4e0000d3v1") == {n.night_id: n.data for n in nights}


def test_start_times_decide_only_the_folder_date(tmp_path):
    night = fake_night(NightSpec(1, uid=0x2, minutes=5), start_ms=UTC0_MS * 40)  # year 4200
    link = FakeLink(FakeDevice([night]))
    try:
        report = sync_port(link.port, tmp_path / "host")
    finally:
        link.close()
    assert report.nights[0].folder is not None
    assert report.nights[0].folder.name == "undated_1"


@pytest.mark.parametrize(
    "scenario", [s for s in SCENARIOS if s.name != "events flood"], ids=lambda s: s.name
)
def test_every_scenario_keeps_what_is_good_and_says_what_is_not(tmp_path, scenario):
    got = run_scenario(scenario, tmp_path / "host")
    assert got["status"] == scenario.status, got
    assert got["bytes_lost"] == got["acked_unheld"] == got["leftovers"] == 0, got
    assert not got["crash"], got


def test_take_damaged_keeps_the_bytes_and_lets_the_device_free_the_night(tmp_path, capsys):
    nights = good_nights(3)
    flip_header_bit(nights[1])
    link = FakeLink(FakeDevice(nights))
    try:
        status, out, _ = sync_cli(link, tmp_path / "host", capsys)
        assert status == EXIT_UNSYNCED and "--take-damaged" in out
        status, out, _ = sync_cli(link, tmp_path / "host", capsys, "--take-damaged")
    finally:
        link.close()
    assert status == EXIT_OK
    (kept,) = (tmp_path / "host" / "fa4e0000d3v1" / "damaged").iterdir()
    assert kept.read_bytes() == nights[1].data and nights[1].acked == len(nights[1].data)
    assert "kept as they are" in out
