"""night.bin (a night log as the device stored it) -> the host's model of the night.

Uses legsense_core.records only. Device time (ms since the night started) becomes UTC
through the night's clock anchors (the header's, every anchor record, and any the sync
engine adds from its own clock log) with legsense_core.clock.ClockMap: piecewise linear
between anchors, so a crystal's drift is corrected. Times in Movements and Epochs are
seconds since the night's start on that corrected time base; with one anchor (or none)
they are the device's milliseconds unchanged.

Reading stops at the first bad record; `DecodedNight.problem` says where and why.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from legsense_core import records as R
from legsense_core.clock import ClockMap

from legsense.errors import InputError
from legsense.night import Epochs, Movements, NightInfo

DEFAULT_EPOCH_MS = 30000


@dataclass
class NightHeader:
    """The night header record (records.NIGHT_FIELDS) as named values."""

    night_id: int
    device_id: str
    firmware: str
    board: str
    imu: str
    rate_hz: float
    accel_scale: tuple[int, int]
    gyro_scale: tuple[int, int]
    start_ticks: int
    anchor_dev_ms: int
    anchor_utc_ms: int
    detector: dict[str, Any]
    leg: str = ""  # "left" | "right" | "" (not configured)


@dataclass
class NightRecords:
    """Everything a night log holds, as tuples in the records' field order."""

    header: NightHeader
    events: list[tuple] = field(default_factory=list)
    epochs: list[tuple] = field(default_factory=list)
    anchors: list[tuple[int, int]] = field(default_factory=list)  # (device ms, UTC ms)
    markers: list[tuple] = field(default_factory=list)
    battery: list[tuple] = field(default_factory=list)
    raw: list[tuple] = field(default_factory=list)  # T_RAW chunks (validation nights)
    last_ms: int = 0  # the latest device time any record carries
    closed: bool = False
    good_bytes: int = 0  # where reading stopped
    problem: str | None = None  # why it stopped early (None: a clean end)


@dataclass
class DecodedNight:
    """What the night folder is written from."""

    records: NightRecords
    movements: Movements
    epochs: Epochs
    info: NightInfo
    detector: dict[str, Any]
    clock: ClockMap

    @property
    def problem(self) -> str | None:
        return self.records.problem


def read_records(data: bytes, path: str | Path | None = None) -> NightRecords:
    """Walk a night log. Raises InputError if it does not begin with a night header."""
    reader = R.iter_records(data)
    first = next(reader, None)
    if first is None or first[1] != R.T_NIGHT:
        why = reader.reason or "no night header first"
        raise InputError(f"not a night log: {why} at byte {reader.offset}", path)
    header = _header(first[2], path)
    night = NightRecords(header=header)
    if header.anchor_utc_ms:
        night.anchors.append((header.anchor_dev_ms, header.anchor_utc_ms))
    for _, rtype, p in reader:
        if rtype == R.T_EVENT:
            night.events.append(p)
            night.last_ms = max(night.last_ms, p[1])
        elif rtype == R.T_EPOCH:
            night.epochs.append(p)
        elif rtype == R.T_ANCHOR:
            night.anchors.append((p[0], p[1]))
            night.last_ms = max(night.last_ms, p[0])
        elif rtype == R.T_MARKER:
            night.markers.append(p)
            night.last_ms = max(night.last_ms, p[0])
        elif rtype == R.T_BATTERY:
            night.battery.append(p)
            night.last_ms = max(night.last_ms, p[0])
        elif rtype == R.T_RAW:
            night.raw.append(p)
            night.last_ms = max(night.last_ms, p[0])
        elif rtype == R.T_NIGHT:
            night.problem = f"a second night header at byte {reader.offset}"
            break
        night.closed = rtype == R.T_MARKER and p[1] in R.ENDING_MARKERS
    night.good_bytes = reader.offset
    if night.problem is None and reader.reason is not None:
        night.problem = f"{reader.reason} record at byte {reader.offset} of {len(data)}"
    return night


