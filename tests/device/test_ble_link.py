"""The BLE link over a real BLE stack with no radio: Bumble's host and link-layer
controllers joined in-process. The device side is the firmware's own BleLink (on an
aioble shim) serving the ProtocolServer; the host side is legsense.transport.ble's
unchanged bleak code with a bleak backend on Bumble. Everything runs in one event loop;
every wait is on a reply or a connection event, with time-outs."""

from __future__ import annotations

import asyncio
import math

import pytest
from legsense.device_client import DeviceClient
from legsense.simulation.ble_peripheral import BlePeripheral, VirtualAir, plain_peripheral
from legsense.simulation.bumble_backend import bumble_backends
from legsense.sync import SyncEngine
from legsense.transport import DeviceRefused, LinkClosed, NoSuchPort, ProtocolMismatch
from legsense.transport.base import Transport
from legsense.transport.ble import BleBackend, BleTransport, scan, with_reconnect
from legsense_core import ble_gatt as G
from legsense_core import protocol as P
from legsense_core.frames import encode
from legsense_device.protocol_server import ProtocolServer
from link_device import DEVICE_ID, LogDevice
from sync_harness import Rig, SimClock, night_bytes, record_detected_night, snapshot


class Air:
    """A virtual radio with one legsense peripheral and one host adapter."""

    def __init__(self, device: LogDevice, mtu: int = G.PREFERRED_MTU, pairing: bool = True):
        self.air = VirtualAir()
        self.device = device
        self.peripheral = BlePeripheral(self.air, ProtocolServer(device), DEVICE_ID, mtu=mtu)
        if pairing:
            self.peripheral.link.open_pairing()
        self.host = self.air.device("host")
        self.backend = BleBackend(*bumble_backends(self.host))

    async def __aenter__(self) -> Air:
        await self.peripheral.start()
        return self

    async def __aexit__(self, *exc) -> None:
        # Stop the device's task while the stacks still run (asyncio.run cancelling
        # everything at once would cut Bumble's HCI exchanges in the middle).
        await self.peripheral.stop()

    async def open(self, target: str | None = None, **kw) -> BleTransport:
        return await BleTransport.open(
            target or self.peripheral.name, scan_seconds=2.0, backend=self.backend, **kw
        )


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


@pytest.fixture
def device(tmp_path) -> LogDevice:
    dev = LogDevice(tmp_path / "board")
    dev.set_time(1_763_780_000_000)
    return dev


def test_scan_lists_legsense_devices_only(device):
    async def main():
        async with Air(device) as air:
            await plain_peripheral(air.air, "heart-rate")
            found = await scan(0.3, air.backend)
            return air, found

    air, found = run(main())
    assert [(f.name, f.address) for f in found] == [
        (G.advertised_name(DEVICE_ID), air.peripheral.address)
    ]
    assert found[0].name == "legsense-" + DEVICE_ID[-6:]


@pytest.mark.parametrize("mtu", [23, 247])
def test_mtu_exchange_sets_the_piece_size(device, mtu):
    device.record_night()

    async def main():
        async with Air(device, mtu=mtu) as air:
            transport = await air.open()
            try:
                client = DeviceClient(transport)
                await client.hello()
                nights = await client.list_nights()
                v = await client.request(P.READ, (nights[0].night_id, 0, 1024))
                return transport.mtu, transport.largest_piece, transport.notifications, len(v[2])
            finally:
                await transport.close()

    got_mtu, largest, notifications, n = run(main())
    assert got_mtu == mtu  # the host asks for 517, the device offers mtu
    assert largest == mtu - 3
    assert n == 1024
    # a 1024-byte DATA frame alone is more than 1030 bytes on the wire
    assert notifications >= math.ceil(1030 / (mtu - 3))


def test_full_sync_equals_the_serial_sync_of_the_same_night(tmp_path):
    from legsense.analysis import analyze_trace
    from legsense.simulation.night_generator import simulate_night

    trace, _ = simulate_night(3, 1.0, 52)
    del trace.meta["leg"]
    detection, _ = analyze_trace(trace)
    rig = Rig(tmp_path / "device")
    try:
        night_id = record_detected_night(rig.device, rig.clock, detection)
        rig.sync(tmp_path / "serial")

        async def main():
            async with Air(rig.device) as air:
                transport = await air.open()
                try:
                    engine = SyncEngine(
                        DeviceClient(transport),
                        tmp_path / "ble",
                        utc_now_ms=rig.clock.utc_now_ms,
                        picture=False,
                    )
                    return await engine.run()
                finally:
                    await transport.close()

        report = run(main())
    finally:
        rig.close()
    assert report.received == len(night_bytes(rig.device, night_id))
    serial = {k: v[0] for k, v in snapshot(tmp_path / "serial").items()}
    ble = {k: v[0] for k, v in snapshot(tmp_path / "ble").items()}
    assert ble.keys() == serial.keys()
    assert any(k.endswith("events.csv") for k in ble)
    for name in ble:
        assert ble[name] == serial[name], name


class DropAfter(Transport):
    """Passes frames through; after `frames` replies the device drops the link once."""

    def __init__(self, inner: BleTransport, frames: int, peripheral: BlePeripheral):
        self.inner = inner
        self.name = inner.name
        self.left = frames
        self.peripheral = peripheral

    async def send(self, data: bytes) -> None:
        await self.inner.send(data)

    async def receive(self, timeout: float) -> bytes:
        if self.left == 0:
            self.left = -1
            await self.peripheral.drop()
        elif self.left > 0:
            self.left -= 1
        return await self.inner.receive(timeout)

    async def close(self) -> None:
        await self.inner.close()


