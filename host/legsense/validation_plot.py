"""validation.png: a device night against its PSG at a glance.

Top: the PSG's hypnogram (when it has one) and, on the same clock, the LMs of the PSG
(both legs, and the device's leg) and of the device, each tick coloured by whether it
was matched. Bottom left: the onset errors of the matched LMs. Bottom right:
Bland-Altman of the PLM index, hour by hour (and night by night for several nights).
The first night is drawn; the others are in validation.json.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from legsense.psg.figure import (
    CANDIDATE_COLOUR,
    PLM_COLOUR,
    clock_axis,
    draw_hypnogram,
    write_png_atomically,
)
from legsense.validation import NightComparison, in_period, match_overlap

WIDTH_PX, HEIGHT_PX, DPI = 1600, 1000, 100
MISSED_COLOUR = "#999999"


def plot_validation(path: Path, nights: list[NightComparison], across: dict) -> None:
    """Write validation.png (atomically)."""
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(3, 2, height_ratios=(1.1, 1.2, 1.5), left=0.08, right=0.98,
                            top=0.92, bottom=0.07, hspace=0.35, wspace=0.18)  # fmt: skip
    night = nights[0]
    ax_h = fig.add_subplot(grid[0, :])
    ax_r = fig.add_subplot(grid[1, :], sharex=ax_h)
    ax_e = fig.add_subplot(grid[2, 0])
    ax_b = fig.add_subplot(grid[2, 1])
    origin = night.period[0]
    ctx = night.record.context.shifted(night.alignment.shift_s)
    if ctx.hypnogram is not None and len(ctx.hypnogram):
        draw_hypnogram(ax_h, ctx.hypnogram, origin_s=origin)
    else:
        ax_h.text(0.5, 0.5, "no sleep stages in the PSG", transform=ax_h.transAxes, ha="center")
        ax_h.set_yticks([])
    ax_h.tick_params(labelbottom=False)
    _rasters(ax_r, night)
    start = night.device.start_utc
    clock_axis(ax_r, None if start is None else _local(start, origin), _span_h(night))
    if start is not None:
        ax_r.set_xlabel("clock time (UTC, device clock)")
    _onset_errors(ax_e, night)
    _bland_altman(ax_b, nights, across)
    a = night.figures["alignment"]
    both = night.figures["comparisons"]["both_legs"]
    title = (
        f"legsense validate: PSG shifted {a['psg_to_device_shift_s']:+.2f} s "
        f"({a['method']}, confidence {a['confidence']})   LM sensitivity "
        f"{_fmt(both['lm']['sensitivity'])}, PPV {_fmt(both['lm']['ppv'])}   PLM index "
        f"PSG {both['plm_index']['psg']}/h, device {both['plm_index']['device']}/h"
    )
    fig.suptitle(title, fontsize=11)
    write_png_atomically(fig, Path(path))


def _local(start: datetime, origin_s: float) -> datetime:
    return start + timedelta(seconds=origin_s)


def _span_h(night: NightComparison) -> float:
    return (night.period[1] - night.period[0]) / 3600.0


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _rasters(ax, night: NightComparison) -> None:
    dev = night.device_scoring.lms
    rows = [("device", dev)]
    for name, scoring in night.psg_scorings.items():
        label = "PSG both legs" if name == "both_legs" else f"PSG {night.device.leg} leg"
        rows.append((label, scoring.lms))
    origin = night.period[0]
    d_in = in_period(dev.onset_s, night.period)
    for y, (label, lms) in enumerate(rows):
        inside = in_period(lms.onset_s, night.period)
        on = lms.onset_s[inside]
        matched = np.zeros(len(on), dtype=bool)
        if label != "device":
            m = match_overlap(on, lms.offset_s[inside], dev.onset_s[d_in], dev.offset_s[d_in])
            for i, _ in m.pairs:
                matched[i] = True
        else:
            for _, scoring in night.psg_scorings.items():
                p = scoring.lms
                p_in = in_period(p.onset_s, night.period)
                m = match_overlap(p.onset_s[p_in], p.offset_s[p_in], on, lms.offset_s[inside])
                for _, j in m.pairs:
                    matched[j] = True
                break
        plm = lms.plm[inside]
        x = (on - origin) / 3600.0
        for mask, colour in (
            (matched & plm, PLM_COLOUR),
            (matched & ~plm, CANDIDATE_COLOUR),
            (~matched, MISSED_COLOUR),
        ):
            if mask.any():
                ax.vlines(x[mask], y - 0.38, y + 0.38, color=colour, lw=0.8)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_title(
        "LMs: matched PLM (vermillion), matched other (blue), unmatched (grey)", fontsize=9
    )


def _onset_errors(ax, night: NightComparison) -> None:
    comp = night.figures["comparisons"]
    name = "same_leg" if "same_leg" in comp else "both_legs"
    dev = night.device_scoring.lms
    psg = night.psg_scorings[name].lms
    d_in = in_period(dev.onset_s, night.period)
    p_in = in_period(psg.onset_s, night.period)
    m = match_overlap(psg.onset_s[p_in], psg.offset_s[p_in], dev.onset_s[d_in], dev.offset_s[d_in])
    err = np.array([dev.onset_s[d_in][j] - psg.onset_s[p_in][i] for i, j in m.pairs])
    if len(err):
        ax.hist(np.clip(err, -2, 2), bins=np.linspace(-2, 2, 41), color=CANDIDATE_COLOUR)
    ax.axvline(0, color="#333333", lw=0.8)
    ax.set_xlabel("onset error, device - PSG (s; clipped to +-2)")
    ax.set_ylabel("matched LMs")
    ax.set_title(f"onset errors ({comp[name]['psg_leg']} leg(s) of the PSG)", fontsize=9)


def _bland_altman(ax, nights: list[NightComparison], across: dict) -> None:
    xs, ys = [], []
    for n in nights:
        h = n.figures["comparisons"]["both_legs"]["hourly"]
        for d, p in zip(h["device_plm_index"], h["psg_plm_index"], strict=True):
            xs.append((d + p) / 2)
            ys.append(d - p)
    ax.plot(xs, ys, "o", color=CANDIDATE_COLOUR, ms=4, alpha=0.7, label="hours")
    stats = nights[0].figures["comparisons"]["both_legs"]["hourly"]["bland_altman"]
    label = "hourly"
    if len(nights) > 1 and "both_legs" in across:
        a = across["both_legs"]
        dev = np.array(a["device_plm_index"])
        psg = np.array(a["psg_plm_index"])
        ax.plot((dev + psg) / 2, dev - psg, "s", color=PLM_COLOUR, ms=6, label="nights")
        stats = a["bland_altman"]
        label = "per night"
    if stats.get("n", 0) >= 2:
        ax.axhline(stats["bias"], color="#333333", lw=1)
        ax.axhline(stats["lower_loa"], color="#333333", lw=0.8, ls="--")
        ax.axhline(stats["upper_loa"], color="#333333", lw=0.8, ls="--")
        ax.set_title(
            f"Bland-Altman, PLM index ({label}): bias {stats['bias']:+.2f}/h, limits "
            f"{stats['lower_loa']:+.2f} to {stats['upper_loa']:+.2f}/h",
            fontsize=9,
        )
    ax.set_xlabel("mean of device and PSG (PLM/h)")
    ax.set_ylabel("device - PSG (PLM/h)")
    ax.legend(fontsize=8, loc="upper right")
