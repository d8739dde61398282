"""The sync engine: every night a device holds, to DIR/<device>/<date>_<night>/.

One session: HELLO (version check, window), the device folder checked and locked (before
the device is asked to change anything), SET_TIME (the anchor goes into the host's clock
log), LIST_NIGHTS (validated: it must page forward), then for each night:

* identity (night_store): the night's UID from the list, or for a night without one the
  SHA-256 of its header (read from the device: one READ). A stored folder is resumed
  only when its night.bin begins with exactly the device's header; anything else gets
  its own folder, so two nights are never mixed in one file;
* resume from the end of the last whole, CRC-good record night.bin holds, never from
  the device's acknowledged offset; a torn tail (or junk) left by a cut is dropped. A
  night.bin as long as the device's night is complete and is never cut;
* keep up to `window` READs in flight, so the link and not round trips bounds the speed;
  every DATA must be the night, offset and length asked for;
* append settled bytes to night.bin, flush and fsync, and only then ACK that offset. A
  new night's folder appears by a rename once its first bytes are durable;
* when night.bin changed (or the clock log gave the night a new anchor, or the folder is
  of an older format), decode it (streamed, bounded) and write the night folder
  atomically: events.csv, epochs.csv, markers.csv, summary.json, night.png, night.edf
  (and raw.csv for a night with raw samples). summary.json records the night.bin digest
  and the anchors used, so a run with nothing new rewrites nothing.

Damage is isolated: a night whose header is damaged or does not match its listing, that
is larger than MAX_NIGHT_BYTES, or whose DATA make no sense is reported with what to do,
left on the device (not acknowledged) and skipped; every other night syncs. Only a link
that fails (no answer in time, gone) ends the session; what is stored stays and the next
run resumes. A run cut anywhere (link drop, Ctrl-C, SIGKILL) leaves night.bin a prefix of
the device's log plus at most a torn record, and no half-written night folder.

After the nights, a person's two legs become one night: the merged nights of the
persons this device's nights name are built or refreshed (bilateral_merge); what stands
in the way (two left legs, no UTC, nights that do not overlap) is reported, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from legsense_core import protocol as P
from legsense_core import records as R

from legsense import clock_log
from legsense.atomic_file import fsync_dir
from legsense.bilateral_merge import MergeReport, merge_nights
from legsense.bilateral_pairs import Finding
from legsense.device_client import (
    BadAnswer,
    DeviceClient,
    DeviceInfo,
    NightEntry,
    TimeSetting,
    host_utc_ms,
)
from legsense.edf_writer import write_edf
from legsense.errors import InputError
from legsense.night_decode import NightHeader, decode_records, parse_header, read_records_file
from legsense.night_folder import SUMMARY, write_night_folder
from legsense.night_store import (
    NIGHT_BIN,
    DeviceStore,
    StoredNight,
    night_day,
    night_key,
    uid_key,
)
from legsense.raw_samples import write_raw_csv
from legsense.record_scan import RecordScanner
from legsense.scoring import ScoringParams, score_movements
from legsense.sit import KIND as SIT_KIND
from legsense.sit import score_sit, session_from_decoded, write_sit_folder
from legsense.transport import DeviceRefused

FLUSH_BYTES = 8192  # write + fsync + ACK at least this often (bytes re-read after a cut)
MAX_FLUSH_BYTES = 256 * 1024  # a big night flushes every 1/64 of itself, up to this
MAX_NIGHT_BYTES = 256 * 1024 * 1024  # a night with raw samples at 100 Hz for 24 h: ~120 MB
FOLDER_FORMAT = "2"  # bump when the night folder's files change: listed nights re-render
_HASH_BLOCK = 1 << 16


def data_dir(out: Path | None = None) -> Path:
    """Where nights go: --out, else $LEGSENSE_DATA, else the user data dir."""
    if out is not None:
        return Path(out)
    env = os.environ.get("LEGSENSE_DATA")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("legsense"))


class NightProblem(Exception):
    """One night cannot be synced now: why, and what the user can do. `takeable`: its
    header cannot be trusted, but its bytes can be kept as they are (--take-damaged)."""

    def __init__(self, message: str, advice: str = "", takeable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice
        self.takeable = takeable


TAKE_ADVICE = (
    "the night stays on the device, unacknowledged (its other nights sync as usual); "
    "`legsense sync --take-damaged` keeps its bytes as they are in DIR/<device>/damaged/ "
    "and lets the device free it"
)


@dataclass
class NightResult:
    """What the sync did with one night."""

    night_id: int
    folder: Path | None
    received: int = 0  # bytes transferred and stored in this run
    stored: int = 0  # bytes of night.bin now
    size: int = 0  # bytes the device had when listed
    closed: bool = False
    acked: int = 0
    night_uid: int = 0
    folder_written: bool = False
    problem: str | None = None  # what went wrong or looks wrong (None: nothing)
    advice: str = ""  # what the user can do about it
    unsynced: bool = False  # left on the device (or stored without a night folder)
    note: str = ""  # worth saying, not a problem (e.g. a new folder beside a namesake)


@dataclass
class SyncReport:
    """The whole session."""

    device: DeviceInfo
    folder: Path
    time_setting: TimeSetting
    nights: list[NightResult] = field(default_factory=list)
    received: int = 0
    seconds: float = 0.0
    leftovers_removed: int = 0
    merge: MergeReport | None = None  # the person's bilateral nights, after the sync

    @property
    def unsynced(self) -> list[NightResult]:
        return [n for n in self.nights if n.unsynced]


class NightFile:
    """night.bin of one night: where to resume, durable appends, a folder that appears
    by a rename once its first bytes are durable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size if path.exists() else 0
        self.good = self.size

    def settle(self) -> None:
        """Find where to resume: the end of the last whole, CRC-good record (streamed).

        What follows it is a torn tail, junk a crash left, or damage the device served;
        the first two must go, the last is fetched again (the device never acknowledged
        beyond a damaged record unless the night is complete, and then it is not cut)."""
        scanner = RecordScanner()
        with open(self.path, "rb") as f:
            while True:
                block = f.read(_HASH_BLOCK)
                if not block:
                    break
                scanner.feed(block)
                scanner.scan()
                scanner.drop(scanner.pos)
        self.good = scanner.good_end

    def drop_torn_tail(self) -> None:
        """Cut night.bin back to where it resumes (what a cut run left over)."""
        if self.size > self.good:
            with open(self.path, "r+b") as f:
                f.truncate(self.good)
                f.flush()
                os.fsync(f.fileno())
            self.size = self.good

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Append and make durable (flush + fsync). The first bytes of a new night go
        into a temporary folder renamed into place, so no folder without them appears."""
        if not self.path.exists():
            folder = self.path.parent
            parent = folder.parent
            tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-{os.getpid()}-", dir=parent))
            try:
                with open(tmp / NIGHT_BIN, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                fsync_dir(tmp)
                os.rename(tmp, folder)  # refuses to replace an existing folder
                fsync_dir(parent)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        else:
            with open(self.path, "ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        self.size += len(data)
        self.good = self.size


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(_HASH_BLOCK)
            if not block:
                return h.hexdigest()
            h.update(block)


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
        max_night_bytes: int = MAX_NIGHT_BYTES,
        take_damaged: bool = False,
    ) -> None:
        self.client = client
        self.root = Path(root)
        self.utc_now_ms = utc_now_ms
        self.progress = progress
        self.params = params or ScoringParams()
        self.picture = picture
        self.flush_bytes = flush_bytes
        self.log = log or (lambda _msg: None)
        self.max_night_bytes = max_night_bytes
        self.take_damaged = take_damaged

    async def run(self) -> SyncReport:
        """One full sync session."""
        t0 = time.monotonic()
        hello_t0 = self.utc_now_ms()
        info = await self.client.hello()
        hello_rtt_ms = max(0, self.utc_now_ms() - hello_t0)
        store = DeviceStore(self.root, info.device_id)
        store.open()  # InputError here, before the device clock is touched
        try:
            setting = await self.client.set_time(self.utc_now_ms, latency_ms=hello_rtt_ms // 2)
            clock_log.append(store.folder / "clock.csv", setting)
            nights = await self.client.list_nights()
            report = SyncReport(info, store.folder, setting)
            report.leftovers_removed = len(store.leftovers)
            await self._sync_all(nights, info, store, report)
        finally:
            store.close()
        report.merge = self._merge(info)
        report.seconds = time.monotonic() - t0
        return report

    def _merge(self, info: DeviceInfo) -> MergeReport:
        """The bilateral nights of this device's persons; a failure here is reported,
        never the end of a sync whose nights are stored."""
        try:
            return merge_nights(
                self.root,
                params=self.params,
                device_id=info.device_id,
                picture=self.picture,
            )
        except Exception as exc:
            if os.environ.get("LEGSENSE_DEBUG"):
                raise
            why = exc.message if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
            merge = MergeReport()
            merge.failed.append(Finding(f"bilateral nights not made: {why}", (), problem=True))
            return merge

    async def _sync_all(
        self, nights: list[NightEntry], info: DeviceInfo, store: DeviceStore, report: SyncReport
    ) -> None:
        index = store.index()
        ids = [e.night_id for e in nights]
        total = sum(e.size for e in nights if e.size <= self.max_night_bytes)
        done = 0
        for entry in nights:
            result = NightResult(entry.night_id, None, size=entry.size, night_uid=entry.night_uid)
            result.closed = entry.closed
            result.acked = entry.acked
            report.nights.append(result)

            def step(n: int, base: int = done) -> None:
                if self.progress is not None:
                    self.progress(min(base + n, total), total)

            try:
                if ids.count(entry.night_id) > 1:
                    raise NightProblem(
                        f"the device lists night {entry.night_id} more than once, so a "
                        "READ cannot tell them apart",
                        "update the firmware; the nights stay on the device",
                    )
                await self._sync_night(entry, info, store, index, result, step)
            except NightProblem as exc:
                result.problem = exc.message
                result.advice = exc.advice
                result.unsynced = True
                await self.client.drain()
                if exc.takeable and self.take_damaged:
                    await self._take(entry, info, store, result)
            except (DeviceRefused, BadAnswer) as exc:
                result.problem = exc.message
                result.advice = "the night stays on the device; sync again later"
                result.unsynced = True
                await self.client.drain()
            except InputError:
                raise  # the link failed (DeviceError) or the output is unusable: stop here
            except OSError as exc:
                raise InputError(f"cannot write: {exc.strerror or exc}", exc.filename) from None
            except Exception as exc:  # a bug met on this night: isolate it, say what
                if os.environ.get("LEGSENSE_DEBUG"):
                    raise
                result.problem = f"internal error: {type(exc).__name__}: {exc}"
                result.advice = "report this (LEGSENSE_DEBUG=1 shows where); the night stays"
                result.unsynced = True
                await self.client.drain()
            if entry.size <= self.max_night_bytes:
                done += entry.size
        report.received = sum(n.received for n in report.nights)
        if self.progress is not None:
            self.progress(max(total, 1), max(total, 1))

    async def _sync_night(
        self,
        entry: NightEntry,
        info: DeviceInfo,
        store: DeviceStore,
        index: dict[str, list[StoredNight]],
        result: NightResult,
        step: Callable[[int], None],
    ) -> None:
        if entry.size > self.max_night_bytes:
            raise NightProblem(
                f"the device says this night has {entry.size:,} bytes, more than a night "
                f"can hold ({self.max_night_bytes:,}): not fetched",
                "the device's night list is wrong (firmware bug?); the night stays on it",
            )
        if entry.size == 0:
            raise NightProblem(
                "the night is empty on the device (not even a header)",
                "nothing to fetch; the device should drop it at its next boot",
            )
        probe: tuple[NightHeader, bytes] | None = None
        if entry.night_uid:
            key = uid_key(entry.night_uid)
        else:
            probe = await self._read_header(entry, info)
            key = night_key(probe[0])
        stored = self._match(index.get(key, []), probe)
        if stored is not None and stored.size < entry.size and probe is None:
            # Resuming: the device's header must be the stored one, byte for byte.
            probe = await self._read_header(entry, info)
            if probe[0].record != stored.header.record:
                stored = None
        # Appending to it, or a night whose only identity is its header: the bytes where
        # the stored copy resumes must be the device's too (two old nights can share a
        # header; a hostile device can share anything). A torn tail is not compared.
        if stored is not None and (stored.size < entry.size or not entry.night_uid):
            end = entry.size
            if stored.size < entry.size:
                resume = NightFile(stored.path)
                resume.settle()
                end = resume.good
            if not await self._tail_matches(entry, info, stored.path, end):
                stored = None
        if stored is None and index.get(key) and probe is not None:
            result.note = (
                f"{len(index[key])} stored night(s) share its identity but not its header: "
                "synced into a folder of its own"
            )
        if stored is None:
            if probe is None:
                probe = await self._read_header(entry, info)
            h = probe[0]
            tag = f"{h.night_uid:016x}" if h.night_uid else h.digest[:16]
            day = night_day(entry.start_ms, entry.utc)
            if h.detector.get("mode") == SIT_KIND:  # a SIT beside the nights (docs/sit.md)
                day = f"{day}_sit"
            folder = store.new_night_folder(day, entry.night_id, tag)
            if folder.name != f"{day}_{entry.night_id}":
                result.note = result.note or (
                    f"another night {entry.night_id} of {day} is stored already (ids restart "
                    f"after an erase): this one goes to {folder.name}"
                )
            nf = NightFile(folder / NIGHT_BIN)
            seed = probe[1]
        else:
            folder = stored.folder
            nf = NightFile(stored.path)
            seed = b""
        result.folder = folder
        if nf.size > entry.size:
            raise NightProblem(
                f"{nf.path} holds {nf.size:,} bytes but the device's night has only "
                f"{entry.size:,}: left alone",
                "the device changed a night it had served (firmware bug?); both copies are kept",
            )
        if nf.size < entry.size:
            if nf.size:
                nf.settle()
                nf.drop_torn_tail()
            result.received = await self._transfer(entry, nf, info, step, result, seed)
        elif entry.acked < nf.size:
            # Stored before, but the ACK never reached the device (a cut).
            result.acked = await self.client.ack(entry.night_id, nf.size)
        result.stored = nf.size
        if nf.size < entry.size:
            result.unsynced = True
        if nf.size:
            try:
                result.folder_written = self._update_folder(nf, info, entry, store.folder, result)
            except (InputError, ValueError, OverflowError) as exc:
                why = exc.message if isinstance(exc, InputError) else f"{exc}"
                result.problem = f"no night folder: {why}"
                result.advice = f"its bytes are kept in {nf.path} (acknowledged); report this night"
                result.unsynced = True

    async def _take(
        self, entry: NightEntry, info: DeviceInfo, store: DeviceStore, result: NightResult
    ) -> None:
        """--take-damaged: the night's bytes as they are into damaged/, then ACK them."""
        name = f"night-{entry.night_id}-{entry.night_uid:016x}-{entry.size}.bin"
        path = store.folder / "damaged" / name
        path.parent.mkdir(exist_ok=True)
        have = path.stat().st_size if path.exists() else 0
        if have > entry.size:
            return  # not the same bytes any more; leave both alone
        with open(path, "ab") as f:
            while have < entry.size:
                n = min(info.max_read, entry.size - have)
                got_night, got_off, data = await self.client.request(
                    P.READ, (entry.night_id, have, n)
                )
                self._check_data(entry, have, n, got_night, got_off, data)
                f.write(data)
                have += n
                if have % (64 * n) == 0 or have == entry.size:
                    f.flush()
                    os.fsync(f.fileno())
        fsync_dir(path.parent)
        if entry.closed:
            result.acked = await self.client.ack(entry.night_id, entry.size)
        result.folder = path.parent
        result.stored = entry.size
        result.unsynced = False
        result.advice = ""
        result.note = f"its bytes are kept as they are in {path}" + (
            " (acknowledged: the device may free it)" if entry.closed else ""
        )

    async def _tail_matches(
        self, entry: NightEntry, info: DeviceInfo, path: Path, end: int
    ) -> bool:
        """Do the stored bytes just before `end` equal the device's?"""
        n = min(end, info.max_read, R.MAX_RECORD)
        if n <= 0:
            return True
        got_night, got_off, data = await self.client.request(P.READ, (entry.night_id, end - n, n))
        self._check_data(entry, end - n, n, got_night, got_off, data)
        with open(path, "rb") as f:
            f.seek(end - n)
            mine = f.read(n)
        return mine == data

    @staticmethod
    def _match(
        candidates: list[StoredNight], probe: tuple[NightHeader, bytes] | None
    ) -> StoredNight | None:
        if probe is not None:
            same = [c for c in candidates if c.header.record == probe[0].record]
            return same[0] if same else None
        return candidates[0] if len(candidates) == 1 else None

    async def _read_header(self, entry: NightEntry, info: DeviceInfo) -> tuple[NightHeader, bytes]:
        """The device's header of a night (validated against its listing) and the bytes
        read from offset 0 (the start of a new night's transfer)."""
        night = entry.night_id
        want = min(entry.size, R.MAX_RECORD)
        data = bytearray()
        while len(data) < want:
            n = min(info.max_read, entry.size - len(data))
            got_night, got_off, chunk = await self.client.request(P.READ, (night, len(data), n))
            self._check_data(entry, len(data), n, got_night, got_off, chunk)
            data += chunk
            length = R.check_record(data, 0, len(data))
            if length != R.ERR_SHORT:
                break
        length = R.check_record(data, 0, len(data))
        if length <= 0 or data[1] != R.T_NIGHT:
            why = R.ERROR_NAMES.get(length, "not a night header") if length < 0 else None
            raise NightProblem(
                f"its header is damaged ({why or 'the first record is not a night header'} "
                "at byte 0), so it cannot be told apart from other nights",
                TAKE_ADVICE,
                takeable=True,
            )
        try:
            header = parse_header(bytes(data[:length]))
        except InputError as exc:
            raise NightProblem(
                f"its header cannot be read: {exc.message}", TAKE_ADVICE, takeable=True
            ) from None
        if header.night_id != night:
            raise NightProblem(
                f"the device listed night {night} but its header says night {header.night_id}",
                TAKE_ADVICE + " (or update the firmware and sync again)",
                takeable=True,
            )
        if entry.night_uid and header.night_uid != entry.night_uid:
            raise NightProblem(
                f"the device listed UID {entry.night_uid:016x} but the header says "
                f"{header.night_uid:016x}",
                TAKE_ADVICE + " (or update the firmware and sync again)",
                takeable=True,
            )
        return header, bytes(data)

    def _check_data(
        self, entry: NightEntry, off: int, want: int, got_night: int, got_off: int, data: bytes
    ) -> None:
        if got_night != entry.night_id or got_off != off:
            raise NightProblem(
                f"the device answered a READ of night {entry.night_id} at {off} with night "
                f"{got_night} at {got_off}",
                "the night stays on the device; sync again, and update the firmware if it "
                "happens again",
            )
        if len(data) != want:
            raise NightProblem(
                f"{len(data)} bytes at {off}, expected {want} (the device listed "
                f"{entry.size:,} bytes)",
                "the night stays on the device; sync again later",
            )

    async def _transfer(
        self,
        entry: NightEntry,
        nf: NightFile,
        info: DeviceInfo,
        step: Callable[[int], None],
        result: NightResult,
        seed: bytes,
    ) -> int:
        """Pipelined READs from what night.bin holds to entry.size; returns bytes stored."""
        client = self.client
        night = entry.night_id
        start = nf.size
        scanner = RecordScanner(start)
        recv_end = start
        if start == 0 and seed:
            scanner.feed(seed[: entry.size])
            recv_end = len(seed[: entry.size])
        next_read = recv_end
        arrived: dict[int, bytes] = {}
        reads: dict[int, int] = {}  # seq -> offset
        acks: set[int] = set()
        window = info.window
        # Every flush costs an fsync (milliseconds): a night of tens of MB flushes in
        # bigger steps, so a cut re-reads at most MAX_FLUSH_BYTES of it.
        flush_bytes = max(self.flush_bytes, min(MAX_FLUSH_BYTES, entry.size // 64))
        while True:
            while len(reads) + len(acks) < window and next_read < entry.size:
                n = min(info.max_read, entry.size - next_read)
                seq = await client.send(P.READ, (night, next_read, n))
                reads[seq] = next_read
                next_read += n
            at_end = recv_end >= entry.size
            if recv_end - nf.size >= flush_bytes or (at_end and recv_end > nf.size):
                scanner.scan()
                # A closed night is served whole, even a damaged tail: store every byte.
                # An open night's bytes that do not settle yet wait for the next sync.
                cut = recv_end if at_end and entry.closed else scanner.pos
                if cut > nf.size:
                    nf.append(scanner.view(nf.size, cut))
                    scanner.drop(cut)
                    acks.add(await client.send(P.ACK, (night, nf.size)))
            if at_end and not reads and not acks:
                break
            seq, mtype, values = await client.reply()
            if mtype == P.ACK:
                acks.discard(seq)
                result.acked = values[1]
                continue
            off = reads.pop(seq, None)
            if off is None:
                continue
            got_night, got_off, data = values
            self._check_data(
                entry, off, min(info.max_read, entry.size - off), got_night, got_off, data
            )
            arrived[off] = data
            while recv_end in arrived:
                chunk = arrived.pop(recv_end)
                scanner.feed(chunk)
                recv_end += len(chunk)
            step(recv_end - start)
        damage = scanner.describe_damage()
        if damage:
            result.problem = f"{damage} (stored as the device has them)"
        return nf.size - start

    def _update_folder(
        self,
        nf: NightFile,
        info: DeviceInfo,
        entry: NightEntry,
        folder: Path,
        result: NightResult,
    ) -> bool:
        """Decode night.bin and write the night folder, unless it is already current."""
        night = read_records_file(nf.path)
        anchors = list(night.anchors)
        warnings: list[str] = []
        log = clock_log.read(folder / "clock.csv")
        extra = clock_log.anchor_after(anchors, log, warnings.append)
        extra_anchors = [extra] if extra is not None else []
        stamp = {
            "night_bin_sha256": _sha256(nf.path),
            "clock_anchors": ";".join(f"{d}:{u}" for d, u in anchors + extra_anchors),
            "folder_format": FOLDER_FORMAT,
        }
        summary_path = nf.path.parent / SUMMARY
        if _stamped(summary_path, stamp):
            return False
        decoded = decode_records(
            night,
            extra_anchors,
            source=f"device {info.device_id} night {entry.night_id}",
        )
        for w in warnings:
            decoded.clock.warnings.append(w)
            self.log(f"night {entry.night_id}: {w}")
        decoded.info.clock = decoded.clock.summary()
        h = night.header
        problems = [decoded.problem] if decoded.problem else []
        if decoded.info.recording_s <= 0:
            # Only a header (stopped as it started), or nothing readable after it: the
            # bytes are stored and acknowledged; there is nothing to score or draw.
            result.problem = "; ".join(["no night folder: no data to analyse", *problems])
            return False
        decoded.info.extra.update(
            {
                "device_id": h.device_id,
                "night_id": str(h.night_id),
                "night_uid": f"{h.night_uid:016x}" if h.night_uid else "",
                "night_key": night_key(h),
                "person": h.person,
                "boot_count": str(h.boot_count),
                "header_format": str(h.format_version),
                "firmware": h.firmware,
                "board": h.board,
                "closed": "yes" if night.closed else "no (still recording)",
                "clock_drift_ppm": ""
                if decoded.clock.drift_ppm is None
                else str(round(decoded.clock.drift_ppm)),
                "night_bin_bytes": str(nf.size),
                "log_problem": "",
                **stamp,
            }
        )
        if h.detector.get("mode") == SIT_KIND:
            session = session_from_decoded(decoded, h.detector, night.closed)
            session.problems.extend(problems)
            sit = score_sit(session, self.params)
            write_sit_folder(nf.path.parent, session, sit, picture=self.picture)
            if sit.summary["problems"] and not result.problem:
                result.problem = "SIT: " + "; ".join(sit.summary["problems"])
            return True
        scoring = score_movements(decoded.movements, decoded.info, self.params)

        def add_files(tmp: Path) -> None:
            write_edf(tmp / "night.edf", decoded.epochs, scoring, decoded.info, h.device_id)
            if night.raw_chunks:  # a validation night: what the detector saw, re-analysable
                write_raw_csv(
                    nf.path,
                    tmp / "raw.csv",
                    h.imu,
                    (h.accel_scale, h.gyro_scale),
                    decoded.info,
                    problems.append,
                )
            decoded.info.extra["log_problem"] = "; ".join(problems)

        write_night_folder(
            nf.path.parent,
            decoded.movements,
            decoded.epochs,
            scoring,
            decoded.info,
            detector=decoded.detector,
            extra=add_files,
            picture=self.picture,
            markers=decoded.markers,
        )
        if problems and not result.problem:
            result.problem = "; ".join(problems)
        return True


def _stamped(summary: Path, stamp: dict[str, str]) -> bool:
    try:
        recording = json.loads(summary.read_text()).get("recording", {})
    except (OSError, ValueError, AttributeError):
        return False
    return all(recording.get(k) == v for k, v in stamp.items())
