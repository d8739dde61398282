"""Fault campaign: fuzzed frames into the host's decoding path (`make faults`).

tests/host_fuzz.py answers every request of the host's real operations (HELLO, the paged
night list, GET/SET_TIME, ACK, the sync engine's night-header read) with bursts of frames
mutated from the right reply: bit flips, cuts, bodies changed behind a good CRC, random
bodies and values, wrong version/type/sequence, noise, lying lengths. Counted: frames,
what each operation ended with, crashes (an exception other than the documented ones),
hangs (a request loop beyond the protocol's bounds), the decoder's buffer, peak RSS.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from host_fuzz import run_fuzz  # noqa: E402


def run(frames: int = 1_000_000, seed: int = 1) -> dict:
    r = run_fuzz(frames, seed=seed)
    return {
        "frames": r.frames,
        "operations": r.operations,
        "by_mutation": dict(r.by_mutation),
        "outcomes": dict(r.outcomes),
        "crashes": r.crashes,
        "crash_examples": r.crash_examples,
        "hangs": r.hangs,
        "max_pending": r.max_pending,
        "decoder_capacity": r.decoder_capacity,
        "max_queued": r.max_queued,
        "seconds": round(r.seconds, 1),
        "frames_per_s": round(r.frames / r.seconds) if r.seconds else 0,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "seed": seed,
    }


def render(f: dict) -> list[str]:
    outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(f["outcomes"].items()))
    return [
        f"{f['frames']:,} fuzzed frames into the host's decoding path over "
        f"{f['operations']:,} operations ({len(f['by_mutation'])} kinds of mutation; "
        f"`bench/faults_host_fuzz.py`, seed {f['seed']}):",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| crashes (an exception other than the documented errors) | {f['crashes']} | 0 |",
        f"| hangs (request loops beyond the protocol's bounds) | {f['hangs']} | 0 |",
        f"| decoder bytes held, at most | {f['max_pending']:,} of {f['decoder_capacity']:,} "
        "| its fixed buffer |",
        f"| operations ended by | {outcomes} | |",
        f"| rate | {f['frames_per_s']:,} frames/s | |",
        f"| peak RSS | {f['peak_rss_mb']} MB | |",
        "",
    ]


if __name__ == "__main__":
    import json

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000), indent=2))
