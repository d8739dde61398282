# Sync-protocol messages: the one codec for what travels inside frames (frames.py).
#
# Used by the firmware (the device handler) and by the host (sync engine, commands);
# there is no second copy. Byte layouts, error codes and the sync sequence are in
# docs/protocol.md. A frame body is
#
#   offset  size  field
#   0       1     protocol version (PROTOCOL_VERSION)
#   1       1     message type (requests < 0x40, LIVE_DATA 0x40, replies = request | 0x80,
#                 ERROR 0xFF)
#   2       2     sequence number u16 LE: the host numbers its requests, the reply (or
#                 ERROR) carries the same number, so several requests can be in flight
#   4       n     payload, little-endian, laid out per type (LAYOUTS below)
#
# The header and the ERROR payload never change between versions, so two sides that
# disagree on the version can still say so to each other.
#
# encode_body()/decode_body() are table driven: values travel as a tuple in the order
# of FIELDS[type]. Encoders raise ValueError for values the layout cannot carry (a
# caller's bug); decode_body() raises ProtocolError (code, message) for any body it
# cannot accept (the device replies with that code; the host reports it).

try:
    from micropython import const  # type: ignore  (the CPython fallback differs in signature)
except ImportError:  # CPython

    def const(x):
        return x


import struct

from legsense_core.frames import MAX_BODY, encode

PROTOCOL_VERSION = const(2)  # 2: LIST_NIGHTS entries carry the night UID
HEADER_SIZE = const(4)
MAX_PAYLOAD = MAX_BODY - HEADER_SIZE  # 1276
MAX_READ = const(1024)  # largest READ length: DATA = 12 + 1024 bytes of body
DATA_AT = const(12)  # where DATA bytes start in a body (header + night id + offset)
MAX_NAME = const(32)  # device id, firmware, board, IMU: bytes of UTF-8 each
MAX_ERROR_TEXT = const(120)  # ERROR message bytes (longer ones are cut at a character)
REPLY = const(0x80)  # reply type = request type | REPLY

# Requests (host -> device) and their replies (device -> host).
HELLO = const(0x01)
GET_TIME = const(0x02)
SET_TIME = const(0x03)
LIST_NIGHTS = const(0x04)
READ = const(0x05)
ACK = const(0x06)
ERASE = const(0x07)
CONFIG_GET = const(0x08)
CONFIG_SET = const(0x09)
START = const(0x0A)
STOP = const(0x0B)
LIVE = const(0x0C)
REPLAY_BEGIN = const(0x0D)  # start a night fed by REPLAY instead of the IMU (HIL tests)
REPLAY = const(0x0E)  # samples for the replay night (flow controlled: see the reply)
SIT_START = const(0x0F)  # start a suggested immobilization test (docs/sit.md)
SIT_RATING = const(0x10)  # a discomfort rating typed at the host for the running SIT
LIVE_DATA = const(0x40)  # unsolicited, device -> host, while the live stream is on
ERROR = const(0xFF)  # reply to any request the device refuses or cannot parse

HELLO_REPLY = const(0x81)
GET_TIME_REPLY = const(0x82)
SET_TIME_REPLY = const(0x83)
LIST_NIGHTS_REPLY = const(0x84)
DATA = const(0x85)  # the reply to READ
ACK_REPLY = const(0x86)
ERASE_REPLY = const(0x87)
CONFIG_GET_REPLY = const(0x88)
CONFIG_SET_REPLY = const(0x89)
START_REPLY = const(0x8A)
STOP_REPLY = const(0x8B)
LIVE_REPLY = const(0x8C)
REPLAY_BEGIN_REPLY = const(0x8D)
REPLAY_REPLY = const(0x8E)
SIT_START_REPLY = const(0x8F)
SIT_RATING_REPLY = const(0x90)

