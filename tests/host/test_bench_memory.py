"""The pieces of bench/memory.py that are not measurements: the long-trace writer (its
traces must be valid across its hour seams) and the growth figures."""

from __future__ import annotations

import numpy as np
import pytest
from legsense.trace import TraceFile, read_trace

from bench import long_trace, memory


def test_long_trace_is_one_valid_trace_across_its_seams(tmp_path, monkeypatch):
    monkeypatch.setattr(long_trace, "PIECE_S", 60.0)  # seams every minute, not every hour
    written = long_trace.write_long_trace(tmp_path / "n.csv", 3.5 / 60.0, 20.0, seed=4)
    trace = read_trace(written.path)  # raises on a repeated or backward time at a seam
    assert len(trace) == written.samples
    assert trace.sample_rate_hz == 20.0 and trace.gyr_dps is not None
    assert trace.t_s[0] == 0.0 and 209.0 < trace.t_s[-1] <= 210.1
    steps = np.diff(trace.t_s)
    assert steps.max() < 3.5  # no hole at a seam beyond the generator's own gaps
    assert TraceFile(written.path).declared_rate_hz == 20.0


def test_growth_is_the_slope_between_the_shortest_and_longest_night():
    rows = [
        {"hours": 1, "rate_hz": 50, "samples": 180_000, "peak_rss_mb": 100.0, "cpu_s": 3.0},
        {"hours": 8, "rate_hz": 50, "samples": 1_440_000, "peak_rss_mb": 400.0, "cpu_s": 10.0},
        {"hours": 24, "rate_hz": 50, "samples": 4_320_000, "peak_rss_mb": 1160.0, "cpu_s": 26.0},
    ]
    slope = memory._slopes(rows)["50"]
    # (1160 - 100) MB over 4,140,000 extra samples; (26 - 3) s over 23 extra hours
    assert slope["bytes_per_sample"] == pytest.approx(256.0, abs=0.1)
    assert slope["cpu_s_per_hour"] == pytest.approx(1.0)
