"""Shared pytest options, and the shared test helpers on sys.path.

The tests mirror the layers: portable/ (the core, also run on the MicroPython VM),
device/, host/, simulation/, hardware/. Helpers used across them (link_device.py,
sync_harness.py, app_harness.py, portable/imu_synth.py) are importable by name.
"""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
for helper_dir in (TESTS, TESTS / "portable"):
    if str(helper_dir) not in sys.path:
        sys.path.insert(0, str(helper_dir))


def pytest_addoption(parser):
    parser.addoption(
        "--hil-port",
        default=None,
        help="serial port of a real board for the HIL replay tests (or set LEGSENSE_PORT)",
    )
