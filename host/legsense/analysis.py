"""Offline analysis: a recorded trace through the very detector the firmware runs.

The trace is quantised to the IMU's raw counts (as the device would have seen them) and
fed to `legsense_core.detector.LegMovementDetector` unchanged, so the events equal those
the board produces for the same input, to the last digit.

Two ways in, one result:

- `analyze_trace(trace)`: a Trace already in memory (tests, simulations, benchmarks);
- `analyze_file(path)`: a trace file streamed a block at a time (`legsense analyze`),
  so memory stays bounded whatever the length of the night.

Both feed the detector through DetectorFeed, in batches of HOST_BATCH samples counted
from the first sample, so how the file happens to be cut into blocks cannot change what
the detector sees; tests/host/test_stream_analysis.py checks the two agree.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from legsense_core.detector import DetectorConfig, LegMovementDetector, detector_rate
from legsense_core.imu_scales import DEFAULT_IMU

from legsense.errors import InputError
from legsense.night import Epochs, Movements, NightInfo
from legsense.trace import (
    BLOCK_BYTES,
    RATE_TABLE_US,
    CountsTrace,
    IntervalCounter,
    Trace,
    TraceFile,
    imu_scales,
    samples_to_counts,
    to_counts,
)

# Samples per detector call on the host: large (fewer calls), small enough for progress.
HOST_BATCH = 65536
MAX_T_MS = 2**31 - 1  # the device keeps ms in a 32-bit int: about 24 days
MIN_T_MS = -(2**31)

Progress = Callable[[int, int], None]


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
    if rate_hz <= 0:
        raise InputError(
            f"sample rate unknown or under {1e6 / RATE_TABLE_US:.1f} Hz (the median interval "
            "between samples); the detector takes 5-1000 Hz"
        )
    rate = detector_rate(rate_hz)  # the device's rule: 12.5 Hz -> 13, like the firmware
    if not 5 <= rate <= 1000:
        raise InputError(f"sample rate {rate_hz:g} Hz is outside 5-1000 Hz")
    return DetectorConfig(rate_hz=rate, **overrides)


class DetectorFeed:
    """Raw counts in blocks of any size -> the portable detector in fixed batches.

    Samples are gathered into batches of `batch` counted from the first sample, so the
    detector sees the same calls however the input is cut; events and epochs are taken
    away after each call. Memory: one batch.
    """

    def __init__(
        self,
        config: DetectorConfig,
        accel_scale: tuple[int, int],
        gyro_scale: tuple[int, int],
        has_gyro: bool,
        batch: int = HOST_BATCH,
        path: Path | str | None = None,
    ) -> None:
        self.config = config
        self._det = LegMovementDetector(config, accel_scale, gyro_scale)
        self._batch = max(1, int(batch))
        self._t = np.empty(self._batch, dtype=np.int32)
        self._acc = np.empty((self._batch, 3), dtype=np.int16)
        self._gyr = np.empty((self._batch, 3), dtype=np.int16) if has_gyro else None
        self._fill = 0
        self._path = path
        self.events: list[tuple[int, ...]] = []
        self.epochs: list[tuple[int, ...]] = []
        self.samples = 0

    def feed(self, t_ms: np.ndarray, acc: np.ndarray, gyr: np.ndarray | None) -> None:
        """Add samples (t_ms int, acc and gyr int16 (n, 3); gyr None without a gyro)."""
        n = len(t_ms)
        if n == 0:
            return
        if (gyr is None) != (self._gyr is None):
            raise ValueError("every block must have a gyroscope, or none must")
        if int(t_ms.max()) > MAX_T_MS or int(t_ms.min()) < MIN_T_MS:
            raise InputError("recording longer than the detector's 24-day clock", self._path)
        done = 0
        while done < n:
            take = min(n - done, self._batch - self._fill)
            end = self._fill + take
            self._t[self._fill : end] = t_ms[done : done + take]
            self._acc[self._fill : end] = acc[done : done + take]
            if self._gyr is not None and gyr is not None:
                self._gyr[self._fill : end] = gyr[done : done + take]
            self._fill = end
            done += take
            if self._fill == self._batch:
                self._flush()
        self.samples += n

    def _flush(self) -> None:
        n = self._fill
        if n == 0:
            return
        # array.array gives the detector plain Python ints (numpy scalars would be slow,
        # and int16 shifts would overflow).
        ts = array("i", self._t[:n].tobytes())
        acc = array("h", self._acc[:n].tobytes())
        gyr = None if self._gyr is None else array("h", self._gyr[:n].tobytes())
        self._det.process(ts, acc, gyr, n)
        self._take()
        self._fill = 0

    def _take(self) -> None:
        self.events.extend(self._det.events)
        self.epochs.extend(self._det.epochs)
        self._det.events.clear()
        self._det.epochs.clear()

    def finish(self, leg: str = "") -> Detection:
        """Detect what is left, close the recording and return everything found."""
        self._flush()
        self._det.finish()
        self._take()
        return Detection(
            movements=movements_from_events(self.events, leg),
            epochs=epochs_from_tuples(self.epochs, self.config.epoch_ms),
            config=self.config,
            gaps=self._det.gaps,
            gap_s=self._det.gap_ms_total / 1000.0,
            samples=self._det.samples,
        )


def detect(
    counts: CountsTrace,
    config: DetectorConfig,
    progress: Progress | None = None,
    batch: int = HOST_BATCH,
    leg: str = "",
) -> Detection:
    """Run the portable detector over a whole recording of raw counts."""
    n = len(counts.t_ms)
    feed = DetectorFeed(
        config, counts.accel_scale, counts.gyro_scale, counts.gyr is not None, batch
    )
    for start in range(0, n, batch):
        stop = min(n, start + batch)
        feed.feed(
            counts.t_ms[start:stop],
            counts.acc[start:stop],
            None if counts.gyr is None else counts.gyr[start:stop],
        )
        if progress is not None:
            progress(stop, n)
    return feed.finish(leg)


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


class SpanTracker:
    """data_spans() for timestamps that come in blocks: the first and last time and the
    stretches with data (one pair per gap, never per sample)."""

    def __init__(self, gap_ms: int) -> None:
        self.gap_ms = gap_ms
        self.spans: list[tuple[float, float]] = []
        self.first_t: float | None = None
        self.last_t: float | None = None
        self.count = 0

    def add(self, t_s: np.ndarray) -> None:
        n = len(t_s)
        if n == 0:
            return
        if self.last_t is None:
            self.first_t = float(t_s[0])
            span_start = float(t_s[0])
            cut = np.flatnonzero(np.diff(t_s) * 1000.0 > self.gap_ms)
        else:
            span_start = self.spans.pop()[0]
            # index i of the jumps is the jump into t_s[i] (from the previous block at 0)
            cut = np.flatnonzero(np.diff(t_s, prepend=self.last_t) * 1000.0 > self.gap_ms) - 1
            if len(cut) and cut[0] == -1:
                self.spans.append((span_start, self.last_t))
                span_start = float(t_s[0])
                cut = cut[1:]
        for i in cut:
            self.spans.append((span_start, float(t_s[i])))
            span_start = float(t_s[i + 1])
        self.last_t = float(t_s[-1])
        self.spans.append((span_start, self.last_t))
        self.count += n


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
    progress: Progress | None = None,
    batch: int = HOST_BATCH,
) -> tuple[Detection, NightInfo]:
    """Detect the movements of a trace in memory; returns the detection and the night's
    info (see analyze_file for a trace file of any length)."""
    if len(trace.t_s) < 2:
        raise InputError(
            "the trace is too short to analyse (needs two samples or more)", trace.path
        )
    counts = to_counts(trace)
    try:
        cfg = config or detector_config_for(trace.sample_rate_hz)
    except InputError as exc:
        raise InputError(exc.message, trace.path) from None
    try:
        detection = detect(counts, cfg, progress, batch, leg=trace.leg or "")
    except InputError as exc:
        raise InputError(exc.message, trace.path) from None
    return detection, night_info(trace, detection, str(trace.path or ""))


def analyze_file(
    path: str | Path,
    config: DetectorConfig | None = None,
    progress: Progress | None = None,
    block_bytes: int = BLOCK_BYTES,
    batch: int = HOST_BATCH,
) -> tuple[Detection, NightInfo]:
    """Detect the movements of a trace file, streamed a block at a time.

    Same result as analyze_trace(read_trace(path)), in memory that does not grow with
    the file. A trace that declares its sample rate is read once; one that does not is
    read twice (the rate, the median interval of the whole night, configures the
    detector before its first sample). `progress(bytes_done, bytes_total)`. Bad input
    anywhere raises InputError (file and line) before anything is returned.
    """
    trace_file = TraceFile(path, block_bytes=block_bytes)
    rate = trace_file.declared_rate_hz
    passes = 1 if rate is not None else 2
    total = max(1, passes * trace_file.size)
    done = 0
    if rate is None:
        intervals = IntervalCounter()
        for chunk in trace_file.chunks():
            intervals.add(chunk.t_s)
            if progress is not None:
                progress(chunk.bytes_done, total)
        rate = intervals.rate_hz()
        done = trace_file.size
    try:
        cfg = config or detector_config_for(rate)
    except InputError as exc:
        raise InputError(exc.message, trace_file.path) from None
    accel_scale, gyro_scale = imu_scales(trace_file.imu or DEFAULT_IMU, trace_file.path)
    feed = DetectorFeed(
        cfg, accel_scale, gyro_scale, trace_file.has_gyro, batch, path=trace_file.path
    )
    spans = SpanTracker(cfg.gap_ms)
    for chunk in trace_file.chunks():
        feed.feed(
            *samples_to_counts(chunk.t_s, chunk.acc_g, chunk.gyr_dps, accel_scale, gyro_scale)
        )
        spans.add(chunk.t_s)
        if progress is not None:
            progress(done + chunk.bytes_done, total)
    if spans.count < 2 or spans.first_t is None or spans.last_t is None:
        raise InputError(
            "the trace is too short to analyse (needs two samples or more)", trace_file.path
        )
    detection = feed.finish(trace_file.leg or "")
    recording_s = spans.last_t - spans.first_t
    info = NightInfo(
        recording_s=recording_s,
        analysed_s=sum(b - a for a, b in spans.spans),
        sample_rate_hz=float(rate),
        start_utc=trace_file.start_utc,
        imu=trace_file.imu or "",
        leg=trace_file.leg or "",
        source=str(trace_file.path),
        data_spans_s=spans.spans,
    )
    return detection, info
