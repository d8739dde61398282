"""Where a device's nights live on the host, and which stored night is which.

    DIR/<device folder>/clock.csv                   every time the host set the clock
    DIR/<device folder>/<YYYY-MM-DD>_<id>/          one night (night.bin and its files)
    DIR/<device folder>/<YYYY-MM-DD>_<id>_<tag>/    another night with the same date and id

The device folder is the device id escaped, not mapped: letters, digits, '-', '_' and
'.' (not first) stay, every other byte of its UTF-8 becomes %XX, so two ids never share
a folder ("a/b" -> "a%2Fb", "a_b" -> "a_b") and a hex id reads as itself.

A night is identified by (device id, night UID) from its header, and a night without a
UID (format 1, older firmware) by the SHA-256 of its header record; never by its id,
which restarts when a flash is erased. The index below is built from the night.bin
headers on disk, whatever the folders are called, so folders synced before this scheme
(named <date>_<id>) are found and resumed. A new night whose <date>_<id> is taken by
another night gets the UID (or the header digest) as a tag.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from legsense.errors import InputError
from legsense.night_decode import NightHeader, read_header_file
from legsense.night_folder import ensure_writable_dir, remove_leftovers
from legsense.time_base import MAX_UTC_MS, MIN_UTC_MS

NIGHT_BIN = "night.bin"
LOCK = ".sync.lock"
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def device_folder_name(device_id: str) -> str:
    """The device id as a folder name: safe characters kept, any other byte as %XX."""
    out = []
    for i, ch in enumerate(device_id):
        if ch in _SAFE and not (i == 0 and ch == "."):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out) or "%"  # an empty id: a name no other id escapes to


def night_key(header: NightHeader) -> str:
    """The identity of a stored or listed night (see the module docstring)."""
    if header.night_uid:
        return f"uid:{header.night_uid:016x}"
    return f"hdr:{header.digest}"


def uid_key(uid: int) -> str:
    return f"uid:{uid:016x}"


def night_day(start_ms: int, utc: bool) -> str:
    """YYYY-MM-DD of a night's start (UTC), or 'undated' when unknown or implausible."""
    if not utc or not MIN_UTC_MS <= start_ms < MAX_UTC_MS:
        return "undated"
    return datetime.fromtimestamp(start_ms / 1000.0, tz=UTC).strftime("%Y-%m-%d")


@dataclass
class StoredNight:
    """A night folder on disk with the header its night.bin begins with."""

    folder: Path
    header: NightHeader
    size: int

    @property
    def path(self) -> Path:
        return self.folder / NIGHT_BIN


class DeviceStore:
    """One device's folder: its index of nights, new folder names, leftovers, a lock."""

    def __init__(self, root: Path, device_id: str) -> None:
        self.device_id = device_id
        self.folder = Path(root) / device_folder_name(device_id)
        self._reserved: set[str] = set()
        self._lock_fd: int | None = None
        self.leftovers: list[Path] = []

    def open(self) -> None:
        """Create the folder (InputError when it cannot be), take the lock, and remove
        what killed runs left behind."""
        ensure_writable_dir(self.folder)
        self._lock()
        self.leftovers = remove_leftovers(self.folder)

    def close(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)  # closing the descriptor releases the lock
            self._lock_fd = None

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here; one sync at a time
            return
        fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise InputError(
                "another legsense sync is writing this folder; wait for it to finish",
                self.folder,
            ) from None
        self._lock_fd = fd

    def index(self) -> dict[str, list[StoredNight]]:
        """Every stored night by its key; folders without a readable header are skipped."""
        out: dict[str, list[StoredNight]] = {}
        try:
            entries = sorted(self.folder.iterdir())
        except OSError:
            return out
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            path = entry / NIGHT_BIN
            header = read_header_file(path)
            if header is None:
                continue
            try:
                size = path.stat().st_size
            except OSError:
                continue
            out.setdefault(night_key(header), []).append(StoredNight(entry, header, size))
        return out

    def new_night_folder(self, day: str, night_id: int, tag: str) -> Path:
        """A folder name no other night has: <day>_<id>, else with the tag, else numbered."""
        base = f"{day}_{night_id}"
        candidates = [base, f"{base}_{tag}"] + [f"{base}_{tag}-{k}" for k in range(2, 1000)]
        for name in candidates:
            if name not in self._reserved and not (self.folder / name).exists():
                self._reserved.add(name)
                return self.folder / name
        raise InputError(f"no free folder name for night {night_id}", self.folder)
