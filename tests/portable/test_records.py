# Night-log record codecs (portable: runs on CPython and on the MicroPython VM).
from binascii import crc32

from legsense_core import detector, records

HEADER = (
    42,
    "a1b2c3d4e5f6",
    "0.1.0",
    "devkitc-lsm6dsox",
    "lsm6dsox",
    52000,
    (61, 1),
    (8750, 1),
    123456,
    -1500,
    1763780000000,
    b'{"rate_hz":52,"on_x16":64}',
    0xFEDCBA9876543210,  # night UID
    17,  # boot count
)
EVENT = (61000, 62340, 184, 37, 3, 212)
EPOCH = (2, 1560, 4200, 37, -12, 980, -160)
BATTERY = (1800000, 3912, 87)
ANCHOR = (3600000, 1763783600123)
MARKER = (7200000, records.M_FIFO_OVERFLOW, 17, "fifo")
RAW = (120000, 26, records.RAW_DEFLATE, bytes(range(40)))


def _all_records():
    """A buffer with one record of every type; returns (buf, [(offset, type, payload)])."""
    buf = bytearray(1024)
    expected = []
    p = 0
    expected.append((p, records.T_NIGHT, (records.FORMAT_VERSION,) + HEADER))  # noqa: RUF005 (MicroPython has no (a, *b))
    p = records.encode_night(buf, p, *HEADER)
    expected.append((p, records.T_EVENT, EVENT))
    p = records.encode_event(buf, p, EVENT)
    expected.append((p, records.T_EPOCH, EPOCH))
    p = records.encode_epoch(buf, p, EPOCH)
    expected.append((p, records.T_BATTERY, BATTERY))
    p = records.encode_battery(buf, p, *BATTERY)
    expected.append((p, records.T_ANCHOR, ANCHOR))
    p = records.encode_anchor(buf, p, *ANCHOR)
    expected.append((p, records.T_MARKER, MARKER))
    p = records.encode_marker(buf, p, *MARKER)
    expected.append((p, records.T_RAW, RAW))
    p = records.encode_raw(buf, p, *RAW)
    return bytes(buf[:p]), expected


def _record_bytes():
    """Each record of _all_records as its own bytes."""
    buf, expected = _all_records()
    out = []
    for i in range(len(expected)):
        start = expected[i][0]
        end = expected[i + 1][0] if i + 1 < len(expected) else len(buf)
        out.append(buf[start:end])
    return out


def test_round_trip_every_type():
    buf, expected = _all_records()
    reader = records.iter_records(buf)
    got = list(reader)
    assert got == expected
    assert reader.error == 0 and reader.reason is None and reader.offset == len(buf)
    # field-name tuples match the payload tuples
    for _, rtype, payload in got:
        assert len(records.FIELDS[rtype]) == len(payload)


def test_decoded_tuples_encode_to_the_same_bytes():
    buf, expected = _all_records()
    again = bytearray(len(buf))
    p = 0
    for _, rtype, pl in expected:
        if rtype == records.T_NIGHT:
            p = records.encode_night(again, p, *pl[1:])
        elif rtype == records.T_EVENT:
            p = records.encode_event(again, p, pl)
        elif rtype == records.T_EPOCH:
            p = records.encode_epoch(again, p, pl)
        elif rtype == records.T_BATTERY:
            p = records.encode_battery(again, p, *pl)
        elif rtype == records.T_ANCHOR:
            p = records.encode_anchor(again, p, *pl)
        elif rtype == records.T_MARKER:
            p = records.encode_marker(again, p, *pl)
        else:
            p = records.encode_raw(again, p, *pl)
    assert bytes(again) == buf


def test_event_and_epoch_fields_are_the_detectors():
    assert records.EVENT_FIELDS == detector.EVENT_FIELDS
    assert records.EPOCH_FIELDS == detector.EPOCH_FIELDS


