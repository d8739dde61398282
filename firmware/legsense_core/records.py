# Night-log records: the one codec module for what the device stores per night.
#
# Used by the firmware (writing the flash log) and by the host (reading nights it
# synced); there is no second copy. Layout (all little-endian, see docs/night-log.md):
#
#   offset  size  field
#   0       1     magic 0xA5 (lets a reader find the next record after corruption)
#   1       1     type
#   2       2     payload length n (0..MAX_PAYLOAD)
#   4       n     payload
#   4+n     4     CRC32 (binascii.crc32) over bytes 1..4+n: type, length, payload
#
# Encoders write into a caller's bytearray/memoryview at an offset and return the
# offset just past the record. Integers outside a field's range are clamped (a
# saturated peak is honest; a wrapped one is not) because MicroPython's struct wraps
# silently. Decoders return plain tuples; RecordReader walks a buffer and stops at the
# first bad record, keeping where and why.

try:
    from micropython import const  # type: ignore  (the CPython fallback differs in signature)
except ImportError:  # CPython

    def const(x):
        return x


import struct
from binascii import crc32

MAGIC = const(0xA5)
FORMAT_VERSION = const(2)  # 2 added the night UID and boot count; 1 is still read
HEAD_SIZE = const(4)  # magic, type, length
OVERHEAD = const(8)  # head + CRC32
MAX_PAYLOAD = const(1016)
MAX_RECORD = const(1024)  # OVERHEAD + MAX_PAYLOAD: a log buffer of this size holds any record

# Record types.
T_NIGHT = const(1)
T_EVENT = const(2)
T_EPOCH = const(3)
T_BATTERY = const(4)
T_ANCHOR = const(5)
T_MARKER = const(6)
T_RAW = const(7)

TYPE_NAMES = {
    T_NIGHT: "night",
    T_EVENT: "event",
    T_EPOCH: "epoch",
    T_BATTERY: "battery",
    T_ANCHOR: "anchor",
    T_MARKER: "marker",
    T_RAW: "raw",
}

# Marker codes. A night is closed by its last record being an ending marker.
M_STARTED = const(1)
M_STOP_BUTTON = const(2)
M_STOP_HOST = const(3)
M_STOP_SCHEDULE = const(4)
M_FLASH_FULL = const(5)
M_FIFO_OVERFLOW = const(6)  # value = samples lost so far in this night
M_RECOVERED = const(7)  # written at boot into a night left open; value = bytes dropped
M_RESUMED = const(8)  # recording resumed after a reset; value = ms not recorded, text = cause
M_RESET_LOOP = const(9)  # too many resets: the night ends here; text says why
M_BUTTON = const(10)  # a button press during a night (a person's marker); value = press ms
M_RATING = const(11)  # a SIT discomfort rating: value 0..10 (RATING_MISSED: no answer),
# text = where it came from ("button" or "host")
M_SIT_DONE = const(12)  # a SIT ran its full length: the session ends here
RATING_MISSED = const(255)  # a rating prompt nobody answered in time

MARKER_NAMES = {
    M_STARTED: "started",
    M_STOP_BUTTON: "stopped by button",
    M_STOP_HOST: "stopped by host",
    M_STOP_SCHEDULE: "stopped by schedule",
    M_FLASH_FULL: "flash full",
    M_FIFO_OVERFLOW: "FIFO overflow",
    M_RECOVERED: "recovered after reboot",
    M_RESUMED: "resumed after reset",
    M_RESET_LOOP: "reset loop",
    M_BUTTON: "button",
    M_RATING: "rating",
    M_SIT_DONE: "SIT complete",
}
ENDING_MARKERS = (
    M_STOP_BUTTON,
    M_STOP_HOST,
    M_STOP_SCHEDULE,
    M_FLASH_FULL,
    M_RECOVERED,
    M_RESET_LOOP,
    M_SIT_DONE,
)
MAX_TEXT = const(48)  # marker text, bytes
MAX_NAME = const(32)  # device id, firmware, board, IMU names, bytes

