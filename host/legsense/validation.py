"""A device night against a PSG of the same night: clocks aligned, events matched,
indices compared; several nights: agreement across nights.

Steps for one night (docs/scoring.md, "Validation against PSG"):

1. Clocks. The device's times are UTC (its clock anchors, applied by the sync); the
   PSG's are the lab's wall clock, read in a time zone (`psg_tz`). Their difference is
   the nominal offset. The real one is found by a bounded search around it: every PSG
   LM onset is paired with every device LM onset within the search window, and the
   offset that lines up the most pairs (within `ALIGN_TOLERANCE_S`) wins; it is
   refined to the median of those pairs' differences. Confidence: the pairs at the
   best offset against the best elsewhere (more than `RUNNER_UP_AWAY_S` away) and
   against chance. A forced offset skips the search.
2. The period both recorded: the PSG's hypnogram (or its events) on the device's axis,
   cut to the device's recording.
3. Events. Both sides are scored by the same rules (legsense.scoring). LMs starting in
   the period are matched one to one when they overlap; for each match the onset and
   offset errors (device minus PSG). Sensitivity (of the PSG's LMs, how many the device
   found), positive predictive value, F1.
4. Indices: PLM index per hour of the period from both, hour by hour too (Bland-Altman
   on the hours), and PLMS index per hour of sleep: the PSG's own, and the device's
   with the PSG's hypnogram laid over it.
5. Legs: a device is on one leg. When the PSG scored both legs, the comparison is made
   twice: against the PSG leg that matches the device's `leg`, and against both legs
   (bilateral LMs merged).

Across nights: Bland-Altman on the per-night PLM indices, ICC(A,1) (two-way random,
absolute agreement, single measures; Shrout & Fleiss 1979, McGraw & Wong 1996) and
Pearson's r.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from legsense.errors import InputError
from legsense.night import Movements
from legsense.night_folder import read_events_csv
from legsense.psg.context import ScoringContext
from legsense.psg.record import PsgRecord
from legsense.scoring import Scoring, ScoringParams, score_wasm2016

ALIGN_TOLERANCE_S = 1.0  # two onsets this close count as lined up while searching
RUNNER_UP_AWAY_S = 5.0  # a rival offset must be this far from the best one
DEFAULT_SEARCH_S = 600.0
MAX_SEARCH_S = 6 * 3600.0
MIN_HOUR_FRACTION = 0.5  # an hour bin needs this much of the period to be compared


@dataclass(frozen=True)
class DeviceNight:
    """The device's side: movements on its own axis (seconds from `start_utc`)."""

    movements: Movements
    recording_s: float
    analysed_s: float
    data_spans_s: list[tuple[float, float]] | None
    start_utc: datetime | None
    leg: str
    kind: str  # "night folder" or "trace"
    source: str


@dataclass(frozen=True)
class Alignment:
    """t_device = t_psg + shift_s."""

    shift_s: float
    nominal_shift_s: float | None  # from the two clocks, when both are known
    method: str  # "search", "forced", "clocks only"
    pairs: int  # onsets lined up at the best offset
    runner_up_pairs: int
    expected_by_chance: float
    confidence: str  # "high", "medium", "low", "forced"

    def as_dict(self) -> dict[str, Any]:
        clock = None if self.nominal_shift_s is None else self.nominal_shift_s - self.shift_s
        return {
            "method": self.method,
            "psg_to_device_shift_s": round(self.shift_s, 3),
            "psg_clock_minus_device_clock_s": None if clock is None else round(clock, 3),
            "pairs_at_best_offset": self.pairs,
            "pairs_at_runner_up": self.runner_up_pairs,
            "pairs_expected_by_chance": round(self.expected_by_chance, 2),
            "confidence": self.confidence,
        }


# --- the device side --------------------------------------------------------------------


