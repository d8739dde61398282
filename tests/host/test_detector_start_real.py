"""The detector at the start of a real recording that begins in a movement.

The shared ankle trace (../shared/traces, LSM9DS0 at ~10 Hz; skipped when absent) is
quiet for its first ~4 s, then moves without pause until ~48.6 s (logger time), then is
quiet again: the facts tests/simulation/test_shared_trace_replay.py reads off the raw
gyro. Cut at any point inside the movement, the recording starts in a movement. The
warm-up then sees only movement; a detector that takes it for the noise floor reports
nothing, or only a late part. Expected, from the raw data alone: one LM from the first
sample to the end of the movement (48.0-48.6 s), known to one 2-s floor block when it
is found in hindsight (46-50.6 s).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from legsense.analysis import analyze_trace
from legsense.trace import Trace, read_trace

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "traces"
TRACE = SHARED / "emory-ankle-lsm9ds0-raw.txt"

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not TRACE.exists(), reason=f"{TRACE} not present (../shared is absent)"),
]


def cut(trace: Trace, after_s: float) -> Trace:
    keep = trace.t_s >= trace.t_s[0] + after_s
    assert trace.gyr_dps is not None
    return Trace(
        t_s=trace.t_s[keep],
        acc_g=trace.acc_g[keep],
        gyr_dps=trace.gyr_dps[keep],
        meta=dict(trace.meta),
        path=trace.path,
    )


@pytest.mark.parametrize("after_s", [4.4, 10.0, 15.0, 20.0, 25.0, 30.0, 36.0])
def test_a_recording_that_starts_in_the_movement_reports_all_of_it(after_s):
    trace = cut(read_trace(TRACE), after_s)
    detection, _ = analyze_trace(trace)
    m = detection.movements
    first = float(trace.t_s[0])
    assert len(m) == 1, list(zip(m.onset_s, m.offset_s, strict=True))
    assert m.onset_s[0] == pytest.approx(first, abs=0.25)  # the first sample or so
    assert 46.0 <= m.offset_s[0] <= 50.6


def test_the_whole_trace_is_unchanged():
    # Starting quiet, the movement is found as before: onset 8-9 s, offset 48-49.5 s.
    detection, _ = analyze_trace(read_trace(TRACE))
    m = detection.movements
    assert len(m) == 1
    assert 8.0 < m.onset_s[0] < 9.0 and 48.0 < m.offset_s[0] < 49.5
