"""The legsense trace CSV, its ground-truth labels, and the raw LSM9DS0 logger format.

Trace CSV ("legsense trace CSV")::

    # sample_rate_hz: 50
    # start_utc: 2026-01-05T22:30:00+00:00
    # imu: lsm6dsox
    t,ax,ay,az,gx,gy,gz
    0.000000,0.012322,-0.998704,0.030378,0.113750,-0.008750,0.043750

`t` in seconds from the start (increasing; jitter and gaps allowed), acceleration in g,
angular rate in deg/s; the gyro columns are optional (`t,ax,ay,az`). Labels sit beside
the trace as NAME.labels.csv with columns `onset_s,offset_s` and any others.

The raw format (no header, a trailing comma, `t_ms,ax,ay,az,gx,gy,gz,mx,my,mz` as int16
counts of an LSM9DS0) is recognised from its first row and scaled to g and deg/s.

Reading is streamed: TraceFile reads a block at a time (numpy's C parser; only when it
fails, or the values fail a check, is the block scanned line by line to name the first
bad line), so memory stays bounded whatever the length; read_trace gathers the blocks
into one in-memory Trace. A file that cannot be a trace (too large, binary, a line
longer than any row) is refused before it is read whole.
"""

from __future__ import annotations

import csv
import io
import math
import os
import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
from legsense_core.imu_scales import DEFAULT_IMU, scales

from legsense.atomic_file import write_bytes_atomically
from legsense.errors import InputError

TRACE_COLUMNS_GYRO = ("t", "ax", "ay", "az", "gx", "gy", "gz")
TRACE_COLUMNS_ACCEL = TRACE_COLUMNS_GYRO[:4]
LABEL_COLUMNS = ("onset_s", "offset_s")

# The raw logger format of ../shared/traces: LSM9DS0 at +/-2 g and +/-245 dps.
RAW_IMU = "lsm9ds0"
RAW_FORMAT = "lsm9ds0-raw"

# Decimals written: micro-units keep every supported IMU's LSB exact after rounding.
_DECIMALS = 6


@dataclass
class Trace:
    """One night (or part of one) of ankle IMU samples in physical units."""

    t_s: np.ndarray  # float64 seconds from start, shape (n,)
    acc_g: np.ndarray  # float64 (n, 3)
    gyr_dps: np.ndarray | None  # float64 (n, 3) or None (accelerometer-only)
    meta: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    @property
    def sample_rate_hz(self) -> float:
        """The declared sample rate, else 1 / median interval, intervals in whole
        microseconds (0.0 under 2 samples or under 3.8 Hz; see median_rate_hz)."""
        if "sample_rate_hz" in self.meta:
            return float(self.meta["sample_rate_hz"])
        return median_rate_hz(intervals_us(self.t_s))

    @property
    def start_utc(self) -> datetime | None:
        """Wall-clock time of t = 0, in UTC, when the header gives it."""
        value = self.meta.get("start_utc")
        return None if value is None else _parse_utc(value)

    @property
    def imu(self) -> str | None:
        return self.meta.get("imu") or None

    @property
    def leg(self) -> str | None:
        return self.meta.get("leg") or None

    @property
    def duration_s(self) -> float:
        """First to last sample (0.0 for fewer than two samples)."""
        return float(self.t_s[-1] - self.t_s[0]) if len(self.t_s) > 1 else 0.0

    def __len__(self) -> int:
        return len(self.t_s)


@dataclass
class Labels:
    """Ground-truth movements: onset/offset in seconds plus any extra columns."""

    onset_s: np.ndarray
    offset_s: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    path: Path | None = None

    @property
    def duration_s(self) -> np.ndarray:
        return self.offset_s - self.onset_s

    def __len__(self) -> int:
        return len(self.onset_s)


@dataclass
class CountsTrace:
    """A trace as the raw integer counts the detector consumes."""

    t_ms: np.ndarray  # int64 (n,)
    acc: np.ndarray  # int16 (n, 3)
    gyr: np.ndarray | None  # int16 (n, 3) or None
    accel_scale: tuple[int, int]  # (num, den): one LSB is num/den micro-g
    gyro_scale: tuple[int, int]  # (num, den): one LSB is num/den micro-deg/s
    imu: str


# ---------------------------------------------------------------- reading traces

