"""The device's USB link over a REAL pseudo-terminal: ProtocolServer + UsbLink in their own
thread and event loop on the master end (as on the board), a client with the shared codecs
on the raw-mode slave end (as pyserial opens a port). Every wait is on a reply, with a
time-out; no sleeps."""

from __future__ import annotations

import json
import os
import select
from collections import deque

import pytest
from legsense_core import protocol as P
from legsense_core import records
from legsense_core.frames import encode
from legsense_device import config as device_config
from link_device import BOARD, DEVICE_ID, FIRMWARE, IMU, DeviceError, LogDevice, PtyLink

UTC = 1_763_780_000_000
BOOT_LINE = b"legsense 0.1.0 board=virtual imu=lsm6dsox heap=81234 flash=4194304\r\n"


@pytest.fixture
def device(tmp_path):
    dev = LogDevice(tmp_path / "board")
    dev.set_time(UTC)
    return dev


@pytest.fixture
def link(device):
    pty = PtyLink(device, boot_text=BOOT_LINE)
    yield pty
    interrupted = pty.device_thread.interrupted
    pty.close()
    assert pty.device_thread.failure is None, repr(pty.device_thread.failure)
    assert interrupted or pty.device_thread.ended_cleanly


def read_night(client, night_id: int, size: int, window: int, max_read: int) -> bytes:
    """Read a night as the host does: READs up to `size` and one at `size` (the empty DATA
    that marks the end), `window` of them in flight, one more sent per DATA received."""
    offsets = [*range(0, size, max_read), size]
    data = bytearray()
    in_flight: deque[tuple[int, int]] = deque()
    i = 0
    while i < len(offsets) or in_flight:
        while i < len(offsets) and len(in_flight) < window:
            in_flight.append((client.send(P.READ, (night_id, offsets[i], max_read)), offsets[i]))
            i += 1
        rtype, seq, values = client.receive()
        want_seq, offset = in_flight.popleft()
        assert (rtype, seq) == (P.DATA, want_seq), f"reply out of order or refused: {values!r}"
        assert values[:2] == (night_id, offset) and offset == len(data)
        data += values[2]
    assert len(data) == size  # so the last DATA, at the end, was empty
    return bytes(data)


def test_hello_after_boot_text(link, device):
    nid = device.record_night()
    got = link.client.call(P.HELLO)
    info = dict(zip(P.FIELDS[P.HELLO_REPLY], got, strict=True))
    assert info["protocol"] == P.PROTOCOL_VERSION
    assert info["state"] == 2  # stopped after the recorded night
    assert info["flags"] & P.F_CLOCK_SET
    assert not info["flags"] & P.F_FLASH_FULL
    assert info["battery_pct"] == P.BATTERY_UNKNOWN
    assert 0 < info["free_flash"] < info["total_flash"] == 4 * 1024 * 1024
    assert info["nights"] == 1 and nid == 1
    assert (info["window"], info["max_read"]) == (8, 1024)
    assert (info["device_id"], info["firmware"], info["board"], info["imu"]) == (
        DEVICE_ID,
        FIRMWARE,
        BOARD,
        IMU,
    )
    # the boot line reached the host as text before the first frame and was skipped
    assert link.client.decoder.frames == 1


def test_list_and_pipelined_read_byte_identical(link, device):
    nid = device.record_night(raw_chunks=30)
    on_flash = device.night_path(nid).read_bytes()
    assert len(on_flash) > 20 * 1024
    total, first, nights = link.client.call(P.LIST_NIGHTS, (0,))
    assert (total, first) == (1, 0)
    (entry,) = nights
    night_id, start, end, size, acked, flags, _uid = entry
    assert (night_id, size, acked) == (nid, len(on_flash), 0)
    assert flags == P.N_CLOSED | P.N_UTC
    # the night began at the anchored UTC; it ended 1000 s of device time later
    assert start == UTC and end == UTC + 1_000_000
    assert read_night(link.client, nid, size, 8, 1024) == on_flash
    # other windows and read lengths give the same bytes
    assert read_night(link.client, nid, size, 3, 777) == on_flash


