"""The trend report: weeks of one person's nights in one HTML file, and "did it help?".

`write_report` reads the night folders under a data folder (night_catalog), the diary,
and writes one self-contained HTML file (figures embedded as PNG data, no scripts, no
external files: it opens offline in any browser) plus the same figures as PNG files
beside it:

- trend: per night (by evening) the PLM index against 15/h, the LM index, the
  periodicity index, hours recorded and analysed, data quality (gap time, resets, clock)
  and the evening symptom rating, with the diary's tags as bands;
- heatmap: nights x clock hour of the night, LM and PLM rates per hour of data;
- comparison: per diary tag, the PLM index of nights with and without it (medians, the
  difference with a bootstrap 95 % interval, and a caution in plain words).

A table lists every night with its numbers (taken from its summary.json unchanged) and
links to its folder and picture. The page is XHTML-compatible, so it parses as XML too.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from legsense import __version__
from legsense.atomic_file import write_bytes_atomically
from legsense.diary import DiaryEntry, diary_path, read_diary
from legsense.errors import InputError
from legsense.night_catalog import Catalog, NightRef, scan
from legsense.night_markers import read_markers
from legsense.night_plot import (
    CANDIDATE_COLOUR,
    CLINICAL_PLMI_PER_H,
    PLM_COLOUR,
    clock_text,
)
from legsense.sit_report import SitRow, sit_figure, sit_rows, sit_table
from legsense.treatment_effect import MIN_NIGHTS, Comparison, compare

HEAT_FIRST_HOUR = 18  # the heatmap's columns: 18:00 of the evening ...
HEAT_HOURS = 18  # ... to 12:00 the next day
MIN_HEAT_DATA_S = 600.0  # a cell from less data than this is left blank
TAG_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#F0E442", "#D55E00")
FIGURES = ("trend", "heatmap", "comparison")
DPI = 100


@dataclass
class NightRow:
    """One night as the report shows it."""

    ref: NightRef
    plm_index: float
    lm_index: float
    periodicity_index: float | None
    recording_h: float
    analysed_h: float
    gap_count: int | None
    gap_s: float
    resets: int | None
    clock: str
    buttons: int | None
    lm_per_hour: np.ndarray  # HEAT_HOURS columns, NaN where too little data
    plm_per_hour: np.ndarray

    @property
    def evening(self) -> date | None:
        return self.ref.evening


@dataclass
class Report:
    """What one report holds (also returned to callers and tests)."""

    person: str
    nights: list[NightRow]
    undated: list[NightRow]
    entries: list[DiaryEntry]
    comparisons: list[tuple[str, str, Comparison, Comparison]]  # tag, label, PLMI, LMI
    unreadable: list[tuple[Path, str]]
    first: date | None
    last: date | None
    files: dict[str, Path] = field(default_factory=dict)
    sits: list[SitRow] = field(default_factory=list)  # SITs, each with the night after it


# --- reading --------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _quality(summary: dict[str, Any]) -> tuple[int | None, float, int | None]:
    """(gap count or None, seconds without data, resets or None)."""
    gaps = summary.get("gaps")
    gap_count = None
    gap_s = None
    if isinstance(gaps, dict):
        c = _number(gaps.get("count"))
        gap_count = None if c is None else int(c)
        gap_s = _number(gaps.get("total_s"))
    if gap_s is None:  # time recorded minus time with data
        rec = _number(summary.get("recording_hours")) or 0.0
        ana = _number(summary.get("analysed_hours")) or 0.0
        gap_s = max(0.0, (rec - ana) * 3600.0)
    resets_raw = summary.get("resets")
    if isinstance(resets_raw, dict):
        resets_raw = resets_raw.get("count")
    r = _number(resets_raw)
    return gap_count, gap_s, None if r is None else int(r)


def _read_columns(path: Path, columns: list[str]) -> dict[str, np.ndarray] | None:
    """Some numeric columns of a night's CSV as float arrays (None: missing, unreadable).

    numpy's loader is the fastest here: these files are a few kB and pyarrow's set-up per
    file costs more than the parsing (a year of nights is 730 files)."""
    try:
        with open(path, encoding="utf-8") as f:
            header = [c.strip() for c in f.readline().split(",")]
            index = [header.index(c) for c in columns]
            table = np.loadtxt(f, delimiter=",", usecols=index, ndmin=2, dtype=float)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return {c: table[:, k] for k, c in enumerate(columns)}


def hour_columns(ref: NightRef, t_s: np.ndarray) -> np.ndarray:
    """Heatmap column (clock hour of the night) of times in s from the night's start;
    -1 outside 18:00-12:00."""
    local = ref.start_local
    if local is None or ref.evening is None:
        return np.full(len(t_s), -1, dtype=np.int64)
    midnight = datetime.combine(ref.evening, datetime.min.time(), tzinfo=local.tzinfo)
    base_h = (local - midnight).total_seconds() / 3600.0
    col = np.floor(base_h + np.asarray(t_s, dtype=float) / 3600.0).astype(np.int64)
    col -= HEAT_FIRST_HOUR
    return np.where((col >= 0) & (col < HEAT_HOURS), col, -1)


def hourly_rates(ref: NightRef) -> tuple[np.ndarray, np.ndarray]:
    """LM and PLM per hour of data in each clock hour of the night (NaN: < 10 min)."""
    nan = np.full(HEAT_HOURS, np.nan)
    if ref.start_utc is None:
        return nan, nan.copy()
    s = ref.summary
    epoch_s = 30.0
    det = s.get("detector")
    if isinstance(det, dict) and _number(det.get("epoch_ms")):
        epoch_s = float(det["epoch_ms"]) / 1000.0
    epochs = _read_columns(ref.folder / "epochs.csv", ["start_s", "n_samples"])
    data_s = np.zeros(HEAT_HOURS)
    if epochs is not None and len(epochs["start_s"]):
        with_data = epochs["n_samples"] > 0
        cols = hour_columns(ref, epochs["start_s"][with_data])
        np.add.at(data_s, cols[cols >= 0], epoch_s)
    else:  # no epochs: the analysed time spread evenly over the recording
        rec_s = (_number(s.get("recording_hours")) or 0.0) * 3600.0
        ratio = (_number(s.get("analysed_hours")) or 0.0) * 3600.0 / rec_s if rec_s else 0.0
        grid = np.arange(0.0, rec_s, 60.0)
        cols = hour_columns(ref, grid)
        np.add.at(data_s, cols[cols >= 0], 60.0 * ratio)
    events = _read_columns(ref.folder / "events.csv", ["onset_s", "offset_s", "lm", "plm"])
    lm_n = np.zeros(HEAT_HOURS)
    plm_n = np.zeros(HEAT_HOURS)
    if events is not None and len(events["onset_s"]):
        cols = hour_columns(ref, events["onset_s"])
        params = s.get("params") if isinstance(s.get("params"), dict) else {}
        gap = _number((params or {}).get("merge_gap_s"))
        first = lm_starts(events, 0.5 if gap is None else gap)
        inside = first & (cols >= 0)
        np.add.at(lm_n, cols[inside], 1)
        np.add.at(plm_n, cols[inside & (events["plm"] == 1)], 1)
    hours = data_s / 3600.0
    enough = data_s >= MIN_HEAT_DATA_S
    lm_rate = np.where(enough, lm_n / np.where(enough, hours, 1.0), np.nan)
    plm_rate = np.where(enough, plm_n / np.where(enough, hours, 1.0), np.nan)
    return lm_rate, plm_rate


def lm_starts(events: dict[str, np.ndarray], merge_gap_s: float) -> np.ndarray:
    """Rows of events.csv that begin an LM. The file has one row per detected movement;
    movements merged into one LM (less than merge_gap_s apart) share its row values, so
    an LM is counted once, at its first row."""
    onset, offset, lm = events["onset_s"], events["offset_s"], events["lm"]
    first = np.zeros(len(onset), dtype=bool)
    reach = -math.inf
    for i in np.flatnonzero(lm == 1):
        if onset[i] - reach >= merge_gap_s - 1e-6:
            first[i] = True
        reach = max(reach, float(offset[i]))
    return first


def night_row(ref: NightRef) -> NightRow:
    """The report's view of one night."""
    s = ref.summary
    gap_count, gap_s, resets = _quality(s)
    markers = read_markers(ref.folder)
    lm_rate, plm_rate = hourly_rates(ref)
    return NightRow(
        ref=ref,
        plm_index=float(s["plm_index"]),
        lm_index=float(s["lm_index"]),
        periodicity_index=_number(s.get("periodicity_index")),
        recording_h=float(s["recording_hours"]),
        analysed_h=float(s["analysed_hours"]),
        gap_count=gap_count,
        gap_s=gap_s,
        resets=resets,
        clock=clock_text(s),
        buttons=len(markers.buttons) if markers.known else None,
        lm_per_hour=lm_rate,
        plm_per_hour=plm_rate,
    )


