"""One PSG night as the scoring and the validation use it, whatever file it came from.

A reader turns rows (clock time, label, duration, location) into a `PsgRecord`:
leg movements with their leg, the hypnogram, respiratory events, arousals,
desaturations, and an account of every row it did not use and why. Nothing from the
file's header that identifies the patient is kept: the record knows the file only by
its SHA-256 digest.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from legsense.night import Movements
from legsense.psg.context import Hypnogram, Intervals, ScoringContext
from legsense.psg.labels import (
    AROUSAL,
    DESATURATION,
    LM,
    OTHER,
    RESPIRATORY,
    STAGE,
    EventPatterns,
    stage_of,
)

EXAMPLES_KEPT = 5  # skipped rows quoted per reason (line numbers only, never content)
DEFAULT_EPOCH_S = 30.0  # a stage annotation without a duration covers one epoch
LOCATIONS_LISTED = 16  # distinct LM locations (channel names) listed in describe()


@dataclass(frozen=True)
class PsgRecord:
    """A PSG night. Times are seconds from `start`, the clock time of t = 0 (the
    earliest row), on the PSG's own clock (naive: the lab's wall-clock time)."""

    start: datetime
    movements: Movements  # leg movements as scored in the PSG; leg from the location
    context: ScoringContext
    desaturations: Intervals
    format: str  # "remlogic" or "edf+"
    sha256: str
    counts: dict[str, int]  # rows used per kind (lm, stage, respiratory, ...)
    skipped: dict[str, int]  # rows not used, per reason
    skipped_lines: dict[str, list[int]] = field(default_factory=dict)  # first few per reason
    date_known: bool = True  # False when the file gave times of day without a date
    # (location, leg read from it, LM rows) for the most frequent LM locations: channel
    # names, never patient data. Shows at once a channel whose side was not recognised.
    lm_locations: tuple[tuple[str, str, int], ...] = ()

    @property
    def end_s(self) -> float:
        """The last time the record covers: end of the hypnogram or of the last event."""
        ends = [0.0]
        if len(self.movements):
            ends.append(float(self.movements.offset_s.max()))
        hyp = self.context.hypnogram
        if hyp is not None and len(hyp):
            ends.append(hyp.span_s[1])
        for ev in (self.context.respiratory, self.context.arousals, self.desaturations):
            if ev is not None and len(ev):
                ends.append(float(ev.offset_s.max()))
        return max(ends)

    def legs(self) -> set[str]:
        """The legs the record's LMs were scored on ("" for unknown)."""
        return {str(x) for x in self.movements.leg}

    def describe(self) -> dict[str, object]:
        """What was read, for summary.json: no header field, no file name, and no date
        (a date of care identifies a patient too): the start as a time of day."""
        return {
            "format": self.format,
            "sha256": self.sha256,
            "start_time": self.start.time().isoformat(),
            "clock": "PSG local wall-clock time; date withheld"
            + ("" if self.date_known else " (the file gave none)"),
            "rows_used": dict(self.counts),
            "rows_skipped": dict(self.skipped),
            "rows_skipped_lines": {k: list(v) for k, v in self.skipped_lines.items()},
            "lm_legs": sorted(self.legs()),
            "lm_locations": [
                {"location": loc, "leg": leg or "unknown", "lms": n}
                for loc, leg, n in self.lm_locations
            ],
        }

    def unsided_lm_locations(self) -> list[str]:
        """Locations of LMs whose leg is unknown on a night where other LMs have a
        side: such LMs never pair with the other leg and break series (a channel the
        leg patterns did not recognise). Empty when every LM, or none, has a side."""
        if not self.legs() - {""} or "" not in self.legs():
            return []
        return [loc for loc, leg, _ in self.lm_locations if not leg]


