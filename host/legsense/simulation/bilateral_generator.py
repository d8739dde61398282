"""A synthetic night of both legs: two ankle traces (left, right) and labels with the leg.

The person's night is laid out as for one leg (night_generator: PLM series, isolated
LMs, wake periods, long movements, turns, twitches), then each movement is given to the
legs the way the literature describes bilateral activity. Ferri et al., "A data-driven
analysis of the rules defining bilateral leg movements during sleep", Sleep 39(2):413-421
(2016), PSG of 100 untreated RLS patients: of the LMs at least 10 s away from another LM
of the same leg, 42 % had no contralateral activity within 5 s, 55 % exactly one
contralateral LM and 3 % more than one; of the single contralateral LMs, 93 % overlapped
the reference LM and 96 % made a bilateral LM by the WASM/IRLSSG 2016 rule. So here:

* a movement is bilateral with probability P_BILATERAL (58 %), else on one leg, either
  leg equally (twitches are always one leg's; turns always both legs');
* most bilateral movements overlap: one leg leads, the other starts |lag| later, with
  |lag| log-normal (median ONSET_LAG_MEDIAN_S, clipped to a share of the movement); the
  paper's abstract gives the proportions above but not the lag distribution, so its
  shape is ours. A few (P_SEQUENTIAL) follow each other with a gap of 0.05-0.2 s (still
  bilateral), and a few (P_SPLIT) have two LMs on the following leg;
* which leg leads is random, so neither leg leads on average.

Every movement of a leg stays inside the extent the one-leg layout gave it, which is at
least 0.8 s from any other movement: a unilateral movement is never within 0.5 s of the
other leg's, and the pairs of a bilateral movement are well inside the 0.5 s rule. No
duration sits at a limit of the rules either (LMs last at least MIN_LEG_S, twitches at
most MAX_TWITCH_S, nothing within LIMIT_MARGIN_S of 10 s for a leg or 15 s for a
bilateral movement). The labels are thus unambiguous for the scoring, with a margin for
clocks that are off by a few hundred ms, which is what the alignment benchmark measures.

Each leg has its own sensor: its own mounting on the ankle, sample times (jitter, drops,
gaps), noise and offsets. Both legs share the posture: a turn in bed turns both.
Random streams of their own, so `simulate_night` of a seed is unchanged.
"""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime

import numpy as np

from legsense.simulation import night_generator as ng
from legsense.trace import Labels, Trace

BILATERAL_STREAM = 0xB11A
LEGS = ("left", "right")
P_BILATERAL = 0.58  # 55 % one contralateral LM + 3 % more (Ferri et al. 2016)
P_SPLIT = 0.05  # of bilateral movements: two LMs on the following leg (3 % of 58 %)
P_SEQUENTIAL = 0.07  # of bilateral movements: not overlapping, 0.05-0.2 s apart
ONSET_LAG_MEDIAN_S = 0.3  # |onset lag| between the legs of an overlapping pair
ONSET_LAG_SIGMA = 0.8  # log-normal spread of |lag|
MAX_LAG_SHARE = 0.45  # |lag| at most this share of the movement (so they overlap)
MIN_LEG_S = 0.7  # each leg's part of a bilateral LM lasts at least this (LM: 0.5 s)
SPLIT_GAP_S = (0.8, 1.2)  # between the two LMs of the following leg (> 0.5 s: two LMs)
TURN_LAG_S = 0.3  # both legs turn within this of each other
MAX_TWITCH_S = 0.35  # twitches stay well under the 0.5 s of an LM
LIMIT_MARGIN_S = 0.5  # durations kept this far from the rules' 10 s and 15 s