def choose_person(catalog: Catalog, person: str | None) -> str:
    """The person to report on: the one asked for, or the only one there is."""
    people = catalog.people()
    if person is not None:
        if person not in people:
            raise InputError(
                f"no nights of person {person!r} (people: {', '.join(people) or 'none'})",
                catalog.root,
            )
        return person
    if not people:
        raise InputError("no readable night folders (summary.json) here", catalog.root)
    if len(people) > 1:
        raise InputError(
            f"nights of several people ({', '.join(people)}): choose one with --person",
            catalog.root,
        )
    return people[0]


# --- the comparison -------------------------------------------------------------------


def tag_comparisons(
    nights: list[NightRow], entries: list[DiaryEntry], last: date | None
) -> list[tuple[str, str, Comparison, Comparison]]:
    """Per tag: (tag, label, PLM-index comparison, LM-index comparison)."""
    out = []
    for tag in sorted({e.tag for e in entries if e.tag}):
        tagged = [e for e in entries if e.tag == tag]
        with_, without = [], []
        for n in nights:
            covered = n.evening is not None and any(e.covers(n.evening, last) for e in tagged)
            (with_ if covered else without).append(n)
        starts = sorted(e.start for e in tagged)
        ongoing = [e for e in tagged if e.ongoing]
        label = tag + (f" (since {ongoing[0].start})" if ongoing else f" (from {starts[0]})")
        out.append(
            (
                tag,
                label,
                compare("PLM index", [n.plm_index for n in with_], [n.plm_index for n in without]),
                compare("LM index", [n.lm_index for n in with_], [n.lm_index for n in without]),
            )
        )
    return out