class RecordBuilder:
    """Collects rows (absolute clock times) and builds the PsgRecord."""

    def __init__(self, patterns: EventPatterns, fmt: str, digest: str):
        self.patterns = patterns
        self.format = fmt
        self.digest = digest
        self.rows: list[tuple[datetime, float | None, str, str, str, int]] = []
        self.counts: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.skipped_lines: dict[str, list[int]] = {}
        self.date_known = True

    def skip(self, reason: str, line: int) -> None:
        """Count a row that is not used; keep its line number among the first few."""
        self.skipped[reason] += 1
        lines = self.skipped_lines.setdefault(reason, [])
        if len(lines) < EXAMPLES_KEPT:
            lines.append(line)

    def add(
        self, when: datetime, duration: float | None, label: str, location: str, line: int
    ) -> None:
        """One event row. `duration` None: the file gave none."""
        kind = self.patterns.kind(label)
        if kind == OTHER:
            self.counts["other"] += 1
            return
        if duration is not None and duration < 0:
            self.skip("negative duration", line)
            return
        if kind == STAGE:
            if duration is None:
                duration = DEFAULT_EPOCH_S
            elif duration == 0:
                self.skip("zero-duration stage", line)
                return
        elif not duration:  # None or 0: an event needs an extent
            self.skip(f"zero-duration {kind}", line)
            return
        self.counts[kind] += 1
        self.rows.append((when, duration, kind, label, location, line))

    def build(self) -> PsgRecord:
        if not self.rows:
            raise ValueError("no sleep stage, leg movement or scored event in the file")
        start = min(r[0] for r in self.rows)

        def secs(t: datetime) -> float:
            return (t - start).total_seconds()

        by_kind: dict[str, list[tuple[float, float, str, str, int]]] = {}
        for when, dur, kind, label, loc, line in self.rows:
            on = secs(when)
            by_kind.setdefault(kind, []).append((on, on + float(dur or 0.0), label, loc, line))
        lm_rows = sorted(by_kind.get(LM, []))
        lm_legs = [self.patterns.leg(r[3], r[2]) for r in lm_rows]
        movements = Movements.from_arrays(
            np.array([r[0] for r in lm_rows], dtype=float),
            np.array([r[1] for r in lm_rows], dtype=float),
            np.array(lm_legs, dtype=object),
        )
        per_location = Counter(zip((r[3] for r in lm_rows), lm_legs, strict=True))
        lm_locations = tuple(
            (loc, leg, n) for (loc, leg), n in per_location.most_common(LOCATIONS_LISTED)
        )
        hypnogram = self._hypnogram(by_kind.get(STAGE, []))
        context = ScoringContext(
            hypnogram=hypnogram,
            respiratory=_intervals(by_kind.get(RESPIRATORY, [])),
            arousals=_intervals(by_kind.get(AROUSAL, [])),
        )
        return PsgRecord(
            start=start,
            movements=movements,
            context=context,
            desaturations=_intervals(by_kind.get(DESATURATION, [])),
            format=self.format,
            sha256=self.digest,
            counts=dict(self.counts),
            skipped=dict(self.skipped),
            skipped_lines=self.skipped_lines,
            date_known=self.date_known,
            lm_locations=lm_locations,
        )

    def _hypnogram(self, rows: list[tuple[float, float, str, str, int]]) -> Hypnogram | None:
        if not rows:
            return None
        rows = sorted(rows)
        starts, ends, stages = [], [], []
        for on, off, label, _, line in rows:
            if starts and on < ends[-1] - 1e-6:
                # Overlapping stage rows (a re-scored epoch, a duplicate): the later row
                # starts where the earlier ends, or is dropped when it lies inside it.
                if off <= ends[-1] + 1e-6:
                    self.skip("stage inside the one before", line)
                    self.counts[STAGE] -= 1
                    continue
                on = ends[-1]
            starts.append(on)
            ends.append(off)
            stages.append(stage_of(label))
        return Hypnogram(
            np.array(starts, dtype=float),
            np.array(ends, dtype=float),
            np.array(stages, dtype=object),
        )


def _intervals(rows: list[tuple[float, float, str, str, int]]) -> Intervals:
    rows = sorted(rows)
    return Intervals(
        np.array([r[0] for r in rows], dtype=float),
        np.array([r[1] for r in rows], dtype=float),
        np.array([r[2] for r in rows], dtype=object),
    )


def file_digest(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
