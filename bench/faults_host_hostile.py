"""Fault campaign: buggy and hostile devices against `legsense sync` (`make faults`).

Each scenario of tests/hostile_devices.py (endless lists, huge counts, garbage nights,
out-of-range times, damaged and mismatched headers, wrong DATA, reused ids, a silent
device, noise, re-flashed devices, two boards with one id, colliding names, a flood of
events) runs in a process of its own: the fake device speaks the real protocol over a
pty, the real CLI syncs it. Reported per scenario: exit status (against the expected
one), wall time, peak RSS, bytes of good nights lost, nights the device may free that
the host does not hold, leftovers, and whether anything crashed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hostile_devices import SCENARIOS, run_scenario  # noqa: E402

HANG_S = 300  # a scenario still running after this is counted as a hang


def _one(name: str, out: str) -> None:
    import resource

    (scenario,) = [s for s in SCENARIOS if s.name == name]
    t0 = time.perf_counter()
    got = run_scenario(scenario, Path(out))
    got["seconds"] = round(time.perf_counter() - t0, 2)
    got["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(got))


def run() -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, scenario in enumerate(SCENARIOS):
            cmd = [sys.executable, "-m", "bench.faults_host_hostile", "--one", scenario.name,
                   str(Path(tmp) / f"s{k}")]  # fmt: skip
            try:
                p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=HANG_S)
                got = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else {
                    "crash": True, "message": p.stderr.strip().splitlines()[-1:]}  # fmt: skip
            except subprocess.TimeoutExpired:
                got = {"hang": True}
            rows.append({"name": scenario.name, "what": scenario.what, **got})
    return {
        "scenarios": rows,
        "cases": len(rows),
        "hangs": sum(1 for r in rows if r.get("hang")),
        "crashes": sum(1 for r in rows if r.get("crash")),
        "wrong_status": sum(1 for r in rows if r.get("status") != r.get("expected_status")),
        "bytes_lost": sum(r.get("bytes_lost", 0) for r in rows),
        "acked_unheld": sum(r.get("acked_unheld", 0) for r in rows),
        "leftovers": sum(r.get("leftovers", 0) for r in rows),
        "peak_rss_mb": max((r.get("peak_rss_mb", 0) for r in rows), default=0),
    }


def render(h: dict) -> list[str]:
    lines = [
        f"{h['cases']} buggy or hostile devices against `legsense sync`, each in its own "
        f"process (`bench/faults_host_hostile.py`): hangs {h['hangs']}, crashes "
        f"{h['crashes']}, wrong exit status {h['wrong_status']}, bytes of good nights lost "
        f"{h['bytes_lost']}, nights the device may free unheld {h['acked_unheld']}, "
        f"leftovers {h['leftovers']}, peak RSS {h['peak_rss_mb']} MB at most.",
        "",
        "| device | exit status (expected) | time | peak RSS | bytes lost |",
        "|---|---|---|---|---|",
    ]
    for r in h["scenarios"]:
        if r.get("hang"):
            lines.append(f"| {r['name']}: {r['what']} | hang | > {HANG_S} s | | |")
            continue
        status = f"{r.get('status')} ({r.get('expected_status')})"
        lines.append(
            f"| {r['name']}: {r['what']} | {status} | {r.get('seconds', 0):.1f} s "
            f"| {r.get('peak_rss_mb', 0)} MB | {r.get('bytes_lost', 0)} |"
        )
    lines.append("")
    return lines


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        _one(sys.argv[2], sys.argv[3])
    else:
        print(json.dumps(run(), indent=2))
