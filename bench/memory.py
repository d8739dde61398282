"""Memory: peak RSS, wall and CPU time of `legsense analyze` on 1, 8 and 24 h nights.

The real command line (a child process, night.png included) on traces written hour by
hour by bench/long_trace.py (nothing stored, no whole-night array in this process
either). Peak RSS and CPU time (user + system) are the analyze process's own, from
wait4(2) in a slim launcher; the wall time includes Python's start. CPU time is given
beside the wall time because the machine is shared: the wall time moves with the load,
the CPU time much less. Figures are compared with today's: the same measurement of main
before streaming (commit 6c77791), kept below.

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
# /work/main/.venv/bin/python` on the same 2-core machine on 2026-12-03, right before
# the figures in the README. (hours, rate) -> (peak RSS MB, wall s, CPU s)
BASELINE: dict[tuple[float, float], tuple[float, float, float]] = {
    (1, 50): (96.9, 3.79, 3.71),  # load 3.17
    (8, 50): (389.0, 15.06, 14.37),  # load 2.84
    (24, 50): (1108.3, 35.91, 33.93),  # load 2.44
    (1, 100): (120.6, 6.46, 4.17),  # load 2.8
    (8, 100): (746.8, 33.56, 23.25),  # load 4.07
    (24, 100): (2177.3, 75.33, 62.52),  # load 3.6
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
wall = time.perf_counter() - t0
cpu = usage.ru_utime + usage.ru_stime
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, wall, cpu)
"""


