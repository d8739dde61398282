"""`make demo`: simulate a night, analyse it, print the summary and the picture's path.

Runs the product's own commands in-process, exactly as a user would type them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from legsense.cli import main as legsense


def run(out: Path, seed: int, hours: float, rate: float) -> int:
    out.mkdir(parents=True, exist_ok=True)
    trace = out / f"night-seed{seed}.csv"
    night = out / f"night-seed{seed}"
    print(
        f"$ legsense simulate-night --seed {seed} --hours {hours:g} --rate {rate:g} --out {trace}"
    )
    status = legsense(
        [
            "simulate-night",
            "--seed",
            str(seed),
            "--hours",
            str(hours),
            "--rate",
            str(rate),
            "--start-utc",
            "2026-11-21T22:30:00+00:00",
            "--out",
            str(trace),
        ]
    )
    if status:
        return status
    print(f"$ legsense analyze {trace} --out {night}")
    status = legsense(["analyze", str(trace), "--out", str(night)])
    if status:
        return status
    summary = json.loads((night / "summary.json").read_text())
    keys = [
        "recording_hours",
        "lm_count",
        "clm_count",
        "plm_count",
        "plm_series_count",
        "lm_index",
        "plm_index",
        "periodicity_index",
        "index_basis",
    ]
    print("\nNight summary (WASM/IRLSSG 2016):")
    for k in keys:
        print(f"  {k:18} {summary.get(k)}")
    print(f"\nPicture of the night: {(night / 'night.png').resolve()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="legsense-demo", description=__doc__)
    p.add_argument("--out", type=Path, default=Path("demo-output"))
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--hours", type=float, default=8.0)
    p.add_argument("--rate", type=float, default=50.0)
    a = p.parse_args(argv)
    return run(a.out, a.seed, a.hours, a.rate)


if __name__ == "__main__":
    sys.exit(main())
