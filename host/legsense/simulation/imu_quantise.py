"""Physical values to IMU counts, with the sensitivities the firmware uses.

One LSB is num/den micro-units (legsense_core.imu_scales); a value becomes the nearest
count (halves away from zero, as an ideal ADC would) and saturates at int16.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def to_counts(value: float, scale: tuple[int, int]) -> int:
    """Quantise one value (g or dps) with a (num, den) scale; saturate to int16."""
    num, den = scale
    micro = round(value * 1_000_000)
    mag = (abs(micro) * den * 2 + num) // (2 * num)
    counts = mag if micro >= 0 else -mag
    return max(-32768, min(32767, counts))


def axes_to_counts(values: Sequence[float], scale: tuple[int, int]) -> tuple[int, int, int]:
    """Quantise an (x, y, z) triple."""
    x, y, z = values
    return to_counts(x, scale), to_counts(y, scale), to_counts(z, scale)


def rows_to_counts(rows, scale: tuple[int, int]) -> list[tuple[int, int, int]]:
    """Quantise many (x, y, z) rows at once: the same numbers as axes_to_counts per row
    (round-half-even to micro-units, then halves away from zero in counts)."""
    num, den = scale
    micro = np.round(np.asarray(rows, dtype=float) * 1_000_000).astype(np.int64)
    mag = (np.abs(micro) * den * 2 + num) // (2 * num)
    counts = np.clip(np.where(micro >= 0, mag, -mag), -32768, 32767)
    return [tuple(r) for r in counts.tolist()]
