"""A legsense device on a virtual Bluetooth LE radio: the firmware's own BLE link.

Google's Bumble runs complete BLE stacks (host: GAP, SMP, L2CAP, ATT/GATT; controller:
link layer) whose controllers share an in-process `LocalLink` instead of a radio.
`VirtualAir` makes such devices. `BlePeripheral` runs the device side unchanged:
`legsense_device.ble_link.BleLink` serving a `ProtocolServer`, with `AiobleOnBumble`
standing in for micropython-lib's aioble (the subset ble_link uses, with its semantics):

* `BufferedCharacteristic(..., append=True)`: remote writes append to a buffer of at
  most `max_len` bytes (extra bytes are dropped, as gatts_set_buffer does); `read()`
  returns and clears it; `written()` wakes on a write (or raises asyncio.TimeoutError).
* `Characteristic.notify()` hands one ATT notification to the stack, and raises
  OSError(ENOMEM) while the stack holds `pool` unsent packets, like NimBLE's mbuf pool.
* `config(mtu=, bond=)`: the MTU the GATT server accepts; whether pairing bonds.
  A connection is `bonded` when its peer paired while bonding was on and the link is
  encrypted (NimBLE's sec_state.bonded for a stored key).
* `advertise()`: legacy advertising with flags, the 128-bit service UUID and the name
  (in the scan response when it does not fit), until a central connects or timeout_ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from typing import Any

from bumble import hci
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic as GattCharacteristic
from bumble.gatt import CharacteristicValue
from bumble.gatt import Service as GattService
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink
from legsense_core import ble_gatt as G

NOTIFY_POOL = 12  # packets the stack may hold unsent (ESP32 NimBLE's default msys blocks)


class RadioController(Controller):
    """Bumble's virtual controller, with one fix: on the air a scanner's SCAN_REQ gets the
    advertiser's scan response data, while Bumble reports the advertising data a second
    time as the "scan response". This controller reports the advertiser's real scan
    response data, so a name that only fits there (aioble puts it there) is seen."""

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if isinstance(
            packet,
            hci.HCI_LE_Advertising_Report_Event | hci.HCI_LE_Extended_Advertising_Report_Event,
        ):
            for report in packet.reports:
                if int(report.event_type) in _SCAN_RESPONSE_EVENTS:
                    source = self.link.find_le_controller(report.address)
                    if source is not None:
                        report.data = _scan_response(source)
        super().send_hci_packet(packet)


def _scan_response(controller: Controller) -> bytes:
    for adv_set in controller.advertising_sets.values():  # extended commands, legacy PDUs
        if adv_set.scan_response_data:
            return bytes(adv_set.scan_response_data)
    return bytes(controller.le_legacy_advertiser.scan_response_data)


_SCAN_RESPONSE_EVENTS = (
    int(hci.HCI_LE_Advertising_Report_Event.EventType.SCAN_RSP),
    int(hci.HCI_LE_Extended_Advertising_Report_Event.EventType.SCAN_RESPONSE),
)


class VirtualAir:
    """One in-process link layer: every device made here can hear and reach the others."""

    def __init__(self) -> None:
        self.link = LocalLink()
        self._count = 0

    def device(self, name: str) -> Device:
        """A new Bumble device (controller + host) with its own static random address."""
        self._count += 1
        address = f"C0:00:00:00:{self._count >> 8:02X}:{self._count & 0xFF:02X}"
        controller = RadioController(name, link=self.link, public_address=address)
        return Device(
            name=name,
            address=Address(address, Address.RANDOM_DEVICE_ADDRESS),
            host=Host(controller, AsyncPipeSink(controller)),
        )


class DeviceDisconnectedError(Exception):
    """aioble.DeviceDisconnectedError."""


class ShimService:
    def __init__(self, uuid: UUID) -> None:
        self.uuid = uuid
        self.characteristics: list[ShimCharacteristic] = []


class ShimCharacteristic:
    """aioble.Characteristic (write / notify subset)."""

    def __init__(
        self,
        service: ShimService,
        uuid: UUID,
        read: bool = False,
        write: bool = False,
        notify: bool = False,
    ) -> None:
        service.characteristics.append(self)
        self.uuid = uuid
        self.can_read = read
        self.can_write = write
        self.can_notify = notify
        self.max_len = 20
        self.append = False
        self._value = bytearray()
        self._written = asyncio.Event()
        self.dropped = 0  # bytes lost to a full buffer
        self.stack: AiobleOnBumble | None = None
        self.attribute: GattCharacteristic | None = None

    def _remote_write(self, connection: Connection, value: bytes) -> None:
        if not self.append:
            self._value[:] = b""
        room = self.max_len - len(self._value)
        self._value += value[:room]
        self.dropped += max(0, len(value) - room)
        self._written.set()

    def wake(self) -> None:
        self._written.set()

    def read(self) -> bytes:
        data = bytes(self._value)
        if self.append:
            self._value[:] = b""
        return data

    async def written(self, timeout_ms: int | None = None) -> None:
        # asyncio.timeout, not wait_for: a cancellation that meets a write must not be lost
        async with asyncio.timeout(timeout_ms / 1000 if timeout_ms else None):
            await self._written.wait()
        self._written.clear()

    def notify(self, connection: ShimConnection, data: Any = None) -> None:
        stack = self.stack
        assert stack is not None and self.attribute is not None
        stack.send_notification(connection, self.attribute, bytes(data))


class ShimBufferedCharacteristic(ShimCharacteristic):
    """aioble.BufferedCharacteristic."""

    def __init__(self, *args: Any, max_len: int = 20, append: bool = False, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.max_len = max_len
        self.append = append


class ShimConnection:
    """aioble.DeviceConnection: state of one central's connection."""

    def __init__(self, stack: AiobleOnBumble, connection: Connection) -> None:
        self.stack = stack
        self.connection = connection
        self.connected = True

    @property
    def encrypted(self) -> bool:
        return bool(self.connection.is_encrypted)

    @property
    def bonded(self) -> bool:
        return self.encrypted and str(self.connection.peer_address) in self.stack.bonds

    @property
    def mtu(self) -> int | None:
        mtu = self.connection.att_mtu
        return None if mtu == G.DEFAULT_MTU else mtu  # aioble: None until an exchange

    def is_connected(self) -> bool:
        return self.connected

    async def disconnect(self, timeout_ms: int = 2000) -> None:
        if self.connected:
            await self.connection.disconnect()