def test_ack_then_erase(link, device):
    nid = device.record_night()
    size = device.night_path(nid).stat().st_size
    data = read_night(link.client, nid, size, 8, 1024)
    assert link.client.call(P.ACK, (nid, len(data))) == (nid, size)
    got_id, free = link.client.call(P.ERASE, (nid,))
    assert got_id == nid and free == device.log.free_bytes()
    assert not device.night_path(nid).exists()
    assert link.client.call(P.LIST_NIGHTS, (0,)) == (0, 0, ())
    code, _ = link.client.error(P.READ, (nid, 0, 1024))
    assert code == P.E_UNKNOWN_NIGHT


def test_erase_refused_until_acknowledged(link, device):
    nid = device.record_night()
    path = device.night_path(nid)
    size = path.stat().st_size
    code, message = link.client.error(P.ERASE, (nid,))
    assert code == P.E_NOT_ACKNOWLEDGED and f"0 of {size}" in message
    # acknowledged up to the last boundary below the end: still refused
    _, acked = link.client.call(P.ACK, (nid, size - 1))
    assert 0 < acked < size
    code, _ = link.client.error(P.ERASE, (nid,))
    assert code == P.E_NOT_ACKNOWLEDGED
    assert path.stat().st_size == size
    # a night still recording is never erased, even acknowledged to its current end
    link.client.call(P.START)
    open_id = device.log.nights()[-1][0]
    open_size = device.log.nights()[-1][3]
    assert link.client.call(P.ACK, (open_id, open_size)) == (open_id, open_size)
    code, message = link.client.error(P.ERASE, (open_id,))
    assert code == P.E_NOT_ACKNOWLEDGED and "recording" in message
    assert device.night_path(open_id).exists()


def test_config_get_and_set(link, device):
    (text,) = link.client.call(P.CONFIG_GET)
    assert json.loads(text) == device_config.DEFAULTS
    code, message = link.client.error(P.CONFIG_SET, ('{"odr_hz": 33, "leg": "left"}',))
    assert code == P.E_BAD_REQUEST
    assert "odr_hz must be one of 12.5, 26, 52, 104" in message
    assert not os.path.exists(device.config_path)  # nothing changed, nothing written
    (text,) = link.client.call(P.CONFIG_SET, ('{"odr_hz": 26, "leg": "left"}',))
    assert json.loads(text)["odr_hz"] == 26
    on_flash, reasons = device_config.load(device.config_path)
    assert reasons == []
    assert (on_flash["odr_hz"], on_flash["leg"], on_flash["epoch_s"]) == (26, "left", 30)
    code, message = link.client.error(P.CONFIG_SET, ("{not json",))
    assert code == P.E_BAD_REQUEST and "JSON" in message


def test_start_stop(link, device):
    state, nid = link.client.call(P.START)
    assert state == 1 and nid == 1
    total, _, nights = link.client.call(P.LIST_NIGHTS, (0,))
    assert total == 1 and nights[0][2] == 0 and not nights[0][5] & P.N_CLOSED
    code, message = link.client.error(P.START)
    assert code == P.E_BUSY and "already recording" in message
    code, _ = link.client.error(P.CONFIG_SET, ('{"odr_hz": 26}',))
    assert code == P.E_BUSY
    device.ticks_ms += 60_000
    assert link.client.call(P.STOP) == (2, nid)
    code, _ = link.client.error(P.STOP)
    assert code == P.E_BUSY
    recs = list(records.iter_records(device.night_path(nid).read_bytes()))
    assert recs[-1][1] == records.T_MARKER and recs[-1][2][1] == records.M_STOP_HOST
    _, _, nights = link.client.call(P.LIST_NIGHTS, (0,))
    assert nights[0][5] & P.N_CLOSED and nights[0][2] == UTC + 60_000


