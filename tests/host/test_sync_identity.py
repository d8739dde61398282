"""Nights are matched by identity (device id + night UID, else the header's digest), never
by their id: after an erase the ids restart and both eras stay intact on the host.

Each test fails on the main of before this change (ids matched by `*_<id>/night.bin`:
the second era was appended to, or left alone beside, the first era's files).
"""

from __future__ import annotations

import json
import os

import pytest
from fake_device import DEVICE_ID, UTC0_MS, FakeDevice, FakeLink, NightSpec, fake_night
from legsense.cli import main
from legsense.errors import EXIT_UNSYNCED
from legsense.night_decode import read_header_file
from legsense.night_store import device_folder_name
from legsense_core import protocol as P
from link_device import DEVICE_ID as LOG_DEVICE_ID
from link_device import Client
from sync_harness import Rig, night_bytes, sync_port


def stored(out, device_id=DEVICE_ID) -> dict[str, bytes]:
    """{folder name: night.bin bytes} of one device folder."""
    folder = out / device_folder_name(device_id)
    return {p.parent.name: p.read_bytes() for p in sorted(folder.glob("*/night.bin"))}


def serve(nights, **kw) -> FakeLink:
    return FakeLink(FakeDevice(nights, **kw))


@pytest.mark.parametrize("format_version", [2, 1], ids=["with-uid", "format-1-no-uid"])
def test_reflash_keeps_both_eras_intact(tmp_path, format_version):
    out = tmp_path / "host"

    def era(uid_base: int, seed: int, sizes: list[int]):
        specs = [
            NightSpec(
                i + 1,
                uid=(uid_base + i if format_version == 2 else 0),
                format_version=format_version,
                minutes=m,
                seed=seed + i,
            )
            for i, m in enumerate(sizes)
        ]
        return [fake_night(s) for s in specs]

    old = era(0x0A00, 10, [30, 40, 20])
    link = serve(old)
    try:
        assert not sync_port(link.port, out).unsynced
    finally:
        link.close()
    # Erased and reinstalled: ids restart at 1, same dates, other nights (one smaller
    # and one bigger than its namesake: the two cases main mixed up).
    new = era(0x0B00, 50, [10, 60])
    link = serve(new)
    try:
        report = sync_port(link.port, out)
    finally:
        link.close()
    assert not report.unsynced and all(n.stored == n.size for n in report.nights)
    got = stored(out)
    assert len(got) == 5
    want = sorted(n.data for n in old + new)
    assert sorted(got.values()) == want  # every night of both eras, byte for byte
    for name, data in got.items():
        summary = json.loads((out / DEVICE_ID / name / "summary.json").read_text())
        assert summary["recording"]["night_bin_sha256"]
        assert summary["recording"]["night_bin_bytes"] == str(len(data))
    # The first era kept its folder names; the second got tagged ones beside them.
    assert {"2026-01-05_1", "2026-01-05_2", "2026-01-05_3"} <= set(got)
    assert any(n.note for n in report.nights)


def test_reflash_with_the_real_night_log(tmp_path):
    """#10's re-flash scenario, host half: the device's own NightLog erased and started
    afresh under the same device id (ids restart); every night of both eras survives."""
    out = tmp_path / "host"
    first = Rig(tmp_path / "flash-1")
    try:
        Client(first.link.slave).call(P.SET_TIME, (first.clock.utc_now_ms(),))
        a = [
            first.device.record_night(n_events=20 + 10 * i, raw_chunks=i, seed=i) for i in range(2)
        ]
        first.clock.advance(3_600_000)
        first.sync(out)
        era1 = {nid: night_bytes(first.device, nid) for nid in a}
    finally:
        first.close()
    second = Rig(tmp_path / "flash-2")  # an erased flash: ids start at 1 again
    try:
        second.clock.advance(7 * 3_600_000)
        Client(second.link.slave).call(P.SET_TIME, (second.clock.utc_now_ms(),))
        b = [
            second.device.record_night(n_events=15 + 7 * i, raw_chunks=2, seed=9 + i)
            for i in range(3)
        ]
        second.clock.advance(3_600_000)
        report = second.sync(out)
        era2 = {nid: night_bytes(second.device, nid) for nid in b}
    finally:
        second.close()
    assert a == [1, 2] and b == [1, 2, 3]
    assert not report.unsynced
    got = sorted(stored(out, LOG_DEVICE_ID).values())
    assert got == sorted([*era1.values(), *era2.values()])


def test_a_stored_night_that_differs_is_never_appended_to(tmp_path):
    # Same id and UID (a device that reuses UIDs: hostile), another header: the stored
    # file keeps its bytes, the device's night goes to its own folder.
    out = tmp_path / "host"
    a = fake_night(NightSpec(1, uid=0x77, minutes=10, seed=1))
    link = serve([a])
    try:
        sync_port(link.port, out)
    finally:
        link.close()
    b = fake_night(NightSpec(1, uid=0x77, minutes=40, seed=2, start_utc_ms=UTC0_MS + 60_000))
    link = serve([b])
    try:
        report = sync_port(link.port, out)
    finally:
        link.close()
    got = stored(out)
    assert sorted(got.values()) == sorted([a.data, b.data])
    assert not report.unsynced


