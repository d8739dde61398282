# Sync-protocol message codecs (portable: runs on CPython and on the MicroPython VM).
from binascii import unhexlify

from legsense_core import protocol as p
from legsense_core.frames import MAX_BODY, FrameDecoder

NIGHT_A = (3, 1763762400000, 1763791200000, 48213, 48213, p.N_CLOSED | p.N_UTC, 0x0123456789ABCDEF)
NIGHT_B = (4, 2000, 0, 1290, 0, 0, 0xFFFFFFFFFFFFFFFF)
CONFIG = '{"odr_hz":52,"leg":"left","device_name":"bett-1"}'
EVENT_RECORD = unhexlify("a50215" + "0048ee000084f30000b80000002500000003d4000000" + "6afa8ed4")

# One example message of every type, with values that exercise each field's range.
EXAMPLES = {
    p.HELLO: (),
    p.HELLO_REPLY: (
        p.PROTOCOL_VERSION,
        1,
        p.F_CLOCK_SET,
        3912,
        87,
        3 * 1024 * 1024,
        4 * 1024 * 1024,
        2,
        8,
        p.MAX_READ,
        "a1b2c3d4e5f6",
        "0.1.0",
        "esp32_devkitc_lsm6dsox",
        "lsm6dsox",
    ),
    p.GET_TIME: (),
    p.GET_TIME_REPLY: (1763780000123, 0xFFFFFFFF),
    p.SET_TIME: (0xFFFFFFFFFFFFFFFF,),
    p.SET_TIME_REPLY: (0, 123456),
    p.LIST_NIGHTS: (0,),
    p.LIST_NIGHTS_REPLY: (2, 0, (NIGHT_A, NIGHT_B)),
    p.READ: (3, 0, p.MAX_READ),
    p.DATA: (3, 0x1000, EVENT_RECORD),
    p.ACK: (3, 48213),
    p.ACK_REPLY: (3, 48213),
    p.ERASE: (3,),
    p.ERASE_REPLY: (3, 3 * 1024 * 1024 + 48213),
    p.CONFIG_GET: (),
    p.CONFIG_GET_REPLY: (CONFIG,),
    p.CONFIG_SET: ('{"leg":"right"}',),
    p.CONFIG_SET_REPLY: (CONFIG,),
    p.START: (),
    p.START_REPLY: (1, 5),
    p.STOP: (),
    p.STOP_REPLY: (2, 5),
    p.LIVE: (1,),
    p.LIVE_REPLY: (1,),
    p.REPLAY_BEGIN: (26000, 1, 0, 0, "lsm6dsox"),
    p.REPLAY_BEGIN_REPLY: (1, 3, 512),
    p.REPLAY: (p.R_LAST, b"\x01\x00\xff\xff\x02\x00"),
    p.REPLAY_REPLY: (1, 511, 0),
    p.LIVE_DATA: (987654, p.LIVE_SAMPLES, b"\x10\x00\xf0\xff\xe8\x03"),
    p.SIT_START: (60, 10),
    p.SIT_START_REPLY: (1, 6),
    p.SIT_RATING: (7,),
    p.SIT_RATING_REPLY: (7,),
    p.ERROR: (p.E_NOT_ACKNOWLEDGED, p.ERASE, "night 3 is acknowledged up to 0 of 48213"),
}

# The worked example of docs/protocol.md: READ night 3 at 0x1000, 29 bytes, seq 5, and
# its DATA reply carrying one LM event record. Generated once by this module; the hex
# is annotated byte by byte in the doc.
READ_WIRE = unhexlify("008e8082858580838080808090808 09d804d7de05c00".replace(" ", ""))
DATA_WIRE = unhexlify(
    "00a98082052585808380808080908080258295 80c86e80800524738080388080 80a58080"
    "80835480808 0ea7a0e5433620 91d00".replace(" ", "")
)


def _raises(code, body):
    try:
        p.decode_body(body)
    except p.ProtocolError as e:
        assert e.code == code, (e.code, e.message)
        return e.message
    raise AssertionError("accepted " + repr(bytes(body)))


def _value_error(fn, *args):
    try:
        fn(*args)
    except ValueError:
        return
    raise AssertionError("no ValueError")


def _body(mtype, seq, values):
    buf = bytearray(MAX_BODY)
    return bytes(buf[: p.encode_body(buf, mtype, seq, values)])


def test_every_type_has_an_example_and_every_request_a_reply():
    assert sorted(EXAMPLES) == sorted(p.LAYOUTS)
    for t in p.REQUESTS:
        assert p.reply_type(t) in p.LAYOUTS, p.type_name(t)
        assert len(p.FIELDS[t]) == len(EXAMPLES[t])


