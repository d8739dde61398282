"""Agreement with the standard and the reference scorers on a hand-built PSG night.

One 20-minute night, written as a RemLogic export (times of day crossing midnight)
and as an EDF+ annotation file, pins the rules and each ambiguous point at once. Every
expected figure is derived below by hand from the WASM/IRLSSG 2016 text and from how
MATPLM (the Johns Hopkins RLS lab's scorer) and PLMScoRe read it; the options switch
to the other readings and the figures they give are derived too.

The night, from 23:55:00 (t = 0), 40 epochs of 30 s:
  W 0-120 s | N2 120-720 s | REM 720-960 s | N3 960-1200 s
  hours: TIB 1/3, W 1/30, N2 1/6, R 1/15, N3 1/15, TST 0.3, NREM 0.2333

Leg movements (2 s, left leg unless said):
  30, 60 (W)                     -> a series reaching into N2 through 130 (IMI 70)
  130 150 170 190 210 (N2)
  230 left + 231-233 right       -> one bilateral LM at 230 (IMI 20): series A goes on
  236 right (N2)                 -> 6 s after 230 (3 s after its end: no pairing):
                                    the intervening LM
  256 276 296 (N2)
  420 440 460 480 500 520 (N2)   -> an obstructive apnea 445-458 s ends at 458: the
                                    2016 window [456, 468.25] holds the LM at 460
  730-742 (REM)                  -> 12 s: not a candidate, breaks
  760 780 800 820 (REM), 900 920 940 (REM), 960 980 (N3)
                                 -> one run (IMIs 20 20 20 80 20 20 20 20); an
                                    arousal 781-790 s overlaps the LM at 780
Rows that must be skipped: a zero-duration PLM-LM, a PLM-LM with a bad duration.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from legsense.cli import main
from legsense.commands.score import score_psg
from legsense.psg.reader import read_psg
from legsense.scoring import ScoringParams
from psg_files import (
    PATIENT_ID,
    PATIENT_NAME,
    STAGE_NAMES_EDF,
    STAGE_NAMES_REMLOGIC,
    clock,
    write_edf,
    write_remlogic,
)

START = dt.datetime(2008, 7, 8, 23, 55, 0)
EPOCHS = ["W"] * 4 + ["N2"] * 20 + ["R"] * 8 + ["N3"] * 8
LEFT = [30, 60, 130, 150, 170, 190, 210, 230, 256, 276, 296, 420, 440, 460, 480, 500, 520]
LEFT += [760, 780, 800, 820, 900, 920, 940, 960, 980]
RIGHT = [(231, 2.0), (236, 2.0)]
LONG = (730, 12.0)
APNEA = (445, 13.0)
AROUSAL = (781, 9.0)

HOURS = {"TIB": 1 / 3, "TST": 0.3, "W": 1 / 30, "N1": 0.0, "N2": 1 / 6, "N3": 1 / 15,
         "R": 1 / 15, "NREM": 1080 / 3600 - 1 / 15}  # fmt: skip


def remlogic_rows(iso: bool):
    rows = []
    for k, stage in enumerate(EPOCHS):
        rows.append((30 * k, STAGE_NAMES_REMLOGIC[stage], "30", "EEG-F4-A1"))
    for t in LEFT:
        rows.append((t, "PLM-LM", "2", "Left Leg"))
    for t, d in RIGHT:
        rows.append((t, "PLM-LM", f"{d:g}", "Right Leg"))
    rows.append((LONG[0], "PLM-LM", "12", "Left Leg"))
    rows.append((APNEA[0], "APNEA-OBSTRUCTIVE", "13", "Thermistor"))
    rows.append((AROUSAL[0], "AROUSAL-SPONT", "9", "EEG-F4-A1"))
    rows.append((600, "PLM-LM", "0", "Left Leg"))  # zero duration: skipped
    rows.append((610, "PLM-LM", "two", "Left Leg"))  # unreadable duration: skipped
    rows.sort(key=lambda r: r[0])
    return [(clock(START, t, iso), ev, dur, loc) for t, ev, dur, loc in rows]


@pytest.fixture(params=["remlogic-time-of-day", "remlogic-iso", "edf+"])
def night(request, tmp_path):
    if request.param == "edf+":
        ann = [(30.0 * k, 30.0, STAGE_NAMES_EDF[s]) for k, s in enumerate(EPOCHS)]
        ann += [(float(t), 2.0, "LM left") for t in LEFT]
        ann += [(float(t), d, "LM right") for t, d in RIGHT]
        ann += [(float(LONG[0]), LONG[1], "LM left")]
        ann += [(float(APNEA[0]), APNEA[1], "Obstructive Apnea")]
        ann += [(float(AROUSAL[0]), AROUSAL[1], "Arousal")]
        ann += [(600.0, None, "LM left")]  # no duration: skipped
        return write_edf(tmp_path / "night.edf", START, ann, signal_s=1200)
    iso = request.param == "remlogic-iso"
    return write_remlogic(tmp_path / "night-Events.txt", remlogic_rows(iso))


def table_of(summary):
    t = summary["stage_table"]
    return {k: dict(zip(t["columns"], v, strict=True)) for k, v in t.items() if k != "columns"}


def scored(path, **params):
    record = read_psg(path)
    scoring, _, _ = score_psg(record, ScoringParams(**params))
    return record, scoring, table_of(scoring.summary)


def test_reading_the_night(night):
    record, scoring, t = scored(night)
    # 26 + 2 right + 1 long = 29 LM rows; left and right merge at 230: 28 LMs.
    assert record.counts["lm"] == 29 and record.counts["stage"] == 40
    assert sum(record.skipped.values()) in (1, 2)  # EDF+ has no unreadable-duration row
    assert len(scoring.lms) == 28
    assert record.legs() == {"left", "right"}
    assert t["hours"] == pytest.approx(HOURS, abs=1e-4)
    assert scoring.lms.leg[7] == "bilateral" and scoring.lms.onset_s[7] == 230


def test_default_reading_matplm(night):
    _, scoring, t = scored(night)
    # CLMs: all but the long LM (730) and the respiratory-related one (460): 26.
    # PLMs: series A 30 60 130 150 170 190 210 230 (8: W 2, N2 6); the intervening LM
    # 236 starts run B 236 256 276 296 (4, N2); 420-520 is broken at 460 (2 + 3: none);
    # 760-980 is one run (9: REM 7, N3 2). 21 PLMs.
    assert scoring.summary["clm_count"] == 26 and scoring.summary["plm_count"] == 21
    assert t["plm_count"] == {"TIB": 21, "TST": 19, "W": 2, "N1": 0, "N2": 10, "N3": 2,
                              "R": 7, "NREM": 12}  # fmt: skip
    expect = {"TIB": 63.0, "TST": 63.33, "W": 60.0, "N1": None, "N2": 60.0, "N3": 30.0,
              "R": 105.0, "NREM": 51.43}  # fmt: skip
    assert t["plm_index"] == expect
    assert scoring.summary["plms_index"] == 63.33 and scoring.summary["plmw_index"] == 60.0
    # CLM: W 2, N2 15, R 7, N3 2
    assert t["clm_count"] == {"TIB": 26, "TST": 24, "W": 2, "N1": 0, "N2": 15, "N3": 2,
                              "R": 7, "NREM": 17}  # fmt: skip
    # PI = PLM / CLM: TIB 21/26, N2 10/15, the others 1.
    assert t["periodicity_index"]["TIB"] == round(21 / 26, 4)
    assert t["periodicity_index"]["N2"] == round(10 / 15, 4)
    assert t["periodicity_index"]["R"] == 1.0
    # PLM with arousal: 780 (REM): 1 / (1/15 h) = 15 /h; TST 1 / 0.3 h = 3.33 /h.
    assert t["plm_arousal_index"]["R"] == 15.0 and t["plm_arousal_index"]["TST"] == 3.33
    assert scoring.summary["plms_arousal_index"] == 3.33
    # log-IMI (MATPLM: every PLM's IMI up to 90 s, from the candidate before it):
    # 60:30, 130:70, 150-230: 20 x5, 236: 6, 256-296: 20 x3, 760: 240 (> 90, out),
    # 780-820: 20 x3, 900: 80, 920-980: 20 x4.
    imis = [30, 70] + [20] * 5 + [6] + [20] * 3 + [20] * 3 + [80] + [20] * 4
    logs = [math.log(x) for x in imis]
    mean = sum(logs) / len(logs)
    sd = math.sqrt(sum((v - mean) ** 2 for v in logs) / (len(logs) - 1))
    assert t["imi_log_mean_s"]["TIB"] == pytest.approx(math.exp(mean), abs=1e-3)
    assert t["imi_log_sd_factor"]["TIB"] == pytest.approx(math.exp(sd), abs=1e-4)


def test_nr_figures(night):
    # nr: the LM at 460 is removed; 420 440 480 500 520 (IMIs 20 40 20 20) are a series
    # of 5. PLMnr: 26 (N2 15); CLMnr 26 (460 is not a CLM either way); PInr TIB 1.0.
    _, scoring, t = scored(night)
    assert t["plm_nr_count"]["TIB"] == 26 and t["plm_nr_count"]["N2"] == 15
    assert t["clm_nr_count"]["TIB"] == 26
    assert t["periodicity_index_nr"]["TIB"] == 1.0
    assert t["plm_nr_index"]["N2"] == 90.0  # 15 / (1/6 h)
    assert t["respiratory_clm_count"]["N2"] == 1
    assert scoring.summary["respiratory"]["events"] == 1


def test_respiratory_rules_and_windows(night):
    # keep: 460 is an ordinary CLM: 420-520 is a series of 6: 27 PLMs of 27 CLMs.
    _, s, _ = scored(night, respiratory="keep")
    assert s.summary["plm_count"] == 27 and s.summary["clm_count"] == 27
    # remove: the main figures become the nr ones.
    _, s, t = scored(night, respiratory="remove")
    assert s.summary["plm_count"] == 26 and t["plm_count"] == t["plm_nr_count"]
    # AASM window (0.5 s before the apnea to 0.5 s after it, 444.5-458.5): no LM in it,
    # so 420-520 is a series of 6 as with "keep".
    _, s, _ = scored(night, resp_anchor="event", resp_before_s=0.5, resp_after_s=0.5)
    assert s.summary["plm_count"] == 27


def test_intervening_lm_options(night):
    # exclude: 236 is never a PLM; 256 276 296 are three: run B is gone: 17 PLMs.
    _, s, _ = scored(night, short_imi="exclude")
    assert s.summary["plm_count"] == 17
    # skip: 236 leaves the chain; 256 is 26 s after 230, so series A runs on to 296
    # (11 PLMs) and 236 is a CLM but not a PLM: 11 + 9 = 20.
    _, s, _ = scored(night, short_imi="skip")
    assert s.summary["plm_count"] == 20
    assert not s.lms.plm[8] and s.lms.onset_s[8] == 236


def test_imi_chain_options(night):
    # imi_from="lm" (PLMScoRe): 760 is measured from the long LM at 730: 30 s, which
    # now enters the log-IMI set; the series are the same (the long LM breaks either way).
    _, s, t = scored(night, imi_from="lm")
    assert s.summary["plm_count"] == 21
    imis = [30, 70] + [20] * 5 + [6] + [20] * 3 + [30] + [20] * 3 + [80] + [20] * 4
    mean = sum(math.log(x) for x in imis) / len(imis)
    assert t["imi_log_mean_s"]["TIB"] == pytest.approx(math.exp(mean), abs=1e-3)


def test_periodicity_option_ferri(night):
    # Ferri 2006 over all 28 LMs: 27 IMIs. In order: 30 70 20 20 20 20 20 | 6 | 20 20 20 |
    # 124 | 20 20 20 20 20 | 210 | 30 20 20 20 80 20 20 20 20. Runs of >= 3 inside
    # 10-90 s: 7 + 3 + 5 + 9 = 24 of 27.
    _, s, _ = scored(night, periodicity="ferri")
    assert s.summary["periodicity_index"] == round(24 / 27, 4)


def test_arousal_rule_matplm(night):
    # MATPLM tests the LM against +-0.5 s around the arousal's end (790): the LM at
    # 780-782 is far from it: no PLM with arousal.
    _, _, t = scored(night, arousal_rule="arousal_end")
    assert t["plm_arousal_index"]["R"] == 0.0


def test_one_leg_of_a_bilateral_psg(night):
    # Left leg only (26 LMs + the long one): 230 stays a left LM (IMI 20) and the
    # right LMs 231 and 236 are gone: series A runs 30-296 (11); the rest as before
    # (420-520 broken at 460; 760-980: 9): 20 PLMs.
    record = read_psg(night)
    s, _, _ = score_psg(record, ScoringParams(), leg="left")
    assert s.summary["plm_count"] == 20 and len(s.lms) == 27


def test_cli_score_psg_writes_the_figures_and_never_the_patient(night, tmp_path, capsys):
    out = tmp_path / "scored"
    assert main(["score", str(night), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads(printed)
    assert summary["plm_count"] == 21
    assert summary["psg"]["rows_used"]["lm"] == 29
    for name in ("summary.json", "stages.csv", "lms.csv", "psg.png"):
        assert (out / name).stat().st_size > 0
    texts = [printed] + [(out / n).read_text() for n in ("summary.json", "stages.csv", "lms.csv")]
    for text in texts:
        assert PATIENT_ID not in text and PATIENT_NAME not in text
        assert night.name not in text  # file names may carry names too
    assert main(["score", str(night), "--table"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["TIB", "TST", "W", "N1", "N2", "N3", "R", "NREM"]
    assert "PLM /h" in table
