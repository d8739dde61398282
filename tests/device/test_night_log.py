"""Night log on flash (firmware/legsense_device/night_log.py) on CPython: a folder
stands in for the flash, EmulatedSpace gives it a small capacity."""

from __future__ import annotations

import errno
import os
from binascii import crc32
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from legsense_core import records
from legsense_device import night_log
from legsense_device.night_log import STATUS_FULL, STATUS_IDLE, STATUS_RECORDING, NightLog

HEADER = dict(
    device_id="a1b2c3d4e5f6",
    firmware="0.1.0",
    board="devkitc-lsm6dsox",
    imu="lsm6dsox",
    rate_mhz=52000,
    accel_scale=(61, 1),
    gyro_scale=(8750, 1),
    start_ticks=1073741000,  # just before the ticks wrap
    anchor_dev_ms=-2000,
    anchor_utc_ms=1763780000000,
    config_json=b'{"rate_hz":52}',
)
UTC0 = 1763780000000 + 2000  # UTC at night start from the header's anchor


def event(i: int) -> tuple[int, ...]:
    return (20000 * i + 1000, 20000 * i + 2500, 100 + i, 20 + i, 1 + i % 3, 64 + i)


def epoch(i: int) -> tuple[int, ...]:
    return (i, 1560, 1200, 30 + i, -20, 990, 15)


def read_records(path: Path) -> tuple[list[tuple], records.RecordReader]:
    reader = records.iter_records(path.read_bytes())
    return list(reader), reader


def new_log(root: Path, **kw) -> NightLog:
    log = NightLog(str(root), **kw)
    log.recover()
    return log


def record_a_night(log: NightLog, n_events: int = 10) -> tuple[int, list[tuple]]:
    """Start a night and log a fixed mix of records; returns (id, the expected records)."""
    nid = log.start_night(**HEADER)
    want = [
        (records.T_NIGHT, (records.FORMAT_VERSION, nid, *HEADER.values(), 0, 0)),
        (records.T_MARKER, (0, records.M_STARTED, 0, "")),
    ]
    for i in range(n_events):
        assert log.append_event(event(i))
        want.append((records.T_EVENT, event(i)))
        assert log.append_epoch(epoch(i))
        want.append((records.T_EPOCH, epoch(i)))
    assert log.append_battery(150000, 3900, 80)
    want.append((records.T_BATTERY, (150000, 3900, 80)))
    assert log.append_anchor(160000, UTC0 + 159990)  # device 10 ms fast by then
    want.append((records.T_ANCHOR, (160000, UTC0 + 159990)))
    assert log.append_marker(170000, records.M_FIFO_OVERFLOW, 3, "fifo")
    want.append((records.T_MARKER, (170000, records.M_FIFO_OVERFLOW, 3, "fifo")))
    assert log.append_raw(180000, 26, records.RAW_PLAIN, bytes(range(100)))
    want.append((records.T_RAW, (180000, 26, records.RAW_PLAIN, bytes(range(100)))))
    return nid, want


def types_and_payloads(recs: list[tuple]) -> list[tuple]:
    return [(t, p) for _, t, p in recs]


# -- round trip -------------------------------------------------------------------------