# Raw-sample chunk codecs.
RAW_PLAIN = const(0)  # int16 LE samples as the IMU gave them
RAW_DEFLATE = const(1)  # the same, compressed with deflate (zlib container)
# One row per sample in a raw chunk (before compression): uint16 ms since the record's
# t_ms, then the counts ax, ay, az (and gx, gy, gz when the gyro is on).
RAW_ROW_ACCEL = "<Hhhh"
RAW_ROW_GYRO = "<Hhhhhhh"

# Field names of the decoded tuples, per type.
NIGHT_FIELDS = (
    "format_version",
    "night_id",
    "device_id",
    "firmware",
    "board",
    "imu",
    "rate_mhz",
    "accel_scale",
    "gyro_scale",
    "start_ticks",
    "anchor_dev_ms",
    "anchor_utc_ms",
    "config_json",
    "night_uid",
    "boot_count",
)
# Same names and order as the detector's event and epoch tuples (a test checks it).
EVENT_FIELDS = ("onset_ms", "offset_ms", "peak_mg", "peak_dps", "channels", "peak_snr_x16")
EPOCH_FIELDS = (
    "index",
    "n_samples",
    "active_ms",
    "activity_mg_s",
    "posture_x_mg",
    "posture_y_mg",
    "posture_z_mg",
)
BATTERY_FIELDS = ("t_ms", "mv", "percent")
ANCHOR_FIELDS = ("t_ms", "utc_ms")
MARKER_FIELDS = ("t_ms", "code", "value", "text")
RAW_FIELDS = ("t_ms", "n_samples", "codec", "data")
FIELDS = {
    T_NIGHT: NIGHT_FIELDS,
    T_EVENT: EVENT_FIELDS,
    T_EPOCH: EPOCH_FIELDS,
    T_BATTERY: BATTERY_FIELDS,
    T_ANCHOR: ANCHOR_FIELDS,
    T_MARKER: MARKER_FIELDS,
    T_RAW: RAW_FIELDS,
}

# Why a reader stopped (negative codes from check_record).
ERR_SHORT = const(-1)
ERR_MAGIC = const(-2)
ERR_LENGTH = const(-3)
ERR_CRC = const(-4)
ERR_TYPE = const(-5)
ERR_VERSION = const(-6)
ERROR_NAMES = {
    ERR_SHORT: "short",
    ERR_MAGIC: "bad magic",
    ERR_LENGTH: "bad length",
    ERR_CRC: "bad CRC",
    ERR_TYPE: "unknown type",
    ERR_VERSION: "unsupported version",
}

_HEAD = "<BBH"
_CRC = "<I"
_EVENT = "<IIIIBI"  # 21 bytes
_EPOCH = "<IIIIhhh"  # 22 bytes
_BATTERY = "<IHB"  # 7 bytes
_ANCHOR = "<IQ"  # 12 bytes
_MARKER = "<IBIB"  # 10 bytes + text
_RAW = "<IHB"  # 7 bytes + data
# night header: version, night id, rate, accel num/den, gyro num/den, start ticks,
# anchor device ms, anchor UTC ms, [version 2:] night UID, boot count; then 4 names
# (u8 length + UTF-8), then the config (u16 length + compact JSON)
_NIGHT = "<BIIIIIIIiQQI"  # 53 bytes
_NIGHT_V1 = "<BIIIIIIIiQ"  # 41 bytes: version 1 had no UID or boot count

# Fixed payload sizes (the night header's fixed part; marker and raw before their bytes).
EVENT_SIZE = struct.calcsize(_EVENT)
EPOCH_SIZE = struct.calcsize(_EPOCH)
BATTERY_SIZE = struct.calcsize(_BATTERY)
ANCHOR_SIZE = struct.calcsize(_ANCHOR)
MARKER_SIZE = struct.calcsize(_MARKER)
RAW_SIZE = struct.calcsize(_RAW)
NIGHT_SIZE = struct.calcsize(_NIGHT)
NIGHT_V1_SIZE = struct.calcsize(_NIGHT_V1)
MAX_RAW_DATA = MAX_PAYLOAD - RAW_SIZE

# (smallest, largest) payload per type; anything else is a bad length.
_PAYLOAD_RANGE = {
    T_NIGHT: (NIGHT_V1_SIZE + 4 + 2, MAX_PAYLOAD),
    T_EVENT: (EVENT_SIZE, EVENT_SIZE),
    T_EPOCH: (EPOCH_SIZE, EPOCH_SIZE),
    T_BATTERY: (BATTERY_SIZE, BATTERY_SIZE),
    T_ANCHOR: (ANCHOR_SIZE, ANCHOR_SIZE),
    T_MARKER: (MARKER_SIZE, MARKER_SIZE + MAX_TEXT),
    T_RAW: (RAW_SIZE, MAX_PAYLOAD),
}

_U8 = const(0xFF)
_U16 = const(0xFFFF)
_U32 = 0xFFFFFFFF  # not const: beyond MicroPython's small ints
_I32_MIN = -0x80000000
_I32_MAX = 0x7FFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF


def _clamp(v, lo, hi):
    if v < lo:
        return lo
    if v > hi:
        return hi
    return v


def _view(buf):
    # CRC needs a slice without a copy; a memoryview slice is the cheapest there is.
    return buf if isinstance(buf, memoryview) else memoryview(buf)


def _finish(buf, off, rtype, n):
    """Write magic, type, length and the CRC around a payload already at off+4."""
    struct.pack_into(_HEAD, buf, off, MAGIC, rtype, n)
    end = off + HEAD_SIZE + n
    struct.pack_into(_CRC, buf, end, crc32(_view(buf)[off + 1 : end]))
    return end + 4


def _room(buf, off, n):
    if off < 0 or off + OVERHEAD + n > len(buf):
        raise ValueError("record of %d bytes does not fit at offset %d" % (OVERHEAD + n, off))


def _put_name(buf, pos, name):
    raw = name.encode() if isinstance(name, str) else bytes(name)
    if len(raw) > MAX_NAME:
        raise ValueError("name longer than %d bytes: %r" % (MAX_NAME, name))
    buf[pos] = len(raw)
    buf[pos + 1 : pos + 1 + len(raw)] = raw
    return pos + 1 + len(raw)


# -- encoders -------------------------------------------------------------------------


def night_size(device_id, firmware, board, imu, config_json):
    """Bytes the night header record will take with these variable fields."""
    n = NIGHT_SIZE + 4 + 2 + len(config_json)
    for s in (device_id, firmware, board, imu):
        n += len(s.encode() if isinstance(s, str) else s)
    return OVERHEAD + n


def encode_night(
    buf,
    off,
    night_id,
    device_id,
    firmware,
    board,
    imu,
    rate_mhz,
    accel_scale,
    gyro_scale,
    start_ticks,
    anchor_dev_ms,
    anchor_utc_ms,
    config_json,
    night_uid=0,
    boot_count=0,
):
    """Night header: who recorded it, how, and where device time stood against UTC.

    rate_mhz is the sample rate in millihertz (12.5 Hz -> 12500); scales are (num, den)
    from imu_scales; start_ticks is time.ticks_ms() at the start; the anchor maps
    anchor_dev_ms (device ms since night start, may be negative) to anchor_utc_ms
    (0 = the device had no time yet); config_json is the detector config as compact
    JSON bytes; night_uid is a random 64-bit number that, with the device id, names
    the night for ever (ids restart after an erase, UIDs do not repeat); boot_count is
    the device's boot counter when the night started. Returns the offset after the record.
    """
    config_json = bytes(config_json)
    size = night_size(device_id, firmware, board, imu, config_json) - OVERHEAD
    if size > MAX_PAYLOAD:
        raise ValueError("night header of %d bytes exceeds %d" % (size, MAX_PAYLOAD))
    _room(buf, off, size)
    p = off + HEAD_SIZE
    struct.pack_into(
        _NIGHT,
        buf,
        p,
        FORMAT_VERSION,
        _clamp(night_id, 0, _U32),
        _clamp(rate_mhz, 0, _U32),
        _clamp(accel_scale[0], 0, _U32),
        _clamp(accel_scale[1], 0, _U32),
        _clamp(gyro_scale[0], 0, _U32),
        _clamp(gyro_scale[1], 0, _U32),
        start_ticks & _U32,
        _clamp(anchor_dev_ms, _I32_MIN, _I32_MAX),
        _clamp(anchor_utc_ms, 0, _U64),
        _clamp(night_uid, 0, _U64),
        _clamp(boot_count, 0, _U32),
    )
    p += NIGHT_SIZE
    for name in (device_id, firmware, board, imu):
        p = _put_name(buf, p, name)
    struct.pack_into("<H", buf, p, len(config_json))
    buf[p + 2 : p + 2 + len(config_json)] = config_json
    return _finish(buf, off, T_NIGHT, size)


