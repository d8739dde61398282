# Night log on flash: one append-only file of records per night (records.py format).
#
#   <root>/00000042.log       the night's records, header first
#   <root>/00000042.ack       how far the host has acknowledged it (u32 + CRC32)
#   <root>/next_id            the next night id (ids are never reused)
#   <root>/*.tmp              a replacement being written; renamed over its target
#
# Durability: records are encoded into one preallocated buffer and written when it is
# full or on flush(); each write is followed by a file sync (flush() on LittleFS commits
# the file; fsync on CPython). LittleFS keeps a file either as of the last sync or the
# one before, so a power cut loses at most the buffer. On other filesystems the tail
# may be torn: recover() at boot finds the last whole record, cuts the rest off and
# closes the night with a "recovered" marker. Small state files are replaced
# atomically (temp + rename). A night is deleted only once it is closed and the host
# has acknowledged all of it; when free flash falls below the reserve, recording stops
# with a "flash full" marker and status, and nothing unsynced is overwritten.
#
# Runs on MicroPython (os, statvfs) and on CPython, where a folder stands in for the
# flash and EmulatedSpace can give it a small capacity so "flash full" can be tested.

try:
    import os
except ImportError:  # older MicroPython
    import uos as os  # type: ignore

import struct
from binascii import crc32

from legsense_core import records

STATUS_IDLE = "idle"
STATUS_RECORDING = "recording"
STATUS_FULL = "flash full"

NIGHT_INFO_FIELDS = (
    "night_id",
    "start_utc_ms",
    "end_utc_ms",
    "size",
    "acked",
    "closed",
    "night_uid",
)

_SCAN_WINDOW = 2 * records.MAX_RECORD  # > MAX_RECORD: a window always holds a whole record
_STATE = "<II"  # value, CRC32 of the value's 4 bytes

# Index of a night's info list.
_START = 0  # UTC epoch ms at night start, from the latest anchor (0 = unknown)
_LAST_T = 1  # largest device ms seen in a record (events, markers, battery, anchors)
_SIZE = 2  # bytes durably written (what the host may read)
_ACKED = 3
_CLOSED = 4
_UID = 5  # the header's night UID (0 in a format-1 header)

_EVENT_BYTES = records.OVERHEAD + records.EVENT_SIZE
_EPOCH_BYTES = records.OVERHEAD + records.EPOCH_SIZE
_BATTERY_BYTES = records.OVERHEAD + records.BATTERY_SIZE
_ANCHOR_BYTES = records.OVERHEAD + records.ANCHOR_SIZE
_MARKER_BYTES = records.OVERHEAD + records.MARKER_SIZE + records.MAX_TEXT


class FlashFull(Exception):
    """Free flash is below the reserve even after freeing synced nights."""


def _fsync(f):
    # CPython: push the file to the disk. MicroPython's flush() already commits it.
    sync = getattr(os, "fsync", None)
    if sync is not None:
        sync(f.fileno())


def _file_size(path):
    return os.stat(path)[6]


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _replace(src, dst):
    # rename replaces dst atomically on LittleFS and POSIX; FAT refuses, so remove
    # first there (recover() adopts a complete .tmp whose target is missing).
    try:
        os.rename(src, dst)
    except OSError:
        os.remove(dst)
        os.rename(src, dst)


class StatvfsSpace:
    """Free bytes of the filesystem holding root, from os.statvfs (the real flash)."""

    def __init__(self, root):
        self.root = root

    def free_bytes(self):
        s = os.statvfs(self.root)
        return s[1] * s[4]  # fragment size * blocks available


class EmulatedSpace:
    """A flash of `capacity` bytes standing in for statvfs: capacity minus the files in
    root, each rounded up to whole blocks as a flash filesystem allocates them."""

    def __init__(self, root, capacity, block=4096):
        self.root = root
        self.capacity = capacity
        self.block = block

    def free_bytes(self):
        used = 0
        b = self.block
        for name in os.listdir(self.root):
            used += (_file_size(self.root + "/" + name) + b - 1) // b * b
        return max(0, self.capacity - used)


