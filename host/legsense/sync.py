"""The sync engine: every night a device holds, to DIR/<device-id>/<date>_<night>/.

One session: HELLO (version check, window), SET_TIME (the anchor goes into the host's
clock log), LIST_NIGHTS, then for each night not complete on disk:

* resume from what night.bin holds and what verifies (whole records with good CRCs),
  never from the device's acknowledged offset; a torn tail left by a cut is dropped;
* keep up to `window` READs in flight, so the link and not round trips bounds the speed;
* append whole, CRC-checked records to night.bin, flush and fsync, and only then ACK
  that offset (a record boundary);
* when night.bin changed (or the clock log gave the night a new anchor), decode it and
  write the night folder atomically: events.csv, epochs.csv, summary.json, night.png,
  night.edf. summary.json records the night.bin digest and the anchors used, so a run
  with nothing new rewrites nothing.

A run cut anywhere (link drop, Ctrl-C, host killed) leaves night.bin a prefix of the
device's log plus at most a torn record, which the next run drops and reads again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from legsense_core import protocol as P
from legsense_core import records as R

from legsense import clock_log
from legsense.device_client import DeviceClient, DeviceInfo, NightEntry, TimeSetting, host_utc_ms
from legsense.edf_writer import write_edf
from legsense.errors import DeviceError, InputError
from legsense.night_decode import decode_night
from legsense.night_folder import write_night_folder
from legsense.raw_samples import raw_trace
from legsense.scoring import ScoringParams, score_movements
from legsense.trace import write_trace

NIGHT_BIN = "night.bin"
FLUSH_BYTES = 8192  # write + fsync + ACK at least this often (bytes re-read after a cut)


def data_dir(out: Path | None = None) -> Path:
    """Where nights go: --out, else $LEGSENSE_DATA, else the user data dir."""
    if out is not None:
        return Path(out)
    env = os.environ.get("LEGSENSE_DATA")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("legsense"))


def safe_name(text: str) -> str:
    """A device id as a folder name: letters, digits, '.', '_' and '-' only."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", text).strip(".")
    return cleaned or "unnamed"


@dataclass
class NightResult:
    """What the sync did with one night."""

    night_id: int
    folder: Path
    received: int = 0  # bytes transferred in this run
    stored: int = 0  # bytes of night.bin now
    size: int = 0  # bytes the device had when listed
    closed: bool = False
    acked: int = 0
    folder_written: bool = False
    problem: str | None = None


@dataclass
class SyncReport:
    """The whole session."""

    device: DeviceInfo
    folder: Path
    time_setting: TimeSetting
    nights: list[NightResult] = field(default_factory=list)
    received: int = 0
    seconds: float = 0.0


def verified_end(buf: bytes | bytearray | memoryview, start: int = 0) -> tuple[int, list[int]]:
    """End of the last whole, CRC-good record in buf[start:], and where damage was.

    Damage (a bad record followed by a good one) is stepped over, so a log the device's
    flash damaged still syncs; a bad stretch with nothing good after it yet is not
    passed (it may be a record still arriving).
    """
    end = len(buf)
    pos = start
    good = start
    damage: list[int] = []
    while pos < end:
        n = R.check_record(buf, pos, end)
        if n > 0:
            pos += n
            good = pos
            continue
        if n == R.ERR_SHORT:
            break
        nxt = R.find_next_record(buf, pos + 1, end)
        if nxt < 0:
            break
        damage.append(pos)
        pos = nxt
    return good, damage


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class NightFile:
    """night.bin of one night: resumes at its verified end, appends durably."""

    def __init__(self, path: Path, night_id: int) -> None:
        self.path = path
        self.night_id = night_id
        self.damage: list[int] = []
        data = path.read_bytes() if path.exists() else b""
        good, self.damage = verified_end(data)
        if good and not data.startswith(bytes((R.MAGIC, R.T_NIGHT))):
            raise InputError("does not begin with a night header", path)
        if good:
            _, header = R.decode_record(data, 0)
            if header[1] != night_id:
                raise InputError(f"holds night {header[1]}, not night {night_id}", path)
        self.size = len(data)
        self.good = good

    def drop_torn_tail(self) -> None:
        """Cut night.bin back to its last verified record (what a cut run left over)."""
        if self.size > self.good:
            with open(self.path, "r+b") as f:
                f.truncate(self.good)
                f.flush()
                os.fsync(f.fileno())
            self.size = self.good

    def append(self, data: bytes | bytearray) -> None:
        """Append and make durable (flush + fsync; the folder too for a new file)."""
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if new:
            _fsync_dir(self.path.parent)
        self.size += len(data)
        self.good = self.size