def test_event_layout_byte_by_byte():
    # The worked example of docs/night-log.md, built by hand from its byte table.
    # fmt: off
    payload = bytes([
        0x48, 0xEE, 0, 0,  # onset 61000 ms
        0x84, 0xF3, 0, 0,  # offset 62340 ms
        0xB8, 0, 0, 0,  # peak 184 mg
        0x25, 0, 0, 0,  # peak 37 dps
        0x03,  # channels accel|gyro
        0xD4, 0, 0, 0,  # peak SNR 212/16
    ])
    # fmt: on
    body = bytes([records.T_EVENT, len(payload), 0]) + payload
    c = crc32(body)
    want = bytes([0xA5]) + body + bytes([c & 255, (c >> 8) & 255, (c >> 16) & 255, c >> 24])
    buf = bytearray(64)
    end = records.encode_event(buf, 0, EVENT)
    assert bytes(buf[:end]) == want
    assert want[-4:] == bytes([0x6A, 0xFA, 0x8E, 0xD4])  # CRC32 0xD48EFA6A, as documented
    # encoding into a memoryview at an offset gives the same bytes
    mv = memoryview(bytearray(64))
    assert records.encode_event(mv, 5, EVENT) == 5 + len(want)
    assert bytes(mv[5 : 5 + len(want)]) == want


def test_out_of_range_values_are_clamped_not_wrapped():
    buf = bytearray(64)
    end = records.encode_event(buf, 0, (-5, 1 << 33, 70000, 1 << 40, 300, 5))
    (_, _, payload) = next(iter(records.iter_records(buf, 0, end)))
    assert payload == (0, 0xFFFFFFFF, 70000, 0xFFFFFFFF, 255, 5)
    end = records.encode_epoch(buf, 0, (1, 2, 3, 4, -40000, 40000, 5))
    assert next(iter(records.iter_records(buf, 0, end)))[2] == (1, 2, 3, 4, -32768, 32767, 5)


def test_encoder_refuses_what_does_not_fit():
    for bad in (
        lambda: records.encode_event(bytearray(28), 0, EVENT),
        lambda: records.encode_marker(bytearray(200), 0, 1, 1, 0, "x" * 49),
        lambda: records.encode_raw(bytearray(2048), 0, 1, 1, 0, bytes(1010)),
    ):
        try:
            bad()
        except ValueError:
            pass
        else:
            raise AssertionError("accepted")


def test_crc_detects_every_single_bit_flip():
    for rec in _record_bytes():
        for i in range(len(rec)):
            for bit in range(8):
                flipped = bytearray(rec)
                flipped[i] ^= 1 << bit
                reader = records.iter_records(flipped)
                assert list(reader) == [], (i, bit)
                assert reader.error < 0 and reader.offset == 0, (i, bit)


def _stops_at(buf, offset, reason, n_good):
    reader = records.iter_records(buf)
    got = list(reader)
    assert len(got) == n_good, (reason, len(got))
    assert reader.offset == offset, (reason, reader.offset, offset)
    assert reader.reason == reason, (reason, reader.reason)


def _forged(rtype, payload):
    # A record with a valid CRC around any type and payload.
    body = bytes([rtype, len(payload) & 255, len(payload) >> 8]) + payload
    c = crc32(body)
    return bytes([0xA5]) + body + bytes([c & 255, (c >> 8) & 255, (c >> 16) & 255, c >> 24])


def test_reader_stops_at_first_bad_record_with_offset_and_reason():
    buf, expected = _all_records()
    third = expected[2][0]
    fourth = expected[3][0]
    # payload byte of the third record changed
    b = bytearray(buf)
    b[third + 6] ^= 0x40
    _stops_at(b, third, "bad CRC", 2)
    # magic of the third record lost
    b = bytearray(buf)
    b[third] = 0x00
    _stops_at(b, third, "bad magic", 2)
    # torn inside the third record, and inside its head
    _stops_at(buf[: fourth - 1], third, "short", 2)
    _stops_at(buf[: third + 2], third, "short", 2)
    # a length beyond the limit
    b = bytearray(buf)
    b[third + 3] = 0x7F
    _stops_at(b, third, "bad length", 2)
    # valid CRC but an unknown type, a wrong size for the type, a future version
    head = buf[:third]
    _stops_at(head + _forged(99, b"abc") + buf[third:], third, "unknown type", 2)
    _stops_at(head + _forged(records.T_EVENT, bytes(20)), third, "bad length", 2)
    night = bytearray(_record_bytes()[0][4:-4])
    night[0] = 3
    _stops_at(_forged(records.T_NIGHT, bytes(night)), 0, "unsupported version", 0)
    # a marker whose text length disagrees with the record length
    _stops_at(head + _forged(records.T_MARKER, bytes([0, 0, 0, 0, 1, 0, 0, 0, 0, 5])), third,
              "bad length", 2)  # fmt: skip
    # the reader stays stopped
    reader = records.iter_records(head + b"\x00" + buf[third:])
    assert len(list(reader)) == 2 and list(reader) == []