def simulate_bilateral_night(
    seed: int,
    hours: float,
    rate_hz: float,
    imu: str = "lsm6dsox",
    gyro: bool = True,
    profile: str = "plmd",
    start_utc: datetime | None = None,
) -> tuple[Trace, Trace, Labels]:
    """Generate one night of both legs: the left and right traces and the labels.

    The labels have one row per movement of a leg, in time order, with `leg` (left,
    right), `kind`, `series` (the generated PLM series, -1 outside one) and `event`
    (the number of the person's movement it belongs to: the two legs' parts of a
    bilateral movement share it). Deterministic for a seed; ValueError for an unknown
    IMU or profile, or a length or rate out of range.
    """
    ng.check_options(profile, hours, rate_hz, imu)
    rng = np.random.default_rng([seed, BILATERAL_STREAM])
    total_s = hours * 3600.0
    union = ng._schedule(rng, total_s, ng.PROFILES[profile])
    up_rest = ng._postures(rng, union)  # shared: a turn in bed turns both legs
    per_leg: dict[str, list[tuple[int, ng._Move]]] = {leg: [] for leg in LEGS}
    for event, move in enumerate(union):
        _clear_of_limits_union(move)
        parts = _share(rng, move)
        _clear_of_limits(parts)
        for leg, part in parts:
            per_leg[leg].append((event, part))
    start = ng.DEFAULT_START_UTC if start_utc is None else start_utc
    traces = []
    for k, leg in enumerate(LEGS):
        leg_rng = np.random.default_rng([seed, BILATERAL_STREAM, k + 1])
        moves = [m for _, m in per_leg[leg]]
        for m in moves:
            ng._limit_rate(m)
        mount = ng._random_rotation(leg_rng)
        t = ng._timestamps(leg_rng, total_s, rate_hz)
        acc, gyr = ng.measured(leg_rng, t, moves, up_rest, mount, rate_hz, imu, gyro)
        meta = _meta(seed, rate_hz, imu, profile, start, leg)
        traces.append(Trace(t_s=t, acc_g=acc, gyr_dps=gyr, meta=meta))
    return traces[0], traces[1], _labels(per_leg)


def _meta(seed: int, rate_hz: float, imu: str, profile: str, start: datetime, leg: str):
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return {
        "sample_rate_hz": f"{rate_hz:g}",
        "start_utc": start.astimezone(UTC).isoformat(),
        "imu": imu,
        "leg": leg,
        "generator": "legsense simulate-night --bilateral",
        "seed": str(seed),
        "profile": profile,
    }


def _labels(per_leg: dict[str, list[tuple[int, ng._Move]]]) -> Labels:
    rows = [(m.onset, m.offset, leg, m.kind, m.series, e) for leg in LEGS for e, m in per_leg[leg]]
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return Labels(
        onset_s=np.round([r[0] for r in rows], 6),
        offset_s=np.round([r[1] for r in rows], 6),
        extra={
            "leg": np.asarray([r[2] for r in rows], dtype=str),
            "kind": np.asarray([r[3] for r in rows], dtype=str),
            "series": np.asarray([r[4] for r in rows], dtype=np.int64),
            "event": np.asarray([r[5] for r in rows], dtype=np.int64),
        },
    )


def leg_labels(labels: Labels, leg: str) -> Labels:
    """The rows of one leg (what that leg's trace shows)."""
    keep = np.asarray(labels.extra["leg"]) == leg
    return Labels(
        onset_s=labels.onset_s[keep],
        offset_s=labels.offset_s[keep],
        extra={k: np.asarray(v)[keep] for k, v in labels.extra.items()},
    )


# ---------------------------------------------------------------- one movement, two legs


def _clear_of_limits_union(m: ng._Move) -> None:
    """Twitches well under 0.5 s, movements well over it (the layout left at least 1 s
    after each, so 0.2 s longer keeps 0.8 s)."""
    if m.kind == "twitch":
        m.duration = min(m.duration, MAX_TWITCH_S)
    elif m.duration < MIN_LEG_S:
        m.duration = MIN_LEG_S


def _clear_of_limits(parts: list[tuple[str, ng._Move]]) -> None:
    """No leg's part within LIMIT_MARGIN_S of 10 s, no bilateral span of 15 s: shortened
    from their end (they stay inside the movement's extent)."""
    limit, margin = 10.0, LIMIT_MARGIN_S
    for _, p in parts:
        if limit - margin < p.duration < limit + margin:
            p.duration = limit - margin
    if len(parts) > 1:
        first = min(p.onset for _, p in parts)
        span = max(p.offset for _, p in parts) - first
        if 15.0 - margin < span < 15.0 + margin:
            for _, p in parts:
                if p.offset > first + 15.0 - margin:
                    p.duration = max(MIN_LEG_S, first + 15.0 - margin - p.onset)
        for _, p in parts:
            if limit - margin < p.duration < limit + margin:
                p.duration = limit - margin


