"""The night folder: the files a clinician or researcher opens for one night.

    events.csv    one row per detected movement, with the scoring of its LM
    epochs.csv    per-epoch activity and posture
    markers.csv   one row per marker the device logged (synced nights only)
    summary.json  the indices, the scoring parameters and how the night was recorded
    night.png     the picture of the night

Everything is written into a temporary folder beside the target, each file fsynced, and
moved into place at the end (the parent folder fsynced after), so a failure, Ctrl-C or
SIGKILL never leaves a half-written file behind. A temporary folder a killed run left
(`.<name>.tmp-<pid>-XXXX`) is removed by the next run that writes beside it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from legsense import __version__
from legsense.atomic_file import fsync_dir, fsync_file
from legsense.errors import InputError
from legsense.night import GAP_MIN_S, Epochs, Movements, NightInfo
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
MARKERS_COLUMNS = ["t_s", "utc", "code", "name", "value", "text"]
SUMMARY = "summary.json"  # replaced last: it says which night.bin the folder shows
MAX_GAPS_LISTED = 10
_TMP = re.compile(r"^\.(?P<name>.+)\.tmp-(?:(?P<pid>\d+)-)?[^/]*$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_leftovers(folder: Path, name: str | None = None) -> list[Path]:
    """Remove temporary folders a killed run left in `folder` (those of `name` only, if
    given); a run still alive keeps its own. Returns what was removed."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _TMP.match(entry.name)
        if m is None or (name is not None and m.group("name") != name):
            continue
        pid = m.group("pid")
        if pid is not None and _alive(int(pid)):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
        removed.append(entry)
    return removed


def ensure_writable_dir(path: Path) -> Path:
    """Make sure `path` is a folder this user can write into (created if missing).

    InputError (exit status 2) naming the path otherwise: checked before any device
    command or long computation, so a bad --out costs nothing.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("is not a folder", path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError("cannot be created: a part of the path is a file", path) from None
    except OSError as exc:
        raise InputError(f"cannot be created: {exc.strerror or exc}", path) from None
    # access(2), not a probe file: a run killed here must leave nothing behind (it also
    # says no for a read-only filesystem).
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError("cannot write here: permission denied or read-only", path)
    return path


def check_night_folder_target(out: Path) -> None:
    """InputError unless a night folder can be written at `out` (its parent writable, out
    itself a folder or missing)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("is not a folder", out)
    ensure_writable_dir(out.parent if str(out.parent) else Path("."))


@contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success its files replace those in `target`.

    Each file is fsynced, then a new target is created by one rename; an existing target
    keeps files we do not write and gets ours each by an atomic os.replace, summary.json
    last (it names the night.bin the folder was made from, so a run cut between two
    replacements is seen as stale and redone). The folders are fsynced after.
    """
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(parent, target.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=parent))
    try:
        yield tmp
        names = sorted(f.name for f in tmp.iterdir())
        names.sort(key=lambda n: n == SUMMARY)
        for n in names:
            fsync_file(tmp / n)
        fsync_dir(tmp)
        if not target.exists():
            os.replace(tmp, target)
            fsync_dir(parent)
            return
        for n in names:
            os.replace(tmp / n, target / n)
        fsync_dir(target)
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


def markers_csv(rows: list[tuple]) -> str:
    """markers.csv text from (t_s, utc, code, name, value, text) rows."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(MARKERS_COLUMNS)
    for t_s, utc, code, name, value, text in rows:
        w.writerow([_fmt(float(t_s)), utc, int(code), name, int(value), text])
    return buf.getvalue()


def _gap_list(info: NightInfo) -> list[tuple[float, float, str]]:
    if info.gaps_s is not None:
        return list(info.gaps_s)
    spans = info.data_spans_s or []
    out = []
    for (_, end), (start, _) in itertools.pairwise(spans):
        if start - end >= GAP_MIN_S:
            out.append((end, start - end, ""))
    return out


def gaps_summary(info: NightInfo) -> dict[str, Any]:
    """The `gaps` block of summary.json: how many, how long in all, the longest ones."""
    gaps = _gap_list(info)
    longest = sorted(gaps, key=lambda g: (-g[1], g[0]))[:MAX_GAPS_LISTED]
    listed = []
    for start, duration, cause in longest:
        item: dict[str, Any] = {"start_s": round(start, 3), "duration_s": round(duration, 3)}
        if info.start_utc is not None:
            at = info.start_utc + timedelta(seconds=start)
            item["start_utc"] = at.isoformat(timespec="seconds")
        item["cause"] = cause or None
        listed.append(item)
    return {
        "count": len(gaps),
        "total_s": round(float(sum(g[1] for g in gaps)), 3),
        "longest": listed,
    }


def clock_summary(info: NightInfo) -> dict[str, Any]:
    """The `clock` block of summary.json (a device night's comes from its time base)."""
    if info.clock is not None:
        return dict(info.clock)
    return {
        "utc_known": info.start_utc is not None,
        "steps": 0,
        "drift_ppm": None,
        "drift_reason": "not a device night: no device clock to correct",
    }


def summary_dict(
    scoring: Scoring, info: NightInfo, detector: dict[str, Any] | None = None
) -> dict[str, Any]:
    """summary.json content: the scoring summary plus how the night was recorded."""
    out: dict[str, Any] = dict(scoring.summary)
    out["resets"] = int(info.resets)
    out["gaps"] = gaps_summary(info)
    out["clock"] = clock_summary(info)
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
    markers: list[tuple] | None = None,
) -> Path:
    """Write the night folder atomically; `extra(tmpdir)` may add files (night.edf,
    raw.csv); `markers` (rows for markers_csv) adds markers.csv."""
    with atomic_folder(out) as tmp:
        (tmp / "events.csv").write_text(events_csv(movements, scoring, info))
        (tmp / "epochs.csv").write_text(epochs_csv(epochs))
        if markers is not None:
            (tmp / "markers.csv").write_text(markers_csv(markers))
        if picture:
            from legsense.night_plot import plot_night  # matplotlib: only when drawing

            plot_night(tmp / "night.png", scoring, info, epochs)
        if extra is not None:
            extra(tmp)
        summary = summary_dict(scoring, info, detector)
        (tmp / SUMMARY).write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
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