def encode_event(buf, off, ev):
    """LM event: the detector's event tuple (EVENT_FIELDS). Returns the end offset."""
    _room(buf, off, EVENT_SIZE)
    struct.pack_into(
        _EVENT,
        buf,
        off + HEAD_SIZE,
        _clamp(ev[0], 0, _U32),
        _clamp(ev[1], 0, _U32),
        _clamp(ev[2], 0, _U32),
        _clamp(ev[3], 0, _U32),
        _clamp(ev[4], 0, _U8),
        _clamp(ev[5], 0, _U32),
    )
    return _finish(buf, off, T_EVENT, EVENT_SIZE)


def encode_epoch(buf, off, ep):
    """Epoch: the detector's epoch tuple (EPOCH_FIELDS). Returns the end offset."""
    _room(buf, off, EPOCH_SIZE)
    struct.pack_into(
        _EPOCH,
        buf,
        off + HEAD_SIZE,
        _clamp(ep[0], 0, _U32),
        _clamp(ep[1], 0, _U32),
        _clamp(ep[2], 0, _U32),
        _clamp(ep[3], 0, _U32),
        _clamp(ep[4], -32768, 32767),
        _clamp(ep[5], -32768, 32767),
        _clamp(ep[6], -32768, 32767),
    )
    return _finish(buf, off, T_EPOCH, EPOCH_SIZE)


def encode_battery(buf, off, t_ms, mv, percent):
    """Battery reading at device ms t_ms: millivolts and percent. Returns the end offset."""
    _room(buf, off, BATTERY_SIZE)
    struct.pack_into(
        _BATTERY,
        buf,
        off + HEAD_SIZE,
        _clamp(t_ms, 0, _U32),
        _clamp(mv, 0, _U16),
        _clamp(percent, 0, 100),
    )
    return _finish(buf, off, T_BATTERY, BATTERY_SIZE)


def encode_anchor(buf, off, t_ms, utc_ms):
    """Clock anchor: device ms since night start t_ms was UTC epoch ms utc_ms."""
    _room(buf, off, ANCHOR_SIZE)
    struct.pack_into(_ANCHOR, buf, off + HEAD_SIZE, _clamp(t_ms, 0, _U32), _clamp(utc_ms, 0, _U64))
    return _finish(buf, off, T_ANCHOR, ANCHOR_SIZE)


def encode_marker(buf, off, t_ms, code, value=0, text=""):
    """Marker at device ms t_ms: a code (M_*), a number and a short ASCII/UTF-8 text."""
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > MAX_TEXT:
        raise ValueError("marker text longer than %d bytes" % MAX_TEXT)
    size = MARKER_SIZE + len(raw)
    _room(buf, off, size)
    p = off + HEAD_SIZE
    struct.pack_into(
        _MARKER,
        buf,
        p,
        _clamp(t_ms, 0, _U32),
        _clamp(code, 0, _U8),
        _clamp(value, 0, _U32),
        len(raw),
    )
    buf[p + MARKER_SIZE : p + size] = raw
    return _finish(buf, off, T_MARKER, size)


