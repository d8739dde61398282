"""`legsense sit` paces its ratings by the device's clock, not the host's: against a
virtual board running at 60x real time, the ratings of a file still arrive inside their
prompts' windows (they once all came a minute of real time late: "no SIT is running")."""

from __future__ import annotations

import csv
import subprocess
import sys

from legsense.simulation.night_generator import simulate_night
from legsense.simulation.vm_board.cpython_board import CPythonBoard

PROMPT_WINDOW_S = 63.0  # the device waits 60 s for presses, plus 3 s after the last one


def legsense(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "legsense", *args], capture_output=True, text=True, timeout=120
    )


def test_ratings_land_in_their_prompts_on_a_fast_board(tmp_path):
    trace, _labels = simulate_night(5, 0.2, 26.0, profile="rls-mild")
    plan = tmp_path / "ratings.csv"
    plan.write_text("minute,rating\n1,3\n2,7\n")
    with CPythonBoard(trace, tmp_path / "device", speed=60.0) as board:
        done = legsense("config", "set", "person=anna", "leg=left", "--port", board.port)
        assert done.returncode == 0, done.stderr
        done = legsense(
            "sit", "--port", board.port, "--minutes", "2", "--every", "1",
            "--ratings", str(plan), "--out", str(tmp_path / "data"),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (folder,) = (tmp_path / "data").glob("*/*_sit_*")
    with (folder / "ratings.csv").open() as f:
        rows = list(csv.DictReader(f))
    typed = [(float(r["t_s"]), r["rating"]) for r in rows if r["source"] == "host"]
    assert [rating for _t, rating in typed] == ["3", "7"]
    for (t_s, _rating), prompt_s in zip(typed, (60.0, 120.0), strict=True):
        assert prompt_s <= t_s < prompt_s + PROMPT_WINDOW_S
