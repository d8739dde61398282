"""Offline analysis: a recorded trace through the very detector the firmware runs.

The trace is quantised to the IMU's raw counts (as the device would have seen them) and
fed to `legsense_core.detector.LegMovementDetector` unchanged, so the events equal those
the board produces for the same input, to the last digit.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from legsense_core.detector import DetectorConfig, LegMovementDetector, detector_rate

from legsense.errors import InputError
from legsense.night import Epochs, Movements, NightInfo
from legsense.trace import CountsTrace, Trace, to_counts

# Samples per detector call on the host: large (fewer calls), small enough for progress.
HOST_BATCH = 65536
MAX_T_MS = 2**31 - 1  # the device keeps ms in a 32-bit int: about 24 days


@dataclass(frozen=True)
class Detection:
    """What the detector reported for one recording."""

    movements: Movements
    epochs: Epochs
    config: DetectorConfig
    gaps: int
    gap_s: float
    samples: int


def detector_config_for(rate_hz: float, **overrides: int) -> DetectorConfig:
    """The detector configuration the firmware uses at this sample rate."""
    rate = detector_rate(rate_hz)  # the device's rule: 12.5 Hz -> 13, like the firmware
    if not 5 <= rate <= 1000:
        raise InputError(f"sample rate {rate_hz:g} Hz is outside 5-1000 Hz")
    return DetectorConfig(rate_hz=rate, **overrides)


def detect(
    counts: CountsTrace,
    config: DetectorConfig,
    progress: Callable[[int, int], None] | None = None,
) -> Detection:
    """Run the portable detector over a whole recording of raw counts."""
    n = len(counts.t_ms)
    if n and int(counts.t_ms[-1]) > MAX_T_MS:
        raise InputError("recording longer than the detector's 24-day clock")
    det = LegMovementDetector(config, counts.accel_scale, counts.gyro_scale)
    # array.array gives the detector plain Python ints (numpy scalars would be slow, and
    # int16 shifts would overflow); memoryview slices avoid copies per batch.
    ts = memoryview(array("i", counts.t_ms.astype(np.int32).tobytes()))
    acc = memoryview(array("h", np.ascontiguousarray(counts.acc, dtype=np.int16).tobytes()))
    gyr = None
    if counts.gyr is not None:
        gyr = memoryview(array("h", np.ascontiguousarray(counts.gyr, dtype=np.int16).tobytes()))
    events: list[tuple[int, ...]] = []
    epochs: list[tuple[int, ...]] = []
    for start in range(0, n, HOST_BATCH):
        stop = min(n, start + HOST_BATCH)
        det.process(
            ts[start:stop],
            acc[3 * start : 3 * stop],
            None if gyr is None else gyr[3 * start : 3 * stop],
            stop - start,
        )
        events.extend(det.events)
        epochs.extend(det.epochs)
        det.events.clear()
        det.epochs.clear()
        if progress is not None:
            progress(stop, n)
    det.finish()
    events.extend(det.events)
    epochs.extend(det.epochs)
    return Detection(
        movements=movements_from_events(events),
        epochs=epochs_from_tuples(epochs, config.epoch_ms),
        config=config,
        gaps=det.gaps,
        gap_s=det.gap_ms_total / 1000.0,
        samples=det.samples,
    )


def movements_from_events(events: list[tuple[int, ...]], leg: str = "") -> Movements:
    """Detector event tuples (see EVENT_FIELDS) -> Movements in seconds."""
    ev = np.asarray(events, dtype=np.int64).reshape(-1, 6)
    return Movements(
        onset_s=ev[:, 0] / 1000.0,
        offset_s=ev[:, 1] / 1000.0,
        peak_mg=ev[:, 2],
        peak_dps=ev[:, 3],
        channels=ev[:, 4],
        leg=np.full(len(ev), leg, dtype=object),
    )


def epochs_from_tuples(epochs: list[tuple[int, ...]], epoch_ms: int) -> Epochs:
    """Detector epoch tuples (see EPOCH_FIELDS) -> Epochs."""
    ep = np.asarray(epochs, dtype=np.int64).reshape(-1, 7)
    return Epochs(
        epoch_s=epoch_ms / 1000.0,
        start_s=ep[:, 0] * (epoch_ms / 1000.0),
        n_samples=ep[:, 1],
        active_s=ep[:, 2] / 1000.0,
        activity_mg_s=ep[:, 3],
        posture_mg=ep[:, 4:7],
    )


def data_spans(t_s: np.ndarray, gap_ms: int) -> list[tuple[float, float]]:
    """Stretches of the recording with data: split where samples are more than the
    detector's gap threshold apart."""
    if len(t_s) == 0:
        return []
    cut = np.flatnonzero(np.diff(t_s) * 1000.0 > gap_ms)
    starts = np.concatenate(([0], cut + 1))
    ends = np.concatenate((cut, [len(t_s) - 1]))
    return [(float(t_s[a]), float(t_s[b])) for a, b in zip(starts, ends, strict=True)]


def night_info(trace: Trace, detection: Detection, source: str) -> NightInfo:
    """Recording times and metadata of an analysed trace."""
    t = trace.t_s
    recording_s = float(t[-1] - t[0]) if len(t) > 1 else 0.0
    if recording_s <= 0:
        raise InputError(
            "the trace is too short to analyse (needs two samples or more)", trace.path
        )
    spans = data_spans(t, detection.config.gap_ms)
    analysed_s = sum(b - a for a, b in spans)
    return NightInfo(
        recording_s=recording_s,
        analysed_s=analysed_s,
        sample_rate_hz=float(trace.sample_rate_hz),
        start_utc=trace.start_utc,
        imu=trace.imu or "",
        leg=trace.leg or "",
        source=source,
        data_spans_s=spans,
    )


def analyze_trace(
    trace: Trace,
    config: DetectorConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Detection, NightInfo]:
    """Detect the movements of a trace; returns the detection and the night's info."""
    if len(trace.t_s) < 2:
        raise InputError(
            "the trace is too short to analyse (needs two samples or more)", trace.path
        )
    counts = to_counts(trace)
    try:
        cfg = config or detector_config_for(trace.sample_rate_hz)
    except InputError as exc:
        raise InputError(exc.message, trace.path) from None
    detection = detect(counts, cfg, progress)
    leg = trace.leg or ""
    if leg:
        detection = Detection(
            movements=Movements(
                onset_s=detection.movements.onset_s,
                offset_s=detection.movements.offset_s,
                peak_mg=detection.movements.peak_mg,
                peak_dps=detection.movements.peak_dps,
                channels=detection.movements.channels,
                leg=np.full(len(detection.movements), leg, dtype=object),
            ),
            epochs=detection.epochs,
            config=detection.config,
            gaps=detection.gaps,
            gap_s=detection.gap_s,
            samples=detection.samples,
        )
    return detection, night_info(trace, detection, str(trace.path or ""))
