"""ProtocolServer.handle() on its own (no link): every rule of docs/protocol.md's device
behaviour section, against the real night log on a temp folder."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from legsense_core import protocol as P
from legsense_core import records
from legsense_device.night_log import NightLog
from legsense_device.protocol_server import ProtocolServer
from link_device import LogDevice, record_offsets

UTC = 1_763_780_000_000


class Host:
    """Calls the server with encoded bodies and decodes its replies."""

    def __init__(self, server: ProtocolServer) -> None:
        self.server = server
        self.seq = 100
        self._body = bytearray(P.MAX_BODY)

    def raw(self, body: bytes) -> tuple[int, int, tuple]:
        n = self.server.handle(memoryview(body))
        return P.decode_body(bytes(self.server.reply[:n]))

    def ask(self, mtype: int, values: tuple = ()) -> tuple[int, int, tuple]:
        self.seq += 1
        n = P.encode_body(self._body, mtype, self.seq, values)
        rtype, seq, got = self.raw(bytes(self._body[:n]))
        assert seq == self.seq
        return rtype, seq, got

    def ok(self, mtype: int, values: tuple = ()) -> tuple:
        rtype, _, got = self.ask(mtype, values)
        assert rtype == P.reply_type(mtype), got
        return got

    def refused(self, mtype: int, values: tuple = ()) -> tuple[int, str]:
        rtype, _, got = self.ask(mtype, values)
        assert rtype == P.ERROR, got
        assert got[1] == mtype
        return got[0], got[2]


@pytest.fixture
def device(tmp_path):
    dev = LogDevice(tmp_path / "board")
    dev.set_time(UTC)
    return dev


@pytest.fixture
def host(device):
    return Host(ProtocolServer(device))


def test_read_at_end_is_empty_and_past_end_is_out_of_range(host, device):
    nid = device.record_night(raw_chunks=2)
    size = device.night_path(nid).stat().st_size
    assert host.ok(P.READ, (nid, size, 1024)) == (nid, size, b"")
    code, message = host.refused(P.READ, (nid, size + 1, 1024))
    assert code == P.E_OUT_OF_RANGE and str(size) in message
    assert host.refused(P.READ, (nid + 1, 0, 16))[0] == P.E_UNKNOWN_NIGHT
    tail = host.ok(P.READ, (nid, size - 10, 1024))
    assert tail == (nid, size - 10, device.night_path(nid).read_bytes()[-10:])
    assert host.ok(P.READ, (nid, 5, 0)) == (nid, 5, b"")


def test_read_of_the_recording_night_includes_what_is_buffered(host, device):
    host.ok(P.START)
    nid = device.log.nights()[-1][0]
    durable = device.night_path(nid).stat().st_size
    ev = (1000, 2500, 150, 30, 3, 99)
    assert device.log.append_event(ev)  # sits in the log's RAM buffer
    assert device.night_path(nid).stat().st_size == durable
    got = host.ok(P.READ, (nid, durable, 1024))[2]
    assert list(records.iter_records(got)) == [(0, records.T_EVENT, ev)]
    _, _, nights = host.ok(P.LIST_NIGHTS, (0,))
    assert nights[0][3] == durable + len(got)


def test_ack_rounds_down_to_a_record_boundary(host, device):
    nid = device.record_night(n_events=30, raw_chunks=3)
    data = device.night_path(nid).read_bytes()
    bounds = record_offsets(data)
    assert bounds[-1] == len(data)
    rng = random.Random(7)
    acked = 0
    for offset in sorted(rng.sample(range(1, len(data)), 40)):
        want = max(b for b in bounds if b <= offset)
        assert host.ok(P.ACK, (nid, offset)) == (nid, max(acked, want))
        acked = max(acked, want)
    # never backwards
    assert host.ok(P.ACK, (nid, 1)) == (nid, acked)
    # beyond the night: refused, nothing changes
    code, _ = host.refused(P.ACK, (nid, len(data) + 1))
    assert code == P.E_OUT_OF_RANGE
    assert host.ok(P.ACK, (nid, len(data))) == (nid, len(data))
    # durable: a board that reboots finds the acknowledgement
    again = NightLog(str(device.nights_dir), space=device.log.space)
    again.recover()
    assert again.nights()[0][4] == len(data)


def test_erase_frees_only_closed_nights_acknowledged_to_their_end(host, device):
    first = device.record_night(seed=1)
    second = device.record_night(seed=2)
    size = device.night_path(first).stat().st_size
    host.ok(P.ACK, (first, size - 1))
    assert host.refused(P.ERASE, (first,))[0] == P.E_NOT_ACKNOWLEDGED
    host.ok(P.ACK, (first, size))
    got_id, free = host.ok(P.ERASE, (first,))
    assert got_id == first and free == device.log.free_bytes()
    assert not device.night_path(first).exists()
    assert device.night_path(second).exists()
    assert host.refused(P.ERASE, (first,))[0] == P.E_UNKNOWN_NIGHT
    total, _, nights = host.ok(P.LIST_NIGHTS, (0,))
    assert total == 1 and nights[0][0] == second


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["ack", "erase", "start", "stop"]), st.floats(0, 1.1)),
        max_size=12,
    )
)
def test_no_unacknowledged_byte_is_ever_freed(tmp_path_factory, steps):
    device = LogDevice(tmp_path_factory.mktemp("board"))
    device.set_time(UTC)
    host = Host(ProtocolServer(device))
    for seed in (1, 2):
        device.record_night(n_events=5, raw_chunks=1, seed=seed)
    for what, frac in steps:
        before = {n[0]: n for n in device.log.nights()}
        ids = sorted(before) or [1]
        nid = ids[int(frac * 7) % len(ids)]
        if what == "ack":
            size = before[nid][3] if nid in before else 0
            host.ask(P.ACK, (nid, int(size * frac)))
        elif what == "erase":
            host.ask(P.ERASE, (nid,))
        else:
            host.ask(P.START if what == "start" else P.STOP)
        after = {n[0]: n for n in device.log.nights()}
        for gone in set(before) - set(after):
            _, _, _, size, acked, closed = before[gone]
            assert closed and acked == size, before[gone]
            assert not device.night_path(gone).exists()
        for n in after.values():
            assert device.night_path(n[0]).stat().st_size >= n[3]


def test_list_nights_pages(host, device):
    for _ in range(P.MAX_NIGHTS + 5):
        assert device.start("host")[0]
        device.ticks_ms += 1000
        assert device.stop("host")[0]
    total, first, page = host.ok(P.LIST_NIGHTS, (0,))
    assert (total, first, len(page)) == (P.MAX_NIGHTS + 5, 0, P.MAX_NIGHTS)
    total, first, rest = host.ok(P.LIST_NIGHTS, (P.MAX_NIGHTS,))
    assert (first, len(rest)) == (P.MAX_NIGHTS, 5)
    ids = [e[0] for e in page + rest]
    assert ids == list(range(1, P.MAX_NIGHTS + 6))
    assert host.ok(P.LIST_NIGHTS, (500,)) == (total, total, ())
    assert host.ok(P.HELLO)[7] == total


def test_night_without_clock_has_no_times(tmp_path):
    device = LogDevice(tmp_path / "board")  # never given the time
    host = Host(ProtocolServer(device))
    nid = device.record_night(raw_chunks=0)
    _, _, (entry,) = host.ok(P.LIST_NIGHTS, (0,))
    assert entry[0] == nid and entry[1:3] == (0, 0) and entry[5] == P.N_CLOSED
    assert not host.ok(P.HELLO)[2] & P.F_CLOCK_SET
    assert host.ok(P.GET_TIME)[0] == 0
    assert host.ok(P.SET_TIME, (UTC,))[0] == 0  # no previous estimate
    assert host.ok(P.HELLO)[2] & P.F_CLOCK_SET


def test_set_time_refuses_implausible_times(host):
    assert host.refused(P.SET_TIME, (0,))[0] == P.E_BAD_REQUEST
    assert host.refused(P.SET_TIME, (2**63,))[0] == P.E_BAD_REQUEST


def test_config_set_refusals(host, device):
    code, message = host.refused(P.CONFIG_SET, ('{"colour": "red", "epoch_s": 7}',))
    assert code == P.E_BAD_REQUEST
    assert "unknown key 'colour'" in message and "epoch_s must be 10, 15, 20, 30 or 60" in message
    assert "kept default" not in message
    assert host.refused(P.CONFIG_SET, ("[1, 2]",))[0] == P.E_BAD_REQUEST
    assert device.cfg["epoch_s"] == 30
    host.ok(P.START)
    assert host.refused(P.CONFIG_SET, ('{"epoch_s": 60}',))[0] == P.E_BUSY


def test_malformed_requests_get_errors_with_their_sequence(host):
    assert host.raw(b"\x01") == (
        P.ERROR,
        0,
        (P.E_BAD_REQUEST, 0, "message of 1 bytes has no header"),
    )
    rtype, seq, got = host.raw(bytes((P.PROTOCOL_VERSION - 1, P.HELLO, 0x34, 0x12)))
    assert (rtype, seq, got[0], got[1]) == (P.ERROR, 0x1234, P.E_VERSION, P.HELLO)
    head = bytes((P.PROTOCOL_VERSION, P.READ, 9, 0))
    rtype, seq, got = host.raw(head + b"\x01\x00")  # payload too short
    assert (rtype, seq, got[0], got[1]) == (P.ERROR, 9, P.E_BAD_REQUEST, P.READ)
    rtype, _, got = host.raw(head + bytes(8) + (1025).to_bytes(2, "little"))
    assert rtype == P.ERROR and got[0] == P.E_BAD_REQUEST and "1025" in got[2]
    # a reply sent as a request
    assert (
        host.refused(P.HELLO_REPLY, (1, 0, 0, 0, 255, 0, 0, 0, 8, 1024, "", "", "", ""))[0]
        == P.E_BAD_REQUEST
    )


def test_live_stream_not_supported(host):
    code, message = host.refused(P.LIVE, (1,))
    assert code == P.E_BAD_REQUEST and "not supported" in message
    assert host.ok(P.LIVE, (0,)) == (0,)


def test_a_failing_device_gives_internal_error_and_the_server_goes_on(host, device):
    def broken():
        raise OSError(5, "I2C bus stuck")

    device.identity = broken
    code, message = host.refused(P.HELLO)
    assert code == P.E_INTERNAL and "OSError" in message and "I2C bus stuck" in message
    assert host.ok(P.GET_TIME)[0] == UTC
    assert host.server.errors == 1


def test_long_names_are_cut_not_fatal(host, device):
    device.identity = lambda: ("é" * 40, "0.1.0", "virtual", "x" * 50)
    got = host.ok(P.HELLO)
    assert got[10] == "é" * 16 and got[13] == "x" * 32


def test_hello_answers_when_the_flash_did_not_mount(host, device):
    device.log = None
    got = host.ok(P.HELLO)
    assert (got[5], got[7]) == (0, 0)  # no free flash, no nights
    code, message = host.refused(P.LIST_NIGHTS, (0,))
    assert code == P.E_INTERNAL and "flash" in message


def test_list_nights_carries_each_night_uid(host, device):
    uids = [0x0123456789ABCDEF, 0xFEDCBA9876543210]
    for uid in uids:
        device.log.start_night(
            "id", "0.1.0", "virtual", "lsm6dsox", 52000, (61, 1), (8750, 1), 0, 0, 0,
            b"{}", uid, 1,
        )  # fmt: skip
        device.log.stop_night(1000)
    _, _, entries = host.ok(P.LIST_NIGHTS, (0,))
    assert [e[6] for e in entries] == uids


def test_hello_does_not_flush_the_log_list_does(host, device):
    # Anyone in BLE range may say HELLO: it must not cost a flash write.
    assert device.start("host")[0]
    night = device.night_path(device.log.nights()[-1][0])
    size = night.stat().st_size
    assert device.log.append_event((1000, 2000, 50, 10, 1, 40))  # buffered
    host.ok(P.HELLO)
    assert night.stat().st_size == size
    host.ok(P.LIST_NIGHTS, (0,))
    assert night.stat().st_size > size
