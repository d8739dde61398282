"""A fake legsense device for host tests: the real protocol over a real pty, any behaviour.

FakeDevice answers request bodies with legsense_core.protocol's codecs (frames with
legsense_core.frames, nights built with legsense_core.records), so the host under test
meets exactly the bytes a board would send. Each answer is a method; a test subclasses
or sets `behaviour` hooks to make the device buggy or hostile (endless lists, lying
counts, garbage nights, wrong DATA, silence). FakeLink serves one on the master end of a
pty in a thread, the host opens the slave end by path as it would /dev/ttyUSB0.

`python tests/fake_device.py SPEC.json` serves a device built from a JSON spec in its own
process and prints the port (the SIGKILL campaign forks hosts against it). ERASE of night
RESET_ACKS sets every acknowledgement back to 0 (a fresh device for the next round).
"""

from __future__ import annotations

import json
import os
import random
import select
import struct
import sys
import threading
import tty
import zlib
from binascii import crc32
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from legsense_core import protocol as P
from legsense_core import records as R
from legsense_core.frames import FrameDecoder, encode

DEVICE_ID = "fa4e0000d3v1"
RESET_ACKS = 0xFFFFFFFF  # ERASE of this night id: forget every acknowledgement (tests)
UTC0_MS = 1_767_652_200_000  # 2026-01-05T22:30:00Z
EPOCH_MS = 30000


# -- nights ------------------------------------------------------------------------------


@dataclass
class NightSpec:
    """What a generated night holds (all times device ms since its start)."""

    night_id: int
    uid: int = 0
    format_version: int = 2  # 1: an old firmware's night (no UID in the header)
    device_id: str = DEVICE_ID
    minutes: int = 30
    start_utc_ms: int = UTC0_MS  # 0: the device had no clock
    anchors: list[tuple[int, int]] = field(default_factory=list)  # (dev ms, utc ms) records
    header_anchor: tuple[int, int] | None = None  # default (0, start_utc_ms)
    events_per_min: float = 2.0
    raw_chunks: int = 0
    resumes: list[tuple[int, int, str]] = field(default_factory=list)  # (t, ms lost, cause)
    buttons: list[int] = field(default_factory=list)
    closed: bool = True
    seed: int = 1
    leg: str = "left"