def test_log_round_trip_and_night_list(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    nid, want = record_a_night(log)
    assert nid == 1 and log.status == STATUS_RECORDING
    assert log.stop_night(190000, records.M_STOP_BUTTON, "button")
    want.append((records.T_MARKER, (190000, records.M_STOP_BUTTON, 0, "button")))
    path = tmp_path / "00000001.log"
    recs, reader = read_records(path)
    assert reader.error == 0 and reader.offset == path.stat().st_size
    assert types_and_payloads(recs) == want
    # start from the latest anchor (device 160000 ms = UTC0 + 159990), end at 190000 ms
    start = UTC0 + 159990 - 160000
    assert log.nights() == [(1, start, start + 190000, path.stat().st_size, 0, True, 0)]
    assert log.status == STATUS_IDLE
    # a reboot sees the same list and changes nothing
    before = path.read_bytes()
    again = NightLog(str(tmp_path))
    assert again.recover() == []
    assert again.nights() == log.nights()
    assert path.read_bytes() == before


def test_writes_are_batched_in_the_buffer(tmp_path: Path) -> None:
    log = new_log(tmp_path, buffer_size=1024)
    log.start_night(**HEADER)
    path = tmp_path / "00000001.log"
    after_start = path.stat().st_size  # header and "started" are flushed at once
    sizes = set()
    for i in range(100):
        log.append_event(event(i))
        sizes.add(path.stat().st_size)
    # 100 events of 29 bytes: the file grew only when the 1024-byte buffer filled
    grown = sorted(sizes - {after_start})
    assert len(grown) == (100 * 29) // 1024
    assert all((s - after_start) % 29 == 0 and s - after_start <= 1024 * (k + 1)
               for k, s in enumerate(grown))  # fmt: skip
    assert log.nights()[0][3] == path.stat().st_size  # size = durable bytes only
    log.flush()
    assert path.stat().st_size == after_start + 100 * 29


def test_read_into_serves_durable_bytes(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    nid, _ = record_a_night(log)
    log.flush()
    data = (tmp_path / "00000001.log").read_bytes()
    buf = bytearray(100)
    got = b""
    off = 0
    while n := log.read_into(nid, off, buf):
        got += bytes(buf[:n])
        off += n
    assert got == data
    with pytest.raises(ValueError, match="no night 9"):
        log.read_into(9, 0, buf)


# -- recovery ---------------------------------------------------------------------------


def _open_night_bytes(tmp_path: Path) -> tuple[bytes, list[int]]:
    """The bytes of a night left open by a power cut, and its record offsets."""
    src = tmp_path / "src"
    log = new_log(src)
    record_a_night(log, n_events=3)
    log.close()  # flushed, not ended: as a reset would leave it
    data = (src / "00000001.log").read_bytes()
    offsets = [off for off, _, _ in records.iter_records(data)]
    return data, offsets


def test_recovery_when_the_last_record_is_torn_at_every_byte(tmp_path: Path) -> None:
    data, offsets = _open_night_bytes(tmp_path)
    last = offsets[-1]  # the raw chunk, 115 bytes
    every = [(t, p) for _, t, p in records.iter_records(data)]
    before_last = every[:-1]
    for cut in range(last, len(data) + 1):
        root = tmp_path / f"cut{cut}"
        root.mkdir()
        (root / "00000001.log").write_bytes(data[:cut])
        log = NightLog(str(root))
        report = log.recover()
        recs, reader = read_records(root / "00000001.log")
        assert reader.error == 0, cut
        # every whole record before the tear, and nothing else ...
        whole = cut == len(data)
        assert types_and_payloads(recs[:-1]) == (every if whole else before_last), cut
        # ... then a "recovered" marker saying how many bytes were dropped, at the
        # latest device time the night had reached (the raw chunk's, if it survived)
        dropped = 0 if whole else cut - last
        t_last = 180000 if whole else 170000
        assert recs[-1][1:] == (records.T_MARKER, (t_last, records.M_RECOVERED, dropped, "reboot"))
        assert report == [(1, "closed after reboot", dropped)]
        (info,) = log.nights()
        assert info[3] == (root / "00000001.log").stat().st_size and info[5] is True
        assert not list(root.glob("*.tmp"))


def test_recovery_of_a_torn_header_removes_the_empty_night(tmp_path: Path) -> None:
    data, offsets = _open_night_bytes(tmp_path)
    for cut in range(0, offsets[1]):
        root = tmp_path / f"cut{cut}"
        root.mkdir()
        (root / "00000001.log").write_bytes(data[:cut])
        log = NightLog(str(root))
        assert log.recover() == [(1, "no header, removed", cut)]
        assert log.nights() == [] and not (root / "00000001.log").exists()
        # the id is not reused
        assert log.start_night(**HEADER) == 2


def test_damage_in_the_middle_keeps_every_byte(tmp_path: Path) -> None:
    data, offsets = _open_night_bytes(tmp_path)
    bad = bytearray(data)
    bad[offsets[3] + 6] ^= 0x10
    (tmp_path / "n").mkdir()
    path = tmp_path / "n" / "00000001.log"
    path.write_bytes(bad)
    log = NightLog(str(tmp_path / "n"))
    assert log.recover() == [(1, f"damaged at {offsets[3]}: bad CRC", 0)]
    assert path.read_bytes() == bytes(bad)
    (info,) = log.nights()
    assert info[3] == len(bad) and info[5] is True
    # the host can resync past the damage with the magic byte
    nxt = records.find_next_record(bad, offsets[3] + 1)
    assert nxt == offsets[4]


def test_torn_tail_without_room_to_rewrite_is_served_only_up_to_the_good_part(
    tmp_path: Path,
) -> None:
    data, offsets = _open_night_bytes(tmp_path)
    root = tmp_path / "n"
    root.mkdir()
    torn = data[: offsets[-1] + 7]
    (root / "00000001.log").write_bytes(torn)
    space = night_log.EmulatedSpace(str(root), capacity=4096, block=4096)  # all used
    log = NightLog(str(root), space=space, reserve=0)
    assert log.recover() == [(1, "torn tail left in place", 7)]
    assert (root / "00000001.log").read_bytes() == torn
    (info,) = log.nights()
    assert info[3] == offsets[-1] and info[5] is True  # closed, good part only
    log.acknowledge(1, offsets[-1])
    assert log.free_synced() == [1]


def test_interrupted_cut_is_redone(tmp_path: Path) -> None:
    data, offsets = _open_night_bytes(tmp_path)
    root = tmp_path / "n"
    root.mkdir()
    (root / "00000001.log").write_bytes(data[:-3])
    (root / "00000001.log.tmp").write_bytes(data[:100])  # a copy cut short by a reset
    log = NightLog(str(root))
    assert log.recover() == [(1, "closed after reboot", len(data) - 3 - offsets[-1])]
    assert not (root / "00000001.log.tmp").exists()
    recs, reader = read_records(root / "00000001.log")
    assert reader.error == 0 and recs[-1][2][1] == records.M_RECOVERED


def test_write_failure_closes_the_night_at_its_last_whole_record(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    record_a_night(log, n_events=2)
    log.flush()
    good = (tmp_path / "00000001.log").stat().st_size

    class FullFlash:
        """The flash takes part of a write, then reports no space (ENOSPC)."""

        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(bytes(data)[:5])
            self.f.flush()
            raise OSError(errno.ENOSPC, "no space")

        def __getattr__(self, name):
            return getattr(self.f, name)

    log._file = FullFlash(log._file)
    log.append_event(event(9))
    log.flush()
    assert log.status == STATUS_FULL and "flash write failed" in log.detail
    assert not log.append_event(event(10))
    recs, reader = read_records(tmp_path / "00000001.log")
    assert reader.error == 0
    assert recs[-1][0] == good and recs[-1][2][1:3] == (records.M_RECOVERED, 5)


# -- acknowledgements -------------------------------------------------------------------


def test_acks_persist_only_grow_and_stay_within_the_night(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    nid, _ = record_a_night(log)
    log.stop_night(200000)
    size = log.nights()[0][3]
    assert log.acknowledge(nid, 100) == 100
    assert log.acknowledge(nid, 50) == 100  # never goes back
    with pytest.raises(ValueError, match="beyond"):
        log.acknowledge(nid, size + 1)
    with pytest.raises(ValueError, match="no night 7"):
        log.acknowledge(7, 0)
    again = new_log(tmp_path)
    assert again.nights()[0][4] == 100


def test_ack_store_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = new_log(tmp_path)
    nid, _ = record_a_night(log)
    log.stop_night(200000)
    log.acknowledge(nid, 100)
    ack = tmp_path / "00000001.ack"
    old = ack.read_bytes()

    # A reset after the new value was written to the temp file, before the rename.
    def reset(src, dst):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(night_log.os, "rename", reset)
    with pytest.raises(KeyboardInterrupt):
        log.acknowledge(nid, 200)
    monkeypatch.undo()
    assert ack.read_bytes() == old and (tmp_path / "00000001.ack.tmp").exists()
    after = new_log(tmp_path)
    assert after.nights()[0][4] == 100  # the old value, whole
    assert not (tmp_path / "00000001.ack.tmp").exists()

    # A FAT-style replace cut between removing the target and renaming the temp file:
    # the complete temp file is adopted.
    after.acknowledge(nid, 300)
    (tmp_path / "00000001.ack").rename(tmp_path / "00000001.ack.tmp")
    assert new_log(tmp_path).nights()[0][4] == 300

    # A garbled ack file counts as nothing acknowledged: nothing gets freed.
    ack.write_bytes(b"\x2c\x01\x00\x00\x00\x00\x00\x00")
    fresh = new_log(tmp_path)
    assert fresh.nights()[0][4] == 0
    assert fresh.free_synced() == []


def test_frees_only_closed_fully_acknowledged_nights(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    a, _ = record_a_night(log)
    log.stop_night(200000)
    b, _ = record_a_night(log)
    log.stop_night(200000)
    c, _ = record_a_night(log)
    log.flush()
    sizes = {n[0]: n[3] for n in log.nights()}
    log.acknowledge(a, sizes[a])
    log.acknowledge(b, sizes[b] - 1)
    log.acknowledge(c, sizes[c])  # all of it so far, but still recording
    assert log.free_synced() == [a]
    assert not (tmp_path / "00000001.log").exists() and not (tmp_path / "00000001.ack").exists()
    assert [n[0] for n in log.nights()] == [b, c]
    log.stop_night(300000)  # the stop marker is not acknowledged yet
    assert log.free_synced() == []
    log.acknowledge(c, log.nights()[1][3])
    assert log.free_synced() == [c]
    # ids are never reused, even after a reboot with nights freed
    again = new_log(tmp_path)
    assert again.start_night(**HEADER) == 4


def test_flash_full_stops_recording_and_keeps_unsynced_nights(tmp_path: Path) -> None:
    space = night_log.EmulatedSpace(str(tmp_path), capacity=24 * 1024, block=512)
    log = new_log(tmp_path, reserve=8 * 1024, space=space)
    first, _ = record_a_night(log)
    log.stop_night(200000)
    first_bytes = (tmp_path / "00000001.log").read_bytes()
    second = log.start_night(**HEADER)
    i = 0
    while log.append_event(event(i)):
        i += 1
        assert i < 2000, "never stopped"
    assert log.status == STATUS_FULL and "flash full" in log.detail
    assert "2 nights not synced" in log.detail
    assert space.free_bytes() < 8 * 1024
    assert not log.append_epoch(epoch(0))
    # the night ends with a "flash full" marker; the first night is untouched
    recs, reader = read_records(tmp_path / "00000002.log")
    assert reader.error == 0
    assert recs[-1][2][1] == records.M_FLASH_FULL
    assert sum(1 for r in recs if r[1] == records.T_EVENT) == i
    assert (tmp_path / "00000001.log").read_bytes() == first_bytes
    with pytest.raises(night_log.FlashFull):
        log.start_night(**HEADER)
    # the status survives a reboot
    assert new_log(tmp_path, reserve=8 * 1024, space=space).status == STATUS_FULL
    # once the host has synced both nights, starting frees them and records again
    for nid, _, _, size, _, closed, _uid in log.nights():
        assert closed
        log.acknowledge(nid, size)
    assert log.start_night(**HEADER) == 3
    assert log.status == STATUS_RECORDING
    assert not (tmp_path / "00000001.log").exists() and not (tmp_path / "00000002.log").exists()
    assert second == 2 and first == 1


# -- reader fuzz ------------------------------------------------------------------------


def _forged(rtype: int, payload: bytes) -> bytes:
    body = bytes([rtype]) + len(payload).to_bytes(2, "little") + payload
    return b"\xa5" + body + crc32(body).to_bytes(4, "little")


def _walk(buf: bytes) -> int:
    reader = records.iter_records(buf)
    n = 0
    last = -1
    for off, rtype, payload in reader:
        assert off > last and rtype in records.TYPE_NAMES
        assert len(payload) == len(records.FIELDS[rtype])
        last = off
        n += 1
        assert n <= len(buf) // records.OVERHEAD  # always moves forward
    assert reader.offset <= len(buf)
    assert (reader.error == 0) == (reader.offset == len(buf))
    return n


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_fuzz_random_bytes_never_raise(data: bytes) -> None:
    _walk(data)
    records.find_next_record(data)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 9), st.binary(max_size=120), st.binary(max_size=5)), max_size=8
    )
)
def test_fuzz_crc_valid_records_with_random_payloads_never_raise(parts) -> None:
    # Valid CRCs around random types and payloads reach the payload decoders.
    buf = b"".join(_forged(t, p) + junk for t, p, junk in parts)
    _walk(buf)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 500), st.integers(0, 7), st.integers(1, 5))
