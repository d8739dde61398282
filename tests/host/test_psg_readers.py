"""Reading PSG event files: RemLogic exports and EDF+ annotations, the odd rows too.

Every file is written by the test; the expectations are what each row says.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import numpy as np
import pytest
from legsense.cli import main
from legsense.psg.labels import EventPatterns, stage_of
from legsense.psg.reader import read_psg
from psg_files import PATIENT_ID, PATIENT_NAME, remlogic_text, write_edf, write_remlogic

START = dt.datetime(2026, 3, 1, 23, 59, 0)


def test_stage_names():
    assert [stage_of(x) for x in ("SLEEP-S0", "SLEEP-S1", "SLEEP-S2", "SLEEP-S3", "SLEEP-S4")] == [
        "W", "N1", "N2", "N3", "N3",
    ]  # fmt: skip
    assert stage_of("SLEEP-REM") == "R" and stage_of("SLEEP-MT") == ""
    assert [stage_of(x) for x in ("Sleep stage W", "Sleep stage 4", "Sleep stage R")] == [
        "W", "N3", "R",
    ]  # fmt: skip
    assert stage_of("Sleep stage ?") == "" and stage_of("N2") == "N2" and stage_of("REM") == "R"
    assert stage_of("PLM-LM") is None and stage_of("AROUSAL-SPONT") is None


def test_event_kinds_and_legs():
    p = EventPatterns()
    assert p.kind("PLM-LM") == "lm" and p.kind("LM left") == "lm"
    assert p.kind("PLM") == "other"  # a scorer's PLM mark, not a single LM
    assert p.kind("APNEA-OBSTRUCTIVE") == "respiratory" and p.kind("HYPOPNEA") == "respiratory"
    assert p.kind("RERA") == "respiratory" and p.kind("Obstructive Apnea") == "respiratory"
    assert p.kind("AROUSAL-APNEA") == "arousal" and p.kind("AROUSAL-PLM") == "arousal"
    assert p.kind("DESAT") == "desaturation" and p.kind("SNORE") == "other"
    assert p.leg("Left Leg") == "left" and p.leg("EMG-RAT") == "right" and p.leg("LAT") == "left"
    assert p.leg("Tib-L") == "left" and p.leg("", "LM right") == "right"
    # RemLogic's tibialis channels
    assert p.leg("EMG.Tibialis-Leg.Left") == "left" and p.leg("EMG.Tibialis-Leg.Right") == "right"
    assert p.kind("AROUSAL-LM") == "arousal"  # an arousal scored on a leg channel
    assert p.leg("Legs") == "" and p.leg("Left-Right") == ""
    # anterior tibialis channels as RemLogic montages name them
    assert p.leg("LAntib1-LAntib2") == "left" and p.leg("RAntib1-RAntib2") == "right"
    assert p.leg("EMG.Tibialis-Leg-Left") == "left" and p.leg("EMG.Tibialis-Leg") == ""
    # RemLogic's RERA (on a flow channel) is a respiratory event, not an EEG arousal
    assert p.kind("AROUSAL-RERA") == "respiratory" and p.kind("AROUSAL-RESP") == "arousal"


def rows_crossing_midnight():
    # 23:59:00 W, 23:59:30 N2, 00:00:00 N2 (next day), LMs before and after midnight.
    return [
        ("23:59:00", "SLEEP-S0", "30", "EEG"),
        ("23:59:30", "SLEEP-S2", "30", "EEG"),
        ("23:59:40", "PLM-LM", "1,5", "Left Leg"),  # decimal comma
        ("00:00:00", "SLEEP-S2", "30", "EEG"),
        ("00:00:05", "PLM-LM", "2", "Right Leg"),
        ("00:00:10", "PLM-LM", "0", "Left Leg"),  # zero duration
        ("00:00:12", "PLM-LM", "abc", "Left Leg"),  # bad duration
        ("25:00:00", "PLM-LM", "2", "Left Leg"),  # bad time
        ("00:00:14", "PLM-LM"),  # too few fields
        ("00:00:20", "SNORE", "3", "Mic"),
        ("00:00:21", "DESAT", "12", "SpO2"),
    ]


def test_remlogic_times_of_day_cross_midnight(tmp_path):
    rows = rows_crossing_midnight()
    text = remlogic_text([r for r in rows if len(r) == 4], date="3/1/2026")
    text += "00:00:14\tPLM-LM\n"
    path = tmp_path / "a.txt"
    path.write_text(text.replace("\n", "\r\n"))  # Windows line ends
    r = read_psg(path)
    assert r.start == dt.datetime(2026, 3, 1, 23, 59, 0) and r.date_known
    assert r.movements.onset_s.tolist() == [40.0, 65.0]
    assert r.movements.duration_s.tolist() == [1.5, 2.0]
    assert r.movements.leg.tolist() == ["left", "right"]
    hyp = r.context.hypnogram
    assert hyp is not None and hyp.stage.tolist() == ["W", "N2", "N2"]
    assert hyp.start_s.tolist() == [0.0, 30.0, 60.0]
    assert r.skipped == {
        "zero-duration lm": 1,
        "unreadable duration": 1,
        "unreadable time": 1,
        "too few fields": 1,
    }
    first_row = 13  # 11 header lines (see psg_files), the table header, then the rows
    assert r.skipped_lines["zero-duration lm"] == [first_row + 5]
    assert r.counts["other"] == 1 and len(r.desaturations) == 1


def test_remlogic_utf16_millis_and_column_order(tmp_path):
    text = (
        "RemLogic Event Export\n"
        f"Patient Name:\t{PATIENT_NAME}\n"
        "Recording Date:\t01.03.2026\n\n"
        "Event\tLocation\tTime [hh:mm:ss.xxx]\tDuration[s]\tSleep Stage\n"
        "SLEEP-S1\tEEG\t23:59:00.000\t30\tN1\n"
        "PLM-LM\tLeft Leg\t23:59:10.250\t0.75\tN1\n"
    )
    path = tmp_path / "u16.txt"
    path.write_bytes(text.encode("utf-16"))
    r = read_psg(path)
    assert r.start == dt.datetime(2026, 3, 1, 23, 59, 0)
    assert r.movements.onset_s.tolist() == [10.25] and r.movements.duration_s.tolist() == [0.75]
    hyp = r.context.hypnogram
    assert hyp is not None and hyp.stage.tolist() == ["N1"]


def test_remlogic_without_a_date_keeps_times_of_day(tmp_path):
    text = remlogic_text([("22:00:00", "SLEEP-S0", "30", "EEG")], date="someday")
    path = tmp_path / "nodate.txt"
    path.write_text(text)
    r = read_psg(path)
    assert not r.date_known and r.start.time() == dt.time(22, 0)
    assert r.describe()["clock"].endswith("(the file gave none)")


def test_edf_annotations(tmp_path):
    ann = [
        (10.0, 30.0, "Sleep stage W"),
        (40.0, None, "Sleep stage 4"),  # no duration: one 30-s epoch
        (70.0, 30.0, "Sleep stage R"),
        (45.0, 1.5, "LM left"),
        (50.0, 2.0, "Leg movement (right)"),
        (55.0, 2.0, "LM"),
        (60.0, None, "LM left"),  # no duration: skipped
        (75.0, 12.0, "Hypopnea"),
        (80.0, 5.0, "Arousal"),
        (85.0, 1.0, "  "),  # empty text
    ]
    path = write_edf(tmp_path / "h.edf", START, ann)
    r = read_psg(path)
    # Onsets stay those of the file: t = 0 is the file's start, not the first row.
    assert r.start == START
    assert r.movements.onset_s.tolist() == [45.0, 50.0, 55.0]
    assert r.movements.leg.tolist() == ["left", "right", ""]
    hyp = r.context.hypnogram
    assert hyp is not None
    assert hyp.stage.tolist() == ["W", "N3", "R"]
    assert hyp.start_s.tolist() == [10.0, 40.0, 70.0] and hyp.end_s.tolist() == [40.0, 70.0, 100.0]
    assert r.context.respiratory is not None and r.context.respiratory.onset_s.tolist() == [75.0]
    assert r.context.arousals is not None and len(r.context.arousals) == 1
    assert r.skipped == {"zero-duration lm": 1, "empty annotation": 1}


def test_overlapping_stage_rows(tmp_path):
    # A duplicated epoch (same start) is dropped; one starting inside the one before
    # is moved to where that one ends.
    rows = [
        ("2026-03-01T23:00:00.000000", "SLEEP-S2", "30", "EEG"),
        ("2026-03-01T23:00:00.000000", "SLEEP-S2", "30", "EEG"),
        ("2026-03-01T23:00:20.000000", "SLEEP-S3", "30", "EEG"),
    ]
    r = read_psg(write_remlogic(tmp_path / "o.txt", rows))
    hyp = r.context.hypnogram
    assert hyp is not None
    assert hyp.start_s.tolist() == [0.0, 30.0] and hyp.end_s.tolist() == [30.0, 50.0]
    assert r.skipped == {"stage inside the one before": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"RemLogic Event Export\nPatient ID:\tx\n", "no 'Time [hh:mm:ss]' table header"),
        (b"RemLogic Event Export\nTime [hh:mm:ss]\tEvent\n", "lacks the duration column"),
        (
            b"RemLogic Event Export\nTime [hh:mm:ss]\tEvent\tDuration[s]\n12:00:00\tSNORE\t1\n",
            "no sleep stage, leg movement or scored event",
        ),
        (b"0       garbage that is not an EDF header", "not a readable EDF+ file"),
    ],
)
def test_bad_psg_files_are_one_line_and_exit_2(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    r = subprocess.run(
        [sys.executable, "-m", "legsense", "score", str(path)], capture_output=True, text=True
    )
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_edf_without_annotations_is_refused(tmp_path):
    import edfio

    path = tmp_path / "plain.edf"
    edfio.Edf([edfio.EdfSignal(np.zeros(10), sampling_frequency=1.0)]).write(path)
    assert main(["score", str(path)]) == 2


def test_patient_fields_never_reach_the_output(tmp_path, capsys):
    path = write_edf(
        tmp_path / "p.edf", START, [(0.0, 30.0, "Sleep stage 2"), (5.0, 2.0, "LM left")]
    )
    assert main(["score", str(path), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    for text in [out] + [f.read_text() for f in (tmp_path / "o").glob("*.*") if f.suffix != ".png"]:
        assert PATIENT_ID not in text and PATIENT_NAME not in text
        assert "2026-03-01" not in text  # nor the date of the recording
    assert "sha256" in out


# --- what real RemLogic exports look like (MATPLM's sample nights, read in 2026) -------
#
# Hand-made rows with every feature those exports have: CRLF line ends, a "Patient:"
# line and an empty "Patient ID:", "Time [hh:mm:ss.xxx]" with ISO date-times to the
# microsecond, durations written "30.00", trailing blanks after a location, an event
# before the first epoch, zero-duration LM rows, tibialis channels named
# LAntib1-LAntib2 / RAntib1-RAntib2, and RERAs exported as AROUSAL-RERA.

REAL_HEADER = (
    "RemLogic Event Export\r\n"
    f"Patient:\t{PATIENT_NAME}\r\n"
    "Patient ID:\t\r\n"
    "Recording Date:\t11/9/2016\r\n"
    "\r\n"
    "Events Included:\r\n"
    "AROUSAL-RERA\r\n"
    "PLM-LM\r\n"
    "\r\n"
    "Time [hh:mm:ss.xxx]\tEvent\tDuration[s]\tLocation\r\n"
)
REAL_ROWS = [
    "2016-11-09T23:59:50.500000\tAROUSAL\t3.00\tEMG.Chin-Lower.Left",  # before epoch 1
    "2016-11-10T00:00:00.000000\tSLEEP-S0\t30.00\tEKG",
    "2016-11-10T00:00:30.000000\tSLEEP-S2\t30.00\tEKG  ",  # trailing blanks
    "2016-11-10T00:00:35.250000\tPLM-LM\t0.00\tEMG.Tibialis-Leg.Right",  # zero duration
    "2016-11-10T00:00:40.125000\tPLM-LM\t1.50\tRAntib1-RAntib2",
    "2016-11-10T00:00:40.500000\tPLM-LM\t2.00\tLAntib1-LAntib2",
    "2016-11-10T00:00:41.000000\tHYPOPNEA\t12.50\tResp.Pressure-Cannula.Nasal",
    "2016-11-10T00:00:50.000000\tAROUSAL-RERA\t20.00\tThermistor",
]


def test_remlogic_real_export_layout(tmp_path):
    path = tmp_path / "RZ-like-Events.txt"
    path.write_bytes((REAL_HEADER + "\r\n".join(REAL_ROWS) + "\r\n").encode())
    r = read_psg(path)
    # t = 0 is the earliest row, the arousal at 23:59:50.5 the day before the epochs.
    assert r.start == dt.datetime(2016, 11, 9, 23, 59, 50, 500000)
    hyp = r.context.hypnogram
    assert hyp is not None and hyp.stage.tolist() == ["W", "N2"]
    assert hyp.start_s.tolist() == [9.5, 39.5] and hyp.hours("TIB") == pytest.approx(1 / 60)
    # 00:00:40.125 is 49.625 s after t = 0, 00:00:40.5 is 50.0 s.
    assert r.movements.onset_s.tolist() == [49.625, 50.0]
    assert r.movements.leg.tolist() == ["right", "left"]
    assert r.skipped == {"zero-duration lm": 1}
    assert r.skipped_lines == {"zero-duration lm": [14]}  # 10 header lines, then rows
    # RERA: a respiratory event (00:00:50 = 59.5 s), next to the hypopnea (50.5 s).
    resp = r.context.respiratory
    assert resp is not None and resp.onset_s.tolist() == [50.5, 59.5]
    assert resp.label.tolist() == ["HYPOPNEA", "AROUSAL-RERA"]
    assert r.context.arousals is not None and r.context.arousals.onset_s.tolist() == [0.0]
    d = r.describe()
    assert d["lm_locations"] == [
        {"location": "RAntib1-RAntib2", "leg": "right", "lms": 1},
        {"location": "LAntib1-LAntib2", "leg": "left", "lms": 1},
    ]
    assert PATIENT_NAME not in str(d) and "2016" not in str(d)
    # The two tibialis channels overlap: one bilateral LM from 49.625 to 52.0 s.
    out = tmp_path / "o"
    assert main(["score", str(path), "--out", str(out)]) == 0
    lms = (out / "lms.csv").read_text().splitlines()
    assert len(lms) == 2 and lms[1].startswith("49.625,52.000,2.375,bilateral,")


def paired_channels(tmp_path, n=6):
    """Six LMs 20 s apart scored on both tibialis channels at once (2 s each), in N2."""
    t0 = dt.datetime(2016, 11, 10, 1, 0, 0)
    rows = [(k * 30.0, "SLEEP-S2", "30", "EKG") for k in range(6)]
    for k in range(n):
        rows.append((20.0 + 20 * k, "PLM-LM", "2", "LAntib1-LAntib2"))
        rows.append((20.0 + 20 * k, "PLM-LM", "2", "RAntib1-RAntib2"))
    rows.sort(key=lambda r: r[0])
    stamp = [(t0 + dt.timedelta(seconds=s)).isoformat(timespec="microseconds") for s, *_ in rows]
    iso = [(when, *r[1:]) for when, r in zip(stamp, rows, strict=True)]
    return write_remlogic(tmp_path / "pairs-Events.txt", iso)


def test_both_tibialis_channels_make_bilateral_series(tmp_path, capsys):
    # Each pair overlaps: 6 bilateral LMs 20 s apart: one series, 6 PLMs of 6 CLMs.
    path = paired_channels(tmp_path)
    assert main(["score", str(path)]) == 0
    captured = capsys.readouterr()
    s = json.loads(captured.out)
    assert (s["lm_count"], s["bilateral_lm_count"], s["plm_count"]) == (6, 6, 6)
    assert s["periodicity_index"] == 1.0 and captured.err == ""


def test_an_unrecognised_leg_channel_breaks_the_night_and_is_reported(tmp_path, capsys):
    # With a left pattern that misses "LAntib", the left LMs have no side: they pair
    # with nothing, so each right LM has an unsided twin at the same onset. 12 LMs in
    # time order R U R U ...: every second one has an IMI of 0 s (< 10 s), a
    # breakpoint, so no run reaches 4 CLMs: 0 PLMs (this is how such a night lost its
    # series before the LAntib/RAntib names were known).
    path = paired_channels(tmp_path)
    assert main(["score", str(path), "--left-location", "Left"]) == 0
    captured = capsys.readouterr()
    s = json.loads(captured.out)
    assert (s["lm_count"], s["clm_count"], s["plm_count"]) == (12, 12, 0)
    assert "warning: 6 leg movements have no side (location 'LAntib1-LAntib2')" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert {"location": "LAntib1-LAntib2", "leg": "unknown", "lms": 6} in s["psg"]["lm_locations"]


def test_a_remlogic_rera_makes_the_lm_after_it_respiratory(tmp_path, capsys):
    # Left LMs (2 s) at 20 40 60 80 100 s in N2; a RERA exported as AROUSAL-RERA from
    # 39 s for 20 s ends at 59 s: the 2016 window is 57-69.25 s and holds the LM at
    # 60-62 s. It is not a CLM and ends the series: 20 40 | 80 100, two runs of 2,
    # 0 PLMs of 4 CLMs. Counting apneas and hypopneas only, the row is an arousal
    # (AROUSAL*) and 20-100 is one series: 5 PLMs of 5 CLMs.
    t0 = dt.datetime(2016, 11, 10, 1, 0, 0)

    def at(s: float) -> str:
        return (t0 + dt.timedelta(seconds=s)).isoformat(timespec="microseconds")

    rows = [(at(30.0 * k), "SLEEP-S2", "30", "EKG") for k in range(5)]
    rows += [(at(t), "PLM-LM", "2", "EMG.Tibialis-Leg.Left") for t in (20, 40, 60, 80, 100)]
    rows.append((at(39), "AROUSAL-RERA", "20", "Thermistor"))
    path = write_remlogic(tmp_path / "rera-Events.txt", sorted(rows))
    assert main(["score", str(path)]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["clm_count"], s["plm_count"]) == (4, 0)
    assert s["respiratory"]["related_lm_count"] == 1 and s["arousals"]["events"] == 0
    argv = ["score", str(path), "--resp-event", "APNEA*", "--resp-event", "HYPOPNEA*"]
    assert main(argv) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["clm_count"], s["plm_count"]) == (5, 5) and s["arousals"]["events"] == 1
