"""The pystone used to calibrate the VM to an ESP32 (bench/pystone_mp.py) does Dhrystone's
work on both interpreters: it ends with the globals Dhrystone 1.1 says a correct run ends
with (Int_Glob 5, Ch_2_Glob 'B', Arr_1_Glob[8] 7, as its published expected values), and
the VM's per-step CPU time grows with the number of loops (not with the machine's load:
process CPU time)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from legsense.simulation import micropython_vm as mpvm

PYSTONE = Path(__file__).resolve().parents[2] / "bench" / "pystone_mp.py"


def test_pystone_ends_with_dhrystones_expected_values_on_cpython():
    spec = importlib.util.spec_from_file_location("pystone_mp", PYSTONE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.run(50) == (5, "B", 7)


@pytest.mark.micropython
def test_pystone_on_the_vm_gives_the_same_and_costs_per_loop():
    if reason := mpvm.unavailable_reason():
        pytest.skip(reason)
    vm = mpvm.MicroPythonVM(heap_bytes=8 * 1024 * 1024)
    result = vm.run([PYSTONE.read_text(), "print(run(50))", "run(200)", "run(5000)"]).check()
    assert result.stdout.strip() == "(5, 'B', 7)"
    assert result.step_cpu_s[3] > 2 * result.step_cpu_s[2]
