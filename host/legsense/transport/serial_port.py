"""SerialTransport: the device's USB serial port through pyserial.

On POSIX the event loop watches the port's file descriptor, so waiting costs nothing
and bytes are taken as they arrive; elsewhere reads run in a worker thread with a short
read timeout. `pace_baud` makes writes no faster than a UART at that baud rate would
carry them (8N1: baud/10 bytes per second), for benchmarks over a pseudo-terminal,
which has no rate of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time

import serial

from legsense.transport.base import (
    FramedTransport,
    LinkClosed,
    LinkTimeout,
    NoSuchPort,
    PortPermission,
    wait_readable,
)

DEFAULT_BAUD = 115200
_PACE_CHUNK = 64  # bytes written per pacing step


class SerialTransport(FramedTransport):
    """A Transport over a serial port (a USB-UART bridge, native USB CDC, a pty)."""

    def __init__(self, port: str, baud: int = DEFAULT_BAUD, pace_baud: int = 0) -> None:
        super().__init__(port)
        self.pace_baud = pace_baud
        self._paced_until = 0.0
        try:
            self._serial = serial.Serial(port, baud, timeout=0, write_timeout=5.0)
        except serial.SerialException as exc:
            raise _open_error(port, exc) from None
        except (ValueError, OSError) as exc:
            raise NoSuchPort(f"cannot open the port: {exc}", port) from None
        try:
            self._fd: int | None = self._serial.fileno()
        except Exception:  # Windows: no file descriptor to watch
            self._fd = None

    async def _read_chunk(self, timeout: float) -> bytes:
        s = self._serial
        try:
            if self._fd is not None:
                if not s.in_waiting and not await wait_readable(self._fd, timeout):
                    return b""
                return s.read(max(1, s.in_waiting))  # readable but empty: SerialException
            s.timeout = min(timeout, 0.05)
            return await asyncio.to_thread(s.read, max(1, s.in_waiting))
        except (serial.SerialException, OSError) as exc:
            raise LinkClosed(f"the link went away: {exc}", self.name) from None

    async def _write(self, data: bytes) -> None:
        try:
            if not self.pace_baud:
                self._serial.write(data)
                return
            rate = self.pace_baud / 10.0
            for i in range(0, len(data), _PACE_CHUNK):
                piece = data[i : i + _PACE_CHUNK]
                now = time.monotonic()
                start = max(now, self._paced_until)
                self._paced_until = start + len(piece) / rate
                if start > now:
                    await asyncio.sleep(start - now)
                self._serial.write(piece)
        except serial.SerialTimeoutException:
            raise LinkTimeout("the port does not take data (write timeout)", self.name) from None
        except (serial.SerialException, OSError) as exc:
            raise LinkClosed(f"the link went away: {exc}", self.name) from None

    async def close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self._serial.close()


def _open_error(port: str, exc: serial.SerialException) -> Exception:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code == errno.ENOENT or "No such file" in text:
        return NoSuchPort("no such port", port)
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return PortPermission(
            "permission denied (on Linux, add yourself to the dialout group)", port
        )
    if "Inappropriate ioctl" in text:
        return NoSuchPort("not a serial port", port)
    if code == errno.EBUSY or "busy" in text.lower():
        return LinkClosed("the port is busy (another program has it open)", port)
    return NoSuchPort(f"cannot open the port: {text}", port)


def serial_ports() -> list[str]:
    """Serial ports this machine has, as pyserial lists them (sorted)."""
    from serial.tools import list_ports

    return sorted(p.device for p in list_ports.comports())
