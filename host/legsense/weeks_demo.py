"""The end of `make demo`: weeks of nights in miniature, and the trend report.

Beside the night the demo just made (synced from the virtual board, or analysed
offline), a few more short synthetic nights of the same person are analysed offline
with `legsense analyze` (the evenings before it), a diary records iron from the middle
evening on and a few evening ratings (`legsense diary add`), and `legsense report` writes
the trend report. Everything goes into the demo's own output folder; running the demo
again rewrites the same files. Short nights keep it to a few seconds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from legsense.cli import main as legsense
from legsense.diary import DIARY_FILE
from legsense.night_catalog import night_folders, person_of

EXTRA_NIGHTS = 4
EXTRA_HOURS = 0.25
EXTRA_RATE_HZ = 26.0
IRON_FROM_NIGHT = 2  # the third extra night is the first with iron


def _newest_night(out: Path) -> Path | None:
    skip = out / "more-nights"
    nights = [f for f in night_folders(out) if skip not in f.parents]
    return max(nights, key=lambda f: (f / "summary.json").stat().st_mtime, default=None)


def several_nights(out: Path) -> int:
    """Add the nights and the diary, write out/report.html; the exit status."""
    out = Path(out)
    night = _newest_night(out)
    if night is None:
        print("demo: no night to build a trend report on")
        return 1
    summary = json.loads((night / "summary.json").read_text())
    person = person_of(summary, night, out)
    start_text = (summary.get("recording") or {}).get("start_utc")
    last_start = (
        datetime.fromisoformat(start_text)
        if start_text
        else datetime(2026, 11, 21, 22, 30, tzinfo=UTC)
    )
    print(f"\nWeeks of nights in miniature: {EXTRA_NIGHTS} more short nights of {person}")
    traces = out / "more-nights" / "traces"
    traces.mkdir(parents=True, exist_ok=True)
    diary = out / DIARY_FILE
    diary.unlink(missing_ok=True)  # the demo's own diary, made afresh each run
    for k in range(EXTRA_NIGHTS):
        start = last_start - timedelta(days=EXTRA_NIGHTS - k)
        evening = (start - timedelta(hours=12)).date().isoformat()
        trace = traces / f"{evening}.csv"
        profile = "plmd" if k < IRON_FROM_NIGHT else "rls-mild"
        args = ["simulate-night", "--seed", str(100 + k), "--hours", f"{EXTRA_HOURS:g}",
                "--rate", f"{EXTRA_RATE_HZ:g}", "--profile", profile,
                "--start-utc", start.isoformat(), "--out", str(trace)]  # fmt: skip
        folder = out / "more-nights" / person / evening
        print("$ legsense " + " ".join(args))
        if legsense(args):
            return 1
        print(f"$ legsense analyze {trace} --out {folder} -q")
        if legsense(["analyze", str(trace), "--out", str(folder), "-q"]):
            return 1
        if k == IRON_FROM_NIGHT:
            entry = ["--tag", "iron", "--to", "ongoing", "--value", "325", "--unit", "mg"]
            if _diary(out, person, evening, entry):
                return 1
        if _diary(out, person, evening, ["--rating", str(7 if k < IRON_FROM_NIGHT else 4)]):
            return 1
    report = out / "report.html"
    print(f"$ legsense report {out} --person {person} --out {report}")
    status = legsense(["report", str(out), "--person", person, "--out", str(report), "-q"])
    if status:
        return status
    print(f"\nTrend report of {EXTRA_NIGHTS + 1} nights with a diary: {report.resolve()}")
    return 0


def _diary(out: Path, person: str, evening: str, what: list[str]) -> int:
    args = ["diary", "--data", str(out), "add", "--person", person, "--date", evening, *what]
    print("$ legsense " + " ".join(args))
    return legsense(args)
