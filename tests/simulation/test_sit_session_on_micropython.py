"""The SIT rating scheme (firmware/legsense_device/sit_session.py) on the real MicroPython
VM: the same prompts, ratings and end as the scheme says (docs/firmware.md, "A SIT on
the device"), so the module runs on the board's interpreter, not only on CPython."""

from __future__ import annotations

import pytest
from legsense.simulation import micropython_vm as mpvm

pytestmark = pytest.mark.micropython

SCRIPT = """
from legsense_device.sit_session import SitSession
s = SitSession(3, 1)
M = 60000
out = []
out.append(s.tick(M))
s.press(M + 1000); s.press(M + 2000); s.press(M + 2500)
out.append(s.tick(M + 5499))
out.append(s.tick(M + 5500))
out.append(s.press(M + 30000))
out.append(s.tick(2 * M))
out.append(s.tick(3 * M))
out.append(s.long_press())
out.append(s.tick(3 * M + 100))
out.append(s.header()['mode'])
try:
    s.host_rating(11)
    out.append('no error')
except ValueError:
    out.append('ValueError')
print(repr(out))
"""

# By the scheme: prompt at 1 min; 3 presses, the last at +2.5 s, rating 3 at +5.5 s; a
# press outside a prompt is not counted; prompt at 2 min; missed when it closes at 3 min
# as the last prompt (due at the end) opens; a long press answers 0; then done.
EXPECTED = [
    [("prompt",)],
    [],
    [("rating", 3, "button")],
    False,
    [("prompt",)],
    [("rating", 255, "button"), ("prompt",)],
    ("rating", 0, "button"),
    [("done",)],
    "sit",
    "ValueError",
]


def test_sit_scheme_on_micropython():
    reason = mpvm.unavailable_reason()
    if reason:
        pytest.skip(reason)
    vm = mpvm.MicroPythonVM(mounts={"/": mpvm.FIRMWARE_DIR}, timeout_s=60)
    result = vm.run([SCRIPT]).check()
    line = result.stdout.strip().splitlines()[-1]
    assert line == repr(EXPECTED)