def test_reader_from_start_and_to_end():
    buf, expected = _all_records()
    got = list(records.iter_records(buf, expected[3][0], expected[5][0]))
    assert got == expected[3:5]


def test_find_next_record_resyncs_after_garbage():
    buf, expected = _all_records()
    third = expected[2][0]
    b = bytearray(buf)
    b[third + 1] ^= 0xFF
    reader = records.iter_records(b)
    assert len(list(reader)) == 2
    nxt = records.find_next_record(b, reader.offset + 1)
    assert nxt == expected[3][0]
    assert list(records.iter_records(b, nxt)) == expected[3:]
    assert records.find_next_record(bytes(300)) == -1


def test_decode_record_names_the_problem():
    buf, expected = _all_records()
    assert records.decode_record(buf, expected[1][0]) == (records.T_EVENT, EVENT)
    try:
        records.decode_record(buf[:10])
    except ValueError as e:
        assert str(e) == "short record at offset 0"
    else:
        raise AssertionError("no error")


def test_payload_sizes_match_the_documented_byte_tables():
    # Counted by hand from docs/night-log.md.
    assert records.NIGHT_SIZE == 1 + 4 + 4 + 4 * 4 + 4 + 4 + 8 + 8 + 4  # 53
    assert records.EVENT_SIZE == 4 + 4 + 4 + 4 + 1 + 4  # 21
    assert records.EPOCH_SIZE == 4 * 4 + 3 * 2  # 22
    assert records.BATTERY_SIZE == 4 + 2 + 1
    assert records.ANCHOR_SIZE == 4 + 8
    assert records.MARKER_SIZE == 4 + 1 + 4 + 1
    assert records.RAW_SIZE == 4 + 2 + 1
    night = _record_bytes()[0]
    n_names = len("a1b2c3d4e5f6") + len("0.1.0") + len("devkitc-lsm6dsox") + len("lsm6dsox")
    assert len(night) == 8 + 53 + 4 + n_names + 2 + len(HEADER[11])


def test_version_1_header_still_reads_without_uid():
    # Nights recorded before the UID existed: the 41-byte fixed part, built by hand.
    import struct

    config = b'{"rate_hz":52}'
    payload = struct.pack("<BIIIIIIIiQ", 1, 7, 52000, 61, 1, 8750, 1, 99, -20, 1763780000000)
    for name in (b"dev", b"0.1.0", b"brd", b"imu"):
        payload += bytes((len(name),)) + name
    payload += struct.pack("<H", len(config)) + config
    rtype, got = records.decode_record(_forged(records.T_NIGHT, payload))
    assert rtype == records.T_NIGHT
    v = {}
    for i in range(len(got)):  # no zip(strict=) on MicroPython
        v[records.NIGHT_FIELDS[i]] = got[i]
    assert len(got) == len(records.NIGHT_FIELDS)
    assert (v["format_version"], v["night_id"], v["device_id"], v["imu"]) == (1, 7, "dev", "imu")
    assert (v["anchor_dev_ms"], v["config_json"]) == (-20, config)
    assert (v["night_uid"], v["boot_count"]) == (0, 0)


def test_raw_rows_round_trip_with_and_without_gyro():
    import struct
    from array import array

    ts = array("i", [1000, 1019, 1038, 70000])
    acc = array("h", [1, -2, 16393, 4, 5, -6, 7, 8, 9, -32768, 0, 32767])
    gyr = array("h", [10, 11, 12, 13, 14, 15, 16, 17, 18, -1, -2, -3])
    buf = bytearray(14 * 4)
    for g, width in ((gyr, 14), (None, 8)):
        end = records.pack_raw_rows(buf, ts, acc, g, 4)
        assert end == width * 4
        fmt = records.raw_row_format(end, 4)
        assert struct.calcsize(fmt) == width
        rows = [struct.unpack_from(fmt, buf, k * width) for k in range(4)]
        # dt from the first sample, saturated at 65535 ms
        assert [r[0] for r in rows] == [0, 19, 38, 65535]
        assert [list(r[1:4]) for r in rows] == [list(acc[3 * k : 3 * k + 3]) for k in range(4)]
        if g is not None:
            assert [list(r[4:]) for r in rows] == [list(gyr[3 * k : 3 * k + 3]) for k in range(4)]
    assert records.raw_row_format(15, 4) is None
    assert records.raw_row_format(8, 0) is None
