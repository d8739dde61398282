"""The one abstract link to a device: send bytes, receive frame bodies, close.

Backends (pyserial now, bleak later) only move bytes; framing (legsense_core.frames)
and its decoder live here once, so every link delivers the same frame bodies.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections import deque

from legsense_core.frames import FrameDecoder

from legsense.errors import DeviceError


class NoSuchPort(DeviceError):
    """The port does not exist (unplugged, mistyped)."""


class PortPermission(DeviceError):
    """The port exists but this user may not open it (e.g. not in the dialout group)."""


class LinkTimeout(DeviceError):
    """The device did not answer in time."""


class LinkClosed(DeviceError):
    """The link went away (unplugged, closed) while in use."""


class ProtocolMismatch(DeviceError):
    """The device speaks another protocol version, or does not speak it at all."""


class DeviceRefused(DeviceError):
    """The device answered a request with ERROR: `code` is the protocol's E_* code."""

    def __init__(self, message: str, path: str | None = None, code: int = 0):
        super().__init__(message, path)
        self.code = code


class Transport(ABC):
    """A link to one device. `name` says which (a port path, a BLE address)."""

    name: str = ""

    @abstractmethod
    async def send(self, data: bytes) -> None:
        """Write encoded frames to the device."""

    @abstractmethod
    async def receive(self, timeout: float) -> bytes:
        """The next good frame body; LinkTimeout after `timeout` seconds without one."""

    @abstractmethod
    async def close(self) -> None:
        """Release the link. Safe to call twice."""


class FramedTransport(Transport):
    """A Transport over a byte stream: subclasses implement _read_chunk and _write."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._decoder = FrameDecoder()
        self._bodies: deque[bytes] = deque()
        self.bytes_in = 0
        self.bytes_out = 0

    @abstractmethod
    async def _read_chunk(self, timeout: float) -> bytes:
        """Whatever bytes arrive within timeout (b"" if none); LinkClosed if gone."""

    @abstractmethod
    async def _write(self, data: bytes) -> None:
        """Write all of data."""

    async def send(self, data: bytes) -> None:
        await self._write(data)
        self.bytes_out += len(data)

    async def receive(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while not self._bodies:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkTimeout(f"no answer from the device within {timeout:g} s", self.name)
            chunk = await self._read_chunk(left)
            self.bytes_in += len(chunk)
            if chunk:
                self._bodies.extend(self._decoder.feed(chunk))
        return self._bodies.popleft()

    @property
    def frame_errors(self) -> dict[str, int]:
        """Frames dropped so far, by reason (noise, REPL text, corruption)."""
        return self._decoder.error_counts()


async def wait_readable(fd: int, timeout: float) -> bool:
    """True when fd becomes readable within timeout (POSIX event loops)."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await asyncio.wait_for(ready, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
