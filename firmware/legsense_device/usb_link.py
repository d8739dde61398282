# The sync protocol on the USB serial port, with the MicroPython REPL still reachable.
#
# UsbLink reads bytes from a port, decodes frames (legsense_core.frames), hands each body
# to the ProtocolServer and writes the reply frame back, one request after the other: a
# host may pipeline READs, the replies come back in request order with its sequence
# numbers. Text the firmware prints (boot line, tracebacks) lands between frames; the
# host's decoder skips it, as this one skips anything between frames it gets.
#
# Ctrl-C: no frame ever contains 0x01-0x04, so the link keeps MicroPython's keyboard
# interrupt on 0x03 enabled. On the board the VM itself turns a 0x03 arriving on stdin
# into KeyboardInterrupt before the link could read it, even in the middle of a frame;
# the link lets it propagate, the app must too (catch Exception, never BaseException),
# and mpremote / `make flash` get the REPL. The link also raises KeyboardInterrupt when a
# 0x03 does reach it: that is the VM's behaviour on CPython (a pty has no VM behind it)
# and a backstop on a board where kbd_intr was switched off.
#
# Ports (the streams are injectable):
#   StdioPort  MicroPython: sys.stdin.buffer / sys.stdout.buffer (binary, no CR/LF
#              translation), readiness through asyncio's poller so other tasks run.
#   FdPort     CPython: file descriptors, e.g. one end of a pty standing in for the
#              board's USB serial port in tests and simulations.

try:
    import asyncio
except ImportError:  # pragma: no cover - MicroPython before 1.21
    import uasyncio as asyncio  # type: ignore

from legsense_core.frames import MAX_ENCODED, FrameDecoder, encode_frame

INTERRUPT = 0x03  # Ctrl-C
RX_CHUNK = 64  # bytes taken from the port per read; requests are small (READ: 22 bytes)


class StdioPort:
    """The board's USB serial port: MicroPython's stdin/stdout, binary."""

    def __init__(self):
        import select
        import sys

        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(self._in, select.POLLIN)
        self._stream = asyncio.StreamReader(self._in)
        self._one = bytearray(1)

    def _ready(self):
        for _ in self._poll.ipoll(0):  # ipoll: no list allocated per call
            return True
        return False

    async def read_into(self, buf):
        """Wait for at least one byte, then take what is there (up to len(buf))."""
        first = await self._stream.read(1)  # waits in asyncio's poller, not in a busy loop
        buf[0] = first[0]
        n = 1
        cap = len(buf)
        one = self._one
        while n < cap and self._ready():
            # stdin.buffer.read(k) blocks until k bytes arrive: take only what is ready.
            self._in.readinto(one)  # type: ignore  (MicroPython streams have readinto)
            buf[n] = one[0]
            n += 1
        return n

    async def write(self, data):
        """Write all of data (blocks until the UART/USB driver took it)."""
        self._out.write(data)


class FdPort:
    """CPython: read and write file descriptors (a pty end, a pipe) without blocking the
    event loop. read_into() returns 0 once the other end has closed."""

    def __init__(self, read_fd, write_fd=None):
        import os

        self._os = os
        self.read_fd = read_fd
        self.write_fd = read_fd if write_fd is None else write_fd
        os.set_blocking(self.read_fd, False)  # type: ignore  (CPython only)
        os.set_blocking(self.write_fd, False)  # type: ignore

    async def _wait(self, add, remove, fd):
        loop = asyncio.get_running_loop()  # type: ignore  (CPython only)
        ready = loop.create_future()

        def wake():
            if not ready.done():  # the loop may call again before remove() runs
                ready.set_result(None)

        add(fd, wake)
        try:
            await ready
        finally:
            remove(fd)

    async def read_into(self, buf):
        """Wait for bytes and copy up to len(buf) of them into buf; 0 at end of stream."""
        loop = asyncio.get_running_loop()  # type: ignore  (CPython only)
        while True:
            try:
                data = self._os.read(self.read_fd, len(buf))
            except BlockingIOError:
                await self._wait(loop.add_reader, loop.remove_reader, self.read_fd)
                continue
            except OSError:  # EIO: the pty's other side was closed
                return 0
            buf[0 : len(data)] = data
            return len(data)

    async def write(self, data):
        """Write all of data, waiting while the other side's buffer is full."""
        loop = asyncio.get_running_loop()  # type: ignore  (CPython only)
        view = memoryview(data)
        while len(view):
            try:
                n = self._os.write(self.write_fd, view)
            except BlockingIOError:
                await self._wait(loop.add_writer, loop.remove_writer, self.write_fd)
                continue
            view = view[n:]


class UsbLink:
    """Serves a ProtocolServer on a port. `await run()` until the port closes (CPython)
    or KeyboardInterrupt (Ctrl-C from the host) ends it."""

    def __init__(self, server, port, on_frame=None):
        self.server = server
        self.port = port
        self.decoder = FrameDecoder()
        self._rx = bytearray(RX_CHUNK)
        self._rx_mv = memoryview(self._rx)
        self._tx = bytearray(MAX_ENCODED)
        self._tx_mv = memoryview(self._tx)
        self.replies = 0
        self.on_frame = on_frame  # called after each answer (the app stays awake a while)

    async def run(self):
        """Read, decode, answer, in order. Returns when the port reports end of stream."""
        rx = self._rx
        decoder = self.decoder
        while True:
            n = await self.port.read_into(rx)
            if n <= 0:
                return
            for i in range(n):
                if rx[i] == INTERRUPT:
                    raise KeyboardInterrupt
            chunk = self._rx_mv[0:n]
            pos = 0
            while pos < n:
                pos = decoder.push(chunk, pos)
                if decoder.body_len >= 0:
                    # The body stays valid until the next push: answer it before that.
                    await self._answer(decoder.body())

    async def _answer(self, body):
        server = self.server
        n = server.handle(body)
        end = encode_frame(memoryview(server.reply)[0:n], self._tx)
        await self.port.write(self._tx_mv[0:end])
        self.replies += 1
        if self.on_frame is not None:
            self.on_frame()


def serve_stdio(server):
    """The board's link task: asyncio.create_task(serve_stdio(server)) in the app."""
    return UsbLink(server, StdioPort()).run()