# What a trace can be. Beyond these a file is refused before it is read whole.
MAX_TRACE_BYTES = 16 * 2**30  # a day at 1000 Hz is ~6 GB of trace CSV, a week at 100 Hz ~4 GB
MAX_IN_MEMORY_BYTES = 2**30  # read_trace keeps every sample (56 B each); analyze streams
MAX_LINE_BYTES = 4096  # a row of a trace is under 200 bytes
MAX_HEADER_LINES = 1000  # metadata and blank lines before the column header
BLOCK_BYTES = 1 << 22  # bytes read at a time: ~60,000 rows of a trace CSV

RAW_COLUMNS = ("t_ms", "ax", "ay", "az", "gx", "gy", "gz", "mx", "my", "mz")
_INT16_MIN, _INT16_MAX = -32768, 32767
_SHOW_CHARS = 40  # a bad cell is quoted up to this length in a message


@dataclass
class TraceChunk:
    """Consecutive samples of a trace file, in physical units (see Trace)."""

    t_s: np.ndarray
    acc_g: np.ndarray
    gyr_dps: np.ndarray | None
    bytes_done: int  # bytes of the file read so far (for progress)

    def __len__(self) -> int:
        return len(self.t_s)


@dataclass(frozen=True)
class _Head:
    """What the head of a trace file says: metadata, format and where the rows begin."""

    meta: dict[str, str]
    columns: tuple[str, ...]  # the columns of a row, in order
    raw: bool  # the raw LSM9DS0 logger format (no header, trailing comma)
    header_line: int  # 1-based line of the column header (raw: of the first row)


class TraceFile:
    """A trace file (legsense trace CSV or raw LSM9DS0 log) read one block at a time.

    Memory stays bounded whatever the file's length: opening reads and checks the head
    (metadata, column header), `chunks()` then walks the rows a block at a time, checking
    each one, and may be called again for another pass. Every problem is an InputError
    naming the file and the 1-based line.
    """

    def __init__(
        self,
        path: str | Path,
        block_bytes: int = BLOCK_BYTES,
        max_bytes: int = MAX_TRACE_BYTES,
        too_large: str = "more than any trace legsense reads",
    ) -> None:
        self.path = Path(path)
        self.block_bytes = max(1, int(block_bytes))
        self.size = _check_file(self.path, max_bytes, too_large)
        with _open_binary(self.path) as fh:
            self._head = _read_head(self.path, _LineReader(fh, self.path, self.block_bytes))

    @property
    def meta(self) -> dict[str, str]:
        """The '# key: value' metadata (for the raw format also imu and format)."""
        return dict(self._head.meta)

    @property
    def has_gyro(self) -> bool:
        return len(self._head.columns) != len(TRACE_COLUMNS_ACCEL)

    @property
    def declared_rate_hz(self) -> float | None:
        """The sample rate the header declares, None when it declares none."""
        value = self._head.meta.get("sample_rate_hz")
        return None if value is None else float(value)

    @property
    def start_utc(self) -> datetime | None:
        value = self._head.meta.get("start_utc")
        return None if value is None else _parse_utc(value)

    @property
    def imu(self) -> str | None:
        return self._head.meta.get("imu") or None

    @property
    def leg(self) -> str | None:
        return self._head.meta.get("leg") or None

    def chunks(self) -> Iterator[TraceChunk]:
        """The samples, one block of rows at a time, every row checked on the way."""
        with _open_binary(self.path) as fh:
            lines = _LineReader(fh, self.path, self.block_bytes)
            head = _read_head(self.path, lines)
            if head != self._head:
                raise InputError("the file changed while it was read", self.path)
            rows = _RowParser(self.path, head)
            while (block := lines.data_block()) is not None:
                data = rows.parse(*block)
                if len(data):
                    yield self._chunk(data, lines.bytes_read)
            if rows.count == 0:
                raise InputError(
                    "empty trace (no data rows after the header)", self.path, head.header_line
                )

    def _chunk(self, data: np.ndarray, bytes_done: int) -> TraceChunk:
        if self._head.raw:
            acc_scale, gyr_scale = scales(RAW_IMU)
            return TraceChunk(
                t_s=data[:, 0] / 1000.0,
                acc_g=data[:, 1:4] * acc_scale[0] / acc_scale[1] / 1e6,
                gyr_dps=data[:, 4:7] * gyr_scale[0] / gyr_scale[1] / 1e6,
                bytes_done=bytes_done,
            )
        return TraceChunk(
            t_s=np.ascontiguousarray(data[:, 0]),
            acc_g=np.ascontiguousarray(data[:, 1:4]),
            gyr_dps=np.ascontiguousarray(data[:, 4:7]) if data.shape[1] == 7 else None,
            bytes_done=bytes_done,
        )


