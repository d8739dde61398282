"""night.png: the whole night at a glance for a sleep clinician.

Left, on one time axis in the person's local time (hours from the start when the start
is unknown), top to bottom: every movement as a tick in rows by class (movements under
0.5 s faint: detected, but not LMs), PLM series shaded; the IMI of every LM over the
night on a log axis (periodic legs show as a band inside 10-90 s); activity per epoch
with the data gaps hatched; the posture (leg orientation) from the epochs; and the PLM
index per clock hour against the 15/h line. Button presses and device markers are drawn
as lines across the panels. Right: the IMI histogram and the night's data quality. A
header carries the key numbers; the footer defines LM, CLM, PLM and PI in one line.
Okabe-Ito colours, safe for colour-blind readers. Legends never cover data.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from legsense.atomic_file import write_png_atomically
from legsense.night import Epochs, Movements, NightInfo
from legsense.night_markers import Marker, MarkerList, read_markers
from legsense.scoring import Scoring

WIDTH_PX, HEIGHT_PX, DPI = 1600, 1000, 100
CLINICAL_PLMI_PER_H = 15.0  # adult PLMD threshold
MIN_HOUR_DATA_S = 600.0  # an hourly index from less data than this is not drawn

# Okabe-Ito palette
PLM_COLOUR = "#D55E00"  # vermillion
CANDIDATE_COLOUR = "#0072B2"  # blue
LONG_COLOUR = "#CC79A7"  # reddish purple
SHORT_COLOUR = "#9A9A9A"  # movements under 0.5 s: drawn faintly
SERIES_COLOUR = "#E69F00"  # orange
BUTTON_COLOUR = "#000000"
MARKER_COLOUR = "#777777"
ACTIVITY_COLOUR = "#555555"
GAP_COLOUR = "#BBBBBB"
POSTURE_COLOURS = ("#56B4E9", "#009E73", "#F0E442", "#CC79A7")
OTHER_POSTURE_COLOUR = "#AAAAAA"
MAX_POSTURES = 4  # named in the picture; the rest are "other"
POSTURE_SAME_DEG = 30.0  # gravity within this angle of a posture's centre: same posture
DENSITY_BIN_S = 300.0  # LM density bins when there are no epochs
# Tick spacings (minutes) tried in order; the first giving at most MAX_TICKS is used.
TICK_STEPS_MIN = (5, 10, 15, 30, 60, 120, 180, 360)
MAX_TICKS = 10

DEFINITIONS = (
    "LM: leg movement ≥ 0.5 s   ·   CLM: candidate LM, 0.5-10 s (bilateral ≤ 15 s)   ·   "
    "PLM: CLM in a run of ≥ 4 with IMIs of 10-90 s   ·   IMI: onset to onset   ·   "
)
# The periodicity index as the night was scored (ScoringParams.periodicity).
PI_DEFINITIONS = {
    "plm_per_clm": "PI (periodicity index): PLMs / CLMs",
    "ferri": "PI (periodicity index, Ferri): share of IMIs in runs of ≥ 3 within 10-90 s",
}


@dataclass(frozen=True)
class TimeAxis:
    """Hours from the start of the night -> what the clock said, and the axis label."""

    start_local: datetime | None  # the start in the person's local time zone
    end_h: float

    def label(self, h: float) -> str:
        if self.start_local is None:
            minutes = round(h * 60)
            return f"{minutes // 60}:{minutes % 60:02d}"
        return (self.start_local + timedelta(hours=float(h))).strftime("%H:%M")

    def title(self) -> str:
        if self.start_local is None:
            return "time from the start of the recording (h:mm; start time unknown)"
        off = self.start_local.utcoffset() or timedelta(0)
        return f"local time ({_utc_offset_text(off)}), night of {self.start_local:%a %d %b %Y}"


def plot_night(
    path: Path,
    scoring: Scoring,
    info: NightInfo,
    epochs: Epochs | None,
    *,
    movements: Movements | None = None,
    markers: MarkerList | list[Marker] | None = None,
    utc_offset: tzinfo | timedelta | int | None = None,
    quality: dict[str, Any] | None = None,
    leg_rows: bool = False,
) -> None:
    """Draw the night and write it as a 1600x1000 px PNG, atomically (temp + rename).

    The keyword arguments are optional. Left out, each is read from the night folder the
    picture is written into, when the file is there: `movements` (for those under 0.5 s)
    from events.csv, `markers` from markers.csv, `quality` (summary keys `gaps`,
    `resets`, `clock`) from summary.json. `utc_offset` is the person's time zone (a
    tzinfo, a timedelta or minutes east of UTC); left out, the night's
    `utc_offset_min` (the device's configuration) when known, else the host's zone.
    `leg_rows` (a night of both legs, with `movements` naming each one's leg): the
    movement panel gets a row per leg with that leg's own LMs, coloured by the class of
    the LM they belong to, bilateral ones marked.
    """
    path = Path(path)
    folder = path.parent
    if markers is None:
        markers = read_markers(folder)
    elif not isinstance(markers, MarkerList):
        markers = MarkerList(list(markers), known=True)
    if quality is None:
        quality = quality_of(info) or _summary_beside(folder)
    short_s = _short_movements(movements, scoring, folder)
    axis = TimeAxis(
        _local_start(info, utc_offset),
        max(info.recording_s, float(scoring.lms.offset_s.max(initial=0.0))) / 3600.0,
    )

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(
        5,
        2,
        width_ratios=(3.3, 1),
        height_ratios=(1.25, 1.25, 1.05, 0.42, 1.1),
        left=0.085,
        right=0.985,
        top=0.875,
        bottom=0.105,
        wspace=0.16,
        hspace=0.42,
    )
    ax_lms = fig.add_subplot(grid[0, 0])
    ax_imi = fig.add_subplot(grid[1, 0], sharex=ax_lms)
    ax_act = fig.add_subplot(grid[2, 0], sharex=ax_lms)
    ax_pos = fig.add_subplot(grid[3, 0], sharex=ax_lms)
    ax_hour = fig.add_subplot(grid[4, 0], sharex=ax_lms)
    ax_hist = fig.add_subplot(grid[0:3, 1])
    ax_text = fig.add_subplot(grid[3:5, 1])

    legs = _leg_ticks(scoring, movements) if leg_rows and movements is not None else None
    _draw_lms(ax_lms, scoring, short_s, info, markers, legs)
    _draw_imi_over_night(ax_imi, scoring)
    _draw_activity(ax_act, scoring, epochs, info.recording_s)
    _draw_posture(ax_pos, epochs)
    _draw_hourly(ax_hour, scoring, info, epochs, axis)
    for ax in (ax_lms, ax_imi, ax_act):
        _shade_series(ax, scoring)
    for ax in (ax_lms, ax_imi, ax_act, ax_pos):
        ax.tick_params(labelbottom=False)
    _draw_markers([ax_lms, ax_imi, ax_act, ax_pos, ax_hour], markers)
    _time_axis(ax_hour, axis)
    _draw_imi_histogram(ax_hist, scoring)
    _draw_quality(ax_text, info, quality, markers, epochs, ax_hist)
    _header(fig, scoring, info, epochs, axis)
    pi_text = PI_DEFINITIONS.get(scoring.params.periodicity, "PI: periodicity index")
    fig.text(
        0.5, 0.012, DEFINITIONS + pi_text, ha="center", va="bottom", fontsize=9.5, color="#333333"
    )
    _write_atomically(fig, path)


# --- what the folder says -------------------------------------------------------------


def _summary_beside(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def quality_of(info: NightInfo) -> dict[str, Any]:
    """The summary's quality keys (`resets`, `gaps`, `clock`) from what the night's info
    carries, where the writer of the night knows them; {} when it says nothing."""
    out: dict[str, Any] = {}
    resets = getattr(info, "resets", None)
    if isinstance(resets, int):
        out["resets"] = resets
    gaps = getattr(info, "gaps_s", None)
    if gaps is not None:
        durations = sorted((float(g[1]) for g in gaps), reverse=True)
        out["gaps"] = {
            "count": len(durations),
            "total_s": sum(durations),
            "longest": [{"duration_s": d} for d in durations[:5]],
        }
    clock = getattr(info, "clock", None)
    if isinstance(clock, dict):
        out["clock"] = clock
    return out


def _short_movements(movements: Movements | None, scoring: Scoring, folder: Path) -> np.ndarray:
    """Onsets (s) of the movements that are not LMs (under 0.5 s)."""
    if movements is not None:
        not_lm = np.asarray(scoring.movement_lm) < 0
        if len(not_lm) == len(movements):
            return np.asarray(movements.onset_s, dtype=float)[not_lm]
        return np.zeros(0)
    onsets: list[float] = []
    try:
        with open(folder / "events.csv", newline="") as f:
            for row in csv.DictReader(f):
                if row.get("lm") == "0":
                    onsets.append(float(row["onset_s"]))
    except (OSError, ValueError, KeyError, TypeError):
        return np.zeros(0)
    return np.asarray(onsets, dtype=float)


def _local_start(info: NightInfo, utc_offset: tzinfo | timedelta | int | None) -> datetime | None:
    if info.start_utc is None:
        return None
    return info.start_utc.astimezone(local_zone(info.start_utc, utc_offset, info.extra))


def local_zone(
    start_utc: datetime,
    utc_offset: tzinfo | timedelta | int | None = None,
    extra: dict[str, str] | None = None,
) -> tzinfo:
    """The person's time zone: `utc_offset` (tzinfo, timedelta or minutes east of UTC),
    else the night's configured `utc_offset_min`, else the host's zone at `start_utc`."""
    if isinstance(utc_offset, tzinfo):
        return utc_offset
    if isinstance(utc_offset, timedelta):
        return timezone(utc_offset)
    if isinstance(utc_offset, int):
        return timezone(timedelta(minutes=utc_offset))
    configured = (extra or {}).get("utc_offset_min")
    if configured not in (None, ""):
        with contextlib.suppress(ValueError, TypeError):
            return timezone(timedelta(minutes=int(str(configured))))
    zone = start_utc.astimezone().tzinfo
    return zone if zone is not None else UTC


def _utc_offset_text(off: timedelta) -> str:
    minutes = round(off.total_seconds() / 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


# --- panels ---------------------------------------------------------------------------


def _lm_classes(scoring: Scoring) -> list[tuple[str, str, np.ndarray]]:
    lms = scoring.lms
    return [
        ("PLM", PLM_COLOUR, lms.plm),
        ("other CLM", CANDIDATE_COLOUR, lms.candidate & ~lms.plm),
        ("not CLM", LONG_COLOUR, ~lms.candidate),
    ]


def leg_text(scoring: Scoring, info: NightInfo) -> str:
    """Which leg(s) the movements are from, in words."""
    legs = {str(x) for x in scoring.lms.leg}
    bilateral = int(sum(1 for x in scoring.lms.leg if x == "bilateral"))
    if ("left" in legs and "right" in legs) or bilateral:
        return f"both legs ({bilateral} bilateral LM)"
    leg = next((x for x in ("left", "right") if x in legs), "") or info.leg
    return f"{leg} leg" if leg else "leg not recorded"


def _leg_ticks(
    scoring: Scoring, movements: Movements
) -> list[tuple[str, np.ndarray, list[str], np.ndarray]]:
    """Per leg: (leg, onset h, colour, bilateral?) of its movements that are in LMs."""
    owner = np.asarray(scoring.movement_lm)
    if len(owner) != len(movements):
        return []
    lms = scoring.lms
    colour_of = np.where(
        lms.plm, PLM_COLOUR, np.where(lms.candidate, CANDIDATE_COLOUR, LONG_COLOUR)
    )
    out = []
    for leg in ("left", "right"):
        rows = np.flatnonzero((np.asarray(movements.leg) == leg) & (owner >= 0))
        bilateral = np.asarray(lms.leg)[owner[rows]] == "bilateral"
        out.append(
            (
                leg,
                np.asarray(movements.onset_s, dtype=float)[rows] / 3600.0,
                [str(c) for c in colour_of[owner[rows]]],
                bilateral,
            )
        )
    return out


def _draw_lms(
    ax,
    scoring: Scoring,
    short_s: np.ndarray,
    info: NightInfo,
    markers: MarkerList,
    legs: list[tuple[str, np.ndarray, list[str], np.ndarray]] | None = None,
) -> None:
    onset_h = scoring.lms.onset_s / 3600.0
    rows = [(label, colour, onset_h[mask], 1.0) for label, colour, mask in _lm_classes(scoring)]
    rows.append(("< 0.5 s", SHORT_COLOUR, short_s / 3600.0, 0.35))
    if markers.known:
        # The person's button presses (black) and the device's markers (grey) on a row of
        # their own; their lines run down through every panel.
        y = len(rows)
        buttons = [m.t_s / 3600.0 for m in markers.buttons]
        others = [m.t_s / 3600.0 for m in markers.markers if m.name != "button"]
        ax.scatter(buttons, [y] * len(buttons), marker="v", s=60, color=BUTTON_COLOUR, zorder=5)
        ax.scatter(others, [y] * len(others), marker="D", s=22, color=MARKER_COLOUR, zorder=5)
        ax.text(
            -0.005,
            y,
            f"button {len(buttons)}",
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=10,
            color=BUTTON_COLOUR,
        )
    n_rows = len(rows) + (1 if markers.known else 0)
    for leg, x, colours, bilateral in legs or []:
        # A leg's own LMs, in the colour of the LM they make; a dot over bilateral ones.
        y = n_rows
        ax.vlines(x, y - 0.38, y + 0.38, colors=colours, linewidth=1.0)
        ax.scatter(x[bilateral], [y + 0.45] * int(bilateral.sum()), s=5, color="#000000")
        ax.text(
            -0.005,
            y,
            f"{leg} leg {len(x)}",
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=10,
            color="#222222",
        )
        n_rows += 1
    for row, (label, colour, x, alpha) in enumerate(rows):
        y = len(rows) - 1 - row
        ax.vlines(x, y - 0.38, y + 0.38, colors=colour, linewidth=1.0, alpha=alpha)
        ax.text(
            -0.005,
            y,
            f"{label} {len(x)}",
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=10,
            color=colour,
            fontweight="bold" if alpha == 1.0 else "normal",
        )
    ax.set_ylim(-0.6, n_rows - 0.4)
    ax.set_yticks([])
    why = (
        "(dot: bilateral; not CLM: too long or too many LMs; < 0.5 s: not LMs)"
        if legs
        else "(not CLM: too long, or bilateral of too many LMs; < 0.5 s: not LMs)"
    )
    ax.set_title(
        f"Movements, {leg_text(scoring, info)}  {why}  ·  shaded: PLM series",
        loc="left",
        fontsize=11.5,
    )
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _in_series(scoring: Scoring) -> np.ndarray:
    """Per LM: its IMI lies inside a PLM series (it follows a PLM of the same series)."""
    lms = scoring.lms
    inside = np.zeros(len(lms), dtype=bool)
    inside[1:] = lms.plm[1:] & (lms.series[1:] == lms.series[:-1])
    return inside


def _draw_imi_over_night(ax, scoring: Scoring) -> None:
    lms = scoring.lms
    imi = np.asarray(lms.imi_s, dtype=float)
    has = ~np.isnan(imi)
    low, high = 0.5, 1000.0
    x = lms.onset_s / 3600.0
    inside = _in_series(scoring)
    ax.axhspan(
        scoring.params.min_imi_s, scoring.params.max_imi_s, color=SERIES_COLOUR, alpha=0.18, lw=0
    )
    for mask, colour, size in ((has & ~inside, CANDIDATE_COLOUR, 9), (inside, PLM_COLOUR, 11)):
        ax.scatter(
            x[mask], np.clip(imi[mask], low, high), s=size, color=colour, linewidths=0, zorder=3
        )
    over = has & (imi > high)
    if over.any():
        ax.scatter(x[over], np.full(int(over.sum()), high), marker="^", s=16, color="#444444")
    ax.set_yscale("log")
    ax.set_ylim(low * 0.9, high * 1.25)
    ax.yaxis.set_major_locator(FixedLocator([1, 10, 90, 1000]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("IMI (s)")
    ax.set_title(
        "IMI over the night: each LM's interval from the previous one "
        f"(vermillion: within a PLM series; band: {scoring.params.min_imi_s:g}-"
        f"{scoring.params.max_imi_s:g} s)",
        loc="left",
        fontsize=11.5,
    )
    if not has.any():
        ax.text(0.5, 0.5, "no IMIs", transform=ax.transAxes, ha="center", va="center")
    ax.grid(axis="y", color="#DDDDDD", linewidth=0.8)
    ax.set_axisbelow(True)


def _draw_activity(ax, scoring: Scoring, epochs: Epochs | None, recording_s: float) -> None:
    if epochs is not None and len(epochs):
        start_h = epochs.start_s / 3600.0
        width_h = epochs.epoch_s / 3600.0
        value = np.asarray(epochs.activity_mg_s, dtype=float)
        # One collection, not a Rectangle artist per epoch: a 24 h night has 2,880 epochs,
        # and per-epoch artists made the picture's memory and time grow with the night.
        left = np.asarray(start_h, dtype=float)
        verts = np.stack(
            [
                np.column_stack([left, np.zeros_like(value)]),
                np.column_stack([left, value]),
                np.column_stack([left + width_h, value]),
                np.column_stack([left + width_h, np.zeros_like(value)]),
            ],
            axis=1,
        )
        ax.add_collection(PolyCollection(list(verts), facecolors=ACTIVITY_COLOUR, linewidths=0))
        ax.autoscale_view()
        ax.set_ylabel(f"mg·s per\n{epochs.epoch_s:g} s epoch")
        _clip_to_bulk(ax, value)
        for gap_start, gap_end in _gaps(epochs, recording_s):
            ax.axvspan(gap_start / 3600.0, gap_end / 3600.0, color=GAP_COLOUR, alpha=0.5, lw=0)
            ax.axvspan(
                gap_start / 3600.0, gap_end / 3600.0, fill=False, hatch="//", color="#888888", lw=0
            )
        title = "Activity per epoch (grey hatched: no data)"
    else:
        edges = np.arange(0.0, max(recording_s, DENSITY_BIN_S) + DENSITY_BIN_S, DENSITY_BIN_S)
        counts, _ = np.histogram(scoring.lms.onset_s, bins=edges)
        rate = counts * (3600.0 / DENSITY_BIN_S)
        ax.stairs(rate, edges / 3600.0, fill=True, color=ACTIVITY_COLOUR, linewidth=0)
        ax.set_ylabel(f"LM per hour\n({DENSITY_BIN_S / 60:g}-min bins)")
        title = "LM density (no epoch data: gaps unknown)"
    ax.set_ylim(bottom=0)
    ax.set_title(title, loc="left", fontsize=11.5)
    ax.grid(axis="y", color="#DDDDDD", linewidth=0.8)
    ax.set_axisbelow(True)


def _clip_to_bulk(ax, value: np.ndarray) -> None:
    """Scale the y axis to the bulk of the night so one violent turn does not flatten
    everything; clipped epochs are counted in the corner, outside the data."""
    if len(value) == 0 or not np.any(value > 0):
        return
    top = float(np.percentile(value, 99.5)) * 1.15
    if top <= 0 or top >= value.max():
        return
    ax.set_ylim(0, top)
    over = value > top
    ax.annotate(
        f"{int(over.sum())} epoch(s) above scale",
        xy=(1.0, 1.02),
        xycoords="axes fraction",
        ha="right",
        va="bottom",
        fontsize=9,
        color="#444444",
    )


def _gaps(epochs: Epochs, recording_s: float) -> list[tuple[float, float]]:
    """Stretches with no epoch (no samples), longer than one epoch."""
    start = np.sort(np.asarray(epochs.start_s, dtype=float))
    ends = start + epochs.epoch_s
    gaps = []
    if start[0] > epochs.epoch_s:
        gaps.append((0.0, float(start[0])))
    jump = np.flatnonzero(start[1:] - ends[:-1] > 1e-6)
    gaps += [(float(ends[i]), float(start[i + 1])) for i in jump]
    if recording_s - ends[-1] > epochs.epoch_s:
        gaps.append((float(ends[-1]), float(recording_s)))
    return gaps


def posture_classes(posture_mg: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Group epochs by leg orientation: each epoch's gravity vector joins the first
    posture whose centre is within POSTURE_SAME_DEG, else starts a new one. Returns the
    class per epoch (-1: no orientation) and the unit centres, most frequent first."""
    v = np.asarray(posture_mg, dtype=float).reshape(-1, 3)
    norm = np.linalg.norm(v, axis=1)
    unit = np.divide(v, norm[:, None], out=np.zeros_like(v), where=norm[:, None] > 0)
    cos_same = math.cos(math.radians(POSTURE_SAME_DEG))
    centres: list[np.ndarray] = []
    label = np.full(len(v), -1, dtype=np.int64)
    for i in range(len(v)):
        if norm[i] < 100.0:  # under 0.1 g: no usable orientation
            continue
        for k, c in enumerate(centres):
            if float(unit[i] @ c) >= cos_same:
                label[i] = k
                break
        else:
            centres.append(unit[i])
            label[i] = len(centres) - 1
    if not centres:
        return label, []
    counts = np.bincount(label[label >= 0], minlength=len(centres))
    order = np.argsort(-counts, kind="stable")
    rank = np.empty(len(centres), dtype=np.int64)
    rank[order] = np.arange(len(centres))
    out = np.where(label >= 0, rank[np.maximum(label, 0)], -1)
    return out, [centres[k] for k in order]


def _draw_posture(ax, epochs: Epochs | None) -> None:
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if epochs is None or not len(epochs):
        ax.set_title("Posture: unknown (no epoch data)", loc="left", fontsize=11.5)
        return
    label, centres = posture_classes(epochs.posture_mg)
    start_h = np.asarray(epochs.start_s, dtype=float) / 3600.0
    width_h = epochs.epoch_s / 3600.0
    named = min(len(centres), MAX_POSTURES if len(centres) <= MAX_POSTURES else MAX_POSTURES - 1)
    groups = [(chr(ord("A") + k), label == k, POSTURE_COLOURS[k]) for k in range(named)]
    if len(centres) > named:
        groups.append(("other", label >= named, OTHER_POSTURE_COLOUR))
    with_orientation = max(1, int((label >= 0).sum()))
    parts = []
    for k, (name, mask, colour) in enumerate(groups):
        ax.broken_barh([(float(s), width_h) for s in start_h[mask]], (0, 1), color=colour, lw=0)
        text = f"{name} {100.0 * mask.sum() / with_orientation:.0f} %"
        if 0 < k < named:
            angle = math.degrees(math.acos(float(np.clip(centres[k] @ centres[0], -1, 1))))
            text += f" ({angle:.0f}° from A)"
        parts.append(text)
    ax.set_ylim(0, 1)
    ax.set_title(
        "Posture by epoch (one colour per leg orientation): " + "  ·  ".join(parts),
        loc="left",
        fontsize=11.5,
    )


def _shade_series(ax, scoring: Scoring) -> None:
    lms = scoring.lms
    in_series = np.flatnonzero(lms.series > 0)
    if not len(in_series):
        return
    # Series are numbered in onset order: each one's first and last LM, found in one pass,
    # drawn as one collection spanning the axes' height (not an axvspan per series).
    numbers = lms.series[in_series]
    firsts = in_series[np.r_[True, numbers[1:] != numbers[:-1]]]
    lasts = in_series[np.r_[numbers[1:] != numbers[:-1], True]]
    spans = [
        (float(a), float(b - a))
        for a, b in zip(lms.onset_s[firsts] / 3600.0, lms.offset_s[lasts] / 3600.0, strict=True)
    ]
    ax.broken_barh(
        spans, (0, 1), transform=ax.get_xaxis_transform(), color=SERIES_COLOUR, alpha=0.22, lw=0
    )


def data_spans(info: NightInfo, epochs: Epochs | None) -> list[tuple[float, float]]:
    """Stretches with data (s): the night's own, else epochs that had samples, else all."""
    if info.data_spans_s is not None:
        return list(info.data_spans_s)
    if epochs is not None and len(epochs):
        spans: list[tuple[float, float]] = []
        for s, n in zip(epochs.start_s, epochs.n_samples, strict=True):
            a, b = float(s), min(float(s) + epochs.epoch_s, info.recording_s)
            if n <= 0 or b <= a:
                continue
            if spans and a <= spans[-1][1] + 1e-6:
                spans[-1] = (spans[-1][0], max(spans[-1][1], b))
            else:
                spans.append((a, b))
        return spans
    return [(0.0, info.recording_s)]


def clock_hour_bins(axis: TimeAxis, recording_s: float) -> list[tuple[float, float]]:
    """(start, end) in s of each clock hour the recording touches, clipped to it."""
    end = max(recording_s, 1e-9)
    if axis.start_local is None:
        first = 0.0
    else:
        s = axis.start_local
        first = -(s.minute * 60 + s.second + s.microsecond / 1e6)
    bins = []
    k = 0
    while first + 3600.0 * k < end:
        a = max(first + 3600.0 * k, 0.0)
        b = min(first + 3600.0 * (k + 1), end)
        if b > a:
            bins.append((a, b))
        k += 1
    return bins


def hourly_plm_index(
    scoring: Scoring, spans: list[tuple[float, float]], bins: list[tuple[float, float]]
) -> list[tuple[float, float, int, float]]:
    """Per bin: (start s, end s, PLM count, analysed s in it)."""
    onset = scoring.lms.onset_s[scoring.lms.plm]
    out = []
    for i, (a, b) in enumerate(bins):
        last = i == len(bins) - 1
        inside = (onset >= a) & ((onset <= b) if last else (onset < b))
        data_s = sum(max(0.0, min(b, e) - max(a, s)) for s, e in spans)
        out.append((a, b, int(inside.sum()), data_s))
    return out


def _draw_hourly(
    ax, scoring: Scoring, info: NightInfo, epochs: Epochs | None, axis: TimeAxis
) -> None:
    rows = hourly_plm_index(
        scoring, data_spans(info, epochs), clock_hour_bins(axis, info.recording_s)
    )
    top_value = 0.0
    for a, b, n, data_s in rows:
        x0, width = a / 3600.0, (b - a) / 3600.0
        if data_s < MIN_HOUR_DATA_S:
            if b - a < MIN_HOUR_DATA_S:  # a sliver of an hour at an end: nothing to say
                continue
            ax.text(
                x0 + width / 2,
                1,
                f"{data_s / 60:.0f} min\nof data",
                ha="center",
                va="bottom",
                fontsize=8,
                color="#666666",
            )
            continue
        value = n / (data_s / 3600.0)
        top_value = max(top_value, value)
        pad = min(0.02, width * 0.05)
        ax.bar(x0 + pad, value, width=width - 2 * pad, align="edge", color=PLM_COLOUR)
        ax.text(x0 + width / 2, value, f"{value:.0f}", ha="center", va="bottom", fontsize=9)
    ax.axhline(CLINICAL_PLMI_PER_H, color="black", linestyle="--", linewidth=1.2)
    ax.set_ylim(0, max(CLINICAL_PLMI_PER_H * 1.6, top_value * 1.25))
    ax.set_ylabel("PLM index\n(per hour of data)")
    ax.set_title(
        f"PLM index per clock hour (dashed: {CLINICAL_PLMI_PER_H:g}/h, the adult PLMD "
        "threshold; partial hours drawn narrower)",
        loc="left",
        fontsize=11.5,
    )
    ax.grid(axis="y", color="#DDDDDD", linewidth=0.8)
    ax.set_axisbelow(True)


def _draw_markers(axes: list, markers: MarkerList) -> None:
    """Lines through the panels: button presses (black) and other device markers (grey);
    the LM panel shows them on a row of their own."""
    for m in markers.markers:
        button = m.name == "button"
        for ax in axes:
            ax.axvline(
                m.t_s / 3600.0,
                color=BUTTON_COLOUR if button else MARKER_COLOUR,
                linestyle="-" if button else ":",
                linewidth=1.2 if button else 1.0,
                zorder=4,
            )


def tick_step_min(length_h: float) -> int:
    """Minutes between labelled ticks for a night of this length (at most MAX_TICKS)."""
    for step in TICK_STEPS_MIN:
        if length_h * 60.0 / step <= MAX_TICKS:
            return step
    return TICK_STEPS_MIN[-1]


def time_ticks(axis: TimeAxis) -> list[float]:
    """Tick positions (hours from the start) on round local clock minutes."""
    end_h = max(axis.end_h, 1e-6)
    step = tick_step_min(end_h)
    if axis.start_local is None:
        offset_min = 0.0
    else:
        s = axis.start_local
        offset_min = s.hour * 60 + s.minute + s.second / 60 + s.microsecond / 6e7
    first = math.ceil(offset_min / step - 1e-9) * step - offset_min  # minutes from start
    ticks = np.arange(first, end_h * 60.0 + 1e-6, step) / 60.0
    return [float(t) for t in ticks]


def _time_axis(ax, axis: TimeAxis) -> None:
    ax.set_xlim(0, max(axis.end_h, 1.0 / 60))
    ax.xaxis.set_major_locator(FixedLocator(time_ticks(axis)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda h, _: axis.label(h)))
    ax.set_xlabel(axis.title())


def _draw_imi_histogram(ax, scoring: Scoring) -> None:
    hist = scoring.summary["imi_histogram"]
    edges = np.asarray(hist["edges_s"], dtype=float)
    imi = scoring.lms.imi_s
    in_series = _in_series(scoring)
    periodic, _ = np.histogram(imi[in_series], bins=edges)
    other, _ = np.histogram(imi[~in_series & ~np.isnan(imi)], bins=edges)
    # The 0-1 s bin is drawn from 0.5 s on the log axis.
    left = edges[:-1].copy()
    left[0] = 0.5
    width = edges[1:] - left
    window = f"{scoring.params.min_imi_s:g}-{scoring.params.max_imi_s:g} s window"
    ax.axvspan(
        scoring.params.min_imi_s,
        scoring.params.max_imi_s,
        color=SERIES_COLOUR,
        alpha=0.2,
        lw=0,
        label=window,
    )
    ax.bar(left, other, width=width, align="edge", color=CANDIDATE_COLOUR, label="other IMIs")
    ax.bar(
        left,
        periodic,
        width=width,
        bottom=other,
        align="edge",
        color=PLM_COLOUR,
        label="IMIs within PLM series",
    )
    ax.set_xscale("log")
    ax.set_xlim(0.5, edges[-1])
    ax.set_xticks([1, 10, 90, 1000])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.set_xlabel("IMI, onset to onset (s, log scale)")
    ax.set_ylabel("number of IMIs")
    ax.set_title("IMI histogram", loc="left", fontsize=11.5)
    if periodic.sum() + other.sum() == 0:
        ax.text(0.5, 0.5, "no IMIs", transform=ax.transAxes, ha="center", fontsize=14)
        ax.set_ylim(0, 1)
    else:
        ax.set_ylim(0, max(periodic + other) * 1.1)
    above = hist.get("above_range", 0)
    if above:
        ax.annotate(
            f"+{above} above {edges[-1]:g} s",
            xy=(1.0, 1.01),
            xycoords="axes fraction",
            ha="right",
            va="bottom",
            fontsize=9,
        )
    ax.grid(axis="y", color="#DDDDDD", linewidth=0.8)
    ax.set_axisbelow(True)


def quality_lines(
    info: NightInfo,
    summary: dict[str, Any],
    markers: MarkerList,
    epochs: Epochs | None,
) -> list[str]:
    """The night's data quality in words; "unknown" where the night does not say."""
    lines = [
        f"recorded {info.recording_s / 3600:.2f} h, with data {info.analysed_s / 3600:.2f} h",
    ]
    gaps = summary.get("gaps")
    if isinstance(gaps, dict):
        count = gaps.get("count")
        total = gaps.get("total_s")
        longest = longest_gap_s(gaps)
        text = f"gaps: {count if count is not None else '?'}"
        if isinstance(total, int | float):
            text += f", {total:.0f} s in all"
        if isinstance(longest, int | float):
            text += f", longest {longest:.0f} s"
        lines.append(text)
    else:
        missing = max(0.0, info.recording_s - info.analysed_s)
        lines.append(f"gaps: count unknown, {missing:.0f} s without data")
    resets = summary.get("resets")
    if isinstance(resets, int | float):
        lines.append(f"resets: {int(resets)}")
    elif isinstance(resets, dict) and isinstance(resets.get("count"), int | float):
        lines.append(f"resets: {int(resets['count'])}")
    else:
        lines.append("resets: unknown")
    lines.append("clock: " + clock_text(summary, info))
    if markers.known:
        lines.append(
            f"button presses: {len(markers.buttons)}, other markers: "
            f"{len(markers.markers) - len(markers.buttons)}"
        )
    else:
        lines.append("markers: unknown (no markers.csv)")
    if epochs is None:
        lines.append("epochs: none (no activity or posture)")
    return lines


def longest_gap_s(gaps: dict[str, Any]) -> float | None:
    """The longest gap (s) of a summary's `gaps` block, when it lists any."""
    listed = gaps.get("longest")
    if not isinstance(listed, list):
        return None
    values = [
        float(g["duration_s"])
        for g in listed
        if isinstance(g, dict) and isinstance(g.get("duration_s"), int | float)
    ]
    return max(values, default=None)


def clock_text(summary: dict[str, Any], info: NightInfo | None = None) -> str:
    """The night's clock status in a few words ("unknown" when the night does not say)."""
    clock = summary.get("clock")
    if isinstance(clock, dict) and all(isinstance(clock.get(k), dict) for k in ("left", "right")):
        # A night of both legs: each leg's clock (bilateral_night).
        legs = [clock["left"], clock["right"]]
        known = all(c.get("utc_known") for c in legs)
        steps = sum(int(c["steps"]) for c in legs if isinstance(c.get("steps"), int | float))
        drifts = [
            f"{c['drift_ppm']:+.0f}" if isinstance(c.get("drift_ppm"), int | float) else "?"
            for c in legs
        ]
        text = f"UTC {'known' if known else 'not known'}, drift L {drifts[0]} / R {drifts[1]} ppm"
        return text + (f", {steps} step(s)" if steps else "")
    if isinstance(clock, dict):
        parts = []
        known = clock.get("utc_known")
        if known is not None:
            parts.append("UTC known" if known else "UTC not known")
        steps = clock.get("steps")
        if isinstance(steps, list):
            steps = len(steps)
        if isinstance(steps, int | float):
            parts.append(f"{int(steps)} step(s)")
        drift = clock.get("drift_ppm")
        if isinstance(drift, int | float):
            parts.append(f"drift {drift:.0f} ppm")
        elif parts and clock.get("utc_known"):
            parts.append("drift unknown")
        return ", ".join(parts) if parts else "unknown"
    recording = summary.get("recording") if isinstance(summary.get("recording"), dict) else {}
    drift = (info.extra if info is not None else {}).get("clock_drift_ppm") or (
        recording or {}
    ).get("clock_drift_ppm")
    start_known = (
        (info.start_utc is not None)
        if info is not None
        else bool((recording or {}).get("start_utc"))
    )
    if not start_known:
        return "UTC not known"
    if drift not in (None, "", "None"):
        try:
            return f"UTC known, drift {float(str(drift)):.0f} ppm"
        except ValueError:
            pass
    return "UTC known, drift unknown"


def _draw_quality(
    ax,
    info: NightInfo,
    summary: dict[str, Any],
    markers: MarkerList,
    epochs: Epochs | None,
    ax_hist,
) -> None:
    ax.axis("off")
    # The histogram's legend goes here, below it, never over its bars.
    handles, labels = ax_hist.get_legend_handles_labels()
    ax.legend(handles, labels, loc="upper left", fontsize=9.5, frameon=False, ncol=1,
              bbox_to_anchor=(-0.02, 1.0))  # fmt: skip
    ax.text(0.0, 0.6, "Data quality", fontsize=11.5, transform=ax.transAxes, va="top")
    ax.text(
        0.0,
        0.5,
        "\n".join(quality_lines(info, summary, markers, epochs)),
        fontsize=10,
        transform=ax.transAxes,
        va="top",
        linespacing=1.45,
        color="#222222",
    )


def _header(
    fig: Figure, scoring: Scoring, info: NightInfo, epochs: Epochs | None, axis: TimeAxis
) -> None:
    s = scoring.summary
    pi = s["periodicity_index"]
    fig.text(
        0.02,
        0.955,
        f"PLM index {s['plm_index']:.1f}/h   ·   PLM {s['plm_count']} in "
        f"{s['plm_series_count']} series   ·   LM {s['lm_count']} ({s['lm_index']:.1f}/h)   ·   "
        "periodicity index " + ("–" if pi is None else f"{pi:.2f}"),
        fontsize=17,
        fontweight="bold",
    )
    parts = [info.source] if info.source else []
    if axis.start_local is not None:
        off = axis.start_local.utcoffset() or timedelta(0)
        parts.append(f"{axis.start_local:%Y-%m-%d %H:%M} {_utc_offset_text(off)}")
    parts.append(f"{s['recording_hours']:.1f} h recorded, {s['analysed_hours']:.1f} h analysed")
    parts.append(f"{s['rules']} rules; indices per hour of analysed time (no sleep staging)")
    if epochs is None:
        parts.append("no epoch data")
    fig.text(0.02, 0.918, "   ·   ".join(parts), fontsize=11, color="#333333")


def _write_atomically(fig: Figure, path: Path) -> None:
    write_png_atomically(fig, path, DPI)
