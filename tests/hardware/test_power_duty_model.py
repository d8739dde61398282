"""bench/power_duty.py's awake-time model, checked on a hand-built awake log: awake per
wake = VM CPU x ratio x 240 / MHz + 1 ms wake latency + I2C clocks / 400 kHz; the night
counts from its first light sleep to the end of the trace."""

from __future__ import annotations

import pytest
from legsense.simulation.vm_board.mp_lib import sim_machine_common as common

from bench import power_duty as pd

INT1, TIMER = common.EXT1_WAKE, common.TIMER_WAKE


def _night() -> dict:
    # First sleep at 60 s, trace ends at 60 s + 1 h. Before it, the boot stretch (not
    # counted); then two INT1 bursts and one timer wake; one stretch after the end.
    def wake(cause, start_ms, cpu_us, clocks, nbytes):
        return {
            "woke_by": cause,
            "start_ms": start_ms,
            "end_ms": start_ms + 1.0,
            "cpu_us": cpu_us,
            "bus_clocks": clocks,
            "bytes_read": nbytes,
        }

    log = [
        wake(0, 1000.0, 900_000, 40_000, 4000),  # boot + the host's minute: not counted
        wake(INT1, 64_000.0, 10_000, 28_000, 3100),
        wake(TIMER, 70_000.0, 1_000, 0, 0),
        wake(INT1, 68_000.0, 12_000, 28_000, 3140),
        wake(INT1, 3_700_000.0, 10_000, 28_000, 3100),  # after the night's end
    ]
    return {"first_sleep_ms": 60_000.0, "end_ms": 3_660_000.0, "awake_log": log}


def test_awake_time_by_hand_at_240_and_160_mhz():
    d = pd.duty(_night(), ratio=20.0, mhz=240.0)
    # CPU 10, 1, 12 ms x 20 = 200, 20, 240; I2C 28000 / 400 kHz = 70 ms (0 for the timer)
    # awake = 271, 21, 311 ms over a 1 h night
    assert d["wakes"] == 3
    assert d["wakes_per_hour"] == 3.0
    assert d["wakes_by_cause"] == {"int1": 2, "timer": 1}
    assert d["awake_ms_per_wake"] == pytest.approx((271 + 21 + 311) / 3, abs=0.01)
    assert d["awake_fraction"] == pytest.approx(0.603 / 3600, abs=1e-5)
    assert d["bytes_per_burst"] == 3120  # median of the two bursts
    slow = pd.duty(_night(), ratio=20.0, mhz=160.0)
    # the CPU part x 1.5: 300 + 71, 30 + 1, 360 + 71
    assert slow["awake_ms_per_wake"] == pytest.approx((371 + 31 + 431) / 3, abs=0.01)


def test_rows_compare_on_the_columns_both_sides_write():
    got = [{"onset_s": "1.0", "leg": "", "peak_mg": "50"}]
    want = [{"onset_s": "1.0", "leg": "left", "peak_mg": "50", "onset_utc": "2026-01-01"}]
    assert pd.same_rows(got, want)
    assert not pd.same_rows(got, [dict(want[0], peak_mg="51")])
    assert not pd.same_rows(got, want * 2)
