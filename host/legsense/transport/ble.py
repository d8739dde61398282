"""BleTransport: a legsense device over Bluetooth LE, through bleak.

The device's GATT service (legsense_core.ble_gatt; docs/ble.md) carries the same frame
stream as the USB link: the host writes encoded requests to REQUEST (with response, in
pieces of ATT MTU - 3 bytes) and the device notifies encoded replies on REPLY. Notified
pieces only go into a queue here, so the host never holds the link layer up; the frame
decoder (FramedTransport) makes bodies of them.

`scan()` lists legsense devices (by service UUID); `BleTransport.open(target)` finds one
by address or advertised name, connects (pairing / re-encrypting with a stored bond:
the device serves everything but HELLO only to a bonded peer), subscribes and is ready.
Errors are DeviceErrors with one line each (exit status 3): Bluetooth off or missing,
no such device in range, the device went out of range, not a legsense device.
`backend` takes bleak backend classes (the tests pass a Bumble backend); None is the
platform's.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakBluetoothNotAvailableError, BleakDeviceNotFoundError, BleakError
from legsense_core import ble_gatt as G

from legsense.errors import DeviceError
from legsense.transport.base import (
    FramedTransport,
    LinkClosed,
    LinkTimeout,
    NoSuchPort,
    ProtocolMismatch,
    Transport,
)

SCAN_SECONDS = 5.0
CONNECT_TIMEOUT = 20.0
_ADDRESS = re.compile(
    r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f-]{36}$"
)  # MAC / macOS UUID

T = TypeVar("T")


@dataclass(frozen=True)
class BleBackend:
    """bleak backend classes (None: the platform's own)."""

    scanner: Any = None
    client: Any = None


PLATFORM = BleBackend()


@dataclass(frozen=True)
class Found:
    """One advertising legsense device."""

    address: str
    name: str
    rssi: int
    device: BLEDevice


def _unavailable(exc: BleakBluetoothNotAvailableError) -> NoSuchPort:
    reason = getattr(exc.reason, "name", "UNKNOWN").replace("_", " ").lower()
    return NoSuchPort(f"Bluetooth is not available ({reason}): is the adapter on?", "ble")


async def scan(seconds: float = SCAN_SECONDS, backend: BleBackend = PLATFORM) -> list[Found]:
    """Every device advertising the legsense service within `seconds`, strongest first."""
    try:
        seen = await BleakScanner.discover(
            seconds, return_adv=True, service_uuids=[G.SERVICE_UUID], backend=backend.scanner
        )
    except BleakBluetoothNotAvailableError as exc:
        raise _unavailable(exc) from None
    except (BleakError, OSError) as exc:
        raise NoSuchPort(f"cannot scan: {exc} (is Bluetooth on?)", "ble") from None
    found = [
        Found(d.address, adv.local_name or d.name or "", adv.rssi, d) for d, adv in seen.values()
    ]
    return sorted(found, key=lambda f: -f.rssi)


async def find(
    target: str, seconds: float = SCAN_SECONDS, backend: BleBackend = PLATFORM
) -> BLEDevice:
    """The device with this address or advertised name (NoSuchPort if none answers)."""
    by_address = bool(_ADDRESS.match(target))

    def match(d: BLEDevice, adv: AdvertisementData) -> bool:
        if by_address:
            return d.address.lower() == target.lower()
        return target in (adv.local_name, d.name)

    try:
        device = await BleakScanner.find_device_by_filter(match, seconds, backend=backend.scanner)
    except BleakBluetoothNotAvailableError as exc:
        raise _unavailable(exc) from None
    except (BleakError, OSError) as exc:
        raise NoSuchPort(f"cannot scan: {exc} (is Bluetooth on?)", target) from None
    if device is None:
        raise NoSuchPort(
            f"no BLE device {'at this address' if by_address else 'with this name'} within "
            f"{seconds:g} s: out of range, asleep (it advertises only when not recording) "
            "or connected to another host",
            target,
        )
    return device


class BleTransport(FramedTransport):
    """A Transport over the legsense GATT service. Make one with `await open(...)`."""

    def __init__(self, name: str, client: BleakClient) -> None:
        super().__init__(name)
        self._client = client
        self._pieces: deque[bytes] = deque()
        self._arrived = asyncio.Event()
        self._closed = False
        self.writes = 0
        self.notifications = 0
        self.largest_piece = 0

    @classmethod
    async def open(
        cls,
        target: str,
        *,
        timeout: float = CONNECT_TIMEOUT,
        scan_seconds: float = SCAN_SECONDS,
        pair: bool = True,
        backend: BleBackend = PLATFORM,
    ) -> BleTransport:
        """Find `target` (address or name), connect, secure the link, subscribe."""
        device = await find(target, scan_seconds, backend)
        holder: list[BleTransport] = []

        def dropped(_client: BleakClient) -> None:
            if holder:
                holder[0]._on_drop()

        client = BleakClient(
            device,
            dropped,
            timeout=timeout,
            pair=pair,
            backend=backend.client,
        )
        try:
            await client.connect()
        except BleakBluetoothNotAvailableError as exc:
            raise _unavailable(exc) from None
        except BleakDeviceNotFoundError:
            raise NoSuchPort(
                "the device went out of range before it could connect", target
            ) from None
        except (BleakError, TimeoutError, OSError) as exc:
            raise LinkTimeout(f"cannot connect: {exc or type(exc).__name__}", target) from None
        self = cls(target, client)
        holder.append(self)
        try:
            if client.services.get_service(G.SERVICE_UUID) is None:
                raise ProtocolMismatch("not a legsense device (no legsense GATT service)", target)
            await client.start_notify(G.REPLY_UUID, self._on_notify)
        except BaseException:
            await self.close()
            raise
        return self

    @property
    def mtu(self) -> int:
        """The negotiated ATT MTU."""
        return self._client.mtu_size

    def _on_notify(self, _char: Any, data: bytearray) -> None:
        self._pieces.append(bytes(data))
        self.notifications += 1
        self.largest_piece = max(self.largest_piece, len(data))
        self._arrived.set()

    def _on_drop(self) -> None:
        self._closed = True
        self._arrived.set()

    async def _read_chunk(self, timeout: float) -> bytes:
        if not self._pieces:
            if self._closed:
                raise LinkClosed("the BLE link went away (out of range?)", self.name)
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._arrived.wait()
            if not self._pieces:
                if self._closed:
                    raise LinkClosed("the BLE link went away (out of range?)", self.name)
                return b""
        return self._pieces.popleft()

    async def _write(self, data: bytes) -> None:
        size = G.piece_size(self._client.mtu_size)
        try:
            for pos in range(0, len(data), size):
                await self._client.write_gatt_char(
                    G.REQUEST_UUID, data[pos : pos + size], response=True
                )
                self.writes += 1
        except (BleakError, OSError, TimeoutError) as exc:
            if self._closed or not self._client.is_connected:
                raise LinkClosed("the BLE link went away (out of range?)", self.name) from None
            raise LinkClosed(f"write failed: {exc}", self.name) from None

    async def close(self) -> None:
        self._closed = True
        with contextlib.suppress(BleakError, OSError, TimeoutError):
            await self._client.disconnect()


async def with_reconnect(
    open_transport: Callable[[], Awaitable[Transport]],
    work: Callable[[Transport], Awaitable[T]],
    attempts: int = 3,
    log: Callable[[str], None] | None = None,
) -> T:
    """Run work(transport) on a fresh link; after a drop (LinkClosed, LinkTimeout or the
    device not found again) reconnect and run it again, up to `attempts` times in all.
    `work` must be resumable (the sync engine is: it resumes from what is on disk)."""
    last: DeviceError | None = None
    for attempt in range(1, attempts + 1):
        try:
            transport = await open_transport()
        except (NoSuchPort, LinkTimeout) as exc:
            if attempt == 1:
                raise
            last = exc
            continue
        try:
            return await work(transport)
        except (LinkClosed, LinkTimeout) as exc:
            last = exc
            if log is not None and attempt < attempts:
                log(f"{exc.message}: reconnecting ({attempt + 1} of {attempts})")
        finally:
            await transport.close()
    assert last is not None
    raise last
