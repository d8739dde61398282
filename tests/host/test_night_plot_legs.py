"""night.png of a night of both legs: a row per leg with that leg's own LMs."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from legsense.night import Movements, NightInfo
from legsense.night_plot import HEIGHT_PX, PLM_COLOUR, WIDTH_PX, plot_night
from legsense.scoring import score_wasm2016
from matplotlib.image import imread


def share_of_colour(path, hex_colour: str) -> float:
    rgb = imread(path)[..., :3]
    assert rgb.shape[:2] == (HEIGHT_PX, WIDTH_PX)
    target = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return float(np.mean(np.all(np.abs(rgb - target) < 0.02, axis=-1)))


def test_leg_rows_draw_each_legs_lms(tmp_path):
    # 60 PLMs: bilateral (left leads by 0.3 s), then left only, then right only.
    on = 600.0 + 25.0 * np.arange(60)
    left = on[:40]
    right = np.concatenate([on[:20] + 0.3, on[40:]])
    onset = np.concatenate([left, right])
    legs = np.array(["left"] * len(left) + ["right"] * len(right), dtype=object)
    movements = Movements.from_arrays(onset, onset + 2.0, legs)
    scoring = score_wasm2016(movements, recording_s=3 * 3600.0)
    assert scoring.summary["bilateral_lm_count"] == 20 and scoring.summary["plm_count"] == 60
    info = NightInfo(
        recording_s=3 * 3600.0,
        analysed_s=3 * 3600.0,
        sample_rate_hz=52.0,
        start_utc=datetime(2026, 11, 21, 22, 0, tzinfo=UTC),
        leg="both",
    )
    shares = {}
    dark = {}
    for rows in (False, True):
        path = tmp_path / f"rows-{rows}.png"
        plot_night(path, scoring, info, None, movements=movements, leg_rows=rows)
        shares[rows] = share_of_colour(path, PLM_COLOUR)
        dark[rows] = int(np.all(imread(path)[..., :3] < 0.2, axis=-1).sum())
    # 100 more PLM-coloured ticks (each leg's own LMs, in the colour of their PLMs)...
    assert shares[True] > shares[False]
    # ...and in black the rows' labels and a dot over each of the 20 bilateral LMs.
    assert dark[True] - dark[False] > 20 * 4
