"""Buggy and hostile devices, and the scenarios the host must survive with each.

Shared by tests/host/test_sync_hostile.py and bench/faults_host_hostile.py. Each device
is a tests/fake_device.FakeDevice that lies in one way; each Scenario says which devices
a sync meets (in order, into one data folder), which nights must end up on the host byte
for byte, and the exit status `legsense sync` must give.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from fake_device import FakeDevice, FakeNight, NightSpec, fake_night
from legsense.errors import EXIT_DEVICE, EXIT_OK, EXIT_UNSYNCED
from legsense_core import protocol as P
from legsense_core import records


def good_nights(n: int = 3, base_uid: int = 0xAB00) -> list[FakeNight]:
    return [
        fake_night(NightSpec(i, uid=base_uid + i, minutes=20 + 5 * i, seed=i))
        for i in range(1, n + 1)
    ]


class EndlessList(FakeDevice):
    """Always the first page, always 65535 nights."""

    def on_list_nights(self, seq, first):
        entries = [n.entry() for n in self.nights] * 12
        return self.reply(P.LIST_NIGHTS_REPLY, seq, (65535, 0, entries[: P.MAX_NIGHTS]))


class HugeCounts(FakeDevice):
    """Asks for 255 requests in flight and lists its first night as 4 GB, acked beyond."""

    def __init__(self, nights):
        super().__init__(nights, window=255)

    def on_list_nights(self, seq, first):
        entries = [n.entry() for n in self.nights]
        entries[0] = (*entries[0][:3], 0xFFFFFFFF, 0xFFFFFFFF, entries[0][5], entries[0][6])
        return self.reply(P.LIST_NIGHTS_REPLY, seq, (len(entries), 0, entries))


class WrongData(FakeDevice):
    """Answers READs of night 2 beyond 2000 bytes with night 3's bytes."""

    def on_read(self, seq, night_id, offset, length):
        if night_id == 2 and offset > 2000:
            return super().on_read(seq, 3, offset, length)
        return super().on_read(seq, night_id, offset, length)


class GoesSilent(FakeDevice):
    """Stops answering after a number of READs (unplugged mid-night)."""

    def __init__(self, nights, reads: int):
        super().__init__(nights)
        self.reads_left = reads

    def on_read(self, seq, night_id, offset, length):
        self.reads_left -= 1
        if self.reads_left < 0:
            return []
        return super().on_read(seq, night_id, offset, length)


class Chatty(FakeDevice):
    """Sends a flood of stale replies and noise before every real answer."""

    def handle(self, body):
        frames = super().handle(body)
        noise = [P.message(P.DATA, 7, (1, 0, b"x" * 40)) for _ in range(20)]
        return [*noise, b"\x00\x01\x02garbage\x00" * 5, *frames]


def flip_header_bit(night: FakeNight) -> FakeNight:
    data = bytearray(night.data)
    data[20] ^= 0x10
    night.data = bytes(data)
    return night


def garbage_night(night_id: int, size: int, seed: int) -> FakeNight:
    rng = random.Random(seed)
    return FakeNight(night_id, rng.randbytes(size), uid=0xBAD0 + night_id)


def header_then_garbage(night_id: int, size: int, seed: int) -> FakeNight:
    head = fake_night(NightSpec(night_id, uid=0x99, minutes=1)).data
    n = records.check_record(head, 0, len(head))
    return FakeNight(night_id, head[:n] + random.Random(seed).randbytes(size), uid=0x99)


def events_night(night_id: int, megabytes: int) -> FakeNight:
    """A closed night of nothing but events (a device that logs an event per ms)."""
    base = fake_night(NightSpec(night_id, uid=0xE0E0, minutes=1, closed=False)).data
    buf = bytearray(29 * 4096)
    chunks = [base]
    total = len(base)
    t = 0
    while total < megabytes * 1_000_000:
        end = 0
        for _ in range(4096):
            end = records.encode_event(buf, end, (t, t + 600, 100, 10, 1, 50))
            t += 700
        chunks.append(bytes(buf[:end]))
        total += end
    end = records.encode_marker(buf, 0, t, records.M_STOP_HOST)
    chunks.append(bytes(buf[:end]))
    return FakeNight(night_id, b"".join(chunks), uid=0xE0E0)


