"""placeholder"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help="(not yet)")


def run(args: argparse.Namespace) -> int:
    return 1