# ERROR codes.
E_BAD_REQUEST = const(1)
E_UNKNOWN_NIGHT = const(2)
E_OUT_OF_RANGE = const(3)
E_NOT_ACKNOWLEDGED = const(4)
E_BUSY = const(5)
E_FLASH_FULL = const(6)
E_VERSION = const(7)
E_UNAUTHORISED = const(8)
E_INTERNAL = const(9)
ERROR_CODE_NAMES = {
    E_BAD_REQUEST: "bad request",
    E_UNKNOWN_NIGHT: "unknown night",
    E_OUT_OF_RANGE: "out of range",
    E_NOT_ACKNOWLEDGED: "not acknowledged",
    E_BUSY: "busy",
    E_FLASH_FULL: "flash full",
    E_VERSION: "version mismatch",
    E_UNAUTHORISED: "unauthorised",
    E_INTERNAL: "internal error",
}

# Device states (HELLO reply, START/STOP replies), as in legsense_device.session.
STATE_NAMES = ("idle", "recording", "stopped")
# HELLO reply flags.
F_FLASH_FULL = const(0x01)
F_CLOCK_SET = const(0x02)  # the device has a UTC anchor
F_LIVE = const(0x04)  # the live stream is on
BATTERY_UNKNOWN = const(0xFF)  # battery percent when the board cannot measure it
# LIST_NIGHTS entry flags.
N_CLOSED = const(0x01)  # the night has ended; its size will not change
N_UTC = const(0x02)  # start/end are UTC epoch ms (else device ms: no clock yet)
# LIVE_DATA kinds.
LIVE_RECORDS = const(1)  # night-log records (legsense_core.records layout)
LIVE_SAMPLES = const(2)  # int16 LE x, y, z acceleration triplets in mg
# REPLAY flags.
R_LAST = const(0x01)  # the trace ends with these samples: an empty ring is no longer late
# REPLAY samples: int16 LE counts ax, ay, az (then gx, gy, gz with gyro) per sample.
MAX_REPLAY_BYTES = MAX_PAYLOAD - 1  # after the flags byte: 212 samples, 106 with gyro

# Tails: what follows a payload's fixed part.
_NONE = const(0)
_NAMES = const(1)  # four strings: u8 length + UTF-8 each
_TEXT = const(2)  # UTF-8 to the end of the payload
_BYTES = const(3)  # bytes to the end of the payload
_NIGHTS = const(4)  # u8 count + count entries of _NIGHT_ENTRY
_ERROR_TEXT = const(5)  # like _TEXT, at most MAX_ERROR_TEXT bytes, cut at a character

_NIGHT_ENTRY = "<IQQIIBQ"
NIGHT_ENTRY_SIZE = const(37)
NIGHT_FIELDS = ("night_id", "start_ms", "end_ms", "size", "acked", "flags", "night_uid")
MAX_NIGHTS = (MAX_PAYLOAD - 5) // NIGHT_ENTRY_SIZE  # per LIST_NIGHTS reply: 34

_HELLO_INFO = "<BBBHBIIHBH"
_TIME = "<QI"

