# Detector unit tests (portable: CPython and the MicroPython VM).
#
# Expected onsets and offsets are those of the motion put into the synthetic signal
# (imu_synth), never the detector's own output. Tolerance for an onset or offset: one
# sample period (events land on the sampling grid) + 100 ms. Why 100 ms: a synthetic
# movement starts and ends with zero velocity (1 - cos profile), so a 15-degree, 1-Hz
# movement needs ~40 ms to move gravity by 4x the noise floor of the lag difference
# (~0.3 degree); the detector backdates the onset to its OFF crossing (2x floor), so
# ~100 ms bounds both ends with margin without hiding a filter delay (D = 200 ms).

import imu_synth
from legsense_core.detector import CH_ACCEL, CH_GYRO, DetectorConfig, LegMovementDetector

MIN = 60000


def detect(rate_hz=50, batch=256, **signal):
    imu = imu_synth.SyntheticImu(rate_hz=rate_hz, **signal)
    det = LegMovementDetector(
        DetectorConfig(rate_hz=rate_hz), imu_synth.ACC_SCALE, imu_synth.GYR_SCALE
    )
    return imu_synth.run(det, imu, batch)


def tol_ms(rate_hz):
    return 1000 // rate_hz + 100


def assert_matches(events, truth, rate_hz, extra_ms=0):
    """events (onset, offset, ...) match truth (onset, offset) one to one."""
    got = [(e[0], e[1]) for e in events]
    assert len(got) == len(truth), f"events {got}, expected {truth}"
    tol = tol_ms(rate_hz) + extra_ms
    for (on, off), (t_on, t_off) in zip(got, truth):  # noqa: B905 (MicroPython zip has no strict)
        assert abs(on - t_on) <= tol, f"onset {on}, expected {t_on} +- {tol}"
        assert abs(off - t_off) <= tol, f"offset {off}, expected {t_off} +- {tol}"


def test_noise_only_gives_no_events_and_complete_epochs():
    events, epochs, n = detect(duration_ms=3 * MIN, seed=11)
    assert events == []
    # 3 minutes at 50 Hz: 9000 samples in six 30-s epochs, none of them active
    assert n == 9000
    assert [e[0] for e in epochs] == [0, 1, 2, 3, 4, 5]
    assert sum(e[1] for e in epochs) == 9000
    assert all(e[2] == 0 for e in epochs)


def test_epoch_posture_is_the_gravity_direction():
    # beta = 30 degrees: gravity (sin, 0, cos) = (500, 0, 866) mg
    events, epochs, _ = detect(duration_ms=MIN, beta_mdeg=30000, seed=12)
    assert events == []
    for e in epochs:
        assert abs(e[4] - 500) <= 2 and abs(e[5]) <= 2 and abs(e[6] - 866) <= 2, e


def test_step_change_of_posture_is_a_brief_event():
    # the leg turns 40 degrees in 0.6 s and stays there for a minute
    events, _, _ = detect(duration_ms=2 * MIN, turns=[(MIN, MIN + 600, 40000)], seed=13)
    assert_matches(events, [(MIN, MIN + 600)], 50)
    assert events[0][1] - events[0][0] < 2000


def test_slow_drift_of_gravity_and_gyro_bias_gives_no_events():
    # posture drifts 3 degrees per minute, gyro bias ~0.2 dps per minute, for 10 min
    events, _, n = detect(
        rate_hz=10,
        duration_ms=10 * MIN,
        drift_mdeg_per_min=3000,
        bias_drift_x16_per_min=366,
        seed=14,
    )
    assert n == 6000
    assert events == []


def test_long_movement_is_one_event_of_its_length():
    events, epochs, _ = detect(duration_ms=2 * MIN, movements=[(30000, 90000, 15000, 60)], seed=15)
    assert_matches(events, [(30000, 90000)], 50)
    assert events[0][4] == CH_ACCEL | CH_GYRO
    # epochs 1 and 2 (30-60 s, 60-90 s) are active nearly all through
    active = [e[2] for e in epochs]
    assert active[1] >= 29000 and active[2] >= 29000, active


def test_movements_0_3_s_apart_are_one_event():
    movs = [(20000, 22000, 15000, 2), (22300, 24300, 15000, 2)]
    events, _, _ = detect(duration_ms=MIN, movements=movs, seed=16)
    assert_matches(events, [(20000, 24300)], 50)


def test_movements_0_7_s_apart_are_two_events():
    movs = [(20000, 22000, 15000, 2), (22700, 24700, 15000, 2)]
    events, _, _ = detect(duration_ms=MIN, movements=movs, seed=17)
    assert_matches(events, [(20000, 22000), (22700, 24700)], 50)


def test_movements_0_7_s_apart_are_two_events_accelerometer_only():
    movs = [(20000, 22000, 15000, 2), (22700, 24700, 15000, 2)]
    events, _, _ = detect(duration_ms=MIN, movements=movs, gyro=False, seed=17)
    assert_matches(events, [(20000, 22000), (22700, 24700)], 50)


