"""Device time -> UTC for one night, from its clock anchors: steps are steps, drift is drift.

A night log holds an anchor each time a host set the device clock (the header's, then an
anchor record per setting during the night), each a pair (device ms since the night's
start, UTC ms). Two anchors can disagree for two reasons:

* drift: the crystal ran a few tens of ppm fast or slow. The anchors then differ from
  the device's count by a small fraction of the time between them; interpolating
  between them corrects the event times.
* a step: the clock was set wrong (minutes, hours, a day off) and later corrected. The
  device's own count of milliseconds was right all along; only the UTC it was given was
  not. Interpolating across such a pair would squeeze or stretch the whole night (a
  21-million-ppm "drift" turned a night of 0.13 h into 0.0084 h before this module).

So anchors are split into eras at every step. Within an era, a pair of anchors at least
MIN_DRIFT_SPAN_MS apart whose rate is within MAX_DRIFT_PPM is a drift measurement and
used (piecewise linear, as legsense_core.clock.ClockMap does); closer or wilder pairs
that agree within STEP_TOLERANCE_MS are noise and the later one is not used. The latest
era fixes the UTC level (a correction corrects what came before); each earlier era keeps
its own rate and is joined to the next where the step happened, so event spacing is the
device's, drift-corrected, and never rescaled by a step.

Anchors outside 2000-2100 UTC or beyond MAX_NIGHT_MS are ignored with a warning.
Vectorised with numpy: any number of anchors and events costs O((a + e) log a).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

MIN_UTC_MS = 946_684_800_000  # 2000-01-01
MAX_UTC_MS = 4_102_444_800_000  # 2100-01-01
MAX_NIGHT_MS = 7 * 24 * 3600 * 1000  # device time of a night we believe (a week)
MAX_DRIFT_PPM = 500.0  # a crystal is tens of ppm off; more is a step or a bad anchor
MIN_DRIFT_SPAN_MS = 600_000  # anchors closer than 10 min measure latency, not drift
STEP_TOLERANCE_MS = 2_000  # anchors that agree this well are the same setting, give or take
MAX_WARNINGS = 10


@dataclass
class Era:
    """Anchors between two steps: the ones used, as arrays of device ms and UTC ms."""

    dev: np.ndarray
    utc: np.ndarray
    shift: float = 0.0  # added so this era meets the next at its first anchor

    def level(self, dev_ms: np.ndarray) -> np.ndarray:
        """This era's own mapping: piecewise linear, the end segments' rates beyond."""
        d = self.dev
        u = self.utc
        if len(d) == 1:
            return u[0] + (dev_ms - d[0]) + self.shift
        i = np.clip(np.searchsorted(d, dev_ms, side="right") - 1, 0, len(d) - 2)
        rate = (u[i + 1] - u[i]) / (d[i + 1] - d[i])
        return u[i] + (dev_ms - d[i]) * rate + self.shift


@dataclass
class TimeBase:
    """What the anchors of one night say: see the module docstring."""

    eras: list[Era] = field(default_factory=list)
    steps: list[tuple[int, float]] = field(default_factory=list)  # (device ms, step ms)
    drift_ppm: float | None = None
    drift_reason: str | None = "the device clock was never set"
    warnings: list[str] = field(default_factory=list)
    anchors_used: int = 0
    anchors_ignored: int = 0  # implausible ones (warned about)
    anchors_redundant: int = 0  # settings that agreed with one just before: nothing new

    @property
    def utc_known(self) -> bool:
        return bool(self.eras)

    def to_utc(self, dev_ms: np.ndarray | list[int] | int) -> np.ndarray:
        """UTC epoch ms (float) of device ms; raises ValueError without any anchor."""
        d = np.asarray(dev_ms, dtype=np.float64)
        if not self.eras:
            raise ValueError("no clock anchor: the device time was never set")
        out = self.eras[-1].level(d)
        for k in range(len(self.eras) - 2, -1, -1):  # earlier eras below their step
            before = d < self.eras[k + 1].dev[0]
            if before.any():
                out = np.where(before, self.eras[k].level(d), out)
        return out

    def seconds_since(self, origin_ms: int, dev_ms: np.ndarray) -> np.ndarray:
        """Seconds from device ms origin_ms to each of dev_ms on the corrected time base.

        Without anchors, the device's own milliseconds.
        """
        d = np.asarray(dev_ms, dtype=np.int64)
        if not self.eras:
            return (d - origin_ms) / 1000.0
        return (self.to_utc(d) - self.to_utc(np.array([origin_ms]))[0]) / 1000.0

    def summary(self) -> dict:
        """The `clock` block of summary.json."""
        return {
            "utc_known": self.utc_known,
            "steps": len(self.steps),
            "step_ms": [round(s) for _, s in self.steps[:MAX_WARNINGS]],
            "drift_ppm": None if self.drift_ppm is None else round(self.drift_ppm, 1),
            "drift_reason": self.drift_reason,
            "anchors_used": self.anchors_used,
            "anchors_ignored": self.anchors_ignored,
            "anchors_redundant": self.anchors_redundant,
            "warnings": list(self.warnings),
        }


def _warn(tb: TimeBase, text: str) -> None:
    if len(tb.warnings) < MAX_WARNINGS:
        tb.warnings.append(text)


def build_time_base(
    anchors: Sequence[tuple[int, int]], after: Sequence[tuple[int, int]] = ()
) -> TimeBase:
    """The time base of a night from its anchors (device ms, UTC ms), in log order.

    `after`: anchors known from the host's clock log (after the night's last one); they
    were already sanity-checked by clock_log.anchor_after and are treated alike.
    """
    tb = TimeBase()
    good: list[tuple[int, int]] = []
    bad = 0
    first_bad: tuple[int, int] | None = None
    for d, u in [*anchors, *after]:
        if MIN_UTC_MS <= u < MAX_UTC_MS and abs(d) <= MAX_NIGHT_MS:
            good.append((int(d), int(u)))
        else:
            bad += 1
            first_bad = first_bad or (int(d), int(u))
    if bad and first_bad is not None:
        tb.anchors_ignored += bad
        _warn(
            tb,
            f"{bad} clock anchor(s) ignored as implausible (first: device {first_bad[0]} "
            f"ms = UTC {first_bad[1]} ms, outside 2000-2100 or beyond a week)",
        )
    if not good:
        if bad:
            tb.drift_reason = "no plausible clock anchor"
        return tb
    a = np.asarray(good, dtype=np.int64).reshape(-1, 2)
    dev = a[:, 0]
    utc = a[:, 1]
    # Sort by device time; for equal device times the later setting wins.
    order = np.lexsort((np.arange(len(dev)), dev))
    dev = dev[order]
    utc = utc[order]
    keep = np.ones(len(dev), dtype=bool)
    keep[:-1] = dev[1:] != dev[:-1]
    dev = dev[keep]
    utc = utc[keep]

    eras: list[tuple[list[int], list[int]]] = [([int(dev[0])], [int(utc[0])])]
    drift_dd = 0  # device ms over the drift segments used
    drift_du = 0  # UTC ms over them
    close_pairs = 0
    for d, u in zip(dev[1:].tolist(), utc[1:].tolist(), strict=True):
        used_d, used_u = eras[-1]
        dd = d - used_d[-1]
        du = u - used_u[-1]
        ppm = (dd - du) * 1e6 / du if du > 0 else float("inf")
        if dd >= MIN_DRIFT_SPAN_MS and abs(ppm) <= MAX_DRIFT_PPM:
            used_d.append(d)
            used_u.append(u)
            drift_dd += dd
            drift_du += du
        elif abs(du - dd) <= STEP_TOLERANCE_MS:
            close_pairs += 1  # the same setting within latency: nothing new to learn
        else:
            tb.steps.append((d, float((u - used_u[-1]) - dd)))
            eras.append(([d], [u]))
    tb.eras = [
        Era(np.asarray(d, dtype=np.float64), np.asarray(u, dtype=np.float64)) for d, u in eras
    ]
    tb.anchors_used = sum(len(d) for d, _ in eras)
    tb.anchors_redundant = close_pairs
    # Join each earlier era to the next at the step: same UTC there as the later era says.
    for k in range(len(tb.eras) - 2, -1, -1):
        era, nxt = tb.eras[k], tb.eras[k + 1]
        at = nxt.dev[:1]
        era.shift += float(nxt.level(at)[0] - era.level(at)[0])
    if drift_du > 0:
        tb.drift_ppm = (drift_dd - drift_du) * 1e6 / drift_du
        tb.drift_reason = None
    elif tb.anchors_used + close_pairs == 1:
        tb.drift_reason = "one clock anchor: drift needs a second setting"
    elif tb.steps and all(len(e.dev) == 1 for e in tb.eras):
        tb.drift_reason = "every later setting was a step correction, none measured drift"
    else:
        tb.drift_reason = "clock anchors less than 10 min apart"
    return tb