def encode_raw(buf, off, t_ms, n_samples, codec, data):
    """Raw-sample chunk starting at device ms t_ms: n_samples samples coded by codec."""
    size = RAW_SIZE + len(data)
    if size > MAX_PAYLOAD:
        raise ValueError("raw chunk of %d bytes exceeds %d" % (len(data), MAX_RAW_DATA))
    _room(buf, off, size)
    p = off + HEAD_SIZE
    struct.pack_into(_RAW, buf, p, _clamp(t_ms, 0, _U32), _clamp(n_samples, 0, _U16), codec & _U8)
    buf[p + RAW_SIZE : p + size] = data
    return _finish(buf, off, T_RAW, size)


# -- checking and decoding --------------------------------------------------------------


def check_record(buf, off, end):
    """Length of the whole, intact record at off (bytes up to end), or an ERR_* code < 0.

    Checks in order: magic, enough bytes for the head, length limit, enough bytes for
    the record, CRC, known type, payload length for that type.
    """
    avail = end - off
    if avail < 1:
        return ERR_SHORT
    if buf[off] != MAGIC:
        return ERR_MAGIC
    if avail < HEAD_SIZE:
        return ERR_SHORT
    n = buf[off + 2] | (buf[off + 3] << 8)
    if n > MAX_PAYLOAD:
        return ERR_LENGTH
    total = OVERHEAD + n
    if avail < total:
        return ERR_SHORT
    p = off + HEAD_SIZE + n
    stored = buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16) | (buf[p + 3] << 24)
    if crc32(_view(buf)[off + 1 : p]) != stored:
        return ERR_CRC
    rng = _PAYLOAD_RANGE.get(buf[off + 1])
    if rng is None:
        return ERR_TYPE
    if n < rng[0] or n > rng[1]:
        return ERR_LENGTH
    return total


def _get_name(buf, p, end):
    # Returns (text, next position) or None when the length runs past end or is not UTF-8.
    n = buf[p]
    q = p + 1 + n
    if n > MAX_NAME or q > end:
        return None
    try:
        return str(bytes(buf[p + 1 : q]), "utf-8"), q
    except ValueError:
        return None


def _decode_night(buf, p, end):
    version = buf[p]
    if version == FORMAT_VERSION:
        if p + NIGHT_SIZE > end:
            return ERR_LENGTH
        v = struct.unpack_from(_NIGHT, buf, p)
        q = p + NIGHT_SIZE
    elif version == 1:
        v = struct.unpack_from(_NIGHT_V1, buf, p) + (0, 0)  # no UID, no boot count
        q = p + NIGHT_V1_SIZE
    else:
        return ERR_VERSION
    names = []
    for _ in range(4):
        got = _get_name(buf, q, end)
        if got is None:
            return ERR_LENGTH
        names.append(got[0])
        q = got[1]
    if q + 2 > end:
        return ERR_LENGTH
    n = buf[q] | (buf[q + 1] << 8)
    if q + 2 + n != end:
        return ERR_LENGTH
    return (
        v[0],
        v[1],
        names[0],
        names[1],
        names[2],
        names[3],
        v[2],
        (v[3], v[4]),
        (v[5], v[6]),
        v[7],
        v[8],
        v[9],
        bytes(buf[q + 2 : end]),
        v[10],
        v[11],
    )


def decode_payload(rtype, buf, p, end):
    """Payload tuple of a record of type rtype at buf[p:end], or an ERR_* code < 0.

    Only call it on a record check_record accepted (it checks type and length).
    """
    if rtype == T_EVENT:
        return struct.unpack_from(_EVENT, buf, p)
    if rtype == T_EPOCH:
        return struct.unpack_from(_EPOCH, buf, p)
    if rtype == T_BATTERY:
        return struct.unpack_from(_BATTERY, buf, p)
    if rtype == T_ANCHOR:
        return struct.unpack_from(_ANCHOR, buf, p)
    if rtype == T_MARKER:
        t, code, value, n = struct.unpack_from(_MARKER, buf, p)
        q = p + MARKER_SIZE
        if q + n != end:
            return ERR_LENGTH
        try:
            text = str(bytes(buf[q:end]), "utf-8")
        except ValueError:
            return ERR_LENGTH
        return (t, code, value, text)
    if rtype == T_RAW:
        t, n_samples, codec = struct.unpack_from(_RAW, buf, p)
        return (t, n_samples, codec, bytes(buf[p + RAW_SIZE : end]))
    if rtype == T_NIGHT:
        return _decode_night(buf, p, end)
    return ERR_TYPE


