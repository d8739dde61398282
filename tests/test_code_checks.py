"""The code checks CI must run: ruff, and pyright on the host and on the firmware against
the MicroPython ESP32 stubs (`make lint` runs the same)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            pytest.skip(f"{name} is not installed (make setup installs it)")
        return found
    return str(path)


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_ruff_lint_and_format():
    lint = run(tool("ruff"), "check", ".")
    assert lint.returncode == 0, lint.stdout[-3000:]
    fmt = run(tool("ruff"), "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout[-3000:]


def test_host_type_checks():
    done = run(tool("pyright"))
    assert done.returncode == 0, done.stdout[-3000:]


def test_firmware_type_checks_against_the_esp32_stubs():
    stubs = sysconfig.get_paths()["purelib"]
    if not (Path(stubs) / "machine.pyi").exists():
        pytest.skip("micropython-esp32-stubs are not installed (make setup installs them)")
    done = run(tool("pyright"), "-p", "firmware", "--pythonpath", sys.executable, "-t", stubs)
    assert done.returncode == 0, done.stdout[-3000:]
