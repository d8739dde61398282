"""`legsense devices [--ble]`: serial ports with a legsense device answering HELLO, or
the legsense devices advertising over Bluetooth LE."""

from __future__ import annotations

import argparse
import asyncio

from legsense.device_client import DeviceClient, DeviceInfo
from legsense.errors import DeviceError
from legsense.transport import DEFAULT_BAUD, SerialTransport, serial_ports


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="list serial ports where a legsense device answers",
        description="Try a short HELLO on every serial port (or the ones given) and list "
        "those that answer with the device id, board, firmware and state.",
    )
    p.add_argument("ports", nargs="*", help="ports to try (default: every serial port)")
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD)
    p.add_argument("--timeout", type=float, default=0.5, metavar="S", help="per port (0.5)")
    p.add_argument("-v", "--verbose", action="store_true", help="say why other ports failed")
    p.add_argument(
        "--ble",
        action="store_true",
        help="scan Bluetooth LE for devices advertising the legsense service instead",
    )
    p.add_argument(
        "--scan", type=float, default=5.0, metavar="S", help="BLE scan duration (default 5)"
    )
    return p


def run_ble(args: argparse.Namespace) -> int:
    """List advertising legsense devices (address, name, signal strength)."""
    from legsense.transport.ble import scan

    found = asyncio.run(scan(args.scan))
    for f in found:
        print(f"{f.address}\t{f.name}\t{f.rssi} dBm")
    if not found:
        print(
            f"no legsense device advertising within {args.scan:g} s (a recording device "
            "advertises only if its config says ble_while_recording)"
        )
    return 0


async def probe(port: str, baud: int, timeout: float) -> DeviceInfo:
    """HELLO on one port; DeviceError when nothing legsense answers there."""
    transport = SerialTransport(port, baud)
    try:
        return await DeviceClient(transport, timeout=timeout).hello()
    finally:
        await transport.close()


def run(args: argparse.Namespace) -> int:
    if args.ble:
        return run_ble(args)
    ports = args.ports or serial_ports()
    found = 0
    for port in ports:
        try:
            d = asyncio.run(probe(port, args.baud, args.timeout))
        except DeviceError as exc:
            if args.verbose:
                print(f"{port}: {exc.message}")
            continue
        found += 1
        print(
            f"{port}\t{d.device_id}\t{d.board}\tfirmware {d.firmware}\t{d.state}\t{d.nights} nights"
        )
    if not found and not args.verbose:
        print("no legsense device found" + ("" if ports else " (no serial ports)"))
    return 0
