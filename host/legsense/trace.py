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
counts of an LSM9DS0) is recognised by read_trace and scaled to g and deg/s.

Reading uses numpy's C parser; only when it fails (or the parsed values fail a check)
is the file scanned line by line, to name the first bad line.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from legsense_core.imu_scales import DEFAULT_IMU, scales

from legsense.errors import InputError

TRACE_COLUMNS_GYRO = ("t", "ax", "ay", "az", "gx", "gy", "gz")
TRACE_COLUMNS_ACCEL = TRACE_COLUMNS_GYRO[:4]
LABEL_COLUMNS = ("onset_s", "offset_s")

# The raw logger format of ../shared/traces: LSM9DS0 at +/-2 g and +/-245 dps.
RAW_IMU = "lsm9ds0"
RAW_FORMAT = "lsm9ds0-raw"
_RAW_FIELDS = 10  # t_ms, 3 accel, 3 gyro, 3 magnetometer (ignored)

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
        """The declared sample rate, else 1 / median interval (0.0 if under 2 samples)."""
        if "sample_rate_hz" in self.meta:
            return float(self.meta["sample_rate_hz"])
        if len(self.t_s) < 2:
            return 0.0
        return float(1.0 / np.median(np.diff(self.t_s)))

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


def read_trace(path: str | Path) -> Trace:
    """Read a legsense trace CSV or a raw LSM9DS0 log (detected from the first line).

    Raises InputError naming the file and the 1-based line of the first problem.
    """
    path = Path(path)
    lines = _read_lines(path)
    meta, first = _read_meta(path, lines)
    while first < len(lines) and not lines[first].strip():
        first += 1
    if first >= len(lines):
        raise InputError("no header line (expected 't,ax,ay,az[,gx,gy,gz]')", path, None)
    head = lines[first].strip()
    if head and (head[0].isdigit() or head[0] in "+-.") and "t" not in head.split(",")[0]:
        return _read_raw(path, lines, first, meta)
    columns = tuple(c.strip() for c in head.split(","))
    if columns not in (TRACE_COLUMNS_GYRO, TRACE_COLUMNS_ACCEL):
        raise InputError(
            f"wrong header {head!r} (expected 't,ax,ay,az,gx,gy,gz' or 't,ax,ay,az')",
            path,
            first + 1,
        )
    data = _parse_numeric(path, lines, first + 1, columns, len(columns))
    trace = Trace(
        t_s=np.ascontiguousarray(data[:, 0]),
        acc_g=np.ascontiguousarray(data[:, 1:4]),
        gyr_dps=np.ascontiguousarray(data[:, 4:7]) if len(columns) == 7 else None,
        meta=meta,
        path=path,
    )
    return trace


