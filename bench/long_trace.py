"""Long synthetic traces for the benchmarks, written as they are generated.

A night of any length is written hour by hour: each hour is a synthetic night of its own
(`simulate_night`, its own seed, so its own movements, posture and mounting), shifted to
its place and appended to the trace CSV. Memory holds one hour, never the night, so a
24 h trace at 100 Hz (~8.6 million rows, ~0.6 GB) costs the benchmark what one hour does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from legsense.simulation.night_generator import DEFAULT_START_UTC, simulate_night
from legsense.trace import TRACE_COLUMNS_GYRO, format_fixed

PIECE_S = 3600.0  # one generated stretch
_DECIMALS = 6  # what write_trace writes


@dataclass(frozen=True)
class WrittenTrace:
    path: Path
    samples: int
    size_bytes: int


def write_long_trace(
    path: Path, hours: float, rate_hz: float, seed: int = 1, imu: str = "lsm6dsox"
) -> WrittenTrace:
    """Write a legsense trace CSV of `hours` at `rate_hz`, one hour at a time."""
    total_s = hours * 3600.0
    head = (
        f"# sample_rate_hz: {rate_hz:g}\n"
        f"# start_utc: {DEFAULT_START_UTC.isoformat()}\n"
        f"# imu: {imu}\n"
        "# leg: left\n"
        f"# generator: bench/long_trace.py ({hours:g} h, seed {seed})\n"
        + ",".join(TRACE_COLUMNS_GYRO)
        + "\n"
    )
    samples = 0
    with open(path, "wb") as fh:
        fh.write(head.encode())
        start = 0.0
        piece = 0
        while start < total_s - 1e-9:
            length = min(PIECE_S, total_s - start)
            trace, _labels = simulate_night(seed * 1000 + piece, length / 3600.0, rate_hz, imu=imu)
            assert trace.gyr_dps is not None
            last = start + length >= total_s - 1e-9
            # A piece ends with a sample at its length: the next piece's first one.
            keep = np.ones(len(trace.t_s), dtype=bool) if last else trace.t_s < length
            table = np.column_stack(
                [trace.t_s[keep] + start, trace.acc_g[keep], trace.gyr_dps[keep]]
            )
            fh.write(format_fixed(table, _DECIMALS))
            samples += len(table)
            start += length
            piece += 1
        fh.flush()
        os.fsync(fh.fileno())
    return WrittenTrace(path=path, samples=samples, size_bytes=path.stat().st_size)
