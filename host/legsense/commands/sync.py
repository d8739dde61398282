"""`legsense sync --port PORT | --ble ADDRESS|NAME [--out DIR]`: fetch every night not yet
synced (over BLE, a dropped link is reconnected and the sync resumed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from legsense.commands.device_options import add_device_options, with_device
from legsense.commands.scoring_options import add_scoring_options, scoring_params_from_args
from legsense.progress import Progress
from legsense.sync import SyncEngine, SyncReport, data_dir

BLE_ATTEMPTS = 3  # connections per sync over BLE: a drop reconnects and resumes


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="fetch the device's nights into night folders (incremental, resumable)",
        description="Set the device clock, fetch every night not yet on disk (resuming a "
        "cut sync), acknowledge what is stored and write DIR/<device-id>/<date>_<night>/ "
        "(night.bin, events.csv, epochs.csv, summary.json, night.edf, night.png). DIR is "
        "--out, else $LEGSENSE_DATA, else the user data folder.",
    )
    add_device_options(p)
    p.add_argument("--out", type=Path, metavar="DIR", help="data folder")
    p.add_argument("--no-picture", action="store_true", help="skip night.png")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    add_scoring_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    params = scoring_params_from_args(args)
    root = data_dir(args.out)
    progress = Progress("sync", "kB", enabled=not args.quiet, scale=1e-3)

    def note(msg: str) -> None:
        if not args.quiet:
            print(msg)

    async def work(client) -> SyncReport:
        engine = SyncEngine(
            client, root, progress=progress, params=params, picture=not args.no_picture, log=note
        )
        return await engine.run()

    report = with_device(args, work, reconnect=BLE_ATTEMPTS, log=note)
    if not args.quiet:
        d = report.device
        rate = report.received / report.seconds / 1000 if report.seconds > 0 else 0.0
        nights = f"{len(report.nights)} night" + ("" if len(report.nights) == 1 else "s")
        print(
            f"{d.device_id} ({d.board}, firmware {d.firmware}): {nights}, "
            f"{report.received:,} bytes received in {report.seconds:.1f} s ({rate:.1f} kB/s)"
        )
        for n in report.nights:
            state = "complete" if n.closed and n.stored == n.size else "recording/partial"
            line = f"  night {n.night_id}: {n.stored:,} of {n.size:,} bytes, {state}"
            if n.folder_written:
                line += f", wrote {n.folder}"
            if n.problem:
                line += f" ({n.problem})"
            print(line)
    return 0
