"""`legsense status --port PORT`: the device, its clock and its nights."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from legsense.commands.device_options import add_device_options, with_device


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="show the device's state, battery, flash and nights")
    add_device_options(p)
    return p


def _when(ms: int, utc: bool) -> str:
    if not ms:
        return "-"
    if not utc:
        return f"device {ms / 1000:.0f} s"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


def run(args: argparse.Namespace) -> int:
    async def work(client):
        return client.info, await client.list_nights()

    d, nights = with_device(args, work)
    assert d is not None
    battery = "unknown" if d.battery_pct is None else f"{d.battery_pct} % ({d.battery_mv} mV)"
    print(f"device    {d.device_id} on {args.port}")
    print(f"board     {d.board}, IMU {d.imu}, firmware {d.firmware}, protocol {d.protocol}")
    print(f"state     {d.state}" + (" (flash full)" if d.flash_full else ""))
    print(f"clock     {'set' if d.clock_set else 'not set'}")
    print(f"battery   {battery}")
    print(f"flash     {d.free_flash:,} of {d.total_flash:,} bytes free")
    print(f"nights    {len(nights)}")
    for n in nights:
        state = "closed" if n.closed else "recording"
        uid = f"{n.night_uid:016x}" if n.night_uid else "(no UID)"
        print(
            f"  {n.night_id:>6}  {uid:>16}  {_when(n.start_ms, n.utc):>25}  {n.size:>9,} "
            f"bytes  acked {n.acked:,}  {state}"
        )
    return 0
