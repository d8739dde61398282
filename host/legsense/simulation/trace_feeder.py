"""Feed an IMU emulator from a recorded or synthetic trace, at the emulator's own rate.

The emulator samples the trace by sample-and-hold: at each of its ticks it takes the
latest trace row at or before that time (the first row before the trace starts). Its
rate is read from the emulator at every call, so a driver that reconfigures the ODR is
followed; while the sensor is powered down time passes without samples. A trace without
gyroscope columns feeds a still gyroscope (0 dps).

`rate_factor` is the IMU oscillator's error: the emulator's ODR is what its registers
say, but its ticks come `rate_factor` times as often in trace time (1.00004: 40 ppm
fast), each taking the trace as it is at that instant. `on_ticks(ticks, rows)`, when
set, is told the trace time of every sample pushed and the trace row it showed (a test
that needs to know what the IMU saw when).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np


class FeedableIMU(Protocol):
    """What the feeder needs from an emulator."""

    @property
    def odr_hz(self) -> float: ...

    def push(self, acc_g, gyr_dps=None) -> None: ...


class TraceFeeder:
    """Pushes trace samples into an emulator as simulated time advances."""

    def __init__(
        self, imu: FeedableIMU, trace, start_s: float | None = None, rate_factor: float = 1.0
    ):
        if not rate_factor > 0:
            raise ValueError(f"rate_factor must be > 0, got {rate_factor!r}")
        self.imu = imu
        self.rate_factor = float(rate_factor)
        self.on_ticks: Callable[[np.ndarray, np.ndarray], None] | None = None
        self.t_trace = np.asarray(trace.t_s, dtype=float)
        self.acc = np.asarray(trace.acc_g, dtype=float)
        self.gyr = None if trace.gyr_dps is None else np.asarray(trace.gyr_dps, dtype=float)
        self.now_s = float(self.t_trace[0]) if start_s is None else float(start_s)
        self.pushed = 0
        self._base_s = self.now_s  # time of tick 0 at the current rate
        self._rate = 0.0
        self._ticks = 0  # ticks done since _base_s

    def tick_time(self, k: int) -> float | None:
        """Trace time of the k-th sample from now (k >= 1), at the emulator's current
        rate (None while it is powered down)."""
        rate = float(self.imu.odr_hz) * self.rate_factor  # as advance_to ticks
        if rate <= 0.0:
            return None
        self.advance_to(self.now_s)  # takes up a rate change, pushes nothing new
        return self._base_s + (self._ticks + k - 1) / rate

    def advance_to(self, t_s: float) -> int:
        """Produce every tick up to and including t_s; return how many were pushed."""
        rate = float(self.imu.odr_hz) * self.rate_factor
        if rate != self._rate:  # new rate (or powered up/down): restart the tick grid
            if self._rate > 0.0 and self._ticks:  # continue from the last tick
                self._base_s += (self._ticks - 1) / self._rate
            else:  # was off: the first sample comes one period after now (or at start)
                self._base_s = self.now_s
            self._ticks = 1 if self.pushed else 0
            self._rate = rate
        if rate <= 0.0:
            self.now_s = max(self.now_s, t_s)
            return 0
        last = int(np.floor((t_s - self._base_s) * rate + 1e-9))
        if last < self._ticks:
            self.now_s = max(self.now_s, t_s)
            return 0
        ticks = self._base_s + np.arange(self._ticks, last + 1) / rate
        rows = np.maximum(np.searchsorted(self.t_trace, ticks, side="right") - 1, 0)
        if self.on_ticks is not None:
            self.on_ticks(ticks, rows)
        push_rows = getattr(self.imu, "push_rows", None)
        if push_rows is not None:  # the emulator quantises the whole batch at once
            push_rows(self.acc[rows], None if self.gyr is None else self.gyr[rows])
        else:
            zero = (0.0, 0.0, 0.0)
            for r in rows:
                acc = self.acc[r]
                gyr = zero if self.gyr is None else self.gyr[r]
                self.imu.push((acc[0], acc[1], acc[2]), (gyr[0], gyr[1], gyr[2]))
        self._ticks = last + 1
        self.now_s = max(self.now_s, t_s)
        self.pushed += len(rows)
        return len(rows)