class SyncEngine:
    """Syncs one device over a DeviceClient into `root` (see the module docstring)."""

    def __init__(
        self,
        client: DeviceClient,
        root: Path,
        *,
        utc_now_ms: Callable[[], int] = host_utc_ms,
        progress: Callable[[int, int], None] | None = None,
        params: ScoringParams | None = None,
        picture: bool = True,
        flush_bytes: int = FLUSH_BYTES,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.root = Path(root)
        self.utc_now_ms = utc_now_ms
        self.progress = progress
        self.params = params or ScoringParams()
        self.picture = picture
        self.flush_bytes = flush_bytes
        self.log = log or (lambda _msg: None)

    async def run(self) -> SyncReport:
        """One full sync session."""
        t0 = time.monotonic()
        hello_t0 = self.utc_now_ms()
        info = await self.client.hello()
        hello_rtt_ms = max(0, self.utc_now_ms() - hello_t0)
        folder = self.root / safe_name(info.device_id)
        setting = await self.client.set_time(self.utc_now_ms, latency_ms=hello_rtt_ms // 2)
        clock_log.append(folder / "clock.csv", setting)
        nights = await self.client.list_nights()
        report = SyncReport(info, folder, setting)
        plans = [(entry, self._night_file(folder, entry)) for entry in nights]
        total = sum(max(0, e.size - nf.good) for e, nf in plans)
        done = 0
        for entry, nf in plans:
            result = NightResult(entry.night_id, nf.path.parent, size=entry.size)
            result.closed = entry.closed
            result.acked = entry.acked
            report.nights.append(result)
            if nf.size > entry.size:
                result.problem = (
                    f"{nf.path} has {nf.size} bytes but the device's night has {entry.size}: "
                    "left alone"
                )
                self.log(result.problem)
                continue
            nf.drop_torn_tail()
            if nf.good < entry.size:

                def step(n: int, base: int = done) -> None:
                    if self.progress is not None:
                        self.progress(base + n, total)

                result.received = await self._transfer(entry, nf, info, step, result)
                done += result.received
            elif entry.acked < nf.good:
                # Stored before, but the ACK never reached the device (a cut).
                result.acked = await self.client.ack(entry.night_id, nf.good)
            result.stored = nf.size
            if nf.damage:
                result.problem = "damaged records at bytes " + ", ".join(map(str, nf.damage))
            if nf.size:
                try:
                    result.folder_written = self._update_folder(nf, info, entry, folder)
                except InputError as exc:  # e.g. a night stopped as soon as it started
                    result.problem = f"no night folder: {exc.message}"
                    self.log(f"night {entry.night_id}: {result.problem}")
        report.received = done
        if self.progress is not None and total == 0:
            self.progress(1, 1)
        report.seconds = time.monotonic() - t0
        return report

    def _night_file(self, folder: Path, entry: NightEntry) -> NightFile:
        found = sorted(folder.glob(f"*_{entry.night_id}/{NIGHT_BIN}")) if folder.exists() else []
        if found:
            path = found[0]
        else:
            if entry.utc and entry.start_ms:
                day = datetime.fromtimestamp(entry.start_ms / 1000.0, tz=UTC).strftime("%Y-%m-%d")
            else:
                day = "undated"
            path = folder / f"{day}_{entry.night_id}" / NIGHT_BIN
        return NightFile(path, entry.night_id)

    async def _transfer(
        self,
        entry: NightEntry,
        nf: NightFile,
        info: DeviceInfo,
        step: Callable[[int], None],
        result: NightResult,
    ) -> int:
        """Pipelined READs from nf.good to entry.size; returns bytes received."""
        client = self.client
        night = entry.night_id
        start = nf.good
        next_read = start
        recv_end = start
        arrived: dict[int, bytes] = {}
        pending = bytearray()  # contiguous bytes after night.bin's end, not yet written
        reads: dict[int, int] = {}  # seq -> offset
        acks: set[int] = set()
        window = info.window
        while recv_end < entry.size or reads or acks:
            while len(reads) + len(acks) < window and next_read < entry.size:
                n = min(info.max_read, entry.size - next_read)
                seq = await client.send(P.READ, (night, next_read, n))
                reads[seq] = next_read
                next_read += n
            seq, mtype, values = await client.reply()
            if mtype == P.ACK:
                acks.discard(seq)
                result.acked = values[1]
                continue
            off = reads.pop(seq, None)
            if off is None:
                continue
            got_night, got_off, data = values
            if got_night != night or got_off != off:
                raise DeviceError(
                    f"device answered a READ of night {night} at {off} with night "
                    f"{got_night} at {got_off}",
                    client.transport.name,
                )
            want = min(info.max_read, entry.size - off)
            if len(data) != want:
                raise DeviceError(
                    f"night {night}: {len(data)} bytes at {off}, expected {want}",
                    client.transport.name,
                )
            arrived[off] = data
            while recv_end in arrived:
                chunk = arrived.pop(recv_end)
                pending += chunk
                recv_end += len(chunk)
            step(recv_end - start)
            at_end = recv_end >= entry.size
            if len(pending) >= self.flush_bytes or at_end:
                if at_end and entry.closed:
                    cut = len(pending)  # the device's whole night, even a damaged tail
                    _, damage = verified_end(pending)
                else:
                    cut, damage = verified_end(pending)
                if nf.size == 0 and cut and pending[1] != R.T_NIGHT:
                    raise DeviceError(
                        f"night {night} does not begin with a night header",
                        client.transport.name,
                    )
                if cut:
                    nf.damage.extend(nf.size + d for d in damage)
                    nf.append(pending[:cut])
                    del pending[:cut]
                    acks.add(await client.send(P.ACK, (night, nf.size)))
        return recv_end - start

    def _update_folder(
        self, nf: NightFile, info: DeviceInfo, entry: NightEntry, folder: Path
    ) -> bool:
        """Decode night.bin and write the night folder, unless it is already current."""
        data = nf.path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        night = decode_night(data, nf.path)
        anchors = list(night.records.anchors)
        log = clock_log.read(folder / "clock.csv")
        extra = clock_log.anchor_after(anchors, log)
        extra_anchors = [extra] if extra is not None else []
        stamp = {
            "night_bin_sha256": digest,
            "clock_anchors": ";".join(f"{d}:{u}" for d, u in anchors + extra_anchors),
        }
        summary_path = nf.path.parent / "summary.json"
        if _stamped(summary_path, stamp):
            return False
        decoded = decode_night(
            data,
            nf.path,
            extra_anchors,
            source=f"device {info.device_id} night {entry.night_id}",
        )
        h = decoded.records.header
        decoded.info.extra.update(
            {
                "device_id": h.device_id,
                "night_id": str(h.night_id),
                "firmware": h.firmware,
                "board": h.board,
                "closed": "yes" if decoded.records.closed else "no (still recording)",
                "clock_drift_ppm": str(decoded.clock.drift_ppm()),
                "night_bin_bytes": str(len(data)),
                "log_problem": decoded.problem or "",
                **stamp,
            }
        )
        scoring = score_movements(decoded.movements, decoded.info, self.params)

        raw = raw_trace(
            decoded.records.raw, h.imu, (h.accel_scale, h.gyro_scale), decoded.info, nf.path
        )

        def add_edf(tmp: Path) -> None:
            write_edf(tmp / "night.edf", decoded.epochs, scoring, decoded.info, h.device_id)
            if raw is not None:  # a validation night: what the detector saw, re-analysable
                write_trace(tmp / "raw.csv", raw)

        write_night_folder(
            nf.path.parent,
            decoded.movements,
            decoded.epochs,
            scoring,
            decoded.info,
            detector=decoded.detector,
            extra=add_edf,
            picture=self.picture,
        )
        return True


def _stamped(summary: Path, stamp: dict[str, str]) -> bool:
    try:
        recording = json.loads(summary.read_text()).get("recording", {})
    except (OSError, ValueError, AttributeError):
        return False
    return all(recording.get(k) == v for k, v in stamp.items())
