"""psg.png: a scored PSG night with its hypnogram, and the drawing helpers the
validation figure (and, later, night.png) share.

Top: the hypnogram (W, R, N1, N2, N3 from top to bottom; REM drawn bold), with the
respiratory events as bands and the arousals as ticks. Below, on the same clock: every
LM as a tick by class (PLM, other candidate, not a candidate), respiratory-related ones
marked. Okabe-Ito colours, safe for colour-blind readers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from legsense import atomic_file
from legsense.psg.context import N1, N2, N3, REM, WAKE, Hypnogram, Intervals
from legsense.scoring import Scoring

WIDTH_PX, HEIGHT_PX, DPI = 1600, 700, 100
PLM_COLOUR = "#D55E00"
CANDIDATE_COLOUR = "#0072B2"
LONG_COLOUR = "#CC79A7"
RESP_COLOUR = "#56B4E9"
AROUSAL_COLOUR = "#009E73"
STAGE_LEVEL = {WAKE: 4, REM: 3, N1: 2, N2: 1, N3: 0}
STAGE_TICKS = ("N3", "N2", "N1", "R", "W")


def draw_hypnogram(ax: Axes, hyp: Hypnogram, origin_s: float = 0.0) -> None:
    """The hypnogram as a step line in hours from `origin_s`; unscored epochs blank."""
    levels = np.array([STAGE_LEVEL.get(s, np.nan) for s in hyp.stage], dtype=float)
    x0 = (hyp.start_s - origin_s) / 3600.0
    x1 = (hyp.end_s - origin_s) / 3600.0
    xs = np.empty(2 * len(levels))
    ys = np.empty(2 * len(levels))
    xs[0::2], xs[1::2] = x0, x1
    ys[0::2], ys[1::2] = levels, levels
    ax.plot(xs, ys, color="#333333", lw=0.9)
    rem = np.array([s == REM for s in hyp.stage], dtype=bool)
    for a, b in zip(x0[rem], x1[rem], strict=True):
        ax.plot([a, b], [3, 3], color="#333333", lw=3.5, solid_capstyle="butt")
    ax.set_yticks(range(5), STAGE_TICKS)
    ax.set_ylim(-0.6, 4.6)
    ax.set_ylabel("stage")


def draw_events(ax: Axes, events: Intervals | None, y: tuple[float, float], colour: str) -> None:
    """Timed events as bands between y[0] and y[1] (hours on x)."""
    if events is None:
        return
    for on, off in zip(events.onset_s, events.offset_s, strict=True):
        ax.axvspan(on / 3600.0, max(off, on + 1.0) / 3600.0, ymin=y[0], ymax=y[1], color=colour,
                   alpha=0.6, lw=0)  # fmt: skip


def draw_lm_raster(ax: Axes, scoring: Scoring, y: float, label: str) -> None:
    """The scored LMs as ticks on row `y`, coloured by class."""
    lms = scoring.lms
    on_h = lms.onset_s / 3600.0
    for mask, colour in (
        (lms.plm, PLM_COLOUR),
        (lms.candidate & ~lms.plm, CANDIDATE_COLOUR),
        (~lms.candidate, LONG_COLOUR),
    ):
        if mask.any():
            ax.vlines(on_h[mask], y - 0.35, y + 0.35, color=colour, lw=0.8)
    resp = lms.respiratory
    if len(resp) and resp.any():
        ax.plot(on_h[resp], np.full(int(resp.sum()), y + 0.45), "x", color=RESP_COLOUR, ms=3)
    ax.text(0.0, y, f"{label} ", transform=ax.get_yaxis_transform(), ha="right", va="center")


def clock_axis(ax: Axes, start: datetime | None, end_h: float) -> None:
    """Hours on x; clock time labels when the start is known."""
    ax.set_xlim(0, max(end_h, 1e-3))
    if start is None:
        ax.set_xlabel("hours from the start")
        return

    def fmt(x: float, _pos: int) -> str:
        return (start + timedelta(hours=x)).strftime("%H:%M")

    ax.xaxis.set_major_formatter(FuncFormatter(fmt))
    ax.set_xlabel("clock time (PSG clock)")


def plot_psg_night(path: Path, scoring: Scoring, start: datetime | None, title: str) -> None:
    """Write psg.png for a scored PSG night (atomically)."""
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 1, height_ratios=(1.6, 1), left=0.08, right=0.985, top=0.9,
                            bottom=0.1, hspace=0.08)  # fmt: skip
    ax_h = fig.add_subplot(grid[0])
    ax_l = fig.add_subplot(grid[1], sharex=ax_h)
    ctx = scoring.context
    end_s = float(scoring.lms.offset_s.max(initial=0.0))
    if ctx is not None and ctx.hypnogram is not None and len(ctx.hypnogram):
        draw_hypnogram(ax_h, ctx.hypnogram)
        end_s = max(end_s, ctx.hypnogram.span_s[1])
    else:
        ax_h.text(0.5, 0.5, "no sleep stages", transform=ax_h.transAxes, ha="center")
        ax_h.set_yticks([])
    if ctx is not None:
        draw_events(ax_h, ctx.respiratory, (0.0, 0.06), RESP_COLOUR)
        draw_events(ax_h, ctx.arousals, (0.94, 1.0), AROUSAL_COLOUR)
    ax_h.tick_params(labelbottom=False)
    draw_lm_raster(ax_l, scoring, 0.0, "LM")
    ax_l.set_yticks([])
    ax_l.set_ylim(-0.6, 0.7)
    clock_axis(ax_l, start, end_s / 3600.0)
    s = scoring.summary
    parts = [title, f"PLM index {s['plm_index']}/h (time in bed)"]
    if "plms_index" in s:
        parts.append(f"PLMS index {s['plms_index']}/h")
        parts.append(f"PLMW index {s['plmw_index']}/h")
    fig.suptitle("   ".join(parts), fontsize=11)
    fig.text(0.99, 0.01, "ticks: PLM (vermillion), other CLM (blue), not CLM (purple); "
             "x: respiratory-related; bands: respiratory events (bottom), arousals (top)",
             ha="right", fontsize=8)  # fmt: skip
    write_png_atomically(fig, Path(path))


def write_png_atomically(fig: Figure, path: Path) -> None:
    """Save a figure as PNG at this module's resolution, atomically (atomic_file)."""
    atomic_file.write_png_atomically(fig, Path(path), DPI)