def test_fuzz_damaged_log(pos: int, bit: int, cut: int) -> None:
    data = bytearray()
    buf = bytearray(2048)
    end = records.encode_night(buf, 0, 1, *HEADER.values())
    for i in range(10):
        end = records.encode_event(buf, end, event(i))
    data = bytearray(buf[:end])
    data[pos % len(data)] ^= 1 << bit
    n = _walk(bytes(data[:-cut]))
    assert n <= 10


def test_emulated_space_counts_whole_blocks(tmp_path: Path) -> None:
    space = night_log.EmulatedSpace(str(tmp_path), capacity=10000, block=1000)
    assert space.free_bytes() == 10000
    (tmp_path / "a").write_bytes(b"x" * 1001)
    (tmp_path / "b").write_bytes(b"x")
    assert space.free_bytes() == 10000 - 3000
    (tmp_path / "c").write_bytes(b"x" * 20000)
    assert space.free_bytes() == 0
    assert night_log.StatvfsSpace(str(tmp_path)).free_bytes() > 0
    assert os.path.isdir(tmp_path)


# -- what recovery may not touch (issue 10) ------------------------------------------------


def test_a_flipped_bit_in_acknowledged_bytes_is_reported_not_repaired(tmp_path: Path) -> None:
    # The last acknowledged record damaged, nothing valid after it: before, recovery cut
    # the night below the ack and appended a marker, so the host got a fragment.
    data, offsets = _open_night_bytes(tmp_path)
    root = tmp_path / "n"
    root.mkdir()
    bad = bytearray(data)
    bad[offsets[-1] + 9] ^= 0x04  # inside the last record (the raw chunk)
    (root / "00000001.log").write_bytes(bad)
    ack = bytearray(8)
    ack[0:4] = len(data).to_bytes(4, "little")  # the host holds all of it
    ack[4:8] = crc32(bytes(ack[0:4])).to_bytes(4, "little")
    (root / "00000001.ack").write_bytes(bytes(ack))
    log = NightLog(str(root))
    (report,) = log.recover()
    assert report[0] == 1 and "below the acknowledged" in report[1] and report[2] == 0
    assert (root / "00000001.log").read_bytes() == bytes(bad)  # not a byte changed
    (info,) = log.nights()
    assert info[3] == len(bad) and info[4] == len(bad) and info[5] is True
    # closed and acknowledged in full: it can be freed, nothing new was appended
    assert log.free_synced() == [1]


