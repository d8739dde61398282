"""Device-layer fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from app_harness import write_config
from legsense.simulation.sim_board import BOARDS_DIR


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A device filesystem: the board profiles and a config naming the virtual board."""
    shutil.copytree(BOARDS_DIR, tmp_path / "boards")
    write_config(tmp_path, {"board": "virtual"})
    return tmp_path
