"""sit.png: a SIT on one page — its movements over the test and the discomfort ratings.

Top: every leg movement as a bar at its time (minutes into the test), PLMs in the PLM
colour, other candidates in the candidate colour, non-candidate LMs grey; the LMs per
5 minutes as a step line. Bottom: the discomfort curve, each answered prompt a dot joined
by a line, each missed prompt an open mark on the axis. The title gives the indices and
the published cut-off (docs/sit.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from legsense.night_plot import CANDIDATE_COLOUR, PLM_COLOUR
from legsense.sit import MAX_RATING, SitScore, SitSession

BIN_MIN = 5.0
OTHER_COLOUR = "#9A9A9A"
RATING_COLOUR = "#009E73"
CUTOFF_COLOUR = "#555555"


def plot_sit(path: Path, result: SitScore, session: SitSession) -> None:
    """Draw the SIT picture into path (PNG)."""
    s = result.summary
    lms = result.scoring.lms
    last_rating = max((r.t_s / 60.0 for r in session.ratings), default=0.0)
    test_min = max(float(s["test_min"]), float(session.sit_min), last_rating + 0.1)
    fig = Figure(figsize=(10, 6), dpi=100)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1]})
    on = lms.onset_s / 60.0
    dur = (lms.offset_s - lms.onset_s) / 60.0
    for mask, colour, label in (
        (lms.plm, PLM_COLOUR, "PLM"),
        (lms.candidate & ~lms.plm, CANDIDATE_COLOUR, "candidate LM"),
        (~lms.candidate, OTHER_COLOUR, "other LM"),
    ):
        if mask.any():
            top.broken_barh(
                list(zip(on[mask], np.maximum(dur[mask], 0.05), strict=True)),
                (0.0, 1.0),
                facecolors=colour,
                label=label,
            )
    bin_min = BIN_MIN if test_min >= 30 else 1.0  # a short (test) SIT: per minute
    edges = np.arange(0.0, test_min + bin_min, bin_min)
    counts, _ = np.histogram(on, bins=edges)
    rate = top.twinx()
    rate.step(edges[:-1], counts, where="post", color="#333333", linewidth=1)
    rate.set_ylim(0, max(int(counts.max()) if len(counts) else 0, 1) * 1.25)
    rate.set_ylabel(f"LMs per {bin_min:g} min")
    top.set_yticks([])
    top.set_ylim(0, 1.2)
    done = float(s["test_min"])
    if not s["completed"]:
        for ax in (top, bottom):
            ax.axvline(done, color=CUTOFF_COLOUR, linestyle="--", linewidth=1)
        top.text(done, 1.1, " stopped early", fontsize=8, va="center")
    if len(lms):
        top.legend(loc="upper left", fontsize=8, ncol=3)
    answered = [r for r in session.ratings if r.rating is not None]
    missed = [r for r in session.ratings if r.rating is None]
    if answered:
        x = [r.t_s / 60.0 for r in answered]
        y = [r.rating for r in answered]
        bottom.plot(x, y, "-o", color=RATING_COLOUR, label="rating")
    if missed:
        bottom.plot(
            [r.t_s / 60.0 for r in missed],
            [0.0] * len(missed),
            "x",
            color="#D55E00",
            markersize=9,
            label="missed prompt",
            clip_on=False,
        )
    if answered or missed:
        bottom.legend(loc="upper left", fontsize=8)
    else:
        bottom.text(test_min / 2, MAX_RATING / 2, "no ratings", ha="center", color="#777777")
    bottom.set_ylim(-0.5, MAX_RATING + 0.5)
    bottom.set_ylabel("discomfort (0-10)")
    bottom.set_xlabel("minutes into the test")
    bottom.set_xlim(0, test_min)
    d = s["discomfort"]
    mean = "-" if d["mean_rating"] is None else f"{d['mean_rating']:.1f}"
    cut = s["cutoffs"][0]
    top.set_title(
        f"SIT {s['test_min']:.0f}/{s['planned_min']:g} min: LM index {s['lm_index']:.1f}/h, "
        f"PLMW index {s['plmw_index']:.1f}/h (cut-off {cut['threshold_per_h']:g}/h, "
        f"EMG; docs/sit.md)\nmean rating {mean}, {d['missed_count']} missed of "
        f"{d['prompts_logged']} prompts",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(str(path), format="png")
