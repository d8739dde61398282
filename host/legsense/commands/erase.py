"""`legsense erase --synced`: free the nights the host has stored in full."""

from __future__ import annotations

import argparse

from legsense.commands.device_options import add_device_options, with_device
from legsense.errors import InputError


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="free flash: erase nights that are closed and acknowledged in full",
        description="Erase only nights a sync stored and acknowledged to their last byte; "
        "the device refuses anything else, so nothing unsynced is ever lost.",
    )
    p.add_argument("--synced", action="store_true", help="required: erase synced nights")
    add_device_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    if not args.synced:
        raise InputError("say --synced: only fully synced nights can be erased")

    async def work(client):
        erased, kept = [], []
        free = client.info.free_flash
        for n in await client.list_nights():
            if n.closed and n.acked >= n.size:
                free = await client.erase(n.night_id)
                erased.append(n.night_id)
            else:
                kept.append(n.night_id)
        return erased, kept, free

    erased, kept, free = with_device(args, work)
    print(
        f"erased {len(erased)} nights ({', '.join(map(str, erased)) or 'none'}); "
        f"kept {len(kept)} not yet synced or still recording; {free:,} bytes free"
    )
    return 0
