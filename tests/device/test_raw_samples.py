"""Validation nights: the raw samples the device logs are exactly what its detector saw.

A short synthetic night plays through the app on the simulated board with
"raw_samples": true. The logged raw chunks must decode to the trace's own counts, and
`analyze` of that raw trace must give the device's logged events exactly.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from app_harness import exact_rate_trace, night_records, of_type, replay_night
from legsense.analysis import analyze_trace
from legsense.errors import InputError
from legsense.night import NightInfo
from legsense.night_decode import decode_night
from legsense.raw_samples import raw_trace
from legsense.trace import read_trace, to_counts, write_trace
from legsense_core import records


def test_raw_samples_round_trip_and_reproduce_the_device_events(root, tmp_path):
    trace = exact_rate_trace(0.1, 52.0, "lsm6dsox", seed=3)
    events, _epochs, samples = replay_night(
        root, trace, "lsm6dsox", {"odr_hz": 52, "raw_samples": True}
    )
    assert samples == len(trace.t_s) and len(events) >= 3
    data = (root / "nights" / "00000001.log").read_bytes()
    decoded = decode_night(data)
    h = decoded.records.header
    raw = raw_trace(decoded.records.raw, h.imu, (h.accel_scale, h.gyro_scale), decoded.info)
    assert raw is not None
    # the counts the device logged are the trace's counts, sample for sample
    want = to_counts(trace)
    got = to_counts(raw)
    assert len(got.t_ms) == len(want.t_ms)
    assert np.array_equal(got.acc, want.acc) and np.array_equal(got.gyr, want.gyr)
    # through a file, as the night folder keeps it, then analysed offline
    path = tmp_path / "raw.csv"
    write_trace(path, raw)
    detection, _ = analyze_trace(read_trace(path))
    m = detection.movements
    offline = [
        (round(a * 1000), round(b * 1000), int(p), int(d), int(c))
        for a, b, p, d, c in zip(
            m.onset_s, m.offset_s, m.peak_mg, m.peak_dps, m.channels, strict=True
        )
    ]
    assert offline == [e[:5] for e in events]


def test_raw_off_by_default(root):
    trace = exact_rate_trace(0.02, 52.0, "lsm6dsox", seed=4)
    replay_night(root, trace, "lsm6dsox", {"odr_hz": 52})
    assert of_type(night_records(root), records.T_RAW) == []


def test_a_damaged_chunk_is_an_input_error():
    info = NightInfo(recording_s=1.0, analysed_s=1.0, sample_rate_hz=52.0)
    bad = [(0, 4, records.RAW_DEFLATE, b"not zlib")]
    with pytest.raises(InputError, match="does not decompress"):
        raw_trace(bad, "lsm6dsox", ((61, 1), (8750, 1)), info)
    wrong = [(0, 3, records.RAW_DEFLATE, zlib.compress(bytes(20)))]
    with pytest.raises(InputError, match="bytes for 3 samples"):
        raw_trace(wrong, "lsm6dsox", ((61, 1), (8750, 1)), info)
