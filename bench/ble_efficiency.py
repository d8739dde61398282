"""Sync protocol efficiency over BLE, counted on a real BLE stack (Bumble, no radio).

A typical 8 h synthetic PLMD night (seed 1, 52 Hz) is run through the detector and
written with the device's own night log; the firmware's BleLink serves it over Bumble at
ATT MTU 23, 185 and 247 and `legsense sync`'s engine fetches it through bleak. Counted
from the link's own counters:

* payload / ATT bytes: night-log bytes delivered over every byte of ATT PDUs both ways
  (notifications and writes, 3-byte ATT header each; L2CAP and link-layer headers not
  included);
* round trips: requests sent (each is one request/reply exchange, pipelined `window`
  deep) and ATT writes (each a Write Request / Write Response exchange);
* estimated time for the night at two stated notification rates (seconds of
  notifications only, both directions' writes overlap with them):
  - `nimble_ceiling`: 340 kbit/s of notify payload, the ESP-IDF NimBLE throughput
    example's measured figure on an ESP32 (MTU 512, 7.5 ms connection interval, data
    length extension, 1M PHY; esp-idf examples/bluetooth/nimble/throughput_app README):
    an upper bound, C code with no Python in the loop;
  - `one_per_event`: one notification per 15 ms connection event, a conservative
    assumption for a MicroPython loop calling gatts_notify (not measured on hardware).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from legsense.analysis import analyze_trace  # noqa: E402
from legsense.device_client import DeviceClient  # noqa: E402
from legsense.simulation.ble_peripheral import BlePeripheral, VirtualAir  # noqa: E402
from legsense.simulation.bumble_backend import bumble_backends  # noqa: E402
from legsense.simulation.night_generator import simulate_night  # noqa: E402
from legsense.sync import SyncEngine  # noqa: E402
from legsense.transport.ble import BleBackend, BleTransport  # noqa: E402
from legsense_core import ble_gatt as G  # noqa: E402
from legsense_device.protocol_server import ProtocolServer  # noqa: E402
from link_device import DEVICE_ID, LogDevice  # type: ignore  # noqa: E402
from sync_harness import SimClock, record_detected_night  # type: ignore  # noqa: E402

MTUS = (23, 185, 247)
NIMBLE_NOTIFY_BPS = 340_000 / 8  # bytes/s of notification payload (ESP-IDF example)
EVENT_S = 0.015  # one notification per 15 ms connection event


async def _sync(device: LogDevice, clock: SimClock, mtu: int, out: Path) -> dict:
    air = VirtualAir()
    peripheral = BlePeripheral(air, ProtocolServer(device), DEVICE_ID, mtu=mtu)
    peripheral.link.open_pairing()
    await peripheral.start()
    backend = BleBackend(*bumble_backends(air.device("host")))
    try:
        transport = await BleTransport.open(peripheral.name, scan_seconds=2.0, backend=backend)
        sent = 0
        try:
            client = DeviceClient(transport)
            original = client.send

            async def counting_send(mtype: int, values: tuple = ()) -> int:
                nonlocal sent
                sent += 1
                return await original(mtype, values)

            client.send = counting_send  # type: ignore[method-assign]
            await client.hello()
            report = await SyncEngine(client, out, utc_now_ms=clock.utc_now_ms, picture=False).run()
        finally:
            await transport.close()
    finally:
        await peripheral.stop()
    link = peripheral.link
    att_bytes = (
        transport.bytes_in
        + G.ATT_HEADER * transport.notifications
        + transport.bytes_out
        + G.ATT_HEADER * transport.writes
    )
    notify_payload = transport.bytes_in
    return {
        "mtu": mtu,
        "night_bytes": report.received,
        "att_bytes": att_bytes,
        "payload_per_att_byte": round(report.received / att_bytes, 4),
        "notifications": transport.notifications,
        "requests": sent,
        "att_writes": transport.writes,
        "device_waits_for_buffers": link.notify_waits,
        "est_s_nimble_ceiling": round(
            (notify_payload + G.ATT_HEADER * transport.notifications) / NIMBLE_NOTIFY_BPS, 1
        ),
        "est_s_one_per_event": round(transport.notifications * EVENT_S, 1),
    }


def run(hours: float = 8.0) -> dict:
    """Efficiency, round trips and estimated sync time of one night at each MTU."""
    trace, _ = simulate_night(1, hours, 52)
    trace.meta.pop("leg", None)
    detection, _ = analyze_trace(trace)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        device = LogDevice(Path(tmp) / "board")
        clock = SimClock(device)
        record_detected_night(device, clock, detection)
        for mtu in MTUS:
            results.append(asyncio.run(_sync(device, clock, mtu, Path(tmp) / f"host{mtu}")))
    return {
        "hours": hours,
        "rates": {
            "nimble_ceiling_bytes_per_s": NIMBLE_NOTIFY_BPS,
            "one_per_event_s": EVENT_S,
        },
        "by_mtu": results,
    }


def render(ble: dict) -> list[str]:
    """The README lines for these figures (bench/run_all.py puts them in their block)."""
    lines: list[str] = []
    if ble:
        ev_ms = ble["rates"]["one_per_event_s"] * 1000
        lines += [
            f"BLE sync of a typical {ble['hours']:g} h night over a real ATT/GATT stack (Bumble "
            "virtual controllers; `bench/ble_efficiency.py`); times are estimates at a stated "
            f"notification rate (one per {ev_ms:g} ms, assumed for MicroPython) and at "
            "NimBLE's published ceiling:",
            "",
            "| ATT MTU | payload / ATT bytes | notifications | requests | est. at 1 per "
            f"{ev_ms:g} ms | est. at NimBLE ceiling |",
            "|---|---|---|---|---|---|",
        ]
        for r in ble["by_mtu"]:
            lines.append(
                f"| {r['mtu']} | {r['payload_per_att_byte']:.1%} | {r['notifications']:,} "
                f"| {r['requests']} | {r['est_s_one_per_event']:g} s "
                f"| {r['est_s_nimble_ceiling']:g} s |"
            )
        lines.append("")
    return lines


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