def decode_record(buf, off=0):
    """(type, payload tuple) of the record at off; raises ValueError naming what is wrong."""
    end = len(buf)
    n = check_record(buf, off, end)
    if n > 0:
        rtype = buf[off + 1]
        payload = decode_payload(rtype, buf, off + HEAD_SIZE, off + n - 4)
        if not isinstance(payload, int):
            return rtype, payload
        n = payload
    raise ValueError("%s record at offset %d" % (ERROR_NAMES[n], off))


def find_next_record(buf, start=0, end=-1, stop=-1):
    """Offset of the first intact record beginning in [start, stop), or -1.

    For resynchronising after a bad record: a record counts only if it ends by `end`.
    """
    if end < 0:
        end = len(buf)
    if stop < 0 or stop > end:
        stop = end
    p = start
    while p < stop:
        if buf[p] == MAGIC and check_record(buf, p, end) > 0:
            return p
        p += 1
    return -1


class RecordReader:
    """Iterates (offset, type, payload tuple) over the records in buf[start:end].

    Stops cleanly at the end or at the first bad record; then `offset` is where it
    stopped (the end of the last good record), `error` the ERR_* code (0 = none) and
    `reason` its name (None when the buffer simply ended on a record boundary).
    """

    def __init__(self, buf, start=0, end=-1):
        self.buf = buf
        self.offset = start
        self.end = len(buf) if end < 0 else end
        self.error = 0
        self.reason = None

    def __iter__(self):
        return self

    def __next__(self):
        off = self.offset
        if self.error or off >= self.end:
            raise StopIteration
        buf = self.buf
        n = check_record(buf, off, self.end)
        if n > 0:
            rtype = buf[off + 1]
            payload = decode_payload(rtype, buf, off + HEAD_SIZE, off + n - 4)
            if not isinstance(payload, int):
                self.offset = off + n
                return (off, rtype, payload)
            n = payload
        self.error = n
        self.reason = ERROR_NAMES[n]
        raise StopIteration


def iter_records(buf, start=0, end=-1):
    """A RecordReader over buf from start: see RecordReader for how it reports a stop."""
    return RecordReader(buf, start, end)


def pack_raw_rows(buf, ts, acc, gyr, n):
    """Raw-chunk rows of n samples into buf (ts ms; acc/gyr interleaved counts, gyr may be
    None); returns the bytes written. dt saturates at 65535 ms."""
    t0 = ts[0]
    off = 0
    if gyr is None:
        for i in range(n):
            dt = ts[i] - t0
            j = 3 * i
            struct.pack_into(
                RAW_ROW_ACCEL, buf, off, dt if dt < 65536 else 65535, acc[j], acc[j + 1], acc[j + 2]
            )
            off += 8
    else:
        for i in range(n):
            dt = ts[i] - t0
            j = 3 * i
            struct.pack_into(
                RAW_ROW_GYRO,
                buf,
                off,
                dt if dt < 65536 else 65535,
                acc[j],
                acc[j + 1],
                acc[j + 2],
                gyr[j],
                gyr[j + 1],
                gyr[j + 2],
            )
            off += 14
    return off


def raw_row_format(data_len, n):
    """The row format of a decompressed raw chunk of n samples, or None if it fits none."""
    if n <= 0 or data_len % n:
        return None
    width = data_len // n
    if width == struct.calcsize(RAW_ROW_ACCEL):
        return RAW_ROW_ACCEL
    if width == struct.calcsize(RAW_ROW_GYRO):
        return RAW_ROW_GYRO
    return None
