"""night.png: the whole night at a glance for a sleep clinician.

Left, on one time axis (clock time when the start is known, else hours from the
start): every LM as a tick in three rows by class, PLM series shaded, activity per
epoch with the data gaps hatched, and the hourly PLM index against the 15/h line.
Right: the IMI histogram on a log axis with the 10-90 s window shaded. A header
line carries the key numbers. Okabe-Ito colours, safe for colour-blind readers.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MultipleLocator

from legsense.night import Epochs, NightInfo
from legsense.scoring import Scoring

WIDTH_PX, HEIGHT_PX, DPI = 1600, 1000, 100
CLINICAL_PLMI_PER_H = 15.0  # adult PLMD threshold

# Okabe-Ito palette
PLM_COLOUR = "#D55E00"  # vermillion
CANDIDATE_COLOUR = "#0072B2"  # blue
LONG_COLOUR = "#CC79A7"  # reddish purple
SERIES_COLOUR = "#E69F00"  # orange
ACTIVITY_COLOUR = "#555555"
GAP_COLOUR = "#BBBBBB"
DENSITY_BIN_S = 300.0  # LM density bins when there are no epochs


def plot_night(path: Path, scoring: Scoring, info: NightInfo, epochs: Epochs | None) -> None:
    """Draw the night and write it as a 1600x1000 px PNG, atomically (temp + rename)."""
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(
        3,
        2,
        width_ratios=(3.2, 1),
        height_ratios=(1, 2.6, 1.6),
        left=0.085,
        right=0.985,
        top=0.875,
        bottom=0.075,
        wspace=0.16,
        hspace=0.12,
    )
    ax_lms = fig.add_subplot(grid[0, 0])
    ax_act = fig.add_subplot(grid[1, 0], sharex=ax_lms)
    ax_hour = fig.add_subplot(grid[2, 0], sharex=ax_lms)
    ax_imi = fig.add_subplot(grid[:, 1])

    end_h = max(info.recording_s, float(scoring.lms.offset_s.max(initial=0.0))) / 3600.0
    _draw_lms(ax_lms, scoring)
    _draw_activity(ax_act, scoring, epochs, info.recording_s)
    _draw_hourly(ax_hour, scoring)
    for ax in (ax_lms, ax_act):
        _shade_series(ax, scoring)
        ax.tick_params(labelbottom=False)
    _time_axis(ax_hour, info.start_utc, end_h)
    _draw_imi_histogram(ax_imi, scoring)
    _header(fig, scoring, info, epochs)
    _write_atomically(fig, Path(path))


# --- panels ---------------------------------------------------------------------------


def _lm_classes(scoring: Scoring) -> list[tuple[str, str, np.ndarray]]:
    lms = scoring.lms
    return [
        ("PLM", PLM_COLOUR, lms.plm),
        ("other CLM", CANDIDATE_COLOUR, lms.candidate & ~lms.plm),
        ("not CLM", LONG_COLOUR, ~lms.candidate),
    ]


def _draw_lms(ax, scoring: Scoring) -> None:
    onset_h = scoring.lms.onset_s / 3600.0
    classes = _lm_classes(scoring)
    for row, (label, colour, mask) in enumerate(classes):
        y = len(classes) - 1 - row
        ax.vlines(onset_h[mask], y - 0.4, y + 0.4, colors=colour, linewidth=1.0)
        ax.text(
            -0.005,
            y,
            f"{label} {int(mask.sum())}",
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=10,
            color=colour,
            fontweight="bold",
        )
    ax.set_ylim(-0.6, len(classes) - 0.4)
    ax.set_yticks([])
    ax.set_title(
        "Leg movements (not CLM: too long, or bilateral of too many LMs); shaded: PLM series",
        loc="left",
        fontsize=12,
    )
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _draw_activity(ax, scoring: Scoring, epochs: Epochs | None, recording_s: float) -> None:
    if epochs is not None and len(epochs):
        start_h = epochs.start_s / 3600.0
        width_h = epochs.epoch_s / 3600.0
        value = np.asarray(epochs.activity_mg_s, dtype=float)
        ax.bar(start_h, value, width=width_h, align="edge", color=ACTIVITY_COLOUR, linewidth=0)
        ax.set_ylabel(f"activity per {epochs.epoch_s:g} s epoch\n(mg·s)")
        _clip_to_bulk(ax, value)
        for gap_start, gap_end in _gaps(epochs, recording_s):
            ax.axvspan(gap_start / 3600.0, gap_end / 3600.0, color=GAP_COLOUR, alpha=0.5, lw=0)
            ax.axvspan(
                gap_start / 3600.0, gap_end / 3600.0, fill=False, hatch="//", color="#888888", lw=0
            )
        title = "Activity (grey hatched: no data)"
    else:
        edges = np.arange(0.0, max(recording_s, DENSITY_BIN_S) + DENSITY_BIN_S, DENSITY_BIN_S)
        counts, _ = np.histogram(scoring.lms.onset_s, bins=edges)
        rate = counts * (3600.0 / DENSITY_BIN_S)
        ax.stairs(rate, edges / 3600.0, fill=True, color=ACTIVITY_COLOUR, linewidth=0)
        ax.set_ylabel(f"LM per hour\n({DENSITY_BIN_S / 60:g}-min bins)")
        title = "LM density (no epoch data: gaps unknown)"
    ax.set_ylim(bottom=0)
    ax.set_title(title, loc="left", fontsize=12)
    ax.grid(axis="y", color="#DDDDDD", linewidth=0.8)
    ax.set_axisbelow(True)


def _clip_to_bulk(ax, value: np.ndarray) -> None:
    """Scale the y axis to the bulk of the night so one violent turn does not flatten
    everything; clipped epochs are marked at the top."""
    if len(value) == 0 or not np.any(value > 0):
        return
    top = float(np.percentile(value, 99.5)) * 1.15
    if top <= 0 or top >= value.max():
        return
    ax.set_ylim(0, top)
    over = value > top
    ax.annotate(
        f"{int(over.sum())} epoch(s) above scale",
        xy=(1.0, 1.0),
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


def _shade_series(ax, scoring: Scoring) -> None:
    lms = scoring.lms
    for number in range(1, int(lms.series.max(initial=0)) + 1):
        rows = np.flatnonzero(lms.series == number)
        ax.axvspan(
            lms.onset_s[rows[0]] / 3600.0,
            lms.offset_s[rows[-1]] / 3600.0,
            color=SERIES_COLOUR,
            alpha=0.25,
            lw=0,
        )


def _draw_hourly(ax, scoring: Scoring) -> None:
    hourly = scoring.summary["hourly"]
    start = np.asarray(hourly["start_h"], dtype=float)
    plmi = hourly["plm_index"]
    has = np.array([v is not None for v in plmi], dtype=bool)
    value = np.array([0.0 if v is None else v for v in plmi])
    ax.bar(start[has] + 0.05, value[has], width=0.9, align="edge", color=PLM_COLOUR)
    for x, v in zip(start[has], value[has], strict=True):
        ax.text(x + 0.5, v, f"{v:.0f}", ha="center", va="bottom", fontsize=9)
    for x in start[~has]:
        ax.text(x + 0.5, 1, "no data", ha="center", va="bottom", fontsize=9, color="#666666")
    ax.axhline(CLINICAL_PLMI_PER_H, color="black", linestyle="--", linewidth=1.2)
    ax.annotate(
        f"{CLINICAL_PLMI_PER_H:g}/h",
        xy=(1.0, CLINICAL_PLMI_PER_H),
        xycoords=("axes fraction", "data"),
        ha="right",
        va="bottom",
        fontsize=9,
        bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
    )
    top = max([CLINICAL_PLMI_PER_H * 1.6, *(value * 1.2)])
    ax.set_ylim(0, top)
    ax.set_ylabel("PLM index\n(per analysed hour)")
    ax.set_title("Hourly PLM index", loc="left", fontsize=12)
    ax.grid(axis="y", color="#DDDDDD", linewidth=0.8)
    ax.set_axisbelow(True)


def _time_axis(ax, start_utc: datetime | None, end_h: float) -> None:
    ax.set_xlim(0, max(end_h, 0.25))
    step = 1.0 if end_h <= 14 else 2.0
    if start_utc is None:
        ax.xaxis.set_major_locator(MultipleLocator(step))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda h, _: f"{h:g} h"))
        ax.set_xlabel("time from start of recording")
        return
    past_hour_h = (start_utc.minute * 60 + start_utc.second) / 3600.0
    first = (1.0 - past_hour_h) % 1.0
    ticks = np.arange(first, end_h + 1e-9, step)
    ax.xaxis.set_major_locator(FixedLocator(ticks.tolist()))
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda h, _: (start_utc + timedelta(hours=float(h))).strftime("%H:%M"))
    )
    zone = start_utc.tzname() or "UTC"
    ax.set_xlabel(f"clock time ({zone}), night of {start_utc:%Y-%m-%d}")


def _draw_imi_histogram(ax, scoring: Scoring) -> None:
    hist = scoring.summary["imi_histogram"]
    edges = np.asarray(hist["edges_s"], dtype=float)
    lms = scoring.lms
    imi = lms.imi_s
    in_series = np.zeros(len(lms), dtype=bool)
    in_series[1:] = lms.plm[1:] & (lms.series[1:] == lms.series[:-1])
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
    ax.set_title("IMI histogram", loc="left", fontsize=12)
    if periodic.sum() + other.sum() == 0:
        ax.text(0.5, 0.5, "no IMIs", transform=ax.transAxes, ha="center", fontsize=14)
        ax.set_ylim(0, 1)
    above = hist.get("above_range", 0)
    if above:
        ax.annotate(
            f"+{above} above {edges[-1]:g} s",
            xy=(0.98, 0.98),
            xycoords="axes fraction",
            ha="right",
            va="top",
            fontsize=9,
        )
    ax.legend(loc="upper left", fontsize=10, frameon=False)
    ax.grid(axis="y", color="#DDDDDD", linewidth=0.8)
    ax.set_axisbelow(True)


def _header(fig: Figure, scoring: Scoring, info: NightInfo, epochs: Epochs | None) -> None:
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
    if info.start_utc is not None:
        zone = info.start_utc.tzname() or "UTC"
        parts.append(f"{info.start_utc:%Y-%m-%d %H:%M} {zone}")
    parts.append(f"{s['recording_hours']:.1f} h recorded, {s['analysed_hours']:.1f} h analysed")
    parts.append(f"{s['rules']} rules; indices per hour of analysed time (no sleep staging)")
    if epochs is None:
        parts.append("no epoch data")
    fig.text(0.02, 0.918, "   ·   ".join(parts), fontsize=11, color="#333333")


def _write_atomically(fig: Figure, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=DPI)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