def test_time(link, device):
    utc, ticks = link.client.call(P.GET_TIME)
    assert (utc, ticks) == (UTC, device.ticks_ms)
    device.ticks_ms += 1234
    previous, ticks = link.client.call(P.SET_TIME, (UTC + 1000,))
    assert previous == UTC + 1234 and ticks == device.ticks_ms
    code, _ = link.client.error(P.SET_TIME, (12345,))
    assert code == P.E_BAD_REQUEST


def test_garbage_and_repl_text_between_frames(link, device):
    client = link.client
    client.send_raw(b"garbage\r\n>>> \x80\x81\x85\x05\x7f" + client.frame(P.GET_TIME, 7))
    rtype, seq, _ = client.receive()
    assert (rtype, seq) == (P.GET_TIME_REPLY, 7)
    # the firmware prints a traceback-like text between two replies: skipped by the host
    os.write(link.master, b"Traceback (most recent call last):\r\n  oops\r\n")
    client.send_raw(client.frame(P.HELLO, 8) + b"\xff\xfe noise " + client.frame(P.HELLO, 9))
    assert [client.receive()[1], client.receive()[1]] == [8, 9]
    assert sum(link.device_thread.link.decoder.errors) == 2  # one per run of noise


def test_cut_frame_then_good_one_resyncs(link):
    client = link.client
    whole = client.frame(P.LIST_NIGHTS, 20, (0,))
    client.send_raw(whole[: len(whole) // 2])  # cut: the host died mid-frame
    client.send_raw(client.frame(P.HELLO, 21))
    rtype, seq, _ = client.receive()
    assert (rtype, seq) == (P.HELLO_REPLY, 21)
    assert client.bodies == type(client.bodies)()  # nothing for the cut frame
    assert sum(link.device_thread.link.decoder.errors) == 1


def test_version_mismatch_and_unknown_type(link):
    client = link.client
    body = bytearray(P.MAX_BODY)
    n = P.encode_body(body, P.HELLO, 30)
    body[0] = P.PROTOCOL_VERSION + 1  # a host from the future
    client.send_raw(encode(bytes(body[:n])))
    rtype, seq, (code, request_type, message) = client.receive()
    assert (rtype, seq, code, request_type) == (P.ERROR, 30, P.E_VERSION, P.HELLO)
    assert f"speaks {P.PROTOCOL_VERSION}" in message
    body[0] = P.PROTOCOL_VERSION
    body[1] = 0x3E  # no such request
    client.send_raw(encode(bytes(body[:n])))
    rtype, seq, (code, request_type, _) = client.receive()
    assert (rtype, seq, code, request_type) == (P.ERROR, 30, P.E_BAD_REQUEST, 0x3E)


def test_ctrl_c_between_frames_reaches_the_app(link):
    assert link.client.call(P.HELLO)[0] == P.PROTOCOL_VERSION
    link.client.send_raw(b"\x03")
    link.device_thread.join(5)
    assert not link.device_thread.is_alive()
    assert link.device_thread.interrupted and link.device_thread.failure is None
    link.close()


def test_ctrl_c_inside_a_frame_reaches_the_app(link):
    frame = link.client.frame(P.LIST_NIGHTS, 40, (0,))
    link.client.send_raw(frame[:5] + b"\x03" + frame[5:])
    link.device_thread.join(5)
    assert link.device_thread.interrupted
    # the interrupted request was never answered: only the boot line came out
    out = b""
    while select.select([link.slave], [], [], 0)[0]:
        out += os.read(link.slave, 4096)
    assert out == BOOT_LINE
    link.close()


def test_device_error_type_is_readable():
    e = DeviceError(P.E_NOT_ACKNOWLEDGED, "night 3 acknowledged up to 0 of 10 bytes")
    assert str(e).startswith("4 not acknowledged: night 3")
