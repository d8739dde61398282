"""Event matching for detection accuracy: detected LMs against labelled movements."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MatchCounts:
    true_events: int
    detected: int
    matched: int

    @property
    def sensitivity(self) -> float:
        return self.matched / self.true_events if self.true_events else 1.0

    @property
    def ppv(self) -> float:
        return self.matched / self.detected if self.detected else 1.0

    @property
    def f1(self) -> float:
        s, p = self.sensitivity, self.ppv
        return 2 * s * p / (s + p) if s + p else 0.0


def match_by_overlap(
    true_on: np.ndarray, true_off: np.ndarray, det_on: np.ndarray, det_off: np.ndarray
) -> MatchCounts:
    """One-to-one matching: a detection matches a true event when their intervals overlap.

    Both lists sorted by onset; a sweep pairs each true event with the first unused
    overlapping detection, so a detection that swallows two true events counts once.
    """
    order_t = np.argsort(true_on)
    order_d = np.argsort(det_on)
    t_on, t_off = true_on[order_t], true_off[order_t]
    d_on, d_off = det_on[order_d], det_off[order_d]
    used = np.zeros(len(d_on), dtype=bool)
    matched = 0
    j0 = 0
    for i in range(len(t_on)):
        while j0 < len(d_on) and d_off[j0] < t_on[i]:
            j0 += 1
        j = j0
        while j < len(d_on) and d_on[j] <= t_off[i]:
            if not used[j] and d_off[j] >= t_on[i]:
                used[j] = True
                matched += 1
                break
            j += 1
    return MatchCounts(true_events=len(t_on), detected=len(d_on), matched=matched)
