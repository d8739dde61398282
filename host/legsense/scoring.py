"""Leg-movement scoring by the WASM/IRLSSG 2016 rules (Ferri et al., Sleep Med 2016).

The one place the rules live. Input: the movements a detector reported (every
length, optionally with the leg); output: one row per leg movement (LM) with its
class, the PLM series and a JSON-ready summary of the night.

Rules, in the order they are applied (all thresholds are `ScoringParams`):

1. Same-leg movements separated by less than `merge_gap_s` (or overlapping) are one
   movement. Merging comes before the duration filter, so two 0.3 s twitches 0.2 s
   apart make one 0.8 s LM.
2. A movement shorter than `min_lm_s` is not an LM: it is not counted and does not
   enter any inter-movement interval (IMI).
3. Only when both "left" and "right" occur: LMs on the two legs that overlap or are
   separated by less than `merge_gap_s` form one bilateral LM (chains of them too).
   Its onset is the earliest onset, its offset the latest offset. LMs of unknown leg
   ("") never pair.
4. Candidate LM (CLM): a monolateral LM with `min_lm_s <= duration <= max_lm_s`, or a
   bilateral LM of at most `max_bilateral_lms` monolateral LMs, none longer than
   `max_lm_s`, lasting at most `max_bilateral_s`.
5. IMI: onset to onset of consecutive LMs, candidates or not.
6. PLM series: a maximal run of at least `min_series` consecutive LMs, all
   candidates, each after the first with `min_imi_s <= IMI <= max_imi_s`.
   - A non-candidate LM, or an LM whose IMI is below `min_imi_s`, breaks the series
     and is never part of one: it cannot start a new series either.
   - The LM just before such a breaker keeps its place in the series it ends.
   - The LM just after a short-IMI LM has its IMI measured from that short-IMI LM
     (IMIs run over all LMs); when that IMI is at least `min_imi_s` it may start a
     new series. The 2016 standard forbids short-IMI candidates inside a series but
     does not extend the exclusion to their successor, so neither do we.
   - An IMI above `max_imi_s` ends the series; the LM after it may start a new one
     (its own IMI only has to be at least `min_imi_s`, which it is).
7. Indices are per hour of analysed time (time in bed with data): an ankle sensor
   does not stage sleep, so these are not the PSG "per hour of sleep" indices.
8. Periodicity index (Ferri 2006): the share of all IMIs that belong to a run of at
   least 3 consecutive IMIs within [min_imi_s, max_imi_s].

Comparisons tolerate `TIME_TOLERANCE_S` of float rounding, so an IMI that is exactly
10 s on the sample clock (10.000000000000002 after subtraction) counts as 10 s, and a
gap of exactly 0.5 s stays "not less than 0.5 s".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from legsense.errors import InputError
from legsense.night import Movements, NightInfo

RULES_NAME = "WASM/IRLSSG 2016"
INDEX_BASIS = (
    "per hour of analysed time in bed (recording time with data); "
    "no sleep staging, so not per hour of sleep"
)
TIME_TOLERANCE_S = 1e-6
PERIODICITY_MIN_RUN = 3  # consecutive IMIs (Ferri 2006)
IMI_HISTOGRAM_BINS_PER_DECADE = 10
IMI_HISTOGRAM_MAX_S = 1000.0

LEG_CODES = {"": 0, "left": 1, "right": 2}
BILATERAL = "bilateral"


@dataclass(frozen=True)
class ScoringParams:
    """Thresholds of the rules; the defaults are WASM/IRLSSG 2016 for adults.

    `min_imi_s=5` reproduces the older WASM 2006 / AASM 2007-2012 minimum IMI.
    """

    min_lm_s: float = 0.5  # shorter movements are not LMs (not counted, not in IMIs)
    max_lm_s: float = 10.0  # monolateral candidate limit
    merge_gap_s: float = 0.5  # same-leg merge gap, also the bilateral pairing gap
    max_bilateral_s: float = 15.0
    max_bilateral_lms: int = 4
    min_imi_s: float = 10.0
    max_imi_s: float = 90.0
    min_series: int = 4

    def __post_init__(self) -> None:
        for name in ("min_lm_s", "max_lm_s", "max_bilateral_s", "min_imi_s", "max_imi_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        gap = self.merge_gap_s
        if not (isinstance(gap, int | float) and math.isfinite(gap) and gap >= 0):
            raise ValueError(f"merge_gap_s must be >= 0 seconds, got {gap!r}")
        for name, least in (("max_bilateral_lms", 2), ("min_series", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        for low, high in (
            ("min_lm_s", "max_lm_s"),
            ("min_lm_s", "max_bilateral_s"),
            ("min_imi_s", "max_imi_s"),
        ):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(
                    f"{low} ({getattr(self, low)}) must not exceed {high} ({getattr(self, high)})"
                )

    def as_dict(self) -> dict[str, float | int]:
        """The parameters as a plain dict (for summary.json)."""
        return asdict(self)


@dataclass(frozen=True)
class ScoredLMs:
    """One row per leg movement, sorted by onset (then offset, then leg)."""

    onset_s: np.ndarray
    offset_s: np.ndarray
    leg: np.ndarray  # object: "left" | "right" | "bilateral" | ""
    n_mono: np.ndarray  # int: monolateral LMs in it (1 unless bilateral)
    candidate: np.ndarray  # bool
    imi_s: np.ndarray  # float: onset to onset from the previous LM; NaN for the first
    plm: np.ndarray  # bool
    series: np.ndarray  # int: 0 = not in a PLM series, else 1-based series number

    @property
    def duration_s(self) -> np.ndarray:
        return self.offset_s - self.onset_s

    def __len__(self) -> int:
        return len(self.onset_s)


@dataclass(frozen=True)
class Scoring:
    """The scored night: LMs, which LM each input movement became, and the summary."""

    lms: ScoredLMs
    movement_lm: np.ndarray  # per input movement: row in lms, or -1 (not an LM)
    summary: dict[str, Any]
    params: ScoringParams


def score_wasm2016(
    movements: Movements,
    *,
    recording_s: float,
    analysed_s: float | None = None,
    params: ScoringParams = ScoringParams(),  # frozen, so a shared default is safe
    data_spans_s: Sequence[tuple[float, float]] | None = None,
) -> Scoring:
    """Score a night's movements by the WASM/IRLSSG 2016 rules (see the module doc).

    `recording_s` is the length of the recording; `analysed_s` the time with data
    that indices are divided by (default: `recording_s`, or the total of
    `data_spans_s` when given). `data_spans_s`, optional (start, end) pairs in seconds
    of the stretches with data, lets the hourly breakdown count the analysed time in
    each hour exactly; without it the analysed time is spread evenly over the night.
    Raises ValueError for impossible input (an offset before its onset, a NaN time,
    an unknown leg label, non-positive times).
    """
    onset, offset, leg_code = _validated_movements(movements)
    spans = _validated_spans(data_spans_s)
    if analysed_s is None:
        analysed_s = recording_s if spans is None else float(sum(e - s for s, e in spans))
    if not (math.isfinite(recording_s) and recording_s > 0):
        raise ValueError(f"recording_s must be a positive number, got {recording_s!r}")
    if not (math.isfinite(analysed_s) and 0 < analysed_s <= recording_s + TIME_TOLERANCE_S):
        raise ValueError(f"analysed_s must be in (0, recording_s], got {analysed_s!r}")

    mono_on, mono_off, mono_leg, movement_mono = _merge_same_leg(
        onset, offset, leg_code, params.merge_gap_s
    )
    is_lm = mono_off - mono_on >= params.min_lm_s - TIME_TOLERANCE_S
    mono_index = np.full(len(mono_on), -1, dtype=np.int64)
    mono_index[is_lm] = np.arange(int(is_lm.sum()))
    mono_on, mono_off, mono_leg = mono_on[is_lm], mono_off[is_lm], mono_leg[is_lm]

    bilateral_mode = bool(np.any(mono_leg == LEG_CODES["left"])) and bool(
        np.any(mono_leg == LEG_CODES["right"])
    )
    group = (
        _bilateral_groups(mono_on, mono_off, mono_leg, params.merge_gap_s)
        if bilateral_mode
        else np.arange(len(mono_on), dtype=np.int64)
    )
    lms = _classify(mono_on, mono_off, mono_leg, group, params)

    movement_lm = np.full(len(onset), -1, dtype=np.int64)
    lm_mono = mono_index[movement_mono]
    has_lm = lm_mono >= 0
    movement_lm[has_lm] = lms.row_of_group[group[lm_mono[has_lm]]]

    imi = np.full(len(lms.onset_s), np.nan)
    imi[1:] = np.diff(lms.onset_s)
    series = _plm_series(lms.candidate, imi, params)
    scored = ScoredLMs(
        onset_s=lms.onset_s,
        offset_s=lms.offset_s,
        leg=lms.leg,
        n_mono=lms.n_mono,
        candidate=lms.candidate,
        imi_s=imi,
        plm=series > 0,
        series=series,
    )
    summary = _summary(scored, len(onset), recording_s, analysed_s, spans, params)
    return Scoring(lms=scored, movement_lm=movement_lm, summary=summary, params=params)


def score_movements(movements: Movements, info: NightInfo, params: ScoringParams) -> Scoring:
    """Score a night described by NightInfo; impossible input becomes an InputError (exit 2)."""
    try:
        return score_wasm2016(
            movements,
            recording_s=info.recording_s,
            analysed_s=info.analysed_s,
            params=params,
            data_spans_s=info.data_spans_s,
        )
    except ValueError as exc:
        raise InputError(str(exc), info.source or None) from None


def periodicity_index(imi_s: np.ndarray, min_imi_s: float, max_imi_s: float) -> float | None:
    """Ferri 2006: share of IMIs in runs of >= 3 consecutive IMIs within the window.

    `imi_s` holds the IMIs in order (a leading NaN, the first LM's, is ignored).
    None when there is no IMI.
    """
    imi = np.asarray(imi_s, dtype=float)
    imi = imi[~np.isnan(imi)]
    if len(imi) == 0:
        return None
    inside = (imi >= min_imi_s - TIME_TOLERANCE_S) & (imi <= max_imi_s + TIME_TOLERANCE_S)
    in_runs = sum(n for value, n in _runs(inside) if value and n >= PERIODICITY_MIN_RUN)
    return in_runs / len(imi)


# --- steps of the rules ---------------------------------------------------------------


def _validated_movements(movements: Movements) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    onset = np.asarray(movements.onset_s, dtype=float)
    offset = np.asarray(movements.offset_s, dtype=float)
    if onset.shape != offset.shape or len(movements.leg) != len(onset):
        raise ValueError("movements: onset, offset and leg must have the same length")
    bad = ~(np.isfinite(onset) & np.isfinite(offset))
    if bad.any():
        raise ValueError(f"movement {int(np.argmax(bad))}: onset or offset is not a number")
    backwards = offset < onset
    if backwards.any():
        i = int(np.argmax(backwards))
        raise ValueError(f"movement {i}: offset {offset[i]} s is before onset {onset[i]} s")
    codes = np.empty(len(onset), dtype=np.int64)
    for i, label in enumerate(movements.leg):
        code = LEG_CODES.get("" if label is None else str(label))
        if code is None:
            raise ValueError(f"movement {i}: leg {label!r} is not one of '', 'left', 'right'")
        codes[i] = code
    return onset, offset, codes


def _validated_spans(
    spans: Sequence[tuple[float, float]] | None,
) -> list[tuple[float, float]] | None:
    if spans is None:
        return None
    out = []
    for i, (start, end) in enumerate(spans):
        if not (math.isfinite(start) and math.isfinite(end) and start <= end):
            raise ValueError(f"data span {i}: ({start}, {end}) is not a valid interval")
        out.append((float(start), float(end)))
    return out


def _merge_same_leg(
    onset: np.ndarray, offset: np.ndarray, leg: np.ndarray, gap_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge same-leg movements closer than `gap_s`. Returns the merged movements
    (sorted by onset, offset, leg) and, per input movement, its merged row."""
    order = np.lexsort((offset, onset, leg))  # by leg, then onset, then offset
    on, off, lg = onset[order], offset[order], leg[order]
    new_group = np.ones(len(on), dtype=bool)
    if len(on) > 1:
        reach = np.empty(len(on))  # latest offset so far within the same leg
        for code in np.unique(lg):
            rows = np.flatnonzero(lg == code)
            reach[rows] = np.maximum.accumulate(off[rows])
        same_leg = lg[1:] == lg[:-1]
        close = on[1:] - reach[:-1] < gap_s - TIME_TOLERANCE_S
        new_group[1:] = ~(same_leg & close)
    group_of_sorted = np.cumsum(new_group) - 1
    starts = np.flatnonzero(new_group)
    m_on = on[starts]
    m_off = np.maximum.reduceat(off, starts) if len(on) else off
    m_leg = lg[starts]
    # Re-order merged movements by (onset, offset, leg) so later steps see time order.
    time_order = np.lexsort((m_leg, m_off, m_on))
    rank = np.empty(len(time_order), dtype=np.int64)
    rank[time_order] = np.arange(len(time_order))
    movement_row = np.empty(len(onset), dtype=np.int64)
    movement_row[order] = rank[group_of_sorted]
    return m_on[time_order], m_off[time_order], m_leg[time_order], movement_row


def _bilateral_groups(
    onset: np.ndarray, offset: np.ndarray, leg: np.ndarray, gap_s: float
) -> np.ndarray:
    """Group LMs (sorted by onset) into bilateral chains: an LM joins the current group
    when it overlaps, or starts less than `gap_s` after, an LM of the other leg in it.
    Unknown-leg LMs never pair. Returns the group number of each LM."""
    left, right = LEG_CODES["left"], LEG_CODES["right"]
    group = np.empty(len(onset), dtype=np.int64)
    next_group = 0
    current = -1
    reach = {left: -math.inf, right: -math.inf}  # latest offset per leg in `current`
    for i in range(len(onset)):
        code = int(leg[i])
        if code == LEG_CODES[""]:  # a group of its own; the chain around it goes on
            group[i] = next_group
            next_group += 1
            continue
        other = right if code == left else left
        if onset[i] - reach[other] >= gap_s - TIME_TOLERANCE_S:
            current = next_group
            next_group += 1
            reach = {left: -math.inf, right: -math.inf}
        group[i] = current
        reach[code] = max(reach[code], float(offset[i]))
    return group


@dataclass(frozen=True)
class _GroupedLMs:
    onset_s: np.ndarray
    offset_s: np.ndarray
    leg: np.ndarray
    n_mono: np.ndarray
    candidate: np.ndarray
    row_of_group: np.ndarray  # group number -> row in the sorted LM table


def _classify(
    onset: np.ndarray,
    offset: np.ndarray,
    leg: np.ndarray,
    group: np.ndarray,
    params: ScoringParams,
) -> _GroupedLMs:
    """One LM per group: its extent, leg, size and whether it is a candidate."""
    n_groups = int(group.max()) + 1 if len(group) else 0
    g_on = np.full(n_groups, np.inf)
    g_off = np.full(n_groups, -np.inf)
    np.minimum.at(g_on, group, onset)
    np.maximum.at(g_off, group, offset)
    n_mono = np.bincount(group, minlength=n_groups).astype(np.int64)
    longest_mono = np.zeros(n_groups)
    np.maximum.at(longest_mono, group, offset - onset)
    duration = g_off - g_on

    names = {code: name for name, code in LEG_CODES.items()}
    g_leg = np.empty(n_groups, dtype=object)
    first_row = np.full(n_groups, -1, dtype=np.int64)
    for i in range(len(group) - 1, -1, -1):
        first_row[group[i]] = i
    for g in range(n_groups):
        g_leg[g] = BILATERAL if n_mono[g] > 1 else names[int(leg[first_row[g]])]

    tol = TIME_TOLERANCE_S
    mono_ok = longest_mono <= params.max_lm_s + tol
    bilateral = n_mono > 1
    candidate = np.where(
        bilateral,
        mono_ok & (n_mono <= params.max_bilateral_lms) & (duration <= params.max_bilateral_s + tol),
        mono_ok & (duration >= params.min_lm_s - tol),
    )
    leg_rank = np.array([_LEG_SORT[str(x)] for x in g_leg], dtype=np.int64)
    order = np.lexsort((leg_rank, g_off, g_on))
    row_of_group = np.empty(n_groups, dtype=np.int64)
    row_of_group[order] = np.arange(n_groups)
    return _GroupedLMs(
        onset_s=g_on[order],
        offset_s=g_off[order],
        leg=g_leg[order],
        n_mono=n_mono[order],
        candidate=candidate[order].astype(bool),
        row_of_group=row_of_group,
    )


_LEG_SORT = {"": 0, "left": 1, "right": 2, BILATERAL: 3}


def _plm_series(candidate: np.ndarray, imi: np.ndarray, params: ScoringParams) -> np.ndarray:
    """Series number (1-based) of each LM, 0 when not in a PLM series."""
    n = len(candidate)
    series = np.zeros(n, dtype=np.int64)
    if n == 0:
        return series
    short = imi < params.min_imi_s - TIME_TOLERANCE_S  # False for the first LM (NaN)
    eligible = candidate & ~short
    linked = np.zeros(n, dtype=bool)  # LM i continues the run of LM i-1
    linked[1:] = eligible[1:] & eligible[:-1] & (imi[1:] <= params.max_imi_s + TIME_TOLERANCE_S)
    number = 0
    i = 0
    while i < n:
        if not eligible[i]:
            i += 1
            continue
        end = i + 1
        while end < n and linked[end]:
            end += 1
        if end - i >= params.min_series:
            number += 1
            series[i:end] = number
        i = end
    return series


# --- summary --------------------------------------------------------------------------


def _summary(
    lms: ScoredLMs,
    movement_count: int,
    recording_s: float,
    analysed_s: float,
    spans: list[tuple[float, float]] | None,
    params: ScoringParams,
) -> dict[str, Any]:
    analysed_h = analysed_s / 3600.0
    duration = lms.duration_s
    plm = lms.plm
    # IMIs inside a series: every PLM's except the first of its series.
    in_series_imi = lms.imi_s[1:][plm[1:] & (lms.series[1:] == lms.series[:-1])]
    pi = periodicity_index(lms.imi_s, params.min_imi_s, params.max_imi_s)
    n_series = int(lms.series.max()) if len(lms) else 0
    return {
        "rules": RULES_NAME,
        "index_basis": INDEX_BASIS,
        "recording_hours": round(recording_s / 3600.0, 4),
        "analysed_hours": round(analysed_h, 4),
        "movement_count": int(movement_count),
        "lm_count": len(lms),
        "clm_count": int(lms.candidate.sum()),
        "plm_count": int(plm.sum()),
        "plm_series_count": n_series,
        "bilateral_lm_count": int((lms.n_mono > 1).sum()),
        "lm_index": round(len(lms) / analysed_h, 2),
        "clm_index": round(int(lms.candidate.sum()) / analysed_h, 2),
        "plm_index": round(int(plm.sum()) / analysed_h, 2),
        "periodicity_index": None if pi is None else round(pi, 4),
        "mean_lm_duration_s": _rounded_mean(duration),
        "mean_plm_duration_s": _rounded_mean(duration[plm]),
        "median_plm_imi_s": (
            round(float(np.median(in_series_imi)), 2) if len(in_series_imi) else None
        ),
        "hourly": _hourly(lms, recording_s, analysed_s, spans),
        "imi_histogram": _imi_histogram(lms.imi_s),
        "params": params.as_dict(),
    }


def _rounded_mean(values: np.ndarray) -> float | None:
    return round(float(values.mean()), 2) if len(values) else None


def _hourly(
    lms: ScoredLMs,
    recording_s: float,
    analysed_s: float,
    spans: list[tuple[float, float]] | None,
) -> dict[str, list]:
    n_bins = max(1, math.ceil(recording_s / 3600.0 - 1e-9))
    edges = np.arange(n_bins + 1) * 3600.0
    if spans is None:  # spread the analysed time evenly over the recording
        bin_len = np.minimum(edges[1:], recording_s) - edges[:-1]
        hours_s = bin_len * (analysed_s / recording_s)
    else:
        hours_s = np.zeros(n_bins)
        for start, end in spans:
            hours_s += np.clip(np.minimum(edges[1:], end) - np.maximum(edges[:-1], start), 0, None)
    bin_of = np.clip((lms.onset_s // 3600.0).astype(np.int64), 0, n_bins - 1)
    lm_n = np.bincount(bin_of, minlength=n_bins)
    plm_n = np.bincount(bin_of[lms.plm], minlength=n_bins)
    hours = hours_s / 3600.0

    def per_hour(counts: np.ndarray) -> list[float | None]:
        return [round(c / h, 2) if h > 0 else None for c, h in zip(counts, hours, strict=True)]

    return {
        "start_h": [float(x) for x in edges[:-1] / 3600.0],
        "hours": [round(float(h), 4) for h in hours],
        "lm_index": per_hour(lm_n),
        "plm_index": per_hour(plm_n),
    }


def _imi_histogram(imi_s: np.ndarray) -> dict[str, Any]:
    """IMI counts: a first bin 0-1 s, then log-spaced bins from 1 s to 1000 s."""
    decades = round(math.log10(IMI_HISTOGRAM_MAX_S))
    log_edges = np.logspace(0, decades, decades * IMI_HISTOGRAM_BINS_PER_DECADE + 1)
    edges = np.concatenate(([0.0], log_edges))
    imi = imi_s[~np.isnan(imi_s)]
    counts, _ = np.histogram(imi, bins=edges)
    return {
        "edges_s": [round(float(e), 4) for e in edges],
        "counts": [int(c) for c in counts],
        "above_range": int((imi > IMI_HISTOGRAM_MAX_S).sum()),
    }


def _runs(flags: np.ndarray) -> list[tuple[bool, int]]:
    """Run-length encoding of a boolean array: [(value, length), ...]."""
    out: list[tuple[bool, int]] = []
    for value in flags:
        if out and out[-1][0] == bool(value):
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((bool(value), 1))
    return out
