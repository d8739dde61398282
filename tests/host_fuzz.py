"""Fuzzed frames into the host's decoding path, counted (a test and `make faults` use it).

A scripted link answers each request the host's DeviceClient sends with a burst of
frames made from the right reply by one of a dozen mutations (bit flips, cuts, bodies
changed but re-framed with a good CRC so they reach the message decoder and the host's
checks, wrong version/type/sequence, random bodies, noise, lying length fields, random
values in every field), and sometimes the right reply itself. The host runs its real
operations on it: HELLO, the paged night list, GET/SET_TIME, ACK and the sync engine's
reading of a night header. Each operation must end with a value or one of the documented
errors (exit status 3 for the link, a per-night problem), never another exception
(a crash), never a request loop beyond the protocol's bounds (a hang), and the link's
buffers must stay within their fixed size.
"""

from __future__ import annotations

import asyncio
import random
import struct
import sys
import time
from binascii import crc32
from collections import Counter, deque
from dataclasses import dataclass, field

from legsense.device_client import DeviceClient, DeviceInfo, NightEntry
from legsense.errors import DeviceError
from legsense.sync import NightProblem, SyncEngine
from legsense.transport.base import FramedTransport, LinkTimeout
from legsense_core import protocol as P
from legsense_core import records as R
from legsense_core.frames import MAX_BODY, FrameDecoder, encode

MAX_REQUESTS_PER_OP = 70_000  # LIST_NIGHTS may page at most 65535 times


def _night_header() -> bytes:
    buf = bytearray(512)
    end = R.encode_night(buf, 0, 3, "fuzz", "0.2.0", "virtual", "lsm6dsox", 52000, (61, 1),
                         (8750, 1), 0, 0, 1_767_652_200_000, b'{"rate_hz": 52}', 77, 1)  # fmt: skip
    end = R.encode_marker(buf, end, 0, R.M_STARTED)
    return bytes(buf[:end])


HEADER = _night_header()


def true_reply(mtype: int, values: tuple, rng: random.Random) -> tuple[int, tuple]:
    """A correct reply (type, values) to a request."""
    if mtype == P.HELLO:
        return P.HELLO_REPLY, (P.PROTOCOL_VERSION, 2, 2, 4000, 80, 1 << 20, 4 << 20, 1, 8, 1024,
                               "fuzz", "0.2.0", "virtual", "lsm6dsox")  # fmt: skip
    if mtype == P.LIST_NIGHTS:
        entry = (3, 1_767_652_200_000, 0, len(HEADER), 0, P.N_CLOSED | P.N_UTC, 77)
        return P.LIST_NIGHTS_REPLY, (1, values[0], [entry] if values[0] == 0 else [])
    if mtype == P.GET_TIME:
        return P.GET_TIME_REPLY, (1_767_652_200_000, 5000)
    if mtype == P.SET_TIME:
        return P.SET_TIME_REPLY, (values[0] - rng.randrange(0, 5000), 5000)
    if mtype == P.ACK:
        return P.ACK_REPLY, (values[0], values[1])
    if mtype == P.READ:
        night, off, n = values
        return P.DATA, (night, off, HEADER[off : off + n])
    return P.ERROR, (P.E_BAD_REQUEST, mtype, "?")


