"""`legsense sim`'s serving loop on the CPython board: its progress report and signals."""

from __future__ import annotations

import os
import signal

from legsense.simulation.vm_board.board import run_until_signalled
from legsense.simulation.vm_board.cpython_board import CPythonBoard


def test_cpython_board_reports_progress_and_stops_on_sigint(tmp_path):
    # The progress line once crashed `legsense sim --vm cpython` after 10 s (the CPython
    # board had no log/world_ms/achieved_speed). The first report here stops the loop.
    said: list[str] = []

    def log(text: str) -> None:
        said.append(text)
        os.kill(os.getpid(), signal.SIGINT)

    board = CPythonBoard(None, tmp_path / "state", speed=50.0, log=log)
    board.start()
    assert run_until_signalled(board, report_every_s=0.0) == 0  # type: ignore[arg-type]
    assert said and said[0].startswith("simulated ")
    assert "achieved speed" in said[0]
    assert board.achieved_speed() >= 0.0
