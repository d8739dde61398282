"""`legsense time --port PORT [--set]`: show or set the device clock."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from legsense import clock_log
from legsense.commands.device_options import add_device_options, with_device
from legsense.device_client import host_utc_ms
from legsense.night_folder import ensure_writable_dir
from legsense.night_store import device_folder_name
from legsense.sync import data_dir


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="show the device clock against the host's, or set it (--set)",
        description="Without --set: the device's UTC, the host's and the difference. With "
        "--set: set the device to the host's UTC and log the anchor in the data folder's "
        "clock.csv (sync uses it to correct drift).",
    )
    add_device_options(p)
    p.add_argument("--set", action="store_true", help="set the device clock from the host")
    p.add_argument("--out", type=Path, metavar="DIR", help="data folder (for the clock log)")
    return p


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def run(args: argparse.Namespace) -> int:
    if args.set:
        root = ensure_writable_dir(data_dir(args.out))  # before the device is touched

        async def set_work(client):
            assert client.info is not None  # with_device said HELLO first
            folder = ensure_writable_dir(root / device_folder_name(client.info.device_id))
            return folder, await client.set_time()

        folder, s = with_device(args, set_work)
        clock_log.append(folder / "clock.csv", s)
        if s.previous_utc_ms:
            off = s.previous_utc_ms - s.mid_utc_ms
            print(f"device was {off:+d} ms off; set to {_iso(s.sent_utc_ms)}")
        else:
            print(f"device had no time; set to {_iso(s.sent_utc_ms)}")
        return 0

    async def get_work(client):
        before = host_utc_ms()
        utc, ticks = await client.get_time()
        return utc, ticks, (before + host_utc_ms()) // 2

    utc, _, host = with_device(args, get_work)
    if not utc:
        print(f"device has no time (host {_iso(host)}); set it with --set")
    else:
        print(f"device {_iso(utc)}  host {_iso(host)}  difference {utc - host:+d} ms")
    return 0
