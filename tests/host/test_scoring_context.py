"""Scoring with a PSG context: sleep stages, respiratory events, arousals.

Each expected figure is worked out by hand from the rule's text (WASM/IRLSSG 2016,
Ferri et al. 2016; the respiratory window of Manconi et al. 2015; the AASM window) and
the reading of the reference scorers where the standard leaves a choice; the reasoning
is written beside it. The properties at the end tie the staged figures to the
unstaged ones.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from legsense.night import Movements
from legsense.psg.context import Hypnogram, Intervals, ScoringContext
from legsense.scoring import RESP_WINDOWS, ScoringParams, score_wasm2016


def lms_at(onsets, duration=2.0, leg=""):
    on = np.asarray(onsets, dtype=float)
    return Movements.from_arrays(on, on + duration, np.full(len(on), leg, dtype=object))


def rows(table, name):
    """One row of the stage table as {column: value}."""
    return dict(zip(table["columns"], table[name], strict=True))


def score(m, context=None, recording_s=3600.0, **params):
    return score_wasm2016(
        m, recording_s=recording_s, params=ScoringParams(**params), context=context
    )


# --- respiratory events ----------------------------------------------------------------

EVENT = Intervals.from_rows([(100.0, 20.0)], "APNEA-OBSTRUCTIVE")  # 100-120 s, ends at 120


@pytest.mark.parametrize(
    ("lm", "related"),
    [
        # WASM 2016 window: 2.0 s before to 10.25 s after the end: [118, 130.25].
        ((129.0, 131.0), True),  # starts inside
        ((130.25, 131.0), True),  # starts on the window's last instant (closed)
        ((130.3, 132.0), False),  # starts after it
        ((116.0, 117.9), False),  # ends before it
        ((117.0, 118.0), True),  # ends on its first instant
        ((110.0, 112.0), False),  # during the event, but well before its end
        ((105.0, 140.0), True),  # spans the whole window
    ],
)
def test_wasm2016_window_around_the_end_of_the_event(lm, related):
    m = Movements.from_arrays(np.array([lm[0]]), np.array([lm[1]]))
    s = score(m, ScoringContext(respiratory=EVENT))
    assert s.lms.respiratory.tolist() == [related]


@pytest.mark.parametrize(
    ("lm", "related"),
    [
        # AASM: from 0.5 s before the event to 0.5 s after it: [99.5, 120.5].
        ((110.0, 112.0), True),  # during the event
        ((98.0, 99.5), True),  # ends on the window's start
        ((120.5, 122.0), True),  # starts on its end
        ((120.6, 122.0), False),
        ((125.0, 127.0), False),  # inside the 2016 window, outside AASM's
    ],
)
def test_aasm_window_spans_the_event(lm, related):
    anchor, before, after = RESP_WINDOWS["aasm"]
    m = Movements.from_arrays(np.array([lm[0]]), np.array([lm[1]]))
    s = score(
        m,
        ScoringContext(respiratory=EVENT),
        resp_anchor=anchor,
        resp_before_s=before,
        resp_after_s=after,
    )
    assert s.lms.respiratory.tolist() == [related]


# Seven 2-s LMs 20 s apart; an apnea ending at 59 s makes the window [57, 69.25], which
# holds the LM at 60 (and only it).
SEVEN = lms_at([0, 20, 40, 60, 80, 100, 120])
APNEA_59 = ScoringContext(respiratory=Intervals.from_rows([(40.0, 19.0)], "APNEA"))


def test_respiratory_lm_excluded_breaks_the_series():
    # "exclude" (default): the LM at 60 is not a candidate and breaks the run: 0 20 40
    # and 80 100 120 are three each. 6 CLMs, no PLM.
    s = score(SEVEN, APNEA_59)
    assert s.lms.respiratory.tolist() == [False, False, False, True, False, False, False]
    assert s.summary["clm_count"] == 6 and s.summary["plm_count"] == 0
    assert s.summary["respiratory"]["related_lm_count"] == 1
    assert s.summary["respiratory"]["related_clm_count"] == 1


def test_respiratory_lm_removed_is_the_nr_figure():
    # "remove": as if 60 never happened: 0 20 40 80 100 120 with IMIs 20 20 40 20 20,
    # one series of 6. The summary always carries these "nr" figures.
    s = score(SEVEN, APNEA_59)
    tib = {k: rows(s.summary["stage_table"], k)["TIB"] for k in s.summary["stage_table"]}
    assert tib["clm_nr_count"] == 6 and tib["plm_nr_count"] == 6
    assert tib["plm_count"] == 0  # the main figures follow "exclude"
    assert tib["plm_nr_index"] == 6.0  # per hour of the 1 h recording
    assert tib["respiratory_clm_count"] == 1
    r = score(SEVEN, APNEA_59, respiratory="remove")
    assert r.summary["plm_count"] == 6 and r.summary["clm_count"] == 6
    assert r.lms.series.tolist() == [1, 1, 1, 0, 1, 1, 1]
    assert r.lms.imi_s[4] == 40  # 80 measured from 40: 60 is not there


def test_respiratory_lm_kept_is_an_ordinary_lm():
    # "keep": one series of 7.
    s = score(SEVEN, APNEA_59, respiratory="keep")
    assert s.summary["plm_count"] == 7 and s.summary["clm_count"] == 7


def test_no_respiratory_channel_means_no_nr_rows():
    s = score(SEVEN)
    assert "plm_nr_count" not in s.summary["stage_table"]
    assert "respiratory" not in s.summary
    assert s.summary["plm_count"] == 7


def test_respiratory_related_non_candidate_is_counted_once():
    # A 12 s LM at 60 is not a candidate for its length; respiratory-related too.
    m = Movements.from_arrays(np.array([0.0, 60.0]), np.array([2.0, 72.0]))
    s = score(m, APNEA_59)
    assert s.summary["respiratory"]["related_lm_count"] == 1
    assert s.summary["respiratory"]["related_clm_count"] == 0


# --- arousals --------------------------------------------------------------------------

LM_200 = Movements.from_arrays(np.array([200.0]), np.array([202.0]))


@pytest.mark.parametrize(
    ("arousal", "overlap", "arousal_end"),
    [
        # Overlap or less than 0.5 s apart, either side (the standard's wording);
        # MATPLM instead tests the LM against +-0.5 s around the arousal's end.
        ((202.4, 210.0), True, False),  # starts 0.4 s after the LM ends
        ((202.5, 210.0), False, False),  # exactly 0.5 s: not "less than"
        ((190.0, 199.6), True, True),  # ends 0.4 s before: inside either window
        ((190.0, 199.5), False, True),  # ends 0.5 s before: the end window touches
        ((195.0, 205.0), True, False),  # spans the LM; its end is 3 s after the LM
        ((195.0, 201.0), True, True),  # ends during the LM
    ],
)
def test_arousal_association(arousal, overlap, arousal_end):
    ctx = ScoringContext(arousals=Intervals.from_rows([(arousal[0], arousal[1] - arousal[0])]))
    assert score(LM_200, ctx).lms.arousal.tolist() == [overlap]
    assert score(LM_200, ctx, arousal_rule="arousal_end").lms.arousal.tolist() == [arousal_end]


def test_plm_with_arousal_index():
    # Series 0 20 40 60; arousals touching the LMs at 20 and 60 (within 0.3 s).
    ctx = ScoringContext(arousals=Intervals.from_rows([(22.3, 5.0), (55.0, 4.7)]))
    s = score(lms_at([0, 20, 40, 60]), ctx)
    assert s.lms.arousal.tolist() == [False, True, False, True]
    assert rows(s.summary["stage_table"], "plm_arousal_index")["TIB"] == 2.0


# --- sleep stages ----------------------------------------------------------------------

# 20 epochs of 30 s from 0: W W | N2 x8 (60-300) | R x4 (300-420) | W W (420-480) |
# N3 x4 (480-600).
HYPNO = Hypnogram.from_epochs(0.0, ["W"] * 2 + ["N2"] * 8 + ["R"] * 4 + ["W"] * 2 + ["N3"] * 4)
# LMs (2 s): 10 (W); 70 90 110 130 (N2); 310 330 350 370 (R); 430 (W); 550 (N3).
# IMIs: 60 20 20 20 | 180 | 20 20 20 60 | 120. Series: 10-130 (5 PLMs: one in W, four
# in N2) and 310-430 (5: four in R, one in W); 550 is alone.
STAGED = lms_at([10, 70, 90, 110, 130, 310, 330, 350, 370, 430, 550])


def test_stage_table_by_hand():
    s = score(STAGED, ScoringContext(hypnogram=HYPNO), recording_s=600.0)
    t = s.summary["stage_table"]
    assert t["columns"] == ["TIB", "TST", "W", "N1", "N2", "N3", "R", "NREM"]
    # hours: TIB 600 s, TST 480 s (N2 240 + R 120 + N3 120), W 120, N1 0, NREM 360 s
    hours = rows(t, "hours")
    assert hours == pytest.approx(
        {
            "TIB": 600 / 3600,
            "TST": 480 / 3600,
            "W": 120 / 3600,
            "N1": 0.0,
            "N2": 240 / 3600,
            "N3": 120 / 3600,
            "R": 120 / 3600,
            "NREM": 360 / 3600,
        },
        abs=1e-4,
    )
    # PLMs: TIB 10, TST 8 (N2 4 + R 4), W 2, N2 4, N3 0, R 4, NREM 4.
    assert rows(t, "plm_count") == {
        "TIB": 10, "TST": 8, "W": 2, "N1": 0, "N2": 4, "N3": 0, "R": 4, "NREM": 4,
    }  # fmt: skip
    # per hour: 10/(1/6) = 60; 8/(2/15) = 60; 2/(1/30) = 60; N2 4/(1/15) = 60;
    # R 4/(1/30) = 120; NREM 4/0.1 = 40; N1 has no time: no index.
    assert rows(t, "plm_index") == {
        "TIB": 60.0, "TST": 60.0, "W": 60.0, "N1": None, "N2": 60.0, "N3": 0.0,
        "R": 120.0, "NREM": 40.0,
    }  # fmt: skip
    # CLMs: all 11 are candidates; N3 has one (550): 30 per hour.
    assert rows(t, "clm_index")["N3"] == 30.0
    # PI = PLMs / CLMs per column: TIB 10/11, W 2/2, N3 0/1.
    pi = rows(t, "periodicity_index")
    assert pi["TIB"] == round(10 / 11, 4) and pi["W"] == 1.0 and pi["N3"] == 0.0
    assert pi["N1"] is None
    assert s.summary["plms_index"] == 60.0 and s.summary["plmw_index"] == 60.0
    assert s.summary["total_sleep_hours"] == round(480 / 3600, 4)
    assert s.lms.stage.tolist() == ["W", "N2", "N2", "N2", "N2", "R", "R", "R", "R", "W", "N3"]


def test_ferri_periodicity_per_stage():
    # Ferri: each IMI belongs to the LM that ends it. IMIs 60 20 20 20 | 180 |
    # 20 20 20 60 | 120: the runs inside 10-90 s are 60 20 20 20 (4) and 20 20 20 60
    # (4): 8 periodic of 10 IMIs. Per stage: N2 holds the IMIs ending at 70 90 110 130
    # (all periodic): 1.0; R holds those ending at 310 (180: not) 330 350 370: 3/4;
    # N3 holds 120 (not): 0.
    s = score(STAGED, ScoringContext(hypnogram=HYPNO), recording_s=600.0, periodicity="ferri")
    pi = rows(s.summary["stage_table"], "periodicity_index")
    assert pi["TIB"] == 0.8 and pi["N2"] == 1.0 and pi["R"] == 0.75 and pi["N3"] == 0.0


def test_lms_outside_the_hypnogram_count_in_no_column():
    hyp = Hypnogram.from_epochs(60.0, ["N2"] * 4)  # 60-180 s
    s = score(lms_at([10, 70, 90, 110, 130]), ScoringContext(hypnogram=hyp), recording_s=600.0)
    assert s.summary["lms_outside_hypnogram"] == 1
    assert rows(s.summary["stage_table"], "lm_count")["TIB"] == 4
    # The series 10-130 is scored on the whole list: 70-130 stay PLMs in N2.
    assert rows(s.summary["stage_table"], "plm_count")["N2"] == 4


def test_unscored_epochs_count_in_bed_only():
    hyp = Hypnogram.from_epochs(0.0, ["N2", "", "W"])
    s = score(lms_at([10, 40, 70]), ScoringContext(hypnogram=hyp), recording_s=90.0)
    t = s.summary["stage_table"]
    assert rows(t, "lm_count") == {
        "TIB": 3, "TST": 1, "W": 1, "N1": 0, "N2": 1, "N3": 0, "R": 0, "NREM": 1,
    }  # fmt: skip


# --- IMI statistics --------------------------------------------------------------------


def test_log_imi_mean_and_sd():
    # Series 0 10 30 70: PLM IMIs 10 20 40 (the first PLM has none). exp(mean ln) =
    # (10*20*40)^(1/3) = 20; ln deviations -ln 2, 0, ln 2: SD (n-1) = ln 2, exp = 2.
    t = score(lms_at([0, 10, 30, 70])).summary["stage_table"]
    assert rows(t, "imi_log_mean_s")["TIB"] == pytest.approx(20.0, abs=1e-3)
    assert rows(t, "imi_log_sd_factor")["TIB"] == pytest.approx(2.0, abs=1e-4)


def test_log_imi_sets_matplm_and_series():
    # 0, then 5 (5 s: a breakpoint), 15 35 75: the run 5 15 35 75 is a series whose
    # first PLM has a 5 s IMI. MATPLM ("plm") counts every PLM IMI up to 90 s:
    # 5 10 20 40 -> (40000)^(1/4) = 14.142; "series" only the IMIs inside: 10 20 40 -> 20.
    m = lms_at([0, 5, 15, 35, 75], duration=1.0)
    plm = rows(score(m).summary["stage_table"], "imi_log_mean_s")["TIB"]
    series = rows(score(m, imi_stats="series").summary["stage_table"], "imi_log_mean_s")["TIB"]
    assert plm == pytest.approx(40000**0.25, abs=1e-3)
    assert series == pytest.approx(20.0, abs=1e-3)


# --- properties ------------------------------------------------------------------------

ROW = st.tuples(
    st.integers(0, 36_000).map(lambda t: t * 0.05),  # onset on a 20 Hz clock, < 1800 s
    st.integers(1, 300).map(lambda d: d * 0.05),
    st.sampled_from(["", "left", "right"]),
)
NIGHTS = st.lists(ROW, max_size=50)
NIGHT_S = 1900.0  # the hypnogram below covers 0-1920 s: every LM onset is inside


def _movements(rows):
    on = np.array([r[0] for r in rows], dtype=float)
    return Movements.from_arrays(
        on, on + np.array([r[1] for r in rows]), np.array([r[2] for r in rows], dtype=object)
    )


FIGURES = ("lm_index", "clm_index", "plm_index", "periodicity_index")


@settings(max_examples=100, deadline=None)
@given(NIGHTS, st.sampled_from(["plm_per_clm", "ferri"]))
def test_device_only_path_equals_the_time_in_bed_column(rows, periodicity):
    s = score(_movements(rows), recording_s=NIGHT_S, periodicity=periodicity)
    t = s.summary["stage_table"]
    assert t["columns"] == ["TIB"]
    for name in FIGURES:
        assert t[name] == [s.summary[name]], name
    assert t["plm_count"] == [s.summary["plm_count"]]
    assert t["hours"] == [s.summary["analysed_hours"]]


STAGE_LISTS = st.lists(st.sampled_from(["W", "N1", "N2", "N3", "R", ""]), min_size=64, max_size=64)


@settings(max_examples=100, deadline=None)
@given(NIGHTS, STAGE_LISTS)
def test_stages_only_partition_the_night(rows, stages):
    # 64 epochs of 30 s = 1920 s. Staging must not change which LMs are PLMs; the TIB
    # column equals the unstaged night over the same time, and TST + W + unscored
    # epochs add up to it.
    hyp = Hypnogram.from_epochs(0.0, stages)
    m = _movements(rows)
    staged = score(m, ScoringContext(hypnogram=hyp), recording_s=1920.0)
    plain = score(m, recording_s=1920.0)
    assert staged.lms.plm.tolist() == plain.lms.plm.tolist()
    t = staged.summary["stage_table"]
    tib = {k: rows_of(t, k)["TIB"] for k in FIGURES}
    assert tib == {k: plain.summary[k] for k in FIGURES}
    for name in ("lm_count", "clm_count", "plm_count"):
        r = rows_of(t, name)
        unscored = sum(
            1
            for st_, plm, cand in zip(
                staged.lms.stage, staged.lms.plm, staged.lms.candidate, strict=True
            )
            if st_ == "" and {"lm_count": True, "clm_count": cand, "plm_count": plm}[name]
        )
        assert r["TST"] + r["W"] + unscored == r["TIB"], name
        assert r["N1"] + r["N2"] + r["N3"] == r["NREM"], name
        assert r["NREM"] + r["R"] == r["TST"], name


def rows_of(table, name):
    return rows(table, name)


LEFT_NIGHTS = st.lists(
    st.tuples(
        st.integers(0, 36_000).map(lambda t: t * 0.05),
        st.integers(1, 300).map(lambda d: d * 0.05),
        st.just("left"),
    ),
    max_size=50,
)


@settings(max_examples=60, deadline=None)
@given(LEFT_NIGHTS, st.lists(st.tuples(st.integers(0, 1800), st.integers(1, 60)), max_size=8))
def test_nr_equals_scoring_without_the_respiratory_lms(rows, events):
    # The "nr" figures are, by definition, the night scored without the respiratory-
    # related LMs: check against scoring the reduced list with no context at all. One
    # leg only, so the LMs scored again are judged exactly as before (merged LMs are
    # at least 0.5 s apart and do not merge again; no bilateral pairing).
    m = _movements(rows)
    ctx = ScoringContext(respiratory=Intervals.from_rows([(float(a), float(d)) for a, d in events]))
    s = score(m, ctx, recording_s=NIGHT_S)
    keep = ~s.lms.respiratory
    reduced = Movements.from_arrays(
        s.lms.onset_s[keep], s.lms.offset_s[keep], np.full(int(keep.sum()), "left", dtype=object)
    )
    plain = score(reduced, recording_s=NIGHT_S)
    t = s.summary["stage_table"]
    assert rows_of(t, "plm_nr_count")["TIB"] == plain.summary["plm_count"]
    assert rows_of(t, "clm_nr_count")["TIB"] == plain.summary["clm_count"]
    assert rows_of(t, "plm_nr_index")["TIB"] == plain.summary["plm_index"]
