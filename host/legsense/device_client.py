"""Requests and replies over a Transport: sequence numbers, errors, pipelining.

`DeviceClient` speaks the sync protocol (docs/protocol.md) with the codecs of
legsense_core.protocol. `send()` puts a request on the link and returns its sequence
number; `reply()` returns the next reply that belongs to a request still in flight
(stale replies from an earlier, cut session are dropped), so callers can keep up to
`window` requests outstanding. `request()` does one round trip. An ERROR reply becomes
DeviceRefused; another protocol version becomes ProtocolMismatch.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from legsense_core import protocol as P
from legsense_core.frames import encode

from legsense.errors import DeviceError
from legsense.transport.base import DeviceRefused, LinkTimeout, ProtocolMismatch, Transport

DEFAULT_TIMEOUT = 3.0
MAX_WINDOW = 16  # requests in flight, whatever a device asks for (8 fill any UART buffer)


class BadAnswer(DeviceError):
    """The device answered, but the answer cannot be right (a bug or a hostile device)."""


@dataclass(frozen=True)
class DeviceInfo:
    """The HELLO reply."""

    protocol: int
    state: str
    flags: int
    battery_mv: int
    battery_pct: int | None
    free_flash: int
    total_flash: int
    nights: int
    window: int
    max_read: int
    device_id: str
    firmware: str
    board: str
    imu: str

    @property
    def clock_set(self) -> bool:
        return bool(self.flags & P.F_CLOCK_SET)

    @property
    def flash_full(self) -> bool:
        return bool(self.flags & P.F_FLASH_FULL)


@dataclass(frozen=True)
class NightEntry:
    """One LIST_NIGHTS entry."""

    night_id: int
    start_ms: int
    end_ms: int
    size: int
    acked: int
    flags: int
    night_uid: int = 0  # random 64-bit UID from the night's header; 0 = an old firmware's night

    @property
    def closed(self) -> bool:
        return bool(self.flags & P.N_CLOSED)

    @property
    def utc(self) -> bool:
        """start_ms/end_ms are UTC epoch ms (else device ms: the device had no clock)."""
        return bool(self.flags & P.N_UTC)


@dataclass(frozen=True)
class TimeSetting:
    """One SET_TIME exchange: what the host sent, what the device said, and when."""

    sent_utc_ms: int  # the UTC the device took (host time at sending + latency estimate)
    mid_utc_ms: int  # host UTC at the midpoint of the round trip
    previous_utc_ms: int  # the device's own estimate just before (0 = it had none)
    ticks_ms: int  # device ticks when it applied the time
    rtt_ms: int


def host_utc_ms() -> int:
    """The host's UTC now, epoch milliseconds."""
    return time.time_ns() // 1_000_000