def load_device_night(path: Path) -> DeviceNight:
    """A night folder (events.csv + summary.json) or a trace analysed on the fly."""
    path = Path(path)
    if path.is_dir():
        return _night_folder(path)
    if not path.exists():
        raise InputError("no such night folder or trace", path)
    from legsense.analysis import analyze_trace  # the detector: only for traces
    from legsense.trace import read_trace

    trace = read_trace(path)
    detection, info = analyze_trace(trace)
    return DeviceNight(
        movements=detection.movements,
        recording_s=info.recording_s,
        analysed_s=info.analysed_s,
        data_spans_s=info.data_spans_s,
        start_utc=_aware(info.start_utc),
        leg=info.leg,
        kind="trace",
        source=path.name,
    )


def _night_folder(folder: Path) -> DeviceNight:
    events = folder / "events.csv"
    summary_path = folder / "summary.json"
    if not events.exists() or not summary_path.exists():
        raise InputError("not a night folder: needs events.csv and summary.json", folder)
    try:
        summary = json.loads(summary_path.read_text())
        rec = summary["recording"]
        recording_s = float(rec["recording_s"])
        analysed_s = float(rec.get("analysed_s", recording_s))
        start = rec.get("start_utc")
        start_utc = _aware(datetime.fromisoformat(start)) if start else None
        leg = str(rec.get("leg") or "")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"unreadable summary.json: {exc}", summary_path) from None
    movements = read_events_csv(events)
    if start_utc is not None:
        movements = _times_from_utc_column(events, movements, start_utc)
    if leg in ("left", "right"):
        movements = Movements.from_arrays(
            movements.onset_s, movements.offset_s, np.full(len(movements), leg, dtype=object)
        )
    return DeviceNight(
        movements=movements,
        recording_s=recording_s,
        analysed_s=min(analysed_s, recording_s),
        data_spans_s=None,
        start_utc=start_utc,
        leg=leg if leg in ("left", "right") else "",
        kind="night folder",
        source=folder.name,
    )


def _times_from_utc_column(path: Path, movements: Movements, start: datetime) -> Movements:
    # events.csv's onset_utc carries the sync's drift correction; onset_s does not.
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r]
    if not rows or "onset_utc" not in rows[0] or len(rows) != len(movements):
        return movements
    try:
        stamps = [datetime.fromisoformat(r["onset_utc"]) for r in rows]
    except (ValueError, TypeError):
        return movements
    utc = np.array([(_utc(t) - start).total_seconds() for t in stamps])
    shift = utc - movements.onset_s
    return Movements.from_arrays(
        movements.onset_s + shift, movements.offset_s + shift, movements.leg
    )


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _aware(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def parse_tz(text: str | None) -> tzinfo:
    """A time zone: an IANA name (Europe/Zurich), UTC, or +HH:MM / -HH:MM; None: this
    computer's local zone."""
    if text is None:
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    t = text.strip()
    if t.upper() in ("UTC", "Z", "GMT"):
        return UTC
    if t[:1] in "+-" and ":" in t:
        sign = -1 if t[0] == "-" else 1
        try:
            hours, minutes = (int(x) for x in t[1:].split(":"))
        except ValueError:
            raise InputError(f"bad time zone {text!r}: +HH:MM, UTC or an IANA name") from None
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(t)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"unknown time zone {text!r}") from None


def psg_start_utc(record: PsgRecord, tz: tzinfo, near: datetime | None) -> datetime | None:
    """The PSG's t = 0 in UTC; a PSG without a date takes the date nearest `near`."""
    start = record.start
    if not record.date_known:
        if near is None:
            return None
        local_near = near.astimezone(tz)
        base = datetime.combine(local_near.date(), start.time())
        options = [base + timedelta(days=d) for d in (-1, 0, 1)]
        start = min(options, key=lambda t: abs((t.replace(tzinfo=tz) - near).total_seconds()))
    return start.replace(tzinfo=tz).astimezone(UTC)


# --- clocks ---------------------------------------------------------------------------


