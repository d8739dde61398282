"""Raw samples of a validation night (T_RAW records) as a legsense trace.

The device logs every FIFO batch it fed the detector (config "raw_samples") in rows laid
out by legsense_core.records (pack_raw_rows / raw_row_format: the one definition), in a
zlib container. Turned back into a trace
in g and deg/s on the IMU's exact grid, `legsense analyze raw.csv` re-runs the detector
on exactly what the device saw and gives the device's events again.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from legsense_core import records

from legsense.errors import InputError
from legsense.night import NightInfo
from legsense.trace import Trace, from_counts


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
    for k, (t_ms, n, codec, data) in enumerate(chunks):
        try:
            plain = zlib.decompress(bytes(data)) if codec == records.RAW_DEFLATE else bytes(data)
        except zlib.error as exc:
            raise InputError(f"raw chunk {k} does not decompress: {exc}", path) from None
        fmt = records.raw_row_format(len(plain), n)
        if fmt is None:
            raise InputError(f"raw chunk {k}: {len(plain)} bytes for {n} samples", path)
        if axes and len(fmt) - 2 != axes:
            raise InputError(f"raw chunk {k}: rows change between gyro and no gyro", path)
        axes = len(fmt) - 2  # "<H" + one "h" per axis
        table = np.array(list(struct.iter_unpack(fmt, plain)), dtype=np.int64)
        t_parts.append(t_ms + table[:, 0])
        rows.append(table[:, 1:])
    t = np.concatenate(t_parts)
    c = np.concatenate(rows)
    accel_scale, gyro_scale = scales
    meta = {
        "sample_rate_hz": f"{info.sample_rate_hz:g}",
        "imu": header_imu,
        "source": "raw samples logged by the device",
    }
    if info.start_utc is not None:
        meta["start_utc"] = info.start_utc.isoformat()
    if info.leg:
        meta["leg"] = info.leg
    return Trace(
        t_s=t / 1000.0,
        acc_g=from_counts(c[:, 0:3], accel_scale),
        gyr_dps=from_counts(c[:, 3:6], gyro_scale) if axes == 6 else None,
        meta=meta,
    )
