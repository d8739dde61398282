# The sync protocol over Bluetooth LE, on aioble (micropython-lib, `mpremote mip install
# aioble`). The GATT layout and the access rule are in legsense_core.ble_gatt; the
# design (MTU, flow control, advertising policy and its power cost, bonding) in
# docs/ble.md. One connection at a time.
#
# Requests: the REQUEST characteristic buffers writes (gatts_set_buffer, append mode, up
# to ble_gatt.REQUEST_BUFFER bytes; reading it clears it), so writes that arrive while
# a reply is going out are kept, not overwritten. The bytes go through a FrameDecoder;
# each body is checked against the access rule and handed to the ProtocolServer.
#
# Replies: encoded once into a preallocated buffer and notified in pieces of ATT MTU - 3
# bytes (the MTU the host negotiated; the device offers ble_gatt.PREFERRED_MTU).
# Flow control: the host keeps at most HELLO's `window` requests in flight, so at most
# that many replies are owed; each notification is handed to the stack only when it
# has a buffer for it (gatts_notify raises OSError when its pool is empty: the link
# waits a connection interval and tries the same piece again), so nothing is dropped
# and a slow host slows the device down through the link layer's acknowledgements.
#
# Advertising: only while `may_advertise()` says so (the app: not while recording unless
# config ble_while_recording), re-checked every ADVERTISE_SLICE_MS.
#
# The BLE stack is injectable (stack=(aioble, UUID)): on the board it is aioble and
# bluetooth.UUID; simulations pass an aioble-compatible shim.

try:
    import asyncio
except ImportError:  # pragma: no cover - MicroPython before 1.21
    import uasyncio as asyncio  # type: ignore

import time

from legsense_core import ble_gatt as G
from legsense_core.frames import MAX_ENCODED, FrameDecoder, encode_frame

ADVERTISE_SLICE_MS = 5000  # re-check the advertising policy this often while advertising
IDLE_CHECK_MS = 2000  # how often to look again while advertising is not allowed
WRITE_WAIT_MS = 1000  # wake this often while connected to notice a disconnection
NOTIFY_BACKOFF_MS = 8  # about one connection interval (7.5 ms minimum)
NOTIFY_RETRIES = 250  # 2 s of a full buffer pool: the host is gone, drop the link
ERROR_BODY = 160  # an ERROR body: header 4 + code 1 + type 1 + text <= 120


def _board_stack():
    import aioble  # type: ignore  (micropython-lib, installed by mip; no stubs)
    import bluetooth

    return aioble, bluetooth.UUID


def _sleep_ms(ms):
    sleep_ms = getattr(asyncio, "sleep_ms", None)  # MicroPython
    if sleep_ms is not None:
        return sleep_ms(ms)
    return asyncio.sleep(ms / 1000)


def _ticks_ms():
    ticks = getattr(time, "ticks_ms", None)  # MicroPython
    if ticks is not None:
        return ticks()
    return int(time.monotonic() * 1000) & 0x3FFFFFFF  # type: ignore  (CPython)


def _ticks_diff(a, b):
    diff = getattr(time, "ticks_diff", None)
    if diff is not None:
        return diff(a, b)
    return a - b


