"""Fault campaign: syncs SIGKILLed at random points, then resumed (`make faults`).

The device is tests/fake_device.py in a process of its own, serving four nights (raw
samples, resets and button presses, a format-1 night without a UID, an open night); each
host is a fork running the real sync engine (tests/kill_harness.py). A kill lands just
before a random one of the side effects an uninterrupted sync has (file writes, fsyncs,
renames, folder creation and removal, truncation, writes to the port); about half the
rounds kill the resumed sync once more. After every kill the device may hold no
acknowledgement beyond what night.bin holds, and night.bin must be a prefix of the
device's night; after the run that completes, the night folders must be byte for byte
those of an uninterrupted sync, with no temporary file or folder left.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from kill_harness import run_campaign  # noqa: E402


def run(kills: int = 200, seed: int = 11) -> dict:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        r = run_campaign(Path(tmp), kills, seed=seed)
    return {
        "kills": r.kills,
        "rounds": r.rounds,
        "side_effects_per_sync": r.side_effects_per_sync,
        "identical": r.identical,
        "leftovers": r.leftovers,
        "bytes_lost": r.bytes_lost,
        "ack_beyond_stored": r.ack_beyond_stored,
        "not_prefix": r.not_prefix,
        "failures": r.failures[:10],
        "peak_rss_mb": round(r.peak_rss_kb / 1024, 1),
        "seed": seed,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def render(k: dict) -> list[str]:
    return [
        f"Syncs SIGKILLed at {k['kills']} random points of {k['side_effects_per_sync']} "
        f"side effects each, over {k['rounds']} resumed syncs "
        f"(`bench/faults_host_kill.py`, seed {k['seed']}):",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| final folders byte-identical to an uninterrupted sync | {k['identical']} of "
        f"{k['rounds']} | all |",
        f"| temporary files or folders left | {k['leftovers']} | 0 |",
        f"| night bytes lost | {k['bytes_lost']} | 0 |",
        f"| device acknowledgement beyond the stored bytes (after a kill) | "
        f"{k['ack_beyond_stored']} | 0 |",
        f"| night.bin not a prefix of the device's night (after a kill) | {k['not_prefix']} | 0 |",
        f"| peak RSS of a host | {k['peak_rss_mb']} MB | |",
        "",
    ]


if __name__ == "__main__":
    import json

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 20), indent=2))
