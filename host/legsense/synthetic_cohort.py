"""Synthetic cohorts: many night folders and a diary, made in seconds, never stored.

For the trend report, the cohort export and their benchmarks and tests. A night here is
made at the level of movements, not samples (the detector is not run; its accuracy is
benchmarked elsewhere): PLM series, isolated LMs, long movements and sub-0.5 s twitches
on a timeline, epochs with activity and posture, sometimes a data gap, a reset or a
button press. The real scoring (legsense.scoring) scores it and the real writer
(legsense.night_folder) writes the folder, so the files are exactly what `analyze` and
`sync` produce. Each person has a diary: iron from half-way on (which lowers their PLM
index by `IRON_EFFECT` in this model), massage on a few evenings (no effect), ratings.

    python -m legsense.synthetic_cohort --people 2 --nights 30 --out DIR
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path

import numpy as np

from legsense.atomic_file import write_text_atomically
from legsense.diary import COLUMNS, HEADER_NOTE, format_row, make_entry
from legsense.night import Epochs, Movements, NightInfo
from legsense.night_folder import write_night_folder
from legsense.scoring import ScoringParams, score_movements

FIRST_EVENING = date(2026, 1, 5)
UTC_OFFSET_MIN = 60
EPOCH_S = 30.0
RATE_HZ = 50.0
IRON_EFFECT = 0.6  # PLM index multiplied by this on nights with iron (the model's truth)
POSTURES = np.array([[0, 0, 1000], [980, 0, 200], [-970, 0, 240]], dtype=np.int64)


def _timeline(rng: np.random.Generator, hours: float, plm_index: float) -> tuple:
    """Movement onsets and offsets (s) of one night."""
    total = hours * 3600.0
    plm_left = round(plm_index * hours)
    onsets: list[float] = []
    offsets: list[float] = []
    t = 60.0 + rng.uniform(0, 120)
    while t < total - 120:
        if plm_left >= 4 and rng.random() < 0.35:
            size = int(min(plm_left, rng.integers(4, 40)))
            for _ in range(size):
                duration = rng.uniform(0.8, 3.0)
                onsets.append(t)
                offsets.append(t + duration)
                t += rng.uniform(14.0, 45.0)
            plm_left -= size
            t += rng.uniform(100.0, 200.0)  # > 90 s: the series ends here
        else:
            kind = rng.random()
            duration = 12.0 if kind < 0.1 else (0.25 if kind < 0.5 else rng.uniform(0.6, 4.0))
            onsets.append(t)
            offsets.append(t + duration)
            t += rng.uniform(100.0, 600.0)
    return np.array(onsets), np.array(offsets)


def _epochs(
    rng: np.random.Generator, recording_s: float, onsets: np.ndarray, gap: tuple | None
) -> Epochs:
    start = np.arange(0.0, recording_s, EPOCH_S)
    if gap is not None:
        start = start[(start + EPOCH_S <= gap[0]) | (start >= gap[1])]
    which = np.searchsorted(start, onsets, side="right") - 1
    counts = np.bincount(which[which >= 0], minlength=len(start))[: len(start)]
    changes = np.sort(rng.uniform(0, recording_s, rng.integers(2, 6)))
    posture = POSTURES[np.searchsorted(changes, start) % len(POSTURES)]
    return Epochs(
        epoch_s=EPOCH_S,
        start_s=start,
        n_samples=np.full(len(start), int(EPOCH_S * RATE_HZ)),
        active_s=np.minimum(counts * 1.5, EPOCH_S),
        activity_mg_s=(counts * rng.uniform(60, 160, len(start))).astype(np.int64),
        posture_mg=posture + rng.integers(-20, 20, posture.shape),
    )


def write_synthetic_night(
    folder: Path,
    person: str,
    evening: date,
    seed: int,
    plm_index: float,
    params: ScoringParams | None = None,
) -> Path:
    """One synthetic night of `person` on `evening`, written as a night folder."""
    rng = np.random.default_rng(seed)
    zone = timezone(timedelta(minutes=UTC_OFFSET_MIN))
    local = datetime.combine(evening, time(22, 0), tzinfo=zone)
    start_utc = (local + timedelta(minutes=float(rng.uniform(0, 90)))).astimezone(UTC)
    hours = float(rng.uniform(6.5, 9.0))
    onsets, offsets = _timeline(rng, hours, plm_index)
    recording_s = hours * 3600.0
    gap = None
    if rng.random() < 0.15:  # a stretch without data, as when the strap slipped
        a = float(rng.uniform(0.2, 0.8) * recording_s)
        gap = (a, a + float(rng.uniform(120, 1200)))
        keep = (offsets <= gap[0]) | (onsets >= gap[1])
        onsets, offsets = onsets[keep], offsets[keep]
    epochs = _epochs(rng, recording_s, onsets, gap)
    spans = [(0.0, recording_s)] if gap is None else [(0.0, gap[0]), (gap[1], recording_s)]
    info = NightInfo(
        recording_s=recording_s,
        analysed_s=sum(b - a for a, b in spans),
        sample_rate_hz=RATE_HZ,
        start_utc=start_utc,
        imu="lsm6dsox",
        leg="left",
        source=f"synthetic cohort, seed {seed}",
        extra={"person": person, "utc_offset_min": str(UTC_OFFSET_MIN)},
        data_spans_s=spans,
    )
    movements = Movements.from_arrays(onsets, offsets, np.full(len(onsets), "left", dtype=object))
    scoring = score_movements(movements, info, params or ScoringParams())
    write_night_folder(folder, movements, epochs, scoring, info, picture=False)
    resets = int(rng.random() < 0.05)
    _add_quality(folder, gap, resets, start_utc)
    buttons = sorted(rng.uniform(0, recording_s, int(rng.integers(0, 3))))
    rows = [
        (t, (start_utc + timedelta(seconds=float(t))).isoformat(), 10, "button", 300, "")
        for t in buttons
    ]
    if resets:
        rows.append((recording_s / 2, "", 8, "resumed after reset", 4000, "watchdog"))
    if not (folder / "markers.csv").exists():
        text = "t_s,utc,code,name,value,text\n" + "".join(
            f"{t:.3f},{u},{c},{n},{v},{x}\n" for t, u, c, n, v, x in sorted(rows)
        )
        write_text_atomically(folder / "markers.csv", text, make_parents=True)
    return folder


def _add_quality(folder: Path, gap: tuple | None, resets: int, start_utc: datetime) -> None:
    """The summary's quality keys, as `sync` writes them, where the writer did not."""
    path = folder / "summary.json"
    summary = json.loads(path.read_text())
    if "gaps" in summary and "resets" in summary and "clock" in summary:
        return
    duration = 0.0 if gap is None else gap[1] - gap[0]
    summary.setdefault("resets", resets)
    summary.setdefault(
        "gaps",
        {
            "count": 0 if gap is None else 1,
            "total_s": round(duration, 3),
            "longest": [] if gap is None else [{"start_s": gap[0], "duration_s": duration}],
        },
    )
    summary.setdefault("clock", {"utc_known": True, "steps": 0, "drift_ppm": 12.0})
    write_text_atomically(path, json.dumps(summary, indent=2) + "\n", make_parents=True)