def _random_values(mtype: int, rng: random.Random) -> tuple:
    """Random values that fit a reply's layout (a lying device, within the codec)."""

    def u(bits: int) -> int:
        return rng.choice((0, 1, (1 << bits) - 1, rng.getrandbits(bits)))

    if mtype == P.HELLO_REPLY:
        names = tuple(rng.choice(("", "x" * 32, "é", "a/b")) for _ in range(4))
        return (rng.choice((P.PROTOCOL_VERSION, u(8))), u(8), u(8), u(16), u(8), u(32), u(32),
                u(16), u(8), u(16), *names)  # fmt: skip
    if mtype == P.LIST_NIGHTS_REPLY:
        entries = [
            (u(32), u(64), u(64), u(32), u(32), u(8), u(64)) for _ in range(rng.randrange(0, 35))
        ]
        return (u(16), u(16), entries)
    if mtype in (P.GET_TIME_REPLY, P.SET_TIME_REPLY):
        return (u(64), u(32))
    if mtype == P.ACK_REPLY:
        return (u(32), u(32))
    if mtype == P.DATA:
        return (u(32), u(32), rng.randbytes(rng.randrange(0, 1025)))
    if mtype == P.ERROR:
        return (u(8), u(8), rng.choice(("", "x" * 120, "kaputt")))
    return ()


def _body(mtype: int, seq: int, values: tuple) -> bytes:
    buf = bytearray(MAX_BODY)
    return bytes(buf[: P.encode_body(buf, mtype, seq, values)])


MUTATIONS = (
    "valid",
    "bit flips",
    "cut",
    "body bytes changed (good CRC)",
    "body cut or grown (good CRC)",
    "random body",
    "random values",
    "wrong version",
    "wrong type",
    "stale sequence",
    "noise",
    "lying length",
)


def fuzz_frame(kind: str, mtype: int, seq: int, values: tuple, rng: random.Random) -> bytes:
    """One fuzzed frame (wire bytes) made from the right reply by mutation `kind`."""
    rtype, rvalues = true_reply(mtype, values, rng)
    body = _body(rtype, seq, rvalues)
    if kind == "valid":
        return encode(body)
    if kind == "bit flips":
        wire = bytearray(encode(body))
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(1, len(wire) - 1)
            wire[i] ^= 1 << rng.randrange(8)
        return bytes(wire)
    if kind == "cut":
        wire = encode(body)
        return wire[: rng.randrange(1, len(wire))]
    if kind == "body bytes changed (good CRC)":
        b = bytearray(body)
        for _ in range(rng.randrange(1, 6)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return encode(bytes(b))
    if kind == "body cut or grown (good CRC)":
        if rng.random() < 0.5 and len(body) > 1:
            return encode(body[: rng.randrange(len(body))])
        return encode((body + rng.randbytes(rng.randrange(1, 64)))[:MAX_BODY])
    if kind == "random body":
        return encode(rng.randbytes(rng.randrange(0, MAX_BODY + 1)))
    if kind == "random values":
        return encode(_body(rtype, seq, _random_values(rtype, rng)))
    if kind == "wrong version":
        b = bytearray(body)
        b[0] = rng.choice((0, 1, 3, 255))
        return encode(bytes(b))
    if kind == "wrong type":
        b = bytearray(body)
        b[1] = rng.randrange(256)
        return encode(bytes(b))
    if kind == "stale sequence":
        return encode(_body(rtype, (seq + rng.randrange(1, 65536)) & 0xFFFF, rvalues))
    if kind == "noise":
        return rng.randbytes(rng.randrange(1, 300))
    # a lying length with a good CRC: only the length check can catch it
    length = rng.randrange(len(body) + 1, 0x10000)
    plain = struct.pack("<H", length) + body
    return b"\x00" + _stuffed(plain + struct.pack("<I", crc32(plain))) + b"\x00"


def _stuffed(plain: bytes) -> bytes:
    """The wire form of plain frame bytes, from the spec in docs/protocol.md."""
    out = bytearray()
    for b in plain:
        w = b ^ 0x80
        out += bytes((0x05, w ^ 0x20)) if w <= 0x05 else bytes((w,))
    return bytes(out)


@dataclass
class FuzzReport:
    frames: int = 0
    operations: int = 0
    by_mutation: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)  # "ok", or the error class
    crashes: int = 0
    hangs: int = 0
    crash_examples: list[str] = field(default_factory=list)
    max_pending: int = 0  # decoder bytes held, at most its capacity
    decoder_capacity: int = 0
    max_queued: int = 0  # frame bodies queued in the transport
    seconds: float = 0.0


