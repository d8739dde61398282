# Device side of the sync protocol: one request body in, one reply body out.
#
# The link (usb_link.py; BLE later) decodes frames and hands each body to
# ProtocolServer.handle(), which writes the reply body into one preallocated buffer and
# returns its length. Nothing here does I/O on the link, so every link serves the same
# protocol. Rules the server enforces (docs/protocol.md, "Device behaviour"):
#
# * READ past a night's durable size is ERROR 3; READ exactly at the end is an empty DATA.
#   The log is flushed before LIST_NIGHTS and READ of the recording night (not HELLO: an
#   unbonded BLE peer may send it), so the
#   host sees what was recorded up to the request.
# * ACK acknowledges the last record boundary at or below the offset (never more than the
#   host holds); the reply says which. Acknowledgements never go back.
# * ERASE frees only a closed night acknowledged to its end; anything else is ERROR 4.
# * Errors never escape: a bad request is an ERROR reply, a failure inside is ERROR 9.
#   KeyboardInterrupt is not an Exception and goes through (the REPL must stay reachable).
#
# The server talks to the rest of the firmware through a DeviceControl (below), so it
# runs without the app: tests give it a small device made of the real night log.

try:
    import json
except ImportError:  # pragma: no cover - every MicroPython port has json
    import ujson as json  # type: ignore

from legsense_core import protocol as P
from legsense_core import records
from legsense_core.frames import MAX_BODY

from legsense_device import config as device_config
from legsense_device.night_log import STATUS_FULL, FlashFull

WINDOW = 8  # requests the host may keep in flight (8 READs = 176 bytes: any UART RX buffer)
STATES = {"idle": 0, "recording": 1, "stopped": 2}  # session state names -> protocol codes
# Plausible UTC for SET_TIME (2020-01-01 .. 2100-01-01): anything else is a host bug.
MIN_UTC_MS = 1577836800000
MAX_UTC_MS = 4102444800000

# Index into a night-log nights() tuple (night_log.NIGHT_INFO_FIELDS).
_ID = 0
_START = 1
_END = 2
_SIZE = 3
_ACKED = 4
_CLOSED = 5
_UID = 6


class DeviceControl:
    """What the protocol server needs from the device.

    The app provides it through an adapter (see AppControl); tests through a device built
    from the real night log. `log` is the NightLog. Every method may raise; the server
    turns that into an ERROR reply.
    """

    log = None

    def identity(self):
        """(device_id, firmware, board, imu) as strings."""
        raise NotImplementedError

    def state(self):
        """Session state name: "idle", "recording" or "stopped"."""
        raise NotImplementedError

    def battery(self):
        """(millivolts, percent); (0, 255) when the board cannot measure."""
        return 0, P.BATTERY_UNKNOWN

    def clock(self):
        """(UTC epoch ms now, or 0 when the device has no anchor; ticks_ms now)."""
        raise NotImplementedError

    def set_time(self, utc_ms):
        """Take utc_ms as UTC now (logs an anchor); returns (previous utc or 0, ticks_ms)."""
        raise NotImplementedError

    def total_flash(self):
        """Size of the filesystem holding the nights, bytes."""
        return 0

    def start(self, source):
        """Start a night: (ok, reason)."""
        raise NotImplementedError

    def stop(self, source):
        """Stop the night: (ok, reason)."""
        raise NotImplementedError

    def config(self):
        """The config in force (a dict as config.validate returns)."""
        raise NotImplementedError

    def set_config(self, cfg):
        """Store a validated config durably and apply it (from the next night on)."""
        raise NotImplementedError

    def live(self, on=None):
        """Turn the live stream on (True) or off (False), or only ask (None); returns
        whether it is on now. This firmware has no live stream: always off."""
        return False

    def start_replay(self, imu, odr_hz, gyro, accel_fs_g, gyro_fs_dps):
        """Start a night fed by REPLAY instead of the IMU: (ok, reason)."""
        return False, "replay not supported by this firmware"

    def replay_imu(self):
        """The ReplayImu of the replay night now recording, or None."""
        return None

    def start_sit(self, source, sit_min, every_min):
        """Start a SIT (docs/sit.md): (ok, reason)."""
        return False, "SIT not supported by this firmware"

    def sit_rating(self, value):
        """Log a rating typed at the host for the running SIT: (ok, reason)."""
        return False, "SIT not supported by this firmware"


