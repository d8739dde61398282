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


# --- the time axis, the clock hours and what the folder adds --------------------------

from datetime import timedelta, timezone  # noqa: E402

from legsense.night_markers import Marker, MarkerList  # noqa: E402
from legsense.night_plot import (  # noqa: E402
    SHORT_COLOUR,
    TimeAxis,
    clock_hour_bins,
    hourly_plm_index,
    local_zone,
    posture_classes,
    quality_lines,
    time_ticks,
)

START = datetime(2026, 11, 21, 22, 30, tzinfo=UTC)


def labels_for(start_local, hours: float) -> list[str]:
    axis = TimeAxis(start_local, hours)
    return [axis.label(h) for h in time_ticks(axis)]


def test_ticks_are_readable_round_clock_times_at_every_length():
    # Hand-listed: 5-min ticks for half an hour, 15-min for 2 h, hourly for 9 h.
    assert labels_for(START, 0.5) == [
        "22:30", "22:35", "22:40", "22:45", "22:50", "22:55", "23:00"
    ]  # fmt: skip
    assert labels_for(START, 2.0)[:3] == ["22:30", "22:45", "23:00"]
    assert len(labels_for(START, 2.0)) == 9
    assert labels_for(START, 9.0) == [
        "23:00", "00:00", "01:00", "02:00", "03:00", "04:00", "05:00", "06:00", "07:00"
    ]  # fmt: skip
    # An odd start: ticks still fall on round minutes.
    odd = datetime(2026, 11, 21, 22, 37, 20, tzinfo=UTC)
    assert labels_for(odd, 0.5)[:2] == ["22:40", "22:45"]
    # No start time: h:mm from the start.
    assert labels_for(None, 2.0)[:3] == ["0:00", "0:15", "0:30"]


def test_local_time_zone_from_option_then_configuration():
    plus_one = local_zone(START, 60)
    assert START.astimezone(plus_one).strftime("%H:%M") == "23:30"
    configured = local_zone(START, None, {"utc_offset_min": "-300"})
    assert START.astimezone(configured).strftime("%H:%M") == "17:30"
    assert local_zone(START, timezone(timedelta(hours=2))).utcoffset(START) == timedelta(hours=2)


def test_hourly_bars_cover_real_clock_hours_and_stop_at_the_end():
    # 22:30 -> 01:10 (2 h 40 min): bins 22:30-23:00, 23:00-00:00, 00:00-01:00, 01:00-01:10.
    axis = TimeAxis(START, 2 + 40 / 60)
    bins = clock_hour_bins(axis, 9600.0)
    assert bins == [(0.0, 1800.0), (1800.0, 5400.0), (5400.0, 9000.0), (9000.0, 9600.0)]
    # Four PLMs in 22:30-23:00 (a half hour of data: 8/h), none after.
    night = score_wasm2016(
        Movements.from_arrays(np.array([100, 130, 160, 190.0]), np.array([102, 132, 162, 192.0])),
        recording_s=9600.0,
    )
    rows = hourly_plm_index(night, [(0.0, 9600.0)], bins)
    assert [(n, data_s) for _a, _b, n, data_s in rows] == [
        (4, 1800.0), (0, 3600.0), (0, 3600.0), (0, 600.0)
    ]  # fmt: skip
    # Data missing from 23:10 to 23:40: the 23:00 hour has 30 min of data.
    rows = hourly_plm_index(night, [(0.0, 2400.0), (4200.0, 9600.0)], bins)
    assert rows[1][3] == 1800.0


def test_postures_are_grouped_by_orientation_most_frequent_first():
    supine, left_side, tilted = [0, 0, 1000], [1000, 0, 0], [0, 260, 966]  # tilted: 15 deg
    label, centres = posture_classes(
        np.array([left_side, supine, supine, tilted, supine, [0, 0, 0], left_side])
    )
    assert label.tolist() == [1, 0, 0, 0, 0, -1, 1]
    assert np.allclose(centres[0], [0, 0, 1]) and np.allclose(centres[1], [1, 0, 0])


