"""EDF+ files with annotations (read with edfio): the hypnogram, leg movements and
events of a PSG, or of a hypnogram-only file such as Sleep-EDF's.

Each annotation is (onset in seconds from the file's start, duration or none, text).
The text decides the kind (legsense.psg.labels: "Sleep stage W/1/2/3/4/R/?", "N1",
"REM", "LM left", "Obstructive Apnea", "Arousal", ...); the leg of a leg movement comes
from its text ("LM left", "Leg movement (right)"). A stage annotation without a
duration covers one 30-s epoch; another event without one is skipped and counted.
The start date and time come from the header; the patient and recording fields are
never read into the record.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import edfio

from legsense.errors import InputError
from legsense.night import Movements
from legsense.psg.labels import EventPatterns
from legsense.psg.record import PsgRecord, RecordBuilder, file_digest

FORMAT = "edf+"


def looks_like_edf(head: bytes) -> bool:
    """EDF and EDF+ headers start with the version field "0" padded to 8 bytes."""
    return head[:8] == b"0       "


def read_edf_annotations(path: Path, patterns: EventPatterns | None = None) -> PsgRecord:
    """Read the annotations of an EDF+ file. InputError (exit 2) when it cannot be read
    or holds no annotation."""
    path = Path(path)
    patterns = patterns or EventPatterns()
    try:
        digest = file_digest(path)
        edf = edfio.read_edf(path, lazy_load_data=True)
        annotations = edf.annotations
        start = edf.startdatetime
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None
    except (ValueError, IndexError, UnicodeDecodeError, AttributeError) as exc:
        raise InputError(f"not a readable EDF+ file: {exc}", path) from None
    if not annotations:
        raise InputError("the file holds no annotations (an EDF+ annotation file is needed)", path)
    if isinstance(start, datetime) and start.tzinfo is not None:
        start = start.replace(tzinfo=None)
    builder = RecordBuilder(patterns, FORMAT, digest)
    for number, ann in enumerate(annotations, start=1):
        text = (ann.text or "").strip()
        if not text:
            builder.skip("empty annotation", number)
            continue
        onset = float(ann.onset)
        if onset != onset:
            builder.skip("unreadable onset", number)
            continue
        duration = None if ann.duration is None else float(ann.duration)
        builder.add(start + timedelta(seconds=onset), duration, text, "", number)
    try:
        record = builder.build()
    except ValueError as exc:
        raise InputError(str(exc), path) from None
    return _anchor_at_file_start(record, start)


def _anchor_at_file_start(record: PsgRecord, start: datetime) -> PsgRecord:
    """EDF+ onsets count from the file's start; keep that origin when it is earlier
    than every annotation (the usual case), so times match the file's own."""
    shift = (record.start - start).total_seconds()
    if shift <= 0:
        return record
    m = record.movements
    return replace(
        record,
        start=start,
        movements=Movements.from_arrays(m.onset_s + shift, m.offset_s + shift, m.leg),
        context=record.context.shifted(shift),
        desaturations=record.desaturations.shifted(shift),
    )