def read_trace(path: str | Path, max_bytes: int = MAX_IN_MEMORY_BYTES) -> Trace:
    """Read a whole legsense trace CSV or raw LSM9DS0 log into memory.

    The format is told from the first line that is not metadata. Raises InputError
    naming the file and the 1-based line of the first problem; files over `max_bytes`
    are refused unread (`legsense analyze` streams long traces through TraceFile).
    """
    trace_file = TraceFile(
        path,
        max_bytes=max_bytes,
        too_large="more than is read into memory; `legsense analyze` streams longer traces",
    )
    parts = list(trace_file.chunks())
    gyro = [p.gyr_dps for p in parts if p.gyr_dps is not None]
    return Trace(
        t_s=np.concatenate([p.t_s for p in parts]),
        acc_g=np.concatenate([p.acc_g for p in parts]),
        gyr_dps=np.concatenate(gyro) if trace_file.has_gyro else None,
        meta=trace_file.meta,
        path=trace_file.path,
    )


def _check_file(path: Path, max_bytes: int, too_large: str) -> int:
    """The size of a regular file we may read; InputError for anything else."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError("is a directory, not a trace file", path)
    if not stat.S_ISREG(info.st_mode):
        raise InputError("not a regular file (a trace is a file on disk)", path)
    if info.st_size > max_bytes:
        raise InputError(
            f"{_size_text(info.st_size)} is {too_large} ({_size_text(max_bytes)} at most)", path
        )
    return info.st_size


def _size_text(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB"


def _open_binary(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")  # the callers close it
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a trace file", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None


class _LineReader:
    """Lines of a binary file, read a block at a time, with any line ending (LF, CRLF,
    CR) turned into LF. Never holds more than a block plus one line: a longer line is
    not a trace."""

    def __init__(self, fh: BinaryIO, path: Path, block_bytes: int) -> None:
        self._fh = fh
        self._path = path
        self._block = block_bytes
        self._buf = b""
        self._pos = 0  # start of what is not handed out yet
        self._held = b""  # a CR at the end of a block: may be the first half of CR LF
        self._eof = False
        self.line_no = 0  # lines handed out so far
        self.bytes_read = 0

    def _fill(self) -> None:
        data = self._fh.read(self._block)
        self.bytes_read += len(data)
        if data:
            data = self._held + data
            self._held = b""
            if data.endswith(b"\r"):
                self._held = b"\r"
                data = data[:-1]
        else:
            self._eof = True
            data = self._held
            self._held = b""
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        self._buf = self._buf[self._pos :] + data
        self._pos = 0

    def _too_long(self, line: int) -> InputError:
        start = self._buf[self._pos : self._pos + MAX_LINE_BYTES]
        if b"\x00" in start:
            return InputError("not a text file (NUL bytes)", self._path, line)
        try:
            start.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(start) - 4:  # not just a character cut at the end
                return InputError("not a text file (cannot decode as UTF-8)", self._path, line)
        return InputError(
            f"a line longer than {MAX_LINE_BYTES} bytes: not a trace", self._path, line
        )

    def readline(self) -> bytes | None:
        """The next line without its end, or None at the end of the file."""
        while True:
            end = self._buf.find(b"\n", self._pos)
            if end >= 0:
                if end - self._pos > MAX_LINE_BYTES:
                    raise self._too_long(self.line_no + 1)
                line = self._buf[self._pos : end]
                self._pos = end + 1
                self.line_no += 1
                return line
            if len(self._buf) - self._pos > MAX_LINE_BYTES:
                raise self._too_long(self.line_no + 1)
            if self._eof:
                if self._pos == len(self._buf):
                    return None
                line = self._buf[self._pos :]
                self._buf, self._pos = b"", 0
                self.line_no += 1
                return line
            self._fill()

    def unread(self, line: bytes) -> None:
        """Put back the line readline just returned."""
        self._buf = line + b"\n" + self._buf[self._pos :]
        self._pos = 0
        self.line_no -= 1

    def data_block(self) -> tuple[bytes, int] | None:
        """The next whole lines (about a block, each ending in LF) and the 1-based number
        of the first; None at the end of the file."""
        while True:
            end = self._buf.rfind(b"\n", self._pos)
            if end >= 0:
                block = self._buf[self._pos : end + 1]
                self._buf, self._pos = self._buf[end + 1 :], 0
                first = self.line_no + 1
                self.line_no += block.count(b"\n")
                return block, first
            if len(self._buf) - self._pos > MAX_LINE_BYTES:
                raise self._too_long(self.line_no + 1)
            if self._eof:
                if self._pos == len(self._buf):
                    return None
                block = self._buf[self._pos :] + b"\n"
                self._buf, self._pos = b"", 0
                self.line_no += 1
                return block, self.line_no
            self._fill()


def _decode(path: Path, raw: bytes, line: int) -> str:
    if b"\x00" in raw:
        raise InputError("not a text file (NUL bytes)", path, line)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("not a text file (cannot decode as UTF-8)", path, line) from None


def _read_head(path: Path, lines: _LineReader) -> _Head:
    """Parse the '# key: value' lines and the column header (or the first raw row)."""
    meta: dict[str, str] = {}
    in_meta = True
    while True:
        raw = lines.readline()
        if raw is None:
            raise InputError("no header line (expected 't,ax,ay,az[,gx,gy,gz]')", path, None)
        text = _decode(path, raw, lines.line_no)
        if lines.line_no == 1:
            text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
        stripped = text.strip()
        if lines.line_no > MAX_HEADER_LINES:
            raise InputError(
                f"no column header in the first {MAX_HEADER_LINES} lines: not a trace",
                path,
                lines.line_no,
            )
        if in_meta and stripped.startswith("#"):
            body = stripped[1:].strip()
            if ":" in body:
                key, value = body.split(":", 1)
                key, value = key.strip().lower(), value.strip()
                _check_meta(path, lines.line_no, key, value)
                meta[key] = value
            continue
        in_meta = False  # metadata comes first; a blank line ends it
        if stripped:
            break
    line = lines.line_no
    if (stripped[0].isdigit() or stripped[0] in "+-.") and "t" not in stripped.split(",")[0]:
        fields = [c.strip() for c in stripped.split(",")]
        if fields and fields[-1] == "":
            fields = fields[:-1]
        if len(fields) != len(RAW_COLUMNS):
            raise InputError(
                f"no header, and {len(fields)} fields is not the raw LSM9DS0 format "
                "(t_ms + 9 int16 values); a trace needs the header 't,ax,ay,az[,gx,gy,gz]'",
                path,
                line,
            )
        lines.unread(raw)  # the first raw row is data
        return _Head({**meta, "imu": RAW_IMU, "format": RAW_FORMAT}, RAW_COLUMNS, True, line)
    columns = tuple(c.strip() for c in stripped.split(","))
    if columns not in (TRACE_COLUMNS_GYRO, TRACE_COLUMNS_ACCEL):
        raise InputError(
            f"wrong header {_show(stripped)} (expected 't,ax,ay,az,gx,gy,gz' or 't,ax,ay,az')",
            path,
            line,
        )
    return _Head(meta, columns, False, line)


def _check_meta(path: Path, line: int, key: str, value: str) -> None:
    if key == "sample_rate_hz":
        try:
            rate = float(value)
        except ValueError:
            rate = math.nan
        if not (math.isfinite(rate) and rate > 0):
            raise InputError(f"bad sample_rate_hz {value!r} (a positive number)", path, line)
    elif key == "start_utc":
        try:
            _parse_utc(value)
        except ValueError:
            raise InputError(
                f"bad start_utc {value!r} (ISO-8601, e.g. 2026-01-05T22:30:00Z)", path, line
            ) from None


def _parse_utc(value: str) -> datetime:
    """ISO-8601 to an aware UTC datetime; a time without offset is taken as UTC."""
    stamp = datetime.fromisoformat(value.strip())
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


def _show(text: str) -> str:
    """A cell or line quoted for a one-line message (cut when long)."""
    if len(text) > _SHOW_CHARS:
        return repr(text[:_SHOW_CHARS]) + "..."
    return repr(text)


class _RowParser:
    """Parses blocks of rows with numpy's C parser; only when that fails, or the values
    fail a check, is the block scanned line by line to name the first bad line. Carries
    the last time across blocks, so a block boundary changes nothing."""

    def __init__(self, path: Path, head: _Head) -> None:
        self.path = path
        self.columns = head.columns
        self.raw = head.raw
        self.count = 0  # rows so far
        self.last_t = -math.inf

    def parse(self, block: bytes, first_line: int) -> np.ndarray:
        """The rows of `block` (whole lines, each ending in LF) as a float64 table."""
        data = self._fast(block)
        if data is None:
            data = self._scan(block, first_line)
        if len(data):
            self.last_t = float(data[-1, 0])
            self.count += len(data)
        return data

    def _fast(self, block: bytes) -> np.ndarray | None:
        ncols = len(self.columns)
        if not block.isascii() or b"\x00" in block:
            return None
        ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == ord("\n"))
        lengths = np.diff(ends, prepend=-1) - 1
        if int(lengths.max()) > MAX_LINE_BYTES:
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "input contained no data": blank lines
                data = np.loadtxt(
                    io.BytesIO(block),
                    delimiter=",",
                    comments=None,
                    usecols=range(ncols) if self.raw else None,
                    dtype=np.float64,
                    ndmin=2,
                )
        except ValueError:
            return None
        if data.shape[0] == 0:
            return np.empty((0, ncols))
        if data.shape[1] != ncols:  # one row of the wrong width parses "fine"
            return None
        if self.raw and not _raw_widths_ok(block, ends, lengths):
            return None
        t = data[:, 0]
        if not (np.isfinite(data).all() and t[0] > self.last_t and (np.diff(t) > 0).all()):
            return None
        if self.raw and not _raw_counts_ok(data):
            return None
        return data

    def _scan(self, block: bytes, first_line: int) -> np.ndarray:
        """Walk the lines, raise InputError at the first bad one, else return the rows."""
        path, columns, ncols = self.path, self.columns, len(self.columns)
        previous_t = self.last_t
        rows: list[list[float]] = []
        for k, raw in enumerate(block.split(b"\n")[:-1]):
            line_no = first_line + k
            if len(raw) > MAX_LINE_BYTES:
                raise InputError(
                    f"a line longer than {MAX_LINE_BYTES} bytes: not a trace", path, line_no
                )
            text = _decode(path, raw, line_no).strip()
            if not text:
                continue
            cells = [c.strip() for c in text.split(",")]
            if self.raw and cells[-1] == "":
                cells = cells[:-1]  # the raw format's trailing comma
            if len(cells) != ncols:
                raise InputError(f"expected {ncols} columns, found {len(cells)}", path, line_no)
            values = []
            for name, cell in zip(columns, cells, strict=True):
                try:
                    value = float(cell)
                except ValueError:
                    raise InputError(
                        f"non-numeric value {_show(cell)} in column {name}", path, line_no
                    ) from None
                if not math.isfinite(value):
                    raise InputError(
                        f"value {_show(cell)} in column {name} is not finite", path, line_no
                    )
                if self.raw and not _raw_value_ok(name, value):
                    raise InputError(
                        f"value {_show(cell)} in column {name} is not a raw int16 count "
                        "(raw LSM9DS0 format)",
                        path,
                        line_no,
                    )
                values.append(value)
            if values[0] <= previous_t:
                raise InputError(
                    f"time goes backwards or repeats ({columns[0]} = {cells[0]} "
                    f"after {previous_t:g})",
                    path,
                    line_no,
                )
            previous_t = values[0]
            rows.append(values)
        return np.array(rows, dtype=np.float64).reshape(-1, ncols)


def _raw_widths_ok(block: bytes, ends: np.ndarray, lengths: np.ndarray) -> bool:
    """Every non-blank raw row has 10 fields, with or without the trailing comma
    (numpy reads only the first 10, so it does not see an 11th)."""
    commas = np.cumsum(np.frombuffer(block, dtype=np.uint8) == ord(","))[ends]
    per_line = np.diff(commas, prepend=0)[lengths > 0]
    n = len(RAW_COLUMNS)
    return bool(((per_line == n - 1) | (per_line == n)).all())


def _raw_counts_ok(data: np.ndarray) -> bool:
    counts = data[:, 1:]
    return bool(
        (data == np.rint(data)).all()
        and (counts >= _INT16_MIN).all()
        and (counts <= _INT16_MAX).all()
    )


def _raw_value_ok(name: str, value: float) -> bool:
    if value != round(value):
        return False
    return name == RAW_COLUMNS[0] or _INT16_MIN <= value <= _INT16_MAX


# ---------------------------------------------------------------- sample rate

# Intervals are counted in whole microseconds, in a fixed table up to this many (a rate
# of 3.8 Hz, below any the detector takes): the median interval of a trace of any
# length, the same whether the samples come at once or in blocks.
RATE_TABLE_US = 1 << 18


def intervals_us(t_s: np.ndarray, previous_t: float | None = None) -> np.ndarray:
    """Intervals between timestamps (and from `previous_t`) in whole microseconds, >= 1."""
    t = np.asarray(t_s, dtype=np.float64)
    gaps = np.diff(t) if previous_t is None else np.diff(t, prepend=previous_t)
    return np.maximum(np.rint(gaps * 1e6), 1).astype(np.int64)


def median_rate_hz(intervals: np.ndarray) -> float:
    """1 / median interval in Hz (0.0 when there are none or it is over RATE_TABLE_US)."""
    n = len(intervals)
    if n == 0:
        return 0.0
    lo, hi = (n - 1) // 2, n // 2
    part = np.partition(intervals, (lo, hi))
    return _rate_from_middles(int(part[lo]), int(part[hi]))


def _rate_from_middles(lo_us: int, hi_us: int) -> float:
    if hi_us >= RATE_TABLE_US:
        return 0.0
    return 1e6 / ((lo_us + hi_us) / 2)


class IntervalCounter:
    """The median sample interval of timestamps that come in blocks, in fixed memory;
    `rate_hz()` equals median_rate_hz over all the intervals at once."""

    def __init__(self) -> None:
        self._table = np.zeros(RATE_TABLE_US, dtype=np.int64)
        self._over = 0
        self._last: float | None = None
        self.count = 0

    def add(self, t_s: np.ndarray) -> None:
        """Count the intervals of the next timestamps (from the last ones added)."""
        if len(t_s) == 0:
            return
        us = intervals_us(t_s, self._last)
        self._last = float(t_s[-1])
        inside = us[us < RATE_TABLE_US]
        self._over += len(us) - len(inside)
        self.count += len(us)
        if len(inside) < 4096:
            np.add.at(self._table, inside, 1)
        else:
            self._table += np.bincount(inside, minlength=RATE_TABLE_US)

    def rate_hz(self) -> float:
        n = self.count
        if n == 0:
            return 0.0
        cumulative = np.cumsum(self._table)
        lo, hi = np.searchsorted(cumulative, [(n - 1) // 2, n // 2], side="right")
        return _rate_from_middles(int(lo), int(hi))


# ---------------------------------------------------------------- writing traces


def write_trace(path: str | Path, trace: Trace) -> None:
    """Write a trace CSV atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    meta = dict(trace.meta)
    meta.pop("format", None)  # what we write is always the legsense trace CSV
    head = "".join(f"# {key}: {value}\n" for key, value in meta.items())
    columns = TRACE_COLUMNS_GYRO if trace.gyr_dps is not None else TRACE_COLUMNS_ACCEL
    head += ",".join(columns) + "\n"
    parts = [np.asarray(trace.t_s, dtype=np.float64)[:, None], trace.acc_g]
    if trace.gyr_dps is not None:
        parts.append(trace.gyr_dps)
    table = np.hstack([np.asarray(p, dtype=np.float64) for p in parts])
    _atomic_write(path, head.encode("utf-8") + format_fixed(table, _DECIMALS))