def _share(rng: np.random.Generator, m: ng._Move) -> list[tuple[str, ng._Move]]:
    """The parts of the person's movement m on each leg, inside m's extent."""
    lead, follow = LEGS if rng.random() < 0.5 else LEGS[::-1]
    if m.kind == "twitch":
        return [(lead, m)]
    if m.kind == "turn":  # both legs, always: the posture they share turns
        lag = rng.uniform(0.0, TURN_LAG_S)
        return [(lead, m), (follow, _part(rng, m, m.onset + lag, m.duration - lag))]
    if rng.random() >= P_BILATERAL:
        return [(lead, m)]
    u = rng.random()
    if u < P_SEQUENTIAL:
        return _sequential(rng, m, lead, follow)
    lag = float(
        np.clip(
            ONSET_LAG_MEDIAN_S * math.exp(ONSET_LAG_SIGMA * rng.standard_normal()),
            0.02,
            MAX_LAG_SHARE * m.duration,
        )
    )
    if u < P_SEQUENTIAL + P_SPLIT:
        return _split(rng, m, lead, follow, lag)
    return _pair(rng, m, lead, follow, lag)


def _part(rng: np.random.Generator, like: ng._Move, onset: float, duration: float) -> ng._Move:
    """The other leg's movement: its own axes and shape, an amplitude like `like`'s."""
    amp = math.degrees(abs(like.a1)) * math.exp(0.3 * rng.standard_normal())
    other = ng._lm(rng, onset, like.kind, float(np.clip(amp, 2.5, 45.0)))
    other.onset, other.duration, other.series = onset, duration, like.series
    if like.kind in ("long", "turn"):  # their own shape: a wobbling excursion
        other.rise, other.fall, other.creep = like.rise, like.fall, like.creep
        other.wobble, other.freq = like.wobble, like.freq
        other.phase1, other.phase2 = rng.uniform(0.0, 2 * math.pi, 2)
    other.turn_axis, other.turn_angle = like.turn_axis, like.turn_angle
    return other


def _pair(
    rng: np.random.Generator, m: ng._Move, lead: str, follow: str, lag: float
) -> list[tuple[str, ng._Move]]:
    """Overlapping: the leader from m's onset, the follower lag later; one of them ends
    with m, the other up to a quarter of m earlier."""
    trim = rng.uniform(0.0, 0.25) * m.duration
    lead_end, follow_end = (
        (m.offset - trim, m.offset)
        if rng.random() < 0.5
        else (
            m.offset,
            m.offset - trim,
        )
    )
    lead_d = lead_end - m.onset
    follow_d = follow_end - (m.onset + lag)
    if min(lead_d, follow_d) < MIN_LEG_S or follow_end <= m.onset + lag:
        return [(lead, m)]  # too short to split between legs: one leg's
    first = copy.copy(m)
    first.duration = lead_d
    return [(lead, first), (follow, _part(rng, m, m.onset + lag, follow_d))]


def _sequential(
    rng: np.random.Generator, m: ng._Move, lead: str, follow: str
) -> list[tuple[str, ng._Move]]:
    """One leg, then the other 0.05-0.2 s after it ended (bilateral by the 0.5 s rule)."""
    gap = rng.uniform(0.05, 0.2)
    first_d = (m.duration - gap) * rng.uniform(0.4, 0.6)
    second_d = m.duration - gap - first_d
    if min(first_d, second_d) < MIN_LEG_S:
        return [(lead, m)]
    first = copy.copy(m)
    first.duration = first_d
    return [(lead, first), (follow, _part(rng, m, m.onset + first_d + gap, second_d))]


def _split(
    rng: np.random.Generator, m: ng._Move, lead: str, follow: str, lag: float
) -> list[tuple[str, ng._Move]]:
    """The leader all along m, two LMs of the follower within it, SPLIT_GAP_S apart."""
    gap = rng.uniform(*SPLIT_GAP_S)
    room = m.offset - (m.onset + lag) - gap
    first_d = room * rng.uniform(0.4, 0.6)
    second_d = room - first_d
    if min(first_d, second_d) < MIN_LEG_S:
        return _pair(rng, m, lead, follow, lag)
    a = _part(rng, m, m.onset + lag, first_d)
    b = _part(rng, m, m.onset + lag + first_d + gap, second_d)
    return [(lead, m), (follow, a), (follow, b)]
