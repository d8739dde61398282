"""Files that appear whole or not at all: a temporary file in the same folder, written,
fsynced, renamed over the target, then the folder fsynced (the rename survives a power
cut). The one implementation the host uses for single files; a night folder's several
files go through night_folder.atomic_folder, which uses the fsyncs here.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO


def fsync_dir(folder: Path) -> None:
    """Make the entries of `folder` (a rename into it) durable; best effort where a folder
    cannot be opened (some platforms)."""
    try:
        fd = os.open(folder if str(folder) else ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file written elsewhere to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(
    path: Path, write: Callable[[BinaryIO], Any], *, make_parents: bool = False
) -> None:
    """Write `path` through `write(file)` atomically. OSError as raised (a missing or
    read-only folder fails before anything is written); the temporary file never stays."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if make_parents:
        folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def write_bytes_atomically(path: Path, data: bytes, *, make_parents: bool = False) -> None:
    """`data` as the whole of `path`, atomically."""
    write_atomically(path, lambda f: f.write(data), make_parents=make_parents)


def write_text_atomically(path: Path, text: str, *, make_parents: bool = False) -> None:
    """`text` (UTF-8, newlines as given) as the whole of `path`, atomically."""
    write_bytes_atomically(path, text.encode("utf-8"), make_parents=make_parents)


def write_png_atomically(fig: Any, path: Path, dpi: float) -> None:
    """A matplotlib figure as a PNG at `path`, atomically."""
    write_atomically(path, lambda f: fig.savefig(f, format="png", dpi=dpi))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
