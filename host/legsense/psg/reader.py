"""Read a PSG event file of either supported format, told apart by its content."""

from __future__ import annotations

from pathlib import Path

from legsense.errors import InputError
from legsense.psg.edf_annotations import looks_like_edf, read_edf_annotations
from legsense.psg.labels import EventPatterns
from legsense.psg.record import PsgRecord
from legsense.psg.remlogic import looks_like_remlogic, read_remlogic


def is_psg_file(path: Path) -> bool:
    """True for an EDF(+) file or a RemLogic export (by content, not by name)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return looks_like_edf(head) or looks_like_remlogic(head)


def read_psg(path: Path, patterns: EventPatterns | None = None) -> PsgRecord:
    """A PsgRecord from a RemLogic export or an EDF+ annotation file.

    InputError (exit 2) for a missing file or one of neither format.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None
    if looks_like_edf(head):
        return read_edf_annotations(path, patterns)
    if looks_like_remlogic(head):
        return read_remlogic(path, patterns)
    raise InputError("not a PSG event file: expected an EDF+ file or a RemLogic event export", path)
