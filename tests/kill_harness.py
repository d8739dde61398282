"""SIGKILL a sync at chosen points and check that nothing is lost or left half-written.

The device is tests/fake_device.py serving fixed nights in a process of its own (it
outlives every host it serves, as a board does). Each host is a fork of this process
(everything already imported, no threads here to inherit) running the real SyncEngine
over the pty with a frozen clock, so two runs that end alike write alike. A profile hook
in the child counts the sync's side effects in order (every file write, fsync, rename,
mkdir, removal, truncation, and every write to the port) and SIGKILLs the child just
before the k-th: k drawn at random from the side effects an uninterrupted sync has, the
kill lands anywhere in the transfer, the ACKs and the folder writing, reproducibly.

After every kill: each stored night.bin is a prefix of the device's night and the device
holds no acknowledgement beyond it. After the run that completes: the night folders are
byte for byte those of an uninterrupted sync, and no temporary file or folder is left.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import select
import signal
import subprocess
import sys
import traceback
import tty
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from legsense.device_client import DeviceClient
from legsense.night_decode import read_header_file
from legsense.sync import SyncEngine
from legsense.transport import SerialTransport
from legsense_core import protocol as P
from legsense_core.frames import FrameDecoder

TESTS = Path(__file__).resolve().parent
FROZEN_UTC_MS = 1_767_700_000_000  # the host's clock in every run: identical stamps
RESET_ACKS = 0xFFFFFFFF
IGNORED = (".sync.lock", "clock.csv")  # per-run files: the lock, one clock line per run

_SIDE_EFFECTS = {
    os.fsync,
    os.replace,
    os.rename,
    os.mkdir,
    os.rmdir,
    os.unlink,
    os.remove,
    os.truncate,
    os.ftruncate,
    os.write,
}
_FILE_TYPES = (io.BufferedWriter, io.BufferedRandom, io.TextIOWrapper, io.FileIO)


def campaign_spec() -> dict:
    """The nights the campaign syncs: raw samples, resets, a format-1 night, an open one."""
    return {
        "nights": [
            {"night_id": 1, "uid": 0x1111AAAA2222BBBB, "minutes": 30, "raw_chunks": 24, "seed": 1},
            {
                "night_id": 2,
                "uid": 0x3333CCCC4444DDDD,
                "minutes": 90,
                "seed": 2,
                "resumes": [[1_800_000, 60_000, "watchdog"]],
                "buttons": [2_400_000],
            },
            {"night_id": 3, "format_version": 1, "minutes": 20, "seed": 3},
            {"night_id": 4, "uid": 0x5555EEEE6666FFFF, "minutes": 15, "closed": False, "seed": 4},
        ]
    }


class DeviceProcess:
    """tests/fake_device.py serving a spec in a child process; `port` is its pty."""

    def __init__(self, work: Path, spec: dict) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.spec_path = work / "device.json"
        self.spec_path.write_text(json.dumps(spec))
        self.proc = subprocess.Popen(
            [sys.executable, str(TESTS / "fake_device.py"), str(self.spec_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = self.proc.stdout.readline().strip()
        if not self.port:
            raise RuntimeError("the fake device did not start")

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class PortClient:
    """Requests from the test itself (no event loop: this process forks), skipping the
    replies a killed host left on the line."""

    def __init__(self, port: str) -> None:
        self.fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.decoder = FrameDecoder()
        self.bodies: deque[bytes] = deque()
        self.seq = random.Random(os.getpid()).randrange(1 << 16)

    def call(self, mtype: int, values: tuple = ()) -> tuple:
        self.seq = (self.seq + 1) & 0xFFFF
        frame = P.message(mtype, self.seq, values)
        os.write(self.fd, frame)
        while True:
            while not self.bodies:
                ready, _, _ = select.select([self.fd], [], [], 10.0)
                if not ready:
                    raise TimeoutError("the fake device does not answer")
                self.bodies.extend(self.decoder.feed(os.read(self.fd, 65536)))
            try:
                rtype, rseq, got = P.decode_body(self.bodies.popleft())
            except P.ProtocolError:
                continue
            if rseq == self.seq and rtype in (P.reply_type(mtype), P.ERROR):
                if rtype == P.ERROR:
                    raise RuntimeError(f"device refused: {got}")
                return got

    def nights(self) -> list[tuple]:
        return list(self.call(P.LIST_NIGHTS, (0,))[2])

    def read_all(self, night_id: int, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            _, _, data = self.call(P.READ, (night_id, len(out), min(1024, size - len(out))))
            out += data
        return bytes(out)

    def close(self) -> None:
        os.close(self.fd)


@dataclass
class ChildRun:
    killed: bool
    status: int  # exit status when not killed
    side_effects: int  # counted (up to the kill)
    peak_rss_kb: int


def run_sync_child(port: str, out: Path, kill_at: int | None, work: Path) -> ChildRun:
    """Fork a host that syncs into `out`; SIGKILL it before side effect `kill_at`."""
    count_file = work / "count"
    count_file.unlink(missing_ok=True)
    pid = os.fork()
    if pid == 0:  # the host
        code = 70
        try:
            code = _child(port, out, kill_at, count_file, work)
        except BaseException:
            with open(work / "child-error.txt", "a") as f:
                traceback.print_exc(file=f)
        os._exit(code)
    _, status, usage = os.wait4(pid, 0)
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    try:
        counted = int(count_file.read_text())
    except (OSError, ValueError):
        counted = kill_at or 0
    return ChildRun(killed, code, counted, int(usage.ru_maxrss))


def _child(port: str, out: Path, kill_at: int | None, count_file: Path, work: Path) -> int:
    count = 0

    def hook(_frame, event, arg) -> None:
        nonlocal count
        if event != "c_call":
            return
        if arg in _SIDE_EFFECTS or (
            getattr(arg, "__name__", "") in ("write", "truncate")
            and isinstance(getattr(arg, "__self__", None), _FILE_TYPES)
        ):
            count += 1
            if kill_at is not None and count >= kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    async def session() -> int:
        transport = SerialTransport(port)
        try:
            engine = SyncEngine(
                DeviceClient(transport, timeout=10.0),
                out,
                utc_now_ms=lambda: FROZEN_UTC_MS,
                picture=False,
            )
            report = await engine.run()
            return 4 if report.unsynced else 0
        finally:
            await transport.close()

    sys.setprofile(hook)
    try:
        code = asyncio.run(session())
    finally:
        sys.setprofile(None)
    count_file.write_text(str(count))
    return code


def folder_files(root: Path) -> dict[str, bytes]:
    """{relative path: bytes} of every file under root but the per-run ones."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in IGNORED
    }


