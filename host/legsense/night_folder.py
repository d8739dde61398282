"""The night folder: the files a clinician or researcher opens for one night.

    events.csv    one row per detected movement, with the scoring of its LM
    epochs.csv    per-epoch activity and posture
    summary.json  the indices, the scoring parameters and how the night was recorded
    night.png     the picture of the night

Everything is written into a temporary folder beside the target and moved into place at
the end, so a failure or Ctrl-C never leaves a half-written night behind.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from legsense import __version__
from legsense.errors import InputError
from legsense.night import Epochs, Movements, NightInfo
from legsense.scoring import Scoring

EVENTS_COLUMNS = [
    "onset_s",
    "offset_s",
    "duration_s",
    "lm",
    "candidate",
    "plm",
    "series",
    "imi_s",
    "leg",
    "peak_mg",
    "peak_dps",
    "channels",
]
EPOCHS_COLUMNS = [
    "start_s",
    "n_samples",
    "active_s",
    "activity_mg_s",
    "posture_x_mg",
    "posture_y_mg",
    "posture_z_mg",
]


@contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success its files replace those in `target`.

    A new target is created by one rename. An existing target keeps files we do not
    write; ours are each replaced atomically (os.replace).
    """
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=parent))
    try:
        yield tmp
        if not target.exists():
            os.replace(tmp, target)
            return
        for f in tmp.iterdir():
            os.replace(f, target / f.name)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _fmt(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:.{digits}f}"


def events_csv(movements: Movements, scoring: Scoring, info: NightInfo) -> str:
    """events.csv text: every detected movement with the scoring of the LM it belongs to."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols = list(EVENTS_COLUMNS)
    if info.start_utc is not None:
        cols.append("onset_utc")
    w.writerow(cols)
    lms = scoring.lms
    for i in range(len(movements)):
        row_lm = int(scoring.movement_lm[i])
        on = float(movements.onset_s[i])
        off = float(movements.offset_s[i])
        if row_lm >= 0:
            lm_vals = [
                1,
                int(bool(lms.candidate[row_lm])),
                int(bool(lms.plm[row_lm])),
                int(lms.series[row_lm]),
                _fmt(float(lms.imi_s[row_lm])),
                str(lms.leg[row_lm]),
            ]
        else:
            lm_vals = [0, 0, 0, 0, "", str(movements.leg[i])]
        row = [
            _fmt(on),
            _fmt(off),
            _fmt(off - on),
            *lm_vals,
            int(movements.peak_mg[i]),
            int(movements.peak_dps[i]),
            int(movements.channels[i]),
        ]
        if info.start_utc is not None:
            t = info.start_utc + timedelta(seconds=on)
            row.append(t.isoformat(timespec="milliseconds"))
        w.writerow(row)
    return buf.getvalue()


def epochs_csv(epochs: Epochs) -> str:
    """epochs.csv text."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EPOCHS_COLUMNS)
    for i in range(len(epochs)):
        w.writerow(
            [
                _fmt(float(epochs.start_s[i]), 1),
                int(epochs.n_samples[i]),
                _fmt(float(epochs.active_s[i])),
                int(epochs.activity_mg_s[i]),
                *(int(v) for v in epochs.posture_mg[i]),
            ]
        )
    return buf.getvalue()


def summary_dict(
    scoring: Scoring, info: NightInfo, detector: dict[str, Any] | None = None
) -> dict[str, Any]:
    """summary.json content: the scoring summary plus how the night was recorded."""
    out: dict[str, Any] = dict(scoring.summary)
    out["recording"] = {
        "source": info.source,
        "start_utc": None if info.start_utc is None else info.start_utc.isoformat(),
        "sample_rate_hz": round(info.sample_rate_hz, 3),
        "imu": info.imu,
        "leg": info.leg,
        "recording_s": round(info.recording_s, 3),
        "analysed_s": round(info.analysed_s, 3),
        **info.extra,
    }
    if detector is not None:
        out["detector"] = detector
    out["legsense_version"] = __version__
    return out


def write_night_folder(
    out: Path,
    movements: Movements,
    epochs: Epochs,
    scoring: Scoring,
    info: NightInfo,
    detector: dict[str, Any] | None = None,
    extra: Callable[[Path], None] | None = None,
    picture: bool = True,
) -> Path:
    """Write the night folder atomically; `extra(tmpdir)` may add files (night.bin, EDF)."""
    from legsense.night_plot import plot_night

    with atomic_folder(out) as tmp:
        (tmp / "events.csv").write_text(events_csv(movements, scoring, info))
        (tmp / "epochs.csv").write_text(epochs_csv(epochs))
        summary = summary_dict(scoring, info, detector)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
        if picture:
            plot_night(tmp / "night.png", scoring, info, epochs)
        if extra is not None:
            extra(tmp)
    return out


def read_events_csv(path: Path) -> Movements:
    """Read an event list (columns onset_s and duration_s or offset_s; optional leg).

    Accepts the events.csv this module writes, so a night can be scored again with other
    parameters. Raises InputError naming the file and line.
    """
    import numpy as np

    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path) from None
    rows = list(csv.reader(io.StringIO(text)))
    body = [(n, r) for n, r in enumerate(rows, start=1) if r and not r[0].startswith("#")]
    if not body:
        raise InputError("empty file: expected a header with onset_s and duration_s", path, 1)
    head_line, header = body[0]
    cols = [c.strip() for c in header]
    if "onset_s" not in cols or ("duration_s" not in cols and "offset_s" not in cols):
        raise InputError(
            f"header must have onset_s and duration_s (or offset_s), got {','.join(cols)}",
            path,
            head_line,
        )
    i_on = cols.index("onset_s")
    i_dur = cols.index("duration_s") if "duration_s" in cols else -1
    i_off = cols.index("offset_s") if "offset_s" in cols else -1
    i_leg = cols.index("leg") if "leg" in cols else -1
    onset: list[float] = []
    offset: list[float] = []
    leg: list[str] = []
    for line, r in body[1:]:
        if len(r) != len(cols):
            raise InputError(f"expected {len(cols)} fields, got {len(r)}", path, line)

        def num(i: int, name: str, r: list[str] = r, line: int = line) -> float:
            try:
                v = float(r[i])
            except ValueError:
                raise InputError(f"{name} is not a number: {r[i]!r}", path, line) from None
            if not math.isfinite(v):
                raise InputError(f"{name} is not finite: {r[i]!r}", path, line)
            return v

        on = num(i_on, "onset_s")
        dur = num(i_dur, "duration_s") if i_dur >= 0 else num(i_off, "offset_s") - on
        if on < 0:
            raise InputError(f"onset_s is negative: {on:g}", path, line)
        if dur < 0:
            raise InputError(f"negative duration: {dur:g} s", path, line)
        side = r[i_leg].strip().lower() if i_leg >= 0 else ""
        if side not in ("", "left", "right", "l", "r"):
            raise InputError(f"leg must be left or right, got {r[i_leg]!r}", path, line)
        onset.append(on)
        offset.append(on + dur)
        leg.append({"l": "left", "r": "right"}.get(side, side))
    return Movements.from_arrays(np.array(onset), np.array(offset), np.array(leg, dtype=object))
