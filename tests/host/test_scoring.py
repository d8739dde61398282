"""WASM/IRLSSG 2016 scoring: the rules' edge cases, worked out by hand, and properties.

Every expected value below comes from reading the rule, not from running the code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from legsense.night import Movements
from legsense.scoring import (
    ScoringParams,
    periodicity_index,
    score_wasm2016,
)

NIGHT_S = 8 * 3600.0


def movements(rows: Sequence[tuple[float, float] | tuple[float, float, str]]) -> Movements:
    """Rows of (onset, offset[, leg])."""
    onset = np.array([r[0] for r in rows], dtype=float)
    offset = np.array([r[1] for r in rows], dtype=float)
    leg = np.array([r[2] if len(r) > 2 else "" for r in rows], dtype=object)
    return Movements.from_arrays(onset, offset, leg)


def at(onsets: Sequence[float], duration: float = 2.0) -> Movements:
    return movements([(t, t + duration) for t in onsets])


def score(m: Movements, **params):
    return score_wasm2016(m, recording_s=NIGHT_S, params=ScoringParams(**params))


# --- PLM series ----------------------------------------------------------------------


def test_four_clms_20s_apart_are_one_series():
    s = score(at([0, 20, 40, 60]))
    assert s.lms.series.tolist() == [1, 1, 1, 1]
    assert s.summary["plm_count"] == 4
    assert s.summary["plm_series_count"] == 1


def test_three_clms_are_not_a_series():
    s = score(at([0, 20, 40]))
    assert s.lms.plm.tolist() == [False] * 3
    assert s.summary["plm_count"] == 0
    assert s.summary["plm_series_count"] == 0
    assert s.summary["clm_count"] == 3


def test_imi_of_exactly_10_and_exactly_90_is_inside():
    # IMIs 10, 90, 10
    s = score(at([0, 10, 100, 110]))
    assert s.lms.imi_s[1:].tolist() == [10, 90, 10]
    assert s.summary["plm_count"] == 4


def test_imi_of_10_and_90_on_a_sample_clock_is_inside():
    # 50 Hz sample times: 1904 * 0.02 - 1404 * 0.02 is 9.999999999999996 in binary
    # floating point and the next IMI 90.00000000000001; both must still count.
    onsets = [k * 0.02 for k in (1404, 1904, 6404, 6904)]
    assert onsets[1] - onsets[0] < 10.0 and onsets[2] - onsets[1] > 90.0
    assert score(at(onsets)).summary["plm_count"] == 4


def test_imi_just_outside_the_window_breaks():
    assert score(at([0, 9.99, 29.99, 49.99])).lms.plm.tolist() == [False] * 4
    # 0 -> 90.01 is too long: 0 stays alone, the other three are too few.
    assert score(at([0, 90.01, 110.01, 130.01])).summary["plm_count"] == 0


def test_short_imi_breaks_a_series_and_the_lm_before_it_stays():
    # IMIs 20 20 20 5: the LM at 65 breaks; the four before it are a series.
    s = score(at([0, 20, 40, 60, 65]))
    assert s.lms.series.tolist() == [1, 1, 1, 1, 0]


# The intervening-LM rule. The 2016 standard says an IMI below 10 s ends a series; it
# does not say whether the LM at the end of that short IMI may start the next one.
# LMs at 0 20 40 45 65 85 105: IMIs 20 20 5 20 20 20.
INTERVENING = [0, 20, 40, 45, 65, 85, 105]


def test_short_imi_lm_starts_the_next_series_by_default():
    # "breakpoint" (MATPLM, PLMScoRe): the run 0 20 40 stops before 45 (three: no
    # series); 45's own IMI is not a period of the next run, so 45 65 85 105 are four
    # CLMs with IMIs of 20 s: one series of 4.
    s = score(at(INTERVENING))
    assert s.lms.series.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert s.summary["plm_count"] == 4


def test_short_imi_lm_excluded_cannot_start_a_series():
    # "exclude": 45 is never a PLM; 65's IMI is measured from 45 (20 s), so the run
    # after it is 65 85 105, three; 0 20 40 are three too: no series.
    s = score(at(INTERVENING), short_imi="exclude")
    assert s.summary["plm_count"] == 0


def test_short_imi_lm_skipped_lets_the_series_go_on():
    # "skip" (WASM 2006 practice): 45 leaves the chain; 65's IMI is measured from 40
    # (25 s), so 0 20 40 65 85 105 are one series of 6; 45 is a CLM but not a PLM.
    s = score(at(INTERVENING), short_imi="skip")
    assert s.lms.series.tolist() == [1, 1, 1, 0, 1, 1, 1]
    assert s.lms.imi_s[4] == 25
    assert s.summary["clm_count"] == 7 and s.summary["plm_count"] == 6


def test_lm_after_a_short_imi_lm_may_start_a_series():
    # 5 follows 0 by 5 s. Default: 5 starts the run 5 25 45 65 85 (five PLMs).
    # "exclude": 5 is out; 25's IMI from 5 is 20 s, so 25 45 65 85 are a series.
    s = score(at([0, 5, 25, 45, 65, 85]))
    assert s.lms.series.tolist() == [0, 1, 1, 1, 1, 1]
    s = score(at([0, 5, 25, 45, 65, 85]), short_imi="exclude")
    assert s.lms.imi_s[2] == 20
    assert s.lms.series.tolist() == [0, 0, 1, 1, 1, 1]


def test_long_lm_breaks_a_series():
    # The 12 s LM at 60 is not a candidate: 0-40 (three) and 80-140 (four) remain.
    rows = (
        [(t, t + 2) for t in (0, 20, 40)] + [(60, 72)] + [(t, t + 2) for t in (80, 100, 120, 140)]
    )
    s = score(movements(rows))
    assert s.lms.candidate.tolist() == [True, True, True, False, True, True, True, True]
    assert s.lms.series.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    # Default (MATPLM): non-candidates are not in the IMI chain: 80 is 40 s after 40.
    assert s.lms.imi_s[4] == 40
    assert np.isnan(s.lms.imi_s[3])
    # imi_from="lm" (PLMScoRe): every LM is in the chain: 80 is 20 s after the long LM.
    s = score(movements(rows), imi_from="lm")
    assert s.lms.imi_s[4] == 20 and s.lms.imi_s[3] == 20
    assert s.lms.series.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]


def test_candidate_within_10s_of_a_non_candidate():
    # A chain of five alternating-leg LMs at 60-64.2 s is one bilateral LM of 5: not a
    # candidate (more than 4). The left LM at 66 is 1.8 s after it (no pairing) and 6 s
    # after its onset; 40 is the candidate before it (26 s).
    chain = [(60, 61, "left"), (60.8, 61.8, "right"), (61.6, 62.6, "left")]
    chain += [(62.4, 63.4, "right"), (63.2, 64.2, "left")]
    rows = [(t, t + 2, "left") for t in (0, 20, 40)] + chain
    rows += [(t, t + 2, "left") for t in (66, 86, 106, 126)]
    s = score(movements(rows))
    assert s.lms.candidate.tolist() == [True, True, True, False, True, True, True, True]
    # Default: the non-candidate breaks the run; 66 (IMI 26 s from 40) starts the next.
    assert s.lms.series.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert s.lms.imi_s[4] == 26
    # imi_from="lm": 66's IMI is 6 s (from the bilateral LM). The default breakpoint
    # reading lets it start the run all the same ...
    s = score(movements(rows), imi_from="lm")
    assert s.lms.imi_s[4] == 6
    assert s.lms.series.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    # ... "exclude" does not: 86 106 126 are three.
    assert score(movements(rows), imi_from="lm", short_imi="exclude").summary["plm_count"] == 0
    # With the candidate chain, 66 is 26 s after 40: not short, so "exclude" keeps it.
    assert score(movements(rows), short_imi="exclude").summary["plm_count"] == 4


def test_lm_of_exactly_10s_is_a_candidate():
    rows = [(t, t + 10) for t in (0, 20, 40, 60)]
    assert score(movements(rows)).summary["plm_count"] == 4


def test_gap_over_90s_splits_two_series():
    s = score(at([0, 20, 40, 60, 160, 180, 200, 220]))
    assert s.lms.series.tolist() == [1, 1, 1, 1, 2, 2, 2, 2]
    assert s.summary["plm_series_count"] == 2
    # IMIs inside series only: six of 20 s; the 100 s gap is not a PLM IMI.
    assert s.summary["median_plm_imi_s"] == 20


def test_older_5s_criterion():
    onsets = [0, 7, 14, 21]
    assert score(at(onsets)).summary["plm_count"] == 0
    assert score(at(onsets), min_imi_s=5).summary["plm_count"] == 4


def test_min_series_parameter():
    assert score(at([0, 20, 40]), min_series=3).summary["plm_count"] == 3


# --- what is an LM -------------------------------------------------------------------


def test_movements_under_half_a_second_are_not_lms_and_not_in_imis():
    # A 0.3 s twitch at 25 would make IMIs 5 and 15 and break the series.
    m = movements([(0, 2), (20, 22), (25, 25.3), (40, 42), (60, 62)])
    s = score(m)
    assert s.summary["movement_count"] == 5
    assert s.summary["lm_count"] == 4
    assert s.lms.imi_s[1:].tolist() == [20, 20, 20]
    assert s.movement_lm.tolist() == [0, 1, -1, 2, 3]
    assert s.summary["plm_count"] == 4


def test_lm_of_exactly_half_a_second_counts():
    assert score(movements([(3, 3.5)])).summary["lm_count"] == 1


def test_same_leg_twitches_merge_before_the_duration_filter():
    # 0.3 s + 0.2 s gap + 0.3 s = one 0.8 s LM.
    s = score(movements([(10, 10.3, "left"), (10.5, 10.8, "left")]))
    assert len(s.lms) == 1
    assert s.lms.onset_s[0] == 10
    assert s.lms.duration_s[0] == pytest.approx(0.8)
    assert s.lms.candidate[0]
    assert s.movement_lm.tolist() == [0, 0]


def test_twitches_exactly_half_a_second_apart_do_not_merge():
    s = score(movements([(10, 10.3), (10.8, 11.1)]))
    assert s.summary["lm_count"] == 0
    assert s.movement_lm.tolist() == [-1, -1]


def test_twitches_on_different_legs_do_not_merge():
    # Not the same leg, and sub-0.5 s movements are not LMs, so nothing to pair.
    s = score(movements([(10, 10.3, "left"), (10.5, 10.8, "right"), (50, 52, "left")]))
    assert s.summary["lm_count"] == 1


# --- bilateral LMs -------------------------------------------------------------------


def test_overlapping_legs_make_one_bilateral_lm():
    s = score(movements([(0, 2, "left"), (1, 3, "right")]))
    assert len(s.lms) == 1
    assert s.lms.leg[0] == "bilateral"
    assert (s.lms.onset_s[0], s.lms.offset_s[0]) == (0, 3)
    assert s.lms.n_mono[0] == 2
    assert s.lms.candidate[0]
    assert s.summary["bilateral_lm_count"] == 1
    assert s.movement_lm.tolist() == [0, 0]


def test_legs_less_than_half_a_second_apart_pair():
    s = score(movements([(0, 2, "left"), (2.4, 4, "right")]))
    assert len(s.lms) == 1
    assert s.lms.offset_s[0] == 4


def test_legs_exactly_half_a_second_apart_stay_apart():
    s = score(movements([(0, 2, "left"), (2.5, 4, "right")]))
    assert s.lms.leg.tolist() == ["left", "right"]
    assert s.lms.imi_s[1] == 2.5


def test_bilateral_chain_of_five_is_not_a_candidate_four_is():
    chain = [(0, 1, "left"), (0.8, 2, "right"), (1.8, 3, "left"), (2.8, 4, "right")]
    four = score(movements(chain))
    assert four.lms.n_mono.tolist() == [4]
    assert four.lms.candidate.tolist() == [True]
    five = score(movements([*chain, (3.8, 5, "left")]))
    assert five.lms.n_mono.tolist() == [5]
    assert five.lms.candidate.tolist() == [False]


def test_bilateral_over_15s_is_not_a_candidate_15_is():
    assert score(movements([(0, 9, "left"), (8, 16, "right")])).lms.candidate.tolist() == [False]
    assert score(movements([(0, 9, "left"), (8, 15, "right")])).lms.candidate.tolist() == [True]


def test_bilateral_with_a_monolateral_lm_over_10s_is_not_a_candidate():
    s = score(movements([(0, 10.5, "left"), (1, 2, "right")]))
    assert s.lms.duration_s.tolist() == [10.5]
    assert s.lms.candidate.tolist() == [False]


def test_bilateral_lms_form_a_series_from_their_earliest_onset():
    rows = []
    for t in (0, 20, 40, 60):
        rows += [(t + 1, t + 3, "left"), (t, t + 2, "right")]
    s = score(movements(rows))
    assert s.lms.onset_s.tolist() == [0, 20, 40, 60]
    assert s.summary["plm_count"] == 4


def test_unknown_leg_never_pairs():
    s = score(movements([(0, 2, "left"), (1, 3, ""), (1.5, 3.5, "right")]))
    # left and right pair around the unknown-leg LM, which stays on its own.
    assert sorted(s.lms.leg.tolist()) == ["", "bilateral"]


def test_no_bilateral_mode_with_one_leg_only():
    s = score(movements([(0, 2, "left"), (1, 3, "")]))
    assert s.lms.leg.tolist() == ["left", ""]


# --- indices -------------------------------------------------------------------------


def test_periodicity_index_by_hand():
    # LMs 0 20 40 60 65 85 105 300, all candidates; IMIs 20 20 20 5 20 20 195.
    # Default, MATPLM's PI (PLMs / CLMs): 0-60 is a series of 4; 65 starts a run
    # 65 85 105 of three (300 is 195 s later): 4 PLMs of 8 CLMs = 0.5.
    onsets = [0, 20, 40, 60, 65, 85, 105, 300]
    assert score(at(onsets)).summary["periodicity_index"] == 0.5
    # Ferri 2006: one run of three IMIs inside the window out of 7 IMIs.
    assert score(at(onsets), periodicity="ferri").summary["periodicity_index"] == round(3 / 7, 4)
    assert periodicity_index(np.array([np.nan, 20, 20, 20, 5, 20, 20, 195]), 10, 90) == 3 / 7


def test_periodicity_index_is_none_without_candidates_or_imis():
    assert score(at([100])).summary["periodicity_index"] == 0  # one CLM, no PLM
    assert score(at([])).summary["periodicity_index"] is None  # no CLM: 0/0
    assert score(at([100]), periodicity="ferri").summary["periodicity_index"] is None
    assert score(movements([(0, 12)])).summary["periodicity_index"] is None  # no CLM


def test_indices_are_per_analysed_hour_and_say_so():
    s = score_wasm2016(at([0, 20, 40, 60, 3000]), recording_s=4 * 3600, analysed_s=2 * 3600)
    assert s.summary["plm_index"] == 2.0  # 4 PLMs / 2 h
    assert s.summary["lm_index"] == 2.5
    assert s.summary["recording_hours"] == 4
    assert s.summary["analysed_hours"] == 2
    assert "analysed" in s.summary["index_basis"]


def test_hourly_uses_data_spans():
    # Data in hour 0 only for its second half; hour 1 full; hour 2 none.
    s = score_wasm2016(
        at([1800, 1820, 1840, 1860, 4000]),
        recording_s=3 * 3600,
        data_spans_s=[(1800, 7200)],
    )
    hourly = s.summary["hourly"]
    assert hourly["start_h"] == [0, 1, 2]
    assert hourly["hours"] == [0.5, 1.0, 0.0]
    assert hourly["plm_index"] == [8.0, 0.0, None]
    assert hourly["lm_index"] == [8.0, 1.0, None]
    assert s.summary["analysed_hours"] == 1.5


def test_imi_histogram_bins():
    # IMIs 0.5, 20, 20, 2000: one in the 0-1 s bin, two in the bin holding 20 s
    # (log edges 10**1.3 = 19.95 .. 10**1.4 = 25.1), one above 1000 s.
    # The first two are on different legs (no merging; one leg only, so no pairing).
    s = score(movements([(0, 0.5, ""), *((t, t + 0.5, "left") for t in (0.5, 20.5, 40.5, 2040.5))]))
    hist = s.summary["imi_histogram"]
    assert hist["edges_s"][:2] == [0, 1] and hist["edges_s"][-1] == 1000
    assert len(hist["counts"]) == len(hist["edges_s"]) - 1 == 31
    assert hist["counts"][0] == 1
    assert hist["counts"][1 + 13] == 2
    assert sum(hist["counts"]) == 3
    assert hist["above_range"] == 1


def test_summary_is_plain_json_with_the_agreed_keys():
    s = score(movements([(0, 2, "left"), (1, 3, "right"), (20, 22, "left")]))
    text = json.dumps(s.summary, allow_nan=False)
    back = json.loads(text)
    for key in [
        "rules",
        "recording_hours",
        "analysed_hours",
        "movement_count",
        "lm_count",
        "clm_count",
        "plm_count",
        "plm_series_count",
        "bilateral_lm_count",
        "lm_index",
        "clm_index",
        "plm_index",
        "periodicity_index",
        "mean_lm_duration_s",
        "mean_plm_duration_s",
        "median_plm_imi_s",
        "hourly",
        "imi_histogram",
        "params",
        "index_basis",
    ]:
        assert key in back
    assert back["rules"] == "WASM/IRLSSG 2016"
    assert back["params"]["min_imi_s"] == 10
    assert back["mean_lm_duration_s"] == 2.5  # (3 + 2) / 2


# --- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_imi_s": 0},
        {"min_imi_s": 100},
        {"max_lm_s": 0.2},
        {"merge_gap_s": -1},
        {"min_series": 0},
        {"max_bilateral_lms": 1},
        {"min_lm_s": math.nan},
        {"min_series": 2.5},
    ],
)
def test_bad_params_are_refused(kwargs):
    with pytest.raises(ValueError):
        ScoringParams(**kwargs)


def test_bad_movements_are_refused():
    with pytest.raises(ValueError, match="before onset"):
        score(movements([(5, 4)]))
    with pytest.raises(ValueError, match="leg"):
        score(movements([(5, 6, "middle")]))
    with pytest.raises(ValueError, match="recording_s"):
        score_wasm2016(at([1]), recording_s=0)


# --- properties ----------------------------------------------------------------------

LEGS = st.sampled_from(["", "left", "right"])
ROW = st.tuples(
    st.integers(0, 40_000).map(lambda t: t * 0.05),  # onset on a 20 Hz clock, <= 2000 s
    st.integers(1, 300).map(lambda d: d * 0.05),  # duration 0.05-15 s
    LEGS,
)
NIGHTS = st.lists(ROW, max_size=60).map(lambda rows: [(t, t + d, leg) for t, d, leg in rows])


def reference_plm(onset, candidate, params):
    """Independent statement of the series rule, one reading at a time.

    The chain: the candidates (imi_from "candidate") or every LM ("lm"); an LM's IMI
    is onset minus the onset of the chain member before it, leaving out the LMs the
    "skip" reading drops (a candidate whose IMI so measured is short). An LM is a PLM
    when some window a..b of >= min_series consecutive chain members holds it, all of
    them candidates and eligible (not short under "exclude"), no non-candidate LM
    between a and b, every member after a with an IMI inside [min, max] and, under
    "exclude", a itself not short.
    """
    n = len(onset)
    tol = 1e-6
    lo, hi = params.min_imi_s - tol, params.max_imi_s + tol
    chain, imi = [], {}
    prev = None
    for i in range(n):
        if params.imi_from == "candidate" and not candidate[i]:
            continue
        gap = math.nan if prev is None else onset[i] - onset[prev]
        imi[i] = gap
        if candidate[i] and params.short_imi == "skip" and gap < lo:
            continue  # dropped: not a chain member
        chain.append(i)
        prev = i
    eligible = {
        i: candidate[i] and not (params.short_imi == "exclude" and imi[i] < lo) for i in chain
    }
    plm = [False] * n
    for ka in range(len(chain)):
        a = chain[ka]
        if not eligible[a]:
            continue
        kb = ka
        while kb + 1 < len(chain):
            nxt = chain[kb + 1]
            between = range(chain[kb] + 1, nxt)
            if not eligible[nxt] or not (lo <= imi[nxt] <= hi):
                break
            if any(not candidate[j] for j in between):
                break
            kb += 1
        if kb - ka + 1 >= params.min_series:
            for k in range(ka, kb + 1):
                plm[chain[k]] = True
    return plm


@settings(max_examples=150, deadline=None)
@given(NIGHTS, st.randoms(use_true_random=False))
def test_shuffled_rows_give_the_same_result(rows, rnd):
    a = score(movements(rows))
    order = list(range(len(rows)))
    rnd.shuffle(order)
    b = score(movements([rows[i] for i in order]))
    for name in ("onset_s", "offset_s", "leg", "n_mono", "candidate", "plm", "series"):
        assert getattr(a.lms, name).tolist() == getattr(b.lms, name).tolist(), name
    assert np.array_equal(a.lms.imi_s, b.lms.imi_s, equal_nan=True)
    assert b.movement_lm.tolist() == [a.movement_lm[i] for i in order]
    assert a.summary == b.summary


@settings(max_examples=150, deadline=None)
@given(NIGHTS)
def test_counts_are_nested_and_series_well_formed(rows):
    s = score(movements(rows))
    assert s.summary["plm_count"] <= s.summary["clm_count"] <= s.summary["lm_count"]
    assert s.summary["lm_count"] <= s.summary["movement_count"]
    series = s.lms.series.tolist()
    numbers = [x for x in series if x]
    assert sorted(set(numbers)) == list(range(1, s.summary["plm_series_count"] + 1))
    assert numbers == sorted(numbers)  # numbered in time order
    for k in set(numbers):
        rows_k = [i for i, x in enumerate(series) if x == k]
        assert len(rows_k) >= 4
        assert rows_k == list(range(rows_k[0], rows_k[-1] + 1))  # consecutive LMs
    assert all(s.lms.candidate[s.lms.plm])
    assert np.all(np.diff(s.lms.onset_s) >= 0)
    # every LM row is the image of at least one movement
    assert set(s.movement_lm.tolist()) - {-1} == set(range(len(s.lms)))


RULES = st.fixed_dictionaries(
    {
        "short_imi": st.sampled_from(["breakpoint", "exclude", "skip"]),
        "imi_from": st.sampled_from(["candidate", "lm"]),
    }
)


@settings(max_examples=300, deadline=None)
@given(NIGHTS, RULES)
def test_series_match_the_reference_statement(rows, rules):
    s = score(movements(rows), **rules)
    expected = reference_plm(s.lms.onset_s.tolist(), s.lms.candidate.tolist(), s.params)
    assert s.lms.plm.tolist() == expected


@settings(max_examples=100, deadline=None)
@given(NIGHTS, st.floats(1, 60), st.floats(0, 30))
def test_raising_min_imi_never_adds_plms(rows, low, extra):
    m = movements(rows)
    high = min(low + extra, 90)
    low_plm = score(m, min_imi_s=low).lms.plm
    high_plm = score(m, min_imi_s=high).lms.plm
    assert high_plm.sum() <= low_plm.sum()
    assert not np.any(high_plm & ~low_plm)  # and no LM becomes a PLM
