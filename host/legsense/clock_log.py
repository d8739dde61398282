"""The host's log of every time it set a device's clock, and the anchors it yields.

DIR/<device-id>/clock.csv, one line per SET_TIME, appended durably:

    sent_utc_ms,mid_utc_ms,previous_utc_ms,ticks_ms,rtt_ms

A night log holds the anchors set while it recorded (its header's and its anchor
records), but a night that ended before the morning sync has none after its end: its
drift is unknown from the night alone. The sync's SET_TIME reply carries the device's
own estimate of UTC just before (previous_utc_ms), which the device counted from its
latest anchor. When that anchor is the night's last one (the log line before has the
same sent_utc_ms), the estimate says how many device ms passed since it, and the host's
UTC at the round trip's midpoint says how many really did: one more anchor, after the
night, for ClockMap to interpolate against.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

from legsense.device_client import TimeSetting
from legsense.errors import InputError

COLUMNS = ["sent_utc_ms", "mid_utc_ms", "previous_utc_ms", "ticks_ms", "rtt_ms"]
MAX_GAP_MS = 1 << 29  # the device's ticks_diff is only right within half a ticks period
MAX_DRIFT_PPM = 1000  # a crystal is tens of ppm off; more means a reboot or a bug
MIN_SPACING_MS = 1000  # an anchor this close to another adds only noise


def _repair_torn_line(path: Path) -> None:
    # A run killed while appending leaves a last line without its newline; appending
    # behind it would glue two settings into one bad line in the middle of the log.
    try:
        with open(path, "r+b") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            back = min(size, 4096)
            f.seek(size - back)
            tail = f.read(back)
            cut = tail.rfind(b"\n")
            f.truncate(size - back + cut + 1 if cut >= 0 else 0)
            f.flush()
            os.fsync(f.fileno())
    except FileNotFoundError:
        return


def append(path: Path, setting: TimeSetting) -> None:
    """Append one SET_TIME to the log and fsync it (a torn last line is dropped first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _repair_torn_line(path)
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        if new:
            w.writerow(COLUMNS)
        w.writerow(
            [
                setting.sent_utc_ms,
                setting.mid_utc_ms,
                setting.previous_utc_ms,
                setting.ticks_ms,
                setting.rtt_ms,
            ]
        )
        f.flush()
        os.fsync(f.fileno())


def read(path: Path) -> list[TimeSetting]:
    """The log's settings in order ([] when there is no log)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    rows = list(csv.reader(text.splitlines()))
    if not rows or rows[0] != COLUMNS:
        raise InputError(f"expected the header {','.join(COLUMNS)}", path, 1)
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            values = [int(v) for v in row]
        except ValueError:
            values = []
        if len(values) != len(COLUMNS):
            if line == len(rows):
                continue  # a line torn by a crash while appending: the last one only
            raise InputError(f"expected {len(COLUMNS)} integers", path, line)
        out.append(TimeSetting(*values))
    return out


def anchor_after(
    night_anchors: list[tuple[int, int]],
    log: list[TimeSetting],
    warn: Callable[[str], None] | None = None,
) -> tuple[int, int] | None:
    """(device ms, UTC ms) of the first setting after the night's last anchor, or None.

    Only when the log knows that anchor (a setting sent exactly its UTC) and the next
    setting found the device still counting from it (no reboot, no other host between)
    and the two agree within the drift sanity limit; an implausible one is reported
    through `warn` and not used.
    """
    if not night_anchors:
        return None
    dev_last, utc_last = max(night_anchors)
    for i, s in enumerate(log[:-1]):
        if s.sent_utc_ms != utc_last:
            continue
        nxt = log[i + 1]
        elapsed = nxt.previous_utc_ms - utc_last  # device ms since the anchor
        real = nxt.mid_utc_ms - utc_last
        if nxt.previous_utc_ms == 0 or not MIN_SPACING_MS <= elapsed < MAX_GAP_MS:
            return None
        if abs(elapsed - real) * 1_000_000 > MAX_DRIFT_PPM * real:
            if warn is not None:
                span = f"{real / 3.6e6:.1f} h" if real >= 3_600_000 else f"{real / 1000:.0f} s"
                warn(
                    f"the clock setting after the night found the device {elapsed - real:+d} "
                    f"ms off after {span}: more than {MAX_DRIFT_PPM} ppm, not drift (another "
                    "host set it, or it reset, or a virtual board ran fast): ignored"
                )
            return None
        dev_ms = dev_last + elapsed
        if any(abs(dev_ms - d) < MIN_SPACING_MS for d, _ in night_anchors):
            return None
        return dev_ms, nxt.mid_utc_ms
    return None
