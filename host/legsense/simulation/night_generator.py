"""Physically plausible synthetic nights from an ankle IMU, with ground-truth labels.

The model, in three frames: world (z up), leg (x along the leg toward the foot, y the
medial-lateral axis, z anterior) and sensor (the leg frame turned by a random mounting
rotation M, fixed for the night). Orientation of the sensor in the world is
P(t) J(t) M: P is the posture (changes only during turns), J the joint rotation of a
leg movement (identity at rest: every leg movement returns to rest). So

    accelerometer = M^T (J^T P^T up + linear acceleration of the sensor) in g
    gyroscope     = M^T (J^T w_P + w_J) in deg/s,

with w_P, w_J the body angular rates of P and J. Both sensors come from the same
rotation, so the gyro integrates to the orientation change the accelerometer sees.
Then the IMU: white noise from the datasheet densities, constant offsets within the
datasheet tolerance plus a slow random walk, quantisation to the IMU's LSB, timestamp
jitter and dropped samples.

Movements never overlap and are at least MIN_GAP_S apart; blocks (PLM series, wake
periods, turns, long movements) are at least BLOCK_GAP_S apart, so the labelled PLM
series are exactly what the WASM 2016 rules find in the labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from legsense_core.imu_scales import scales

from legsense.simulation.imu_specs import imu_spec
from legsense.trace import Labels, Trace

MIN_GAP_S = 1.0  # between any two movements (< 0.5 s would be one LM by the rules)
BLOCK_GAP_S = 100.0  # around blocks: keeps every neighbour IMI > 90 s
EDGE_S = 30.0  # movement-free start and end of the night (detector warm-up)
DEFAULT_START_UTC = datetime(2026, 1, 5, 22, 30, tzinfo=UTC)
G_MS2 = 9.80665
LEVER_ARM_M = np.array([0.05, 0.0, 0.06])  # sensor position from the ankle joint, leg frame
JITTER_SD_S = 0.002
SINGLE_DROP_P = 0.002  # chance that one sample is lost
GAPS_PER_HOUR = 1.5  # data gaps of 0.2-3 s
MAX_JOINT_DPS = 150.0  # brisk but human ankle/knee angular rates
MAX_JOINT_ACC = 60.0  # rad/s^2: about 0.5 g tangential at the lever arm
KINDS = ("plm", "isolated", "long", "turn", "wake", "twitch")
MAX_JITTER = 0.75  # sample intervals stay positive and below the detector's gap limit
OPTIONS_STREAM = 0x51A7  # second seed word of the random stream of the options


@dataclass(frozen=True)
class Profile:
    """How a kind of night moves: PLM index range and the rates of everything else."""

    plmi_range: tuple[float, float]  # target PLM index, per hour
    series_median: float  # median PLMs per series
    isolated_per_h: float
    turns_per_h: float
    wake_per_h: float
    long_per_h: float
    twitches_per_h: float


PROFILES = {
    "plmd": Profile((25.0, 70.0), 25.0, 8.0, 2.5, 0.5, 0.8, 30.0),
    "rls-mild": Profile((6.0, 13.0), 9.0, 6.0, 2.5, 0.6, 0.6, 20.0),
    "healthy": Profile((0.0, 2.0), 5.0, 4.0, 2.0, 0.3, 0.3, 15.0),
}

# Posture -> (roll about the leg's long axis in degrees, probability of starting in it)
POSTURES = {
    "supine": (0.0, 0.45),
    "left": (90.0, 0.25),
    "right": (-90.0, 0.2),
    "prone": (180.0, 0.1),
}


@dataclass
class _Move:
    """One labelled movement and the parameters of its rotation."""

    onset: float
    duration: float
    kind: str
    series: int = -1
    a1: float = 0.0  # peak angle about axis 1 (rad)
    a2: float = 0.0  # peak angle about axis 2 (rad)
    rise: float = 0.3  # fraction of the duration spent rising
    fall: float = 0.3  # fraction spent returning
    creep: float = 0.1  # slow extra excursion between rise and fall (keeps it moving)
    wobble: float = 0.0  # relative amplitude of an oscillation on top (long movements)
    freq: float = 0.0
    phase1: float = 0.0
    phase2: float = 0.0
    axis1: np.ndarray | None = None
    axis2: np.ndarray | None = None
    turn_axis: np.ndarray | None = None  # turns: rotation of the posture
    turn_angle: float = 0.0

    @property
    def offset(self) -> float:
        return self.onset + self.duration


def simulate_night(
    seed: int,
    hours: float,
    rate_hz: float,
    imu: str = "lsm6dsox",
    gyro: bool = True,
    profile: str = "plmd",
    start_utc: datetime | None = None,
    jitter: float = 0.0,
    start_moving: bool = False,
) -> tuple[Trace, Labels]:
    """Generate one night: the trace (values on the IMU's grid) and its labels.

    `jitter` > 0 makes the sampling irregular: each interval is the nominal period
    times a uniform factor in [1 - jitter, 1 + jitter] (0.5: "50 % jitter", as cheap
    loggers do), instead of the default few-ms jitter on a regular grid.
    `start_moving` starts the night in the middle of a movement followed by a few
    more in its first half minute (getting settled), which a detector's warm-up must
    survive. Both options draw from their own random stream, so the default night of
    a seed stays what it was.

    Deterministic for a seed. Raises ValueError for an unknown IMU or profile, or a
    length, rate or jitter out of range.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    if not (math.isfinite(hours) and hours > 0 and hours <= 48):
        raise ValueError(f"hours must be in (0, 48], got {hours}")
    if not (math.isfinite(rate_hz) and 5 <= rate_hz <= 1000):
        raise ValueError(f"rate must be 5-1000 Hz, got {rate_hz}")
    if not (math.isfinite(jitter) and 0 <= jitter <= MAX_JITTER):
        raise ValueError(f"jitter must be 0-{MAX_JITTER:g}, got {jitter}")
    scales(imu)  # ValueError for an unknown IMU
    imu_spec(imu)
    rng = np.random.default_rng(seed)
    total_s = hours * 3600.0

    mount = _random_rotation(rng)
    moves = _schedule(rng, total_s, PROFILES[profile])
    up_rest = _postures(rng, moves)

    t = _timestamps(rng, total_s, rate_hz)
    options = np.random.default_rng([seed, OPTIONS_STREAM])
    if jitter:
        t = _irregular_timestamps(options, total_s, rate_hz, jitter)
    if start_moving:
        moves = _settling(options) + moves
    acc_q, gyr_q = measured(rng, t, moves, up_rest, mount, rate_hz, imu, gyro)

    start = DEFAULT_START_UTC if start_utc is None else start_utc
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    meta = {
        "sample_rate_hz": f"{rate_hz:g}",
        "start_utc": start.astimezone(UTC).isoformat(),
        "imu": imu,
        "leg": "left",
        "generator": "legsense simulate-night",
        "seed": str(seed),
        "profile": profile,
    }
    trace = Trace(t_s=t, acc_g=acc_q, gyr_dps=gyr_q, meta=meta)
    labels = Labels(
        onset_s=np.round([m.onset for m in moves], 6),
        offset_s=np.round([m.offset for m in moves], 6),
        extra={
            "kind": np.asarray([m.kind for m in moves], dtype=str),
            "series": np.asarray([m.series for m in moves], dtype=np.int64),
        },
    )
    return trace, labels


def measured(
    rng: np.random.Generator,
    t: np.ndarray,
    moves: list[_Move],
    up_rest: np.ndarray,
    mount: np.ndarray,
    rate_hz: float,
    imu: str,
    gyro: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """What the IMU reports at times t for these movements: the physics, then the
    sensor's noise and offsets, on its LSB grid (accelerometer in g, gyro in deg/s)."""
    accel_scale, gyro_scale = scales(imu)
    spec = imu_spec(imu)
    acc, gyr = _render(t, moves, up_rest, mount)
    acc = acc + _sensor_errors(
        rng, t, rate_hz, spec.accel_noise_g(rate_hz), spec.accel_offset_mg * 1e-3, 5e-5
    )
    gyr = gyr + _sensor_errors(
        rng, t, rate_hz, spec.gyro_noise_dps(rate_hz), spec.gyro_offset_dps, 0.01
    )
    return _on_grid(acc, accel_scale), (_on_grid(gyr, gyro_scale) if gyro else None)


def check_options(profile: str, hours: float, rate_hz: float, imu: str) -> None:
    """ValueError for an unknown profile or IMU, or a length or rate out of range."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    if not (math.isfinite(hours) and hours > 0 and hours <= 48):
        raise ValueError(f"hours must be in (0, 48], got {hours}")
    if not (math.isfinite(rate_hz) and 5 <= rate_hz <= 1000):
        raise ValueError(f"rate must be 5-1000 Hz, got {rate_hz}")
    scales(imu)  # ValueError for an unknown IMU
    imu_spec(imu)


# ---------------------------------------------------------------- what happens when


def _lognormal(
    rng: np.random.Generator, median: float, sigma: float, lo: float, hi: float
) -> float:
    return float(np.clip(median * math.exp(sigma * rng.standard_normal()), lo, hi))


def _schedule(rng: np.random.Generator, total_s: float, prof: Profile) -> list[_Move]:
    """Lay out the night: blocks apart, then isolated LMs and twitches in the quiet."""
    hours = total_s / 3600.0
    blocks: list[list[_Move]] = []
    series_sizes = _series_sizes(rng, rng.uniform(*prof.plmi_range) * hours, prof.series_median)
    for size in series_sizes:
        blocks.append(_plm_series(rng, size))
    for _ in range(rng.poisson(prof.wake_per_h * hours)):
        blocks.append(_wake_period(rng))
    for _ in range(rng.poisson(prof.long_per_h * hours)):
        blocks.append([_long_move(rng, 0.0)])
    for _ in range(max(rng.poisson(prof.turns_per_h * hours), 1 if hours >= 1 else 0)):
        blocks.append([_turn(rng, 0.0)])
    available = total_s - 2 * EDGE_S
    blocks = _fit_blocks(blocks, available)
    order = rng.permutation(len(blocks))
    blocks = [blocks[i] for i in order]
    spans = [b[-1].offset for b in blocks]
    slack = available - sum(spans) - BLOCK_GAP_S * max(len(blocks) - 1, 0)
    shares = rng.dirichlet(np.ones(len(blocks) + 1)) * slack if blocks else np.array([slack])
    moves: list[_Move] = []
    cursor = EDGE_S + shares[0]
    for k, block in enumerate(blocks):
        for m in block:
            m.onset += cursor
            moves.append(m)
        cursor += spans[k] + BLOCK_GAP_S + shares[k + 1]
    series_id = 0
    for block in blocks:  # number the series in time order
        if block[0].kind == "plm":
            for m in block:
                m.series = series_id
            series_id += 1
    for m in moves:
        _limit_rate(m)
    isolated = [_lm(rng, 0.0, "isolated") for _ in range(rng.poisson(prof.isolated_per_h * hours))]
    moves = _place(rng, moves, isolated, total_s, BLOCK_GAP_S)
    twitches = [_twitch(rng) for _ in range(rng.poisson(prof.twitches_per_h * hours))]
    for m in isolated + twitches:
        _limit_rate(m)
    moves = _place(rng, moves, twitches, total_s, MIN_GAP_S)
    return moves


def _limit_rate(m: _Move) -> None:
    """Scale the joint excursion down to human peak rates and angular accelerations.

    A minimum-jerk piece of angle A over T seconds peaks at 1.875 A / T in rate and
    5.77 A / T^2 in angular acceleration.
    """
    shortest = min(m.rise, m.fall, 1.0) * m.duration
    angle = (abs(m.a1) + abs(m.a2)) * (1.0 + m.wobble)
    factor = min(
        1.0,
        math.radians(MAX_JOINT_DPS) / (1.875 * angle / shortest),
        MAX_JOINT_ACC / (5.77 * angle / shortest**2),
    )
    m.a1 *= factor
    m.a2 *= factor


def _series_sizes(rng: np.random.Generator, budget: float, median: float) -> list[int]:
    sizes: list[int] = []
    remaining = round(budget)
    while remaining >= 4:
        size = min(round(_lognormal(rng, median, 0.6, 4, 150)), remaining)
        if remaining - size < 4 and sizes:
            size = remaining  # fold a remainder too small for a series into this one
        sizes.append(size)
        remaining -= size
    if not sizes and remaining > 0 and rng.random() < remaining / 4.0:
        sizes.append(4)
    return sizes


def _fit_blocks(blocks: list[list[_Move]], available: float) -> list[list[_Move]]:
    """Drop (wake, long, turns) or shorten (series) blocks until they fit the night."""

    def needed() -> float:
        return sum(b[-1].offset for b in blocks) + BLOCK_GAP_S * max(len(blocks) - 1, 0)

    while blocks and needed() > available:
        kinds = [b[0].kind for b in blocks]
        for kind in ("wake", "long", "turn"):
            if kind in kinds:
                blocks.pop(kinds.index(kind))
                break
        else:
            longest = max(range(len(blocks)), key=lambda i: len(blocks[i]))
            if len(blocks[longest]) > 4:
                blocks[longest].pop()
            else:
                blocks.pop(longest)
    return blocks


def _place(
    rng: np.random.Generator, moves: list[_Move], new: list[_Move], total_s: float, gap: float
) -> list[_Move]:
    """Put each new movement at a random time at least `gap` from every other movement."""
    moves = sorted(moves, key=lambda m: m.onset)
    onsets = [m.onset for m in moves]
    for m in new:
        latest = total_s - EDGE_S - m.duration
        if latest <= EDGE_S:
            continue  # the night is too short for it
        for _ in range(30):
            start = rng.uniform(EDGE_S, latest)
            i = int(np.searchsorted(onsets, start))
            before_ok = i == 0 or moves[i - 1].offset + _gap_for(moves[i - 1], gap) <= start
            after_ok = i == len(moves) or start + m.duration + _gap_for(moves[i], gap) <= onsets[i]
            if before_ok and after_ok:
                m.onset = start
                moves.insert(i, m)
                onsets.insert(i, start)
                break
    return moves


def _gap_for(neighbour: _Move, gap: float) -> float:
    # A twitch is not an LM: only MIN_GAP_S is needed next to it, whatever is placed.
    return MIN_GAP_S if neighbour.kind == "twitch" else gap


def _ml_axis(rng: np.random.Generator) -> np.ndarray:
    return _unit(np.array([0.0, 1.0, 0.0]) + rng.normal(0.0, 0.15, 3))


def _long_axis(rng: np.random.Generator) -> np.ndarray:
    return _unit(np.array([1.0, 0.0, 0.0]) + rng.normal(0.0, 0.3, 3))


def _lm(rng: np.random.Generator, onset: float, kind: str, amp_deg: float | None = None) -> _Move:
    """A leg movement: dorsiflexion, sometimes with knee/hip flexion adding a second axis."""
    duration = _lognormal(rng, 1.9, 0.35, 0.6, 9.0)
    amp = amp_deg if amp_deg is not None else _lognormal(rng, 12.0, 0.6, 3.0, 40.0)
    second = rng.random() < 0.35
    return _Move(
        onset=onset,
        duration=duration,
        kind=kind,
        a1=math.radians(amp),
        a2=math.radians(amp * rng.uniform(0.2, 0.6) * rng.choice([-1.0, 1.0])) if second else 0.0,
        rise=rng.uniform(0.2, 0.35),
        fall=rng.uniform(0.25, 0.4),
        creep=rng.uniform(0.05, 0.2),
        axis1=_ml_axis(rng),
        axis2=_long_axis(rng),
    )


def _plm_series(rng: np.random.Generator, size: int) -> list[_Move]:
    """A PLM series: IMI lognormal around 24 s (10-90 s), similar amplitudes."""
    typical_amp = _lognormal(rng, 12.0, 0.5, 3.0, 35.0)
    moves = []
    onset = 0.0
    for _ in range(size):
        amp = float(np.clip(typical_amp * math.exp(0.25 * rng.standard_normal()), 2.5, 40.0))
        moves.append(_lm(rng, onset, "plm", amp))
        onset += _lognormal(rng, 24.0, 0.35, 11.0, 85.0)
    return moves


def _wake_period(rng: np.random.Generator) -> list[_Move]:
    """Restless wake: irregular movements less than 10 s apart, 1-8 minutes."""
    length = rng.uniform(60.0, 480.0)
    moves = []
    onset = 0.0
    while onset < length:
        m = _lm(rng, onset, "wake", _lognormal(rng, 15.0, 0.7, 3.0, 45.0))
        m.duration = _lognormal(rng, 1.5, 0.6, 0.5, 7.0)
        m.a1 *= rng.choice([-1.0, 1.0])
        moves.append(m)
        onset = m.offset + rng.uniform(MIN_GAP_S, max(MIN_GAP_S + 0.2, 9.5 - m.duration))
    return moves


def _long_move(rng: np.random.Generator, onset: float) -> _Move:
    """A long movement (> 10 s): a wobbling excursion, not a candidate LM."""
    m = _lm(rng, onset, "long", _lognormal(rng, 18.0, 0.4, 6.0, 40.0))
    m.duration = rng.uniform(10.5, 40.0)
    m.rise, m.fall = 1.0 / m.duration, 1.0 / m.duration
    m.wobble = rng.uniform(0.15, 0.4)
    m.freq = rng.uniform(0.2, 0.6)
    m.phase1, m.phase2 = rng.uniform(0.0, 2 * math.pi, 2)
    return m


def _turn(rng: np.random.Generator, onset: float) -> _Move:
    """A change of posture (3-20 s); the axis and angle are set by _postures."""
    m = _lm(rng, onset, "turn", rng.uniform(3.0, 10.0))
    m.duration = _lognormal(rng, 6.0, 0.5, 3.0, 20.0)
    m.rise, m.fall = rng.uniform(0.2, 0.4), rng.uniform(0.2, 0.4)
    m.wobble, m.freq = 0.3, rng.uniform(0.3, 0.8)
    m.phase1, m.phase2 = rng.uniform(0.0, 2 * math.pi, 2)
    return m


def _twitch(rng: np.random.Generator) -> _Move:
    """A short twitch (< 0.5 s): not an LM by the rules."""
    m = _lm(rng, 0.0, "twitch", rng.uniform(1.5, 5.0))
    m.duration = rng.uniform(0.15, 0.45)
    m.rise, m.fall, m.creep, m.a2 = 0.45, 0.45, 0.05, 0.0
    return m


def _postures(rng: np.random.Generator, moves: list[_Move]) -> np.ndarray:
    """Choose the postures; return 'up' in the leg frame before each turn and after the last.

    Row k is the rest posture after k turns. Sets each turn's axis and angle.
    """
    names = list(POSTURES)
    probs = np.array([POSTURES[n][1] for n in names])
    current = names[rng.choice(len(names), p=probs)]
    roll = math.radians(POSTURES[current][0] + rng.normal(0.0, 12.0))
    pitch = math.radians(rng.uniform(-35.0, 10.0))  # foot and shank tilt
    # up = P^T z with P = Rot(x, roll) Rot(y, pitch)
    up = _rotate(
        _rotate(np.array([[0.0, 0.0, 1.0]]), np.array([1.0, 0, 0]), -roll),
        np.array([0, 1.0, 0]),
        -pitch,
    )[0]
    rests = [up]
    for m in moves:
        if m.kind != "turn":
            continue
        choices = [n for n in names if n != current]
        target = choices[rng.integers(len(choices))]
        delta = POSTURES[target][0] - POSTURES[current][0]
        delta = (delta + 180.0) % 360.0 - 180.0
        if abs(abs(delta) - 180.0) < 1e-9:
            delta = 180.0 * rng.choice([-1.0, 1.0])
        axis = _unit(np.array([1.0, 0.0, 0.0]) + rng.normal(0.0, 0.2, 3))
        angle = math.radians(delta + rng.normal(0.0, 12.0))
        m.turn_axis, m.turn_angle = axis, angle
        up = _rotate(up[None, :], axis, -angle)[0]
        rests.append(up)
        current = target
    return np.asarray(rests)


# ---------------------------------------------------------------- sampling and physics


def _timestamps(rng: np.random.Generator, total_s: float, rate_hz: float) -> np.ndarray:
    """Sample times: nominal grid + jitter (never reordering), single drops and gaps."""
    n = math.floor(total_s * rate_hz) + 1
    t = np.arange(n) / rate_hz
    limit = min(3 * JITTER_SD_S, 0.3 / rate_hz)
    t[1:] += np.clip(rng.normal(0.0, JITTER_SD_S, n - 1), -limit, limit)
    keep = rng.random(n) >= SINGLE_DROP_P
    for _ in range(rng.poisson(GAPS_PER_HOUR * total_s / 3600.0)):
        start = rng.uniform(0.0, total_s)
        keep &= ~((t >= start) & (t < start + rng.uniform(0.2, 3.0)))
    keep[0] = keep[-1] = True
    return np.round(t[keep], 6)


def _irregular_timestamps(
    rng: np.random.Generator, total_s: float, rate_hz: float, jitter: float
) -> np.ndarray:
    """Sample times with each interval period * U[1 - jitter, 1 + jitter] (the mean
    rate stays nominal), then single drops and gaps as in _timestamps."""
    period = 1.0 / rate_hz
    n = math.floor(total_s * rate_hz * 1.05) + 16
    intervals = period * rng.uniform(1.0 - jitter, 1.0 + jitter, n)
    t = np.concatenate(([0.0], np.cumsum(intervals)))
    t = t[t <= total_s]
    keep = rng.random(len(t)) >= SINGLE_DROP_P
    for _ in range(rng.poisson(GAPS_PER_HOUR * total_s / 3600.0)):
        start = rng.uniform(0.0, total_s)
        keep &= ~((t >= start) & (t < start + rng.uniform(0.2, 3.0)))
    keep[0] = keep[-1] = True
    return np.round(t[keep], 6)


def _settling(rng: np.random.Generator) -> list[_Move]:
    """Getting settled: a movement already under way at the first sample, then a few
    more until some seconds before the first scheduled one (EDGE_S)."""
    first = _lm(rng, -rng.uniform(0.5, 2.0), "wake", _lognormal(rng, 15.0, 0.5, 6.0, 40.0))
    first.duration = rng.uniform(4.0, 8.0)
    moves = [first]
    onset = first.offset + rng.uniform(2.0, 6.0)
    while onset < EDGE_S - 6.0:
        m = _lm(rng, onset, "wake", _lognormal(rng, 15.0, 0.5, 6.0, 40.0))
        m.duration = min(_lognormal(rng, 1.8, 0.4, 0.6, 4.0), EDGE_S - 2.0 - onset)
        moves.append(m)
        onset = m.offset + rng.uniform(2.0, 8.0)
    for m in moves:
        _limit_rate(m)
    return moves


def _render(
    t: np.ndarray, moves: list[_Move], up_rest: np.ndarray, mount: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """True specific force (g) and angular rate (deg/s) in the sensor frame."""
    n = len(t)
    onsets = np.array([m.onset for m in moves]) if moves else np.zeros(0)
    offsets = np.array([m.onset + m.duration for m in moves]) if moves else np.zeros(0)
    is_turn = np.array([m.kind == "turn" for m in moves], dtype=bool)
    # posture index: number of turns that ended before t
    turn_ends = offsets[is_turn]
    seg = np.searchsorted(turn_ends, t, side="right")
    force = up_rest[seg].copy()
    rate = np.zeros((n, 3))
    idx = np.searchsorted(onsets, t, side="right") - 1
    if len(moves) == 0:
        return force @ mount, rate
    inside = (idx >= 0) & (t < offsets[np.maximum(idx, 0)])
    if inside.any():
        sel = np.nonzero(inside)[0]
        f, w = _movement_samples(t[sel], idx[sel], moves, up_rest, is_turn)
        force[sel] = f
        rate[sel] = w
    return force @ mount, np.degrees(rate @ mount)


def _movement_samples(
    t: np.ndarray, ev: np.ndarray, moves: list[_Move], up_rest: np.ndarray, is_turn: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    def col(name: str) -> np.ndarray:
        return np.array([getattr(m, name) for m in moves], dtype=float)[ev]

    def vec(name: str) -> np.ndarray:
        return np.array(
            [getattr(m, name) if getattr(m, name) is not None else np.zeros(3) for m in moves]
        )[ev]

    onset, dur = col("onset"), col("duration")
    tau = np.clip((t - onset) / dur, 0.0, 1.0)
    turn = is_turn[ev]
    s, ds, dds = _excursion(tau, dur, col("rise"), col("fall"), col("creep"))
    # posture during a turn: P(t) = P_before Rot(k, phi * q(tau)), q minimum-jerk 0 -> 1
    turn_index = np.cumsum(is_turn) - is_turn  # turns before each movement
    up_before = up_rest[turn_index[ev]]
    k, phi = vec("turn_axis"), col("turn_angle")
    q, dq = _min_jerk(tau), _min_jerk_d(tau) / dur
    up = np.where(turn[:, None], _rotate(up_before, k, -phi * q), up_before)
    w_posture = k * (phi * dq * turn)[:, None]
    # joint rotation J = Rot(u1, th1) Rot(u2, th2); a wobble modulates the excursion
    u1, u2 = vec("axis1"), vec("axis2")
    th1, dth1, ddth1 = _angle(
        t - onset, s, ds, dds, col("a1"), col("wobble"), col("freq"), col("phase1")
    )
    th2, dth2, ddth2 = _angle(
        t - onset, s, ds, dds, col("a2"), col("wobble"), col("freq"), col("phase2")
    )
    up_joint = _rotate(_rotate(up, u1, -th1), u2, -th2)  # J^T up
    u1_b = _rotate(u1, u2, -th2)  # R2^T u1
    w_joint = u1_b * dth1[:, None] + u2 * dth2[:, None]
    a_joint = (
        u1_b * ddth1[:, None] - np.cross(u2, u1_b) * (dth1 * dth2)[:, None] + u2 * ddth2[:, None]
    )
    w_posture_b = _rotate(_rotate(w_posture, u1, -th1), u2, -th2)  # J^T w_P
    lever = np.broadcast_to(LEVER_ARM_M, w_joint.shape)
    linear = np.cross(a_joint, lever) + np.cross(w_joint, np.cross(w_joint, lever))
    return up_joint + linear / G_MS2, w_posture_b + w_joint


def _angle(tl, s, ds, dds, amp, wobble, freq, phase):
    """Angle = amp * s * (1 + wobble sin(2 pi f t + phase)) and its two derivatives."""
    om = 2 * math.pi * freq
    w = 1.0 + wobble * np.sin(om * tl + phase)
    dw = wobble * om * np.cos(om * tl + phase)
    ddw = -wobble * om * om * np.sin(om * tl + phase)
    return amp * s * w, amp * (ds * w + s * dw), amp * (dds * w + 2 * ds * dw + s * ddw)


def _min_jerk(u):
    return u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)


def _min_jerk_d(u):
    return 30.0 * u * u * (1.0 - u) ** 2


def _min_jerk_dd(u):
    return 60.0 * u * (1.0 - u) * (1.0 - 2.0 * u)


def _excursion(tau, dur, rise, fall, creep):
    """Out-and-back profile 0 -> 1 -> 0 in three minimum-jerk pieces, with derivatives in t.

    Rise to 1/(1+creep), creep on to 1, fall back to 0: the leg keeps moving throughout.
    """
    mid = 1.0 - rise - fall
    in_rise = tau < rise
    in_fall = tau > 1.0 - fall
    length = np.where(in_rise, rise, np.where(in_fall, fall, mid))
    start = np.where(in_rise, 0.0, np.where(in_fall, 1.0 - fall, rise))
    u = np.clip((tau - start) / length, 0.0, 1.0)
    base = np.where(in_rise, 0.0, np.where(in_fall, 1.0 + creep, 1.0))
    gain = np.where(in_rise, 1.0, np.where(in_fall, -(1.0 + creep), creep))
    norm = 1.0 + creep
    s = (base + gain * _min_jerk(u)) / norm
    ds = gain * _min_jerk_d(u) / (length * dur) / norm
    dds = gain * _min_jerk_dd(u) / (length * dur) ** 2 / norm
    return s, ds, dds


def _sensor_errors(
    rng: np.random.Generator,
    t: np.ndarray,
    rate_hz: float,
    white_sd: float,
    offset_limit: float,
    walk_sd: float,
) -> np.ndarray:
    """White noise + a constant offset inside half the tolerance + a slow random walk.

    The walk takes one step of walk_sd per minute, interpolated between steps.
    """
    n = len(t)
    offset = rng.uniform(-0.5, 0.5, 3) * offset_limit
    knots = np.arange(0.0, t[-1] + 120.0, 60.0)
    walk = np.cumsum(rng.normal(0.0, walk_sd, (len(knots), 3)), axis=0)
    drift = np.column_stack([np.interp(t, knots, walk[:, a]) for a in range(3)])
    return rng.normal(0.0, white_sd, (n, 3)) + offset + drift


def _on_grid(values: np.ndarray, scale: tuple[int, int]) -> np.ndarray:
    """Quantise to the IMU's LSB (clipping at int16) and return the physical values."""
    num, den = scale
    counts = np.clip(np.rint(values * 1e6 * den / num), -32768, 32767)
    return counts * num / den / 1e6


# ---------------------------------------------------------------- rotations


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _rotate(v: np.ndarray, axis: np.ndarray, angle) -> np.ndarray:
    """Rodrigues: rotate vectors v (n,3) about unit axes (3,) or (n,3) by angles (rad)."""
    axis = np.broadcast_to(axis, np.broadcast_shapes(np.shape(axis), np.shape(v)))
    c = np.cos(angle)[..., None] if np.ndim(angle) else math.cos(angle)
    s = np.sin(angle)[..., None] if np.ndim(angle) else math.sin(angle)
    dot = np.sum(axis * v, axis=-1, keepdims=True)
    return v * c + np.cross(axis, v) * s + axis * dot * (1.0 - c)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation matrix (the strap can sit any way round)."""
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )
