"""Progress for long work: a bar on a terminal, a few plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Report progress of `total` units (samples, bytes) on stderr.

    On a terminal: one self-overwriting line with a bar, rate and time left. Elsewhere
    (logs, CI): a plain line every 25 %, so logs stay short. Quiet when disabled.
    """

    def __init__(
        self,
        label: str,
        unit: str = "",
        stream: TextIO | None = None,
        enabled: bool = True,
        scale: float = 1.0,
    ) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.scale = scale  # display units per counted unit (e.g. 1/1e6 for MB)
        self.tty = enabled and self.stream.isatty()
        self._t0 = time.monotonic()
        self._last_draw = 0.0
        self._next_quarter = 25

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        pct = 100.0 * done / total
        now = time.monotonic()
        if self.tty:
            if now - self._last_draw < 0.1 and done < total:
                return
            self._last_draw = now
            elapsed = max(now - self._t0, 1e-9)
            rate = done / elapsed
            left = (total - done) / rate if rate > 0 else 0.0
            width = 28
            filled = int(width * done / total)
            bar = "#" * filled + "-" * (width - filled)
            rate_txt = f"{rate * self.scale:,.0f} {self.unit}/s" if self.unit else ""
            self.stream.write(f"\r{self.label} [{bar}] {pct:5.1f}% {rate_txt}  {left:4.0f} s left ")
            if done >= total:
                self.stream.write("\n")
            self.stream.flush()
        elif pct >= self._next_quarter:
            while pct >= self._next_quarter:
                self._next_quarter += 25
            self.stream.write(f"{self.label}: {pct:.0f}%\n")
            self.stream.flush()