def _header(p: tuple, path: str | Path | None) -> NightHeader:
    v = dict(zip(R.NIGHT_FIELDS, p, strict=True))
    try:
        detector = json.loads(bytes(v["config_json"]).decode() or "{}")
    except (UnicodeDecodeError, ValueError):
        raise InputError("the night header's detector config is not JSON", path) from None
    if not isinstance(detector, dict):
        raise InputError("the night header's detector config is not a JSON object", path)
    # The device adds the configured leg to the header's JSON; it is not a detector setting.
    leg = detector.pop("leg", "")
    if leg not in ("", "left", "right"):
        raise InputError(f"the night header names an unknown leg {leg!r}", path)
    return NightHeader(
        night_id=v["night_id"],
        device_id=v["device_id"],
        firmware=v["firmware"],
        board=v["board"],
        imu=v["imu"],
        rate_hz=v["rate_mhz"] / 1000.0,
        accel_scale=v["accel_scale"],
        gyro_scale=v["gyro_scale"],
        start_ticks=v["start_ticks"],
        anchor_dev_ms=v["anchor_dev_ms"],
        anchor_utc_ms=v["anchor_utc_ms"],
        detector=detector,
        leg=leg,
    )


def decode_night(
    data: bytes,
    path: str | Path | None = None,
    extra_anchors: Iterable[tuple[int, int]] = (),
    source: str = "",
) -> DecodedNight:
    """night.bin bytes -> movements, epochs and info on the UTC-corrected time base.

    extra_anchors: (device ms, UTC ms) pairs known from elsewhere (the host's clock log).
    """
    night = read_records(data, path)
    h = night.header
    clock = ClockMap(night.anchors)
    for dev_ms, utc_ms in extra_anchors:
        clock.add(dev_ms, utc_ms)
    if clock.anchors:
        start_ms = clock.to_utc(0)

        def since_start(dev_ms: np.ndarray) -> np.ndarray:
            utc = [clock.to_utc(int(t)) for t in dev_ms]
            return (np.asarray(utc, dtype=np.int64) - start_ms) / 1000.0

        start_utc = datetime.fromtimestamp(start_ms / 1000.0, tz=UTC)
    else:

        def since_start(dev_ms: np.ndarray) -> np.ndarray:
            return np.asarray(dev_ms, dtype=np.int64) / 1000.0

        start_utc = None
    ev = np.asarray(night.events, dtype=np.int64).reshape(-1, 6)
    movements = Movements(
        onset_s=since_start(ev[:, 0]),
        offset_s=since_start(ev[:, 1]),
        peak_mg=ev[:, 2],
        peak_dps=ev[:, 3],
        channels=ev[:, 4],
        leg=np.full(len(ev), h.leg, dtype=object),
    )
    epoch_ms = int(h.detector.get("epoch_ms", DEFAULT_EPOCH_MS))
    ep = np.asarray(night.epochs, dtype=np.int64).reshape(-1, 7)
    epochs = Epochs(
        epoch_s=epoch_ms / 1000.0,
        start_s=since_start(ep[:, 0] * epoch_ms),
        n_samples=ep[:, 1],
        active_s=ep[:, 2] / 1000.0,
        activity_mg_s=ep[:, 3],
        posture_mg=ep[:, 4:7],
    )
    recording_s = float(since_start(np.array([night.last_ms]))[0])
    ends_s = since_start((ep[:, 0] + 1) * epoch_ms)
    spans = _data_spans(epochs, ends_s, recording_s)
    info = NightInfo(
        recording_s=recording_s,
        analysed_s=float(sum(b - a for a, b in spans)),
        sample_rate_hz=h.rate_hz,
        start_utc=start_utc,
        imu=h.imu,
        leg=h.leg,
        source=source,
        data_spans_s=spans,
    )
    return DecodedNight(night, movements, epochs, info, h.detector, clock)


def _data_spans(
    epochs: Epochs, ends_s: np.ndarray, recording_s: float
) -> list[tuple[float, float]]:
    # The log has no sample times, only epochs with their sample counts: a stretch with
    # data is a run of epochs that had samples, clipped to the recording.
    spans: list[tuple[float, float]] = []
    for start, end, n in zip(epochs.start_s, ends_s, epochs.n_samples, strict=True):
        a = float(start)
        b = min(float(end), recording_s)
        if n <= 0 or b <= a:
            continue
        if spans and a <= spans[-1][1] + 1e-6:
            spans[-1] = (spans[-1][0], max(spans[-1][1], b))
        else:
            spans.append((a, b))
    return spans
