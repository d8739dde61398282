"""`legsense time --port PORT [--set]`: show or set the device clock."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from legsense import clock_log
from legsense.commands.device_options import add_device_options, with_device
from legsense.device_client import host_utc_ms
from legsense.sync import data_dir, safe_name


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

        async def set_work(client):
            return client.info, await client.set_time()

        info, s = with_device(args, set_work)
        assert info is not None
        clock_log.append(data_dir(args.out) / safe_name(info.device_id) / "clock.csv", s)
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