def test_gap_in_quiet_data_gives_no_event():
    events, epochs, n = detect(duration_ms=2 * MIN, gaps=[(40000, 45000)], seed=18)
    assert events == []
    assert n == 6000 - 250
    assert sum(e[1] for e in epochs) == n


def test_gap_inside_a_movement_ends_it_where_the_data_ended():
    # movement 30-40 s, data missing 35-60 s: the LM ends at the last sample (34.98 s)
    events, _, _ = detect(
        duration_ms=90000, movements=[(30000, 40000, 15000, 10)], gaps=[(35000, 60000)], seed=19
    )
    assert_matches(events, [(30000, 35000)], 50)
    assert events[0][1] <= 35000


MOVES_10_100 = [
    (20000, 21000, 15000, 1),
    (40000, 43000, 10000, 3),
    (60000, 65000, 20000, 5),
    (80000, 82000, 15000, 2),
]


def test_same_movements_at_10_hz_and_100_hz():
    truth = [(m[0], m[1]) for m in MOVES_10_100]
    ev10, _, n10 = detect(rate_hz=10, duration_ms=2 * MIN, movements=MOVES_10_100, seed=20)
    ev100, _, n100 = detect(rate_hz=100, duration_ms=2 * MIN, movements=MOVES_10_100, seed=20)
    assert (n10, n100) == (1200, 12000)
    assert_matches(ev10, truth, 10)
    assert_matches(ev100, truth, 100)
    # durations agree within one 10-Hz period (the coarser grid) + 50 ms (the time the
    # smooth start of a movement takes to cross the threshold, resolved at both rates)
    for a, b in zip(ev10, ev100):  # noqa: B905 (MicroPython zip has no strict)
        assert abs((a[1] - a[0]) - (b[1] - b[0])) <= 100 + 50, (a, b)


def test_accelerometer_only():
    movs = [(20000, 22000, 15000, 2), (40000, 45000, 20000, 5)]
    events, _, _ = detect(
        duration_ms=MIN + 20000, movements=movs, turns=[(60000, 60600, 40000)], gyro=False, seed=21
    )
    assert_matches(events, [(20000, 22000), (40000, 45000), (60000, 60600)], 50)
    for e in events:
        assert e[3] == 0 and e[4] == CH_ACCEL, e


# A busy signal for the batch test: movements, a turn, gaps and timestamp jitter.
BUSY = {
    "duration_ms": 2 * MIN,
    "movements": [
        (15000, 16000, 15000, 1),
        (16300, 18300, 15000, 2),
        (40000, 52000, 10000, 12),
        (70000, 73000, 20000, 3),
        (99000, 101000, 15000, 2),
        (110000, 111000, 25000, 1),
    ],
    "turns": [(80000, 80800, -30000)],
    "gaps": [(100000, 100700), (104000, 108000)],
    "jitter_ms": 3,
    "seed": 22,
}


def test_batch_size_does_not_change_anything():
    ref = detect(batch=256, **BUSY)
    assert len(ref[0]) >= 5
    for batch in (1, 7):
        got = detect(batch=batch, **BUSY)
        assert got == ref, f"batch {batch} differs"


# A recording that starts while the leg moves, then six more movements (getting settled):
# the warm-up must not take the first movement for the noise floor. At the rates of a
# cheap logger too, 8-12 Hz, with every sample up to a quarter period early or late (the
# intervals vary from half to one and a half periods: "50 % jitter").
START_MOVING = [
    (0, 6000, 20000, 3),  # under way at the first sample (3 cycles of 2 s)
    (12000, 14000, 15000, 2),
    (25000, 26000, 15000, 1),
    (40000, 43000, 10000, 3),
    (55000, 57000, 12000, 2),
    (70000, 71000, 15000, 1),
    (85000, 89000, 20000, 2),
]
BLOCK_MS = 2000  # the floor check blocks: the first movement's end is known to a block


def test_recording_that_starts_in_a_movement_misses_none():
    for rate_hz, gyro in ((8, True), (10, True), (10, False), (12, False), (50, True)):
        jitter = 250 // rate_hz
        events, _, _ = detect(
            rate_hz=rate_hz,
            duration_ms=100000,
            movements=START_MOVING,
            jitter_ms=jitter,
            gyro=gyro,
            seed=31,
        )
        label = f"{rate_hz} Hz, gyro {gyro}"
        assert len(events) == 7, label + ": " + str([(e[0], e[1]) for e in events])
        # The six after the first: where they are, as everywhere, give or take the jitter.
        truth = [(m[0], m[1]) for m in START_MOVING[1:]]
        assert_matches(events[1:], truth, rate_hz, extra_ms=jitter)
        # The first: from the first sample, or from the end of the warm-up when a louder
        # part of it is seen then; its end to the floor block.
        first = events[0]
        assert first[0] <= 2000 + tol_ms(rate_hz), (label, first)
        assert abs(first[1] - 6000) <= BLOCK_MS, (label, first)


