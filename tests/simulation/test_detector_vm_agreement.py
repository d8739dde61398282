"""The detector on CPython and on the MicroPython VM: the same multi-minute synthetic
signal gives identical event and epoch tuples, to the last digit."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from legsense.simulation import micropython_vm as mpvm
from legsense_core.detector import DetectorConfig, LegMovementDetector

PORTABLE = Path(__file__).resolve().parents[1] / "portable"
sys.path.insert(0, str(PORTABLE))
import imu_synth  # type: ignore  # noqa: E402  (a portable helper, found via sys.path)

pytestmark = pytest.mark.micropython

# Six minutes at 50 Hz with everything the detector handles: movements of 0.5-20 s,
# close pairs, turns, gaps (one inside a movement), timestamp jitter, gyro bias.
SIGNAL = {
    "rate_hz": 50,
    "duration_ms": 6 * 60000,
    "movements": [
        (10000, 10500, 12000, 1),
        (30000, 32000, 15000, 2),
        (32300, 34300, 15000, 2),
        (60000, 80000, 10000, 20),
        (100000, 103000, 25000, 3),
        (150000, 152000, 15000, 2),
        (180000, 190000, 15000, 10),
        (250000, 251000, 20000, 1),
        (300000, 304000, 15000, 4),
    ],
    "turns": [(120000, 120600, 35000), (220000, 221000, -50000)],
    "gaps": [(140000, 141000), (185000, 200000)],
    "jitter_ms": 4,
    "seed": 2024,
}
BATCH = 64


def cpython_run() -> tuple[list, list, int]:
    imu = imu_synth.SyntheticImu(**SIGNAL)
    det = LegMovementDetector(
        DetectorConfig(rate_hz=SIGNAL["rate_hz"]), imu_synth.ACC_SCALE, imu_synth.GYR_SCALE
    )
    return imu_synth.run(det, imu, BATCH)


def vm_code() -> str:
    return (
        "import imu_synth\n"
        "from legsense_core.detector import DetectorConfig, LegMovementDetector\n"
        f"imu = imu_synth.SyntheticImu(**{SIGNAL!r})\n"
        f"det = LegMovementDetector(DetectorConfig(rate_hz={SIGNAL['rate_hz']}),"
        " imu_synth.ACC_SCALE, imu_synth.GYR_SCALE)\n"
        f"events, epochs, n = imu_synth.run(det, imu, {BATCH})\n"
        "print(repr(events))\n"
        "print(repr(epochs))\n"
        "print(n)\n"
    )


def test_detector_agrees_exactly_on_cpython_and_micropython() -> None:
    reason = mpvm.unavailable_reason()
    if reason:
        pytest.skip(reason)
    expected = cpython_run()
    assert len(expected[0]) >= 8, "the signal should exercise many events"
    assert expected[2] > 16000
    vm = mpvm.MicroPythonVM(
        mounts={"/": mpvm.FIRMWARE_DIR, "/tests": PORTABLE},
        sys_path=["/tests"],
        timeout_s=120,
    )
    result = vm.run_code(vm_code()).check()
    lines = result.stdout.splitlines()
    assert len(lines) == 3, result.stdout
    got = (ast.literal_eval(lines[0]), ast.literal_eval(lines[1]), int(lines[2]))
    assert got[2] == expected[2]
    assert got[0] == expected[0]
    assert got[1] == expected[1]
    # the VM's heap stayed within the default ceiling of 256 KiB
    assert result.peak_heap_bytes is not None
    assert result.peak_heap_bytes <= mpvm.DEFAULT_HEAP_BYTES
