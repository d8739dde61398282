"""`legsense start` / `legsense stop`: begin or end a night on the device."""

from __future__ import annotations

import argparse

from legsense.commands.device_options import add_device_options, with_device


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    what = "start recording a night" if name == "start" else "stop the night being recorded"
    p = sub.add_parser(name, help=what, description=what[0].upper() + what[1:] + ".")
    add_device_options(p)
    p.set_defaults(_action=name)
    return p


def run(args: argparse.Namespace) -> int:
    if args._action == "start":
        state, night_id = with_device(args, lambda client: client.start())
        print(f"recording night {night_id} ({state})")
    else:
        state, night_id = with_device(args, lambda client: client.stop())
        print(f"stopped night {night_id} ({state})")
    return 0