def test_round_trip_every_message_through_frames():
    d = FrameDecoder()
    seq = 0
    for mtype in sorted(EXAMPLES):
        seq = (seq + 4099) & 0xFFFF
        wire = p.message(mtype, seq, EXAMPLES[mtype])
        bodies = d.feed(wire)
        assert len(bodies) == 1, p.type_name(mtype)
        got = p.decode_body(bodies[0])
        assert got == (mtype, seq, EXAMPLES[mtype]), (p.type_name(mtype), got)
    assert sum(d.errors) == 0


def test_header_layout():
    body = _body(p.ACK, 0xBEEF, (7, 1024))
    # version, type, seq LE, night id LE, offset LE
    assert body == b"\x02\x06\xef\xbe\x07\x00\x00\x00\x00\x04\x00\x00"
    assert p.decode_header(body) == (2, p.ACK, 0xBEEF)


def test_worked_example_hex():
    assert p.message(p.READ, 5, (3, 0x1000, len(EVENT_RECORD))) == READ_WIRE
    assert p.message(p.DATA, 5, (3, 0x1000, EVENT_RECORD)) == DATA_WIRE
    d = FrameDecoder()
    bodies = d.feed(READ_WIRE + DATA_WIRE)
    assert p.decode_body(bodies[0]) == (p.READ, 5, (3, 0x1000, 29))
    assert p.decode_body(bodies[1]) == (p.DATA, 5, (3, 0x1000, EVENT_RECORD))


def test_worked_example_is_in_the_doc():
    import sys

    if sys.implementation.name != "cpython":
        return  # the VM has no docs/ folder; CPython checks it
    with open(__file__.rsplit("/", 1)[0] + "/../../docs/protocol.md") as f:
        doc = f.read()
    flat = " ".join(doc.split())
    for wire in (READ_WIRE, DATA_WIRE):
        hexed = " ".join(f"{b:02x}" for b in wire)
        assert hexed in flat, hexed


def test_largest_messages_fit():
    data = bytes(range(256)) * 4
    body = _body(p.DATA, 1, (1, 0, data))
    assert len(body) == p.DATA_AT + p.MAX_READ <= MAX_BODY
    nights = tuple((i, i, i, i, i, 1, i) for i in range(p.MAX_NIGHTS))
    body = _body(p.LIST_NIGHTS_REPLY, 1, (200, 0, nights))
    assert len(body) <= MAX_BODY
    assert p.decode_body(body)[2][2] == nights
    text = "x" * p.MAX_PAYLOAD
    assert p.decode_body(_body(p.CONFIG_SET, 1, (text,)))[2] == (text,)
    long_names = EXAMPLES[p.HELLO_REPLY][:10] + ("é" * 16, "n" * 32, "b" * 32, "i" * 32)  # noqa: RUF005 (MicroPython has no (*a, b))
    assert p.decode_body(_body(p.HELLO_REPLY, 2, long_names))[2] == long_names


def test_data_head_in_place_equals_encode_body():
    buf = bytearray(MAX_BODY)
    buf[p.DATA_AT : p.DATA_AT + len(EVENT_RECORD)] = EVENT_RECORD
    n = p.encode_data_head(buf, 9, 3, 0x1000, len(EVENT_RECORD))
    assert bytes(buf[:n]) == _body(p.DATA, 9, (3, 0x1000, EVENT_RECORD))
    _value_error(p.encode_data_head, buf, 9, 3, 0, p.MAX_READ + 1)