@dataclass
class Scenario:
    """Devices met in order (one sync each, same data folder); nights that must arrive."""

    name: str
    what: str
    devices: Callable[[], list[FakeDevice]]
    intact: Callable[[list[FakeDevice]], list[FakeNight]]  # must be stored byte for byte
    status: int  # of the last sync
    sync_options: list[str] = field(default_factory=list)


def _first(devices: list[FakeDevice]) -> list[FakeNight]:
    return devices[0].nights


def _nights_but(*ids: int):
    return lambda devices: [n for n in devices[-1].nights if n.night_id not in ids]


def _reflash() -> list[FakeDevice]:
    old = good_nights(3, 0x0A00)
    new = [
        fake_night(NightSpec(i, uid=0x0B00 + i, minutes=10 + 30 * (i - 1), seed=40 + i))
        for i in (1, 2)
    ]
    return [FakeDevice(old), FakeDevice(new)]


def _all_nights(devices: list[FakeDevice]) -> list[FakeNight]:
    return [n for d in devices for n in d.nights]


SCENARIOS: list[Scenario] = [
    Scenario(
        "endless list",
        "LIST_NIGHTS always from 0, total 65535",
        lambda: [EndlessList(good_nights())],
        lambda d: [],
        EXIT_DEVICE,
    ),
    Scenario(
        "huge counts",
        "window 255, a night of 4 GB acked beyond its size",
        lambda: [HugeCounts(good_nights())],
        _nights_but(1),
        EXIT_UNSYNCED,
    ),
    Scenario(
        "garbage night",
        "50 kB of random bytes as night 7",
        lambda: [FakeDevice([*good_nights(), garbage_night(7, 50_000, 3)])],
        _nights_but(7),
        EXIT_UNSYNCED,
    ),
    Scenario(
        "header then garbage",
        "a header, then 1 MB that never forms a record",
        lambda: [FakeDevice([*good_nights(2), header_then_garbage(9, 1_000_000, 4)])],
        _first,
        EXIT_OK,
    ),
    Scenario(
        "events flood",
        "a night of 32 MB of events (1.1 million)",
        lambda: [FakeDevice([events_night(5, 32)])],
        _first,
        EXIT_OK,
    ),
    Scenario(
        "out-of-range times",
        "start 2^64-1, anchors and events beyond any night",
        lambda: [FakeDevice([_out_of_range_night()])],
        _first,
        EXIT_OK,
    ),
    Scenario(
        "damaged header",
        "one flipped bit in night 2's header",
        lambda: [
            FakeDevice([n if n.night_id != 2 else flip_header_bit(n) for n in good_nights(4)])
        ],
        _nights_but(2),
        EXIT_UNSYNCED,
    ),
    Scenario(
        "header id mismatch",
        "listed as night 1, the header says night 7",
        lambda: [FakeDevice(_id_mismatch())],
        _nights_but(1),
        EXIT_UNSYNCED,
    ),
    Scenario(
        "UID mismatch",
        "listed UID differs from the header's",
        lambda: [FakeDevice(_uid_mismatch())],
        _nights_but(1),
        EXIT_UNSYNCED,
    ),
    Scenario(
        "wrong DATA",
        "READs of night 2 answered with night 3's bytes",
        lambda: [WrongData(good_nights())],
        _nights_but(2),
        EXIT_UNSYNCED,
    ),
    Scenario(
        "reused ids",
        "night 2 listed twice",
        lambda: [
            FakeDevice([*good_nights(), fake_night(NightSpec(2, uid=0xEEEE, minutes=12, seed=9))])
        ],
        _nights_but(2),
        EXIT_UNSYNCED,
    ),
    Scenario(
        "silent device",
        "stops answering after 6 READs",
        lambda: [GoesSilent([fake_night(NightSpec(1, uid=0x51, minutes=240))], 6)],
        lambda d: [],
        EXIT_DEVICE,
        ["--timeout", "0.5"],
    ),
    Scenario(
        "noise and stale replies",
        "20 stale frames and REPL noise before every answer",
        lambda: [Chatty(good_nights())],
        _first,
        EXIT_OK,
    ),
    Scenario(
        "re-flash", "erased: ids restart, new UIDs, same dates", _reflash, _all_nights, EXIT_OK
    ),
    Scenario(
        "format-1 re-flash",
        "erased, nights without UIDs, same ids and headers",
        lambda: _reflash_v1(),
        _all_nights,
        EXIT_OK,
    ),
    Scenario(
        "two boards, one id",
        "same device id, same night ids",
        lambda: [FakeDevice(good_nights(2, 0x100)), FakeDevice(good_nights(2, 0x200))],
        _all_nights,
        EXIT_OK,
    ),
    Scenario(
        "colliding names",
        "device ids 'a/b' and 'a_b'",
        lambda: [
            FakeDevice(good_nights(2, 0x300), device_id="a/b"),
            FakeDevice(good_nights(2, 0x400), device_id="a_b"),
        ],
        _all_nights,
        EXIT_OK,
    ),
]