def build_night(spec: NightSpec) -> bytes:
    """The night log bytes the device would store for spec (records' encoders)."""
    rng = random.Random(spec.seed)
    buf = bytearray(1 << 22)
    cfg = json.dumps({"rate_hz": 52, "epoch_ms": EPOCH_MS, "leg": spec.leg}).encode()
    anchor = spec.header_anchor
    if anchor is None:
        anchor = (0, spec.start_utc_ms)
    end = R.encode_night(
        buf, 0, spec.night_id, spec.device_id, "0.2.0", "virtual", "lsm6dsox", 52000,
        (61, 1), (8750, 1), 123456, anchor[0], anchor[1], cfg, spec.uid, 3,
    )  # fmt: skip
    if spec.format_version == 1:
        end = _as_format_1(buf, end)
    end = R.encode_marker(buf, end, 0, R.M_STARTED)
    length_ms = spec.minutes * 60_000
    gap_ms = {t: lost for t, lost, _ in spec.resumes}
    items: list[tuple[int, int, tuple]] = []  # (t, order, record)
    t = 0
    skip_until = -1
    for i in range(length_ms // EPOCH_MS):
        t0 = i * EPOCH_MS
        for rt, lost in gap_ms.items():
            if rt <= t0 < rt + lost:
                skip_until = rt + lost
        if t0 < skip_until:
            continue  # a reset: no data in this stretch
        items.append(
            (t0 + EPOCH_MS, 1, ("epoch", (i, 1560, rng.randrange(0, 3000), 30, -20, 990, 15)))
        )
    n_events = int(spec.minutes * spec.events_per_min)
    for _ in range(n_events):
        t = rng.randrange(1000, max(2000, length_ms - 12_000))
        if any(rt <= t < rt + lost for rt, lost in gap_ms.items()):
            continue
        dur = rng.choice((400, 800, 1500, 2500, 6000))
        items.append((t + dur, 0, ("event", (t, t + dur, rng.randrange(80, 900), 30, 3, 200))))
    for d, u in spec.anchors:
        items.append((d, 2, ("anchor", (d, u))))
    for rt, lost, cause in spec.resumes:
        items.append((rt + lost, 3, ("marker", (rt + lost, R.M_RESUMED, lost, cause))))
    for bt in spec.buttons:
        items.append((bt, 3, ("marker", (bt, R.M_BUTTON, 0, ""))))
    for k in range(spec.raw_chunks):
        rows = bytearray()
        t_raw = 60_000 + k * 4000
        for j in range(60):
            rows += struct.pack(R.RAW_ROW_GYRO, 19 * j, j, -j, 16000 + j, 3 * j, 0, -2 * j)
        items.append((t_raw, 4, ("raw", (t_raw, 60, R.RAW_DEFLATE, zlib.compress(bytes(rows))))))
    items.sort(key=lambda x: (x[0], x[1]))
    for _, _, (kind, v) in items:
        if kind == "epoch":
            end = R.encode_epoch(buf, end, v)
        elif kind == "event":
            end = R.encode_event(buf, end, v)
        elif kind == "anchor":
            end = R.encode_anchor(buf, end, *v)
        elif kind == "marker":
            end = R.encode_marker(buf, end, *v)
        else:
            end = R.encode_raw(buf, end, *v)
    if spec.closed:
        end = R.encode_marker(buf, end, length_ms, R.M_STOP_HOST)
    return bytes(buf[:end])


def _as_format_1(buf: bytearray, end: int) -> int:
    # Rewrite the header just encoded as format 1 (no UID, no boot count): what firmware
    # before header v2 wrote. Layout from docs/night-log.md, built here by hand.
    n = end - R.OVERHEAD
    payload = bytearray(buf[R.HEAD_SIZE : R.HEAD_SIZE + n])
    payload[0] = 1
    del payload[R.NIGHT_V1_SIZE : R.NIGHT_SIZE]
    head = struct.pack("<BBH", R.MAGIC, R.T_NIGHT, len(payload))
    body = head + payload
    rec = body + struct.pack("<I", crc32(body[1:]))
    buf[: len(rec)] = rec
    return len(rec)


@dataclass
class FakeNight:
    night_id: int
    data: bytes
    closed: bool = True
    acked: int = 0
    start_ms: int = UTC0_MS
    utc: bool = True
    uid: int = 0

    def entry(self) -> tuple:
        flags = (P.N_CLOSED if self.closed else 0) | (P.N_UTC if self.utc else 0)
        end = min(self.start_ms + 60_000, 2**64 - 1) if self.closed and self.utc else 0
        return (self.night_id, self.start_ms, end, len(self.data), self.acked, flags, self.uid)


def fake_night(spec: NightSpec, **overrides) -> FakeNight:
    """The FakeNight for a spec (its listing from the spec), with fields overridden."""
    data = build_night(spec)
    night = FakeNight(
        spec.night_id,
        data,
        closed=spec.closed,
        start_ms=spec.start_utc_ms,
        utc=bool(spec.start_utc_ms),
        uid=spec.uid,
    )
    for k, v in overrides.items():
        setattr(night, k, v)
    return night


# -- the device ------------------------------------------------------------------------


class FakeDevice:
    """Answers request bodies (see the module docstring). Override on_* to misbehave."""

    def __init__(
        self,
        nights: list[FakeNight],
        device_id: str = DEVICE_ID,
        window: int = 8,
        max_read: int = P.MAX_READ,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.nights = nights
        self.device_id = device_id
        self.window = window
        self.max_read = max_read
        self.clock_ms = clock_ms  # the device's UTC now; None: frozen at the last setting
        self.utc = 0
        self.requests: Counter[int] = Counter()
        self.silent = False  # answer nothing at all
        self.buf = bytearray(P.MAX_BODY)

    def find(self, night_id: int) -> FakeNight | None:
        for n in self.nights:
            if n.night_id == night_id:
                return n
        return None

    def reply(self, mtype: int, seq: int, values: tuple) -> list[bytes]:
        n = P.encode_body(self.buf, mtype, seq, values)
        return [encode(bytes(self.buf[:n]))]

    def error(self, seq: int, mtype: int, code: int, text: str) -> list[bytes]:
        return self.reply(P.ERROR, seq, (code, mtype, text))

    def handle(self, body: bytes) -> list[bytes]:
        """The frames to send for one request body."""
        try:
            mtype, seq, values = P.decode_body(body)
        except P.ProtocolError as e:
            return self.error(body[2] | body[3] << 8 if len(body) > 3 else 0, 0, e.code, e.message)
        self.requests[mtype] += 1
        if self.silent:
            return []
        handler = getattr(self, "on_" + P.type_name(mtype).replace(" ", "_").lower(), None)
        if handler is None:
            return self.error(seq, mtype, P.E_BAD_REQUEST, "not served by the fake")
        return handler(seq, *values)

    def on_hello(self, seq: int) -> list[bytes]:
        flags = P.F_CLOCK_SET if self.utc else 0
        return self.reply(
            P.HELLO_REPLY,
            seq,
            (P.PROTOCOL_VERSION, 2, flags, 4000, 80, 1 << 20, 4 << 20, len(self.nights),
             self.window, self.max_read, self.device_id, "0.2.0", "virtual", "lsm6dsox"),
        )  # fmt: skip

    def on_get_time(self, seq: int) -> list[bytes]:
        return self.reply(P.GET_TIME_REPLY, seq, (self.now(), 5000))

    def now(self) -> int:
        if self.clock_ms is not None and self.utc:
            return self.clock_ms()
        return self.utc

    def on_set_time(self, seq: int, utc_ms: int) -> list[bytes]:
        previous = self.now()
        self.utc = utc_ms
        return self.reply(P.SET_TIME_REPLY, seq, (previous, 5000))

    def on_list_nights(self, seq: int, first: int) -> list[bytes]:
        entries = [n.entry() for n in self.nights[first : first + P.MAX_NIGHTS]]
        return self.reply(
            P.LIST_NIGHTS_REPLY, seq, (len(self.nights), min(first, len(self.nights)), entries)
        )

    def on_read(self, seq: int, night_id: int, offset: int, length: int) -> list[bytes]:
        night = self.find(night_id)
        if night is None:
            return self.error(seq, P.READ, P.E_UNKNOWN_NIGHT, f"no night {night_id}")
        if offset > len(night.data):
            return self.error(seq, P.READ, P.E_OUT_OF_RANGE, "beyond the night")
        chunk = night.data[offset : offset + min(length, self.max_read)]
        return self.reply(P.DATA, seq, (night_id, offset, chunk))

    def on_ack(self, seq: int, night_id: int, offset: int) -> list[bytes]:
        night = self.find(night_id)
        if night is None:
            return self.error(seq, P.ACK, P.E_UNKNOWN_NIGHT, f"no night {night_id}")
        if offset > len(night.data):
            return self.error(seq, P.ACK, P.E_OUT_OF_RANGE, "beyond the night")
        night.acked = max(night.acked, offset)
        return self.reply(P.ACK_REPLY, seq, (night_id, night.acked))

    def on_erase(self, seq: int, night_id: int) -> list[bytes]:
        if night_id == RESET_ACKS:
            for n in self.nights:
                n.acked = 0
            return self.reply(P.ERASE_REPLY, seq, (night_id, 1 << 20))
        night = self.find(night_id)
        if night is None:
            return self.error(seq, P.ERASE, P.E_UNKNOWN_NIGHT, f"no night {night_id}")
        if not night.closed or night.acked < len(night.data):
            return self.error(seq, P.ERASE, P.E_NOT_ACKNOWLEDGED, "not acknowledged")
        self.nights.remove(night)
        return self.reply(P.ERASE_REPLY, seq, (night_id, 1 << 20))


class FakeLink:
    """A FakeDevice on the master end of a pty, served by a thread; `port` is the path."""

    def __init__(self, device: FakeDevice) -> None:
        self.device = device
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self._stop = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        decoder = FrameDecoder()
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([self.master], [], [], 0.05)
                if not ready:
                    continue
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    continue
                for body in decoder.feed(data):
                    for frame in self.device.handle(body):
                        view = memoryview(frame)
                        while view:
                            view = view[os.write(self.master, view) :]
        except BaseException as e:  # reported by close()
            self.failure = e

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        os.close(self.slave)
        os.close(self.master)
        if self.failure is not None:
            raise self.failure


# -- a device in its own process (for the SIGKILL campaign) -----------------------------


def nights_from_spec(spec: dict) -> list[FakeNight]:
    """FakeNights from a JSON spec: {"nights": [{NightSpec fields}, ...]}."""
    out = []
    for n in spec["nights"]:
        ns = NightSpec(**{k: v for k, v in n.items() if k in NightSpec.__dataclass_fields__})
        ns.anchors = [tuple(a) for a in ns.anchors]  # type: ignore[misc]
        ns.resumes = [tuple(r) for r in ns.resumes]  # type: ignore[misc]
        out.append(fake_night(ns))
    return out


def serve_forever(spec_path: Path) -> None:
    """Serve the device of a JSON spec until stdin closes; print the port first."""
    spec = json.loads(spec_path.read_text())
    device = FakeDevice(nights_from_spec(spec), device_id=spec.get("device_id", DEVICE_ID))
    link = FakeLink(device)
    print(link.port, flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin
    finally:
        link.close()


if __name__ == "__main__":
    serve_forever(Path(sys.argv[1]))