def test_a_lost_next_id_never_reuses_an_id_on_flash(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    for _ in range(3):
        log.start_night(**HEADER)
        log.stop_night(1000)
    log.acknowledge(1, log.nights()[0][3])
    (tmp_path / "00000003.log").unlink()  # only night 3's ack-less log lost...
    (tmp_path / "next_id").write_bytes(b"\x01\x00\x00\x00\xff\xff\xff\xff")  # ...and a bad CRC
    again = new_log(tmp_path)
    assert again.start_night(**HEADER) == 3  # above every id the flash still holds
    # with only an acknowledgement left of night 5 (its log freed, the file kept)
    (tmp_path / "00000005.ack").write_bytes((tmp_path / "00000001.ack").read_bytes())
    (tmp_path / "next_id").unlink()
    again.stop_night(10)
    assert new_log(tmp_path).start_night(**HEADER) >= 4


def test_start_night_turns_a_flash_write_failure_into_flash_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = new_log(tmp_path)
    real_open = open

    def failing_open(path, mode="r", *a, **kw):
        if str(path).endswith(".log") and "w" in mode:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *a, **kw)

    monkeypatch.setattr("builtins.open", failing_open)
    with pytest.raises(night_log.FlashFull, match="flash write failed"):
        log.start_night(**HEADER)
    monkeypatch.undo()
    assert log.status == STATUS_FULL
    assert not list(tmp_path.glob("*.log")) and log.nights() == []
    log.status = STATUS_IDLE
    assert log.start_night(**HEADER) == 2  # id 1 is burnt, never reused


def test_the_header_carries_the_uid_and_the_list_reports_it(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    uid = 0xFEDCBA9876543210
    log.start_night(**HEADER, night_uid=uid, boot_count=7)
    log.stop_night(1000)
    (_, _, header), *_ = records.iter_records((tmp_path / "00000001.log").read_bytes())
    fields = dict(zip(records.NIGHT_FIELDS, header, strict=True))
    assert (fields["night_uid"], fields["boot_count"]) == (uid, 7)
    assert log.nights()[0][6] == uid
    assert new_log(tmp_path).nights()[0][6] == uid  # read back from flash at boot
