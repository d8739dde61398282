"""A device for link and sync tests: the real night log, session state machine and config
behind protocol_server.DeviceControl, with no sampler (nothing here touches an IMU).

Also a pty pair with the device's USB link running in its own thread and event loop, as
a board would, and a small client that speaks the protocol over the other end with the
same codecs. Tests import these; the host sync tests may too.
"""

from __future__ import annotations

import asyncio
import os
import select
import threading
import tty
from collections import deque
from pathlib import Path

from legsense_core import protocol as P
from legsense_core import records
from legsense_core.frames import FrameDecoder
from legsense_device import config as device_config
from legsense_device.night_log import EmulatedSpace, NightLog
from legsense_device.protocol_server import DeviceControl, ProtocolServer
from legsense_device.session import NightSession
from legsense_device.usb_link import FdPort, UsbLink

DEVICE_ID = "a1b2c3d4e5f6"
FIRMWARE = "0.1.0"
BOARD = "virtual"
IMU = "lsm6dsox"
REPLY_TIMEOUT_S = 5.0


class LogDevice(DeviceControl):
    """DeviceControl made of NightLog + NightSession + config on a folder.

    Time is a counter the test sets (ticks_ms); set_time() anchors UTC to it as the app
    does and logs the anchor into a recording night.
    """

    def __init__(self, root: Path, capacity: int = 4 * 1024 * 1024, reserve: int = 8192) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.nights_dir = root / "nights"
        self.config_path = str(root / "config.json")
        self.nights_dir.mkdir(exist_ok=True)
        space = EmulatedSpace(str(self.nights_dir), capacity)
        self.log = NightLog(str(self.nights_dir), reserve=reserve, space=space)
        self.log.recover()
        self.capacity = capacity
        self.session = NightSession()
        self.cfg, _ = device_config.load(self.config_path)
        self.ticks_ms = 5000
        self.anchor: tuple[int, int] | None = None  # (ticks_ms, utc_ms)
        self.night_ticks = 0  # ticks at the recording night's start

    def night_path(self, night_id: int) -> Path:
        return self.nights_dir / f"{night_id:08d}.log"

    def identity(self):
        return DEVICE_ID, FIRMWARE, BOARD, IMU

    def state(self):
        return self.session.state

    def clock(self):
        if self.anchor is None:
            return 0, self.ticks_ms
        return self.anchor[1] + self.ticks_ms - self.anchor[0], self.ticks_ms

    def set_time(self, utc_ms):
        previous = self.clock()[0]
        self.anchor = (self.ticks_ms, utc_ms)
        if self.session.state == "recording":
            self.log.append_anchor(self.ticks_ms - self.night_ticks, utc_ms)
        return previous, self.ticks_ms

    def total_flash(self):
        return self.capacity

    def start(self, source):
        ok, why = self.session.start(source)
        if ok:
            self.night_ticks = self.ticks_ms
            anchor_dev, anchor_utc = (0, 0)
            if self.anchor is not None:
                anchor_dev = self.anchor[0] - self.ticks_ms
                anchor_utc = self.anchor[1]
            self.log.start_night(
                DEVICE_ID,
                FIRMWARE,
                BOARD,
                IMU,
                52000,
                (61, 1),
                (8750, 1),
                self.ticks_ms,
                anchor_dev,
                anchor_utc,
                b"{}",
            )
        return ok, why

    def stop(self, source):
        ok, why = self.session.stop(source)
        if ok:
            self.log.stop_night(self.ticks_ms - self.night_ticks, records.M_STOP_HOST)
        return ok, why

    def config(self):
        return self.cfg

    def set_config(self, cfg):
        self.cfg, _ = device_config.save(cfg, self.config_path)

    def record_night(self, n_events: int = 40, raw_chunks: int = 12, seed: int = 1) -> int:
        """Start a night, log events, epochs and raw chunks (random bytes: every byte
        value, so the framing's escapes are exercised), stop it; returns its id."""
        import random

        rng = random.Random(seed)
        assert self.start("host")[0]
        nid = self.log.nights()[-1][0]
        for i in range(n_events):
            t = 20000 * i + 1000
            assert self.log.append_event((t, t + 1500, 100 + i, 20 + i, 1 + i % 3, 64 + i))
            assert self.log.append_epoch((i, 1560, 1200, 30 + i, -20, 990, 15))
        for k in range(raw_chunks):
            data = bytes(rng.randrange(256) for _ in range(records.MAX_RAW_DATA - k))
            assert self.log.append_raw(900000 + 1000 * k, 26, records.RAW_PLAIN, data)
        self.ticks_ms += 1_000_000
        assert self.stop("host")[0]
        return nid