def test_quality_says_unknown_when_the_night_does_not_say():
    lines = quality_lines(info(START), {}, MarkerList(), epochs_with_gap())
    assert "resets: unknown" in lines
    assert "clock: UTC known, drift unknown" in lines
    assert "markers: unknown (no markers.csv)" in lines
    summary = {
        "resets": 2,
        "gaps": {
            "count": 3,
            "total_s": 95.0,
            "longest": [{"start_s": 10.0, "duration_s": 60.0}, {"duration_s": 30.0}],
        },
        "clock": {"utc_known": True, "steps": 1, "drift_ppm": 12.4},
    }
    marks = MarkerList([Marker(100.0, "button"), Marker(50.0, "resumed after reset")], True)
    lines = quality_lines(info(START), summary, marks, epochs_with_gap())
    assert "resets: 2" in lines
    assert "gaps: 3, 95 s in all, longest 60 s" in lines
    assert "clock: UTC known, 1 step(s), drift 12 ppm" in lines
    assert "button presses: 1, other markers: 1" in lines


def test_short_movements_are_drawn_faintly(tmp_path):
    on = np.array([600.0 + 25 * k for k in range(8)] + [1000.0 + 300 * k for k in range(30)])
    off = np.concatenate([on[:8] + 2.0, on[8:] + 0.2])  # 30 twitches of 0.2 s
    movements = Movements.from_arrays(on, off)
    night = score_wasm2016(movements, recording_s=HOURS * 3600)
    faint = 1 - 0.35 * (1 - int(SHORT_COLOUR[1:3], 16) / 255)  # grey at alpha 0.35 on white
    counts = []
    for name, given in (("with.png", movements), ("without.png", None)):
        # No epochs: the hatched gap is a grey of nearly the same shade.
        plot_night(tmp_path / name, night, info(START), None, movements=given)
        rgb = read_png(tmp_path / name)
        grey = (np.ptp(rgb, axis=-1) < 0.01) & (rgb[..., 0] >= faint - 0.02) & (rgb[..., 0] < 0.95)
        counts.append(int(grey.sum()))
    assert counts[0] - counts[1] > 500  # 30 faint ticks of ~30 px each


def test_markers_and_summary_are_read_from_the_folder(tmp_path):
    night = scored(SERIES_NIGHT)
    plot_night(tmp_path / "plain.png", night, info(START), epochs_with_gap())
    (tmp_path / "markers.csv").write_text(
        "t_s,utc,code,name,value,text\n3000.0,2026-11-21T23:20:00+00:00,10,button,250,\n"
    )
    plot_night(tmp_path / "marked.png", night, info(START), epochs_with_gap())
    plain, marked = read_png(tmp_path / "plain.png"), read_png(tmp_path / "marked.png")
    black = np.all(marked < 0.35, axis=-1).sum() - np.all(plain < 0.35, axis=-1).sum()
    assert black > 300  # the line through five panels and the triangle


def test_artists_do_not_grow_with_the_night(tmp_path, monkeypatch):
    """Epoch bars and series shading are one collection each, whatever the night's length
    (an artist per epoch made a 24 h picture take ~100 MB and 20 s)."""
    import legsense.night_plot as night_plot

    counts = []

    def count_artists(fig, path):
        counts.append(sum(len(ax.patches) + len(ax.collections) for ax in fig.axes[:4]))

    monkeypatch.setattr(night_plot, "_write_atomically", count_artists)
    for hours in (1.0, 12.0):
        start = np.arange(0, hours * 3600, 30.0)
        n = len(start)
        epochs = Epochs(
            epoch_s=30.0,
            start_s=start,
            n_samples=np.full(n, 1500),
            active_s=np.zeros(n),
            activity_mg_s=np.full(n, 10.0),
            posture_mg=np.zeros((n, 3)),
        )
        # A PLM series of 5 LMs every 10 minutes: 6 series an hour.
        onsets = [600 * k + 20 * j for k in range(int(hours * 6)) for j in range(5)]
        on = np.asarray(onsets, dtype=float)
        scoring = score_wasm2016(Movements.from_arrays(on, on + 2.0), recording_s=hours * 3600)
        assert int(scoring.lms.series.max()) == int(hours * 6)
        night = NightInfo(
            recording_s=hours * 3600,
            analysed_s=hours * 3600,
            sample_rate_hz=50.0,
            start_utc=None,
            source="test",
        )
        plot_night(tmp_path / "night.png", scoring, night, epochs)
    assert counts[0] == counts[1]
