"""Sync throughput over a pseudo-terminal paced like a UART, against the link's rate.

A pty has no baud rate, so both ends pace their writes at baud/10 bytes per second
(8N1): the device's USB link through a paced port, the host through SerialTransport's
pace_baud. The night is a typical 8 h synthetic PLMD night at 52 Hz run through the
detector and written with the device's own night log; the device side is the real
protocol server and USB link (tests/link_device.py), the host side `legsense sync`'s
engine. Efficiency = night-log bytes / (baud / 10) / seconds from HELLO to the last byte stored
(handshake, set time and list included; decoding and writing the folder after it not).
Streaming efficiency: the same over the READ/DATA phase only (first to last DATA stored),
what a longer transfer converges to.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import tty
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from legsense.analysis import analyze_trace  # noqa: E402
from legsense.device_client import DeviceClient  # noqa: E402
from legsense.simulation.night_generator import simulate_night  # noqa: E402
from legsense.sync import SyncEngine  # noqa: E402
from legsense.transport import SerialTransport  # noqa: E402
from legsense_device.usb_link import FdPort, UsbLink  # noqa: E402
from link_device import DeviceThread, LogDevice  # noqa: E402
from sync_harness import SimClock, record_detected_night  # noqa: E402

BAUDS = (115200, 921600)


UART_TX_FIFO = 128  # bytes: the ESP32 UART's hardware TX FIFO


class PacedFdPort(FdPort):
    """FdPort whose writes take as long as a UART at `baud` would need.

    A writer that comes back a little late (scheduler jitter) finds the UART still
    sending from its 128-byte hardware FIFO, so the line has no gap unless it is later
    than the FIFO takes to drain.
    """

    def __init__(self, fd: int, baud: int) -> None:
        super().__init__(fd)
        self.rate = baud / 10.0
        self.until = 0.0

    async def write(self, data):
        now = time.monotonic()
        late = now - self.until
        start = self.until if 0 <= late <= UART_TX_FIFO / self.rate else max(now, self.until)
        self.until = start + len(data) / self.rate
        if self.until > now:
            await asyncio.sleep(self.until - now)
        await super().write(data)


class PacedDeviceThread(DeviceThread):
    def __init__(self, device, fd: int, baud: int) -> None:
        super().__init__(device, fd)
        self.baud = baud

    async def main(self) -> None:
        self.link = UsbLink(self.server, PacedFdPort(self.fd, self.baud))
        await self.link.run()


class PacedRig:
    """A LogDevice with one recorded night, served by a paced link on a pty."""

    def __init__(self, root: Path, detection, baud: int) -> None:
        self.device = LogDevice(root)
        self.clock = SimClock(self.device)
        record_detected_night(self.device, self.clock, detection)
        self.clock.advance(3_600_000)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.thread = PacedDeviceThread(self.device, self.master, baud)
        self.thread.start()

    def close(self) -> None:
        os.close(self.slave)
        self.thread.join(10)
        os.close(self.master)


def _sync(rig: PacedRig, out: Path, baud: int) -> tuple[float, float, float, int, float]:
    """(seconds to the last byte, whole sync seconds, host CPU s to the last byte, bytes,
    streaming rate in bytes/s between the first and the last DATA stored)."""
    done_at: list[tuple[float, float]] = []
    first: list[tuple[float, int]] = []

    def progress(done: int, total: int) -> None:
        if not first:
            first.append((time.perf_counter(), done))
        if done >= total and not done_at:
            done_at.append((time.perf_counter(), time.thread_time()))

    async def session():
        transport = SerialTransport(rig.port, pace_baud=baud)
        try:
            engine = SyncEngine(
                DeviceClient(transport, timeout=10.0),
                out,
                utc_now_ms=rig.clock.utc_now_ms,
                picture=False,
                progress=progress,
            )
            cpu0 = time.thread_time()  # the host's thread only (the device has its own)
            t0 = time.perf_counter()
            report = await engine.run()
            whole = time.perf_counter() - t0
            t_last, cpu_last = done_at[0]
            t_first, bytes_first = first[0]
            streaming = (report.received - bytes_first) / max(t_last - t_first, 1e-9)
            return t_last - t0, whole, cpu_last - cpu0, report.received, streaming
        finally:
            await transport.close()

    return asyncio.run(session())


def run(hours: float = 8.0) -> dict:
    trace, _ = simulate_night(1, hours, 52)
    detection, _ = analyze_trace(trace)
    out: dict = {"night_hours": hours, "rate_hz": 52}
    with tempfile.TemporaryDirectory() as tmp:
        for baud in BAUDS:
            rig = PacedRig(Path(tmp) / f"dev{baud}", detection, baud)
            try:
                wall, whole, cpu, received, streaming = _sync(rig, Path(tmp) / f"host{baud}", baud)
            finally:
                rig.close()
            theoretical = baud / 10.0
            out["night_bytes"] = received
            out[f"baud_{baud}"] = {
                "transfer_s": round(wall, 2),
                "sync_s_with_folder": round(whole, 2),
                "bytes_per_s": round(received / wall),
                "theoretical_bytes_per_s": theoretical,
                "efficiency": round(received / wall / theoretical, 3),
                "streaming_bytes_per_s": round(streaming),
                "streaming_efficiency": round(streaming / theoretical, 3),
                "host_cpu_s_per_mb": round(cpu / (received / 1e6), 2),
            }
    return out


def render(sy: dict) -> list[str]:
    """The README lines for these figures (bench/run_all.py puts them in their block)."""
    lines: list[str] = []
    if sy:
        lines += [
            f"Sync of a typical {sy['night_hours']:g} h night "
            f"({sy['night_bytes']:,} bytes of night "
            "log) over a pseudo-terminal paced like a UART (`bench/sync_throughput.py`; "
            "handshake, set-time and list included):",
            "",
            "| baud | transfer | payload rate | whole sync vs baud/10 | streaming phase "
            "| host CPU |",
            "|---|---|---|---|---|---|",
        ]
        for baud in (115200, 921600):
            b = sy[f"baud_{baud}"]
            lines.append(
                f"| {baud} | {b['transfer_s']:.2f} s | {b['bytes_per_s']:,} B/s "
                f"| {b['efficiency']:.1%} | {b['streaming_efficiency']:.1%} (target >= 85 %) "
                f"| {b['host_cpu_s_per_mb']:.2f} s/MB |"
            )
        lines.append("")
    return lines


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
