"""Reading PSG event files: RemLogic exports and EDF+ annotations, the odd rows too.

Every file is written by the test; the expectations are what each row says.
"""

from __future__ import annotations

import datetime as dt
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