def make_cohort(
    out: Path,
    people: int = 1,
    nights: int = 30,
    seed: int = 1,
    progress=None,
) -> list[Path]:
    """`people` x `nights` night folders under out/<person>/<evening>/ and out/diary.csv."""
    out = Path(out)
    folders = []
    diary = [HEADER_NOTE + "\n", format_row(COLUMNS)]
    done = 0
    for p in range(people):
        person = f"p{p + 1:03d}"
        rng = np.random.default_rng([seed, p])
        baseline = float(rng.uniform(8.0, 45.0))
        iron_from = FIRST_EVENING + timedelta(days=nights // 2)
        diary.append(
            format_row(
                make_entry(person, iron_from.isoformat(), "ongoing", "iron", "325", "mg").row()
            )
        )
        for k in range(nights):
            evening = FIRST_EVENING + timedelta(days=k)
            effect = IRON_EFFECT if evening >= iron_from else 1.0
            plmi = baseline * effect * float(rng.lognormal(0.0, 0.25))
            if rng.random() < 0.1:
                massage = make_entry(person, evening.isoformat(), "", "massage", "20", "min")
                diary.append(format_row(massage.row()))
            if rng.random() < 0.3:
                rating = str(int(np.clip(round(plmi / 6 + rng.normal(0, 1)), 0, 10)))
                diary.append(
                    format_row(make_entry(person, evening.isoformat(), rating=rating).row())
                )
            folder = out / person / evening.isoformat()
            folders.append(
                write_synthetic_night(
                    folder, person, evening, seed * 1_000_003 + p * 1009 + k, plmi
                )
            )
            done += 1
            if progress is not None:
                progress(done, people * nights)
    write_text_atomically(out / "diary.csv", "".join(diary), make_parents=True)
    return folders


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m legsense.synthetic_cohort", description=__doc__)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--people", type=int, default=1)
    p.add_argument("--nights", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    if a.people < 1 or a.nights < 1 or math.prod((a.people, a.nights)) > 1_000_000:
        print("--people and --nights must be positive (and not absurd)", file=sys.stderr)
        return 2
    folders = make_cohort(a.out, a.people, a.nights, a.seed)
    print(f"wrote {len(folders)} night folders and {os.path.join(a.out, 'diary.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