# type -> (name, struct format of the fixed part, tail kind, field names)
LAYOUTS = {
    HELLO: ("hello", "<", _NONE, ()),
    HELLO_REPLY: (
        "hello reply",
        _HELLO_INFO,
        _NAMES,
        (
            "protocol",
            "state",
            "flags",
            "battery_mv",
            "battery_pct",
            "free_flash",
            "total_flash",
            "nights",
            "window",
            "max_read",
            "device_id",
            "firmware",
            "board",
            "imu",
        ),
    ),
    GET_TIME: ("get time", "<", _NONE, ()),
    GET_TIME_REPLY: ("get time reply", _TIME, _NONE, ("utc_ms", "ticks_ms")),
    SET_TIME: ("set time", "<Q", _NONE, ("utc_ms",)),
    SET_TIME_REPLY: ("set time reply", _TIME, _NONE, ("previous_utc_ms", "ticks_ms")),
    LIST_NIGHTS: ("list nights", "<H", _NONE, ("first",)),
    LIST_NIGHTS_REPLY: ("list nights reply", "<HH", _NIGHTS, ("total", "first", "nights")),
    READ: ("read", "<IIH", _NONE, ("night_id", "offset", "length")),
    DATA: ("data", "<II", _BYTES, ("night_id", "offset", "data")),
    ACK: ("ack", "<II", _NONE, ("night_id", "offset")),
    ACK_REPLY: ("ack reply", "<II", _NONE, ("night_id", "acked")),
    ERASE: ("erase", "<I", _NONE, ("night_id",)),
    ERASE_REPLY: ("erase reply", "<II", _NONE, ("night_id", "free_flash")),
    CONFIG_GET: ("config get", "<", _NONE, ()),
    CONFIG_GET_REPLY: ("config get reply", "<", _TEXT, ("config_json",)),
    CONFIG_SET: ("config set", "<", _TEXT, ("config_json",)),
    CONFIG_SET_REPLY: ("config set reply", "<", _TEXT, ("config_json",)),
    START: ("start", "<", _NONE, ()),
    START_REPLY: ("start reply", "<BI", _NONE, ("state", "night_id")),
    STOP: ("stop", "<", _NONE, ()),
    STOP_REPLY: ("stop reply", "<BI", _NONE, ("state", "night_id")),
    LIVE: ("live", "<B", _NONE, ("on",)),
    LIVE_REPLY: ("live reply", "<B", _NONE, ("on",)),
    REPLAY_BEGIN: (
        "replay begin",
        "<IBBH",
        _TEXT,
        ("odr_mhz", "gyro", "accel_fs_g", "gyro_fs_dps", "imu"),
    ),
    REPLAY_BEGIN_REPLY: ("replay begin reply", "<BIH", _NONE, ("state", "night_id", "capacity")),
    REPLAY: ("replay", "<B", _BYTES, ("flags", "samples")),
    REPLAY_REPLY: ("replay reply", "<HHI", _NONE, ("taken", "room", "late")),
    SIT_START: ("sit start", "<HB", _NONE, ("sit_min", "every_min")),
    SIT_START_REPLY: ("sit start reply", "<BI", _NONE, ("state", "night_id")),
    SIT_RATING: ("sit rating", "<B", _NONE, ("rating",)),
    SIT_RATING_REPLY: ("sit rating reply", "<B", _NONE, ("rating",)),
    LIVE_DATA: ("live data", "<IB", _BYTES, ("ticks_ms", "kind", "data")),
    ERROR: ("error", "<BB", _ERROR_TEXT, ("code", "request_type", "message")),
}
REQUESTS = (
    HELLO,
    GET_TIME,
    SET_TIME,
    LIST_NIGHTS,
    READ,
    ACK,
    ERASE,
    CONFIG_GET,
    CONFIG_SET,
    START,
    STOP,
    LIVE,
    REPLAY_BEGIN,
    REPLAY,
    SIT_START,
    SIT_RATING,
)
FIELDS = {t: LAYOUTS[t][3] for t in LAYOUTS}
_LIMITS = {"B": 0xFF, "H": 0xFFFF, "I": 0xFFFFFFFF, "Q": 0xFFFFFFFFFFFFFFFF}


