"""night.png: written atomically, decodable, the agreed size, and actually drawn."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pytest
from legsense.night import Epochs, Movements, NightInfo
from legsense.night_plot import HEIGHT_PX, PLM_COLOUR, WIDTH_PX, plot_night
from legsense.scoring import score_wasm2016
from matplotlib.image import imread

HOURS = 3.0


def scored(onsets: Sequence[float]):
    on = np.asarray(onsets, dtype=float)
    movements = Movements.from_arrays(on, on + 2.0)
    return score_wasm2016(movements, recording_s=HOURS * 3600)


def epochs_with_gap() -> Epochs:
    start = np.arange(0, HOURS * 3600, 30.0)
    start = start[(start < 3600) | (start >= 4800)]  # 20 minutes without data
    n = len(start)
    rng = np.random.default_rng(3)
    return Epochs(
        epoch_s=30.0,
        start_s=start,
        n_samples=np.full(n, 1500),
        active_s=np.zeros(n),
        activity_mg_s=rng.gamma(1.5, 20, n),
        posture_mg=np.zeros((n, 3)),
    )


def info(start_utc: datetime | None = None) -> NightInfo:
    return NightInfo(
        recording_s=HOURS * 3600,
        analysed_s=HOURS * 3600,
        sample_rate_hz=50.0,
        start_utc=start_utc,
        source="test",
    )


def read_png(path):
    image = imread(path)
    assert image.shape[:2] == (HEIGHT_PX, WIDTH_PX)
    return image[..., :3]


def share_of_colour(rgb: np.ndarray, hex_colour: str) -> float:
    target = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return float(np.mean(np.all(np.abs(rgb - target) < 0.02, axis=-1)))


SERIES_NIGHT = [600 + 25 * k for k in range(40)] + [5000, 5400]


@pytest.mark.parametrize("start_utc", [None, datetime(2026, 11, 21, 22, 37, tzinfo=UTC)])
def test_night_picture_is_written_and_drawn(tmp_path, start_utc):
    path = tmp_path / "night.png"
    plot_night(path, scored(SERIES_NIGHT), info(start_utc), epochs_with_gap())
    rgb = read_png(path)
    assert rgb.std() > 0.05  # not blank
    assert np.mean(rgb.min(axis=-1) < 0.9) > 0.05  # a real share of the canvas is ink
    # 40 PLMs: their ticks, the hourly bar and the IMI bars are drawn in the PLM colour.
    assert share_of_colour(rgb, PLM_COLOUR) > 0.005
    assert [p.name for p in tmp_path.iterdir()] == ["night.png"]  # no temp file left


def test_night_without_lms(tmp_path):
    path = tmp_path / "night.png"
    plot_night(path, scored([]), info(), epochs_with_gap())
    rgb = read_png(path)
    assert rgb.std() > 0.05
    assert share_of_colour(rgb, PLM_COLOUR) < 0.001  # only the legend and the label


def test_night_without_epochs(tmp_path):
    path = tmp_path / "night.png"
    plot_night(path, scored(SERIES_NIGHT), info(), None)
    rgb = read_png(path)
    assert rgb.std() > 0.05
    assert share_of_colour(rgb, PLM_COLOUR) > 0.005


def test_night_without_lms_or_epochs(tmp_path):
    path = tmp_path / "night.png"
    plot_night(path, scored([]), info(), None)
    assert read_png(path).std() > 0.05


def test_a_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "missing-folder" / "night.png"
    with pytest.raises(FileNotFoundError):
        plot_night(target, scored(SERIES_NIGHT), info(), None)
    assert list(tmp_path.iterdir()) == []
