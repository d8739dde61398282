"""Fault campaign: the night log on flash under power cuts, bit flips and re-flashing
(issue 10, item 8).

* Power cuts during night-log writes: an 8-hour night's log (events, epochs, battery,
  anchors, flushed every minute as the app does) is cut at a random byte of a random
  write, with the host's acknowledgement at a random record boundary of what was durable
  before that write; sometimes the cut also hits the acknowledgement's own replacement
  (a torn `.ack.tmp`). Boot recovery runs on the result.
* Bit flips: one random bit of a whole night's log flipped, acknowledgement at a random
  record boundary; boot recovery runs.
* Re-flashing: a board's nights erased (`make flash-micropython` erases the flash) and
  new nights recorded, many times: night ids restart, (device id, night UID) never
  repeats.

Counted: acknowledged bytes changed by recovery (target 0), corrupt records surfaced
(a record the reader accepts that is not byte for byte one the device wrote, or one
recovery appended; target 0), nights left open or unreadable, and for re-flashing the
repeated ids and repeated UIDs.
"""

from __future__ import annotations

import random
import shutil
import struct
import tempfile
import time
from binascii import crc32
from pathlib import Path
from typing import Any

from legsense_core import records
from legsense_device.night_log import NightLog

HEADER: dict[str, Any] = dict(
    device_id="240ac4a1b2c3",
    firmware="0.1.0",
    board="virtual",
    imu="lsm6dsox",
    rate_mhz=52000,
    accel_scale=(61, 1),
    gyro_scale=(8750, 1),
    start_ticks=1000,
    anchor_dev_ms=-5000,
    anchor_utc_ms=1_795_000_000_000,
    config_json=b'{"rate_hz":52,"epoch_ms":30000}',
)