class ProtocolError(ValueError):
    """A body this side cannot accept: code is an E_* error code, message says why."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def type_name(mtype):
    """Readable name of a message type (for logs and error messages)."""
    layout = LAYOUTS.get(mtype)
    return layout[0] if layout else "type 0x%02x" % mtype


def reply_type(request_type):
    """The type of the successful reply to request_type."""
    return request_type | REPLY


# -- encoding ---------------------------------------------------------------------------


def _utf8(text, limit, what):
    raw = text.encode() if isinstance(text, str) else bytes(text)
    if len(raw) > limit:
        raise ValueError("%s of %d bytes exceeds %d" % (what, len(raw), limit))
    return raw


def _cut_utf8(text, limit):
    # An error message is for people: cut it rather than fail, but whole characters only.
    raw = text.encode() if isinstance(text, str) else bytes(text)
    if len(raw) <= limit:
        return raw
    cut = limit
    while cut > 0 and (raw[cut] & 0xC0) == 0x80:
        cut -= 1
    return raw[:cut]


def _check_ints(fmt, values):
    if len(values) < len(fmt) - 1:
        raise ValueError("%d fields for struct %s" % (len(values), fmt))
    for i in range(len(fmt) - 1):
        v = values[i]
        if not isinstance(v, int) or v < 0 or v > _LIMITS[fmt[i + 1]]:
            raise ValueError("field %d (%r) does not fit struct code %s" % (i, v, fmt[i + 1]))


def _put(buf, p, raw):
    if p + len(raw) > len(buf):
        raise ValueError("buffer too small for the message")
    buf[p : p + len(raw)] = raw
    return p + len(raw)


def encode_body(buf, mtype, seq, values=()):
    """Write the body of a message of type mtype into buf; return its length.

    values is the tuple of FIELDS[mtype]; buf a bytearray (MAX_BODY bytes hold any
    message). Raises ValueError for an unknown type, a wrong number of values or a value
    the layout cannot carry.
    """
    layout = LAYOUTS.get(mtype)
    if layout is None:
        raise ValueError("unknown message type 0x%02x" % mtype)
    _, fmt, tail, names = layout
    if len(values) != len(names):
        raise ValueError("%s takes %d values, got %d" % (layout[0], len(names), len(values)))
    if not 0 <= seq <= 0xFFFF:
        raise ValueError("sequence number %r outside 0..65535" % (seq,))
    n_fixed = len(fmt) - 1
    _check_ints(fmt, values)
    fixed = struct.calcsize(fmt)
    if len(buf) < HEADER_SIZE + fixed:
        raise ValueError("buffer too small for the message")
    struct.pack_into("<BBH", buf, 0, PROTOCOL_VERSION, mtype, seq)
    if n_fixed:
        struct.pack_into(fmt, buf, HEADER_SIZE, *values[:n_fixed])
    p = HEADER_SIZE + fixed
    if tail == _NAMES:
        for name in values[n_fixed:]:
            raw = _utf8(name, MAX_NAME, "name")
            p = _put(buf, p, bytes((len(raw),)))
            p = _put(buf, p, raw)
    elif tail == _TEXT:
        p = _put(buf, p, _utf8(values[n_fixed], MAX_PAYLOAD, "text"))
    elif tail == _ERROR_TEXT:
        p = _put(buf, p, _cut_utf8(values[n_fixed], MAX_ERROR_TEXT))
    elif tail == _BYTES:
        p = _put(buf, p, values[n_fixed])
    elif tail == _NIGHTS:
        nights = values[n_fixed]
        if len(nights) > MAX_NIGHTS:
            raise ValueError("%d nights exceed %d per reply" % (len(nights), MAX_NIGHTS))
        p = _put(buf, p, bytes((len(nights),)))
        for entry in nights:
            _check_ints(_NIGHT_ENTRY, entry)
            if p + NIGHT_ENTRY_SIZE > len(buf):
                raise ValueError("buffer too small for the message")
            struct.pack_into(_NIGHT_ENTRY, buf, p, *entry)
            p += NIGHT_ENTRY_SIZE
    if p > MAX_BODY:
        raise ValueError("%s body of %d bytes exceeds %d" % (layout[0], p, MAX_BODY))
    return p


def encode_data_head(buf, seq, night_id, offset, length):
    """Header of a DATA reply whose `length` bytes the caller put at buf[DATA_AT:].

    For the device: read flash straight into memoryview(buf)[DATA_AT:], then call this.
    Returns the body length.
    """
    if not 0 <= length <= MAX_READ:
        raise ValueError("DATA of %d bytes exceeds %d" % (length, MAX_READ))
    if len(buf) < DATA_AT + length:
        raise ValueError("buffer too small for the message")
    _check_ints("<HII", (seq, night_id, offset))
    struct.pack_into("<BBHII", buf, 0, PROTOCOL_VERSION, DATA, seq, night_id, offset)
    return DATA_AT + length


def message(mtype, seq, values=()):
    """The whole frame for one message as new bytes (convenience; allocates)."""
    buf = bytearray(MAX_BODY)
    n = encode_body(buf, mtype, seq, values)
    return encode(memoryview(buf)[:n])


# -- decoding ---------------------------------------------------------------------------


def decode_header(body):
    """(version, type, seq) of a body; ProtocolError(E_BAD_REQUEST) if it is too short."""
    if len(body) < HEADER_SIZE:
        raise ProtocolError(E_BAD_REQUEST, "message of %d bytes has no header" % len(body))
    return body[0], body[1], body[2] | (body[3] << 8)


def _text(body, p, end, what):
    try:
        return str(bytes(body[p:end]), "utf-8")
    except ValueError:  # UnicodeError is a ValueError on both Pythons
        raise ProtocolError(E_BAD_REQUEST, "%s is not UTF-8" % what) from None


def decode_body(body):
    """(type, seq, values) of a frame body; values in the order of FIELDS[type].

    Raises ProtocolError: E_VERSION for another protocol version (except for ERROR,
    whose layout never changes), E_BAD_REQUEST for an unknown type or a payload that
    does not fit its layout.
    """
    version, mtype, seq = decode_header(body)
    layout = LAYOUTS.get(mtype)
    if version != PROTOCOL_VERSION and mtype != ERROR:
        raise ProtocolError(
            E_VERSION, "protocol version %d, this side speaks %d" % (version, PROTOCOL_VERSION)
        )
    if layout is None:
        raise ProtocolError(E_BAD_REQUEST, "unknown message type 0x%02x" % mtype)
    name, fmt, tail, _ = layout
    end = len(body)
    fixed = struct.calcsize(fmt)
    p = HEADER_SIZE + fixed
    if end < p or (tail == _NONE and end != p):
        raise ProtocolError(
            E_BAD_REQUEST, "%s payload of %d bytes, expected %d" % (name, end - HEADER_SIZE, fixed)
        )
    values = struct.unpack_from(fmt, body, HEADER_SIZE)
    if mtype == READ and values[2] > MAX_READ:
        raise ProtocolError(E_BAD_REQUEST, "read of %d bytes exceeds %d" % (values[2], MAX_READ))
    if tail == _NAMES:
        names = []
        for _ in range(4):
            if p >= end:
                raise ProtocolError(E_BAD_REQUEST, "%s ends inside its names" % name)
            q = p + 1 + body[p]
            if body[p] > MAX_NAME or q > end:
                raise ProtocolError(E_BAD_REQUEST, "%s has a bad name length" % name)
            names.append(_text(body, p + 1, q, "a name"))
            p = q
        if p != end:
            raise ProtocolError(E_BAD_REQUEST, "%s has %d bytes after its names" % (name, end - p))
        values += tuple(names)
    elif tail == _TEXT or tail == _ERROR_TEXT:
        values += (_text(body, p, end, "the text"),)
    elif tail == _BYTES:
        values += (bytes(body[p:end]),)
    elif tail == _NIGHTS:
        if p >= end:
            raise ProtocolError(E_BAD_REQUEST, "%s has no night count" % name)
        count = body[p]
        p += 1
        if end - p != count * NIGHT_ENTRY_SIZE:
            raise ProtocolError(
                E_BAD_REQUEST, "%s says %d nights but has %d bytes" % (name, count, end - p)
            )
        nights = []
        for _ in range(count):
            nights.append(struct.unpack_from(_NIGHT_ENTRY, body, p))
            p += NIGHT_ENTRY_SIZE
        values += (tuple(nights),)
    return mtype, seq, values
