"""atomic_file: the host's one way to write a single file whole or not at all."""

from __future__ import annotations

import os
import stat

import pytest
from legsense.atomic_file import write_atomically, write_bytes_atomically, write_text_atomically


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "summary.json"
    write_text_atomically(path, "old\n")

    def half_then_fail(f):
        f.write(b"new, half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        write_atomically(path, half_then_fail)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_the_file_gets_the_usual_mode_not_mkstemps_0600(tmp_path):
    path = tmp_path / "report.html"
    write_bytes_atomically(path, b"<html></html>")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_a_missing_folder_fails_unless_asked_to_make_it(tmp_path):
    path = tmp_path / "a" / "b" / "diary.csv"
    with pytest.raises(FileNotFoundError):
        write_text_atomically(path, "x\n")
    write_text_atomically(path, "x\n", make_parents=True)
    assert path.read_text() == "x\n"