class AppControl(DeviceControl):
    """DeviceControl over the app (legsense_device.app.App): start(source), stop(source),
    set_time(utc_ms) -> (ok, reason), status() -> dict, .log (None when the flash did not
    mount), .cfg, .fs_root. ticks_ms defaults to hal.ticks_ms, the app's own time source.
    """

    def __init__(self, app, ticks_ms=None):
        self.app = app
        if ticks_ms is None:
            from legsense_device import hal

            ticks_ms = hal.ticks_ms
        self._ticks_ms = ticks_ms

    @property
    def log(self):  # type: ignore  (the app opens its log at boot, after this is made)
        return self.app.log

    def identity(self):
        s = self.app.status()
        return s["device_id"], s["firmware"], s["board"], s["imu"]

    def state(self):
        return self.app.session.state

    def battery(self):
        s = self.app.status()
        mv = s.get("battery_mv", -1)
        pct = s.get("battery_percent", -1)
        return (mv if mv > 0 else 0), (pct if 0 <= pct <= 100 else P.BATTERY_UNKNOWN)

    def clock(self):
        return self.app.wall.now(self._ticks_ms()), self._ticks_ms()

    def set_time(self, utc_ms):
        previous = self.clock()[0]
        ok, why = self.app.set_time(utc_ms)
        if not ok:
            raise Refused(P.E_BAD_REQUEST, why)
        return previous, self._ticks_ms()

    def total_flash(self):
        log = self.app.log
        capacity = getattr(log.space, "capacity", None) if log is not None else None
        if capacity is not None:  # an emulated flash (simulation)
            return capacity
        try:
            import os

            s = os.statvfs(self.app.fs_root or "/")
            return s[1] * s[2]  # fragment size * blocks
        except (OSError, AttributeError):
            return 0

    def start(self, source):
        return self.app.start(source)

    def stop(self, source):
        return self.app.stop(source)

    def start_replay(self, imu, odr_hz, gyro, accel_fs_g, gyro_fs_dps):
        return self.app.start_replay(imu, odr_hz, gyro, accel_fs_g, gyro_fs_dps)

    def replay_imu(self):
        return self.app.replay

    def start_sit(self, source, sit_min, every_min):
        return self.app.start_sit(source, sit_min, every_min)

    def sit_rating(self, value):
        return self.app.sit_rating(value)

    def config(self):
        return self.app.cfg

    def set_config(self, cfg):
        clean, _ = device_config.save(cfg, self.app.fs_root + device_config.CONFIG_PATH)
        self.app.cfg = clean


def _cut_name(text):
    # Names travel in at most MAX_NAME bytes: cut at a character boundary, never fail.
    raw = text.encode()
    if len(raw) <= P.MAX_NAME:
        return raw
    cut = P.MAX_NAME
    while cut > 0 and (raw[cut] & 0xC0) == 0x80:
        cut -= 1
    return raw[:cut]


def _reason(text):
    # config.validate says "config: KEY WHY: kept default X"; a refused CONFIG_SET keeps
    # the value in force, not the default, so say only what is wrong.
    if text.startswith("config: "):
        text = text[8:]
    cut = text.find(": kept default")
    if cut >= 0:
        text = text[:cut]
    if text.endswith(" ignored"):
        text = text[:-8]
    return text