class BleLink:
    """Serves a ProtocolServer over GATT. `await run()` forever (the app's BLE task)."""

    def __init__(
        self,
        server,
        device_id,
        may_advertise=None,
        stack=None,
        adv_interval_us=None,
        ticks_ms=None,
    ):
        aioble, uuid = stack or _board_stack()
        self._ticks_ms = ticks_ms or _ticks_ms  # the pairing window's clock
        self.adv_interval_us = adv_interval_us or G.ADV_INTERVAL_US
        self.aioble = aioble
        self.server = server
        self.name = G.advertised_name(device_id)
        self.may_advertise = may_advertise or (lambda: True)
        self.decoder = FrameDecoder()
        self._tx = bytearray(MAX_ENCODED)
        self._tx_mv = memoryview(self._tx)
        self._refusal = bytearray(ERROR_BODY)
        self._pairing_until = None
        self.service_uuid = uuid(G.SERVICE_UUID)
        service = aioble.Service(self.service_uuid)
        self.request_char = aioble.BufferedCharacteristic(
            service, uuid(G.REQUEST_UUID), write=True, max_len=G.REQUEST_BUFFER, append=True
        )
        self.reply_char = aioble.Characteristic(service, uuid(G.REPLY_UUID), notify=True)
        aioble.register_services(service)
        # Offer a large MTU, Just Works pairing with LE Secure Connections; take no new
        # bonds until the pairing window opens.
        aioble.config(mtu=G.PREFERRED_MTU, le_secure=True, mitm=False, io=3, bond=False)
        self.connection = None
        self.advertising = False  # inside an advertising slice (the app stays awake)
        self.replies = 0
        self.refused = 0
        self.notifications = 0
        self.notify_waits = 0

    # -- pairing window -------------------------------------------------------------------

    def open_pairing(self, seconds=G.PAIRING_WINDOW_S):
        """Accept new bonds for `seconds` (the app calls this on the pairing gesture)."""
        self._pairing_until = time_add(self._ticks_ms(), seconds * 1000)
        self.aioble.config(bond=True)

    def pairing_open(self):
        """True while new bonds are accepted; closes the window once it has expired."""
        if self._pairing_until is None:
            return False
        if _ticks_diff(self._pairing_until, self._ticks_ms()) > 0:
            return True
        self._pairing_until = None
        self.aioble.config(bond=False)
        return False

    # -- the task -------------------------------------------------------------------------

    async def run(self):
        """Advertise when allowed, serve one connection, repeat."""
        aioble = self.aioble
        while True:
            self.pairing_open()  # let an expired window close
            if not self.may_advertise():
                await _sleep_ms(IDLE_CHECK_MS)
                continue
            self.advertising = True
            try:
                conn = await aioble.advertise(
                    self.adv_interval_us,
                    name=self.name,
                    services=[self.service_uuid],
                    timeout_ms=ADVERTISE_SLICE_MS,
                )
            except asyncio.TimeoutError:
                continue  # nobody connected: look at the policy again
            finally:
                self.advertising = False
            await self.serve(conn)

    async def serve(self, conn):
        """Answer requests on one connection until it ends."""
        self.connection = conn
        self.decoder.reset()
        self.request_char.read()  # drop bytes a previous peer left in the buffer
        try:
            while conn.is_connected():
                # The window closes on time even for a central that connected inside
                # it and stays connected: no bond is taken after it.
                self.pairing_open()
                try:
                    await self.request_char.written(timeout_ms=WRITE_WAIT_MS)
                except asyncio.TimeoutError:
                    continue
                data = self.request_char.read()
                if data:
                    await self._feed(conn, data)
        except self.aioble.DeviceDisconnectedError:
            pass
        except OSError:  # notifications stuck (NOTIFY_RETRIES): give the link up
            if conn.is_connected():
                await conn.disconnect()
        finally:
            self.connection = None

    async def _feed(self, conn, data):
        decoder = self.decoder
        n = len(data)
        pos = 0
        while pos < n:
            pos = decoder.push(data, pos)
            if decoder.body_len >= 0:
                # The body stays valid until the next push: answer it before that.
                await self._answer(conn, decoder.body())

    async def _answer(self, conn, body):
        trusted = bool(conn.encrypted and conn.bonded)
        n = G.refuse(body, trusted, self._refusal)
        if n:
            self.refused += 1
            reply = self._refusal
        else:
            n = self.server.handle(body)
            reply = self.server.reply
        end = encode_frame(memoryview(reply)[0:n], self._tx)
        await self._notify(conn, end)
        self.replies += 1

    async def _notify(self, conn, end):
        size = G.piece_size(conn.mtu)
        char = self.reply_char
        tx = self._tx_mv
        pos = 0
        while pos < end:
            stop = pos + size if pos + size < end else end
            tries = 0
            while True:
                try:
                    char.notify(conn, tx[pos:stop])
                    break
                except OSError:  # the stack has no buffer free yet
                    tries += 1
                    self.notify_waits += 1
                    if tries > NOTIFY_RETRIES or not conn.is_connected():
                        raise
                    await _sleep_ms(NOTIFY_BACKOFF_MS)
            self.notifications += 1
            pos = stop


def time_add(ticks, ms):
    add = getattr(time, "ticks_add", None)
    if add is not None:
        return add(ticks, ms)
    return ticks + ms


def serve_ble(server, device_id, may_advertise=None):
    """The board's BLE task: link = serve_ble(...); asyncio.create_task(link.run())."""
    return BleLink(server, device_id, may_advertise)
