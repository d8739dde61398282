"""A person's two legs as one night: the merged, bilaterally scored night folder.

From a Pair (bilateral_pairs): each leg's night.bin is decoded as the sync decodes it
(its anchors plus the host's clock log, steps and drift applied), so every movement of
either leg has a UTC time. The merged night is the time both devices recorded: from the
later start to the earlier end, its time axis in seconds from that instant. Analysed
time is where both legs have data (a gap in either leg is a gap of the night), and a
movement of one leg while the other had none is left out: whether it was bilateral
cannot be known. The movements of both legs are scored together by the WASM/IRLSSG
2016 rules (scoring.py: bilateral LMs, candidates, series), and each leg alone on the
same time for the per-leg figures.

    DIR/persons/<person>/<YYYY-MM-DD>_bilateral_<id>/
        events.csv    every movement of either leg: `leg` is the movement's leg,
                      `lm_leg` the LM's (left, right or bilateral), the LM's scoring
        epochs.csv    per epoch where both legs have data: combined activity (sum),
                      active time (the longer), posture of the left leg, and each leg's
                      activity (`activity_left_mg_s`, `activity_right_mg_s`)
        markers.csv   both legs' markers, with the leg
        summary.json  the combined figures, and `bilateral`: per-leg figures, the
                      sources, the window, the clocks and their alignment
        night.png     both legs (a row each) and the combined LMs
        night.edf     per-leg activity and posture; annotations: the scored LMs, and
                      one annotation signal per leg with that leg's LMs

The folder name's <id> comes from the two nights' identities, so a re-sync of either
device rewrites the same folder, atomically (night_folder.atomic_folder); its summary
records what it was made from, so nothing changed means nothing rewritten.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from legsense_core import records as R

from legsense import __version__, clock_log
from legsense.bilateral_alignment import assess, clock_bound, onset_lags
from legsense.bilateral_pairs import LEGS, SUMMARY, LegNight, Pair
from legsense.errors import InputError
from legsense.night import GAP_MIN_S, Epochs, Movements, NightInfo
from legsense.night_decode import DecodedNight, decode_records, read_records_file
from legsense.night_folder import EVENTS_COLUMNS, atomic_folder, epochs_csv, summary_dict
from legsense.night_store import NIGHT_BIN
from legsense.scoring import Scoring, ScoringParams, score_movements

MERGE_FORMAT = "1"  # bump when the merged folder's files change: merged nights re-render
PER_LEG_KEYS = (
    "lm_count",
    "clm_count",
    "plm_count",
    "plm_series_count",
    "lm_index",
    "clm_index",
    "plm_index",
    "periodicity_index",
    "mean_lm_duration_s",
    "median_plm_imi_s",
)


@dataclass
class LegData:
    """One leg's decoded night and where its time 0 is in UTC (ms, exact)."""

    night: LegNight
    decoded: DecodedNight
    start_ms: float

    @property
    def end_ms(self) -> float:
        return self.start_ms + self.decoded.info.recording_s * 1000.0


@dataclass
class Built:
    """What building one merged night did."""

    pair: Pair
    folder: Path
    written: bool
    summary: dict[str, Any] | None = None
    removed: list[Path] | None = None  # an older folder of the same pair (another date)


def load_leg(night: LegNight) -> LegData:
    """Decode a synced night as the sync did: its anchors and the device's clock log."""
    records = read_records_file(night.folder / NIGHT_BIN)
    anchors = list(records.anchors)
    log = clock_log.read(night.folder.parent / "clock.csv")
    extra = clock_log.anchor_after(anchors, log)
    decoded = decode_records(
        records,
        [extra] if extra is not None else [],
        source=f"device {night.device_id} night {night.night_id}",
    )
    if not decoded.clock.utc_known:
        raise InputError("the night has no UTC (its device clock was never set)", night.folder)
    start_ms = float(decoded.clock.to_utc(np.array([0]))[0])
    return LegData(night, decoded, start_ms)