class AiobleOnBumble:
    """The aioble API subset ble_link uses, on a Bumble device (see the module doc)."""

    Service = ShimService
    Characteristic = ShimCharacteristic
    BufferedCharacteristic = ShimBufferedCharacteristic
    DeviceDisconnectedError = DeviceDisconnectedError

    def __init__(self, device: Device, pool: int = NOTIFY_POOL) -> None:
        self.device = device
        self.pool = pool
        self.bond = False
        self.bonds: set[str] = set()  # peer addresses that paired while bonding was on
        self.characteristics: list[ShimCharacteristic] = []
        self.pool_full = 0  # notify() calls refused for lack of a buffer
        self._sending: set[asyncio.Task] = set()
        self._connected: asyncio.Queue[Connection] = asyncio.Queue()
        device.pairing_config_factory = self._pairing_config
        device.on(device.EVENT_CONNECTION, self._on_connection)

    # -- configuration ----------------------------------------------------------------

    def config(self, **kw: Any) -> None:
        if "mtu" in kw:
            self.device.gatt_server.max_mtu = int(kw["mtu"])
        if "bond" in kw:
            self.bond = bool(kw["bond"])

    def _pairing_config(self, connection: Connection) -> PairingConfig:
        delegate = PairingDelegate(PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT)
        return PairingConfig(sc=True, mitm=False, bonding=self.bond, delegate=delegate)

    def register_services(self, *services: ShimService) -> None:
        for service in services:
            chars = []
            for c in service.characteristics:
                props = GattCharacteristic.Properties(0)
                perms = GattCharacteristic.Permissions(0)
                value: Any = b""
                if c.can_write:
                    props |= GattCharacteristic.Properties.WRITE
                    perms |= GattCharacteristic.Permissions.WRITEABLE
                    value = CharacteristicValue(write=c._remote_write)
                if c.can_read:
                    props |= GattCharacteristic.Properties.READ
                    perms |= GattCharacteristic.Permissions.READABLE
                if c.can_notify:
                    props |= GattCharacteristic.Properties.NOTIFY
                attribute = GattCharacteristic(c.uuid, props, perms, value)
                c.attribute = attribute
                c.stack = self
                chars.append(attribute)
                self.characteristics.append(c)
            self.device.add_service(GattService(service.uuid, chars))

    # -- GAP ----------------------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        self._connected.put_nowait(connection)

    async def advertise(
        self,
        interval_us: int,
        name: str | None = None,
        services: list[UUID] | None = None,
        timeout_ms: int | None = None,
    ) -> ShimConnection:
        adv: list[tuple[int, bytes]] = [(AdvertisingData.FLAGS, bytes([0x06]))]
        for uuid in services or []:
            adv.append((AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, bytes(uuid)))
        scan_response: list[tuple[int, bytes]] = []
        if name:
            entry = (AdvertisingData.COMPLETE_LOCAL_NAME, name.encode())
            size = sum(2 + len(v) for _, v in adv)
            (adv if size + 2 + len(entry[1]) <= 31 else scan_response).append(entry)
        await self.device.start_advertising(
            advertising_data=bytes(AdvertisingData(adv)),
            scan_response_data=bytes(AdvertisingData(scan_response)),
            advertising_interval_min=interval_us / 1000,
            advertising_interval_max=interval_us / 1000,
        )
        try:
            async with asyncio.timeout(timeout_ms / 1000 if timeout_ms else None):
                connection = await self._connected.get()
        except TimeoutError:
            await self.device.stop_advertising()
            raise TimeoutError from None
        shim = ShimConnection(self, connection)

        def gone(*_: Any) -> None:
            shim.connected = False
            for c in self.characteristics:
                c.wake()

        def paired(*_: Any) -> None:
            if self.bond:
                self.bonds.add(str(connection.peer_address))

        connection.on(connection.EVENT_DISCONNECTION, gone)
        connection.on(connection.EVENT_PAIRING, paired)
        return shim

    # -- notifications ------------------------------------------------------------------

    def _unsent(self) -> int:
        host = self.device.host
        queue = host.le_acl_packet_queue or host.acl_packet_queue
        return len(self._sending) + (queue.pending if queue is not None else 0)

    def send_notification(
        self, connection: ShimConnection, attribute: GattCharacteristic, data: bytes
    ) -> None:
        if not connection.connected:
            raise OSError(errno.ENOTCONN, "not connected")
        if self._unsent() >= self.pool:
            self.pool_full += 1
            raise OSError(errno.ENOMEM, "no buffer for the notification")
        task = asyncio.get_running_loop().create_task(
            self.device.notify_subscriber(connection.connection, attribute, data)
        )
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)


