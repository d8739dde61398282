"""Synthetic nights of both legs: two traces, labels with the leg, bilateral movements as
the literature describes them, and labels the bilateral rules read unambiguously.

Checked independently of the generator's bookkeeping: the bilateral LMs the scoring
finds in the labels are exactly the generator's two-leg movements; each label shows as
motion in its own leg's trace and nowhere in the other leg's (angular rate measured here
from the traces).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from legsense.cli import main
from legsense.night import Movements
from legsense.scoring import score_wasm2016
from legsense.simulation.bilateral_generator import (
    MAX_TWITCH_S,
    MIN_LEG_S,
    leg_labels,
    simulate_bilateral_night,
)
from legsense.trace import read_labels, read_trace


@pytest.fixture(scope="module")
def night():
    return simulate_bilateral_night(4, 1.5, 26.0)


@pytest.fixture(scope="module")
def long_labels():
    """Several nights' labels (the traces are not looked at): enough movements for the
    proportions."""
    return [simulate_bilateral_night(seed, 4.0, 5.0)[2] for seed in (1, 2, 3)]


def test_same_seed_same_night_and_both_legs_are_their_own_sensors(night):
    left, right, labels = night
    again = simulate_bilateral_night(4, 1.5, 26.0)
    np.testing.assert_array_equal(left.acc_g, again[0].acc_g)
    np.testing.assert_array_equal(right.gyr_dps, again[1].gyr_dps)
    np.testing.assert_array_equal(labels.onset_s, again[2].onset_s)
    assert (left.meta["leg"], right.meta["leg"]) == ("left", "right")
    assert left.meta["start_utc"] == right.meta["start_utc"]
    # Own sample times (jitter, drops) and own mounting: not the same data.
    assert len(left) != len(right) or not np.array_equal(left.t_s, right.t_s)
    assert abs(left.t_s[-1] - right.t_s[-1]) < 1.0 and abs(left.t_s[-1] - 1.5 * 3600) < 1.0


def _rest_rate(trace, margin_s=0.8):
    """Median gyro magnitude (deg/s) of a trace: its resting level."""
    return float(np.median(np.linalg.norm(trace.gyr_dps, axis=1)))


def _moving(trace, a, b):
    """Peak angular rate (deg/s) within [a, b] of a trace, minus its resting median."""
    i = (trace.t_s >= a) & (trace.t_s <= b)
    rate = np.linalg.norm(trace.gyr_dps[i], axis=1)
    return float(rate.max()) - _rest_rate(trace) if i.any() else 0.0


def test_each_label_moves_its_own_leg_and_not_the_other(night):
    left, right, labels = night
    traces = {"left": left, "right": right}
    other = {"left": "right", "right": "left"}
    events = labels.extra["event"]
    for k in range(len(labels)):
        if labels.extra["kind"][k] == "twitch":
            continue
        leg = str(labels.extra["leg"][k])
        a, b = labels.onset_s[k], labels.offset_s[k]
        assert _moving(traces[leg], a, b) > 5.0, (k, leg)
        # The other leg, at that time: moving only if it has a part of the same movement.
        same_event = (events == events[k]) & (labels.extra["leg"] == other[leg])
        if not same_event.any():
            assert _moving(traces[other[leg]], a, b) < 3.0, (k, leg)


def test_the_bilateral_rules_find_exactly_the_two_leg_movements(long_labels):
    for labels in long_labels:
        legs = np.asarray(labels.extra["leg"], dtype=object)
        scored = score_wasm2016(
            Movements.from_arrays(labels.onset_s, labels.offset_s, legs),
            recording_s=4 * 3600.0,
        )
        events = labels.extra["event"]
        row = scored.movement_lm
        for e in np.unique(events):
            mine = np.flatnonzero(events == e)
            in_lm = row[mine][row[mine] >= 0]
            # A movement's parts make one LM; bilateral when on both legs.
            assert len(set(in_lm)) <= 1
            if len(in_lm) and len(set(legs[mine])) == 2:
                assert scored.lms.leg[in_lm[0]] == "bilateral"
        # ...and no LM joins parts of two movements.
        for r in range(len(scored.lms)):
            assert len(set(events[row == r])) == 1


def test_proportions_lags_and_clearances_follow_the_model(long_labels):
    lags, two_leg, one_leg = [], 0, 0
    for labels in long_labels:
        on, off = labels.onset_s, labels.offset_s
        legs, kinds, events = labels.extra["leg"], labels.extra["kind"], labels.extra["event"]
        lm = kinds != "twitch"
        assert (off[lm] - on[lm] >= MIN_LEG_S - 1e-6).all()
        assert (off[~lm] - on[~lm] <= MAX_TWITCH_S + 1e-6).all()
        d = off - on
        assert not ((d > 9.5 + 1e-6) & (d < 10.5)).any()
        for e in np.unique(events[lm]):
            mine = np.flatnonzero(events == e)
            if kinds[mine[0]] == "turn":
                continue
            if len(set(legs[mine])) == 2:
                two_leg += 1
                first = {leg: on[mine][legs[mine] == leg].min() for leg in ("left", "right")}
                lags.append(abs(first["left"] - first["right"]))
                assert not (14.5 < off[mine].max() - on[mine].min() < 15.5)
            else:
                one_leg += 1
        # Movements of different events are at least 0.8 s apart, whichever legs.
        order = np.argsort(on)
        for i, j in itertools.pairwise(order):
            if events[i] != events[j]:
                later_start = on[j]
                earlier_end = off[events == events[i]].max()
                assert later_start - earlier_end >= 0.8 - 1e-6
    share = two_leg / (two_leg + one_leg)
    # Ferri et al. 2016: 58 % of reference LMs had contralateral LMs; a few short ones
    # cannot be split between legs and stay on one.
    assert 0.4 < share < 0.62
    assert 0.2 < float(np.median(lags)) < 0.45


def test_leg_labels_are_the_rows_of_one_leg(night):
    _, _, labels = night
    left = leg_labels(labels, "left")
    right = leg_labels(labels, "right")
    assert len(left) + len(right) == len(labels)
    assert set(left.extra["leg"]) == {"left"} and set(right.extra["leg"]) == {"right"}


def test_cli_writes_both_legs_and_the_labels(tmp_path, capsys):
    out = tmp_path / "night.csv"
    assert main(["simulate-night", "--bilateral", "--seed", "3", "--hours", "0.1",
                 "--rate", "20", "--out", str(out)]) == 0  # fmt: skip
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "night.labels.csv",
        "night.left.csv",
        "night.left.labels.csv",
        "night.right.csv",
        "night.right.labels.csv",
    ]
    both = read_labels(tmp_path / "night.labels.csv")
    left = read_labels(tmp_path / "night.left.labels.csv")
    assert set(both.extra["leg"]) <= {"left", "right"} and len(left) <= len(both)
    assert read_trace(tmp_path / "night.right.csv").meta["leg"] == "right"
    assert "labelled movements" in capsys.readouterr().out


def test_cli_bad_options_are_one_line_exit_2(tmp_path, capsys):
    args = ["simulate-night", "--bilateral", "--seed", "3", "--hours", "0.1", "--rate", "20"]
    assert main([*args, "--out", str(tmp_path / "no" / "n.csv")]) == 2
    assert main([*args, "--profile", "nope", "--out", str(tmp_path / "n.csv")]) == 2
    err = capsys.readouterr().err
    assert "folder does not exist" in err and "--profile 'nope' unknown" in err
    assert list(tmp_path.iterdir()) == []
