"""Raw samples of a validation night (T_RAW records) as a legsense trace.

The device logs every FIFO batch it fed the detector (config "raw_samples") in rows laid
out by legsense_core.records (pack_raw_rows / raw_row_format: the one definition), in a
zlib container. Turned back into a trace in g and deg/s on the IMU's exact grid,
`legsense analyze raw.csv` re-runs the detector on exactly what the device saw and gives
the device's events again.

write_raw_csv streams a stored night.bin to raw.csv a batch of chunks at a time, so a
night of tens of MB of samples never sits in memory; each chunk inflates to at most the
bytes its sample count allows (a deflate bomb from a hostile device stops there).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from legsense_core import records

from legsense.errors import InputError
from legsense.night import NightInfo
from legsense.record_scan import RecordScanner
from legsense.trace import TRACE_COLUMNS_ACCEL, TRACE_COLUMNS_GYRO, Trace, format_fixed, from_counts

RAW_DECIMALS = 6  # as write_trace writes a trace (a test checks the bytes are the same)
BATCH_SAMPLES = 20_000  # samples formatted and written at a time (about 10 MB peak)
_MAX_ROW = 14  # bytes per sample with the gyro (records.RAW_ROW_GYRO)


def _rows(k: int, chunk: tuple, path: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """(t_ms, counts) of one T_RAW payload (t_ms, n_samples, codec, data)."""
    t_ms, n, codec, data = chunk
    try:
        if codec == records.RAW_DEFLATE:
            inflater = zlib.decompressobj()
            plain = inflater.decompress(bytes(data), n * _MAX_ROW + 1)
        elif codec == records.RAW_PLAIN:
            plain = bytes(data)
        else:
            raise InputError(f"raw chunk {k}: unknown codec {codec}", path)
    except zlib.error as exc:
        raise InputError(f"raw chunk {k} does not decompress: {exc}", path) from None
    fmt = records.raw_row_format(len(plain), n)
    if fmt is None:
        raise InputError(f"raw chunk {k}: {len(plain)} bytes for {n} samples", path)
    width = len(plain) // n // 2  # int16 fields per row: dt, then the axes
    table = np.frombuffer(plain, dtype="<i2").reshape(n, width)
    dt = table[:, 0].view(np.uint16).astype(np.int64)
    return t_ms + dt, table[:, 1:].astype(np.int64)


def _trace(t_ms: np.ndarray, counts: np.ndarray, scales: tuple, meta: dict) -> Trace:
    accel_scale, gyro_scale = scales
    return Trace(
        t_s=t_ms / 1000.0,
        acc_g=from_counts(counts[:, 0:3], accel_scale),
        gyr_dps=from_counts(counts[:, 3:6], gyro_scale) if counts.shape[1] == 6 else None,
        meta=meta,
    )


def _meta(header_imu: str, info: NightInfo) -> dict[str, str]:
    meta = {
        "sample_rate_hz": f"{info.sample_rate_hz:g}",
        "imu": header_imu,
        "source": "raw samples logged by the device",
    }
    if info.start_utc is not None:
        meta["start_utc"] = info.start_utc.isoformat()
    if info.leg:
        meta["leg"] = info.leg
    return meta


def raw_trace(
    chunks: list[tuple], header_imu: str, scales: tuple, info: NightInfo, path: Path | None = None
) -> Trace | None:
    """Trace from T_RAW payloads (t_ms, n_samples, codec, data); None when there are none.

    `scales` is (accel_scale, gyro_scale) from the night header. Raises InputError on a
    chunk that does not decode.
    """
    if not chunks:
        return None
    t_parts: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    axes = 0
    for k, chunk in enumerate(chunks):
        t, c = _rows(k, chunk, path)
        if axes and c.shape[1] != axes:
            raise InputError(f"raw chunk {k}: rows change between gyro and no gyro", path)
        axes = c.shape[1]
        t_parts.append(t)
        rows.append(c)
    return _trace(np.concatenate(t_parts), np.concatenate(rows), scales, _meta(header_imu, info))


class _TraceCsv:
    """raw.csv written a batch at a time: the header of write_trace, then rows; opened
    at the first batch, so a night without samples leaves no file."""

    def __init__(self, out: Path, meta: dict[str, str]) -> None:
        self.out = out
        self.meta = meta
        self.f = None
        self.samples = 0

    def write(self, trace: Trace) -> None:
        if self.f is None:
            self.f = open(self.out, "wb")  # noqa: SIM115 (closed by close())
            columns = TRACE_COLUMNS_GYRO if trace.gyr_dps is not None else TRACE_COLUMNS_ACCEL
            head = "".join(f"# {key}: {value}\n" for key, value in self.meta.items())
            self.f.write((head + ",".join(columns) + "\n").encode("utf-8"))
        parts = [trace.t_s[:, None], trace.acc_g]
        if trace.gyr_dps is not None:
            parts.append(trace.gyr_dps)
        self.f.write(format_fixed(np.hstack(parts), RAW_DECIMALS))
        self.samples += len(trace.t_s)

    def close(self) -> None:
        if self.f is not None:
            self.f.close()


def write_raw_csv(
    night_bin: Path,
    out: Path,
    header_imu: str,
    scales: tuple,
    info: NightInfo,
    problem: Callable[[str], None] | None = None,
) -> int:
    """Stream the raw chunks of night.bin to a trace CSV at `out`; returns the samples.

    Writes nothing and returns 0 when the night has no raw chunks. A chunk that does not
    decode, or whose rows change width, is skipped and named through `problem`.
    """
    meta = _meta(header_imu, info)
    sink = _TraceCsv(out, meta)
    scanner = RecordScanner()
    t_batch: list[np.ndarray] = []
    c_batch: list[np.ndarray] = []
    axes = 0
    skipped: list[str] = []
    k = -1

    def flush() -> None:
        if t_batch:
            sink.write(_trace(np.concatenate(t_batch), np.concatenate(c_batch), scales, meta))
            t_batch.clear()
            c_batch.clear()

    try:
        with open(night_bin, "rb") as src:
            ended = False
            while not ended:
                block = src.read(1 << 16)
                if not block:
                    break
                scanner.feed(block)
                for off, rtype, n in scanner.records():
                    if rtype == records.T_NIGHT and off > 0:
                        ended = True  # another night appended behind this one: not ours
                        break
                    if rtype != records.T_RAW:
                        continue
                    k += 1
                    p = scanner.payload(off, rtype, n)
                    if isinstance(p, int):
                        skipped.append(f"chunk {k}: malformed")
                        continue
                    try:
                        t, c = _rows(k, p, night_bin)
                    except InputError as exc:
                        skipped.append(exc.message)
                        continue
                    if axes and c.shape[1] != axes:
                        skipped.append(f"raw chunk {k}: rows change between gyro and no gyro")
                        continue
                    axes = c.shape[1]
                    t_batch.append(t)
                    c_batch.append(c)
                    if sum(len(x) for x in t_batch) >= BATCH_SAMPLES:
                        flush()
                scanner.drop(scanner.pos)
        flush()
    finally:
        sink.close()
    if skipped and problem is not None:
        more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
        problem(f"{len(skipped)} raw chunks skipped: " + "; ".join(skipped[:3]) + more)
    return sink.samples