def test_error_message_cut_at_a_character():
    msg = "ü" * 100  # 200 bytes of UTF-8
    got = p.decode_body(_body(p.ERROR, 1, (p.E_INTERNAL, p.READ, msg)))[2]
    assert got == (p.E_INTERNAL, p.READ, "ü" * (p.MAX_ERROR_TEXT // 2))
    assert p.ERROR_CODE_NAMES[p.E_VERSION] == "version mismatch"
    assert len(p.ERROR_CODE_NAMES) == 9


def test_decode_refuses_short_unknown_and_other_version():
    _raises(p.E_BAD_REQUEST, b"\x02\x01\x00")
    _raises(p.E_BAD_REQUEST, b"")
    assert "0x3f" in _raises(p.E_BAD_REQUEST, b"\x02\x3f\x00\x00")
    msg = _raises(p.E_VERSION, b"\x01\x01\x00\x00")
    assert "2" in msg and "1" in msg
    # ERROR keeps its layout across versions, so a mismatch can still be reported
    err = bytearray(_body(p.ERROR, 3, (p.E_VERSION, p.HELLO, "device speaks 1")))
    err[0] = 1
    assert p.decode_body(err) == (p.ERROR, 3, (p.E_VERSION, p.HELLO, "device speaks 1"))


def test_decode_refuses_wrong_payload_lengths():
    for mtype in sorted(EXAMPLES):
        body = _body(mtype, 1, EXAMPLES[mtype])
        if p.LAYOUTS[mtype][2] == 0:  # fixed size: one byte more or less is wrong
            _raises(p.E_BAD_REQUEST, body + b"\x00")
            if len(body) > p.HEADER_SIZE:
                _raises(p.E_BAD_REQUEST, body[:-1])
        elif len(body) > p.HEADER_SIZE:
            # variable: cutting into the fixed part is always wrong
            fixed = p.HEADER_SIZE
            for c in p.LAYOUTS[mtype][1][1:]:
                fixed += {"B": 1, "H": 2, "I": 4, "Q": 8}[c]
            if fixed > p.HEADER_SIZE:
                _raises(p.E_BAD_REQUEST, body[: fixed - 1])


def test_decode_refuses_bad_variable_parts():
    hello = _body(p.HELLO_REPLY, 1, EXAMPLES[p.HELLO_REPLY])
    _raises(p.E_BAD_REQUEST, hello[:-1])  # last name cut
    _raises(p.E_BAD_REQUEST, hello + b"x")  # trailing byte
    names_at = p.HEADER_SIZE + 19  # after the 19-byte fixed part
    bad = bytearray(hello)
    bad[names_at] = 33  # longer than MAX_NAME
    _raises(p.E_BAD_REQUEST, bad)
    _raises(p.E_BAD_REQUEST, b"\x02\x88\x00\x00\xff\xfe")  # config text not UTF-8
    nights = _body(p.LIST_NIGHTS_REPLY, 1, EXAMPLES[p.LIST_NIGHTS_REPLY])
    _raises(p.E_BAD_REQUEST, nights[:-1])
    _raises(p.E_BAD_REQUEST, nights[: p.HEADER_SIZE + 4])  # no count
    bad = bytearray(nights)
    bad[p.HEADER_SIZE + 4] = 3  # says 3, carries 2
    _raises(p.E_BAD_REQUEST, bad)
    read = bytearray(_body(p.READ, 1, (1, 0, p.MAX_READ)))
    read[-2:] = b"\x01\x04"  # 1025 bytes
    assert "1025" in _raises(p.E_BAD_REQUEST, read)


def test_encode_refuses_what_the_layout_cannot_carry():
    buf = bytearray(MAX_BODY)
    _value_error(p.encode_body, buf, 0x3F, 1, ())
    _value_error(p.encode_body, buf, p.ACK, 1, (1,))
    _value_error(p.encode_body, buf, p.ACK, 1, (1, 1 << 32))
    _value_error(p.encode_body, buf, p.ACK, 1, (-1, 0))
    _value_error(p.encode_body, buf, p.ACK, 0x10000, (1, 0))
    _value_error(p.encode_body, buf, p.LIVE, 1, (256,))
    names = EXAMPLES[p.HELLO_REPLY][:10] + ("x" * 33, "", "", "")  # noqa: RUF005
    _value_error(p.encode_body, buf, p.HELLO_REPLY, 1, names)
    nights = tuple(NIGHT_B for _ in range(p.MAX_NIGHTS + 1))
    _value_error(p.encode_body, buf, p.LIST_NIGHTS_REPLY, 1, (0, 0, nights))
    _value_error(p.encode_body, buf, p.CONFIG_SET, 1, ("x" * (p.MAX_PAYLOAD + 1),))
    _value_error(p.encode_body, buf, p.DATA, 1, (1, 0, bytes(p.MAX_PAYLOAD)))
    _value_error(p.encode_body, bytearray(8), p.ACK, 1, (1, 0))


def test_sit_messages_byte_by_byte():
    # SIT_START seq 3, 60 min, every 10: version 2, type 0x0F, seq LE, u16 60, u8 10.
    assert _body(p.SIT_START, 3, (60, 10)) == bytes((2, 0x0F, 3, 0, 60, 0, 10))
    # SIT_RATING seq 4, rating 7; its reply type is 0x90.
    assert _body(p.SIT_RATING, 4, (7,)) == bytes((2, 0x10, 4, 0, 7))
    assert p.reply_type(p.SIT_RATING) == 0x90
