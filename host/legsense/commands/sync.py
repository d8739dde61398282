"""`legsense sync --port PORT | --ble ADDRESS|NAME [--out DIR]`: fetch every night not yet
synced (over BLE, a dropped link is reconnected and the sync resumed)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from legsense.commands.device_options import add_device_options, with_device
from legsense.commands.scoring_options import add_scoring_options, scoring_params_from_args
from legsense.errors import EXIT_OK, EXIT_UNSYNCED
from legsense.night_folder import ensure_writable_dir
from legsense.progress import Progress
from legsense.sync import SyncEngine, SyncReport, data_dir

BLE_ATTEMPTS = 3  # connections per sync over BLE: a drop reconnects and resumes


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="fetch the device's nights into night folders (incremental, resumable)",
        description="Set the device clock, fetch every night not yet on disk (resuming a "
        "cut sync), acknowledge what is stored and write DIR/<device-id>/<date>_<night>/ "
        "(night.bin, events.csv, epochs.csv, markers.csv, summary.json, night.edf, "
        "night.png). DIR is --out, else $LEGSENSE_DATA, else the user data folder. Exit "
        f"status {EXIT_UNSYNCED} when a night was left on the device (each is named, with why).",
    )
    add_device_options(p)
    p.add_argument("--out", type=Path, metavar="DIR", help="data folder")
    p.add_argument("--no-picture", action="store_true", help="skip night.png")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    p.add_argument(
        "--take-damaged",
        action="store_true",
        help="keep the bytes of nights whose header is damaged or does not match their "
        "listing in DIR/<device>/damaged/ and acknowledge them, so the device can free them",
    )
    add_scoring_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    params = scoring_params_from_args(args)
    root = ensure_writable_dir(data_dir(args.out))  # before the device is touched
    progress = Progress("sync", "kB", enabled=not args.quiet, scale=1e-3)

    def note(msg: str) -> None:
        if not args.quiet:
            print(msg, flush=True)

    async def work(client) -> SyncReport:
        engine = SyncEngine(
            client,
            root,
            progress=progress,
            params=params,
            picture=not args.no_picture,
            log=note,
            take_damaged=args.take_damaged,
        )
        return await engine.run()

    report = with_device(args, work, reconnect=BLE_ATTEMPTS, log=note)
    if not args.quiet:
        print_report(report)
    unsynced = report.unsynced
    if unsynced:
        d = report.device
        nights = ", ".join(str(n.night_id) for n in unsynced)
        print(
            f"legsense sync: {len(unsynced)} of {len(report.nights)} nights of {d.device_id} "
            f"not synced in full (night {nights}); every other night is; see above",
            file=sys.stderr,
        )
        return EXIT_UNSYNCED
    return EXIT_OK


def print_report(report: SyncReport) -> None:
    """The human summary: one line for the device, one per night, problems with advice."""
    d = report.device
    rate = report.received / report.seconds / 1000 if report.seconds > 0 else 0.0
    nights = f"{len(report.nights)} night" + ("" if len(report.nights) == 1 else "s")
    print(
        f"{d.device_id} ({d.board}, firmware {d.firmware}): {nights}, "
        f"{report.received:,} bytes received in {report.seconds:.1f} s ({rate:.1f} kB/s)"
    )
    if report.leftovers_removed:
        print(f"  removed {report.leftovers_removed} temporary folder(s) a cut run left")
    for n in report.nights:
        if n.unsynced:
            state = "NOT SYNCED" if n.stored < n.size else "stored, no night folder"
        else:
            state = "complete" if n.closed and n.stored == n.size else "recording/partial"
        line = f"  night {n.night_id}: {n.stored:,} of {n.size:,} bytes, {state}"
        if n.folder_written and n.folder is not None:
            line += f", wrote {n.folder}"
        print(line)
        if n.note:
            print(f"    note: {n.note}")
        if n.problem:
            print(f"    problem: {n.problem}")
        if n.advice:
            print(f"    what to do: {n.advice}")
