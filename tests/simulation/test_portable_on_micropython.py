"""Run every portable test module (tests/portable/test_*.py) on the real MicroPython VM.

The firmware folder is laid out at the VM's root as `make flash` lays it out on the
board, tests/portable is copied to /tests, and each test function runs as its own
top-level call. The VM's GC runs only between top-level calls, so a test that churns
garbage needs more heap here than on the board: the ceiling is 8 MiB, a guard against
runaway allocation, not the ESP32's budget (test_detector.py checks that budget).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from legsense.simulation import micropython_vm as mpvm

PORTABLE = Path(__file__).resolve().parents[1] / "portable"
MODULES = sorted(PORTABLE.glob("test_*.py"))

HEAP_BYTES = 8 * 1024 * 1024

pytestmark = pytest.mark.micropython


def test_functions(path: Path) -> list[str]:
    """Names of the module's top-level `def test_*` functions, in file order."""
    tree = ast.parse(path.read_text(), str(path))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]


test_functions.__test__ = False  # a helper, not a test


def steps_for(module: str, names: list[str]) -> list[str]:
    """VM steps: import the module, then one step per test that reports PASS or FAIL
    (with the MicroPython traceback) on stdout and lets the next test run."""
    steps = [f"import {module} as _mod"]
    for name in names:
        steps.append(
            "try:\n"
            f"    _mod.{name}()\n"
            f"    print('PASS {name}')\n"
            "except Exception as e:\n"
            f"    print('FAIL {name}')\n"
            "    sys.print_exception(e, sys.stdout)\n"
            "    print('END')\n"
        )
    return steps


def failures(stdout: str) -> dict[str, str]:
    """Test name -> traceback, from the steps' output."""
    out: dict[str, str] = {}
    lines = stdout.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("FAIL "):
            name = lines[i][5:]
            j = i + 1
            while j < len(lines) and lines[j] != "END":
                j += 1
            out[name] = "\n".join(lines[i + 1 : j])
            i = j
        i += 1
    return out


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_portable_module_on_micropython(path: Path) -> None:
    reason = mpvm.unavailable_reason()
    if reason:
        pytest.skip(reason)
    names = test_functions(path)
    assert names, f"{path.name} has no test functions"
    vm = mpvm.MicroPythonVM(
        mounts={"/": mpvm.FIRMWARE_DIR, "/tests": PORTABLE},
        sys_path=["/tests"],
        heap_bytes=HEAP_BYTES,
        timeout_s=120,
    )
    result = vm.run(steps_for(path.stem, names))
    result.check()  # the import itself failed: the traceback says why
    passed = {ln[5:] for ln in result.stdout.splitlines() if ln.startswith("PASS ")}
    failed = failures(result.stdout)
    if failed:
        report = "\n\n".join(f"{name} on MicroPython:\n{tb}" for name, tb in failed.items())
        pytest.fail(report, pytrace=False)
    assert passed == set(names), f"not run: {sorted(set(names) - passed)}"


def test_harness_reports_a_failing_portable_test(tmp_path: Path) -> None:
    """The harness itself: a failing assert comes back as FAIL with its traceback."""
    reason = mpvm.unavailable_reason()
    if reason:
        pytest.skip(reason)
    module = tmp_path / "test_sample.py"
    module.write_text(
        "def test_ok():\n    pass\n\ndef test_bad():\n    assert 1 + 1 == 3, 'math'\n"
    )
    names = test_functions(module)
    assert names == ["test_ok", "test_bad"]
    vm = mpvm.MicroPythonVM(mounts={"/tests": tmp_path}, sys_path=["/tests"])
    result = vm.run(steps_for("test_sample", names)).check()
    assert "PASS test_ok" in result.stdout
    tb = failures(result.stdout)["test_bad"]
    assert "AssertionError: math" in tb
    assert 'File "/tests/test_sample.py", line 5' in tb