def _read_lines(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8", newline=None) as fh:
            return fh.read().split("\n")
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a trace file", path) from None
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


def _parse_numeric(
    path: Path, lines: list[str], start: int, columns: tuple[str, ...], ncols: int
) -> np.ndarray:
    """Parse lines[start:] as ncols numbers per row (fast path, slow scan on failure)."""
    body = lines[start:]
    if not any(line.strip() for line in body):
        raise InputError("empty trace (no data rows after the header)", path, start)
    try:
        data = np.loadtxt(
            body,
            delimiter=",",
            comments=None,
            usecols=range(ncols) if len(columns) > ncols else None,
            dtype=np.float64,
            ndmin=2,
        )
    except ValueError:
        data = None
    if (
        data is not None
        and data.shape[0] > 0
        and data.shape[1] == ncols  # one row of the wrong width parses "fine"
        and _same_width(body, len(columns), ncols)
    ):
        ok = bool(np.isfinite(data).all()) and bool((np.diff(data[:, 0]) > 0).all())
        if ok:
            return data
    _scan_for_error(path, lines, start, columns, ncols)
    raise InputError("could not parse the trace", path, None)  # scan found nothing: odd


def _same_width(body: list[str], width: int, ncols: int) -> bool:
    """loadtxt checks row widths itself, except for columns hidden by usecols (raw format)."""
    if width == ncols:
        return True
    allowed = (ncols - 1, width - 1)
    return all(line.count(",") in allowed for line in body if line.strip())


def _scan_for_error(
    path: Path, lines: list[str], start: int, columns: tuple[str, ...], ncols: int
) -> None:
    """Walk the data lines and raise InputError at the first bad one."""
    previous_t = -math.inf
    rows = 0
    for index in range(start, len(lines)):
        line_no = index + 1
        text = lines[index].strip()
        if not text:
            continue
        cells = [c.strip() for c in text.split(",")]
        if len(columns) > ncols and cells[-1] == "":
            cells = cells[:-1]  # raw format: the trailing comma
        if len(cells) != ncols:
            raise InputError(f"expected {ncols} columns, found {len(cells)}", path, line_no)
        values = []
        for name, cell in zip(columns[:ncols], cells, strict=True):
            try:
                value = float(cell)
            except ValueError:
                raise InputError(
                    f"non-numeric value {cell!r} in column {name}", path, line_no
                ) from None
            if not math.isfinite(value):
                raise InputError(f"value {cell!r} in column {name} is not finite", path, line_no)
            values.append(value)
        if values[0] <= previous_t:
            raise InputError(
                f"time goes backwards or repeats ({columns[0]} = {cells[0]} after {previous_t:g})",
                path,
                line_no,
            )
        previous_t = values[0]
        rows += 1
    if rows == 0:
        raise InputError("empty trace (no data rows after the header)", path, start)


def _read_raw(path: Path, lines: list[str], first: int, meta: dict[str, str]) -> Trace:
    columns = ("t_ms", "ax", "ay", "az", "gx", "gy", "gz", "mx", "my", "mz")
    sample = [c.strip() for c in lines[first].strip().split(",")]
    if sample and sample[-1] == "":
        sample = sample[:-1]
    if len(sample) != _RAW_FIELDS:
        raise InputError(
            f"no header, and {len(sample)} fields is not the raw LSM9DS0 format "
            "(t_ms + 9 int16 values); a trace needs the header 't,ax,ay,az[,gx,gy,gz]'",
            path,
            first + 1,
        )
    raw_columns = (*columns, "")  # the empty trailer after the last comma
    data = _parse_numeric(path, lines, first, raw_columns, _RAW_FIELDS)
    acc_scale, gyr_scale = scales(RAW_IMU)
    meta = {**meta, "imu": RAW_IMU, "format": RAW_FORMAT}
    return Trace(
        t_s=data[:, 0] / 1000.0,
        acc_g=data[:, 1:4] * acc_scale[0] / acc_scale[1] / 1e6,
        gyr_dps=data[:, 4:7] * gyr_scale[0] / gyr_scale[1] / 1e6,
        meta=meta,
        path=path,
    )


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
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        with _suppress_os_error():
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class _suppress_os_error:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        return exc_type is not None and issubclass(exc_type, OSError)


# ---------------------------------------------------------------- labels


def labels_path_for(trace_path: str | Path) -> Path:
    """night.csv -> night.labels.csv (same folder)."""
    trace_path = Path(trace_path)
    stem = trace_path.name[: -len(trace_path.suffix)] if trace_path.suffix else trace_path.name
    return trace_path.with_name(stem + ".labels.csv")


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
    try:
        accel_scale, gyro_scale = scales(imu)
    except ValueError as exc:
        raise InputError(f"imu: {exc}", trace.path) from None
    return CountsTrace(
        t_ms=np.rint(np.asarray(trace.t_s) * 1000.0).astype(np.int64),
        acc=_quantise(trace.acc_g, accel_scale),
        gyr=None if trace.gyr_dps is None else _quantise(trace.gyr_dps, gyro_scale),
        accel_scale=accel_scale,
        gyro_scale=gyro_scale,
        imu=imu,
    )


def _quantise(values: np.ndarray, scale: tuple[int, int]) -> np.ndarray:
    num, den = scale
    counts = np.rint(np.asarray(values, dtype=np.float64) * 1e6 * den / num)
    return np.clip(counts, -32768, 32767).astype(np.int16)


def from_counts(counts: np.ndarray, scale: tuple[int, int]) -> np.ndarray:
    """Counts to physical units (g or deg/s): the exact inverse of to_counts on the grid."""
    num, den = scale
    return np.asarray(counts, dtype=np.float64) * num / den / 1e6
