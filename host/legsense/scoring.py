"""Leg-movement scoring by the WASM/IRLSSG 2016 rules (Ferri et al., Sleep Med 2016).

The one place the rules live. Input: the movements a detector (or a PSG scorer)
reported, every length, optionally with the leg, and optionally a scoring context
(sleep stages, respiratory events, arousals: legsense.psg.context). Output: one row per
leg movement (LM) with its class, the PLM series, and a JSON-ready summary of the night
with a per-stage table. docs/scoring.md explains every figure and option for clinicians.

Rules, in the order they are applied (every threshold and choice is `ScoringParams`):

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
5. Respiratory events (when a context gives them): an LM whose extent meets the window
   around a respiratory event (`resp_anchor`, `resp_before_s`, `resp_after_s`; 2016:
   from 2.0 s before to 10.25 s after the event's end) is respiratory-related.
   `respiratory` says what that does: "exclude" (not a candidate, and it breaks a
   series, as any non-candidate LM), "remove" (as if it never happened: no IMI starts
   or ends at it, the series goes on across it; the reference scorers' "nr" figures)
   or "keep" (ignored). The summary always gives the "nr" figures too.
6. IMI: onset to onset of consecutive LMs of the IMI chain. `imi_from="candidate"`
   (MATPLM): only candidates are in the chain; a non-candidate ends the series before
   it and the next candidate's IMI is measured from the candidate before the
   non-candidate. `imi_from="lm"` (PLMScoRe): every LM is in the chain, so the IMI
   after a non-candidate is measured from it.
7. PLM series: a run of at least `min_series` consecutive candidates of the chain,
   each after the first with `min_imi_s <= IMI <= max_imi_s`. What breaks a run: a
   non-candidate, an IMI above `max_imi_s`, and an IMI below `min_imi_s`, handled by
   `short_imi` (the "intervening LM" rule):
   - "breakpoint" (MATPLM and PLMScoRe; default): the run ends before the LM with the
     short IMI; that LM may start the next run (its own IMI is not a period of it).
   - "exclude": the LM with the short IMI is never a PLM; the next LM's IMI is measured
     from it, so the next may start a run only if that IMI is long enough.
   - "skip" (WASM 2006 practice, MATPLM's "intervening LM breakpoint" off): the LM
     with the short IMI is left out of the chain; the next IMI is measured from the LM
     before it, so a run may go on across it.
8. Stage of an LM: the stage of the epoch holding its onset. Indices per hour of the
   time each column of the table counts: time in bed (TIB, the whole hypnogram, or the
   analysed time without one), total sleep (TST), wake (W), N1, N2, N3, REM (R), NREM.
   Without a hypnogram there is one column, TIB, equal to the top-level figures.
9. Periodicity index, `periodicity`: "plm_per_clm" (MATPLM's PI: PLMs / CLMs; default)
   or "ferri" (Ferri 2006: share of IMIs, over all LMs, in runs of at least 3
   consecutive IMIs within [min_imi_s, max_imi_s]).
10. LM with arousal: an arousal overlapping the LM or less than `arousal_gap_s` from
   it, either side (`arousal_rule="overlap"`, the standard's wording; default), or an
   LM meeting +-`arousal_gap_s` around the arousal's end (`"arousal_end"`, MATPLM).
11. IMI statistics (log-IMI mean and SD, as MATPLM reports them: exp of the mean and of
   the SD of ln IMI): `imi_stats="plm"` (MATPLM) uses the IMI of every PLM that is at
   most `max_imi_s`; `"series"` only the IMIs inside series (each PLM but the first of
   its series).

Comparisons tolerate `TIME_TOLERANCE_S` of float rounding, so an IMI that is exactly
10 s on the sample clock (10.000000000000002 after subtraction) counts as 10 s, and a
gap of exactly 0.5 s stays "not less than 0.5 s".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from legsense.errors import InputError
from legsense.night import Movements, NightInfo
from legsense.psg.context import (
    SLEEP_STAGES,
    STAGE_COLUMNS,
    WAKE,
    Intervals,
    ScoringContext,
    finite_or_none,
)

RULES_NAME = "WASM/IRLSSG 2016"
INDEX_BASIS = (
    "per hour of analysed time in bed (recording time with data); "
    "no sleep staging, so not per hour of sleep"
)
INDEX_BASIS_STAGED = (
    "top-level indices per hour of time in bed; stage_table gives them per hour of "
    "total sleep time (TST), wake (W) and each stage"
)
TIME_TOLERANCE_S = 1e-6
PERIODICITY_MIN_RUN = 3  # consecutive IMIs (Ferri 2006)
IMI_HISTOGRAM_BINS_PER_DECADE = 10
IMI_HISTOGRAM_MAX_S = 1000.0

LEG_CODES = {"": 0, "left": 1, "right": 2}
BILATERAL = "bilateral"

SHORT_IMI_RULES = ("breakpoint", "exclude", "skip")
IMI_FROM = ("candidate", "lm")
PERIODICITY_RULES = ("plm_per_clm", "ferri")
RESPIRATORY_RULES = ("exclude", "remove", "keep")
RESP_ANCHORS = ("end", "event")
AROUSAL_RULES = ("overlap", "arousal_end")
IMI_STATS = ("plm", "series")

# Named respiratory windows: (anchor, seconds before, seconds after).
RESP_WINDOWS = {
    # WASM/IRLSSG 2016 (Manconi et al. 2015): -2.0 s to +10.25 s around the event's end.
    "wasm2016": ("end", 2.0, 10.25),
    # AASM (2007-2012 manuals): from 0.5 s before the event to 0.5 s after it.
    "aasm": ("event", 0.5, 0.5),
}


@dataclass(frozen=True)
class ScoringParams:
    """Thresholds and readings of the rules; the defaults are WASM/IRLSSG 2016 for
    adults, read like MATPLM where the standard leaves a choice (see the module doc).

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
    short_imi: str = "breakpoint"
    imi_from: str = "candidate"
    periodicity: str = "plm_per_clm"
    respiratory: str = "exclude"
    resp_anchor: str = "end"
    resp_before_s: float = 2.0
    resp_after_s: float = 10.25
    arousal_rule: str = "overlap"
    arousal_gap_s: float = 0.5
    imi_stats: str = "plm"

    def __post_init__(self) -> None:
        for name in ("min_lm_s", "max_lm_s", "max_bilateral_s", "min_imi_s", "max_imi_s"):
            value = getattr(self, name)
            if not _is_number(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        for name in ("merge_gap_s", "resp_before_s", "resp_after_s", "arousal_gap_s"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
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
        for name, allowed in (
            ("short_imi", SHORT_IMI_RULES),
            ("imi_from", IMI_FROM),
            ("periodicity", PERIODICITY_RULES),
            ("respiratory", RESPIRATORY_RULES),
            ("resp_anchor", RESP_ANCHORS),
            ("arousal_rule", AROUSAL_RULES),
            ("imi_stats", IMI_STATS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )

    def as_dict(self) -> dict[str, float | int | str]:
        """The parameters as a plain dict (for summary.json)."""
        return asdict(self)


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


@dataclass(frozen=True)
class ScoredLMs:
    """One row per leg movement, sorted by onset (then offset, then leg).

    `candidate`, `imi_s`, `plm` and `series` follow `params.respiratory`; `stage`,
    `respiratory` and `arousal` come from the context (defaults without one).
    """

    onset_s: np.ndarray
    offset_s: np.ndarray
    leg: np.ndarray  # object: "left" | "right" | "bilateral" | ""
    n_mono: np.ndarray  # int: monolateral LMs in it (1 unless bilateral)
    candidate: np.ndarray  # bool
    imi_s: np.ndarray  # float: IMI the rules used (see rule 6); NaN when not in the chain
    plm: np.ndarray  # bool
    series: np.ndarray  # int: 0 = not in a PLM series, else 1-based series number
    stage: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    respiratory: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    arousal: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def duration_s(self) -> np.ndarray:
        return self.offset_s - self.onset_s

    def __len__(self) -> int:
        return len(self.onset_s)


@dataclass(frozen=True)
class SeriesResult:
    """The series of one reading of the respiratory rule (main, or "nr")."""

    onset_s: np.ndarray  # per LM (all of them, removed ones too)
    included: np.ndarray  # bool per LM: not removed
    candidate: np.ndarray  # bool per LM
    imi_s: np.ndarray  # float per LM, NaN outside the chain
    series: np.ndarray  # int per LM

    @property
    def plm(self) -> np.ndarray:
        return self.series > 0


@dataclass(frozen=True)
class Scoring:
    """The scored night: LMs, which LM each input movement became, and the summary."""

    lms: ScoredLMs
    movement_lm: np.ndarray  # per input movement: row in lms, or -1 (not an LM)
    summary: dict[str, Any]
    params: ScoringParams
    context: ScoringContext | None = None
    nr: SeriesResult | None = None  # respiratory LMs removed, when respiratory events known


def score_wasm2016(
    movements: Movements,
    *,
    recording_s: float,
    analysed_s: float | None = None,
    params: ScoringParams = ScoringParams(),  # frozen, so a shared default is safe
    data_spans_s: Sequence[tuple[float, float]] | None = None,
    context: ScoringContext | None = None,
) -> Scoring:
    """Score a night's movements by the WASM/IRLSSG 2016 rules (see the module doc).

    `recording_s` is the length of the recording; `analysed_s` the time with data
    that indices are divided by (default: `recording_s`, or the total of
    `data_spans_s` when given). `data_spans_s`, optional (start, end) pairs in seconds
    of the stretches with data, lets the hourly breakdown count the analysed time in
    each hour exactly; without it the analysed time is spread evenly over the night.
    `context` adds sleep stages, respiratory events and arousals (PSG).
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

    ctx = context or ScoringContext()
    n = len(lms.onset_s)
    stage = (
        ctx.hypnogram.stage_at(lms.onset_s)
        if ctx.hypnogram is not None
        else np.full(n, None, dtype=object)
    )
    resp = (
        respiratory_related(lms.onset_s, lms.offset_s, ctx.respiratory, params)
        if ctx.respiratory is not None
        else np.zeros(n, dtype=bool)
    )
    arousal = (
        with_arousal(lms.onset_s, lms.offset_s, ctx.arousals, params)
        if ctx.arousals is not None
        else np.zeros(n, dtype=bool)
    )

    main = plm_series(lms.onset_s, lms.candidate, resp, params.respiratory, params)
    nr = (
        plm_series(lms.onset_s, lms.candidate, resp, "remove", params)
        if ctx.respiratory is not None
        else None
    )
    scored = ScoredLMs(
        onset_s=lms.onset_s,
        offset_s=lms.offset_s,
        leg=lms.leg,
        n_mono=lms.n_mono,
        candidate=main.candidate,
        imi_s=main.imi_s,
        plm=main.plm,
        series=main.series,
        stage=stage,
        respiratory=resp,
        arousal=arousal,
    )
    summary = _summary(
        scored, lms.candidate, main, nr, ctx, len(onset), recording_s, analysed_s, spans, params
    )
    return Scoring(
        lms=scored,
        movement_lm=movement_lm,
        summary=summary,
        params=params,
        context=context,
        nr=nr,
    )


def score_movements(
    movements: Movements,
    info: NightInfo,
    params: ScoringParams,
    context: ScoringContext | None = None,
) -> Scoring:
    """Score a night described by NightInfo; impossible input becomes an InputError (exit 2)."""
    try:
        return score_wasm2016(
            movements,
            recording_s=info.recording_s,
            analysed_s=info.analysed_s,
            params=params,
            data_spans_s=info.data_spans_s,
            context=context,
        )
    except ValueError as exc:
        raise InputError(str(exc), info.source or None) from None


def periodicity_index(imi_s: np.ndarray, min_imi_s: float, max_imi_s: float) -> float | None:
    """Ferri 2006: share of IMIs in runs of >= 3 consecutive IMIs within the window.

    `imi_s` holds the IMIs in order (NaNs, such as the first LM's, are dropped).
    None when there is no IMI.
    """
    imi = np.asarray(imi_s, dtype=float)
    imi = imi[~np.isnan(imi)]
    if len(imi) == 0:
        return None
    return float(_in_periodic_runs(imi, min_imi_s, max_imi_s).sum()) / len(imi)


def _in_periodic_runs(imi: np.ndarray, min_imi_s: float, max_imi_s: float) -> np.ndarray:
    """Per IMI: does it belong to a run of >= PERIODICITY_MIN_RUN in-window IMIs?"""
    inside = (imi >= min_imi_s - TIME_TOLERANCE_S) & (imi <= max_imi_s + TIME_TOLERANCE_S)
    out = np.zeros(len(imi), dtype=bool)
    start = 0
    for value, length in _runs(inside):
        if value and length >= PERIODICITY_MIN_RUN:
            out[start : start + length] = True
        start += length
    return out


# --- context: respiratory events and arousals ---------------------------------------


def respiratory_related(
    onset: np.ndarray, offset: np.ndarray, events: Intervals, params: ScoringParams
) -> np.ndarray:
    """Per LM: does its extent meet the window of some respiratory event?

    Window: [end - before, end + after] (anchor "end", WASM 2016) or
    [start - before, end + after] (anchor "event", AASM). Both closed, as in MATPLM and
    PLMScoRe: an LM touching the window's edge is respiratory-related.
    """
    if len(events) == 0 or len(onset) == 0:
        return np.zeros(len(onset), dtype=bool)
    anchor = events.offset_s if params.resp_anchor == "end" else events.onset_s
    w_on = anchor - params.resp_before_s
    w_off = events.offset_s + params.resp_after_s
    return _meets(onset, offset, w_on, w_off, strict=False)


def with_arousal(
    onset: np.ndarray, offset: np.ndarray, arousals: Intervals, params: ScoringParams
) -> np.ndarray:
    """Per LM: is an arousal associated with it (see rule 10 of the module doc)?"""
    if len(arousals) == 0 or len(onset) == 0:
        return np.zeros(len(onset), dtype=bool)
    gap = params.arousal_gap_s
    if params.arousal_rule == "arousal_end":
        return _meets(onset, offset, arousals.offset_s - gap, arousals.offset_s + gap, strict=False)
    # Overlap, or less than `gap` between the end of one and the start of the other.
    return _meets(onset - gap, offset + gap, arousals.onset_s, arousals.offset_s, strict=True)


def _meets(
    a_on: np.ndarray, a_off: np.ndarray, b_on: np.ndarray, b_off: np.ndarray, strict: bool
) -> np.ndarray:
    """Per interval a: does it meet any interval b? Closed intervals, or open at the
    touching ends when `strict` (then touching is not meeting)."""
    order = np.argsort(b_on, kind="stable")
    b_on, b_off = b_on[order], b_off[order]
    reach = np.maximum.accumulate(b_off)  # latest end among b starting before each
    tol = TIME_TOLERANCE_S
    # Candidates: the b intervals starting no later than a's end.
    if strict:
        last = np.searchsorted(b_on, a_off - tol, side="left") - 1
    else:
        last = np.searchsorted(b_on, a_off + tol, side="right") - 1
    ok = last >= 0
    out = np.zeros(len(a_on), dtype=bool)
    ends = reach[np.maximum(last, 0)]
    out[ok] = (ends[ok] > a_on[ok] + tol) if strict else (ends[ok] >= a_on[ok] - tol)
    return out


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


def plm_series(
    onset: np.ndarray,
    candidate: np.ndarray,
    respiratory: np.ndarray,
    respiratory_rule: str,
    params: ScoringParams,
) -> SeriesResult:
    """The IMI chain and the PLM series of LMs sorted by onset (rules 5-7).

    `candidate` is the candidacy by duration and size; `respiratory` flags the
    respiratory-related LMs and `respiratory_rule` says what they do.
    """
    n = len(onset)
    removed = respiratory & (respiratory_rule == "remove")
    clm = candidate & ~removed
    if respiratory_rule == "exclude":
        clm = clm & ~respiratory
    in_chain = clm.copy() if params.imi_from == "candidate" else ~removed
    tol = TIME_TOLERANCE_S
    imi = np.full(n, np.nan)
    series = np.zeros(n, dtype=np.int64)
    segment: list[int] = []
    number = 0

    def close() -> None:
        nonlocal number, segment
        if len(segment) >= params.min_series:
            number += 1
            series[segment] = number
        segment = []

    prev_onset = math.nan
    for i in range(n):
        if removed[i]:
            continue  # as if it never happened
        if not in_chain[i]:
            close()  # a non-candidate outside the chain: it still breaks the run
            continue
        gap = onset[i] - prev_onset  # NaN for the first of the chain
        if not clm[i]:  # a non-candidate in the chain ("lm"): its IMI counts, it breaks
            imi[i] = gap
            prev_onset = onset[i]
            close()
            continue
        short = gap < params.min_imi_s - tol
        imi[i] = gap
        if short and params.short_imi == "skip":
            continue  # out of the chain: the next IMI is measured from the LM before
        prev_onset = onset[i]
        if short and params.short_imi == "exclude":
            close()
            continue
        if math.isnan(gap) or short or gap > params.max_imi_s + tol:
            close()
        segment.append(i)
    close()
    return SeriesResult(onset_s=onset, included=~removed, candidate=clm, imi_s=imi, series=series)


# --- summary --------------------------------------------------------------------------


def _summary(
    lms: ScoredLMs,
    size_candidate: np.ndarray,
    main: SeriesResult,
    nr: SeriesResult | None,
    ctx: ScoringContext,
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
    in_series_imi = lms.imi_s[_continues_series(lms.series)]
    pi = _periodicity(main, np.ones(len(lms), dtype=bool), params)
    n_series = int(lms.series.max()) if len(lms) else 0
    clm_count = int(main.candidate.sum())
    out: dict[str, Any] = {
        "rules": RULES_NAME,
        "index_basis": INDEX_BASIS if ctx.hypnogram is None else INDEX_BASIS_STAGED,
        "recording_hours": round(recording_s / 3600.0, 4),
        "analysed_hours": round(analysed_h, 4),
        "movement_count": int(movement_count),
        "lm_count": len(lms),
        "clm_count": clm_count,
        "plm_count": int(plm.sum()),
        "plm_series_count": n_series,
        "bilateral_lm_count": int((lms.n_mono > 1).sum()),
        "lm_index": round(len(lms) / analysed_h, 2),
        "clm_index": round(clm_count / analysed_h, 2),
        "plm_index": round(int(plm.sum()) / analysed_h, 2),
        "periodicity_index": finite_or_none(pi, 4),
        "mean_lm_duration_s": _rounded_mean(duration),
        "mean_plm_duration_s": _rounded_mean(duration[plm]),
        "median_plm_imi_s": (
            round(float(np.median(in_series_imi)), 2) if len(in_series_imi) else None
        ),
        "hourly": _hourly(lms, recording_s, analysed_s, spans),
        "imi_histogram": _imi_histogram(lms.imi_s),
        "params": params.as_dict(),
    }
    if ctx.hypnogram is not None:
        tst_h = ctx.hypnogram.hours("TST")
        wake_h = ctx.hypnogram.hours("W")
        sleep = np.array([s in SLEEP_STAGES for s in lms.stage], dtype=bool)
        wake = np.array([s == WAKE for s in lms.stage], dtype=bool)
        out["time_in_bed_hours"] = round(ctx.hypnogram.hours("TIB"), 4)
        out["total_sleep_hours"] = round(tst_h, 4)
        out["plms_index"] = _per_hour(int((plm & sleep).sum()), tst_h)
        out["plmw_index"] = _per_hour(int((plm & wake).sum()), wake_h)
        out["plms_arousal_index"] = _per_hour(int((plm & sleep & lms.arousal).sum()), tst_h)
        out["lms_outside_hypnogram"] = int(sum(s is None for s in lms.stage))
    if ctx.respiratory is not None:
        out["respiratory"] = {
            "events": len(ctx.respiratory),
            "rule": params.respiratory,
            "window_s": _resp_window(params),
            "related_lm_count": int(lms.respiratory.sum()),
            "related_clm_count": int((lms.respiratory & size_candidate).sum()),
        }
    if ctx.arousals is not None:
        out["arousals"] = {"events": len(ctx.arousals), "rule": params.arousal_rule}
    out["stage_table"] = _stage_table(lms, size_candidate, main, nr, ctx, analysed_h, params)
    return out


def _resp_window(params: ScoringParams) -> dict[str, Any]:
    return {
        "anchor": params.resp_anchor,
        "before": params.resp_before_s,
        "after": params.resp_after_s,
    }


def _continues_series(series: np.ndarray) -> np.ndarray:
    """Per LM: a PLM that is not the first of its series."""
    out = np.zeros(len(series), dtype=bool)
    if len(series) > 1:
        out[1:] = (series[1:] > 0) & (series[1:] == series[:-1])
    return out


def _per_hour(count: int, hours: float) -> float | None:
    return round(count / hours, 2) if hours > 0 else None


def _periodicity(
    result: SeriesResult, in_column: np.ndarray, params: ScoringParams
) -> float | None:
    """The periodicity index of the LMs in a column, by `params.periodicity`."""
    if params.periodicity == "plm_per_clm":
        clm = int((result.candidate & in_column).sum())
        return int((result.plm & in_column).sum()) / clm if clm else None
    # Ferri 2006: IMIs over every LM still counted (removed ones are not), each IMI
    # belonging to the LM that ends it.
    keep = np.flatnonzero(result.included)
    if len(keep) < 2:
        return None
    imi = np.diff(result.onset_s[keep])
    periodic = _in_periodic_runs(imi, params.min_imi_s, params.max_imi_s)
    ends_in = in_column[keep[1:]]
    total = int(ends_in.sum())
    return int(periodic[ends_in].sum()) / total if total else None


def _imi_log_stats(
    result: SeriesResult, in_column: np.ndarray, params: ScoringParams
) -> tuple[float | None, float | None]:
    """(exp(mean ln IMI), exp(SD ln IMI)) of the column's PLM IMIs (rule 11).

    SD with n - 1 in the denominator (MATLAB's std, as MATPLM reports it); None for
    fewer than one (mean) or two (SD) IMIs.
    """
    plm = result.plm & in_column
    if params.imi_stats == "plm":
        pick = plm & (result.imi_s <= params.max_imi_s + TIME_TOLERANCE_S)
    else:
        pick = plm & _continues_series(result.series)
    imi = result.imi_s[pick]
    imi = imi[np.isfinite(imi) & (imi > 0)]
    if len(imi) == 0:
        return None, None
    logs = np.log(imi)
    mean = math.exp(float(logs.mean()))
    sd = math.exp(float(logs.std(ddof=1))) if len(logs) > 1 else None
    return mean, sd


def _stage_table(
    lms: ScoredLMs,
    size_candidate: np.ndarray,
    main: SeriesResult,
    nr: SeriesResult | None,
    ctx: ScoringContext,
    analysed_h: float,
    params: ScoringParams,
) -> dict[str, Any]:
    """Figures per column (TIB, TST, W, N1, N2, N3, R, NREM); only TIB without stages."""
    hyp = ctx.hypnogram
    columns = list(STAGE_COLUMNS) if hyp is not None else ["TIB"]
    table: dict[str, Any] = {"columns": columns}
    rows: dict[str, list[Any]] = {}

    def put(name: str, value: Any) -> None:
        rows.setdefault(name, []).append(value)

    for column in columns:
        if hyp is None:
            hours = analysed_h
            in_column = np.ones(len(lms), dtype=bool)
        else:
            hours = hyp.hours(column)
            in_column = np.array(
                [s is not None and s in STAGE_COLUMNS[column] for s in lms.stage], dtype=bool
            )
        put("hours", round(hours, 4))
        lm_n = int(in_column.sum())
        put("lm_count", lm_n)
        put("lm_index", _per_hour(lm_n, hours))
        _put_series_rows(put, "", main, lms.arousal, in_column, hours, params)
        if nr is not None:
            _put_series_rows(put, "_nr", nr, lms.arousal, in_column, hours, params)
            put("respiratory_clm_count", int((lms.respiratory & size_candidate & in_column).sum()))
        codes = STAGE_COLUMNS[column]
        if ctx.respiratory is not None:
            put("respiratory_event_index", _events_per_hour(ctx.respiratory, hyp, codes, hours))
        if ctx.arousals is not None:
            put("arousal_index", _events_per_hour(ctx.arousals, hyp, codes, hours))
    table.update(rows)
    return table


def _put_series_rows(
    put: Any,
    suffix: str,
    result: SeriesResult,
    arousal: np.ndarray,
    in_column: np.ndarray,
    hours: float,
    params: ScoringParams,
) -> None:
    clm_n = int((result.candidate & in_column).sum())
    plm_n = int((result.plm & in_column).sum())
    plm_a = int((result.plm & in_column & arousal).sum())
    put(f"clm{suffix}_count", clm_n)
    put(f"clm{suffix}_index", _per_hour(clm_n, hours))
    put(f"plm{suffix}_count", plm_n)
    put(f"plm{suffix}_index", _per_hour(plm_n, hours))
    put(f"plm{suffix}_arousal_index", _per_hour(plm_a, hours))
    put(f"periodicity_index{suffix}", finite_or_none(_periodicity(result, in_column, params), 4))
    mean, sd = _imi_log_stats(result, in_column, params)
    put(f"imi{suffix}_log_mean_s", finite_or_none(mean, 3))
    put(f"imi{suffix}_log_sd_factor", finite_or_none(sd, 4))


def _events_per_hour(
    events: Intervals, hyp: Any, codes: tuple[str, ...], hours: float
) -> float | None:
    if hyp is None:
        n = len(events)
    else:
        stage = hyp.stage_at(events.onset_s)
        n = int(sum(s is not None and s in codes for s in stage))
    return _per_hour(n, hours)


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