class ScriptedLink(FramedTransport):
    """A link whose device answers each request with a burst of fuzzed frames."""

    def __init__(self, rng: random.Random, report: FuzzReport, burst: int = 6) -> None:
        super().__init__("fuzz")
        self.rng = rng
        self.report = report
        self.burst = burst
        self.chunks: deque[bytes] = deque()
        self.requests = 0
        self._requests = FrameDecoder()

    async def _write(self, data: bytes) -> None:
        rng = self.rng
        for body in self._requests.feed(data):
            self.requests += 1
            mtype, seq, values = P.decode_body(body)
            wire = bytearray()
            for _ in range(rng.randrange(1, self.burst + 1)):
                kind = rng.choice(MUTATIONS)
                wire += fuzz_frame(kind, mtype, seq, values, rng)
                self.report.frames += 1
                self.report.by_mutation[kind] += 1
            if rng.random() < 0.5:
                wire += fuzz_frame("valid", mtype, seq, values, rng)
                self.report.frames += 1
                self.report.by_mutation["valid"] += 1
            cuts = sorted(rng.randrange(len(wire) + 1) for _ in range(rng.randrange(0, 3)))
            for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
                if b > a:
                    self.chunks.append(bytes(wire[a:b]))

    async def _read_chunk(self, timeout: float) -> bytes:
        r = self.report
        r.max_pending = max(r.max_pending, self._decoder.pending())
        r.max_queued = max(r.max_queued, len(self._bodies))
        if not self.chunks:
            raise LinkTimeout("the scripted device has nothing more to say", self.name)
        return self.chunks.popleft()

    async def close(self) -> None:
        return None


async def _operation(name: str, client: DeviceClient, engine: SyncEngine, rng: random.Random):
    if name == "hello":
        return await client.hello()
    if name == "list":
        return await client.list_nights()
    if name == "get_time":
        return await client.get_time()
    if name == "set_time":
        return await client.set_time(lambda: 1_767_652_200_000)
    if name == "ack":
        return await client.ack(3, rng.randrange(0, 100))
    info = DeviceInfo(2, "idle", 0, 0, None, 0, 0, 1, 8, rng.choice((1024, 7, 200)),
                      "fuzz", "f", "b", "i")  # fmt: skip
    entry = NightEntry(3, 1_767_652_200_000, 0, len(HEADER), 0, 3, 77)
    return await engine._read_header(entry, info)


OPERATIONS = ("hello", "list", "get_time", "set_time", "ack", "read_header")


def run_fuzz(frames: int, seed: int = 1) -> FuzzReport:
    """Feed at least `frames` fuzzed frames through the host's operations."""
    report = FuzzReport()
    rng = random.Random(seed)

    async def main() -> None:
        link = ScriptedLink(rng, report)
        report.decoder_capacity = link._decoder.capacity()
        while report.frames < frames:
            client = DeviceClient(link, timeout=60.0)  # never waited: the script runs dry
            engine = SyncEngine(client, "/nonexistent-fuzz-out")
            name = rng.choice(OPERATIONS)
            link.chunks.clear()
            link._bodies.clear()
            link.requests = 0
            report.operations += 1
            try:
                await _operation(name, client, engine, rng)
                report.outcomes["ok"] += 1
            except (DeviceError, NightProblem) as exc:
                report.outcomes[type(exc).__name__] += 1
            except Exception as exc:  # a crash: what the campaign must never see
                report.crashes += 1
                if len(report.crash_examples) < 5:
                    report.crash_examples.append(f"{name}: {type(exc).__name__}: {exc}")
            if link.requests > MAX_REQUESTS_PER_OP:
                report.hangs += 1

    t0 = time.perf_counter()
    asyncio.run(main())
    report.seconds = time.perf_counter() - t0
    return report


if __name__ == "__main__":
    print(run_fuzz(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
