"""night.edf read back by MNE: channels per epoch and one annotation per LM/PLM/series."""

from __future__ import annotations

from datetime import UTC, datetime

import mne
import numpy as np
import pytest
from legsense.edf_writer import write_edf
from legsense.night import Epochs, Movements, NightInfo
from legsense.scoring import ScoringParams, score_movements


def test_edf_round_trip_through_mne(tmp_path):
    # Five LMs 20 s apart (a PLM series of 5), then one lone LM much later.
    onsets = np.array([100.0, 120.0, 140.0, 160.0, 180.0, 1000.0])
    movements = Movements.from_arrays(onsets, onsets + 1.5)
    n = 40
    start_s = np.arange(n) * 30.0
    keep = np.ones(n, bool)
    keep[7] = False  # an epoch the device did not log: zeros in the EDF
    rng = np.random.default_rng(1)
    activity = rng.integers(0, 5000, n)
    active = rng.integers(0, 30000, n) / 1000.0
    posture = rng.integers(-1000, 1000, (n, 3))
    epochs = Epochs(
        30.0,
        start_s[keep],
        keep[keep].astype(int) * 1560,
        active[keep],
        activity[keep],
        posture[keep],
    )
    start = datetime(2026, 1, 5, 22, 30, 0, tzinfo=UTC)
    info = NightInfo(recording_s=1200.0, analysed_s=1200.0, sample_rate_hz=52.0, start_utc=start)
    scoring = score_movements(movements, info, ScoringParams())
    path = tmp_path / "night.edf"
    write_edf(path, epochs, scoring, info, "dev-1")

    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    assert raw.ch_names == ["activity", "active time", "posture x", "posture y", "posture z"]
    assert raw.info["sfreq"] == pytest.approx(1 / 30)
    assert raw.info["meas_date"] == start
    data = raw.get_data()
    want = {
        "activity": np.where(keep, activity, 0),
        "active time": np.where(keep, active, 0),
        "posture x": np.where(keep, posture[:, 0], 0),
        "posture y": np.where(keep, posture[:, 1], 0),
        "posture z": np.where(keep, posture[:, 2], 0),
    }
    for i, name in enumerate(raw.ch_names):
        got = data[i][:n]
        # 16-bit samples over each channel's physical range: one step of error at most
        span = want[name].max() - min(want[name].min(), 0)
        step = 1.0 if "posture" in name else span / 65535
        assert np.abs(got - want[name]).max() <= step + 1e-9, name
    ann = raw.annotations
    texts = list(ann.description)
    assert texts.count("LM") == 6
    assert texts.count("PLM") == 5
    assert texts.count("PLM series 1") == 1
    lm_onsets = sorted(o for o, d in zip(ann.onset, texts, strict=True) if d == "LM")
    assert np.allclose(lm_onsets, onsets, atol=1e-3)
    series = texts.index("PLM series 1")
    assert ann.onset[series] == pytest.approx(100.0, abs=1e-3)
    assert ann.duration[series] == pytest.approx(81.5, abs=1e-3)


@pytest.mark.parametrize("minutes, seed", [(240, 1), (247, 2), (300, 3), (480, 4), (540, 5)])
def test_long_nights_of_any_density_are_written(tmp_path, minutes, seed):
    """edfio refused about one night in five of a few hours (annotation records of some
    lengths: their duration missed the signals' by a float's last bit); every night must
    give its EDF, and MNE must read every annotation back. The nights are the fake
    device's (tests/fake_device.py), the first one a night that was refused."""
    from fake_device import NightSpec, build_night
    from legsense.night_decode import decode_night

    decoded = decode_night(build_night(NightSpec(1, uid=0x51, minutes=minutes, seed=seed)))
    scoring = score_movements(decoded.movements, decoded.info, ScoringParams())
    path = tmp_path / "night.edf"
    write_edf(path, decoded.epochs, scoring, decoded.info)
    raw = mne.io.read_raw_edf(path, verbose="error")
    assert list(raw.annotations.description).count("LM") == len(scoring.lms) > 100
