"""Hand-made PSG event files for the tests: RemLogic exports and EDF+ annotation files.

Nothing here is a real recording: every row is written by the tests. The patient
fields hold made-up identifiers that the tests then look for in every output.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import edfio
import numpy as np

PATIENT_ID = "PID-7734-SECRET"
PATIENT_NAME = "Doe_Jane_Secret"

REMLOGIC_HEADER = (
    "RemLogic Event Export\n"
    f"Patient ID:\t{PATIENT_ID}\n"
    f"Patient Name:\t{PATIENT_NAME}\n"
    "Recording Date:\t{date}\n"
    "\n"
    "Events Included:\n"
    "APNEA-OBSTRUCTIVE\n"
    "AROUSAL-SPONT\n"
    "PLM-LM\n"
    "SLEEP-S0\n"
    "\n"
)


def remlogic_text(
    rows: list[tuple[str, str, str, str]],
    date: str = "7/8/2008",
    millis: bool = False,
) -> str:
    """A RemLogic export: rows of (time, event, duration, location) as text."""
    head = "Time [hh:mm:ss.xxx]" if millis else "Time [hh:mm:ss]"
    lines = [REMLOGIC_HEADER.format(date=date) + f"{head}\tEvent\tDuration[s]\tLocation"]
    lines += ["\t".join(r) for r in rows]
    return "\n".join(lines) + "\n"


def write_remlogic(path: Path, rows: list[tuple[str, str, str, str]], **kw) -> Path:
    path.write_text(remlogic_text(rows, **kw))
    return path


def clock(start: dt.datetime, seconds: float, iso: bool = True) -> str:
    t = start + dt.timedelta(seconds=seconds)
    if iso:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return t.strftime("%H:%M:%S")


STAGE_NAMES_REMLOGIC = {
    "W": "SLEEP-S0",
    "N1": "SLEEP-S1",
    "N2": "SLEEP-S2",
    "N3": "SLEEP-S3",
    "R": "SLEEP-REM",
    "": "SLEEP-MT",
}
STAGE_NAMES_EDF = {
    "W": "Sleep stage W",
    "N1": "Sleep stage 1",
    "N2": "Sleep stage 2",
    "N3": "Sleep stage 3",
    "R": "Sleep stage R",
    "": "Sleep stage ?",
}


def write_edf(
    path: Path,
    start: dt.datetime,
    annotations: list[tuple[float, float | None, str]],
    signal_s: float | None = None,
) -> Path:
    """An EDF+ file holding the annotations (and, when `signal_s` is given, one flat
    1-Hz signal of that length, as a PSG has signals)."""
    signals = []
    if signal_s is not None:
        signals.append(
            edfio.EdfSignal(np.zeros(int(signal_s)), sampling_frequency=1.0, label="EMG tib L")
        )
    edf = edfio.Edf(
        signals,
        patient=edfio.Patient(code=PATIENT_ID, name=PATIENT_NAME),
        recording=edfio.Recording(startdate=start.date()),
        starttime=start.time().replace(microsecond=0),
        annotations=[edfio.EdfAnnotation(on, dur, text) for on, dur, text in annotations],
        data_record_duration=1.0 if signal_s is not None else None,
    )
    edf.write(path)
    return path
