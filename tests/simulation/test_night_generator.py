"""Synthetic nights: determinism, physics measured independently, labels, the CLI."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from legsense.cli import main
from legsense.simulation.night_generator import simulate_night
from legsense.trace import labels_path_for, read_labels, read_trace, to_counts

# Datasheet figures written out here (not imported from the generator): LSM6DSOX at
# +/-2 g / +/-250 dps, MPU-6886 at +/-2 g / +/-250 dps.
LSM6DSOX = {"acc_lsb": 0.061e-3, "gyr_lsb": 8.75e-3, "acc_nd": 70e-6, "gyr_nd": 3.8e-3}
MPU6886 = {"acc_lsb": 1 / 16384, "gyr_lsb": 1 / 131, "acc_nd": 100e-6, "gyr_nd": 4e-3}


@pytest.fixture(scope="module")
def night():
    """One hour at 25 Hz: enough for turns, series and quiet stretches."""
    return simulate_night(11, 1.0, 25.0)


def _rest_mask(t, labels, margin=1.5):
    """Samples at least `margin` seconds away from any labelled movement."""
    near = np.zeros(len(t), dtype=bool)
    lo = np.searchsorted(t, labels.onset_s - margin)
    hi = np.searchsorted(t, labels.offset_s + margin)
    for a, b in zip(lo, hi, strict=True):
        near[a:b] = True
    return ~near


def _quiet_windows(t, labels, length_s, rate):
    """Start/stop indices of windows of `length_s` with no movement and no data gap."""
    rest = _rest_mask(t, labels)
    n = int(length_s * rate)
    windows = []
    i = 0
    while i + n < len(t):
        seg = slice(i, i + n)
        if rest[seg].all() and np.diff(t[seg]).max() < 2.5 / rate:
            windows.append(seg)
            i += n
        else:
            i += n // 4
    return windows


def test_same_seed_same_night_other_seed_other_night():
    a, la = simulate_night(5, 0.2, 20.0)
    b, lb = simulate_night(5, 0.2, 20.0)
    c, _ = simulate_night(6, 0.2, 20.0)
    np.testing.assert_array_equal(a.t_s, b.t_s)
    np.testing.assert_array_equal(a.acc_g, b.acc_g)
    np.testing.assert_array_equal(a.gyr_dps, b.gyr_dps)
    np.testing.assert_array_equal(la.onset_s, lb.onset_s)
    assert a.meta == b.meta
    assert len(a.t_s) != len(c.t_s) or not np.array_equal(a.acc_g, c.acc_g)


@pytest.mark.parametrize("rate", [10.0, 100.0])
def test_rates_jitter_and_drops(rate):
    trace, _ = simulate_night(3, 0.25, rate)
    dt = np.diff(trace.t_s)
    assert (dt > 0).all()
    assert np.median(dt) == pytest.approx(1 / rate, rel=0.05)
    nominal = 0.25 * 3600 * rate
    assert 0.95 * nominal < len(trace) < nominal + 1  # drops remove a few samples
    jitter = dt[dt < 1.5 / rate] - 1 / rate
    assert 0.0005 < jitter.std() < 0.004  # a few ms of jitter
    assert trace.sample_rate_hz == rate


def test_acceleration_is_one_g_at_rest(night):
    trace, labels = night
    rest = _rest_mask(trace.t_s, labels)
    norm = np.linalg.norm(trace.acc_g[rest], axis=1)
    # offsets up to +/-10 mg per axis and noise ~0.25 mg: |a| within a few percent of 1 g
    assert abs(np.median(norm) - 1.0) < 0.02
    assert np.percentile(np.abs(norm - 1.0), 99) < 0.03
    assert np.abs(trace.gyr_dps[rest]).max() < 2.0  # only bias (< 0.5 dps) + noise


def test_movements_move_the_sensor(night):
    trace, labels = night
    kinds = labels.extra["kind"]
    for k in np.nonzero(kinds == "plm")[0][:20]:
        sel = (trace.t_s >= labels.onset_s[k]) & (trace.t_s <= labels.offset_s[k])
        assert np.abs(trace.gyr_dps[sel]).max() > 3.0


def _rotation(axis_angle):
    angle = np.linalg.norm(axis_angle)
    if angle == 0:
        return np.eye(3)
    k = axis_angle / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * kx + (1 - math.cos(angle)) * kx @ kx


def _angle_deg(u, v):
    c = np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v)
    return math.degrees(math.acos(np.clip(c, -1, 1)))


def test_gyro_integral_matches_the_turn_seen_by_the_accelerometer():
    trace, labels = simulate_night(21, 1.5, 50.0)
    t, acc, gyr = trace.t_s, trace.acc_g, np.radians(trace.gyr_dps)
    checked = 0
    for k in np.nonzero(labels.extra["kind"] == "turn")[0]:
        on, off = labels.onset_s[k], labels.offset_s[k]
        others = np.delete(np.arange(len(labels)), k)
        if np.any((labels.offset_s[others] > on - 8) & (labels.onset_s[others] < off + 4)):
            continue
        before = (t > on - 7) & (t < on - 0.5)
        after = (t > off + 0.5) & (t < off + 3)
        span = (t >= on - 0.5) & (t <= off + 0.5)
        if np.diff(t[span]).max() > 0.05 or before.sum() < 100 or after.sum() < 50:
            continue  # a data gap inside: the gyro cannot be integrated across it
        bias = gyr[before].mean(axis=0)  # at rest the true rate is zero
        idx = np.nonzero(span)[0]
        rot = np.eye(3)  # sensor orientation now relative to the start, R_dot = R [w]x
        for i in range(idx[0], idx[-1]):
            w = 0.5 * (gyr[i] + gyr[i + 1]) - bias
            rot = rot @ _rotation(w * (t[i + 1] - t[i]))
        g_before = acc[before].mean(axis=0)
        g_after = acc[after].mean(axis=0)
        predicted = rot.T @ g_before
        turned = _angle_deg(g_before, g_after)
        assert turned > 20.0, "a turn changes the gravity direction"
        assert _angle_deg(predicted, g_after) < 2.0 + 0.02 * turned
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize(
    ("imu", "spec", "rate"), [("lsm6dsox", LSM6DSOX, 50.0), ("mpu6886", MPU6886, 100.0)]
)
def test_noise_at_rest_matches_the_datasheet(imu, spec, rate):
    trace, labels = simulate_night(8, 0.3, rate, imu=imu)
    windows = _quiet_windows(trace.t_s, labels, 20.0, rate)
    assert len(windows) >= 5
    acc = np.concatenate([np.diff(trace.acc_g[w], axis=0) for w in windows])
    gyr = np.concatenate([np.diff(trace.gyr_dps[w], axis=0) for w in windows])
    bandwidth = rate / 2
    for measured, density, lsb in (
        (acc, spec["acc_nd"], spec["acc_lsb"]),
        (gyr, spec["gyr_nd"], spec["gyr_lsb"]),
    ):
        # white noise plus quantisation; differencing removes offsets and slow drift
        expected = math.sqrt(density**2 * bandwidth + lsb**2 / 12)
        sd = measured.std(axis=0) / math.sqrt(2)
        np.testing.assert_allclose(sd, expected, rtol=0.12)


@pytest.mark.parametrize(("imu", "spec"), [("lsm6dsox", LSM6DSOX), ("mpu6886", MPU6886)])
def test_values_are_on_the_quantisation_grid(imu, spec):
    trace, _ = simulate_night(2, 0.1, 20.0, imu=imu)
    for values, lsb in ((trace.acc_g, spec["acc_lsb"]), (trace.gyr_dps, spec["gyr_lsb"])):
        steps = values / lsb
        assert np.abs(steps - np.rint(steps)).max() < 1e-6
        assert np.abs(steps).max() <= 32768


def _plm_by_the_rules(labels):
    """Independent WASM 2016 series finder on the labels (twitches are not LMs)."""
    keep = labels.extra["kind"] != "twitch"
    onset, dur = labels.onset_s[keep], labels.duration_s[keep]
    is_plm = np.zeros(len(onset), dtype=bool)
    run = [0]
    for i in range(1, len(onset) + 1):
        ok = (
            i < len(onset)
            and 0.5 <= dur[i] <= 10
            and 0.5 <= dur[run[-1]] <= 10
            and 10 <= onset[i] - onset[i - 1] <= 90
        )
        if ok:
            run.append(i)
        else:
            if len(run) >= 4:
                is_plm[run] = True
            run = [i]
    return is_plm, keep


@pytest.mark.parametrize(
    ("profile", "lo", "hi"), [("plmd", 20.0, 200.0), ("rls-mild", 4.0, 16.0), ("healthy", 0.0, 4.0)]
)
def test_labels_invariants_and_profiles(profile, lo, hi):
    hours = 3.0
    trace, labels = simulate_night(31, hours, 10.0, profile=profile)
    onset, offset, kinds = labels.onset_s, labels.offset_s, labels.extra["kind"]
    assert (np.diff(onset) > 0).all()
    assert (offset[:-1] + 0.5 <= onset[1:]).all(), "movements overlap or would merge"
    assert set(kinds) <= {"plm", "isolated", "long", "turn", "wake", "twitch"}
    assert onset[0] >= 0 and offset[-1] <= trace.t_s[-1]
    dur = labels.duration_s
    assert (dur[kinds == "twitch"] < 0.5).all()
    assert ((dur[kinds == "plm"] >= 0.5) & (dur[kinds == "plm"] <= 10)).all()
    assert (dur[kinds == "long"] > 10).all()
    assert ((dur[kinds == "turn"] >= 3) & (dur[kinds == "turn"] <= 20)).all()
    wake = np.nonzero(kinds == "wake")[0]
    if len(wake) > 1:
        imi = np.diff(onset[wake])
        assert np.median(imi[imi < 60]) < 10
    # the labelled PLMs are exactly what the rules find in the labels
    is_plm, keep = _plm_by_the_rules(labels)
    np.testing.assert_array_equal(is_plm, kinds[keep] == "plm")
    series = labels.extra["series"]
    assert (series[kinds == "plm"] >= 0).all() and (series[kinds != "plm"] == -1).all()
    plmi = is_plm.sum() / hours
    assert lo <= plmi <= hi


def test_plm_timing_distributions():
    _, labels = simulate_night(4, 8.0, 10.0)
    kinds, series = labels.extra["kind"], labels.extra["series"]
    plm = kinds == "plm"
    dur = labels.duration_s[plm]
    assert 1.3 < np.median(dur) < 2.6
    imis = np.concatenate([np.diff(labels.onset_s[series == s]) for s in np.unique(series[plm])])
    assert 15 < np.median(imis) < 40 and imis.min() >= 10 and imis.max() <= 90
    sizes = np.bincount(series[plm])
    assert sizes.min() >= 4 and len(sizes) >= 3
    for kind in ("isolated", "turn", "twitch", "long", "wake"):
        assert (kinds == kind).sum() > 0, kind


def test_accelerometer_only_and_start_time():
    start = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    trace, _ = simulate_night(1, 0.05, 12.5, gyro=False, start_utc=start)
    assert trace.gyr_dps is None
    assert trace.start_utc == start and trace.imu == "lsm6dsox"


def test_cli_writes_trace_and_labels(tmp_path, capsys):
    out = tmp_path / "night.csv"
    args = ["simulate-night", "--seed", "9", "--hours", "0.1", "--rate", "20", "--out", str(out)]
    assert main([*args, "--imu", "mpu6886", "--start-utc", "2026-02-01T22:00:00Z"]) == 0
    trace = read_trace(out)
    labels = read_labels(labels_path_for(out))
    expected, expected_labels = simulate_night(
        9, 0.1, 20.0, imu="mpu6886", start_utc=datetime(2026, 2, 1, 22, tzinfo=UTC)
    )
    assert trace.imu == "mpu6886" and trace.sample_rate_hz == 20.0
    assert trace.start_utc == datetime(2026, 2, 1, 22, tzinfo=UTC)
    got, want = to_counts(trace), to_counts(expected)
    np.testing.assert_array_equal(got.t_ms, want.t_ms)
    np.testing.assert_array_equal(got.acc, want.acc)
    np.testing.assert_array_equal(got.gyr, want.gyr)
    np.testing.assert_allclose(labels.onset_s, expected_labels.onset_s, atol=1e-6)
    assert labels.extra["kind"].tolist() == expected_labels.extra["kind"].tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["night.csv", "night.labels.csv"]
    assert str(out) in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--rate", "5"], "--rate"),
        (["--hours", "0"], "--hours"),
        (["--profile", "sleepy"], "--profile"),
        (["--imu", "bmi999"], "bmi999"),
        (["--start-utc", "tonight"], "--start-utc"),
        (["--seed", "x"], "invalid int"),
    ],
)
def test_cli_bad_options_one_line_exit_2(tmp_path, capsys, extra, fragment):
    out = tmp_path / "n.csv"
    args = ["simulate-night", "--seed", "1", "--hours", "0.01", "--rate", "20", "--out", str(out)]
    args += extra
    with pytest.raises(SystemExit) if fragment == "invalid int" else _no_raise():
        assert main(args) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_missing_folder(tmp_path, capsys):
    out = tmp_path / "nope" / "n.csv"
    args = ["simulate-night", "--seed", "1", "--hours", "0.01", "--rate", "20", "--out", str(out)]
    assert main(args) == 2
    assert "nope" in capsys.readouterr().err


class _no_raise:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize(
    "imu", ["lsm6dsox", "lsm6dso", "lsm6ds3trc", "lsm9ds0", "mpu6050", "mpu6886"]
)
@pytest.mark.parametrize("hours", [0.002, 0.03])
def test_tiny_nights_and_every_imu(imu, hours):
    trace, labels = simulate_night(1, hours, 10.0, imu=imu)
    assert len(trace) >= 0.9 * hours * 36000
    assert trace.imu == imu
    assert len(labels) == 0 or labels.offset_s.max() <= trace.t_s[-1]
    rest = np.linalg.norm(trace.acc_g, axis=1)
    assert abs(np.median(rest) - 1.0) < 0.1