def stamp_of(pair: Pair, params: ScoringParams) -> str:
    """What a merged folder is made from: both sources' stamps, the format, the rules."""
    text = "|".join(
        (
            MERGE_FORMAT,
            pair.left.stamp,
            pair.right.stamp,
            json.dumps(params.as_dict(), sort_keys=True),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


def current(folder: Path, stamp: str) -> bool:
    """Is the merged folder there and made from exactly this?"""
    try:
        rec = json.loads((folder / SUMMARY).read_text()).get("recording", {})
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(rec, dict) and rec.get("merge_stamp") == stamp


def build(
    pair: Pair, root: Path, params: ScoringParams, picture: bool = True, force: bool = False
) -> Built:
    """Write (or leave, when current) the merged night of a pair; InputError when a
    night cannot be read or has no UTC after all."""
    folder = pair.folder(root)
    stamp = stamp_of(pair, params)
    if not force and current(folder, stamp):
        return Built(pair, folder, written=False)
    legs = {"left": load_leg(pair.left), "right": load_leg(pair.right)}
    merged = merge(legs, params)
    if merged is None:
        raise InputError(
            "the two nights share no time with data of both legs (if their clocks moved "
            "since their folders were written, sync both again)",
            folder,
        )
    _, _, summary = merged
    summary["recording"].update(
        {
            "merge_stamp": stamp,
            "merge_format": MERGE_FORMAT,
            "person": pair.person,
            "kind": "bilateral",
        }
    )
    for leg in LEGS:
        src = summary["bilateral"]["legs"][leg]
        src["folder"] = _relative(legs[leg].night.folder, root)
    write(folder, merged, picture)
    return Built(pair, folder, written=True, summary=summary, removed=_drop_namesakes(pair, folder))


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _drop_namesakes(pair: Pair, folder: Path) -> list[Path]:
    """An older merged folder of the same pair under another date (a clock correction
    moved the night): derived data, replaced by the new one."""
    removed = []
    for other in folder.parent.glob(f"*_bilateral_{pair.identity}"):
        if other != folder and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)
            removed.append(other)
    return removed


# --- the merge itself -------------------------------------------------------------------


@dataclass
class Merged:
    """The merged night before it is written."""

    movements: Movements
    epochs: Epochs
    leg_epochs: dict[str, Epochs]
    info: NightInfo
    scoring: Scoring
    markers: list[tuple]  # (t_s, utc, code, name, value, text, leg)
    detector: dict[str, Any]


def merge(legs: dict[str, LegData], params: ScoringParams) -> tuple[Merged, Scoring, dict] | None:
    """Both legs on one time axis, scored; None when they do not overlap."""
    t0 = math.ceil(max(d.start_ms for d in legs.values()))  # whole ms: an exact start_utc
    t1 = min(d.end_ms for d in legs.values())
    length = (t1 - t0) / 1000.0
    if length <= 0:
        return None
    shift = {leg: (d.start_ms - t0) / 1000.0 for leg, d in legs.items()}
    spans = {leg: _shifted_spans(d, shift[leg], length) for leg, d in legs.items()}
    both = _intersect(spans["left"], spans["right"])
    kept: dict[str, Movements] = {}
    dropped: dict[str, int] = {}
    for leg, d in legs.items():
        m = d.decoded.movements
        on = m.onset_s + shift[leg]
        off = m.offset_s + shift[leg]
        inside = (on >= 0) & (on < length)
        covered = _inside_spans(on, both)
        keep = inside & covered
        dropped[leg] = int((inside & ~covered).sum())
        kept[leg] = Movements(
            onset_s=on[keep],
            offset_s=off[keep],
            peak_mg=m.peak_mg[keep],
            peak_dps=m.peak_dps[keep],
            channels=m.channels[keep],
            leg=np.full(int(keep.sum()), leg, dtype=object),
        )
    movements = _concat(kept["left"], kept["right"])
    start_utc = datetime.fromtimestamp(t0 / 1000.0, tz=UTC)
    gaps = _gaps(both, length, {leg: _shifted_gaps(d, shift[leg]) for leg, d in legs.items()})
    left_d, right_d = legs["left"].decoded, legs["right"].decoded
    info = NightInfo(
        recording_s=length,
        analysed_s=float(sum(b - a for a, b in both)),
        sample_rate_hz=left_d.info.sample_rate_hz,
        start_utc=start_utc,
        imu=_both(left_d.info.imu, right_d.info.imu),
        leg="both",
        source=f"{legs['left'].night.person}'s left and right legs",
        data_spans_s=both,
        gaps_s=gaps,
        resets=sum(_resets_inside(d, shift[leg], length) for leg, d in legs.items()),
        clock=_clock_block(legs),
    )
    if info.analysed_s <= 0:
        return None
    epochs, leg_epochs = merged_epochs(legs, shift, length)
    scoring = score_movements(movements, info, params)
    per_leg = {leg: _figures(score_movements(kept[leg], info, params)) for leg in LEGS}
    window = (t0, t1)
    lags = onset_lags(scoring, movements)
    bounds = {
        leg: clock_bound(
            d.clock,
            _device_window(legs[leg], window),
            d.info.sample_rate_hz,
            _watermark(d.detector),
        )
        for leg, d in (("left", left_d), ("right", right_d))
    }
    alignment = assess(bounds["left"], bounds["right"], lags)
    markers = _markers(legs, shift, length, start_utc)
    info.extra["legs"] = "left+right"
    merged = Merged(movements, epochs, leg_epochs, info, scoring, markers, dict(left_d.detector))
    summary = summary_dict(scoring, info, merged.detector)
    summary["bilateral"] = {
        "legs": {leg: _source(legs[leg], shift[leg], dropped[leg], length) for leg in LEGS},
        "per_leg": per_leg,
        "combined": _figures(scoring)
        | {"bilateral_lm_count": scoring.summary["bilateral_lm_count"]},
        "window": {
            "start_utc": start_utc.isoformat(timespec="milliseconds"),
            "end_utc": datetime.fromtimestamp(t1 / 1000.0, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "both_recording_s": round(length, 3),
            "both_data_s": round(info.analysed_s, 3),
            "one_leg_only_s": {
                leg: round(max(0.0, (d.end_ms - d.start_ms) / 1000.0 - length), 3)
                for leg, d in legs.items()
            },
        },
        "alignment": alignment,
        "index_basis": "both legs scored together by the bilateral rules; per-leg figures "
        "from each leg alone over the same time (where both legs have data)",
    }
    summary["legsense_version"] = __version__
    return merged, scoring, summary


def _both(a: str, b: str) -> str:
    return a if a == b else f"left {a}, right {b}"


def _figures(scoring: Scoring) -> dict[str, Any]:
    return {k: scoring.summary.get(k) for k in PER_LEG_KEYS}


def _source(d: LegData, shift_s: float, dropped: int, length: float) -> dict[str, Any]:
    rec = d.decoded.info.extra
    n = d.night
    return {
        "device_id": n.device_id,
        "night_id": n.night_id,
        "night_key": n.night_key,
        "start_utc": datetime.fromtimestamp(d.start_ms / 1000.0, tz=UTC).isoformat(
            timespec="milliseconds"
        ),
        "recording_s": round(d.decoded.info.recording_s, 3),
        "offset_in_window_s": round(shift_s, 3) + 0.0,  # never -0.0
        "movements_without_other_leg_data": dropped,
        "imu": d.decoded.info.imu,
        "sample_rate_hz": round(d.decoded.info.sample_rate_hz, 3),
        **({"log_problem": rec["log_problem"]} if rec.get("log_problem") else {}),
    }


def _device_window(d: LegData, window: tuple[float, float]) -> tuple[float, float]:
    """The merged window in the leg's device ms (its corrected seconds, to the ms)."""
    return (window[0] - d.start_ms, window[1] - d.start_ms)


def _clock_block(legs: dict[str, LegData]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "utc_known": True,
        "steps": sum(len(d.decoded.clock.steps) for d in legs.values()),
        "drift_ppm": None,
        "drift_reason": "two devices: each leg's clock is under `left` and `right`",
    }
    for leg, d in legs.items():
        out[leg] = d.decoded.clock.summary()
    return out


def _shifted_spans(d: LegData, shift: float, length: float) -> list[tuple[float, float]]:
    spans = d.decoded.info.data_spans_s or [(0.0, d.decoded.info.recording_s)]
    out = []
    for a, b in spans:
        a, b = max(0.0, a + shift), min(length, b + shift)
        if b > a:
            out.append((a, b))
    return out


def _shifted_gaps(d: LegData, shift: float) -> list[tuple[float, float, str]]:
    return [(a + shift, a + shift + dur, cause) for a, dur, cause in d.decoded.gaps]


def _intersect(
    a: list[tuple[float, float]], b: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _inside_spans(t: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    if not spans:
        return np.zeros(len(t), dtype=bool)
    starts = np.array([a for a, _ in spans])
    ends = np.array([b for _, b in spans])
    k = np.searchsorted(starts, t, side="right") - 1
    ok = k >= 0
    out = np.zeros(len(t), dtype=bool)
    out[ok] = t[ok] < ends[k[ok]] + 1e-9
    return out


def _gaps(
    both: list[tuple[float, float]],
    length: float,
    leg_gaps: dict[str, list[tuple[float, float, str]]],
) -> list[tuple[float, float, str]]:
    """Stretches of the window without data of both legs, with whose data was missing."""
    holes = []
    t = 0.0
    for a, b in [*both, (length, length)]:
        if a - t >= GAP_MIN_S:
            holes.append((t, a))
        t = max(t, b)
    out = []
    for a, b in holes:
        causes = []
        for leg in LEGS:
            hits = [g for g in leg_gaps[leg] if g[0] < b and g[1] > a]
            if hits:
                why = next((g[2] for g in hits if g[2]), "")
                causes.append(f"{leg}: {why}" if why else f"{leg}: no data")
        out.append((a, b - a, "; ".join(causes)))
    return out


def _resets_inside(d: LegData, shift: float, length: float) -> int:
    n = 0
    for row in d.decoded.markers:
        t = row[0] + shift
        if 0 <= t <= length and row[2] == R.M_RESUMED:
            n += 1
    return n


def _concat(a: Movements, b: Movements) -> Movements:
    onset = np.concatenate([a.onset_s, b.onset_s])
    order = np.lexsort((np.concatenate([a.offset_s, b.offset_s]), onset))
    return Movements(
        onset_s=onset[order],
        offset_s=np.concatenate([a.offset_s, b.offset_s])[order],
        peak_mg=np.concatenate([a.peak_mg, b.peak_mg])[order],
        peak_dps=np.concatenate([a.peak_dps, b.peak_dps])[order],
        channels=np.concatenate([a.channels, b.channels])[order],
        leg=np.concatenate([a.leg, b.leg])[order],
    )


def merged_epochs(
    legs: dict[str, LegData], shift: dict[str, float], length: float
) -> tuple[Epochs, dict[str, Epochs]]:
    """Both legs' epochs on one grid of the merged window (each leg's epoch to the
    nearest slot, so up to half an epoch off its own grid): the combined epochs where
    both legs have data, and each leg's on the same grid."""
    epoch_s = max(d.decoded.epochs.epoch_s for d in legs.values())
    slots = max(1, math.ceil(length / epoch_s))
    grid: dict[str, dict[str, np.ndarray]] = {}
    for leg, d in legs.items():
        e = d.decoded.epochs
        k = np.floor((e.start_s + shift[leg]) / epoch_s + 0.5).astype(np.int64)
        ok = (k >= 0) & (k < slots)
        g = {
            "n": np.zeros(slots, dtype=np.int64),
            "active": np.zeros(slots),
            "activity": np.zeros(slots, dtype=np.int64),
            "posture": np.zeros((slots, 3), dtype=np.int64),
        }
        np.add.at(g["n"], k[ok], e.n_samples[ok])
        np.maximum.at(g["active"], k[ok], e.active_s[ok])
        np.add.at(g["activity"], k[ok], e.activity_mg_s[ok])
        g["posture"][k[ok]] = e.posture_mg[ok]
        grid[leg] = g
    start = np.arange(slots) * epoch_s

    def leg_epochs(g: dict[str, np.ndarray], rows: np.ndarray) -> Epochs:
        return Epochs(
            epoch_s=epoch_s,
            start_s=start[rows],
            n_samples=g["n"][rows],
            active_s=g["active"][rows],
            activity_mg_s=g["activity"][rows],
            posture_mg=g["posture"][rows],
        )

    left, right = grid["left"], grid["right"]
    both = np.flatnonzero((left["n"] > 0) & (right["n"] > 0))
    combined = Epochs(
        epoch_s=epoch_s,
        start_s=start[both],
        n_samples=np.minimum(left["n"], right["n"])[both],
        active_s=np.maximum(left["active"], right["active"])[both],
        activity_mg_s=(left["activity"] + right["activity"])[both],
        posture_mg=left["posture"][both],
    )
    per_leg = {leg: leg_epochs(g, np.flatnonzero(g["n"] > 0)) for leg, g in grid.items()}
    return combined, per_leg


def _markers(
    legs: dict[str, LegData], shift: dict[str, float], length: float, start_utc: datetime
) -> list[tuple]:
    rows = []
    for leg, d in legs.items():
        for t, _utc, code, name, value, text in d.decoded.markers:
            t = t + shift[leg]
            if 0 <= t <= length:
                utc = (start_utc + timedelta(seconds=t)).isoformat(timespec="milliseconds")
                rows.append((t, utc, code, name, value, text, leg))
    rows.sort(key=lambda r: (r[0], r[6]))
    return rows


# --- the files -----------------------------------------------------------------------------


MERGED_EVENTS_COLUMNS = [*EVENTS_COLUMNS, "lm_leg", "onset_utc"]


def events_csv(m: Merged) -> str:
    """events.csv of a merged night: one row per movement of either leg (see the module
    docstring); `legsense score` reads it back (onset_s, duration_s, leg)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(MERGED_EVENTS_COLUMNS)
    lms = m.scoring.lms
    mv = m.movements
    start = m.info.start_utc
    for i in range(len(mv)):
        on, off = float(mv.onset_s[i]), float(mv.offset_s[i])
        row = int(m.scoring.movement_lm[i])
        if row >= 0:
            imi = float(lms.imi_s[row])
            lm = [
                1,
                int(bool(lms.candidate[row])),
                int(bool(lms.plm[row])),
                int(lms.series[row]),
                "" if math.isnan(imi) else f"{imi:.3f}",
            ]
            lm_leg = str(lms.leg[row])
        else:
            lm, lm_leg = [0, 0, 0, 0, ""], ""
        utc = (
            ""
            if start is None
            else (start + timedelta(seconds=on)).isoformat(timespec="milliseconds")
        )
        w.writerow(
            [
                f"{on:.3f}",
                f"{off:.3f}",
                f"{off - on:.3f}",
                *lm,
                str(mv.leg[i]),
                int(mv.peak_mg[i]),
                int(mv.peak_dps[i]),
                int(mv.channels[i]),
                lm_leg,
                utc,
            ]
        )
    return buf.getvalue()


def merged_epochs_csv(m: Merged) -> str:
    """epochs.csv: the combined columns, then each leg's activity."""
    base = epochs_csv(m.epochs).splitlines()
    slot = {round(float(s) / m.epochs.epoch_s): i for i, s in enumerate(m.epochs.start_s)}
    extra = {leg: np.zeros(len(m.epochs), dtype=np.int64) for leg in LEGS}
    for leg, e in m.leg_epochs.items():
        for s, act in zip(e.start_s.tolist(), e.activity_mg_s.tolist(), strict=True):
            i = slot.get(round(s / e.epoch_s))
            if i is not None:
                extra[leg][i] = int(act)
    lines = [base[0] + ",activity_left_mg_s,activity_right_mg_s"]
    for i, line in enumerate(base[1:]):
        lines.append(f"{line},{extra['left'][i]},{extra['right'][i]}")
    return "\n".join(lines) + "\n"


def markers_csv(rows: list[tuple]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["t_s", "utc", "code", "name", "value", "text", "leg"])
    for t, utc, code, name, value, text, leg in rows:
        w.writerow([f"{t:.3f}", utc, int(code), name, int(value), text, leg])
    return buf.getvalue()


def write(folder: Path, merged: tuple[Merged, Scoring, dict], picture: bool) -> None:
    """Write the merged folder atomically (summary.json last)."""
    m, scoring, summary = merged
    with atomic_folder(folder) as tmp:
        (tmp / "events.csv").write_text(events_csv(m))
        (tmp / "epochs.csv").write_text(merged_epochs_csv(m))
        (tmp / "markers.csv").write_text(markers_csv(m.markers))
        from legsense.edf_writer import LegAnnotations, write_edf

        legs = {}
        for leg in LEGS:
            rows = np.flatnonzero((m.movements.leg == leg) & (np.asarray(scoring.movement_lm) >= 0))
            legs[leg] = LegAnnotations(
                m.leg_epochs[leg], m.movements.onset_s[rows], m.movements.offset_s[rows]
            )
        write_edf(tmp / "night.edf", m.epochs, scoring, m.info, "bilateral", legs=legs)
        if picture:
            from legsense.night_markers import Marker, MarkerList
            from legsense.night_plot import plot_night, quality_of

            marks = MarkerList(
                [
                    Marker(r[0], r[3], str(r[4]), f"{r[6]}: {r[5]}" if r[5] else r[6])
                    for r in m.markers
                ],
                known=True,
            )
            plot_night(
                tmp / "night.png",
                scoring,
                m.info,
                m.epochs,
                movements=m.movements,
                markers=marks,
                quality=quality_of(m.info),
                leg_rows=True,
            )
        (tmp / SUMMARY).write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")


def _watermark(detector: dict[str, Any]) -> int:
    """Samples per FIFO burst from a night header's config (0 when not logged)."""
    value = detector.get("fifo_watermark", 0)
    return value if isinstance(value, int) and value > 0 else 0