def _night_writes(rng: random.Random, hours: float = 8.0) -> tuple[bytes, list[int]]:
    """The log of an 8 h night written as the app writes it, and the file size after
    each write (each flush)."""
    work = Path(tempfile.mkdtemp(prefix="legsense-flashcut-"))
    try:
        log = NightLog(str(work))
        log.recover()
        log.start_night(**HEADER, night_uid=rng.getrandbits(64), boot_count=1)
        path = work / "00000001.log"
        sizes = [path.stat().st_size]
        t = 0
        epoch = 0
        while t < hours * 3600_000:
            t += 60_000  # one minute: two epochs, some movements, a flush
            for _ in range(2):
                log.append_epoch(
                    (epoch, 1560, rng.randrange(3000), rng.randrange(900), -20, 990, 15)
                )
                epoch += 1
            for _ in range(rng.randrange(0, 4)):
                onset = t - rng.randrange(60_000)
                log.append_event((onset, onset + rng.randrange(500, 5000), 120, 30, 3, 90))
            if t % 600_000 == 0:
                log.append_battery(t, 3900 - t // 100_000, 60)
            if t % 3600_000 == 0:
                log.append_anchor(t, HEADER["anchor_utc_ms"] + 5000 + t)  # type: ignore[operator]
            log.flush()
            sizes.append(path.stat().st_size)
        log.stop_night(t)
        sizes.append(path.stat().st_size)
        return path.read_bytes(), sizes
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _boundaries(data: bytes, end: int) -> list[int]:
    out = [0]
    for off, _t, _p in records.iter_records(data, 0, end):
        out.append(off)
    reader = records.iter_records(data, 0, end)
    for _ in reader:
        pass
    out.append(reader.offset)
    return sorted(set(out))


def _ack_bytes(value: int) -> bytes:
    v = struct.pack("<I", value)
    return v + struct.pack("<I", crc32(v))


def _check(root: Path, original: bytes, acked: int) -> tuple[int, int, int]:
    """(acknowledged bytes changed, corrupt records surfaced, night open or lost)."""
    path = root / "00000001.log"
    if not path.exists():
        return acked, 0, 1
    data = path.read_bytes()
    changed = sum(1 for a, b in zip(data[:acked], original[:acked], strict=False) if a != b)
    changed += max(0, acked - len(data))
    log = NightLog(str(root))  # a second boot: what the host then sees
    log.recover()
    nights = log.nights()
    if not nights:
        return changed, 0, 1
    return changed, _surfaced(root, original, nights[0][3]), 0 if nights[0][5] else 1


_RECORDS: dict[bytes, dict[int, bytes]] = {}


def _records_at(data: bytes) -> dict[int, bytes]:
    """offset -> the whole record the device wrote there (kept per original)."""
    got = _RECORDS.get(data)
    if got is None:
        got = {}
        for off, _t, _p in records.iter_records(data):
            n = data[off + 2] | (data[off + 3] << 8)
            got[off] = data[off : off + records.OVERHEAD + n]
        _RECORDS.clear()
        _RECORDS[data] = got
    return got


def power_cuts(count: int, seed: int, work: Path) -> dict:
    rng = random.Random(seed)
    original, sizes = _night_writes(rng)
    t0 = time.perf_counter()
    changed = corrupt = unusable = 0
    torn_acks = 0
    every = _boundaries(original, len(original))
    for i in range(count):
        k = rng.randrange(1, len(sizes))
        before, after = sizes[k - 1], sizes[k]
        cut = rng.randint(before, after)  # mid-write: a torn tail (or none)
        bounds = [b for b in every if b <= before]
        acked = rng.choice(bounds)
        root = work / f"cut{i % 4}"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        (root / "00000001.log").write_bytes(original[:cut])
        if acked:
            (root / "00000001.ack").write_bytes(_ack_bytes(acked))
        if rng.random() < 0.1:  # the cut also tore an acknowledgement being replaced
            newer = rng.choice([b for b in bounds if b >= acked])
            (root / "00000001.ack.tmp").write_bytes(_ack_bytes(newer)[: rng.randrange(9)])
            torn_acks += 1
        NightLog(str(root)).recover()
        c, bad, un = _check(root, original, acked)
        changed += c
        corrupt += bad
        unusable += un
    return {
        "cuts": count,
        "night_bytes": len(original),
        "writes": len(sizes) - 1,
        "torn_ack_replacements": torn_acks,
        "acked_bytes_changed": changed,
        "corrupt_records_surfaced": corrupt,
        "nights_not_closed_or_lost": unusable,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def bit_flips(count: int, seed: int, work: Path) -> dict:
    rng = random.Random(seed + 1)
    original, _sizes = _night_writes(rng)
    bounds = _boundaries(original, len(original))
    t0 = time.perf_counter()
    changed = corrupt = 0
    below = 0
    for i in range(count):
        bit = rng.randrange(8 * len(original))
        bad = bytearray(original)
        bad[bit // 8] ^= 1 << (bit % 8)
        acked = rng.choice(bounds)
        below += bit // 8 < acked
        root = work / f"flip{i % 4}"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        (root / "00000001.log").write_bytes(bytes(bad))
        if acked:
            (root / "00000001.ack").write_bytes(_ack_bytes(acked))
        NightLog(str(root)).recover()
        # acknowledged bytes: as the device wrote them, the flipped bit included (the
        # host holds them already; recovery must not touch them)
        c, _bad, _un = _check(root, bytes(bad), acked)
        changed += c
        # surfaced corrupt records: against the true original, the flip must never pass
        corrupt += _surfaced(root, original)
    return {
        "flips": count,
        "below_the_ack": below,
        "acked_bytes_changed": changed,
        "corrupt_records_surfaced": corrupt,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _surfaced(root: Path, original: bytes, size: int = -1) -> int:
    """Records a reader accepts (up to size) that the device never wrote there."""
    data = (root / "00000001.log").read_bytes()
    good = _records_at(original)
    n = 0
    reader = records.iter_records(data, 0, size)
    for off, rtype, payload in reader:
        size = data[off + 2] | (data[off + 3] << 8)
        whole = data[off : off + records.OVERHEAD + size]
        if good.get(off) == whole:
            continue
        if rtype == records.T_MARKER and payload[1] == records.M_RECOVERED:
            continue
        n += 1
    return n


def reflash(cycles: int, nights_per_cycle: int, seed: int, work: Path) -> dict:
    """Erase the board's flash `cycles` times, recording nights in between."""
    import json

    from legsense.simulation.device_runner import DeviceRunner
    from legsense.simulation.sim_board import BOARDS_DIR, SimBoard

    board = SimBoard("virtual")
    root = work / "reflash"
    seen_ids = []
    uids = set()
    repeated_uids = 0
    t0 = time.perf_counter()
    clock_s = 0.0
    for _cycle in range(cycles):
        shutil.rmtree(root, ignore_errors=True)  # erase-flash + reinstall
        root.mkdir()
        shutil.copytree(BOARDS_DIR, root / "boards")
        (root / "config.json").write_text(json.dumps({"board": "virtual"}))
        timeline = []
        for n in range(nights_per_cycle):
            at = clock_s + 2.0 + 20.0 * n
            timeline.append((at, lambda app: app.start("host")))
            timeline.append((at + 10.0, lambda app: app.stop("host")))
        clock_s += 2.0 + 20.0 * nights_per_cycle + 5.0
        DeviceRunner(board, root).run(clock_s, timeline)
        for p in sorted((root / "nights").glob("*.log")):
            _o, _t, header = next(iter(records.iter_records(p.read_bytes())))
            h = dict(zip(records.NIGHT_FIELDS, header, strict=True))
            seen_ids.append(h["night_id"])
            key = (h["device_id"], h["night_uid"])
            repeated_uids += key in uids
            uids.add(key)
    return {
        "erases": cycles,
        "nights": len(seen_ids),
        "distinct_night_ids": len(set(seen_ids)),
        "repeated_device_id_and_uid": repeated_uids,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def run(cuts: int = 10_000, flips: int = 3_000, erases: int = 50, seed: int = 20) -> dict:
    """The campaign (see the module doc); smaller counts for the test-suite sample."""
    shm = Path("/dev/shm")
    work = Path(tempfile.mkdtemp(prefix="legsense-flash-", dir=shm if shm.is_dir() else None))
    try:
        return {
            "seed": seed,
            "power_cuts": power_cuts(cuts, seed, work),
            "bit_flips": bit_flips(flips, seed, work),
            "reflash": reflash(erases, 3, seed, work),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def render(result: dict) -> list[str]:
    """README lines."""
    c, f, r = result["power_cuts"], result["bit_flips"], result["reflash"]
    return [
        f"The night log on flash (seed {result['seed']}; `bench/faults_device_flash.py`): an "
        f"8 h night's log ({c['night_bytes']:,} bytes in {c['writes']} writes), boot "
        "recovery after each fault:",
        "",
        "| fault | cases | acknowledged bytes changed | corrupt records surfaced | other |",
        "|---|---|---|---|---|",
        f"| power cut at a random byte of a random write | {c['cuts']:,} | "
        f"{c['acked_bytes_changed']} | {c['corrupt_records_surfaced']} | "
        f"{c['torn_ack_replacements']} cuts also tore an acknowledgement's replacement; "
        f"nights left open or lost: {c['nights_not_closed_or_lost']} |",
        f"| one random bit flipped, ack at a random record | {f['flips']:,} | "
        f"{f['acked_bytes_changed']} | {f['corrupt_records_surfaced']} | "
        f"{f['below_the_ack']} flips inside acknowledged bytes (reported, left as is) |",
        f"| erase + reinstall + new nights | {r['erases']} erases, {r['nights']} nights | | | "
        f"night ids repeat ({r['distinct_night_ids']} distinct of {r['nights']}); "
        f"(device id, night UID) repeated: {r['repeated_device_id_and_uid']} |",
    ]