def analyze_once(python: str, trace: Path, out: Path) -> tuple[int, float, float]:
    """Peak RSS (bytes), wall time (s, process start included) and CPU time (s) of one
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
        status, maxrss_kib, wall, cpu = done.stdout.split()
        if int(status) != 0:
            err.seek(0)
            message = err.read().decode(errors="replace").strip()
            raise RuntimeError(f"analyze exited {status}: {message}")
    return int(maxrss_kib) * 1024, float(wall), float(cpu)  # ru_maxrss: KiB on Linux


def measure(
    cases: tuple[tuple[float, float], ...] = CASES, python: str = sys.executable
) -> list[dict]:
    """One run per (hours, rate): the trace is written, analysed, then removed."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="legsense-bench-memory-") as d:
        for hours, rate in cases:
            trace = write_long_trace(Path(d) / f"night-{hours:g}h-{rate:g}hz.csv", hours, rate)
            out = Path(d) / "night"
            rss, wall, cpu = analyze_once(python, trace.path, out)
            rows.append(
                {
                    "hours": hours,
                    "rate_hz": rate,
                    "samples": trace.samples,
                    "trace_mb": round(trace.size_bytes / 1e6, 1),
                    "peak_rss_mb": round(rss / 1e6, 1),
                    "wall_s": round(wall, 2),
                    "cpu_s": round(cpu, 2),
                    "load": round(os.getloadavg()[0], 2),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
            trace.path.unlink()
            shutil.rmtree(out, ignore_errors=True)
    return rows


def _slopes(rows: list[dict]) -> dict[str, dict]:
    """Per rate, from the shortest to the longest night: extra bytes of peak RSS per extra
    sample (what grows with the night) and extra CPU seconds per extra hour of data."""
    out: dict[str, dict] = {}
    for rate in sorted({r["rate_hz"] for r in rows}):
        runs = sorted((r for r in rows if r["rate_hz"] == rate), key=lambda r: r["hours"])
        if len(runs) < 2:
            continue
        a, b = runs[0], runs[-1]
        extra = b["samples"] - a["samples"]
        out[f"{rate:g}"] = {
            "bytes_per_sample": round((b["peak_rss_mb"] - a["peak_rss_mb"]) * 1e6 / extra, 1),
            "cpu_s_per_hour": round((b["cpu_s"] - a["cpu_s"]) / (b["hours"] - a["hours"]), 3),
            "from_h": a["hours"],
            "to_h": b["hours"],
        }
    return out


def run(cases: tuple[tuple[float, float], ...] = CASES) -> dict:
    rows = measure(cases)
    today_rows = []
    for r in rows:
        today = BASELINE.get((r["hours"], r["rate_hz"]))
        if today is not None:
            r["today_rss_mb"], r["today_wall_s"], r["today_cpu_s"] = today
            today_rows.append({**r, "peak_rss_mb": today[0], "wall_s": today[1], "cpu_s": today[2]})
    return {"runs": rows, "slopes": _slopes(rows), "today_slopes": _slopes(today_rows)}


def _ratio(value: float, today: float | None) -> str:
    return f"{value / today:.2f}" if today else ""


def render(result: dict) -> list[str]:
    """The README lines for these figures (bench/run_all.py puts them in their block)."""
    if not result:
        return []
    rows = result["runs"]
    lines = [
        "`legsense analyze` streams the trace: peak RSS, wall and CPU time of the real "
        "command line (night.png included; traces written hour by hour by "
        "`bench/long_trace.py`; RSS and CPU of the analyze process from `wait4`; "
        "`bench/memory.py`). *Today* is main before streaming, measured the same way just "
        "before. The machine is shared (load = 1-min load average on its 2 cores): wall "
        "times move with the load, CPU times less, peak RSS not at all.",
        "",
        "| night | samples | trace CSV | peak RSS | RSS / sample | wall | CPU | CPU per h of data "
        "| load | today: RSS | RSS ratio | today: wall, CPU | CPU ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t_rss, t_wall, t_cpu = r.get("today_rss_mb"), r.get("today_wall_s"), r.get("today_cpu_s")
        lines.append(
            f"| {r['hours']:g} h at {r['rate_hz']:g} Hz | {r['samples']:,} | {r['trace_mb']:,} MB "
            f"| {r['peak_rss_mb']:.0f} MB | {r['peak_rss_mb'] * 1e6 / r['samples']:.0f} B "
            f"| {r['wall_s']:.1f} s | {r['cpu_s']:.1f} s | {r['cpu_s'] / r['hours']:.2f} s "
            f"| {r['load']:.1f} "
            f"| {f'{t_rss:,.0f} MB' if t_rss else ''} | {_ratio(r['peak_rss_mb'], t_rss)} "
            f"| {f'{t_wall:.1f} s, {t_cpu:.1f} s' if t_wall and t_cpu else ''} "
            f"| {_ratio(r['cpu_s'], t_cpu)} |"
        )
    lines.append("")
    worst = max(r["peak_rss_mb"] for r in rows)
    lines.append(
        f"- Peak RSS at most {worst:.0f} MB over every night (target <= {TARGET_RSS_MB:.0f} MB "
        "whatever the length)."
    )
    eight = [r for r in rows if (r["hours"], r["rate_hz"]) == (8, 50)]
    if eight:
        e = eight[0]
        lines.append(
            f"- 8 h at 50 Hz: {e['wall_s']:.1f} s wall at load {e['load']:.1f}, {e['cpu_s']:.1f} s "
            f"CPU (target <= {TARGET_8H_50HZ_S:.0f} s"
            + (
                f"; today {e['today_wall_s']:.1f} s wall, {e['today_cpu_s']:.1f} s CPU)."
                if e.get("today_cpu_s")
                else ")."
            )
        )
    for rate, s in result["slopes"].items():
        today = result["today_slopes"].get(rate)
        lines.append(
            f"- At {rate} Hz, from {s['from_h']:g} h to {s['to_h']:g} h: "
            f"{s['bytes_per_sample']:.1f} bytes of peak RSS per extra sample"
            + (f" (today {today['bytes_per_sample']:.0f})" if today else "")
            + f", {s['cpu_s_per_hour']:.2f} s of CPU per extra hour of data"
            + (f" (today {today['cpu_s_per_hour']:.2f})" if today else "")
            + "."
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
