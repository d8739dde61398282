"""What every device command shares: --port or --ble, --baud, --timeout and one session."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from legsense.device_client import DEFAULT_TIMEOUT, DeviceClient
from legsense.transport import DEFAULT_BAUD, SerialTransport, Transport

T = TypeVar("T")


def add_device_options(p: argparse.ArgumentParser) -> None:
    link = p.add_mutually_exclusive_group(required=True)
    link.add_argument("--port", help="serial port of the device (e.g. /dev/ttyUSB0, COM3)")
    link.add_argument(
        "--ble",
        metavar="ADDRESS|NAME",
        help="the device over Bluetooth LE, by address or advertised name (legsense-XXXXXX)",
    )
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD, help="baud rate (default 115200)")
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds to wait for each answer (default {DEFAULT_TIMEOUT:g})",
    )


def with_device(
    args: argparse.Namespace,
    work: Callable[[DeviceClient], Awaitable[T]],
    reconnect: int = 1,
    log: Callable[[str], None] | None = None,
) -> T:
    """Open the link, say HELLO (version check), run work(client), close the link.

    Over BLE a dropped link is opened again and work run again, up to `reconnect` times
    in all (only for resumable work, such as sync)."""

    async def run(transport: Transport) -> T:
        client = DeviceClient(transport, timeout=args.timeout)
        await client.hello()
        return await work(client)

    async def serial_session() -> T:
        transport = SerialTransport(args.port, args.baud)
        try:
            return await run(transport)
        finally:
            await transport.close()

    async def ble_session() -> T:
        from legsense.transport.ble import BleTransport, with_reconnect

        return await with_reconnect(
            lambda: BleTransport.open(args.ble), run, attempts=reconnect, log=log
        )

    return asyncio.run(ble_session() if getattr(args, "ble", None) else serial_session())
