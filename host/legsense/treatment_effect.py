"""Did it help? Nights with a diary tag against nights without, told honestly.

Medians (nights vary a lot and a few wild nights should not decide), the difference of
the medians (with minus without) and its 95 % bootstrap percentile interval: both groups
are resampled with replacement, independently, BOOTSTRAP_RESAMPLES times with a fixed
seed, so the same nights always give the same interval. With fewer than MIN_NIGHTS nights
in either group the interval is not worth reading and the caution says so. Nothing here
is a randomised trial: the caution also says that other things changed too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 4000
BOOTSTRAP_SEED = 14
MIN_NIGHTS = 5  # per group, before a difference is worth reading at all


@dataclass(frozen=True)
class Comparison:
    """The nights with a tag against the nights without it, for one measure."""

    measure: str
    n_with: int
    n_without: int
    median_with: float | None
    median_without: float | None
    difference: float | None  # median with - median without
    ci_low: float | None
    ci_high: float | None
    caution: str

    @property
    def enough(self) -> bool:
        return self.n_with >= MIN_NIGHTS and self.n_without >= MIN_NIGHTS


def _median(x: np.ndarray) -> float | None:
    return float(np.median(x)) if len(x) else None


def bootstrap_difference(
    with_: np.ndarray,
    without: np.ndarray,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """95 % percentile interval of median(with) - median(without) by resampling."""
    rng = np.random.default_rng(seed)
    a = with_[rng.integers(0, len(with_), size=(resamples, len(with_)))]
    b = without[rng.integers(0, len(without), size=(resamples, len(without)))]
    diffs = np.median(a, axis=1) - np.median(b, axis=1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(low), float(high)


def compare(
    measure: str,
    with_values: list[float] | np.ndarray,
    without_values: list[float] | np.ndarray,
    unit: str = "/h",
    lower_is_better: bool = True,
) -> Comparison:
    """Compare one measure (e.g. the PLM index) between nights with and without a tag."""
    a = np.asarray([v for v in with_values if v is not None and math.isfinite(v)], dtype=float)
    b = np.asarray([v for v in without_values if v is not None and math.isfinite(v)], dtype=float)
    med_a, med_b = _median(a), _median(b)
    if not len(a) or not len(b):
        caution = (
            f"Cannot compare: {len(a)} night(s) with it and {len(b)} without. "
            "Record nights both with and without it."
        )
        return Comparison(measure, len(a), len(b), med_a, med_b, None, None, None, caution)
    diff = float(med_a - med_b)  # type: ignore[operator]
    low, high = bootstrap_difference(a, b)
    if len(a) < MIN_NIGHTS or len(b) < MIN_NIGHTS:
        caution = (
            f"Too few nights to tell: {len(a)} with and {len(b)} without. Nights vary a lot; "
            f"record at least {MIN_NIGHTS} of each (better 10 or more) before reading "
            "anything into this difference."
        )
    elif low <= 0 <= high:
        caution = (
            f"No clear difference: the 95 % interval ({low:+.1f} to {high:+.1f}{unit}) "
            "includes zero, so these nights do not show that it changed the "
            f"{measure}. Other things changed too; this is not a trial."
        )
    else:
        better = (high < 0) == lower_is_better
        caution = (
            f"The {measure} was {'lower' if high < 0 else 'higher'} on nights with it "
            f"(median {diff:+.1f}{unit}, 95 % interval {low:+.1f} to {high:+.1f}{unit})"
            f"{': a change for the better' if better else ': a change for the worse'}. "
            "Other things may have changed at the same time; this is not a trial."
        )
    return Comparison(measure, len(a), len(b), med_a, med_b, diff, low, high, caution)
