"""Memory: peak RSS and wall time of `legsense analyze` on 1, 8 and 24 h nights.

The real command line (a child process, night.png included) on traces written hour by
hour by bench/long_trace.py (nothing stored, no whole-night array in this process
either). The peak RSS is the analyze process's own, from wait4(2) in a slim launcher;
the wall time includes Python's start. Figures are compared with today's: the same measurement of
main before streaming (commit 6c77791), kept below.

`python -m bench.memory --python PATH` measures another interpreter's legsense (how
the figures of main were taken); `--cases 1x50,8x50` measures fewer nights.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.long_trace import write_long_trace

CASES: tuple[tuple[float, float], ...] = ((1, 50), (8, 50), (24, 50), (1, 100), (8, 100), (24, 100))
TARGET_RSS_MB = 300.0
TARGET_8H_50HZ_S = 10.0

# Today's figures: main before streaming (6c77791), `python -m bench.memory --python
# /work/main/.venv/bin/python` on the same 2-core machine, 2026-12-03, same traces.
# (hours, rate) -> (peak RSS in MB, wall time in s)
BASELINE: dict[tuple[float, float], tuple[float, float]] = {
    (1, 50): (99.4, 3.46),
    (8, 50): (398.7, 13.41),
    (24, 50): (1118.3, 42.25),
    (1, 100): (130.7, 3.31),
    (8, 100): (756.6, 20.8),
    (24, 100): (2187.2, 65.45),
}


# A slim launcher between this process and analyze: Linux counts the memory of the
# process that forked into the child's ru_maxrss (the copy lives until exec), so the
# child of a big benchmark process would report the benchmark's size. This launcher is
# a bare Python (~10 MB), below any analyze, and the peak is a maximum, not a sum.
_LAUNCHER = """
import os, sys, time
t0 = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)  # this child's own rusage
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, time.perf_counter() - t0)
"""


def analyze_once(python: str, trace: Path, out: Path) -> tuple[int, float]:
    """Peak RSS (bytes) and wall time (s, process start included) of one
    `legsense analyze` child process."""
    command = [python, "-m", "legsense", "analyze", str(trace), "--out", str(out), "-q"]
    with tempfile.TemporaryFile() as err:
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, *command],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            check=True,
        )
        status, maxrss_kib, wall = done.stdout.split()
        if int(status) != 0:
            err.seek(0)
            message = err.read().decode(errors="replace").strip()
            raise RuntimeError(f"analyze exited {status}: {message}")
    return int(maxrss_kib) * 1024, float(wall)  # ru_maxrss is in KiB on Linux


def measure(
    cases: tuple[tuple[float, float], ...] = CASES, python: str = sys.executable
) -> list[dict]:
    """One run per (hours, rate): the trace is written, analysed, then removed."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="legsense-bench-memory-") as d:
        for hours, rate in cases:
            trace = write_long_trace(Path(d) / f"night-{hours:g}h-{rate:g}hz.csv", hours, rate)
            out = Path(d) / "night"
            rss, wall = analyze_once(python, trace.path, out)
            rows.append(
                {
                    "hours": hours,
                    "rate_hz": rate,
                    "samples": trace.samples,
                    "trace_mb": round(trace.size_bytes / 1e6, 1),
                    "peak_rss_mb": round(rss / 1e6, 1),
                    "wall_s": round(wall, 2),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
            trace.path.unlink()
            shutil.rmtree(out, ignore_errors=True)
    return rows


def _slopes(rows: list[dict]) -> dict[str, dict]:
    """Per rate, from the shortest to the longest night: extra bytes of peak RSS per extra
    sample (what grows with the night) and extra seconds per extra hour (linear time)."""
    out: dict[str, dict] = {}
    for rate in sorted({r["rate_hz"] for r in rows}):
        runs = sorted((r for r in rows if r["rate_hz"] == rate), key=lambda r: r["hours"])
        if len(runs) < 2:
            continue
        a, b = runs[0], runs[-1]
        extra = b["samples"] - a["samples"]
        out[f"{rate:g}"] = {
            "bytes_per_sample": round((b["peak_rss_mb"] - a["peak_rss_mb"]) * 1e6 / extra, 1),
            "s_per_hour": round((b["wall_s"] - a["wall_s"]) / (b["hours"] - a["hours"]), 3),
            "from_h": a["hours"],
            "to_h": b["hours"],
        }
    return out


def run(cases: tuple[tuple[float, float], ...] = CASES) -> dict:
    load_before = os.getloadavg()[0]
    rows = measure(cases)
    load_after = os.getloadavg()[0]
    for r in rows:
        today = BASELINE.get((r["hours"], r["rate_hz"]))
        if today is not None:
            r["today_rss_mb"], r["today_wall_s"] = today
    today_rows = [
        {"hours": h, "rate_hz": f, "samples": r["samples"], "peak_rss_mb": m, "wall_s": s}
        for (h, f), (m, s) in BASELINE.items()
        for r in rows
        if (r["hours"], r["rate_hz"]) == (h, f)
    ]
    return {
        "runs": rows,
        "slopes": _slopes(rows),
        "today_slopes": _slopes(today_rows),
        "load_average": [round(load_before, 2), round(load_after, 2)],
    }


def render(result: dict) -> list[str]:
    """The README lines for these figures (bench/run_all.py puts them in their block)."""
    if not result:
        return []
    rows = result["runs"]
    lines = [
        "`legsense analyze` streams the trace: peak RSS and wall time of the real command "
        "line (night.png included; traces written hour by hour by `bench/long_trace.py`; "
        "RSS of the analyze process from `wait4`; `bench/memory.py`). *Today* is main "
        "before streaming, measured the same way.",
        "",
        "| night | samples | trace CSV | peak RSS | RSS per sample | wall | per hour of data "
        "| today: peak RSS | RSS ratio | today: wall | time ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        today_rss = r.get("today_rss_mb")
        today_wall = r.get("today_wall_s")
        lines.append(
            f"| {r['hours']:g} h at {r['rate_hz']:g} Hz | {r['samples']:,} | {r['trace_mb']:,} MB "
            f"| {r['peak_rss_mb']:.0f} MB | {r['peak_rss_mb'] * 1e6 / r['samples']:.0f} B "
            f"| {r['wall_s']:.1f} s | {r['wall_s'] / r['hours']:.2f} s "
            + (
                f"| {today_rss:,.0f} MB | {r['peak_rss_mb'] / today_rss:.2f} "
                if today_rss
                else "| | "
            )
            + (
                f"| {today_wall:.1f} s | {r['wall_s'] / today_wall:.2f} |"
                if today_wall
                else "| | |"
            )
        )
    lines.append("")
    worst = max(r["peak_rss_mb"] for r in rows)
    lines.append(
        f"- Peak RSS at most {worst:.0f} MB over every night (target <= {TARGET_RSS_MB:.0f} MB "
        "whatever the length)."
    )
    eight = [r for r in rows if (r["hours"], r["rate_hz"]) == (8, 50)]
    if eight:
        lines.append(
            f"- 8 h at 50 Hz in {eight[0]['wall_s']:.1f} s (target <= {TARGET_8H_50HZ_S:.0f} s)."
        )
    for rate, s in result["slopes"].items():
        today = result["today_slopes"].get(rate)
        lines.append(
            f"- At {rate} Hz, from {s['from_h']:g} h to {s['to_h']:g} h: "
            f"{s['bytes_per_sample']:.1f} bytes of peak RSS per extra sample"
            + (f" (today {today['bytes_per_sample']:.0f})" if today else "")
            + f", {s['s_per_hour']:.2f} s per extra hour of data"
            + (f" (today {today['s_per_hour']:.2f})" if today else "")
            + "."
        )
    load = result.get("load_average")
    if load:
        lines.append(
            f"- Machine load (1-min load average) before and after: {load[0]:.1f}, {load[1]:.1f} "
            "on 2 cores shared with other work; wall times move with it, memory does not."
        )
    lines.append("")
    return lines


def _cases(text: str) -> tuple[tuple[float, float], ...]:
    pairs = []
    for item in text.split(","):
        hours, rate = item.lower().split("x")
        pairs.append((float(hours), float(rate)))
    return tuple(pairs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--python", default=sys.executable, help="interpreter whose legsense runs")
    p.add_argument("--cases", type=_cases, default=CASES, help="e.g. 1x50,8x50 (hours x Hz)")
    args = p.parse_args(argv)
    rows = measure(args.cases, args.python)
    print(json.dumps({"python": args.python, "runs": rows, "slopes": _slopes(rows)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
