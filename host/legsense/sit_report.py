"""SITs in the trend report: each SIT with the night that followed it ("evening before
the night"), a figure and a table (docs/sit.md, docs/weeks.md).

A SIT and a night go together when they are the same person's and the night starts after
the SIT began and at most NEXT_NIGHT_MAX_H after it ended. Two SITs of one person that
overlap in time are bad input (InputError, exit 2) unless they are the person's left and
right legs (two sensors worn for one test; shown one per row, not merged).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from legsense.errors import InputError
from legsense.night_catalog import Catalog, NightRef

NEXT_NIGHT_MAX_H = 12.0
SIT_CUTOFF_PER_H = 40.0  # Montplaisir et al. 1998 (legsense.sit.MONTPLAISIR_1998)


@dataclass
class SitRow:
    """One SIT as the report shows it, with the night after it (if any)."""

    ref: NightRef
    night: NightRef | None

    @property
    def summary(self) -> dict[str, Any]:
        return self.ref.summary

    @property
    def discomfort(self) -> dict[str, Any]:
        d = self.ref.summary.get("discomfort")
        return d if isinstance(d, dict) else {}


def sit_end(ref: NightRef) -> datetime | None:
    """When a SIT ended (its start plus the test's minutes), or None when undated."""
    if ref.start_utc is None:
        return None
    minutes = ref.summary.get("test_min")
    if not isinstance(minutes, int | float):
        minutes = float(ref.summary.get("recording_hours", 0.0)) * 60.0
    return ref.start_utc + timedelta(minutes=float(minutes))


def check_overlaps(sits: list[NightRef], root: Path | None = None) -> None:
    """InputError naming the first two SITs of one person that overlap in time (unless
    they are that person's left and right legs)."""
    dated = sorted((s for s in sits if s.start_utc is not None), key=lambda s: s.start_utc)  # type: ignore[arg-type, return-value]
    for i, a in enumerate(dated):
        end_a = sit_end(a)
        for b in dated[i + 1 :]:
            if b.person != a.person:
                continue
            assert b.start_utc is not None and end_a is not None
            if b.start_utc >= end_a:
                break
            legs = {a.recording.get("leg"), b.recording.get("leg")}
            if legs == {"left", "right"}:
                continue
            name_a = a.key(root) if root is not None else str(a.folder)
            name_b = b.key(root) if root is not None else str(b.folder)
            raise InputError(
                f"overlapping SITs of {a.person}: {name_a} and {name_b} both run at "
                f"{b.start_utc:%Y-%m-%d %H:%M} UTC (one SIT per person at a time; remove one)",
                root,
            )


def following_night(sit: NightRef, nights: list[NightRef]) -> NightRef | None:
    """The first night of the same person that starts after the SIT began and within
    NEXT_NIGHT_MAX_H of its end."""
    end = sit_end(sit)
    if sit.start_utc is None or end is None:
        return None
    best = None
    for n in nights:
        if n.person != sit.person or n.start_utc is None or n.start_utc < sit.start_utc:
            continue
        if n.start_utc - end > timedelta(hours=NEXT_NIGHT_MAX_H):
            continue
        if best is None or n.start_utc < best.start_utc:  # type: ignore[operator]
            best = n
    return best


def sit_rows(catalog: Catalog, person: str, nights: list[NightRef]) -> list[SitRow]:
    """The person's SITs in time order, each with the night after it (from `nights`)."""
    check_overlaps(catalog.sits, catalog.root)
    return [SitRow(s, following_night(s, nights)) for s in catalog.sits if s.person == person]


def sit_figure(rows: list[SitRow]) -> Figure:
    """Per SIT: the PLMW index against the 40/h cut-off, the mean rating, and the PLM
    index of the night after it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(10, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x = list(range(len(rows)))
    labels = [
        "undated" if r.ref.start_local is None else r.ref.start_local.strftime("%m-%d %H:%M")
        for r in rows
    ]
    plmw = [float(r.summary.get("plmw_index") or 0.0) for r in rows]
    night = [
        float(r.night.summary["plm_index"]) if r.night is not None else float("nan") for r in rows
    ]
    w = 0.38
    ax.bar([i - w / 2 for i in x], plmw, w, color="#D55E00", label="SIT PLMW index")
    ax.bar([i + w / 2 for i in x], night, w, color="#0072B2", label="next night's PLM index")
    ax.axhline(SIT_CUTOFF_PER_H, color="#555555", linestyle="--", linewidth=1)
    right = max(len(rows), 1) - 0.25
    ax.text(
        right,
        SIT_CUTOFF_PER_H,
        f"{SIT_CUTOFF_PER_H:g}/h (SIT, EMG) ",
        va="bottom",
        ha="right",
        fontsize=8,
    )
    tallest = max([*plmw, *(v for v in night if v == v), 0.0])  # NaN: no night after
    ax.set_ylim(0, max(SIT_CUTOFF_PER_H * 1.3, tallest * 1.15))
    ax.set_ylabel("per hour")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_xlim(-0.8, max(len(rows), 1) - 0.2)
    rating_ax = ax.twinx()
    means = [r.discomfort.get("mean_rating") for r in rows]
    rating_ax.plot(
        [i for i, m in zip(x, means, strict=True) if m is not None],
        [m for m in means if m is not None],
        "o",
        color="#009E73",
        label="mean rating",
    )
    rating_ax.set_ylim(0, 10.5)
    rating_ax.set_ylabel("mean discomfort (0-10)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = rating_ax.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    ax.set_title("SITs, each beside the night that followed it", fontsize=10)
    fig.tight_layout()
    return fig


def _num(value: Any, digits: int = 1) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    return f"{value:.{digits}f}"


def sit_table(rows: list[SitRow], href) -> list[str]:
    """The SIT table (HTML lines); `href(path)` makes a link relative to the page."""
    esc = html.escape
    out = [
        '<table id="sits-table">',
        "<tr><th>SIT</th><th>minutes</th><th>LM index</th><th>PLMW index</th>"
        "<th>mean rating</th><th>max rating</th><th>missed prompts</th><th>note</th>"
        "<th>night after</th><th>its PLM index</th><th>folder</th></tr>",
    ]
    for r in rows:
        s = r.summary
        d = r.discomfort
        local = r.ref.start_local
        when = "undated" if local is None else local.strftime("%Y-%m-%d %H:%M")
        note = "stopped early" if s.get("stopped_early") else "complete"
        if r.night is not None:
            nl = r.night.start_local
            night = f"{r.night.evening} ({'?' if nl is None else nl.strftime('%H:%M')})"
            night_plm = _num(r.night.summary.get("plm_index"))
        else:
            night, night_plm = "none", "–"
        out.append(
            f'<tr data-sit="{esc(str(r.ref.folder))}">'
            f"<td>{esc(when)}</td>"
            f'<td class="num">{_num(s.get("test_min"), 0)}/{_num(s.get("planned_min"), 0)}</td>'
            f'<td class="num">{_num(s.get("lm_index"))}</td>'
            f'<td class="num">{_num(s.get("plmw_index"))}</td>'
            f'<td class="num">{_num(d.get("mean_rating"))}</td>'
            f'<td class="num">{_num(d.get("max_rating"), 0)}</td>'
            f'<td class="num">{_num(d.get("missed_count"), 0)}</td>'
            f"<td>{esc(note)}</td><td>{esc(night)}</td>"
            f'<td class="num">{night_plm}</td>'
            f'<td><a href="{esc(href(r.ref.folder))}/">folder</a></td></tr>'
        )
    out.append("</table>")
    return out