def leftovers(root: Path) -> list[str]:
    """Temporary files or folders anywhere under root (names starting with '.')."""
    return [
        str(p.relative_to(root))
        for p in root.rglob(".*")
        if p.name not in IGNORED and p.name != ".sync.lock"
    ]


@dataclass
class KillReport:
    rounds: int = 0
    kills: int = 0
    side_effects_per_sync: int = 0
    identical: int = 0  # rounds whose final folders equal the uninterrupted sync's
    leftovers: int = 0
    bytes_lost: int = 0  # device bytes missing from (or differing in) the final night.bin
    ack_beyond_stored: int = 0  # checks where the device held more acked than stored
    not_prefix: int = 0  # checks where night.bin was not a prefix of the device's night
    failures: list[str] = field(default_factory=list)
    peak_rss_kb: int = 0


def stored_nights(out: Path) -> dict[int, bytes]:
    """night id -> night.bin bytes of every stored night (one device folder)."""
    got: dict[int, bytes] = {}
    for path in out.glob("*/*/night.bin"):
        header = read_header_file(path)
        if header is not None:
            got[header.night_id] = path.read_bytes()
    return got


def run_campaign(work: Path, kills: int, seed: int = 11, second_kill: float = 0.5) -> KillReport:
    """Kill syncs at `kills` random points (a round may kill twice); see the docstring."""
    rng = random.Random(seed)
    report = KillReport()
    device = DeviceProcess(work / "device", campaign_spec())
    client = PortClient(device.port)
    try:
        listed = {e[0]: e for e in client.nights()}
        truth = {nid: client.read_all(nid, e[3]) for nid, e in listed.items()}
        ref = work / "reference"
        client.call(P.ERASE, (RESET_ACKS,))
        first = run_sync_child(device.port, ref, None, work)
        if first.killed or first.status != 0:
            raise RuntimeError(f"the uninterrupted sync failed: {first} (see {work})")
        report.side_effects_per_sync = first.side_effects
        reference = folder_files(ref)
        round_no = 0
        while report.kills < kills:
            round_no += 1
            out = work / f"round{round_no}"
            client.call(P.ERASE, (RESET_ACKS,))
            points = [rng.randint(1, first.side_effects)]
            if rng.random() < second_kill:
                points.append(rng.randint(1, first.side_effects))
            for k in points:
                run = run_sync_child(device.port, out, k, work)
                report.peak_rss_kb = max(report.peak_rss_kb, run.peak_rss_kb)
                if run.killed:
                    report.kills += 1
                _check_after_kill(client, listed, truth, out, report, f"round {round_no} k={k}")
            final = run_sync_child(device.port, out, None, work)
            report.peak_rss_kb = max(report.peak_rss_kb, final.peak_rss_kb)
            report.rounds += 1
            got = folder_files(out)
            if got == reference:
                report.identical += 1
            else:
                diff = sorted(set(got) ^ set(reference)) or [
                    k for k in got if got[k] != reference.get(k)
                ]
                report.failures.append(f"round {round_no} ({points}): differs in {diff[:5]}")
            left = leftovers(out)
            if left:
                report.leftovers += len(left)
                report.failures.append(f"round {round_no}: left {left[:5]}")
            stored = stored_nights(out)
            for nid, data in truth.items():
                have = stored.get(nid, b"")
                if have != data:
                    report.bytes_lost += max(1, len(data) - _common_prefix(have, data))
            _rmtree(out)  # keep the disk small: the next round starts afresh
    finally:
        client.close()
        device.close()
    return report


def _check_after_kill(client, listed, truth, out, report: KillReport, where: str) -> None:
    stored = stored_nights(out)
    for e in client.nights():
        nid, acked = e[0], e[4]
        held = stored.get(nid, b"")
        if not truth[nid].startswith(held):
            report.not_prefix += 1
            report.failures.append(f"{where}: night {nid} is not a prefix of the device's")
        if acked > len(held):
            report.ack_beyond_stored += 1
            report.failures.append(f"{where}: night {nid} acked {acked} > stored {len(held)}")


def _common_prefix(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
