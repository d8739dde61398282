# ruff: noqa: UP031, RUF006  (MicroPython code, as firmware/)
# Heap probe for the virtual board (bench only, never flashed to a real board): the
# benchmark puts this file on the board's flash as /boot.py, which MicroPython runs
# before main.py. It wraps App.__init__ to find the app, then a task wakes every
# PERIOD_MS of simulated time and appends one line to /heap_probe.txt:
#
#   sim_ms state before after probe
#
# before: gc.mem_alloc() as the task wakes (live data + garbage since the last collection)
# after:  gc.mem_alloc() after a collection (live data only). This port collects only
#         when a top-level call into the VM returns, so the task asks for a collection
#         and sleeps briefly (the event loop resumes it in a new top-level call).
# probe:  bytes the probe itself allocated after `after` (its line, the list): it is in
#         the next line's `before` and is subtracted by the benchmark.
# A line "modules ..." lists the firmware modules loaded, when a night first records.

import asyncio
import gc
import sys

import machine
from legsense_device import app as _app_module
from legsense_device.session import RECORDING

PERIOD_MS = 2000
SETTLE_MS = 200
FLUSH_EVERY = 5
OUT = "/heap_probe.txt"

_apps = []
_init = _app_module.App.__init__


def _init_and_note(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    _apps.append(self)


_app_module.App.__init__ = _init_and_note


def _state():
    if not _apps:
        return "boot"
    return "recording" if _apps[-1].session.state == RECORDING else "idle"


async def _probe():
    lines = []
    listed = False
    probe = 0
    while True:
        await asyncio.sleep_ms(PERIOD_MS)
        before = gc.mem_alloc()
        gc.collect()  # only flags it: the port collects when this call returns
        await asyncio.sleep_ms(SETTLE_MS)
        after = gc.mem_alloc()
        state = _state()
        lines.append("%d %s %d %d %d\n" % (machine.sim_ticks_ms(), state, before, after, probe))
        if state == "recording" and not listed:
            listed = True
            names = [m for m in sys.modules if m.startswith("legsense")]
            lines.append("modules " + " ".join(names) + "\n")
        if len(lines) >= FLUSH_EVERY:
            with open(OUT, "a") as f:
                for line in lines:
                    f.write(line)
            lines.clear()
        probe = gc.mem_alloc() - after


asyncio.create_task(_probe())