class DeviceClient:
    """The sync protocol over one Transport."""

    def __init__(self, transport: Transport, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.transport = transport
        self.timeout = timeout
        # Start numbering at random: replies still travelling from an earlier session
        # (cut mid-transfer) then almost never match a request of this one.
        self._seq = int.from_bytes(os.urandom(2), "little")
        self._in_flight: dict[int, int] = {}  # seq -> request type
        self._buf = bytearray(P.MAX_BODY)
        self.info: DeviceInfo | None = None

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def send(self, mtype: int, values: tuple = ()) -> int:
        """Send one request; returns its sequence number."""
        seq = self._seq
        while seq in self._in_flight:
            seq = (seq + 1) & 0xFFFF
        self._seq = (seq + 1) & 0xFFFF
        n = P.encode_body(self._buf, mtype, seq, values)
        self._in_flight[seq] = mtype
        await self.transport.send(encode(memoryview(self._buf)[:n]))
        return seq

    async def reply(self, timeout: float | None = None) -> tuple[int, int, tuple]:
        """(seq, request type, values) of the next reply to a request in flight.

        Raises DeviceRefused for an ERROR reply, ProtocolMismatch for another version,
        LinkTimeout when nothing of ours arrives within the timeout.
        """
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while True:
            left = max(0.0, deadline - time.monotonic())
            try:
                body = await self.transport.receive(left)
            except LinkTimeout:
                raise LinkTimeout(
                    f"no answer from the device within {wait:g} s", self.transport.name
                ) from None
            if len(body) < P.HEADER_SIZE:
                continue  # not a message at all
            if (body[2] | body[3] << 8) not in self._in_flight:
                continue  # stale (an earlier session), unsolicited (LIVE_DATA) or garbage
            if body[0] != P.PROTOCOL_VERSION and body[1] != P.ERROR:
                raise self._mismatch(f"protocol version {body[0]}")
            try:
                mtype, seq, values = P.decode_body(body)
            except P.ProtocolError:
                continue  # not a reply we can read; its request will time out if it was ours
            request = self._in_flight.get(seq)
            if request is None:
                continue  # stale (an earlier session) or unsolicited (LIVE_DATA)
            if mtype == P.ERROR:
                del self._in_flight[seq]
                code, _, message = values
                if code == P.E_VERSION:
                    raise self._mismatch(str(message))
                name = P.ERROR_CODE_NAMES.get(code, f"error {code}")
                raise DeviceRefused(
                    f"device refused {P.type_name(request)}: {name}: {message}",
                    self.transport.name,
                    code,
                )
            if mtype != P.reply_type(request):
                continue  # a stale reply that happens to carry a live sequence number
            del self._in_flight[seq]
            return seq, request, values

    def _mismatch(self, what: str) -> ProtocolMismatch:
        found = re.search(r"(\d+)", what)
        theirs = found.group(1) if found else "?"
        return ProtocolMismatch(
            f"protocol mismatch: device speaks {theirs}, host speaks {P.PROTOCOL_VERSION}",
            self.transport.name,
        )

    async def request(self, mtype: int, values: tuple = (), timeout: float | None = None) -> tuple:
        """One round trip: the reply's values."""
        seq = await self.send(mtype, values)
        while True:
            got, _, reply = await self.reply(timeout)
            if got == seq:
                return reply

    # -- the requests -----------------------------------------------------------------

    async def hello(self, timeout: float | None = None) -> DeviceInfo:
        """Open the session: who the device is and how it wants to be read."""
        v = await self.request(P.HELLO, (), timeout)
        if v[0] != P.PROTOCOL_VERSION:
            raise self._mismatch(f"protocol {v[0]}")
        states = P.STATE_NAMES
        self.info = DeviceInfo(
            protocol=v[0],
            state=states[v[1]] if v[1] < len(states) else f"state {v[1]}",
            flags=v[2],
            battery_mv=v[3],
            battery_pct=None if v[4] == P.BATTERY_UNKNOWN else v[4],
            free_flash=v[5],
            total_flash=v[6],
            nights=v[7],
            window=max(1, min(v[8], MAX_WINDOW)),
            max_read=max(1, min(v[9], P.MAX_READ)),
            device_id=v[10],
            firmware=v[11],
            board=v[12],
            imu=v[13],
        )
        return self.info

    async def get_time(self) -> tuple[int, int]:
        """(device UTC ms or 0, device ticks ms)."""
        v = await self.request(P.GET_TIME)
        return v[0], v[1]

    async def set_time(self, utc_now_ms=host_utc_ms, latency_ms: int = 0) -> TimeSetting:
        """Set the device clock to the host's UTC plus the expected one-way latency.

        The round trip is timed with the same clock (utc_now_ms), so the midpoint, which
        is when the device most likely applied the time, is on the host's UTC scale.
        """
        t0 = utc_now_ms()
        sent = t0 + latency_ms
        previous, ticks = await self.request(P.SET_TIME, (sent,))
        rtt_ms = max(0, utc_now_ms() - t0)
        return TimeSetting(sent, t0 + rtt_ms // 2, previous, ticks, rtt_ms)

    async def list_nights(self) -> list[NightEntry]:
        """Every night on the device, oldest first (pages through LIST_NIGHTS).

        Each page must start where it was asked to and bring at least one entry while
        the device says there are more, so the paging ends after at most `total` pages
        (a u16): a device that repeats itself or lies about its count is a BadAnswer.
        """
        out: list[NightEntry] = []
        first = 0
        while True:
            total, got_first, entries = await self.request(P.LIST_NIGHTS, (first,))
            if first >= total:
                return out  # the list shrank while we paged (nights freed meanwhile)
            if got_first != first:
                raise BadAnswer(
                    f"asked for the night list from entry {first}, the device answered "
                    f"from {got_first}",
                    self.transport.name,
                )
            if not entries:
                raise BadAnswer(
                    f"the device says it has {total} nights but sent none from entry {first}",
                    self.transport.name,
                )
            out.extend(NightEntry(*e) for e in entries)
            first += len(entries)
            if first >= total:
                return out

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the replies to every request still in flight and drop them (after a
        night was abandoned mid-transfer, so the next night starts on a quiet link)."""
        while self._in_flight:
            try:
                await self.reply(timeout)
            except DeviceRefused:
                continue

    async def ack(self, night_id: int, offset: int) -> int:
        v = await self.request(P.ACK, (night_id, offset))
        return v[1]

    async def erase(self, night_id: int) -> int:
        """Free an acknowledged, closed night; returns the device's free flash."""
        v = await self.request(P.ERASE, (night_id,))
        return v[1]

    async def config_get(self) -> str:
        return (await self.request(P.CONFIG_GET))[0]

    async def config_set(self, config_json: str) -> str:
        return (await self.request(P.CONFIG_SET, (config_json,)))[0]

    async def start(self) -> tuple[str, int]:
        state, night_id = await self.request(P.START)
        return _state_name(state), night_id

    async def stop(self) -> tuple[str, int]:
        state, night_id = await self.request(P.STOP)
        return _state_name(state), night_id

    async def start_sit(self, sit_min: int, every_min: int) -> tuple[str, int]:
        """Start a suggested immobilization test (docs/sit.md): (state, night id)."""
        state, night_id = await self.request(P.SIT_START, (sit_min, every_min))
        return _state_name(state), night_id

    async def sit_rating(self, rating: int) -> int:
        """Log a rating (0-10) typed at the host for the running SIT."""
        (got,) = await self.request(P.SIT_RATING, (rating,))
        return got


def _state_name(state: int) -> str:
    return P.STATE_NAMES[state] if state < len(P.STATE_NAMES) else f"state {state}"
