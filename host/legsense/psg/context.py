"""What a polysomnography (PSG) adds to a list of leg movements: the scoring context.

Three things the WASM/IRLSSG 2016 rules use and an ankle sensor cannot know:

- the hypnogram (sleep stage per epoch, usually 30 s): indices per hour of sleep, of
  wake and of each stage (PLMS, PLMW, ...);
- respiratory events (apnea, hypopnea, RERA): leg movements around their end are
  respiratory-related and handled apart;
- arousals: a leg movement with an arousal (PLMS with arousal index).

Times are seconds from the recording start, like the movements they go with. Plain
numpy arrays in small frozen dataclasses, like legsense.night; no I/O here (the readers
are legsense.psg.remlogic and legsense.psg.edf_annotations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Stage codes, AASM names. "" is an epoch that was not scored (movement time, unscored,
# artefact): it counts in time in bed, never in sleep or in wake.
WAKE = "W"
N1 = "N1"
N2 = "N2"
N3 = "N3"
REM = "R"
UNSCORED = ""
STAGES = (WAKE, N1, N2, N3, REM)
SLEEP_STAGES = (N1, N2, N3, REM)
NREM_STAGES = (N1, N2, N3)

# Columns of the per-stage table, in order: time in bed, total sleep time, wake, the
# stages, NREM. Each maps to the stage codes it counts.
STAGE_COLUMNS: dict[str, tuple[str, ...]] = {
    "TIB": (WAKE, N1, N2, N3, REM, UNSCORED),
    "TST": SLEEP_STAGES,
    "W": (WAKE,),
    "N1": (N1,),
    "N2": (N2,),
    "N3": (N3,),
    "R": (REM,),
    "NREM": NREM_STAGES,
}


@dataclass(frozen=True)
class Hypnogram:
    """Sleep stages: one row per scored epoch, sorted by start, not overlapping."""

    start_s: np.ndarray  # float
    end_s: np.ndarray  # float
    stage: np.ndarray  # object: one of STAGES or UNSCORED

    def __post_init__(self) -> None:
        n = len(self.start_s)
        if len(self.end_s) != n or len(self.stage) != n:
            raise ValueError("hypnogram: start, end and stage must have the same length")
        if n and not (np.all(np.isfinite(self.start_s)) and np.all(np.isfinite(self.end_s))):
            raise ValueError("hypnogram: an epoch time is not a number")
        if n and np.any(self.end_s <= self.start_s):
            i = int(np.argmax(self.end_s <= self.start_s))
            raise ValueError(f"hypnogram epoch {i}: ends before it starts")
        if n > 1 and np.any(self.start_s[1:] < self.end_s[:-1] - 1e-6):
            i = int(np.argmax(self.start_s[1:] < self.end_s[:-1] - 1e-6)) + 1
            raise ValueError(f"hypnogram epoch {i}: overlaps the epoch before it")
        for i, s in enumerate(self.stage):
            if s not in STAGES and s != UNSCORED:
                raise ValueError(f"hypnogram epoch {i}: unknown stage {s!r}")

    def __len__(self) -> int:
        return len(self.start_s)

    @classmethod
    def from_epochs(cls, start_s: float, stages: list[str], epoch_s: float = 30.0) -> Hypnogram:
        """Consecutive epochs of `epoch_s` from `start_s` (a convenience for tests)."""
        n = len(stages)
        starts = start_s + epoch_s * np.arange(n, dtype=float)
        return cls(starts, starts + epoch_s, np.array(stages, dtype=object))

    def stage_at(self, t_s: np.ndarray) -> np.ndarray:
        """Stage of the epoch holding each time (start inclusive, end exclusive); None
        (object) for a time outside every epoch."""
        t = np.asarray(t_s, dtype=float)
        out = np.full(len(t), None, dtype=object)
        if len(self) == 0 or len(t) == 0:
            return out
        i = np.searchsorted(self.start_s, t, side="right") - 1
        ok = (i >= 0) & (t < self.end_s[np.maximum(i, 0)])
        out[ok] = self.stage[i[ok]]
        return out

    def hours(self, column: str) -> float:
        """Hours of the epochs a per-stage column counts (see STAGE_COLUMNS)."""
        codes = STAGE_COLUMNS[column]
        dur = self.end_s - self.start_s
        keep = np.array([s in codes for s in self.stage], dtype=bool)
        return float(dur[keep].sum()) / 3600.0 if len(dur) else 0.0

    @property
    def span_s(self) -> tuple[float, float]:
        """(first epoch start, last epoch end); (0, 0) when empty."""
        if len(self) == 0:
            return (0.0, 0.0)
        return (float(self.start_s[0]), float(self.end_s[-1]))

    def shifted(self, offset_s: float) -> Hypnogram:
        """The same hypnogram on a clock `offset_s` seconds later."""
        return Hypnogram(self.start_s + offset_s, self.end_s + offset_s, self.stage)


@dataclass(frozen=True)
class Intervals:
    """Timed events (respiratory events, arousals): onset and offset in seconds, and
    the label each had in the source file (kept for reports)."""

    onset_s: np.ndarray
    offset_s: np.ndarray
    label: np.ndarray  # object

    def __post_init__(self) -> None:
        n = len(self.onset_s)
        if len(self.offset_s) != n or len(self.label) != n:
            raise ValueError("events: onset, offset and label must have the same length")
        bad = ~(np.isfinite(self.onset_s) & np.isfinite(self.offset_s))
        if n and bad.any():
            raise ValueError(f"event {int(np.argmax(bad))}: onset or offset is not a number")
        if n and np.any(self.offset_s < self.onset_s):
            i = int(np.argmax(self.offset_s < self.onset_s))
            raise ValueError(f"event {i}: offset before onset")

    def __len__(self) -> int:
        return len(self.onset_s)

    @classmethod
    def empty(cls) -> Intervals:
        return cls(np.zeros(0), np.zeros(0), np.zeros(0, dtype=object))

    @classmethod
    def from_rows(cls, rows: list[tuple[float, float]], label: str = "") -> Intervals:
        """(onset, duration) rows; a convenience for tests and small inputs."""
        on = np.array([r[0] for r in rows], dtype=float)
        dur = np.array([r[1] for r in rows], dtype=float)
        return cls(on, on + dur, np.full(len(rows), label, dtype=object))

    def shifted(self, offset_s: float) -> Intervals:
        return Intervals(self.onset_s + offset_s, self.offset_s + offset_s, self.label)


@dataclass(frozen=True)
class ScoringContext:
    """Everything beside the movements that the rules may use; each part optional.

    `respiratory` None means "no respiratory channel scored" (no LM is respiratory-
    related); an empty Intervals means "scored, none found". Same for `arousals`.
    """

    hypnogram: Hypnogram | None = None
    respiratory: Intervals | None = None
    arousals: Intervals | None = None

    def shifted(self, offset_s: float) -> ScoringContext:
        """The context on a clock `offset_s` seconds later (for aligning two clocks)."""
        return ScoringContext(
            None if self.hypnogram is None else self.hypnogram.shifted(offset_s),
            None if self.respiratory is None else self.respiratory.shifted(offset_s),
            None if self.arousals is None else self.arousals.shifted(offset_s),
        )


def finite_or_none(x: float | None, digits: int) -> float | None:
    """A rounded float for JSON, None for None or a non-finite value."""
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits)
