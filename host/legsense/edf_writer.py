"""night.edf: the night as EDF+ (edfio), the exchange format of sleep medicine.

Signals, one sample per epoch (30 s by default) from the first epoch to the last, zero
where the device recorded no epoch: activity (mg·s), active time (s), posture x, y, z
(mg, the mean gravity vector). Annotations: one "LM" per leg movement as scored, one
"PLM" per periodic one, one "PLM series N" spanning each series. Onsets are seconds
since the recording start, which is the night's UTC start (EDF keeps local time; ours
is UTC and the recording field says so).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import edfio
import edfio.edf_annotations as _edf_annotations
import numpy as np

from legsense.night import Epochs, NightInfo
from legsense.scoring import Scoring

SIGNALS = ("activity", "active time", "posture x", "posture y", "posture z")


def _grid(epochs: Epochs) -> tuple[np.ndarray, np.ndarray]:
    # Epoch slot per row (start / epoch length, rounded) and the slot count.
    slots = np.rint(epochs.start_s / epochs.epoch_s).astype(np.int64)
    n = int(slots.max()) + 1 if len(slots) else 1
    return slots, np.arange(n)


def _signal(values: np.ndarray, fs: float, label: str, unit: str, lo: float, hi: float):
    if hi <= lo:
        hi = lo + 1.0
    return edfio.EdfSignal(
        np.asarray(values, dtype=np.float64),
        sampling_frequency=fs,
        label=label,
        physical_dimension=unit,
        physical_range=(lo, hi),
    )


def _code(text: str) -> str:
    # EDF+ subfields are single words of printable ASCII.
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    return cleaned or "X"


@contextlib.contextmanager
def _annotation_records_padded() -> Iterator[None]:
    """Pad EDF+ annotation records to a power-of-two number of samples while writing.

    edfio (0.4.18, pinned) gives the annotation signal k/30 samples per second for k
    samples per 30-s record and checks that every signal lasts as long to 12 decimals:
    for about one k in five, k*N / (k/30) misses N*30 by a float's last bit on nights of
    a few hours, and the whole EDF is refused. With k a power of two, k/30 is 1/30
    scaled exactly, so the annotation signal lasts exactly as long as the others. The
    padding is NUL bytes, which EDF+ defines as the filler of annotation records.
    """
    original = _edf_annotations._data_records_to_annotations_signal

    def padded(data_records, signal_class, data_record_duration):
        if data_records:
            width = signal_class._bytes_per_sample
            samples = -(-max(len(r) for r in data_records) // width)
            target = 1 << max(0, samples - 1).bit_length()
            data_records = [data_records[0].ljust(target * width, b"\x00"), *data_records[1:]]
        return original(data_records, signal_class, data_record_duration)

    _edf_annotations._data_records_to_annotations_signal = padded
    try:
        yield
    finally:
        _edf_annotations._data_records_to_annotations_signal = original


def write_edf(
    path: Path, epochs: Epochs, scoring: Scoring, info: NightInfo, device_id: str = ""
) -> None:
    """Write night.edf for a scored night."""
    slots, grid = _grid(epochs)
    n = len(grid)
    columns = {
        "activity": np.zeros(n),
        "active time": np.zeros(n),
        "posture x": np.zeros(n),
        "posture y": np.zeros(n),
        "posture z": np.zeros(n),
    }
    columns["activity"][slots] = epochs.activity_mg_s
    columns["active time"][slots] = epochs.active_s
    for axis, name in enumerate(("posture x", "posture y", "posture z")):
        columns[name][slots] = epochs.posture_mg[:, axis] if len(epochs) else []
    fs = 1.0 / epochs.epoch_s
    signals = [
        _signal(columns["activity"], fs, "activity", "mg*s", 0.0, float(columns["activity"].max())),
        _signal(
            columns["active time"],
            fs,
            "active time",
            "s",
            0.0,
            max(epochs.epoch_s, float(columns["active time"].max())),
        ),
    ]
    for name in ("posture x", "posture y", "posture z"):
        signals.append(_signal(columns[name], fs, name, "mg", -32768.0, 32767.0))
    annotations = []
    lms = scoring.lms
    for i in range(len(lms)):
        onset = float(lms.onset_s[i])
        duration = float(lms.offset_s[i] - lms.onset_s[i])
        annotations.append(edfio.EdfAnnotation(onset, duration, "LM"))
        if lms.plm[i]:
            annotations.append(edfio.EdfAnnotation(onset, duration, "PLM"))
    for k in range(1, int(lms.series.max()) + 1 if len(lms) else 1):
        members = np.flatnonzero(lms.series == k)
        if len(members):
            a = float(lms.onset_s[members[0]])
            b = float(lms.offset_s[members[-1]])
            annotations.append(edfio.EdfAnnotation(a, b - a, f"PLM series {k}"))
    start = info.start_utc
    recording = edfio.Recording(
        startdate=start.date() if start is not None else None,
        equipment_code=_code(f"legsense_{device_id}" if device_id else "legsense"),
        additional=("times_UTC",),
    )
    with _annotation_records_padded():
        edf = edfio.Edf(
            signals,
            recording=recording,
            starttime=_start_time(start),
            data_record_duration=epochs.epoch_s,
            annotations=annotations,
        )
    edf.write(path)


def _start_time(start: dt.datetime | None) -> dt.time | None:
    if start is None:
        return None
    return start.astimezone(dt.UTC).time().replace(tzinfo=None)
