# What lets a night survive a reset: a durable "recording" state on flash and a block in
# the RTC memory.
#
# * The recording state (`<nights>/recording`, compact JSON + CRC32, replaced atomically)
#   says which night records, who started it, where night ms 0 lies on the RTC, a random
#   token, and when the night resumed lately (the reset-loop guard). It exists exactly
#   while a night records: written when the night starts, removed when it ends.
# * The RTC block (machine.RTC().memory(): survives watchdog, panic, soft/hard resets and
#   the ESP32's brownout restart, not a power-on) carries the same token, the host's
#   clock anchor on the RTC (so UTC survives a reset), the night ms of the last sample
#   processed and the night-log records not yet written to flash (the log's buffer,
#   followed by the detector's held-back start-phase events encoded as event records:
#   a reset ends the stretch, and the detector would have released them as they are),
#   mirrored after every batch: a reset loses none of them.
#
# At boot the token decides: the same token in both places means the RTC domain lived
# through the reset (not a power-on), so the night resumes; anything else (power-on, an
# RTC memory a build clears at boot) closes the night, as before. Five resumes within
# ten minutes stop resuming: a broken board must not cycle all night.

import struct
from binascii import crc32

try:
    import json
except ImportError:  # pragma: no cover
    import ujson as json  # type: ignore

try:
    import os
except ImportError:  # pragma: no cover
    import uos as os  # type: ignore

STATE_NAME = "recording"
LOOP_RESETS = 5  # this many resumes ...
LOOP_WINDOW_MS = 600000  # ... within this long end the night ("reset loop")
RTC_BYTES = 2048  # MicroPython's ESP32 RTC user memory
MIRROR_MS = 250  # the app mirrors the newest sample's time at least this often

_MAGIC = 0x4C535231  # "LSR1"
# magic, token, wall UTC ms, wall RTC ms, covered night ms, log base, note, log length
_HEAD = "<IIqqIi8sH"
_HEAD_SIZE = struct.calcsize(_HEAD)
MAX_LOG = RTC_BYTES - _HEAD_SIZE - 4


class RtcBlock:
    """The app's RTC-memory block (see the module comment). read() / encode()."""

    def __init__(self):
        self.token = 0  # the recording night's token; 0 = none
        self.wall_utc = 0  # host anchor: UTC epoch ms ...
        self.wall_rtc = 0  # ... at this RTC ms (0/0: the time was never set)
        self.covered = 0  # night ms of the newest sample processed
        self.log_base = -1  # night-log size the mirrored records follow (-1: none)
        self.note = ""  # why the firmware reset itself ("panic"), for the next boot
        self.log = b""  # mirrored night-log records
        self._buf = bytearray(RTC_BYTES)

    @staticmethod
    def read(data):
        """The block in data (bytes from the RTC memory), or None when there is none."""
        if data is None or len(data) < _HEAD_SIZE + 4:
            return None
        magic, token, wutc, wrtc, covered, base, note, n = struct.unpack_from(_HEAD, data, 0)
        end = _HEAD_SIZE + n
        if magic != _MAGIC or end + 4 > len(data):
            return None
        if struct.unpack_from("<I", data, end)[0] != crc32(bytes(data[0:end])):
            return None
        b = RtcBlock()
        b.token = token
        b.wall_utc = wutc
        b.wall_rtc = wrtc
        b.covered = covered
        b.log_base = base
        b.note = bytes(note).rstrip(b"\0").decode()
        b.log = bytes(data[_HEAD_SIZE:end])
        return b

    def encode(self, log=None, extra=None):
        """The block as a memoryview over a preallocated buffer; log (a buffer of whole
        records), followed by extra (more whole records), replaces the mirrored records
        when given."""
        buf = self._buf
        if log is not None:
            n = len(log)
            k = len(extra) if extra is not None else 0
            if n + k > MAX_LOG:  # never expected: the log buffer is 1 KB
                n = 0
                k = 0
                self.log_base = -1
            buf[_HEAD_SIZE : _HEAD_SIZE + n] = log[0:n]
            if k and extra is not None:
                buf[_HEAD_SIZE + n : _HEAD_SIZE + n + k] = extra[0:k]
            n += k
        else:
            n = len(self.log)
            buf[_HEAD_SIZE : _HEAD_SIZE + n] = self.log
        note = self.note.encode()[:8]
        struct.pack_into(
            _HEAD,
            buf,
            0,
            _MAGIC,
            self.token,
            self.wall_utc,
            self.wall_rtc,
            self.covered,
            self.log_base,
            note,
            n,
        )
        end = _HEAD_SIZE + n
        struct.pack_into("<I", buf, end, crc32(memoryview(buf)[0:end]))
        return memoryview(buf)[0 : end + 4]


# -- the durable recording state ------------------------------------------------------


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def load_state(path):
    """The recording state at path as a dict, or None (none, or damaged)."""
    try:
        f = open(path, "rb")
    except OSError:
        return None
    try:
        data = f.read(1024)
    finally:
        f.close()
    cut = data.rfind(b" ")
    if cut < 0:
        return None
    try:
        if int(data[cut + 1 :].decode(), 16) != crc32(data[0:cut]):
            return None
        state = json.loads(data[0:cut].decode())
    except (ValueError, UnicodeError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("id"), int):
        return None
    return state


def save_state(path, state):
    """Replace the recording state atomically (temp + sync + rename)."""
    text = json.dumps(state).encode()
    data = text + (" %08x" % crc32(text)).encode()
    tmp = path + ".tmp"
    f = open(tmp, "wb")
    try:
        f.write(data)
        f.flush()
        sync = getattr(os, "fsync", None)
        if sync is not None:
            sync(f.fileno())
    finally:
        f.close()
    try:
        os.rename(tmp, path)
    except OSError:  # FAT: rename does not replace
        os.remove(path)
        os.rename(tmp, path)


def clear_state(path):
    """Remove the recording state (the night ended)."""
    for p in (path, path + ".tmp"):
        if _exists(p):
            os.remove(p)


def loop_check(resets, now_rtc):
    """(resets kept within the window plus now, True when that makes a reset loop)."""
    kept = [r for r in resets if 0 <= now_rtc - r < LOOP_WINDOW_MS]
    kept.append(now_rtc)
    return kept, len(kept) >= LOOP_RESETS


def adoptable(flash_tail, base, size, log):
    """How many leading bytes of the mirrored records `log` (which follow night-log
    offset `base`) the flash already holds, given that the file is `size` bytes and ends
    with flash_tail (its bytes from `base`); -1 when the mirror does not fit the file."""
    if base < 0 or size < base:
        return -1
    k = size - base
    if k > len(log) or bytes(flash_tail[0:k]) != bytes(log[0:k]):
        return -1
    return k
