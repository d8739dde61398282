# Light sleep between FIFO bursts: which pins may end a sleep, and the sleep counters.
#
# The ESP32 leaves light sleep on a timer or on a level at RTC GPIOs: ext0 watches one
# pin for one level, ext1 watches several for "any high" or "all low". The app wants
# three sources: the IMU's FIFO interrupt (INT1), the button, and USB power appearing
# (a VBUS sense pin). wake_plan() shares them out between ext0 and ext1; with the
# boards here (INT1 and VBUS active high, the button active low) that is ext0 = the
# button at 0, ext1 = INT1 and VBUS, any high. Pure logic, no `machine`: tested on both
# interpreters.


def wake_plan(sources):
    """(ext0, ext1) for a list of (gpio, level) wake sources (level 1 or 0), or raise
    ValueError when ext0/ext1 cannot express them. ext0 = (gpio, level) or None; ext1 =
    (gpios, any_high) or None. Sources that are None are skipped."""
    highs = []
    lows = []
    for src in sources:
        if src is None:
            continue
        (highs if src[1] else lows).append(src[0])
    if len(lows) <= 1:
        ext0 = (lows[0], 0) if lows else None
        ext1 = (tuple(highs), True) if highs else None
        if ext0 is None and len(highs) == 1:  # one source: ext0 is enough
            return (highs[0], 1), None
        return ext0, ext1
    if len(highs) <= 1:
        # Several low sources: ext1 "all low" would need all of them at once, so they
        # cannot share it; one high source can still go to ext0.
        raise ValueError(
            "cannot wake on GPIO%s low with ext0/ext1 (only one active-low source fits)"
            % ", ".join(str(p) for p in lows)
        )
    raise ValueError("too many wake sources for ext0/ext1")


class SleepStats:
    """What the sleeping did: how often the MCU woke, how long it slept and was awake
    (ms by the board's ticks), and what last kept it awake."""

    def __init__(self):
        self.wakes = 0
        self.slept_ms = 0
        self.by_cause = {}
        self.awake_reason = ""
        self.since = -1  # ticks of the first sleep

    def note(self, t_before, t_after, cause, ticks_diff):
        """One light sleep from t_before to t_after (ticks ms), ended by cause."""
        if self.since < 0:
            self.since = t_before
        self.wakes += 1
        self.slept_ms += ticks_diff(t_after, t_before)
        self.by_cause[cause] = self.by_cause.get(cause, 0) + 1

    def as_dict(self, now, ticks_diff):
        """Counters for status(): wakes, slept_ms, span_ms (since the first sleep),
        awake (what keeps the board awake now, "" when it may sleep)."""
        span = ticks_diff(now, self.since) if self.since >= 0 else 0
        return {
            "wakes": self.wakes,
            "slept_ms": self.slept_ms,
            "span_ms": span,
            "awake": self.awake_reason,
        }