def format_fixed(table: np.ndarray, decimals: int) -> bytes:
    """Format a 2-D float table as CSV rows with a fixed number of decimals, vectorised.

    Equivalent to '%.{decimals}f' per cell (no '-0.000000'), but builds the bytes with
    numpy: one character matrix, then the padding bytes are dropped.
    """
    table = np.asarray(table, dtype=np.float64)
    if not np.isfinite(table).all():
        raise ValueError("cannot write NaN or infinite values to a trace")
    # Chunks keep the character matrices in cache; widths are per chunk, which is fine.
    chunk = 50_000
    return b"".join(
        _format_chunk(table[i : i + chunk], decimals) for i in range(0, len(table), chunk)
    )


def _format_chunk(table: np.ndarray, decimals: int) -> bytes:
    n, ncols = table.shape
    scale = 10**decimals
    pieces = []
    for col in range(ncols):
        v = table[:, col]
        m = np.rint(np.abs(v) * scale).astype(np.int64)
        negative = (v < 0) & (m != 0)
        whole, frac = np.divmod(m, scale)
        width = max(1, len(str(int(whole.max()))))
        cells = np.zeros((n, 1 + width + 1 + decimals + 1), dtype=np.uint8)
        cells[:, 0] = np.where(negative, ord("-"), 0)
        digits = _digit_block(whole, width)
        n_digits = np.ones(n, dtype=np.int64)
        for k in range(1, width):
            n_digits += whole >= 10**k
        digits[np.arange(width)[None, :] < (width - n_digits)[:, None]] = 0  # no leading 0s
        cells[:, 1 : 1 + width] = digits
        cells[:, 1 + width] = ord(".")
        cells[:, 2 + width : 2 + width + decimals] = _digit_block(frac, decimals)
        cells[:, -1] = ord(",") if col < ncols - 1 else ord("\n")
        pieces.append(cells)
    matrix = np.hstack(pieces).ravel()
    return matrix[matrix != 0].tobytes()


