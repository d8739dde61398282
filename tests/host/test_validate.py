"""`legsense validate`: synthetic nights against PSGs written as EDF+ annotations.

The PSG of each night is made from the night's ground-truth labels: its clock runs a
known amount ahead of UTC and it starts recording a known time after the device. The
expected shift and clock offset are those two numbers; the expected agreement figures
come from a second computation (bench.matching's overlap matcher and the rules run on
the labels), not from the code under test.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import edfio
import numpy as np
import pytest
from legsense.analysis import analyze_trace
from legsense.cli import main
from legsense.night import Movements
from legsense.scoring import score_wasm2016
from legsense.simulation.night_generator import simulate_night
from legsense.trace import write_trace
from legsense.validation import bland_altman, icc_absolute_agreement

from bench.matching import match_by_overlap

PSG_LATE_S = 20.3  # the PSG starts recording 20.3 s after the device
CLOCK_AHEAD_S = 37.4  # the PSG's clock reads 37.4 s later than UTC


def make_night(tmp_path, seed, hours=1.0, rate=26.0, right_leg_extra=0, psg_late=PSG_LATE_S):
    """Trace + an EDF+ PSG of its labels (left leg; optional extra right-leg LMs the
    device cannot see), with a hypnogram: W for 2.5 min, then N2. Returns the trace,
    the labels, both paths and the expected shift from PSG time to device time."""
    trace, labels = simulate_night(seed, hours, rate, profile="plmd")
    trace_path = tmp_path / f"night{seed}.csv"
    write_trace(trace_path, trace)
    start = trace.start_utc
    assert start is not None
    psg_clock_start = (start + dt.timedelta(seconds=psg_late + CLOCK_AHEAD_S)).replace(tzinfo=None)
    file_start = psg_clock_start.replace(microsecond=0)  # EDF keeps whole seconds
    late_in_file = psg_clock_start.microsecond / 1e6  # t = 0 of the PSG is this far in
    keep = labels.duration_s >= 0.5
    ann = []
    for on, off in zip(labels.onset_s[keep], labels.offset_s[keep], strict=True):
        ann.append((float(on) - psg_late + late_in_file, float(off - on), "LM left"))
    rng = np.random.default_rng(seed)
    extra = np.sort(rng.uniform(60, hours * 3600 - 60, right_leg_extra))
    for on in extra:
        ann.append((float(on) - psg_late + late_in_file, 1.5, "LM right"))
    n_epochs = int((trace.t_s[-1] - psg_late) // 30)
    for k in range(n_epochs):
        ann.append((late_in_file + 30.0 * k, 30.0, "Sleep stage W" if k < 5 else "Sleep stage 2"))
    edf = edfio.Edf(
        [],
        recording=edfio.Recording(startdate=file_start.date()),
        starttime=file_start.time(),
        annotations=[edfio.EdfAnnotation(o, d, t) for o, d, t in ann],
    )
    psg_path = tmp_path / f"night{seed}.edf"
    edf.write(psg_path)
    # The EDF's t = 0 (its header's whole second) is the device's psg_late - late_in_file.
    return trace, labels, trace_path, psg_path, psg_late - late_in_file


def run_validate(tmp_path, *args):
    out = tmp_path / "val"
    assert main(["validate", *map(str, args), "--out", str(out), "--psg-tz", "UTC"]) == 0
    return json.loads((out / "validation.json").read_text()), out


def expected_lm_agreement(trace, labels, period):
    """Second computation: bench.matching on labels vs detections of >= 0.5 s whose
    onsets lie in the period (device axis)."""
    det, _ = analyze_trace(trace)
    m = det.movements
    d = (m.duration_s >= 0.5) & (m.onset_s >= period[0]) & (m.onset_s < period[1])
    t = (labels.duration_s >= 0.5) & (labels.onset_s >= period[0]) & (labels.onset_s < period[1])
    return match_by_overlap(labels.onset_s[t], labels.offset_s[t], m.onset_s[d], m.offset_s[d])


def test_one_night_recovers_the_offset_and_the_agreement(tmp_path):
    trace, labels, trace_path, psg_path, shift = make_night(tmp_path, seed=21)
    result, out = run_validate(tmp_path, trace_path, psg_path)
    night = result["nights"][0]
    a = night["alignment"]
    # The PSG starts 20.3 s after the device (its file 0.7 s before that: EDF keeps
    # whole seconds) and its clock is 37.4 s ahead. The detector's onsets are within a
    # sample or two of the labels: 0.1 s is ample.
    assert a["method"] == "search" and a["confidence"] == "high"
    assert a["psg_to_device_shift_s"] == pytest.approx(shift, abs=0.1)
    assert a["psg_clock_minus_device_clock_s"] == pytest.approx(CLOCK_AHEAD_S, abs=0.1)
    period = night["period_device_s"]  # from the first epoch: the PSG's own start
    assert period[0] == pytest.approx(PSG_LATE_S, abs=0.1)
    both = night["comparisons"]["both_legs"]
    same = night["comparisons"]["same_leg"]
    assert same == {**both, "psg_leg": "left"}  # the PSG scored the left leg only
    expect = expected_lm_agreement(trace, labels, period)
    assert both["lm"]["psg"] == expect.true_events
    assert both["lm"]["device"] == expect.detected
    assert both["lm"]["matched"] == expect.matched
    assert both["lm"]["sensitivity"] == round(expect.sensitivity, 4)
    assert both["lm"]["ppv"] == round(expect.ppv, 4)
    # PLM index of the PSG: the labels scored by the rules, PLMs in the period per hour.
    truth = score_wasm2016(
        Movements.from_arrays(labels.onset_s, labels.offset_s), recording_s=3600.0
    )
    in_period = (truth.lms.onset_s >= period[0]) & (truth.lms.onset_s < period[1])
    hours = (period[1] - period[0]) / 3600.0
    assert both["plm_index"]["psg"] == round(int(truth.lms.plm[in_period].sum()) / hours, 2)
    # One LM missed can break a series: within 10 % of the PSG's.
    assert (
        abs(both["plm_index"]["device"] - both["plm_index"]["psg"])
        <= 0.1 * both["plm_index"]["psg"]
    )
    assert both["onset_error_s"]["n"] == expect.matched
    assert abs(both["onset_error_s"]["median"]) < 0.2
    assert both["plms_index"]["psg"] is not None
    assert (out / "validation.png").stat().st_size > 10_000


def test_one_leg_device_against_a_bilateral_psg(tmp_path):
    # 12 right-leg LMs the ankle sensor (left) cannot feel. Against the left leg the
    # figures are those of the labels; against both legs the PSG has 12 more LMs (or
    # fewer when some pair with left ones), so sensitivity drops, PPV does not.
    trace, labels, trace_path, psg_path, _ = make_night(tmp_path, seed=22, right_leg_extra=12)
    result, _ = run_validate(tmp_path, trace_path, psg_path)
    comp = result["nights"][0]["comparisons"]
    same, both = comp["same_leg"], comp["both_legs"]
    assert same["psg_leg"] == "left" and both["psg_leg"] == "both"
    expect = expected_lm_agreement(trace, labels, result["nights"][0]["period_device_s"])
    assert same["lm"]["psg"] == expect.true_events and same["lm"]["matched"] == expect.matched
    assert both["lm"]["psg"] > same["lm"]["psg"]
    assert both["lm"]["sensitivity"] < same["lm"]["sensitivity"]
    assert both["lm"]["device"] == same["lm"]["device"]


def test_forced_offset_and_a_night_folder(tmp_path):
    _, _, trace_path, psg_path, shift = make_night(tmp_path, seed=23, hours=0.5)
    folder = tmp_path / "folder"
    assert main(["analyze", str(trace_path), "--out", str(folder), "-q", "--no-picture"]) == 0
    from_folder, _ = run_validate(tmp_path, folder, psg_path)
    from_trace, _ = run_validate(tmp_path, trace_path, psg_path)
    a, b = from_folder["nights"][0], from_trace["nights"][0]
    assert a["alignment"]["psg_to_device_shift_s"] == pytest.approx(
        b["alignment"]["psg_to_device_shift_s"], abs=0.002
    )
    assert a["comparisons"]["both_legs"]["lm"] == b["comparisons"]["both_legs"]["lm"]
    forced, _ = run_validate(tmp_path, trace_path, psg_path, "--offset", f"{shift:.3f}")
    assert forced["nights"][0]["alignment"]["method"] == "forced"
    assert forced["nights"][0]["alignment"]["psg_to_device_shift_s"] == round(shift, 3)
    assert (
        forced["nights"][0]["comparisons"]["both_legs"]["lm"] == b["comparisons"]["both_legs"]["lm"]
    )


def test_several_nights_agreement(tmp_path):
    nights = [make_night(tmp_path, seed=s, hours=0.5) for s in (31, 32, 33)]
    args = []
    for _, _, trace_path, psg_path, _ in nights:
        args += [trace_path, psg_path]
    result, _ = run_validate(tmp_path, *args)
    across = result["across_nights"]["both_legs"]
    dev = np.array(across["device_plm_index"])
    psg = np.array(across["psg_plm_index"])
    assert dev.tolist() == [n["comparisons"]["both_legs"]["plm_index"]["device"]
                            for n in result["nights"]]  # fmt: skip
    # Independent: Pearson's r from its definition.
    r = float(((dev - dev.mean()) * (psg - psg.mean())).sum()) / math.sqrt(
        float(((dev - dev.mean()) ** 2).sum()) * float(((psg - psg.mean()) ** 2).sum())
    )
    assert across["pearson_r"] == pytest.approx(r, abs=1e-4)
    assert across["bland_altman"]["n"] == 3
    assert across["bland_altman"]["bias"] == pytest.approx(float((dev - psg).mean()), abs=1e-3)


def test_icc_and_bland_altman_by_hand():
    # Device 1 3 5, PSG 2 3 7. Grand mean 3.5; row means 1.5 3 6: SSR = 2 * 10.5 = 21;
    # column means 3 and 4: SSC = 3 * 0.5 = 1.5; SST = 23.5, SSE = 1.0. MSR 10.5,
    # MSC 1.5, MSE 0.5: ICC(A,1) = (10.5 - 0.5) / (10.5 + 0.5 + 2 * 1.0 / 3) = 6/7.
    assert icc_absolute_agreement(np.array([1, 3, 5]), np.array([2, 3, 7])) == pytest.approx(6 / 7)
    # Differences -1 0 -2: bias -1, SD 1, limits -1 -+ 1.96.
    ba = bland_altman(np.array([1, 3, 5]), np.array([2, 3, 7]))
    assert ba == {"n": 3, "bias": -1.0, "sd": 1.0, "lower_loa": -2.96, "upper_loa": 0.96}


def test_bad_validate_input(tmp_path, capsys):
    _, _, trace_path, psg_path, _ = make_night(tmp_path, seed=24, hours=0.25)
    out = str(tmp_path / "v")
    assert main(["validate", str(trace_path), "--out", out]) == 2  # not a pair
    assert "pairs" in capsys.readouterr().err
    # A forced shift that puts the PSG after the device night: nothing in common.
    assert main(["validate", str(trace_path), str(psg_path), "--out", out, "--offset", "1e5"]) == 2
    assert "do not overlap" in capsys.readouterr().err
    assert main(["validate", str(psg_path), str(psg_path), "--out", out]) == 2
    assert (
        main(["validate", str(trace_path), str(psg_path), "--out", out, "--psg-tz", "Mars/Base"])
        == 2
    )
    assert not (tmp_path / "v").exists()