def test_a_drop_mid_transfer_reconnects_and_resumes(device, tmp_path):
    clock = SimClock(device)
    nid = device.record_night(n_events=200, raw_chunks=40)
    size = len(night_bytes(device, nid))
    assert size > 20_000
    attempts = []

    async def main():
        async with Air(device) as air:

            async def open_link():
                transport = await air.open()
                attempts.append(transport)
                return DropAfter(transport, 12, air.peripheral) if len(attempts) == 1 else transport

            async def work(transport):
                engine = SyncEngine(
                    DeviceClient(transport),
                    tmp_path / "ble",
                    utc_now_ms=clock.utc_now_ms,
                    picture=False,
                    flush_bytes=4096,
                )
                return await engine.run()

            return await with_reconnect(open_link, work, attempts=3)

    report = run(main())
    assert len(attempts) == 2  # one drop, one reconnection
    assert 0 < report.received < size  # the second run only fetched what was missing
    got = next((tmp_path / "ble").rglob("night.bin")).read_bytes()
    assert got == night_bytes(device, nid)
    entry = device.log.nights()[0]
    assert entry[4] == size  # acknowledged to the end


def test_a_drop_without_reconnect_is_link_closed(device, tmp_path):
    device.record_night()

    async def main():
        async with Air(device) as air:
            transport = await air.open()
            client = DeviceClient(transport)
            await client.hello()
            await air.peripheral.drop()
            try:
                await client.list_nights()
            finally:
                await transport.close()

    with pytest.raises(LinkClosed):
        run(main())


def test_a_device_without_the_service_is_a_mismatch_and_absent_is_not_found(device):
    async def main():
        async with Air(device) as air:
            await plain_peripheral(air.air, "heart-rate")
            with pytest.raises(ProtocolMismatch, match="not a legsense device"):
                await air.open("heart-rate")
            with pytest.raises(NoSuchPort, match="no BLE device"):
                await BleTransport.open("legsense-000000", scan_seconds=0.3, backend=air.backend)

    run(main())


def test_a_peer_that_is_not_bonded_cannot_erase_or_read(device, tmp_path):
    nid = device.record_night()
    before = device.log.nights()

    async def main():
        # No pairing window: the host pairs (Just Works) but the device keeps no bond.
        async with Air(device, pairing=False) as air:
            transport = await air.open()
            try:
                client = DeviceClient(transport)
                info = await client.hello()  # open to anyone
                refusals = []
                for call in (client.erase(nid), client.list_nights(), client.ack(nid, 10)):
                    with pytest.raises(DeviceRefused) as err:
                        await call
                    refusals.append(err.value.code)
                return info, refusals, air.peripheral.link.refused
            finally:
                await transport.close()

    info, refusals, refused = run(main())
    assert info.device_id == DEVICE_ID
    assert refusals == [P.E_UNAUTHORISED] * 3 and refused == 3
    assert device.log.nights() == before
    assert night_bytes(device, nid)


def test_the_access_rule_as_bytes():
    out = bytearray(P.MAX_BODY)
    body = bytearray(16)
    n = P.encode_body(body, P.ERASE, 0x1234, (7,))
    assert G.refuse(body[:n], True, out) == 0
    m = G.refuse(body[:n], False, out)
    mtype, seq, values = P.decode_body(out[:m])
    assert (mtype, seq, values[0], values[1]) == (P.ERROR, 0x1234, P.E_UNAUTHORISED, P.ERASE)
    n = P.encode_body(body, P.HELLO, 1, ())
    assert G.refuse(body[:n], False, out) == 0
    assert len(encode(body[:n])) <= G.piece_size(23)  # a HELLO fits one write at MTU 23


class _FakeStack:
    """Just enough of aioble for BleLink's own logic (no radio, no GATT)."""

    class DeviceDisconnectedError(Exception):
        pass

    def __init__(self):
        self.bond = False
        self.bond_changes: list[tuple[int, bool]] = []
        self.now = 0

    def Service(self, uuid):
        return object()

    def BufferedCharacteristic(self, service, uuid, **kw):
        stack = self

        class Chars:
            def read(self):
                return b""

            async def written(self, timeout_ms=None):
                stack.now += timeout_ms  # nothing is written: time passes
                await asyncio.sleep(0)
                raise TimeoutError

        return Chars()

    def Characteristic(self, service, uuid, **kw):
        return object()

    def register_services(self, *services):
        pass

    def config(self, **kw):
        if "bond" in kw:
            self.bond = kw["bond"]
            self.bond_changes.append((self.now, kw["bond"]))


def test_pairing_window_closes_on_time_while_a_central_stays_connected():
    from legsense_device.ble_link import BleLink

    stack = _FakeStack()
    link = BleLink(None, DEVICE_ID, stack=(stack, lambda u: u), ticks_ms=lambda: stack.now)
    link.open_pairing()  # power-on
    assert stack.bond is True

    class Conn:
        encrypted = False
        bonded = False

        def is_connected(self):
            return stack.now < 300_000  # connected at 0 s, stays for 5 minutes

    asyncio.run(link.serve(Conn()))
    opened = stack.bond_changes.index((0, True))
    closed = [t for t, on in stack.bond_changes[opened:] if not on]
    # closed while still connected, within one wake (1 s) of the 2-minute mark
    assert closed and G.PAIRING_WINDOW_S * 1000 <= closed[0] <= G.PAIRING_WINDOW_S * 1000 + 1000