def test_restart_after_a_long_gap_in_a_movement():
    # 10 Hz with jitter; no data for 70 s (the floors are learned again after more than
    # a minute); the data come back in the middle of a movement (88-96 s), then more.
    movs = [
        (10000, 12000, 15000, 2),
        (30000, 31000, 15000, 1),
        (88000, 96000, 20000, 4),
        (102000, 104000, 15000, 2),
        (115000, 116000, 15000, 1),
        (130000, 133000, 10000, 3),
    ]
    events, _, _ = detect(
        rate_hz=10, duration_ms=150000, movements=movs, gaps=[(20000, 90000)], jitter_ms=25,
        seed=32,
    )  # fmt: skip
    # Before the gap the movement at 30-31 s fell into it: only 10-12 s remains.
    assert_matches(events[:1], [(10000, 12000)], 10, extra_ms=25)
    assert len(events) == 5, [(e[0], e[1]) for e in events]
    first = events[1]
    assert 90000 - 25 <= first[0] <= 90000 + 2000 + tol_ms(10), first  # jitter: +-25 ms
    assert abs(first[1] - 96000) <= BLOCK_MS, first
    assert_matches(events[2:], [(m[0], m[1]) for m in movs[3:]], 10, extra_ms=25)


def test_quiet_at_low_irregular_rates_gives_no_events():
    # The floor check must not lower the floor on noise: ten quiet minutes at 8 and
    # 12 Hz with 50 % jitter, accelerometer only and with the gyroscope.
    for rate_hz, gyro in ((8, True), (12, False)):
        events, _, _ = detect(
            rate_hz=rate_hz, duration_ms=10 * MIN, jitter_ms=250 // rate_hz, gyro=gyro, seed=33
        )
        assert events == [], (rate_hz, events)


def test_batch_size_does_not_change_a_moving_start():
    signal = {
        "duration_ms": 60000,
        "movements": START_MOVING[:4],
        "jitter_ms": 25,
        "seed": 34,
    }
    ref = detect(rate_hz=10, batch=256, **signal)
    assert len(ref[0]) == 4
    for batch in (1, 7):
        assert detect(rate_hz=10, batch=batch, **signal) == ref, batch


def _footprint(det):
    # MicroPython: gc.mem_alloc(). In the VM it only grows within a test (the GC runs
    # between top-level calls), so it counts every byte allocated since the test began.
    # CPython: the bytes held by the detector, containers followed.
    import gc

    if hasattr(gc, "mem_alloc"):
        return gc.mem_alloc()
    import sys

    total = 0
    todo = [det.__dict__]
    while todo:
        v = todo.pop()
        total += sys.getsizeof(v)
        if isinstance(v, dict):
            todo.extend(v.values())
        elif isinstance(v, (list, tuple)):
            todo.extend(v)
        elif hasattr(v, "__dict__") and not isinstance(v, type):
            todo.append(v.__dict__)
    return total


def _shape(det):
    shape = []
    for name in sorted(det.__dict__):
        v = det.__dict__[name]
        if isinstance(v, (list, tuple, bytes, bytearray)) or hasattr(v, "itemsize"):
            shape.append((name, len(v)))
        else:
            shape.append((name, None))
    return shape


def test_memory_is_bounded():
    moves = [(k * 20000 + 5000, k * 20000 + 7000, 15000, 2) for k in range(15)]
    imu = imu_synth.SyntheticImu(rate_hz=50, duration_ms=5 * MIN, movements=moves, seed=23)
    det = LegMovementDetector(DetectorConfig(rate_hz=50), imu_synth.ACC_SCALE, imu_synth.GYR_SCALE)
    ts, acc, gyr = imu_synth.buffers(250)
    shapes = []
    mark = 0
    produced = 0  # events and epochs after the mark
    blocks = 0
    while True:
        n = imu.read(ts, acc, gyr, 250)
        if n == 0:
            break
        det.process(ts, acc, gyr, n)
        if blocks >= 30:
            produced += len(det.events) + len(det.epochs)
        det.events.clear()
        det.epochs.clear()
        blocks += 1
        if blocks == 30:  # 2.5 minutes in (250 samples = 5 s a block)
            shapes.append(_shape(det))  # before the mark: _shape allocates
            mark = _footprint(det)
    grown = _footprint(det) - mark
    shapes.append(_shape(det))
    assert blocks == 60
    assert produced >= 10  # 7-8 events and 5 epochs
    # the detector's structure does not change with the number of samples
    assert shapes[0] == shapes[-1]
    # 7500 more samples allocate nothing per sample: only the event and epoch tuples
    # (and their arithmetic), at most 256 bytes each; even 1 byte per sample would fail
    limit = 256 * produced + 512
    assert grown < limit, f"{grown} bytes more after 7500 samples (limit {limit})"


def test_detector_rate_rounds_halves_up_on_both_sides():
    # The device configures the detector from the IMU's ODR and the host from a trace's
    # rate: one rule, or the filters differ (12.5 Hz: Python's round() would give 12).
    from legsense_core.detector import detector_rate

    assert detector_rate(12.5) == 13
    assert detector_rate(26.0) == 26
    assert detector_rate(1000 / 19) == 53
    assert detector_rate(9.709) == 10
    assert detector_rate(104.0) == 104