def test_folders_synced_before_this_change_resume_and_rerender(tmp_path):
    """A folder named <date>_<id> holding a format-1 night cut mid-sync by the old code,
    and a complete one with an old summary: the first resumes in place, both re-render."""
    out = tmp_path / "host"
    n1 = fake_night(NightSpec(1, format_version=1, minutes=60, seed=3))
    n2 = fake_night(NightSpec(2, format_version=1, minutes=20, seed=4))
    folder = out / DEVICE_ID
    (folder / "2026-01-05_1").mkdir(parents=True)
    (folder / "2026-01-05_1" / "night.bin").write_bytes(n1.data[: len(n1.data) // 2])
    (folder / "2026-01-05_2").mkdir()
    (folder / "2026-01-05_2" / "night.bin").write_bytes(n2.data)
    (folder / "2026-01-05_2" / "summary.json").write_text(
        json.dumps({"recording": {"night_bin_sha256": "old", "clock_anchors": "0:1"}})
    )
    link = serve([n1, n2])
    try:
        report = sync_port(link.port, out)
    finally:
        link.close()
    assert not report.unsynced
    assert stored(out) == {"2026-01-05_1": n1.data, "2026-01-05_2": n2.data}
    assert 0 < report.nights[0].received < len(n1.data)  # resumed, not fetched again
    for name in ("2026-01-05_1", "2026-01-05_2"):
        assert (folder / name / "markers.csv").exists()
        summary = json.loads((folder / name / "summary.json").read_text())
        assert {"resets", "gaps", "clock"} <= set(summary)


@pytest.mark.parametrize(
    "ids",
    [("a/b", "a_b"), ("café", "caf%C3%A9"), ("", "%"), ("..", "%2E."), ("x y", "x_y")],
)
def test_device_folders_never_collide(tmp_path, ids):
    out = tmp_path / "host"
    for i, device_id in enumerate(ids):
        night = fake_night(NightSpec(1, uid=0x100 + i, device_id=device_id, minutes=10, seed=i))
        link = serve([night], device_id=device_id)
        try:
            report = sync_port(link.port, out)
        finally:
            link.close()
        assert not report.unsynced
    folders = sorted(p.name for p in out.iterdir())
    assert len(folders) == 2, folders
    for device_id in ids:
        (bin_path,) = (out / device_folder_name(device_id)).glob("*/night.bin")
        header = read_header_file(bin_path)
        assert header is not None and header.device_id == device_id


def test_two_devices_with_one_id_keep_their_nights_apart(tmp_path):
    # Two boards flashed with the same id (every virtual board had one): same night ids.
    out = tmp_path / "host"
    nights = []
    for board in range(2):
        specs = [
            NightSpec(i, uid=(board << 32) | i, minutes=15 + 5 * i, seed=10 * board + i)
            for i in (1, 2)
        ]
        nights += [fake_night(s) for s in specs]
        link = serve(nights[-2:])
        try:
            assert not sync_port(link.port, out).unsynced
        finally:
            link.close()
    assert sorted(stored(out).values()) == sorted(n.data for n in nights)


def test_a_longer_stored_copy_is_left_alone_and_reported(tmp_path, capsys):
    night = fake_night(NightSpec(1, uid=5, minutes=20))
    out = tmp_path / "host"
    link = serve([night])
    try:
        sync_port(link.port, out)
        (path,) = (out / DEVICE_ID).glob("*/night.bin")
        path.write_bytes(night.data + b"\xa5")
        status = main(["sync", "--port", link.port, "--out", str(out), "--no-picture"])
    finally:
        link.close()
    assert status == EXIT_UNSYNCED
    captured = capsys.readouterr()
    assert "left alone" in captured.out and "what to do" in captured.out
    assert path.read_bytes() == night.data + b"\xa5"  # never cut


def test_folder_names_are_readable(tmp_path):
    assert device_folder_name("a1b2c3d4e5f6") == "a1b2c3d4e5f6"
    assert device_folder_name("legsense-d4e5f6") == "legsense-d4e5f6"
    assert os.sep not in device_folder_name("a/b/c")


def test_a_junk_tail_after_a_power_cut_resumes_in_place(tmp_path):
    # A filesystem may leave zeros where an append was cut: the tail check looks at the
    # bytes that settle, so the night resumes in its folder, not in a new one.
    night = fake_night(NightSpec(1, uid=0x31, minutes=60, seed=7))
    folder = tmp_path / "host" / DEVICE_ID / "2026-01-05_1"
    folder.mkdir(parents=True)
    (folder / "night.bin").write_bytes(night.data[:3000] + bytes(700))
    link = serve([night])
    try:
        report = sync_port(link.port, tmp_path / "host")
    finally:
        link.close()
    assert not report.unsynced and not report.nights[0].note
    assert stored(tmp_path / "host") == {"2026-01-05_1": night.data}