class BlePeripheral:
    """A legsense device on the air: Bumble device + aioble shim + the firmware's BleLink.

    `mtu` is what the device offers in the MTU exchange; `advertise` is the link's
    advertising policy (may_advertise). `drop()` ends the connection from the device side,
    as walking out of range would.
    """

    def __init__(
        self,
        air: VirtualAir,
        server: Any,
        device_id: str,
        mtu: int = G.PREFERRED_MTU,
        may_advertise: Any = None,
        adv_interval_us: int = 20000,
    ) -> None:
        from legsense_device.ble_link import BleLink

        self.device = air.device(G.advertised_name(device_id))
        self.stack = AiobleOnBumble(self.device)
        self.link = BleLink(
            server,
            device_id,
            may_advertise,
            stack=(self.stack, UUID),
            adv_interval_us=adv_interval_us,
        )
        self.stack.config(mtu=mtu)
        self._task: asyncio.Task | None = None

    @property
    def address(self) -> str:
        return str(self.device.random_address)

    @property
    def name(self) -> str:
        return self.link.name

    async def start(self) -> None:
        await self.device.power_on()
        self._task = asyncio.get_running_loop().create_task(self.link.run())

    async def drop(self) -> None:
        """Disconnect the current central (a walk out of range)."""
        conn = self.link.connection
        if conn is not None and conn.is_connected():
            await conn.disconnect()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.drop()
        await self.device.power_off() if hasattr(self.device, "power_off") else None


async def plain_peripheral(air: VirtualAir, name: str) -> Device:
    """A connectable BLE device with a name and no legsense service (a stranger)."""
    device = air.device(name)
    await device.power_on()
    adv = AdvertisingData(
        [
            (AdvertisingData.FLAGS, bytes([0x06])),
            (AdvertisingData.COMPLETE_LOCAL_NAME, name.encode()),
        ]
    )
    await device.start_advertising(advertising_data=bytes(adv), auto_restart=True)
    return device