def _out_of_range_night() -> FakeNight:
    spec = NightSpec(
        1, uid=0x1, minutes=10, header_anchor=(0, 2**64 - 1), anchors=[(2**32 - 1, 2**63)]
    )
    night = fake_night(spec, start_ms=2**64 - 1)
    buf = bytearray(64)
    end = records.encode_event(buf, 0, (2**32 - 2, 2**32 - 1, 1, 1, 1, 1))
    end = records.encode_epoch(buf, end, (2**32 - 1, 1, 1, 1, 0, 0, 0))
    night.data = night.data + bytes(buf[:end])
    return night


def _id_mismatch() -> list[FakeNight]:
    nights = good_nights()
    nights[0].data = fake_night(NightSpec(7, uid=nights[0].uid, minutes=25, seed=1)).data
    return nights


def _uid_mismatch() -> list[FakeNight]:
    nights = good_nights()
    nights[0].uid = 0xDEAD
    return nights


def _reflash_v1() -> list[FakeDevice]:
    old = [
        fake_night(NightSpec(i, format_version=1, minutes=m, seed=i)) for i, m in ((1, 30), (2, 40))
    ]
    new = [
        fake_night(NightSpec(i, format_version=1, minutes=m, seed=20 + i))
        for i, m in ((1, 10), (2, 60))
    ]
    return [FakeDevice(old), FakeDevice(new)]


def run_scenario(scenario: Scenario, out) -> dict:
    """Sync every device of a scenario into `out` with the CLI; what came of it.

    bytes_lost: bytes of nights that must be intact but are not stored byte for byte;
    acked_unheld: nights the device may free although the host does not hold them.
    """
    import contextlib
    import io
    from pathlib import Path

    from fake_device import FakeLink
    from legsense.cli import main

    devices = scenario.devices()
    out = Path(out)
    status = None
    errors: list[str] = []
    for device in devices:
        link = FakeLink(device)
        stdout, stderr = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                status = main(["sync", "--port", link.port, "--out", str(out), "--no-picture",
                               *scenario.sync_options])  # fmt: skip
        finally:
            link.close()
        errors += [line for line in stderr.getvalue().splitlines() if line.strip()]
    stored = [p.read_bytes() for p in out.rglob("night.bin")]
    lost = sum(len(n.data) for n in scenario.intact(devices) if n.data not in stored)
    unheld = sum(
        1
        for d in devices
        for n in d.nights
        if n.acked and not any(s.startswith(n.data[: n.acked]) for s in stored)
    )
    return {
        "status": status,
        "expected_status": scenario.status,
        "bytes_lost": lost,
        "acked_unheld": unheld,
        "leftovers": len([p for p in out.rglob(".*") if p.name != ".sync.lock"]),
        "crash": any("internal error" in e or "Traceback" in e for e in errors),
        "message": errors[-1] if errors else "",
    }