# "000" .. "999" as ASCII bytes: digits are looked up three at a time.
_THREE_DIGITS = np.array([list(f"{i:03d}".encode()) for i in range(1000)], dtype=np.uint8)


def _digit_block(values: np.ndarray, count: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative integers as an (n, count) ASCII array."""
    out = np.empty((len(values), count), dtype=np.uint8)
    rest = values
    pos = count
    while pos > 0:
        k = min(3, pos)
        rest, group = np.divmod(rest, 10**k)
        out[:, pos - k : pos] = _THREE_DIGITS[group, 3 - k :]
        pos -= k
    return out


def _atomic_write(path: Path, payload: bytes) -> None:
    try:
        write_bytes_atomically(path, payload)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", path) from None


# ---------------------------------------------------------------- labels


def labels_path_for(trace_path: str | Path) -> Path:
    """night.csv -> night.labels.csv (same folder)."""
    trace_path = Path(trace_path)
    stem = trace_path.name[: -len(trace_path.suffix)] if trace_path.suffix else trace_path.name
    return trace_path.with_name(stem + ".labels.csv")


def _read_lines(path: Path) -> list[str]:
    _check_file(path, MAX_IN_MEMORY_BYTES, "more than a labels file can be")
    try:
        with open(path, encoding="utf-8", newline=None) as fh:
            return fh.read().split("\n")
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except UnicodeDecodeError:
        raise InputError("not a text file (cannot decode as UTF-8)", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None


def _read_meta(path: Path, lines: list[str]) -> tuple[dict[str, str], int]:
    """Parse leading '# key: value' lines; return the metadata and the next line index."""
    meta: dict[str, str] = {}
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped.startswith("#"):
            break
        body = stripped[1:].strip()
        if ":" in body:
            key, value = body.split(":", 1)
            key, value = key.strip().lower(), value.strip()
            _check_meta(path, i + 1, key, value)
            meta[key] = value
        i += 1
    return meta, i


def read_labels(path: str | Path) -> Labels:
    """Read NAME.labels.csv: onset_s, offset_s (required) and any extra columns.

    Extra columns that are all numeric become float arrays, the others string arrays.
    """
    path = Path(path)
    lines = _read_lines(path)
    _, first = _read_meta(path, lines)
    rows = list(csv.reader(lines[first:]))
    while rows and not rows[0]:
        rows.pop(0)
        first += 1
    if not rows:
        raise InputError("no header line (expected 'onset_s,offset_s,...')", path, None)
    header = [c.strip() for c in rows[0]]
    missing = [c for c in LABEL_COLUMNS if c not in header]
    if missing:
        raise InputError(
            f"wrong header {','.join(header)!r}: missing {', '.join(missing)}", path, first + 1
        )
    columns: dict[str, list[str]] = {name: [] for name in header}
    onset: list[float] = []
    offset: list[float] = []
    for k, row in enumerate(rows[1:], start=1):
        line_no = first + 1 + k
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise InputError(f"expected {len(header)} columns, found {len(row)}", path, line_no)
        cells = dict(zip(header, (c.strip() for c in row), strict=True))
        pair = []
        for name in LABEL_COLUMNS:
            try:
                value = float(cells[name])
            except ValueError:
                raise InputError(
                    f"non-numeric value {cells[name]!r} in column {name}", path, line_no
                ) from None
            if not math.isfinite(value):
                raise InputError(f"value in column {name} is not finite", path, line_no)
            pair.append(value)
        if pair[1] < pair[0]:
            raise InputError("offset_s is before onset_s", path, line_no)
        onset.append(pair[0])
        offset.append(pair[1])
        for name in header:
            columns[name].append(cells[name])
    extra = {
        name: _column_array(values) for name, values in columns.items() if name not in LABEL_COLUMNS
    }
    return Labels(
        onset_s=np.asarray(onset, dtype=np.float64),
        offset_s=np.asarray(offset, dtype=np.float64),
        extra=extra,
        path=path,
    )


def _column_array(values: list[str]) -> np.ndarray:
    try:
        return np.asarray([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return np.asarray(values, dtype=str)


def write_labels(
    path: str | Path,
    onset_s: np.ndarray,
    offset_s: np.ndarray,
    extra: dict[str, np.ndarray] | None = None,
) -> None:
    """Write NAME.labels.csv atomically: onset_s, offset_s, then the extra columns."""
    path = Path(path)
    onset_s = np.asarray(onset_s, dtype=np.float64)
    offset_s = np.asarray(offset_s, dtype=np.float64)
    extra = extra or {}
    n = len(onset_s)
    if len(offset_s) != n or any(len(v) != n for v in extra.values()):
        raise ValueError("labels: all columns must have the same length")
    header = [*LABEL_COLUMNS, *extra]
    text_columns = [
        [f"{x:.{_DECIMALS}f}" for x in onset_s],
        [f"{x:.{_DECIMALS}f}" for x in offset_s],
        *(_format_column(np.asarray(v)) for v in extra.values()),
    ]
    out = [",".join(header)]
    out.extend(",".join(_csv_cell(c) for c in row) for row in zip(*text_columns, strict=True))
    _atomic_write(path, ("\n".join(out) + "\n").encode("utf-8"))


def _format_column(values: np.ndarray) -> list[str]:
    if values.dtype.kind in "iub":
        return [str(int(v)) for v in values]
    if values.dtype.kind == "f":
        return [f"{v:.{_DECIMALS}f}".rstrip("0").rstrip(".") for v in values]
    return [str(v) for v in values]


def _csv_cell(text: str) -> str:
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


# ---------------------------------------------------------------- counts


def to_counts(trace: Trace) -> CountsTrace:
    """Quantise a trace to the integer counts of its IMU (DEFAULT_IMU when unnamed).

    counts = round(value in micro-units * den / num), clipped to int16; t_ms = round(t_s*1000).
    """
    imu = trace.imu or DEFAULT_IMU
    accel_scale, gyro_scale = imu_scales(imu, trace.path)
    t_ms, acc, gyr = samples_to_counts(
        trace.t_s, trace.acc_g, trace.gyr_dps, accel_scale, gyro_scale
    )
    return CountsTrace(
        t_ms=t_ms,
        acc=acc,
        gyr=gyr,
        accel_scale=accel_scale,
        gyro_scale=gyro_scale,
        imu=imu,
    )


def imu_scales(imu: str, path: Path | str | None = None) -> tuple[tuple[int, int], tuple[int, int]]:
    """(accel, gyro) sensitivities of a named IMU; InputError naming the file if unknown."""
    try:
        accel, gyro = scales(imu)
    except ValueError as exc:
        raise InputError(f"imu: {exc}", path) from None
    return accel, gyro


def samples_to_counts(
    t_s: np.ndarray,
    acc_g: np.ndarray,
    gyr_dps: np.ndarray | None,
    accel_scale: tuple[int, int],
    gyro_scale: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(t_ms int64, acc int16 (n, 3), gyr int16 (n, 3) or None): sample by sample, so a
    trace quantised in blocks gives the very counts it gives at once."""
    return (
        np.rint(np.asarray(t_s) * 1000.0).astype(np.int64),
        _quantise(acc_g, accel_scale),
        None if gyr_dps is None else _quantise(gyr_dps, gyro_scale),
    )


def _quantise(values: np.ndarray, scale: tuple[int, int]) -> np.ndarray:
    num, den = scale
    counts = np.rint(np.asarray(values, dtype=np.float64) * 1e6 * den / num)
    return np.clip(counts, -32768, 32767).astype(np.int16)


def from_counts(counts: np.ndarray, scale: tuple[int, int]) -> np.ndarray:
    """Counts to physical units (g or deg/s): the exact inverse of to_counts on the grid."""
    num, den = scale
    return np.asarray(counts, dtype=np.float64) * num / den / 1e6
