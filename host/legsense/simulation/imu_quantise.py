"""Physical values to IMU counts, with the sensitivities the firmware uses.

One LSB is num/den micro-units (legsense_core.imu_scales); a value becomes the nearest
count (halves away from zero, as an ideal ADC would) and saturates at int16.
"""

from __future__ import annotations

from collections.abc import Sequence


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