class NightLog:
    """Append-only night files under root, with acknowledgements and a flash reserve.

    Call recover() once at boot before anything else. One night records at a time:
    start_night(), append_*() (each returns False when not recording, e.g. after the
    flash filled), flush() when data must be durable, stop_night().
    """

    def __init__(self, root="/nights", buffer_size=1024, reserve=32768, space=None):
        if buffer_size < records.MAX_RECORD:
            raise ValueError("buffer_size must be >= %d" % records.MAX_RECORD)
        self.root = root
        self.reserve = reserve
        self.space = space if space is not None else StatvfsSpace(root)
        self.status = STATUS_IDLE
        self.detail = ""
        self._buf = bytearray(buffer_size)
        self._mv = memoryview(self._buf)
        self._pos = 0
        self._nights = {}  # night id -> [start_utc, last_t, size, acked, closed, uid]
        self._active = -1
        self._info = [0, 0, 0, 0, False, 0]  # the recording night's info (a spare when none)
        self._file = None
        self._stopping = False
        self._next_id = 1
        if not _exists(root):
            os.mkdir(root)

    # -- paths and small state files ----------------------------------------------------

    def _path(self, night_id, ext):
        return "%s/%08d.%s" % (self.root, night_id, ext)

    def _write_state(self, path, value):
        tmp = path + ".tmp"
        data = bytearray(8)
        struct.pack_into("<I", data, 0, value)
        struct.pack_into("<I", data, 4, crc32(data[0:4]))
        f = open(tmp, "wb")
        try:
            f.write(data)
            f.flush()
            _fsync(f)
        finally:
            f.close()
        _replace(tmp, path)

    def _read_state(self, path, default):
        try:
            f = open(path, "rb")
        except OSError:
            return default
        try:
            data = f.read(16)
        finally:
            f.close()
        if len(data) != 8:
            return default
        value, check = struct.unpack(_STATE, data)
        if crc32(data[0:4]) != check:
            return default
        return value

    # -- boot -----------------------------------------------------------------------

    def recover(self, keep_open=-1, reason="reboot"):
        """Scan every night at boot; returns a list of (night_id, what, bytes_dropped).

        Finishes interrupted replacements, cuts torn tails back to the last whole record,
        closes nights left open (marker M_RECOVERED, value = bytes dropped, text =
        reason) except night keep_open (the app resumes it), loads the
        acknowledgements and sets the status. Nothing at or below a night's
        acknowledged offset is ever cut or rewritten: damage there is reported and the
        file left as it is.
        """
        report = []
        names = os.listdir(self.root)
        for name in names:
            if name.endswith(".tmp"):
                target = self.root + "/" + name[:-4]
                if _exists(target):
                    os.remove(self.root + "/" + name)
                else:  # the target was removed for the rename (FAT): finish it
                    os.rename(self.root + "/" + name, target)
        window = bytearray(_SCAN_WINDOW)
        ids = []
        acks = {}
        for name in os.listdir(self.root):
            if len(name) != 12 or not (name.endswith(".log") or name.endswith(".ack")):
                continue
            try:
                night_id = int(name[:8])
            except ValueError:
                continue
            if name.endswith(".log"):
                ids.append(night_id)
            else:
                acks[night_id] = self._read_state(self.root + "/" + name, 0)
        ids.sort()
        self._nights = {}
        for night_id in ids:
            what = self._recover_night(
                night_id, window, acks.get(night_id, 0), night_id == keep_open, reason
            )
            if what is not None:
                report.append((night_id,) + what)
        for night_id in acks:
            info = self._nights.get(night_id)
            if info is None:
                os.remove(self._path(night_id, "ack"))  # its night was freed
            else:
                info[_ACKED] = min(acks[night_id], info[_SIZE])
        last = ids[-1] if ids else 0
        last_ack = max(acks) if acks else 0
        # A lost or damaged next_id never brings back an id the flash still holds.
        self._next_id = max(self._read_state(self.root + "/next_id", 1), last + 1, last_ack + 1)
        self._check_space()
        return report

    def _recover_night(self, night_id, window, acked=0, keep_open=False, reason="reboot"):
        # Returns None for a clean closed night, else (what, bytes dropped).
        path = self._path(night_id, "log")
        size = _file_size(path)
        good, err, info = self._scan(path, size, window)
        self._nights[night_id] = info
        if info[_START] is None:
            info[_START] = 0
        dropped = size - good
        if dropped and good < acked:
            # Damage inside bytes the host acknowledged: it holds them already. Report
            # it; never cut or append (the host would receive a fragment otherwise).
            info[_SIZE] = size
            info[_CLOSED] = True
            why = records.ERROR_NAMES[err] if err else "torn"
            return (
                "damaged at %d below the acknowledged %d: %s, left as is" % (good, acked, why),
                0,
            )
        if dropped and self._record_after(path, good, size, window):
            # Damage in the middle: keep every byte for the host (it can resync), and
            # never append behind it.
            info[_SIZE] = size
            info[_CLOSED] = True
            return ("damaged at %d: %s" % (good, records.ERROR_NAMES[err]), 0)
        if good == 0:
            # Not even a whole header: nothing anyone could read. Drop the file.
            os.remove(path)
            del self._nights[night_id]
            return ("no header, removed", size)
        info[_SIZE] = good
        if dropped:
            cut = False
            if self.space.free_bytes() >= good:
                try:
                    self._cut(path, good, window)
                    cut = True
                except OSError:
                    pass
            if not cut:
                # No room to rewrite the file: serve only the good part, append nothing
                # (the next boot tries again).
                info[_CLOSED] = True
                return ("torn tail left in place", dropped)
        if info[_CLOSED]:
            return ("cut torn tail", dropped) if dropped else None
        if keep_open:
            return ("kept open to resume", dropped)
        # Left open by a reset: close it so it can be synced and freed.
        if not self._close_file(night_id, info, records.M_RECOVERED, dropped, reason):
            return ("left open: no room for the marker", dropped)
        return ("closed after reboot", dropped)

    def _close_file(self, night_id, info, code, value, text):
        # Append one ending marker to a night that is not recording; False on failure.
        end = records.encode_marker(self._mv, 0, info[_LAST_T], code, value, text)
        try:
            f = open(self._path(night_id, "log"), "ab")
            try:
                f.write(self._mv[0:end])
                f.flush()
                _fsync(f)
            finally:
                f.close()
        except OSError:
            return False
        info[_CLOSED] = True
        info[_SIZE] += end
        return True

    def close_open(self, night_id, code=records.M_RECOVERED, text="reboot", value=0):
        """Close a night recover() kept open (the app decided not to resume it)."""
        info = self._nights.get(night_id)
        if info is None or info[_CLOSED] or night_id == self._active:
            return False
        return self._close_file(night_id, info, code, value, text)

    def _scan(self, path, size, window):
        """Walk a night file; returns (end of the last good record, ERR_* or 0, info)."""
        mv = memoryview(window)
        info = [None, 0, 0, 0, False, 0]
        good = 0
        err = 0
        f = open(path, "rb")
        try:
            while good < size:
                f.seek(good)
                n = f.readinto(window)
                if not n:
                    break
                eof = good + n >= size
                off = 0
                r = 0
                while True:
                    r = records.check_record(mv, off, n)
                    if r < 0:
                        break
                    rtype = window[off + 1]
                    if good + off == 0 and rtype != records.T_NIGHT:
                        r = records.ERR_TYPE  # a night starts with its header
                        break
                    closed = False
                    if rtype == records.T_RAW:
                        # only its time: decoding would copy up to 1 KB of samples (the
                        # MicroPython VM collects garbage only after boot returns)
                        t = struct.unpack_from("<I", window, off + records.HEAD_SIZE)[0]
                        if t > info[_LAST_T]:
                            info[_LAST_T] = t
                    elif rtype != records.T_EPOCH:  # epochs carry no device time
                        p = off + records.HEAD_SIZE
                        pl = records.decode_payload(rtype, mv, p, off + r - 4)
                        if isinstance(pl, int):
                            r = pl
                            break
                        self._note(info, rtype, pl)
                        closed = rtype == records.T_MARKER and pl[1] in records.ENDING_MARKERS
                    info[_CLOSED] = closed
                    off += r
                good += off
                if good >= size:
                    break
                if r == records.ERR_SHORT and not eof and off > 0:
                    continue  # the record goes on in the next window
                err = r
                break
        finally:
            f.close()
        info[_SIZE] = good
        return good, err, info

    def _note(self, info, rtype, pl):
        # Keep what the night list needs: start (UTC) and the latest device time.
        if rtype == records.T_NIGHT:
            info[_START] = pl[11] - pl[10] if pl[11] else 0
            info[_UID] = pl[13]
            return
        t = pl[1] if rtype == records.T_EVENT else pl[0]
        if t > info[_LAST_T]:
            info[_LAST_T] = t
        if rtype == records.T_ANCHOR:
            info[_START] = pl[1] - pl[0]

    def _record_after(self, path, bad, size, window):
        # Is there any whole record after the bad one? (damage, not a torn tail)
        mv = memoryview(window)
        p = bad + 1
        f = open(path, "rb")
        try:
            while p < size:
                f.seek(p)
                n = f.readinto(window)
                eof = p + n >= size
                stop = n if eof else n - records.MAX_RECORD
                if records.find_next_record(mv, 0, n, stop) >= 0:
                    return True
                if eof:
                    return False
                p += stop
        finally:
            f.close()
        return False

    def _cut(self, path, size, window):
        # MicroPython files cannot truncate: copy the good part, rename it over.
        tmp = path + ".tmp"
        mv = memoryview(window)
        src = open(path, "rb")
        try:
            dst = open(tmp, "wb")
            try:
                done = 0
                while done < size:
                    n = src.readinto(window)
                    if not n:
                        break
                    if n > size - done:
                        n = size - done
                    dst.write(mv[0:n])
                    done += n
                dst.flush()
                _fsync(dst)
            finally:
                dst.close()
        finally:
            src.close()
        _replace(tmp, path)

    # -- recording ------------------------------------------------------------------

    def start_night(
        self,
        device_id,
        firmware,
        board,
        imu,
        rate_mhz,
        accel_scale,
        gyro_scale,
        start_ticks,
        anchor_dev_ms=0,
        anchor_utc_ms=0,
        config_json=b"{}",
        night_uid=0,
        boot_count=0,
    ):
        """Open a new night, write its header and a "started" marker; returns its id.

        Raises FlashFull when free flash stays below the reserve after freeing synced
        nights or the flash refuses a write (never an OSError), ValueError when a night
        is already recording.
        """
        if self._active >= 0:
            raise ValueError("night %d is still recording" % self._active)
        try:
            return self._start_night(
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
                night_uid,
                boot_count,
            )
        except OSError as e:
            # The flash refused a write: drop what was begun, report it as full.
            night_id = self._active
            if self._file is not None:
                try:
                    self._file.close()
                except OSError:
                    pass
                self._file = None
            if night_id >= 0:
                self._nights.pop(night_id, None)
                try:
                    os.remove(self._path(night_id, "log"))
                except OSError:
                    pass
            self._active = -1
            self._info = [0, 0, 0, 0, False, 0]
            self._pos = 0
            self.status = STATUS_FULL
            self.detail = "flash write failed (%s): cannot start a night" % (e,)
            raise FlashFull(self.detail) from None

    def _start_night(
        self,
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
        night_uid,
        boot_count,
    ):
        if not self._check_space():
            raise FlashFull(self.detail)
        night_id = self._next_id
        self._write_state(self.root + "/next_id", night_id + 1)  # never reuse an id
        self._next_id = night_id + 1
        start = anchor_utc_ms - anchor_dev_ms if anchor_utc_ms else 0
        self._info = [start, 0, 0, 0, False, night_uid]
        self._nights[night_id] = self._info
        self._active = night_id
        self._file = open(self._path(night_id, "log"), "wb")
        self._pos = records.encode_night(
            self._mv,
            0,
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
            night_uid,
            boot_count,
        )
        self.status = STATUS_RECORDING
        self.detail = "recording night %d" % night_id
        self.append_marker(0, records.M_STARTED)
        self.flush()
        if self._active != night_id:  # the header could not be written
            raise OSError(28, self.detail)
        return night_id

    def resume_night(self, night_id, mirrored=b"", mirror_base=-1):
        """Go on recording night night_id, which recover() kept open. Records mirrored
        from before the reset (the log buffer, following offset mirror_base) are written
        first, as far as the flash does not hold them already. Returns the bytes of
        mirrored records adopted; raises ValueError when the night cannot resume."""
        from legsense_device.resume import adoptable

        info = self._nights.get(night_id)
        if self._active >= 0 or info is None or info[_CLOSED]:
            raise ValueError("night %d cannot resume" % night_id)
        path = self._path(night_id, "log")
        size = info[_SIZE]
        adopt = b""
        if mirrored and mirror_base >= 0:
            tail = b""
            if size > mirror_base:
                f = open(path, "rb")
                try:
                    f.seek(mirror_base)
                    tail = f.read(size - mirror_base)
                finally:
                    f.close()
            k = adoptable(tail, mirror_base, size, mirrored)
            if k >= 0:
                adopt = mirrored[k:]
                # only whole records: a mirror is always whole, but check it anyway
                mv = memoryview(adopt)
                off = 0
                while off < len(adopt):
                    r = records.check_record(mv, off, len(adopt))
                    if r < 0:
                        break
                    off += r
                adopt = adopt[0:off]
        self._file = open(path, "ab")
        self._active = night_id
        self._info = info
        self.status = STATUS_RECORDING
        self.detail = "recording night %d" % night_id
        if adopt:
            self._mv[0 : len(adopt)] = adopt
            self._pos = len(adopt)
            # what the mirrored records say about the night (times, anchors)
            mv = self._mv
            off = 0
            while off < self._pos:
                r = records.check_record(mv, off, self._pos)
                rtype = mv[off + 1]
                if rtype != records.T_EPOCH:
                    pl = records.decode_payload(rtype, mv, off + records.HEAD_SIZE, off + r - 4)
                    if not isinstance(pl, int):
                        self._note(info, rtype, pl)
                off += r
        return len(adopt)

    def pending(self):
        """(durable size of the recording night, the records buffered since): what a
        reset would lose, for the app to mirror in RTC memory. (-1, empty) when idle."""
        if self._active < 0:
            return -1, self._mv[0:0]
        return self._info[_SIZE], self._mv[0 : self._pos]

    def _room(self, n):
        # Make room for an n-byte record; False when not recording (any more).
        if self._active < 0:
            return False
        if self._pos + n > len(self._buf):
            self.flush()
            if self._active < 0:
                return False
        return True

    def _seen(self, t):
        if t > self._info[_LAST_T]:
            self._info[_LAST_T] = t

    def append_event(self, ev):
        """Log a detector event tuple; False if not recording."""
        if not self._room(_EVENT_BYTES):
            return False
        self._pos = records.encode_event(self._mv, self._pos, ev)
        self._seen(ev[1])
        return True

    def append_epoch(self, ep):
        """Log a detector epoch tuple; False if not recording."""
        if not self._room(_EPOCH_BYTES):
            return False
        self._pos = records.encode_epoch(self._mv, self._pos, ep)
        return True

    def append_battery(self, t_ms, mv, percent):
        """Log a battery reading; False if not recording."""
        if not self._room(_BATTERY_BYTES):
            return False
        self._pos = records.encode_battery(self._mv, self._pos, t_ms, mv, percent)
        self._seen(t_ms)
        return True

    def append_anchor(self, t_ms, utc_ms):
        """Log a clock anchor (the host set the time); False if not recording."""
        if not self._room(_ANCHOR_BYTES):
            return False
        self._pos = records.encode_anchor(self._mv, self._pos, t_ms, utc_ms)
        self._seen(t_ms)
        self._info[_START] = utc_ms - t_ms
        return True

    def append_marker(self, t_ms, code, value=0, text=""):
        """Log a marker (records.M_*); False if not recording."""
        if not self._room(_MARKER_BYTES):
            return False
        self._pos = records.encode_marker(self._mv, self._pos, t_ms, code, value, text)
        self._seen(t_ms)
        return True

    def append_raw(self, t_ms, n_samples, codec, data):
        """Log a raw-sample chunk (at most records.MAX_RAW_DATA bytes); False if not recording."""
        if not self._room(records.OVERHEAD + records.RAW_SIZE + len(data)):
            return False
        self._pos = records.encode_raw(self._mv, self._pos, t_ms, n_samples, codec, data)
        self._seen(t_ms)
        return True

    def flush(self):
        """Write the buffered records and sync the file; then check the flash reserve."""
        f = self._file
        if f is None or self._pos == 0:
            return
        n = self._pos
        try:
            f.write(self._mv[0:n])
            f.flush()
            _fsync(f)
        except OSError as e:
            self._write_failed(e)
            return
        self._pos = 0
        self._info[_SIZE] += n
        if not self._stopping and not self._check_space():
            t = self._info[_LAST_T]
            self._end_night(t, records.M_FLASH_FULL, "flash full")
            self.status = STATUS_FULL

    def _write_failed(self, err):
        # The flash refused a write (full, or worn): the file may end in a torn record.
        # Close it and recover it as at boot; record nothing more.
        night_id = self._active
        f = self._file
        try:
            if f is not None:
                f.close()
        except OSError:
            pass
        self._file = None
        self._active = -1
        self._info = [0, 0, 0, 0, False, 0]
        self._pos = 0
        acked = self._read_state(self._path(night_id, "ack"), 0)
        self._recover_night(night_id, bytearray(_SCAN_WINDOW), acked)
        info = self._nights.get(night_id)
        if info is not None:
            info[_ACKED] = min(acked, info[_SIZE])
        self.status = STATUS_FULL
        self.detail = "flash write failed (%s): recording stopped" % (err,)

    def stop_night(self, t_ms, code=records.M_STOP_HOST, text=""):
        """Close the recording night with an ending marker; False if none was recording."""
        if self._active < 0:
            return False
        self._end_night(t_ms, code, text)
        if self.status != STATUS_FULL:
            self.status = STATUS_IDLE
        return True

    def _end_night(self, t_ms, code, text):
        self._stopping = True
        try:
            self.append_marker(t_ms, code, 0, text)
            self.flush()
        finally:
            self._stopping = False
        if self._file is not None:
            self._file.close()
            self._file = None
        self._info[_CLOSED] = True
        self._active = -1
        self._info = [0, 0, 0, 0, False, 0]

    # -- space ------------------------------------------------------------------------

    def _check_space(self):
        # True when free flash is at or above the reserve (after freeing synced nights).
        free = self.space.free_bytes()
        if free < self.reserve:
            self.free_synced()
            free = self.space.free_bytes()
        if free < self.reserve:
            unsynced = 0
            for info in self._nights.values():
                if info[_ACKED] < info[_SIZE]:
                    unsynced += 1
            self.status = STATUS_FULL
            self.detail = "flash full: %d bytes free, reserve %d; %d nights not synced" % (
                free,
                self.reserve,
                unsynced,
            )
            return False
        if self.status == STATUS_FULL:
            self.status = STATUS_IDLE
            self.detail = ""
        return True

    def free_bytes(self):
        """Free flash in bytes, as the filesystem reports it."""
        return self.space.free_bytes()

    # -- sync side ------------------------------------------------------------------

    def nights(self):
        """One tuple per night (NIGHT_INFO_FIELDS), oldest first.

        start/end are UTC epoch ms from the latest anchor (0 when the device never had
        the time); size is what is durably written; closed nights no longer grow.
        """
        out = []
        for night_id in sorted(self._nights):
            start, last_t, size, acked, closed, uid = self._nights[night_id]
            end = start + last_t if start else 0
            out.append((night_id, start, end, size, acked, closed, uid))
        return out

    def read_into(self, night_id, offset, buf):
        """Copy durable bytes of a night from offset into buf; returns how many."""
        info = self._nights.get(night_id)
        if info is None:
            raise ValueError("no night %d" % night_id)
        n = info[_SIZE] - offset
        if n <= 0:
            return 0
        if n > len(buf):
            n = len(buf)
        f = open(self._path(night_id, "log"), "rb")
        try:
            f.seek(offset)
            got = f.readinto(memoryview(buf)[0:n])
        finally:
            f.close()
        return got or 0

    def acknowledge(self, night_id, offset):
        """The host stored the night durably up to offset; returns the acked offset.

        Acknowledgements only grow; one beyond the durable size is a ValueError.
        """
        info = self._nights.get(night_id)
        if info is None:
            raise ValueError("no night %d" % night_id)
        if offset > info[_SIZE]:
            raise ValueError(
                "ack %d beyond the %d bytes of night %d" % (offset, info[_SIZE], night_id)
            )
        if offset > info[_ACKED]:
            self._write_state(self._path(night_id, "ack"), offset)
            info[_ACKED] = offset
        return info[_ACKED]

    def free_synced(self):
        """Delete every closed night the host acknowledged in full; returns their ids."""
        freed = []
        for night_id in sorted(self._nights):
            info = self._nights[night_id]
            if not info[_CLOSED] or info[_ACKED] < info[_SIZE]:  # the recording night is open
                continue
            os.remove(self._path(night_id, "log"))
            ack = self._path(night_id, "ack")
            if _exists(ack):
                os.remove(ack)
            del self._nights[night_id]
            freed.append(night_id)
        return freed

    def read_counter(self, name, default=0):
        """A u32 kept in a small state file under root (value + CRC32)."""
        return self._read_state(self.root + "/" + name, default)

    def write_counter(self, name, value):
        """Replace a small state file atomically; False when the flash refused."""
        try:
            self._write_state(self.root + "/" + name, value)
            return True
        except OSError:
            return False

    def close(self):
        """Flush and close the file of a recording night without ending the night."""
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None
