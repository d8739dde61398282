"""night.bin (a night log as the device stored it) -> the host's model of the night.

Uses legsense_core.records for the format. Reading streams the file in blocks through
record_scan.RecordScanner, so memory holds the night's events, epochs and anchors
(arrays, a few tens of bytes each) and never its raw samples, which
raw_samples.write_raw_csv streams to raw.csv in a second pass. Whatever the file holds,
what is kept is bounded: at most MAX_EVENTS events, epochs and markers up to a week of
device time (time_base.MAX_NIGHT_MS), MAX_MARKERS markers listed; the rest is counted and
named in `problem`. Damaged stretches are stepped over (the records after them are read);
a second night header ends the reading (a file two nights were appended to).

Device time (ms since the night started) becomes UTC through time_base: anchors split
into eras at step corrections, drift corrected within an era, so a clock set a day off
and corrected mid-night moves the night in UTC but never squeezes or stretches it.
Times in Movements, Epochs and markers are seconds since the night's start on that time
base; without anchors they are the device's milliseconds unchanged.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from legsense_core import records as R

from legsense.errors import InputError
from legsense.night import GAP_MIN_S, Epochs, Movements, NightInfo
from legsense.record_scan import RecordScanner
from legsense.time_base import MAX_NIGHT_MS, TimeBase, build_time_base

DEFAULT_EPOCH_MS = 30000
BLOCK = 1 << 16  # bytes read per step when streaming a file
MAX_EVENTS = 250_000  # a real night has hundreds to a few thousand
MAX_MARKERS = 10_000  # markers.csv rows; more are counted
MAX_BATTERY = 10_000
MAX_GAPS_LISTED = 10
RESUME_NEAR_S = 60.0  # a resumed marker this close after a gap explains it


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
    format_version: int = R.FORMAT_VERSION
    night_uid: int = 0  # 0: a format-1 night (no UID)
    boot_count: int = 0
    record: bytes = b""  # the header record's bytes as stored (for identity checks)

    @property
    def digest(self) -> str:
        """SHA-256 of the header record: the identity of a night without a UID."""
        return hashlib.sha256(self.record).hexdigest()


@dataclass
class NightRecords:
    """Everything kept from a night log (bounded; see the module docstring)."""

    header: NightHeader
    events: np.ndarray = field(default_factory=lambda: np.zeros((0, 6), dtype=np.int64))
    epochs: np.ndarray = field(default_factory=lambda: np.zeros((0, 7), dtype=np.int64))
    anchors: list[tuple[int, int]] = field(default_factory=list)  # (device ms, UTC ms)
    markers: list[tuple] = field(default_factory=list)  # (t_ms, code, value, text)
    markers_total: int = 0
    resumed: int = 0  # M_RESUMED markers (resets the night survived)
    resumes: list[tuple[int, int, str]] = field(default_factory=list)  # (t_ms, ms lost, cause)
    battery: list[tuple] = field(default_factory=list)
    raw: list[tuple] = field(default_factory=list)  # T_RAW payloads (only when asked)
    raw_chunks: int = 0
    last_ms: int = 0  # the latest device time any record carries
    closed: bool = False
    good_bytes: int = 0  # where reading stopped
    total_bytes: int = 0
    ignored: dict[str, int] = field(default_factory=dict)  # what was dropped, and how many
    damage: str = ""  # damaged stretches stepped over
    problem: str | None = None  # what went wrong (None: a clean log)


@dataclass
class DecodedNight:
    """What the night folder is written from."""

    records: NightRecords
    movements: Movements
    epochs: Epochs
    info: NightInfo
    detector: dict[str, Any]
    clock: TimeBase
    markers: list[tuple[float, str, int, str, int, str]]  # markers.csv rows
    gaps: list[tuple[float, float, str]]  # (start s, duration s, cause), in time order

    @property
    def problem(self) -> str | None:
        return self.records.problem


def parse_header(record: bytes | bytearray | memoryview, path: str | Path | None = None):
    """NightHeader of a whole night-header record; InputError when it is not one."""
    record = bytes(record)
    n = R.check_record(record, 0, len(record))
    if n != len(record) or record[1] != R.T_NIGHT:
        why = R.ERROR_NAMES.get(n, "not a night header") if n < 0 else "not a night header"
        raise InputError(f"not a night log: {why} at byte 0", path)
    p = R.decode_payload(R.T_NIGHT, record, R.HEAD_SIZE, n - 4)
    if isinstance(p, int):
        raise InputError(f"not a night log: {R.ERROR_NAMES[p]} night header", path)
    return _header(p, record, path)


def _header(p: tuple, record: bytes, path: str | Path | None) -> NightHeader:
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
    epoch_ms = detector.get("epoch_ms", DEFAULT_EPOCH_MS)
    if not isinstance(epoch_ms, int) or not 1000 <= epoch_ms <= 3_600_000:
        raise InputError(f"the night header's epoch_ms {epoch_ms!r} is not 1000..3600000", path)
    rate_hz = v["rate_mhz"] / 1000.0
    if not 0 < rate_hz <= 10_000:
        raise InputError(f"the night header's sample rate {rate_hz:g} Hz is out of range", path)
    return NightHeader(
        night_id=v["night_id"],
        device_id=v["device_id"],
        firmware=v["firmware"],
        board=v["board"],
        imu=v["imu"],
        rate_hz=rate_hz,
        accel_scale=v["accel_scale"],
        gyro_scale=v["gyro_scale"],
        start_ticks=v["start_ticks"],
        anchor_dev_ms=v["anchor_dev_ms"],
        anchor_utc_ms=v["anchor_utc_ms"],
        detector=detector,
        leg=leg,
        format_version=v["format_version"],
        night_uid=v["night_uid"],
        boot_count=v["boot_count"],
        record=record,
    )


def read_header_file(path: Path) -> NightHeader | None:
    """The header of a stored night.bin (reads at most one record), or None if it has none."""
    try:
        with open(path, "rb") as f:
            head = f.read(R.MAX_RECORD)
    except OSError:
        return None
    if len(head) < R.HEAD_SIZE:
        return None
    n = R.check_record(head, 0, len(head))
    if n <= 0:
        return None
    try:
        return parse_header(head[:n], path)
    except InputError:
        return None


def _blocks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while True:
            block = f.read(BLOCK)
            if not block:
                return
            yield block


class _Collector:
    """Keeps what the night folder needs from each record, within the bounds."""

    def __init__(self, header: NightHeader, keep_raw: bool) -> None:
        self.night = NightRecords(header=header)
        self.keep_raw = keep_raw
        self.events = array("q")
        self.epochs = array("q")
        self.epoch_ms = int(header.detector.get("epoch_ms", DEFAULT_EPOCH_MS))
        self.max_epoch = MAX_NIGHT_MS // self.epoch_ms
        if header.anchor_utc_ms:
            self.night.anchors.append((header.anchor_dev_ms, header.anchor_utc_ms))

    def _ignore(self, what: str) -> None:
        self.night.ignored[what] = self.night.ignored.get(what, 0) + 1

    def _seen(self, t: int) -> None:
        if t > self.night.last_ms:
            self.night.last_ms = t

    def add(self, rtype: int, p: tuple) -> None:
        night = self.night
        night.closed = False
        if rtype == R.T_EVENT:
            if p[1] < p[0] or p[1] > MAX_NIGHT_MS:
                self._ignore("events with times out of range")
            elif len(self.events) >= 6 * MAX_EVENTS:
                self._ignore(f"events beyond {MAX_EVENTS:,}")
            else:
                self.events.extend(p)
                self._seen(p[1])
        elif rtype == R.T_EPOCH:
            if p[0] > self.max_epoch:
                self._ignore("epochs beyond a week")
            else:
                self.epochs.extend(p)
        elif rtype == R.T_ANCHOR:
            if p[0] > MAX_NIGHT_MS:
                self._ignore("anchors beyond a week")
            else:
                night.anchors.append((p[0], p[1]))
                self._seen(p[0])
        elif rtype == R.T_MARKER:
            if p[0] > MAX_NIGHT_MS:
                self._ignore("markers beyond a week")
                return
            self._seen(p[0])
            night.markers_total += 1
            if len(night.markers) < MAX_MARKERS:
                night.markers.append(p)
            if p[1] == R.M_RESUMED:
                night.resumed += 1
                if len(night.resumes) < MAX_MARKERS:
                    night.resumes.append((p[0], p[2], p[3]))
            night.closed = p[1] in R.ENDING_MARKERS
        elif rtype == R.T_BATTERY:
            if p[0] <= MAX_NIGHT_MS:
                self._seen(p[0])
                if len(night.battery) < MAX_BATTERY:
                    night.battery.append(p)
        elif rtype == R.T_RAW:
            if p[0] > MAX_NIGHT_MS:
                self._ignore("raw chunks beyond a week")
                return
            night.raw_chunks += 1
            self._seen(p[0])
            if self.keep_raw:
                night.raw.append(p)

    def finish(self) -> NightRecords:
        night = self.night
        ev = np.frombuffer(self.events, dtype=np.int64).reshape(-1, 6)
        ep = np.frombuffer(self.epochs, dtype=np.int64).reshape(-1, 7)
        # In time order whatever the log's order (scoring and the spans rely on it).
        night.events = ev[np.argsort(ev[:, 0], kind="stable")]
        night.epochs = ep[np.argsort(ep[:, 0], kind="stable")]
        return night


def _walk(blocks: Iterable[bytes], path: str | Path | None, keep_raw: bool) -> NightRecords:
    scanner = RecordScanner()
    collector: _Collector | None = None
    total = 0
    second_header_at = -1
    payload_errors = 0
    for block in blocks:
        total += len(block)
        scanner.feed(block)
        for off, rtype, n in scanner.records():
            p = scanner.payload(off, rtype, n)
            if collector is None:
                if off != 0 or rtype != R.T_NIGHT:
                    break
                if isinstance(p, int):
                    raise InputError(f"not a night log: {R.ERROR_NAMES[p]} night header", path)
                collector = _Collector(_header(p, bytes(scanner.view(0, n)), path), keep_raw)
                continue
            if rtype == R.T_NIGHT:
                second_header_at = off
                break
            if isinstance(p, int):
                payload_errors += 1
                continue
            collector.add(rtype, p)
        if collector is None or second_header_at >= 0:
            break
        scanner.drop(scanner.pos)
    if collector is None:
        if total == 0:
            why = "empty"
        elif scanner.damage_count and scanner.damage[0] == 0:
            why = "no whole, CRC-good night header at byte 0"
        else:
            why = "no night header first"
        raise InputError(f"not a night log: {why}", path)
    night = collector.finish()
    night.total_bytes = total
    night.good_bytes = second_header_at if second_header_at >= 0 else scanner.good_end
    problems = []
    if second_header_at >= 0:
        problems.append(f"a second night header at byte {second_header_at}: read up to there")
    damage = scanner.describe_damage()
    if damage:
        night.damage = damage
        problems.append(damage + " stepped over")
    if second_header_at < 0 and scanner.pos < total:
        problems.append(f"a torn record at byte {scanner.pos} of {total}")
    if payload_errors:
        problems.append(f"{payload_errors} records with a malformed payload skipped")
    for what, count in night.ignored.items():
        problems.append(f"{count:,} {what} ignored")
    if night.markers_total > len(night.markers):
        problems.append(f"{night.markers_total - len(night.markers):,} markers not listed")
    night.problem = "; ".join(problems) or None
    return night


def read_records(data: bytes, path: str | Path | None = None, keep_raw: bool = True):
    """Walk a night log held in memory. InputError if it does not begin with a header."""
    return _walk([bytes(data)] if data else [], path, keep_raw)


def read_records_file(path: Path, keep_raw: bool = False) -> NightRecords:
    """Walk a stored night.bin in blocks (memory bounded; raw chunks counted, not kept)."""
    try:
        return _walk(_blocks(path), path, keep_raw)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None


def decode_night(
    data: bytes,
    path: str | Path | None = None,
    extra_anchors: Iterable[tuple[int, int]] = (),
    source: str = "",
) -> DecodedNight:
    """night.bin bytes -> movements, epochs and info on the UTC-corrected time base.

    extra_anchors: (device ms, UTC ms) pairs known from elsewhere (the host's clock log).
    """
    return decode_records(read_records(data, path), extra_anchors, source)


def decode_night_file(
    path: Path, extra_anchors: Iterable[tuple[int, int]] = (), source: str = ""
) -> DecodedNight:
    """decode_night for a stored night.bin, streamed (memory bounded)."""
    return decode_records(read_records_file(path), extra_anchors, source)


def decode_records(
    night: NightRecords, extra_anchors: Iterable[tuple[int, int]] = (), source: str = ""
) -> DecodedNight:
    """The decoded night from its records."""
    h = night.header
    clock = build_time_base(night.anchors, list(extra_anchors))
    start_utc = None
    if clock.utc_known:
        start_ms = float(clock.to_utc(np.array([0]))[0])
        start_utc = datetime.fromtimestamp(round(start_ms) / 1000.0, tz=UTC)

    def since_start(dev_ms: np.ndarray) -> np.ndarray:
        return clock.seconds_since(0, dev_ms)

    ev = night.events
    movements = Movements(
        onset_s=since_start(ev[:, 0]),
        offset_s=since_start(ev[:, 1]),
        peak_mg=ev[:, 2],
        peak_dps=ev[:, 3],
        channels=ev[:, 4],
        leg=np.full(len(ev), h.leg, dtype=object),
    )
    epoch_ms = int(h.detector.get("epoch_ms", DEFAULT_EPOCH_MS))
    ep = night.epochs
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
    resumes = [(float(since_start(np.array([t]))[0]), cause) for t, _, cause in night.resumes]
    gaps = _gaps(spans, recording_s, resumes)
    info = NightInfo(
        recording_s=recording_s,
        analysed_s=float(sum(b - a for a, b in spans)),
        sample_rate_hz=h.rate_hz,
        start_utc=start_utc,
        imu=h.imu,
        leg=h.leg,
        source=source,
        data_spans_s=spans,
        gaps_s=gaps,
        resets=night.resumed,
        clock=clock.summary(),
    )
    markers = _marker_rows(night.markers, since_start, start_utc)
    return DecodedNight(night, movements, epochs, info, h.detector, clock, markers, gaps)


def _marker_rows(markers: list[tuple], since_start, start_utc: datetime | None) -> list:
    if not markers:
        return []
    t_s = since_start(np.array([m[0] for m in markers], dtype=np.int64))
    rows = []
    for t, (_, code, value, text) in zip(t_s.tolist(), markers, strict=True):
        utc = ""
        if start_utc is not None:
            utc = (start_utc + timedelta(seconds=t)).isoformat(timespec="milliseconds")
        rows.append((t, utc, code, R.MARKER_NAMES.get(code, f"marker {code}"), value, text))
    return rows


def _gaps(
    spans: list[tuple[float, float]], recording_s: float, resumes: list[tuple[float, str]]
) -> list[tuple[float, float, str]]:
    """Stretches of [0, recording] without data, with the reset that explains one."""
    holes = []
    t = 0.0
    for a, b in [*spans, (recording_s, recording_s)]:
        if a - t >= GAP_MIN_S:
            holes.append((t, a))
        t = max(t, b)
    out = []
    for a, b in holes:
        cause = ""
        for at, why in resumes:
            if a - 1.0 <= at <= b + RESUME_NEAR_S:
                cause = f"reset: {why}" if why else "reset"
                break
        out.append((a, b - a, cause))
    return out


def _data_spans(
    epochs: Epochs, ends_s: np.ndarray, recording_s: float
) -> list[tuple[float, float]]:
    # The log has no sample times, only epochs with their sample counts: a stretch with
    # data is a run of epochs that had samples, clipped to the recording.
    spans: list[tuple[float, float]] = []
    for start, end, n in zip(
        epochs.start_s.tolist(), ends_s.tolist(), epochs.n_samples.tolist(), strict=True
    ):
        a = float(start)
        b = min(float(end), recording_s)
        if n <= 0 or b <= a:
            continue
        if spans and a <= spans[-1][1] + 1e-6:
            spans[-1] = (spans[-1][0], max(spans[-1][1], b))
        else:
            spans.append((a, b))
    return spans