class Refused(Exception):
    """A request the device understood but will not carry out: code is an E_* code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class ProtocolServer:
    """Answers request bodies. handle(body) -> length of the reply body in self.reply."""

    def __init__(self, device, window=WINDOW):
        self.device = device
        self.window = window
        self.reply = bytearray(MAX_BODY)
        self._data = memoryview(self.reply)[P.DATA_AT :]  # DATA bytes are read in here
        self._nights = []  # last nights() snapshot; closed nights' sizes are final
        self.requests = 0
        self.errors = 0

    # -- entry point ----------------------------------------------------------------------

    def handle(self, body):
        """Answer one request body (bytes/memoryview); returns the reply body's length.

        Never raises an Exception: anything that goes wrong becomes an ERROR reply.
        """
        self.requests += 1
        mtype = 0
        seq = 0
        try:
            if len(body) >= P.HEADER_SIZE:
                mtype = body[1]
                seq = body[2] | (body[3] << 8)
            mtype, seq, values = P.decode_body(body)
            return self._dispatch(mtype, seq, values)
        except P.ProtocolError as e:
            return self._error(seq, mtype, e.code, e.message)
        except Refused as e:
            return self._error(seq, mtype, e.code, e.message)
        except Exception as e:  # a failure inside must not end the link
            return self._error(seq, mtype, P.E_INTERNAL, "%s: %s" % (type(e).__name__, e))

    def _error(self, seq, mtype, code, message):
        self.errors += 1
        return P.encode_body(self.reply, P.ERROR, seq, (code, mtype & 0xFF, message))

    def _dispatch(self, mtype, seq, values):
        if mtype == P.READ:  # the hot path first
            return self._read(seq, values[0], values[1], values[2])
        if mtype == P.HELLO:
            return self._hello(seq)
        if mtype == P.LIST_NIGHTS:
            return self._list_nights(seq, values[0])
        if mtype == P.ACK:
            return self._ack(seq, values[0], values[1])
        if mtype == P.GET_TIME:
            utc, ticks = self.device.clock()
            return P.encode_body(self.reply, P.GET_TIME_REPLY, seq, (utc, ticks & 0xFFFFFFFF))
        if mtype == P.SET_TIME:
            return self._set_time(seq, values[0])
        if mtype == P.ERASE:
            return self._erase(seq, values[0])
        if mtype == P.CONFIG_GET:
            return self._config_reply(P.CONFIG_GET_REPLY, seq, self.device.config())
        if mtype == P.CONFIG_SET:
            return self._config_set(seq, values[0])
        if mtype == P.START or mtype == P.STOP:
            return self._start_stop(mtype, seq)
        if mtype == P.REPLAY:
            return self._replay(seq, values[0], values[1])
        if mtype == P.REPLAY_BEGIN:
            return self._replay_begin(seq, values)
        if mtype == P.LIVE:
            return self._live(seq, values[0])
        if mtype == P.SIT_START:
            return self._sit_start(seq, values[0], values[1])
        if mtype == P.SIT_RATING:
            return self._sit_rating(seq, values[0])
        raise Refused(P.E_BAD_REQUEST, "%s is not a request" % P.type_name(mtype))

    # -- nights ---------------------------------------------------------------------------

    def _refresh(self):
        log = self.device.log
        if log is None:
            raise Refused(P.E_INTERNAL, "no night log: the flash did not mount")
        log.flush()  # what was recorded up to now becomes durable and readable
        self._nights = log.nights()
        return self._nights

    def _night(self, night_id):
        # The night's info tuple. A closed night never changes size, so the snapshot
        # serves pipelined READs without a new list per request; an open or unknown
        # one is looked up afresh.
        for info in self._nights:
            if info[_ID] == night_id and info[_CLOSED]:
                return info
        for info in self._refresh():
            if info[_ID] == night_id:
                return info
        raise Refused(P.E_UNKNOWN_NIGHT, "no night %d" % night_id)

    def _read(self, seq, night_id, offset, length):
        info = self._night(night_id)
        size = info[_SIZE]
        if offset > size:
            raise Refused(
                P.E_OUT_OF_RANGE,
                "read at %d beyond the %d bytes of night %d" % (offset, size, night_id),
            )
        n = size - offset
        if n > length:
            n = length
        if n > 0:
            try:
                got = self.device.log.read_into(night_id, offset, self._data[0:n])
            except ValueError:  # freed since the snapshot (flash-full housekeeping)
                self._nights = []
                raise Refused(P.E_UNKNOWN_NIGHT, "no night %d" % night_id) from None
            if got != n:
                raise Refused(
                    P.E_INTERNAL, "night %d: read %d of %d bytes at %d" % (night_id, got, n, offset)
                )
        return P.encode_data_head(self.reply, seq, night_id, offset, n)

    def _list_nights(self, seq, first):
        nights = self._refresh()
        total = len(nights)
        entries = []
        i = first
        while i < total and len(entries) < P.MAX_NIGHTS:
            info = nights[i]
            flags = 0
            start = info[_START]
            end = info[_END]
            if info[_CLOSED]:
                flags |= P.N_CLOSED
            else:
                end = 0  # an open night has no end yet
            if start:
                flags |= P.N_UTC
            else:
                end = 0  # the device had no clock: no time to give
            entries.append((info[_ID], start, end, info[_SIZE], info[_ACKED], flags, info[_UID]))
            i += 1
        return P.encode_body(
            self.reply, P.LIST_NIGHTS_REPLY, seq, (total, min(first, total), entries)
        )

    def _boundary(self, night_id, start, target):
        # The last record boundary at or below target, walking whole records from start
        # (a boundary: the acknowledged offset). Reads flash through the reply buffer,
        # which is free until the reply is written. Stops at a damaged record.
        buf = self.reply
        p = start
        while p < target:
            n = self.device.log.read_into(night_id, p, buf)
            off = 0
            while True:
                r = records.check_record(buf, off, n)
                if r < 0:
                    break
                if p + off + r > target:
                    return p + off
                off += r
            if off == 0:
                return p
            p += off
        return p

    def _fresh(self, night_id):
        # ACK and ERASE decide on acked, which another link may have moved: look again.
        for info in self._refresh():
            if info[_ID] == night_id:
                return info
        raise Refused(P.E_UNKNOWN_NIGHT, "no night %d" % night_id)

    def _ack(self, seq, night_id, offset):
        info = self._fresh(night_id)
        size = info[_SIZE]
        acked = info[_ACKED]
        if offset > size:
            raise Refused(
                P.E_OUT_OF_RANGE,
                "ack at %d beyond the %d bytes of night %d" % (offset, size, night_id),
            )
        if offset > acked:
            if offset < size:  # the end of the durable bytes is always a boundary
                offset = self._boundary(night_id, acked, offset)
            if offset > acked:
                acked = self.device.log.acknowledge(night_id, offset)
                self._nights = []  # acked changed
        return P.encode_body(self.reply, P.ACK_REPLY, seq, (night_id, acked))

    def _erase(self, seq, night_id):
        info = self._fresh(night_id)
        if not info[_CLOSED]:
            raise Refused(P.E_NOT_ACKNOWLEDGED, "night %d is still recording" % night_id)
        if info[_ACKED] < info[_SIZE]:
            raise Refused(
                P.E_NOT_ACKNOWLEDGED,
                "night %d acknowledged up to %d of %d bytes"
                % (night_id, info[_ACKED], info[_SIZE]),
            )
        log = self.device.log
        freed = log.free_synced()  # frees this night and any other fully synced one
        self._nights = []
        if night_id not in freed:
            raise Refused(P.E_INTERNAL, "night %d was not freed" % night_id)
        return P.encode_body(self.reply, P.ERASE_REPLY, seq, (night_id, log.free_bytes()))

    # -- device ---------------------------------------------------------------------------

    def _hello(self, seq):
        d = self.device
        log = d.log  # None when the flash did not mount: HELLO still answers
        # No flush: anyone in radio range may say HELLO (BLE), and it must not cost
        # flash writes; the count of nights does not depend on one.
        nights = log.nights() if log is not None else ()
        device_id, firmware, board, imu = d.identity()
        mv, pct = d.battery()
        flags = 0
        if log is not None and log.status == STATUS_FULL:
            flags |= P.F_FLASH_FULL
        if d.clock()[0]:
            flags |= P.F_CLOCK_SET
        if d.live():
            flags |= P.F_LIVE
        values = (
            P.PROTOCOL_VERSION,
            STATES.get(d.state(), 0),
            flags,
            min(max(mv, 0), 0xFFFF),
            pct if 0 <= pct <= 100 else P.BATTERY_UNKNOWN,
            min(log.free_bytes(), 0xFFFFFFFF) if log is not None else 0,
            min(d.total_flash(), 0xFFFFFFFF),
            min(len(nights), 0xFFFF),
            self.window,
            P.MAX_READ,
            _cut_name(device_id),
            _cut_name(firmware),
            _cut_name(board),
            _cut_name(imu),
        )
        return P.encode_body(self.reply, P.HELLO_REPLY, seq, values)

    def _set_time(self, seq, utc_ms):
        if not MIN_UTC_MS <= utc_ms < MAX_UTC_MS:
            raise Refused(
                P.E_BAD_REQUEST, "time %d ms is not a UTC epoch time in 2020-2099" % utc_ms
            )
        previous, ticks = self.device.set_time(utc_ms)
        return P.encode_body(self.reply, P.SET_TIME_REPLY, seq, (previous, ticks & 0xFFFFFFFF))

    def _config_reply(self, rtype, seq, cfg):
        return P.encode_body(self.reply, rtype, seq, (json.dumps(cfg),))

    def _config_set(self, seq, text):
        if self.device.state() == "recording":
            raise Refused(P.E_BUSY, "config cannot change while recording: stop first")
        try:
            changes = json.loads(text)
        except ValueError:
            raise Refused(P.E_BAD_REQUEST, "config is not valid JSON") from None
        if not isinstance(changes, dict):
            raise Refused(P.E_BAD_REQUEST, "config must be a JSON object of keys to change")
        _, reasons = device_config.validate(changes)
        if reasons:
            raise Refused(
                P.E_BAD_REQUEST,
                "config not changed: " + "; ".join([_reason(r) for r in reasons]),
            )
        merged = dict(self.device.config())
        for key in changes:
            merged[key] = changes[key]
        clean, reasons = device_config.validate(merged)
        if reasons:  # a stored key the firmware no longer knows: the host can fix it
            raise Refused(
                P.E_BAD_REQUEST,
                "config not changed: " + "; ".join([_reason(r) for r in reasons]),
            )
        self.device.set_config(clean)
        return self._config_reply(P.CONFIG_SET_REPLY, seq, self.device.config())

    def _open_night(self):
        if self.device.log is None:
            return 0
        for info in self._refresh():
            if not info[_CLOSED]:
                return info[_ID]
        return 0

    def _start_stop(self, mtype, seq):
        d = self.device
        stopping = mtype == P.STOP
        if stopping:
            night_id = self._open_night()
            ok, reason = d.stop("host")
        else:
            try:
                ok, reason = d.start("host")
            except FlashFull as e:
                raise Refused(P.E_FLASH_FULL, str(e)) from None
            night_id = self._open_night() if ok else 0
        if not ok:
            code = P.E_BUSY
            if not stopping and d.log is not None and d.log.status == STATUS_FULL:
                code = P.E_FLASH_FULL
            raise Refused(code, reason)
        self._nights = []
        rtype = P.STOP_REPLY if stopping else P.START_REPLY
        return P.encode_body(self.reply, rtype, seq, (STATES.get(d.state(), 0), night_id))

    def _sit_start(self, seq, sit_min, every_min):
        d = self.device
        try:
            ok, reason = d.start_sit("host", sit_min, every_min)
        except FlashFull as e:
            raise Refused(P.E_FLASH_FULL, str(e)) from None
        if not ok:
            code = P.E_BUSY if d.state() == "recording" else P.E_BAD_REQUEST
            if d.log is not None and d.log.status == STATUS_FULL:
                code = P.E_FLASH_FULL
            raise Refused(code, reason)
        self._nights = []
        return P.encode_body(
            self.reply, P.SIT_START_REPLY, seq, (STATES.get(d.state(), 0), self._open_night())
        )

    def _sit_rating(self, seq, rating):
        ok, reason = self.device.sit_rating(rating)
        if not ok:
            code = P.E_BAD_REQUEST if rating > 10 else P.E_BUSY
            raise Refused(code, reason)
        return P.encode_body(self.reply, P.SIT_RATING_REPLY, seq, (rating,))

    def _live(self, seq, on):
        if on and not self.device.live(True):
            raise Refused(P.E_BAD_REQUEST, "live stream not supported by this firmware")
        if not on:
            self.device.live(False)
        return P.encode_body(self.reply, P.LIVE_REPLY, seq, (1 if on else 0,))

    # -- replay (hardware-in-the-loop tests) ---------------------------------------------

    def _replay_begin(self, seq, values):
        odr_mhz, gyro, accel_fs_g, gyro_fs_dps, imu = values
        if not 0 < odr_mhz <= 10000000:
            raise Refused(P.E_BAD_REQUEST, "replay rate %d mHz outside 1..10000000" % odr_mhz)
        d = self.device
        try:
            ok, reason = d.start_replay(imu, odr_mhz / 1000, bool(gyro), accel_fs_g, gyro_fs_dps)
        except FlashFull as e:
            raise Refused(P.E_FLASH_FULL, str(e)) from None
        if not ok:
            code = P.E_BUSY if d.state() == "recording" else P.E_BAD_REQUEST
            if d.log is not None and d.log.status == STATUS_FULL:
                code = P.E_FLASH_FULL
            raise Refused(code, reason)
        self._nights = []
        replay = d.replay_imu()
        return P.encode_body(
            self.reply,
            P.REPLAY_BEGIN_REPLY,
            seq,
            (STATES.get(d.state(), 0), self._open_night(), replay.capacity),
        )

    def _replay(self, seq, flags, samples):
        replay = self.device.replay_imu()
        if replay is None or not replay.running:
            raise Refused(P.E_BUSY, "no replay night is recording: send REPLAY_BEGIN first")
        try:
            taken = replay.feed(samples, bool(flags & P.R_LAST))
        except ValueError as e:
            raise Refused(P.E_BAD_REQUEST, str(e)) from None
        return P.encode_body(
            self.reply, P.REPLAY_REPLY, seq, (taken, replay.room(), min(replay.late, 0xFFFFFFFF))
        )
