"""Hardware-in-the-loop replay over the link: a trace's counts fed to the firmware.

`replay_counts()` starts a replay night on the device (REPLAY_BEGIN), streams the
samples in REPLAY messages as fast as the device's ring takes them (it answers how many
it took; the rest is sent again after a pause: flow control), marks the last ones,
waits until the device has read them all and stops the night. The device releases the
samples to its detector at the trace's rate on its own clock, so the night log is the
one a real IMU would have produced; `late` says whether the host ever fell behind.
Protocol: docs/protocol.md ("Replay").
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
from legsense_core import protocol as P

from legsense.device_client import DeviceClient
from legsense.trace import CountsTrace


@dataclass(frozen=True)
class ReplayResult:
    """What a replay night did."""

    night_id: int
    samples: int
    late: int  # samples the device wanted before they had arrived (0: an exact replay)
    requests: int


def interleaved(counts: CountsTrace) -> bytes:
    """The samples as REPLAY carries them: int16 LE ax, ay, az[, gx, gy, gz] per sample."""
    cols = [np.asarray(counts.acc, dtype="<i2")]
    if counts.gyr is not None:
        cols.append(np.asarray(counts.gyr, dtype="<i2"))
    return np.ascontiguousarray(np.hstack(cols), dtype="<i2").tobytes()


async def replay_counts(
    client: DeviceClient, counts: CountsTrace, odr_hz: float, pause_s: float = 0.1
) -> ReplayResult:
    """Replay counts at odr_hz as one night on the device behind client (after HELLO).

    pause_s is how long to wait (real time) when the device's ring is full.
    """
    gyro = counts.gyr is not None
    _, night_id, capacity = await client.request(
        P.REPLAY_BEGIN, (round(odr_hz * 1000), int(gyro), 0, 0, counts.imu)
    )
    data = interleaved(counts)
    width = 12 if gyro else 6
    per_message = min(P.MAX_REPLAY_BYTES // width, capacity)
    total = len(data) // width
    sent = 0
    requests = 0
    late = 0
    while True:
        n = min(per_message, total - sent)
        last = sent + n == total
        chunk = data[sent * width : (sent + n) * width]
        taken, room, late = await client.request(P.REPLAY, (P.R_LAST if last else 0, chunk))
        requests += 1
        sent += taken
        if sent == total and room == capacity:
            break  # every sample taken and read by the device's sampler
        if taken < n or room < per_message or sent == total:
            await asyncio.sleep(pause_s)
    await client.stop()
    return ReplayResult(night_id=night_id, samples=total, late=late, requests=requests)
