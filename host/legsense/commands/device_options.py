"""What every device command shares: --port/--baud/--timeout and one session."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from legsense.device_client import DEFAULT_TIMEOUT, DeviceClient
from legsense.transport import DEFAULT_BAUD, SerialTransport

T = TypeVar("T")


def add_device_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--port", required=True, help="serial port of the device (e.g. /dev/ttyUSB0, COM3)"
    )
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD, help="baud rate (default 115200)")
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds to wait for each answer (default {DEFAULT_TIMEOUT:g})",
    )


def with_device(args: argparse.Namespace, work: Callable[[DeviceClient], Awaitable[T]]) -> T:
    """Open the port, say HELLO (version check), run work(client), close the port."""

    async def session() -> T:
        transport = SerialTransport(args.port, args.baud)
        try:
            client = DeviceClient(transport, timeout=args.timeout)
            await client.hello()
            return await work(client)
        finally:
            await transport.close()

    return asyncio.run(session())
