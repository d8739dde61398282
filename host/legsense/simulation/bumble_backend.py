"""A bleak backend on Bumble: the host's bleak code, unchanged, on a virtual radio.

`bumble_backends(central)` returns a (scanner, client) pair of backend classes bound to
one Bumble device (the host's "adapter", made by simulation.ble_peripheral.VirtualAir).
Pass them through bleak's own hook, `BleakScanner(backend=...)` and
`BleakClient(backend=...)`; everything under that is Bumble's real stack: scanning with
scan responses, LE connection, ATT MTU exchange, GATT discovery, writes with response,
CCCD subscription and notifications, SMP pairing with LE Secure Connections and bonding
(keys kept in the central's key store, so a later connection re-encrypts with them).

On connect the client does what BlueZ does: it asks for an ATT MTU of `REQUESTED_MTU`
(the peripheral answers with its own maximum) and discovers all services.
"""

from __future__ import annotations

import contextlib
from typing import Any

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bleak.uuids import normalize_uuid_str
from bumble.core import UUID, AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt import Characteristic
from bumble.hci import Address

REQUESTED_MTU = 517  # what BlueZ asks for

_PROPERTY_NAMES = (
    (Characteristic.Properties.BROADCAST, "broadcast"),
    (Characteristic.Properties.READ, "read"),
    (Characteristic.Properties.WRITE_WITHOUT_RESPONSE, "write-without-response"),
    (Characteristic.Properties.WRITE, "write"),
    (Characteristic.Properties.NOTIFY, "notify"),
    (Characteristic.Properties.INDICATE, "indicate"),
)


def uuid_text(uuid: UUID) -> str:
    """A Bumble UUID as bleak writes UUIDs: 128-bit, lower case."""
    return normalize_uuid_str(uuid.to_hex_str("-").lower())


def _ad_uuids(data: AdvertisingData) -> list[str]:
    out = []
    for kind in (
        AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    ):
        for uuids in data.get_all(kind):
            out.extend(uuid_text(u) for u in uuids)  # type: ignore[union-attr]
    return out


async def _powered(device: Device) -> None:
    if not device.powered_on:
        await device.power_on()


