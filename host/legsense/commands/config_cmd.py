"""`legsense config get|set KEY=VALUE...`: the device's configuration."""

from __future__ import annotations

import argparse
import json

from legsense.commands.device_options import add_device_options, with_device
from legsense.errors import InputError


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="show (get) or change (set KEY=VALUE...) the device configuration",
        description='VALUE is JSON where it parses as JSON (52, true, null, "x"), else '
        "text. The device validates and answers with the whole configuration in force.",
    )
    p.add_argument("action", choices=("get", "set"))
    p.add_argument("pairs", nargs="*", metavar="KEY=VALUE")
    add_device_options(p)
    return p


def parse_pairs(pairs: list[str]) -> dict:
    """KEY=VALUE arguments -> a dict (VALUE as JSON when it parses, else text)."""
    out: dict = {}
    for i, pair in enumerate(pairs, start=1):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"argument {i} {pair!r} is not KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    if args.action == "get":
        if args.pairs:
            raise InputError("config get takes no KEY=VALUE")
        text = with_device(args, lambda client: client.config_get())
    else:
        changes = parse_pairs(args.pairs)
        if not changes:
            raise InputError("config set needs at least one KEY=VALUE")
        text = with_device(args, lambda client: client.config_set(json.dumps(changes)))
    try:
        print(json.dumps(json.loads(text), indent=2, sort_keys=True))
    except ValueError:
        print(text)
    return 0
