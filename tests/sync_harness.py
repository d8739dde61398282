"""Host-side sync over a real pseudo-terminal against the device's own link code.

The device is tests/link_device.py's LogDevice (the real NightLog, session and config
behind protocol_server) served by usb_link in its own thread on the pty's master end;
the host opens the slave end by path with pyserial, as it would /dev/ttyUSB0. Time is
simulated: the device's ticks and the host's UTC both come from `true_ms`, which tests
move, so clock arithmetic is exact and nothing waits.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
from legsense.analysis import Detection
from legsense.device_client import DeviceClient
from legsense.sync import SyncEngine, SyncReport
from legsense.transport import LinkClosed, SerialTransport
from legsense.transport.base import Transport
from legsense_core import records
from link_device import LogDevice, PtyLink

UTC0_MS = 1_767_652_200_000  # 2026-01-05T22:30:00Z, the synthetic nights' start


class SimClock:
    """True time in ms; the device counts it (1 + drift_ppm * 1e-6) times as fast."""

    def __init__(self, device: LogDevice, drift_ppm: float = 0.0, ticks0: int = 5000) -> None:
        self.device = device
        self.drift = drift_ppm * 1e-6
        self.ticks0 = ticks0
        self.true_ms = 0
        self.advance(0)

    def advance(self, ms: int) -> None:
        self.true_ms += ms
        self.device.ticks_ms = self.ticks0 + round(self.true_ms * (1.0 + self.drift))

    def utc_now_ms(self) -> int:
        return UTC0_MS + self.true_ms


def record_detected_night(device: LogDevice, clock: SimClock, detection: Detection) -> int:
    """Start a night now, log the detector's events and epochs, stop at its last epoch."""
    assert device.start("host")[0]
    night_id = device.log.nights()[-1][0]
    m = detection.movements
    for i in range(len(m)):
        ev = (
            round(m.onset_s[i] * 1000),
            round(m.offset_s[i] * 1000),
            int(m.peak_mg[i]),
            int(m.peak_dps[i]),
            int(m.channels[i]),
            0,
        )
        assert device.log.append_event(ev)
    e = detection.epochs
    for i in range(len(e)):
        ep = (
            round(e.start_s[i] / e.epoch_s),
            int(e.n_samples[i]),
            round(e.active_s[i] * 1000),
            int(e.activity_mg_s[i]),
            *(int(v) for v in e.posture_mg[i]),
        )
        assert device.log.append_epoch(ep)
    length_ms = round(float(e.start_s[-1] + e.epoch_s) * 1000) if len(e) else 1000
    clock.advance(round(length_ms / (1.0 + clock.drift)))
    assert device.stop("host")[0]
    return night_id


class CutTransport(Transport):
    """Passes frames through until `frames` have arrived, then drops the link."""

    def __init__(self, inner: Transport, frames: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.left = frames

    async def send(self, data: bytes) -> None:
        await self.inner.send(data)

    async def receive(self, timeout: float) -> bytes:
        if self.left <= 0:
            await self.inner.close()
            raise LinkClosed("cut by the test", self.name)
        self.left -= 1
        return await self.inner.receive(timeout)

    async def close(self) -> None:
        await self.inner.close()


class Rig:
    """A LogDevice on a pty, its clock, and the host's port path."""

    def __init__(self, root: Path, drift_ppm: float = 0.0) -> None:
        self.device = LogDevice(root)
        self.clock = SimClock(self.device, drift_ppm)
        self.link = PtyLink(self.device)
        self.port = os.ttyname(self.link.slave)

    def sync(self, out: Path, cut_after: int | None = None, flush_bytes: int = 8192) -> SyncReport:
        async def session() -> SyncReport:
            transport: Transport = SerialTransport(self.port)
            if cut_after is not None:
                transport = CutTransport(transport, cut_after)
            try:
                engine = SyncEngine(
                    DeviceClient(transport),
                    out,
                    utc_now_ms=self.clock.utc_now_ms,
                    picture=False,
                    flush_bytes=flush_bytes,
                )
                return await engine.run()
            finally:
                await transport.close()

        return asyncio.run(session())

    def call(self, fn):
        """Run fn(client) in a session of its own (replies of cut sessions are skipped)."""

        async def session():
            transport = SerialTransport(self.port)
            try:
                return await fn(DeviceClient(transport))
            finally:
                await transport.close()

        return asyncio.run(session())

    def close(self) -> None:
        self.link.close()


def night_bytes(device: LogDevice, night_id: int) -> bytes:
    return device.night_path(night_id).read_bytes()


def snapshot(folder: Path, skip: tuple[str, ...] = ("clock.csv",)) -> dict[str, tuple]:
    """{relative path: (bytes, mtime_ns)} of every file under folder."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name not in skip:
            out[str(p.relative_to(folder))] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


def events_from_log(data: bytes) -> np.ndarray:
    return np.array([p for _, t, p in records.iter_records(data) if t == records.T_EVENT])


def sync_port(
    port: str,
    out: Path,
    utc_now_ms=lambda: UTC0_MS + 36_000_000,
    timeout: float = 5.0,
    **engine_options,
) -> SyncReport:
    """One SyncEngine session against whatever serves `port` (a FakeLink, a Rig)."""

    async def session() -> SyncReport:
        transport = SerialTransport(port)
        try:
            engine = SyncEngine(
                DeviceClient(transport, timeout=timeout),
                out,
                utc_now_ms=utc_now_ms,
                picture=engine_options.pop("picture", False),
                **engine_options,
            )
            return await engine.run()
        finally:
            await transport.close()

    return asyncio.run(session())