class BumbleScanner(BaseBleakScanner):
    """Active scanning on the bound Bumble device; scan responses are merged per address."""

    central: Device

    def __init__(
        self,
        detection_callback: Any,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._seen: dict[str, tuple[str | None, list[str]]] = {}

    async def start(self) -> None:
        self.seen_devices = {}
        self._seen = {}
        await _powered(self.central)
        self.central.on(self.central.EVENT_ADVERTISEMENT, self._on_advertisement)
        await self.central.start_scanning(active=True, filter_duplicates=False)

    async def stop(self) -> None:
        self.central.remove_listener(self.central.EVENT_ADVERTISEMENT, self._on_advertisement)
        if self.central.is_scanning:
            await self.central.stop_scanning()

    def _on_advertisement(self, adv: Advertisement) -> None:
        key = str(adv.address)
        name, uuids = self._seen.get(key, (None, []))
        got = adv.data.get(AdvertisingData.COMPLETE_LOCAL_NAME)
        if got is not None:
            name = got if isinstance(got, str) else bytes(got).decode(errors="replace")  # type: ignore[arg-type]
        uuids = sorted(set(uuids) | set(_ad_uuids(adv.data)))
        self._seen[key] = (name, uuids)
        if not self.is_allowed_uuid(uuids):
            return
        data = AdvertisementData(
            local_name=name,
            manufacturer_data={},
            service_data={},
            service_uuids=uuids,
            tx_power=None,
            rssi=adv.rssi,
            platform_data=(adv,),
        )
        device = self.create_or_update_device(key, key, name, adv.address, data)
        self.call_detection_callbacks(device, data)


class BumbleClient(BaseBleakClient):
    """GATT client on the bound Bumble device (central role)."""

    central: Device

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Any = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        if isinstance(address_or_ble_device, BLEDevice) and isinstance(
            address_or_ble_device.details, Address
        ):
            self._peer_address: Address = address_or_ble_device.details
        else:
            self._peer_address = Address(str(self.address), Address.RANDOM_DEVICE_ADDRESS)
        self._connection: Connection | None = None
        self._peer: Peer | None = None

    @property
    def name(self) -> str:
        return str(self.address)

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    def _require(self) -> tuple[Connection, Peer]:
        if self._connection is None or self._peer is None:
            raise BleakError("not connected")
        return self._connection, self._peer

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        await _powered(self.central)
        try:
            connection = await self.central.connect(self._peer_address, timeout=self._timeout)
        except Exception as exc:  # Bumble: TimeoutError / CommandTimeoutError / HCI errors
            raise BleakDeviceNotFoundError(
                str(self.address), f"device {self.address} was not found: {exc!r}"
            ) from None
        self._connection = connection
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            if pair:
                await self._secure(connection)
            peer = Peer(connection)
            self._peer = peer
            await peer.request_mtu(REQUESTED_MTU)
            await peer.discover_services()
            for service in peer.services:
                await service.discover_characteristics()
                for characteristic in service.characteristics:
                    await characteristic.discover_descriptors()
            self.services = self._collection(peer)
        except BaseException:
            await self.disconnect()
            raise

    async def _secure(self, connection: Connection) -> None:
        keystore = self.central.keystore
        keys = await keystore.get(str(connection.peer_address)) if keystore else None
        if keys is not None:
            await connection.encrypt()
        else:
            await connection.pair()

    def _collection(self, peer: Peer) -> BleakGATTServiceCollection:
        out = BleakGATTServiceCollection()
        for s in peer.services:
            service = BleakGATTService(s, s.handle, uuid_text(s.uuid))
            out.add_service(service)
            for c in s.characteristics:
                props: list[Any] = [n for flag, n in _PROPERTY_NAMES if c.properties & flag]
                char = BleakGATTCharacteristic(
                    c, c.handle, uuid_text(c.uuid), props, lambda: self.mtu_size - 3, service
                )
                out.add_characteristic(char)
                for d in c.descriptors:
                    out.add_descriptor(BleakGATTDescriptor(d, d.handle, uuid_text(d.type), char))
        return out

    def _on_disconnection(self, *_: Any) -> None:
        was = self._connection is not None
        self._connection = None
        self._peer = None
        if was and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._disconnected_callback_saved = self._disconnected_callback
        self._disconnected_callback = None  # solicited: bleak calls back only unsolicited
        try:
            await connection.disconnect()
        except Exception:  # already gone
            pass
        finally:
            self._connection = None
            self._peer = None
            self._disconnected_callback = self._disconnected_callback_saved

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        connection, _ = self._require()
        await connection.pair()

    async def unpair(self) -> None:
        keystore = self.central.keystore
        if keystore is not None:
            with contextlib.suppress(KeyError):
                await keystore.delete(str(self._peer_address))

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kw: Any
    ) -> bytearray:
        _, peer = self._require()
        return bytearray(await peer.read_value(characteristic.obj))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kw: Any
    ) -> bytearray:
        _, peer = self._require()
        return bytearray(await peer.read_value(descriptor.obj))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        _, peer = self._require()
        await peer.write_value(characteristic.obj, bytes(data), with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        _, peer = self._require()
        await peer.write_value(descriptor.obj, bytes(data), with_response=True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kw: Any
    ) -> None:
        _, peer = self._require()
        await peer.subscribe(characteristic.obj, lambda value: callback(bytearray(value)))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        _, peer = self._require()
        await peer.unsubscribe(characteristic.obj)


def bumble_backends(central: Device) -> tuple[type[BumbleScanner], type[BumbleClient]]:
    """Backend classes for BleakScanner/BleakClient(backend=...), bound to `central`."""
    scanner = type("BumbleScannerBound", (BumbleScanner,), {"central": central})
    client = type("BumbleClientBound", (BumbleClient,), {"central": central})
    return scanner, client