def record_offsets(data: bytes) -> list[int]:
    """Every record boundary of a night file (0, then the end of each whole record),
    found by the records reader: independent of the server's own walk."""
    reader = records.iter_records(data)
    offsets = [off for off, _, _ in reader]
    assert reader.error == 0, reader.reason
    return [*offsets, reader.offset]


class DeviceThread(threading.Thread):
    """The device side: ProtocolServer + UsbLink on one pty end, in its own event loop.

    main() also runs an app-like task that never ends by itself, so only the link's end
    of stream or a KeyboardInterrupt (Ctrl-C) ends the "app"; `interrupted` says which.
    """

    def __init__(self, device: DeviceControl, fd: int, boot_text: bytes = b"") -> None:
        super().__init__(daemon=True)
        self.device = device
        self.fd = fd
        self.boot_text = boot_text
        self.server = ProtocolServer(device)
        self.link: UsbLink | None = None
        self.link_task: asyncio.Future | None = None
        self.interrupted = False
        self.failure: BaseException | None = None
        self.ended_cleanly = False

    async def main(self) -> None:
        port = FdPort(self.fd)
        self.link = UsbLink(self.server, port)
        if self.boot_text:
            await port.write(self.boot_text)  # the boot line, printed before any frame
        forever = asyncio.get_running_loop().create_future()  # the app's other tasks
        link_task = self.link_task = asyncio.ensure_future(self.link.run())
        await asyncio.wait([link_task, forever], return_when=asyncio.FIRST_COMPLETED)
        link_task.result()  # re-raise what ended the link (KeyboardInterrupt)
        self.ended_cleanly = True

    def run(self) -> None:
        try:
            asyncio.run(self.main())
        except KeyboardInterrupt:
            self.interrupted = True
            # Retrieve it, or the task's finaliser logs it later from inside whatever
            # runs then (CPython 3.11 ast state is not reentrant: it broke an import).
            if self.link_task is not None and self.link_task.done():
                self.link_task.exception()
        except BaseException as e:  # reported by the test that owns the thread
            self.failure = e


class Client:
    """Host side for tests: frames with the shared codecs over a file descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.decoder = FrameDecoder()
        self.bodies: deque[bytes] = deque()
        self.seq = 0

    def send_raw(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def send(self, mtype: int, values: tuple = ()) -> int:
        self.seq = (self.seq + 1) & 0xFFFF
        self.send_raw(P.message(mtype, self.seq, values))
        return self.seq

    def frame(self, mtype: int, seq: int, values: tuple = ()) -> bytes:
        return P.message(mtype, seq, values)

    def receive(self, timeout: float = REPLY_TIMEOUT_S) -> tuple[int, int, tuple]:
        """The next reply (type, seq, values), waiting on the fd for at most timeout."""
        while not self.bodies:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                raise TimeoutError(f"no reply within {timeout:.1f} s")
            self.bodies.extend(self.decoder.feed(os.read(self.fd, 65536)))
        return P.decode_body(self.bodies.popleft())

    def call(self, mtype: int, values: tuple = ()) -> tuple:
        """Send one request and return the values of its reply (ERROR raises)."""
        seq = self.send(mtype, values)
        rtype, rseq, got = self.receive()
        assert rseq == seq
        if rtype == P.ERROR:
            raise DeviceError(got[0], got[2])
        assert rtype == P.reply_type(mtype), P.type_name(rtype)
        return got

    def error(self, mtype: int, values: tuple = ()) -> tuple[int, str]:
        """Send a request that must be refused; returns (code, message)."""
        seq = self.send(mtype, values)
        rtype, rseq, got = self.receive()
        assert rseq == seq
        assert rtype == P.ERROR, f"expected ERROR, got {P.type_name(rtype)}"
        assert got[1] == mtype
        return got[0], got[2]


class DeviceError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {P.ERROR_CODE_NAMES.get(code, '?')}: {message}")
        self.code = code
        self.message = message


class PtyLink:
    """A pty pair: the device's link on the master end (in a DeviceThread), a Client on
    the slave end in raw mode (as pyserial opens a serial port)."""

    def __init__(self, device: DeviceControl, boot_text: bytes = b"") -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no CR/LF mangling, no signals from 0x03
        self.device_thread = DeviceThread(device, self.master, boot_text)
        self.client = Client(self.slave)
        self.closed = False
        self.device_thread.start()

    def close(self) -> None:
        """Close the host end; the link sees end of stream and the device thread ends."""
        if self.closed:
            return
        self.closed = True
        os.close(self.slave)
        self.device_thread.join(REPLY_TIMEOUT_S)
        os.close(self.master)