def align(
    device_onsets: np.ndarray,
    psg_onsets: np.ndarray,
    nominal_shift_s: float | None,
    search_s: float = DEFAULT_SEARCH_S,
    forced_shift_s: float | None = None,
) -> Alignment:
    """The shift that maps PSG times onto device times (see the module doc, step 1)."""
    if forced_shift_s is not None:
        return Alignment(forced_shift_s, nominal_shift_s, "forced", 0, 0, 0.0, "forced")
    centre = 0.0 if nominal_shift_s is None else nominal_shift_s
    if not (math.isfinite(search_s) and 0 <= search_s <= MAX_SEARCH_S):
        raise InputError(f"search window must be 0-{MAX_SEARCH_S:g} s, got {search_s:g}")
    dev = np.sort(np.asarray(device_onsets, dtype=float))
    psg = np.sort(np.asarray(psg_onsets, dtype=float))
    tol = ALIGN_TOLERANCE_S
    lo = centre - search_s - tol
    hi = centre + search_s + tol
    first = np.searchsorted(dev, psg + lo, side="left")
    last = np.searchsorted(dev, psg + hi, side="right")
    counts = last - first
    if len(dev) == 0 or len(psg) == 0 or counts.sum() == 0:
        return Alignment(centre, nominal_shift_s, "clocks only", 0, 0, 0.0, "low")
    # Every (device - PSG) difference inside the window, without a Python loop.
    owner = np.repeat(np.arange(len(psg)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    diffs = np.sort(dev[np.repeat(first, counts) + offsets] - psg[owner])
    # Pairs within one tolerance window starting at each difference.
    ends = np.searchsorted(diffs, diffs + 2 * tol, side="right")
    window = ends - np.arange(len(diffs))
    best = int(np.argmax(window))
    lined = diffs[best : ends[best]]
    shift = float(np.median(lined))
    centres = diffs + tol
    far = np.abs(centres - shift) > RUNNER_UP_AWAY_S
    runner_up = int(window[far].max()) if far.any() else 0
    expected = len(diffs) * (2 * tol) / max(2 * search_s + 2 * tol, 2 * tol)
    pairs = int(window[best])
    confidence = "low"
    if pairs >= 10 and pairs >= 2 * max(runner_up, expected):
        confidence = "high"
    elif pairs >= 5 and pairs >= 1.3 * max(runner_up, expected):
        confidence = "medium"
    return Alignment(shift, nominal_shift_s, "search", pairs, runner_up, expected, confidence)


# --- matching ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Matches:
    pairs: list[tuple[int, int]]  # (reference row, test row)
    reference: int
    test: int

    @property
    def sensitivity(self) -> float | None:
        return len(self.pairs) / self.reference if self.reference else None

    @property
    def ppv(self) -> float | None:
        return len(self.pairs) / self.test if self.test else None

    @property
    def f1(self) -> float | None:
        s, p = self.sensitivity, self.ppv
        if s is None or p is None or s + p == 0:
            return None
        return 2 * s * p / (s + p)


def match_overlap(
    ref_on: np.ndarray, ref_off: np.ndarray, test_on: np.ndarray, test_off: np.ndarray
) -> Matches:
    """One to one: each reference event (in onset order) takes the first unused test
    event that overlaps it (touching counts). Both lists sorted by onset."""
    pairs: list[tuple[int, int]] = []
    used = np.zeros(len(test_on), dtype=bool)
    j0 = 0
    for i in range(len(ref_on)):
        while j0 < len(test_on) and test_off[j0] < ref_on[i]:
            j0 += 1
        j = j0
        while j < len(test_on) and test_on[j] <= ref_off[i]:
            if not used[j] and test_off[j] >= ref_on[i]:
                used[j] = True
                pairs.append((i, j))
                break
            j += 1
    return Matches(pairs, len(ref_on), len(test_on))


# --- one night -------------------------------------------------------------------------


@dataclass
class NightComparison:
    """Everything compared for one night (to_dict() is its part of validation.json)."""

    device: DeviceNight
    record: PsgRecord
    alignment: Alignment
    period: tuple[float, float]  # on the device's axis
    device_scoring: Scoring
    psg_scorings: dict[str, Scoring]  # "same_leg" and/or "both_legs", on the device's axis
    figures: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.figures


def compare_night(
    device: DeviceNight,
    record: PsgRecord,
    params: ScoringParams,
    psg_tz: tzinfo,
    search_s: float = DEFAULT_SEARCH_S,
    forced_shift_s: float | None = None,
) -> NightComparison:
    """Compare one device night with its PSG (module doc, steps 1-5)."""
    psg_utc = psg_start_utc(record, psg_tz, device.start_utc)
    nominal = None
    if psg_utc is not None and device.start_utc is not None:
        nominal = (psg_utc - device.start_utc).total_seconds()
    device_scoring = score_wasm2016(
        device.movements,
        recording_s=device.recording_s,
        analysed_s=device.analysed_s,
        data_spans_s=device.data_spans_s,
        params=params,
    )
    # Align on LM onsets (>= min LM) of the PSG leg that matches the device, if any.
    psg_legs = record.legs() - {""}
    same_leg = device.leg if device.leg in psg_legs else None
    psg_align = _leg(record.movements, same_leg)
    keep = psg_align.duration_s >= params.min_lm_s
    alignment = align(
        device_scoring.lms.onset_s,
        psg_align.onset_s[keep],
        nominal,
        search_s=search_s,
        forced_shift_s=forced_shift_s,
    )
    shift = alignment.shift_s
    hyp = record.context.hypnogram
    if hyp is not None and len(hyp):
        p0, p1 = hyp.span_s
    else:
        p0, p1 = 0.0, record.end_s
    period = (max(0.0, p0 + shift), min(device.recording_s, p1 + shift))
    if period[1] <= period[0]:
        raise InputError(
            f"the device night and the PSG do not overlap (PSG maps to {p0 + shift:.0f}-"
            f"{p1 + shift:.0f} s of a {device.recording_s:.0f} s device night)"
        )
    context = record.context.shifted(shift)
    legs = {"both_legs": None} if same_leg is None else {"same_leg": same_leg, "both_legs": None}
    psg_scorings: dict[str, Scoring] = {}
    comparisons: dict[str, Any] = {}
    for name, leg in legs.items():
        m = _leg(record.movements, leg)
        shifted = Movements.from_arrays(m.onset_s + shift, m.offset_s + shift, m.leg)
        recording_s = max(record.end_s + shift, float(shifted.offset_s.max(initial=0.0)), 1.0)
        # LMs before the device's t = 0 (the PSG started earlier) keep their place in
        # the series: negative times are fine for the rules.
        psg_scoring = score_wasm2016(
            shifted, recording_s=max(recording_s, 1.0), params=params, context=context
        )
        psg_scorings[name] = psg_scoring
        comparisons[name] = _compare(device_scoring, psg_scoring, period, context, params)
        comparisons[name]["psg_leg"] = leg or "both"
    figures = {
        "device": {
            "kind": device.kind,
            "source": device.source,
            "leg": device.leg or "unknown",
            "start_utc": None if device.start_utc is None else device.start_utc.isoformat(),
            "recording_hours": round(device.recording_s / 3600.0, 4),
        },
        "psg": record.describe(),
        "psg_time_zone": str(psg_tz),
        "alignment": alignment.as_dict(),
        "period_device_s": [round(period[0], 3), round(period[1], 3)],
        "period_hours": round((period[1] - period[0]) / 3600.0, 4),
        "comparisons": comparisons,
    }
    return NightComparison(device, record, alignment, period, device_scoring, psg_scorings, figures)


def _leg(m: Movements, leg: str | None) -> Movements:
    if leg is None:
        return m
    keep = np.array([str(x) == leg for x in m.leg], dtype=bool)
    return Movements.from_arrays(m.onset_s[keep], m.offset_s[keep], m.leg[keep])


def in_period(onset: np.ndarray, period: tuple[float, float]) -> np.ndarray:
    return (onset >= period[0]) & (onset < period[1])


def _compare(
    dev: Scoring,
    psg: Scoring,
    period: tuple[float, float],
    context: ScoringContext,
    params: ScoringParams,
) -> dict[str, Any]:
    d_in = in_period(dev.lms.onset_s, period)
    p_in = in_period(psg.lms.onset_s, period)
    d_on, d_off = dev.lms.onset_s[d_in], dev.lms.offset_s[d_in]
    p_on, p_off = psg.lms.onset_s[p_in], psg.lms.offset_s[p_in]
    m = match_overlap(p_on, p_off, d_on, d_off)
    on_err = np.array([d_on[j] - p_on[i] for i, j in m.pairs])
    off_err = np.array([d_off[j] - p_off[i] for i, j in m.pairs])
    hours = (period[1] - period[0]) / 3600.0
    d_plm = int(dev.lms.plm[d_in].sum())
    p_plm = int(psg.lms.plm[p_in].sum())
    # PLMs matched to PLMs: does the device call the same movements periodic?
    d_plm_rows = dev.lms.plm[d_in]
    p_plm_rows = psg.lms.plm[p_in]
    plm_both = sum(1 for i, j in m.pairs if p_plm_rows[i] and d_plm_rows[j])
    out: dict[str, Any] = {
        "lm": {
            "psg": m.reference,
            "device": m.test,
            "matched": len(m.pairs),
            "sensitivity": _r(m.sensitivity, 4),
            "ppv": _r(m.ppv, 4),
            "f1": _r(m.f1, 4),
        },
        "plm": {
            "psg": p_plm,
            "device": d_plm,
            "matched_as_plm_on_both": plm_both,
            "sensitivity": _r(plm_both / p_plm if p_plm else None, 4),
            "ppv": _r(plm_both / d_plm if d_plm else None, 4),
        },
        "onset_error_s": _distribution(on_err),
        "offset_error_s": _distribution(off_err),
        "drift": _drift(np.array([p_on[i] for i, _ in m.pairs]), on_err),
        "plm_index": {
            "basis": "per hour of the period both recorded (time in bed)",
            "psg": round(p_plm / hours, 2) if hours > 0 else None,
            "device": round(d_plm / hours, 2) if hours > 0 else None,
        },
        "hourly": _hourly(dev, psg, period),
    }
    if context.hypnogram is not None:
        staged = score_wasm2016(
            Movements.from_arrays(dev.lms.onset_s, dev.lms.offset_s, None),
            recording_s=max(dev.summary["recording_hours"] * 3600.0, 1.0),
            params=params,
            context=ScoringContext(hypnogram=context.hypnogram),
        )
        out["plms_index"] = {
            "basis": "PLMs in sleep per hour of sleep (the PSG's hypnogram, on both)",
            "psg": psg.summary.get("plms_index"),
            "device_with_psg_stages": staged.summary.get("plms_index"),
        }
    return out


def _r(x: float | None, digits: int) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def _distribution(err: np.ndarray) -> dict[str, Any]:
    if len(err) == 0:
        return {"n": 0}
    return {
        "n": len(err),
        "median": round(float(np.median(err)), 3),
        "mean": round(float(err.mean()), 3),
        "sd": round(float(err.std(ddof=1)), 3) if len(err) > 1 else None,
        "mean_abs": round(float(np.abs(err).mean()), 3),
        "p05": round(float(np.percentile(err, 5)), 3),
        "p95": round(float(np.percentile(err, 95)), 3),
    }


def _drift(psg_onsets: np.ndarray, err: np.ndarray) -> dict[str, Any] | None:
    """Slope of the onset error over the night, in ppm, with its standard error: what
    is left of the two clocks' rate difference after the shift (tens of ppm for a
    device crystal the sync did not correct). None with fewer than 20 matches or less
    than half an hour between the first and the last."""
    if len(err) < 20 or psg_onsets.max() - psg_onsets.min() < 1800:
        return None
    coef, cov = np.polyfit(psg_onsets, err, 1, cov=True)
    return {"ppm": round(float(coef[0]) * 1e6, 1), "se_ppm": round(math.sqrt(cov[0, 0]) * 1e6, 1)}


def _hourly(dev: Scoring, psg: Scoring, period: tuple[float, float]) -> dict[str, Any]:
    """PLM index per whole hour of the period, from both (hours with enough time)."""
    starts, dev_idx, psg_idx = [], [], []
    t = period[0]
    while t < period[1]:
        end = min(t + 3600.0, period[1])
        h = (end - t) / 3600.0
        if h >= MIN_HOUR_FRACTION:
            win = (t, end)
            starts.append(round(t, 3))
            dev_idx.append(round(int(dev.lms.plm[in_period(dev.lms.onset_s, win)].sum()) / h, 2))
            psg_idx.append(round(int(psg.lms.plm[in_period(psg.lms.onset_s, win)].sum()) / h, 2))
        t += 3600.0
    out: dict[str, Any] = {"start_s": starts, "device_plm_index": dev_idx, "psg_plm_index": psg_idx}
    out["bland_altman"] = bland_altman(np.array(dev_idx), np.array(psg_idx))
    return out


# --- agreement statistics ------------------------------------------------------------


def bland_altman(device: np.ndarray, psg: np.ndarray) -> dict[str, Any]:
    """Bias (mean of device - PSG) and 95 % limits of agreement (bias +- 1.96 SD)."""
    d = np.asarray(device, dtype=float) - np.asarray(psg, dtype=float)
    if len(d) == 0:
        return {"n": 0}
    bias = float(d.mean())
    if len(d) < 2:
        return {"n": 1, "bias": round(bias, 3)}
    sd = float(d.std(ddof=1))
    return {
        "n": len(d),
        "bias": round(bias, 3),
        "sd": round(sd, 3),
        "lower_loa": round(bias - 1.96 * sd, 3),
        "upper_loa": round(bias + 1.96 * sd, 3),
    }


def icc_absolute_agreement(a: np.ndarray, b: np.ndarray) -> float | None:
    """ICC(A,1): two-way random effects, absolute agreement, single measures."""
    x = np.column_stack([np.asarray(a, dtype=float), np.asarray(b, dtype=float)])
    n, k = x.shape
    if n < 2:
        return None
    grand = x.mean()
    ss_rows = k * float(((x.mean(axis=1) - grand) ** 2).sum())
    ss_cols = n * float(((x.mean(axis=0) - grand) ** 2).sum())
    ss_total = float(((x - grand) ** 2).sum())
    ss_err = ss_total - ss_rows - ss_cols
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    denom = msr + (k - 1) * mse + k * (msc - mse) / n
    return None if denom == 0 else (msr - mse) / denom


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def across_nights(nights: list[NightComparison]) -> dict[str, Any]:
    """Agreement of the per-night PLM indices (both legs of the PSG, and the same leg
    where every night has one)."""
    out: dict[str, Any] = {"nights": len(nights)}
    for name in ("both_legs", "same_leg"):
        rows = [n.figures["comparisons"].get(name) for n in nights]
        if any(r is None for r in rows):
            continue
        dev = np.array([r["plm_index"]["device"] for r in rows], dtype=float)
        psg = np.array([r["plm_index"]["psg"] for r in rows], dtype=float)
        icc = icc_absolute_agreement(dev, psg)
        r = pearson(dev, psg)
        out[name] = {
            "device_plm_index": dev.tolist(),
            "psg_plm_index": psg.tolist(),
            "bland_altman": bland_altman(dev, psg),
            "icc_a1": None if icc is None else round(icc, 4),
            "pearson_r": None if r is None else round(r, 4),
            "lm_sensitivity_pooled": _pooled(rows, "sensitivity"),
            "lm_ppv_pooled": _pooled(rows, "ppv"),
        }
    return out


def _pooled(rows: list[dict[str, Any]], which: str) -> float | None:
    matched = sum(r["lm"]["matched"] for r in rows)
    total = sum(r["lm"]["psg" if which == "sensitivity" else "device"] for r in rows)
    return round(matched / total, 4) if total else None