# --- figures --------------------------------------------------------------------------


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _dates(rows: list[NightRow]) -> np.ndarray:
    return np.array([np.datetime64(r.evening) for r in rows], dtype="datetime64[D]")


def _tag_colour(tags: list[str], tag: str) -> str:
    return TAG_COLOURS[tags.index(tag) % len(TAG_COLOURS)]


def _bands(ax, entries: list[DiaryEntry], tags: list[str], first: date, last: date) -> None:
    """Diary tags as shaded bands, each tag on its own slice of the panel's height."""
    n = max(1, len(tags))
    for e in entries:
        if not e.tag:
            continue
        end = last if e.ongoing else (e.end or e.start)
        if end < first or e.start > last:
            continue
        k = tags.index(e.tag)
        ax.axvspan(
            np.datetime64(max(e.start, first)) - np.timedelta64(12, "h"),
            np.datetime64(min(end, last)) + np.timedelta64(12, "h"),
            ymin=k / n,
            ymax=(k + 1) / n,
            color=_tag_colour(tags, e.tag),
            alpha=0.22,
            lw=0,
        )


def trend_figure(report: Report) -> Figure:
    """Per-night measures over the calendar with the diary's tags as bands."""
    rows = report.nights
    ratings = [e for e in report.entries if e.rating is not None]
    panels = 6 if ratings else 5
    fig = Figure(figsize=(14, 2.0 * panels + 1.2), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(panels, 1, sharex=True)
    fig.subplots_adjust(left=0.08, right=0.98, top=1 - 0.9 / (2.0 * panels + 1.2), bottom=0.06)
    tags = sorted({e.tag for e in report.entries if e.tag})
    first, last = report.first, report.last
    x = _dates(rows)
    if first is None or last is None or not rows:
        axes[0].text(0.5, 0.5, "no dated nights", transform=axes[0].transAxes, ha="center")
        return fig
    plmi = np.array([r.plm_index for r in rows])
    lmi = np.array([r.lm_index for r in rows])
    pi = np.array([np.nan if r.periodicity_index is None else r.periodicity_index for r in rows])
    style = {"marker": "o", "markersize": 4 if len(rows) > 60 else 6, "linewidth": 1.0}
    ax = axes[0]
    ax.plot(x, plmi, color=PLM_COLOUR, **style)
    ax.axhline(CLINICAL_PLMI_PER_H, color="black", linestyle="--", linewidth=1.1)
    ax.set_ylabel("PLM index (/h)")
    ax.set_ylim(0, max(CLINICAL_PLMI_PER_H * 1.6, float(np.nanmax(plmi)) * 1.15))
    ax.set_title(
        f"PLM index per night (dashed: {CLINICAL_PLMI_PER_H:g}/h, the adult PLMD threshold)",
        loc="left",
        fontsize=11,
    )
    ax = axes[1]
    ax.plot(x, lmi, color=CANDIDATE_COLOUR, **style)
    ax.set_ylabel("LM index (/h)")
    ax.set_ylim(0, max(10.0, float(np.nanmax(lmi)) * 1.15))
    ax.set_title("LM index per night", loc="left", fontsize=11)
    ax = axes[2]
    ax.plot(x, pi, color="#333333", **style)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("periodicity index")
    ax.set_title(
        "Periodicity index (as each night was scored; default PLMs / CLMs)", loc="left", fontsize=11
    )
    ax = axes[3]
    # Bars as thick lines: one line per night draws in a fraction of the time of patches.
    days = max(1, (last - first).days + 2)
    width = max(0.6, 0.8 * 14 * 72 * 0.9 / days)  # points: 80 % of a day's width
    ax.vlines(x, 0, [r.recording_h for r in rows], color="#BBBBBB", linewidth=width)
    ax.vlines(x, 0, [r.analysed_h for r in rows], color="#555555", linewidth=width * 0.5)
    ax.set_ylim(0, max(1.0, max(r.recording_h for r in rows) * 1.1))
    ax.set_ylabel("hours")
    ax.set_title(
        "Hours recorded (light) and with data (dark, what the indices divide by)",
        loc="left",
        fontsize=11,
    )
    ax = axes[4]
    gap_min = np.array([r.gap_s / 60.0 for r in rows])
    ax.vlines(x, 0, gap_min, color="#999999", linewidth=width)
    top = max(5.0, float(gap_min.max()) * 1.3)
    ax.set_ylim(0, top)
    for xi, r in zip(x, rows, strict=True):
        mark = []
        if r.resets is None:
            mark.append("R?")
        elif r.resets:
            mark.append(f"R{r.resets}")
        if r.clock.startswith("UTC not") or r.clock == "unknown":
            mark.append("C?")
        if mark and len(rows) <= 120:
            ax.text(xi, top * 0.97, "\n".join(mark), ha="center", va="top", fontsize=7)
    ax.set_ylabel("minutes without data")
    ax.set_title(
        "Data quality: minutes without data (bars); R n: resets (R?: unknown); C?: clock unknown",
        loc="left",
        fontsize=11,
    )
    if ratings:
        ax = axes[5]
        rx = [np.datetime64(e.start) for e in ratings]
        ax.plot(rx, [e.rating for e in ratings], "s", color="#000000", markersize=6)
        ax.set_ylim(-0.5, 10.5)
        ax.set_ylabel("rating 0-10")
        ax.set_title("Evening symptom rating (diary; 10 = worst)", loc="left", fontsize=11)
    for ax in axes:
        _bands(ax, report.entries, tags, first, last)
        ax.grid(axis="y", color="#DDDDDD", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.set_xlim(
            np.datetime64(first) - np.timedelta64(1, "D"),
            np.datetime64(last) + np.timedelta64(1, "D"),
        )
    if tags:  # the bands' key, above the panels (never over the data)
        from matplotlib.patches import Patch

        fig.legend(
            [Patch(color=_tag_colour(tags, t), alpha=0.4) for t in tags],
            [f"diary: {t}" for t in tags],
            loc="upper right",
            ncol=min(len(tags), 6),
            frameon=False,
            fontsize=10,
        )
    for label in axes[-1].get_xticklabels():
        label.set_rotation(25)
        label.set_horizontalalignment("right")
    return fig


def heatmap_figure(report: Report) -> Figure:
    """Nights x clock hour of the night: LM and PLM rates per hour of data."""
    rows = report.nights
    height = min(14.0, 2.5 + 0.16 * max(len(rows), 8))
    fig = Figure(figsize=(14, height), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    fig.subplots_adjust(left=0.1, right=0.97, top=1 - 0.7 / height, bottom=0.9 / height, wspace=0.2)
    for ax, what, colour_map in (
        (axes[0], "LM", "Blues"),
        (axes[1], "PLM", "Oranges"),
    ):
        grid = np.array(
            [(r.lm_per_hour if what == "LM" else r.plm_per_hour) for r in rows]
        ).reshape(-1, HEAT_HOURS)
        shown = np.ma.masked_invalid(grid)
        vmax = max(
            CLINICAL_PLMI_PER_H * 2, float(np.nanmax(grid)) if np.isfinite(grid).any() else 0
        )
        cmap = _colormap(colour_map)
        image = ax.imshow(
            shown,
            aspect="auto",
            interpolation="nearest",
            cmap=cmap,
            vmin=0,
            vmax=vmax,
            extent=(0, HEAT_HOURS, len(rows) - 0.5, -0.5),
        )
        ax.set_xticks(np.arange(0, HEAT_HOURS + 1, 2))
        ax.set_xticklabels(
            [f"{(HEAT_FIRST_HOUR + k) % 24:02d}:00" for k in range(0, HEAT_HOURS + 1, 2)]
        )
        ax.set_xlabel("clock hour of the night (local time)")
        ax.set_title(
            f"{what} per hour of data (grey: under 10 min of data)", loc="left", fontsize=11
        )
        fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label=f"{what}/h")
    step = max(1, len(rows) // 30)
    ticks = list(range(0, len(rows), step))
    axes[0].set_yticks(ticks)
    axes[0].set_yticklabels([str(rows[i].evening) for i in ticks], fontsize=8)
    axes[0].set_ylabel("night of")
    if not rows:
        axes[0].text(0.5, 0.5, "no dated nights", transform=axes[0].transAxes, ha="center")
    return fig


def _colormap(name: str):
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="#E6E6E6")


def comparison_figure(report: Report) -> Figure:
    """Per tag: the PLM index of nights with and without it, medians and the interval."""
    comps = report.comparisons
    n = max(1, len(comps))
    fig = Figure(figsize=(14, 1.2 + 1.6 * n), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    fig.subplots_adjust(
        left=0.22, right=0.62, top=1 - 0.6 / (1.2 + 1.6 * n), bottom=0.6 / (1.2 + 1.6 * n)
    )
    if not comps:
        ax.text(0.5, 0.5, "no diary tags in this range", transform=ax.transAxes, ha="center")
        ax.set_axis_off()
        return fig
    rng = np.random.default_rng(0)  # jitter only; the statistics use their own seed
    labels = []
    for i, (tag, _label, plm, _lm) in enumerate(comps):
        tagged = set()
        entries = [e for e in report.entries if e.tag == tag]
        for r in report.nights:
            if r.evening is not None and any(e.covers(r.evening, report.last) for e in entries):
                tagged.add(id(r))
        for j, (group, colour) in enumerate(((True, PLM_COLOUR), (False, "#777777"))):
            y0 = i * 2 + j
            values = [r.plm_index for r in report.nights if (id(r) in tagged) == group]
            jitter = rng.uniform(-0.25, 0.25, len(values))
            ax.scatter(values, y0 + jitter, s=14, color=colour, alpha=0.7, linewidths=0)
            med = plm.median_with if group else plm.median_without
            if med is not None:
                ax.plot([med, med], [y0 - 0.38, y0 + 0.38], color="black", linewidth=2.5)
            labels.append((y0, f"{tag}: {'with' if group else 'without'} ({len(values)})"))
        text = (
            "difference of medians: n/a"
            if plm.difference is None
            else f"difference {plm.difference:+.1f}/h, 95 % interval "
            f"{plm.ci_low:+.1f} to {plm.ci_high:+.1f}/h"
        )
        if not plm.enough:
            text += f"\ntoo few nights to tell (< {MIN_NIGHTS} in a group)"
        ax.annotate(
            text,
            xy=(1.02, i * 2 + 0.5),
            xycoords=("axes fraction", "data"),
            va="center",
            fontsize=10,
            annotation_clip=False,
        )
    ax.set_yticks([y for y, _ in labels])
    ax.set_yticklabels([t for _, t in labels])
    ax.set_ylim(len(comps) * 2 - 0.5, -0.5)
    ax.axvline(CLINICAL_PLMI_PER_H, color="black", linestyle="--", linewidth=1)
    ax.set_xlim(left=0)
    ax.set_xlabel("PLM index per night (/h); black bar: median")
    ax.set_title("Nights with and without each diary tag", loc="left", fontsize=11)
    ax.grid(axis="x", color="#DDDDDD", linewidth=0.8)
    return fig


# --- the page -------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    return "unknown" if value is None else f"{value:.{digits}f}{unit}"


def _td(value: Any, text: str, key: str, cls: str = "num") -> str:
    raw = "" if value is None else repr(value) if isinstance(value, float) else str(value)
    return (
        f'<td class="{cls}" data-key="{key}" data-value="{html.escape(raw)}">'
        f"{html.escape(text)}</td>"
    )


def _href(target: Path, page_dir: Path) -> str:
    try:
        rel = os.path.relpath(target, page_dir)
    except ValueError:  # another drive: an absolute link
        return target.resolve().as_uri()
    return "/".join(urllib.parse.quote(p) for p in Path(rel).parts)


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;
max-width:1200px;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:0.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}
.sub{color:#555}table{border-collapse:collapse;font-size:0.92em;margin:0.6em 0}
th,td{padding:0.25em 0.6em;border-bottom:1px solid #e4e4e4;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f4f4f4;position:sticky;top:0}
.caution{background:#fff6e0;border-left:4px solid #E69F00;padding:0.5em 0.8em;margin:0.4em 0}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:0.92em}.high{color:#B04000;font-weight:600}
.keys{display:flex;gap:1.5em;flex-wrap:wrap}.keys div{background:#f6f6f6;padding:0.6em 1em}
.keys b{display:block;font-size:1.5em}
"""


def render_html(report: Report, figures: dict[str, bytes], page: Path) -> str:
    """The whole page as text (XHTML-compatible, no scripts, images as data: URIs)."""
    rows = report.nights + report.undated
    esc = html.escape
    first = "?" if report.first is None else report.first.isoformat()
    last = "?" if report.last is None else report.last.isoformat()
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html xmlns="http://www.w3.org/1999/xhtml" lang="en">',
        "<head>",
        '<meta charset="utf-8" />',
        '<meta name="viewport" content="width=device-width, initial-scale=1" />',
        f"<title>legsense: nights of {esc(report.person)}, {first} to {last}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>Nights of {esc(report.person)}</h1>",
        f'<p class="sub">{len(report.nights)} dated night(s), evenings {first} to {last}'
        + (f", {len(report.undated)} undated" if report.undated else "")
        + f". Made by legsense {esc(__version__)} on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Scoring: WASM/IRLSSG 2016; indices per "
        "hour of recording with data (an ankle sensor does not stage sleep).</p>",
    ]
    if report.nights:
        plmi = np.array([r.plm_index for r in report.nights])
        high = int((plmi > CLINICAL_PLMI_PER_H).sum())
        out += [
            '<div class="keys">',
            f"<div><b>{np.median(plmi):.1f}/h</b>median PLM index</div>",
            f"<div><b>{high} of {len(plmi)}</b>nights above {CLINICAL_PLMI_PER_H:g}/h</div>",
            f"<div><b>{np.median([r.lm_index for r in report.nights]):.1f}/h</b>"
            "median LM index</div>",
            f"<div><b>{sum(r.analysed_h for r in report.nights):.1f} h</b>of data</div>",
            "</div>",
        ]
    captions = {
        "trend": "Every night by the evening it began. Shaded bands: diary tags.",
        "heatmap": "Each row a night, each column a clock hour: movements per hour of data.",
        "comparison": "PLM index of the nights with and without each diary tag.",
    }
    titles = {
        "trend": "Night by night",
        "heatmap": "When in the night",
        "comparison": "Did it help?",
    }
    for name in FIGURES:
        out.append(f'<h2 id="{name}">{titles[name]}</h2>')
        if name == "comparison":
            out += _comparison_table(report)
        data = base64.b64encode(figures[name]).decode("ascii")
        png = report.files.get(name)
        png_note = f" (also {esc(png.name)})" if png is not None else ""
        out += [
            f'<figure id="figure-{name}">',
            f'<img src="data:image/png;base64,{data}" alt="{esc(titles[name])}" />',
            f"<figcaption>{esc(captions[name])}{png_note}</figcaption>",
            "</figure>",
        ]
    if report.sits:
        data = base64.b64encode(figures["sit"]).decode("ascii")
        out += [
            '<h2 id="sits">Evening tests (SIT) and the night after</h2>',
            f'<figure id="figure-sit"><img src="data:image/png;base64,{data}" alt="SITs" />',
            "<figcaption>Each suggested immobilization test: its PLMW index (the 40/h line "
            "is an EMG cut-off, Montplaisir et al. 1998: indicative only for an ankle "
            "sensor), the mean discomfort rating, and the PLM index of the night that "
            "followed (docs/sit.md).</figcaption></figure>",
        ]
        out += sit_table(report.sits, lambda p: _href(p, page.parent))
    out += _nights_table(rows, page)
    if report.unreadable:
        out.append("<h2>Folders not read</h2><ul>")
        out += [f"<li>{esc(str(p))}: {esc(why)}</li>" for p, why in report.unreadable]
        out.append("</ul>")
    out += [
        '<p class="sub">LM: leg movement of 0.5 s or more. CLM: candidate LM (0.5-10 s; '
        "bilateral up to 15 s). PLM: a CLM in a series of at least 4 with 10-90 s between "
        "onsets. Periodicity index: the share of intervals in runs of 3 or more within "
        "10-90 s. A night belongs to the evening it began (start minus 12 h, local time).</p>",
        "</body>",
        "</html>",
    ]
    return "\n".join(out) + "\n"


def _comparison_table(report: Report) -> list[str]:
    esc = html.escape
    if not report.comparisons:
        return ["<p>No diary tags for these nights: nothing to compare.</p>"]
    out = [
        '<table id="comparison">',
        "<tr><th>tag</th><th>measure</th><th>nights with</th><th>nights without</th>"
        "<th>median with</th><th>median without</th><th>difference</th>"
        "<th>95 % interval</th></tr>",
    ]
    cautions = []
    for tag, label, plm, lm in report.comparisons:
        for c in (plm, lm):
            ci = (
                "n/a"
                if c.ci_low is None or c.ci_high is None
                else f"{c.ci_low:+.1f} to {c.ci_high:+.1f}/h"
            )
            out.append(
                f'<tr data-tag="{esc(tag)}" data-measure="{esc(c.measure)}">'
                f"<td>{esc(label)}</td><td>{esc(c.measure)}</td>"
                + _td(c.n_with, str(c.n_with), "n_with")
                + _td(c.n_without, str(c.n_without), "n_without")
                + _td(c.median_with, _fmt(c.median_with, 1, "/h"), "median_with")
                + _td(c.median_without, _fmt(c.median_without, 1, "/h"), "median_without")
                + _td(
                    c.difference,
                    "n/a" if c.difference is None else f"{c.difference:+.1f}/h",
                    "difference",
                )
                + f"<td>{esc(ci)}</td></tr>"
            )
        cautions.append(f'<p class="caution"><b>{esc(label)}:</b> {esc(plm.caution)}</p>')
    out.append("</table>")
    return out + cautions


def _nights_table(rows: list[NightRow], page: Path) -> list[str]:
    esc = html.escape
    out = [
        '<h2 id="nights">Every night</h2>',
        '<table id="nights-table">',
        "<tr><th>night of</th><th>start</th><th>recorded h</th><th>with data h</th>"
        "<th>LM index</th><th>PLM index</th><th>periodicity</th><th>gaps</th><th>resets</th>"
        "<th>clock</th><th>button</th><th>folder</th><th>picture</th></tr>",
    ]
    page_dir = page.parent
    for r in rows:
        s = r.ref.summary
        local = r.ref.start_local
        start = "unknown" if local is None else local.strftime("%a %H:%M")
        gaps = (
            f"{r.gap_s / 60:.0f} min"
            if r.gap_count is None
            else f"{r.gap_count} ({r.gap_s / 60:.0f} min)"
        )
        pi = s.get("periodicity_index")
        plm_cls = "num high" if r.plm_index > CLINICAL_PLMI_PER_H else "num"
        picture = r.ref.folder / "night.png"
        pic = (
            f'<a href="{esc(_href(picture, page_dir))}">night.png</a>'
            if picture.exists()
            else "none"
        )
        out.append(
            f'<tr data-night="{esc(str(r.ref.folder))}">'
            f"<td>{esc(str(r.evening or 'undated'))}</td><td>{esc(start)}</td>"
            + _td(s["recording_hours"], f"{s['recording_hours']:.2f}", "recording_hours")
            + _td(s["analysed_hours"], f"{s['analysed_hours']:.2f}", "analysed_hours")
            + _td(s["lm_index"], f"{s['lm_index']:.1f}", "lm_index")
            + _td(s["plm_index"], f"{s['plm_index']:.1f}", "plm_index", plm_cls)
            + _td(pi, "–" if pi is None else f"{pi:.2f}", "periodicity_index")
            + f"<td>{esc(gaps)}</td>"
            + f"<td>{esc('unknown' if r.resets is None else str(r.resets))}</td>"
            + f"<td>{esc(r.clock)}</td>"
            + f"<td>{esc('unknown' if r.buttons is None else str(r.buttons))}</td>"
            + f'<td><a href="{esc(_href(r.ref.folder, page_dir))}/">folder</a></td>'
            + f"<td>{pic}</td></tr>"
        )
    out.append("</table>")
    return out


# --- the whole report -----------------------------------------------------------------


def build_report(
    root: Path,
    person: str | None = None,
    first: date | None = None,
    last: date | None = None,
    zone: tzinfo | None = None,
    diary: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Read the nights and the diary; nothing is written."""
    catalog = scan(Path(root), zone)
    who = choose_person(catalog, person)
    refs = [
        n
        for n in catalog.nights
        if n.person == who
        and (n.evening is None or first is None or n.evening >= first)
        and (n.evening is None or last is None or n.evening <= last)
    ]
    if first is not None or last is not None:
        refs = [n for n in refs if n.evening is not None]
    if not refs:
        raise InputError(f"no nights of {who} between {first or '...'} and {last or '...'}", root)
    rows: list[NightRow] = []
    for i, ref in enumerate(refs, start=1):
        rows.append(night_row(ref))
        if progress is not None:
            progress(i, len(refs))
    dated = [r for r in rows if r.evening is not None]
    undated = [r for r in rows if r.evening is None]
    lo = first or (dated[0].evening if dated else None)
    hi = last or (dated[-1].evening if dated else None)
    entries = [e for e in read_diary(diary or diary_path(root)) if e.person == who]
    if lo is not None and hi is not None:
        entries = [e for e in entries if e.start <= hi and (e.ongoing or (e.end or e.start) >= lo)]
    report = Report(who, dated, undated, entries, [], catalog.unreadable, lo, hi)
    report.comparisons = tag_comparisons(dated, entries, hi)
    report.sits = [
        r
        for r in sit_rows(catalog, who, refs)
        if r.ref.evening is None
        or ((lo is None or r.ref.evening >= lo) and (hi is None or r.ref.evening <= hi))
    ]
    return report


def write_report(
    root: Path,
    out: Path,
    person: str | None = None,
    first: date | None = None,
    last: date | None = None,
    zone: tzinfo | None = None,
    diary: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Build the report and write out (HTML) and its figures as PNG beside it."""
    out = Path(out)
    if out.exists() and out.is_dir():
        raise InputError("is a folder; give the report's file name (report.html)", out)
    if not out.parent.exists():
        raise InputError("the folder for the report does not exist", out.parent)
    report = build_report(root, person, first, last, zone, diary, progress)
    figures = {
        "trend": _png(trend_figure(report)),
        "heatmap": _png(heatmap_figure(report)),
        "comparison": _png(comparison_figure(report)),
    }
    if report.sits:
        figures["sit"] = _png(sit_figure(report.sits))
    stem = out.stem
    for name, data in figures.items():
        png = out.with_name(f"{stem}-{name}.png")
        _atomic_write_bytes(png, data)
        report.files[name] = png
    _atomic_write_bytes(out, render_html(report, figures, out).encode("utf-8"))
    report.files["html"] = out
    return report


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    try:
        write_bytes_atomically(path, data)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", path) from None


def parse_day(text: str, what: str) -> date:
    """--from / --to: YYYY-MM-DD."""
    from legsense.diary import parse_date

    return parse_date(text, what)
