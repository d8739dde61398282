"""The MicroPython VM harness: output, tracebacks, exit statuses, heap ceiling,
time-outs, files, and the streaming REPL."""

from __future__ import annotations

import os
import select
import time
from pathlib import Path

import pytest
from legsense.simulation import micropython_vm as mpvm

pytestmark = pytest.mark.micropython


@pytest.fixture(autouse=True)
def _need_vm() -> None:
    reason = mpvm.unavailable_reason()
    if reason:
        pytest.skip(reason)


def test_it_is_micropython_1_27_with_the_firmware_at_the_root() -> None:
    vm = mpvm.MicroPythonVM(mounts={"/": mpvm.FIRMWARE_DIR})
    code = (
        "import sys, os\n"
        "print(sys.implementation.name, sys.implementation.version[:2])\n"
        "print(sorted(os.listdir('/legsense_core'))[:2])\n"
        "import legsense_core.detector as d\n"
        "print(d.CH_ACCEL, d.CH_GYRO)\n"
    )
    result = vm.run_code(code).check()
    lines = result.stdout.splitlines()
    assert lines[0] == "micropython (1, 27)"
    assert lines[1].startswith("['__init__.py'")
    assert lines[2] == "1 2"
    assert result.stderr == ""


def test_an_exception_gives_status_1_and_the_micropython_traceback() -> None:
    vm = mpvm.MicroPythonVM()
    result = vm.run(["def f(x):\n    return 10 // x\n", "print('before')\nf(0)", "print('never')"])
    assert result.status == 1
    assert result.stdout == "before\n"
    assert 'File "<step 1>", line 2' in result.stderr
    assert result.exception == "ZeroDivisionError: divide by zero"
    with pytest.raises(mpvm.MicroPythonError, match="ZeroDivisionError"):
        result.check()


def test_system_exit_sets_the_status() -> None:
    vm = mpvm.MicroPythonVM()
    assert vm.run_code("import sys\nsys.exit(5)").status == 5
    assert vm.run(["raise SystemExit", "print('never')"]).status == 0


def test_run_file_keeps_its_name_in_tracebacks(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text("print('hi')\n\nraise ValueError('bad value')\n")
    result = mpvm.MicroPythonVM().run_file(script)
    assert result.stdout == "hi\n"
    assert 'File "/script.py", line 3' in result.stderr
    assert result.exception == "ValueError: bad value"


def test_files_are_written_into_the_vm() -> None:
    vm = mpvm.MicroPythonVM()
    files = {"/data/blob.bin": bytes([0, 1, 2, 255]), "/lib/helper.py": "ANSWER = 42\n"}
    result = vm.run_code(
        "import helper\nprint(helper.ANSWER, list(open('/data/blob.bin', 'rb').read()))",
        files=files,
    ).check()
    assert result.stdout == "42 [0, 1, 2, 255]\n"


@pytest.mark.parametrize("heap_kib", [32, 100])
def test_the_heap_is_a_ceiling(heap_kib: int) -> None:
    vm = mpvm.MicroPythonVM(heap_bytes=heap_kib * 1024)
    code = "held = []\nwhile True:\n    held.append(bytearray(512))"
    result = vm.run_code(code, timeout_s=30)
    assert result.status == 1
    assert result.exception.startswith("MemoryError")
    assert result.peak_heap_bytes is not None
    # full at the ceiling: within 10 % below it, never above
    assert 0.9 * heap_kib * 1024 <= result.peak_heap_bytes <= heap_kib * 1024


def test_garbage_is_collected_between_steps() -> None:
    # 3 x 40 KB, one at a time, in a 64 KB heap: only if the GC runs between steps
    vm = mpvm.MicroPythonVM(heap_bytes=64 * 1024)
    steps = ["buf = bytearray(40000)", "buf = None"] * 3
    assert vm.run(steps).ok
    # and the ceiling is real: two at once do not fit
    assert vm.run(["a = bytearray(40000)", "b = bytearray(40000)"]).status == 1


def test_a_growing_heap_when_asked() -> None:
    vm = mpvm.MicroPythonVM(heap_bytes=64 * 1024, heap_limit=False)
    result = vm.run_code("held = [bytearray(1000) for _ in range(200)]").check()
    assert result.peak_heap_bytes is not None and result.peak_heap_bytes > 200 * 1000


def test_a_hang_is_killed_after_the_time_out() -> None:
    vm = mpvm.MicroPythonVM()
    t0 = time.monotonic()
    with pytest.raises(mpvm.MicroPythonTimeout):
        vm.run_code("print('started')\nwhile True:\n    pass", timeout_s=1.5)
    assert time.monotonic() - t0 < 10


def test_missing_node_is_a_clear_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGSENSE_NODE", "/nonexistent/node")
    reason = mpvm.unavailable_reason()
    assert reason is not None and "Node.js" in reason
    with pytest.raises(mpvm.MicroPythonUnavailable, match=r"Node\.js"):
        mpvm.MicroPythonVM().run_code("pass")


def test_missing_package_is_a_clear_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEGSENSE_MICROPYTHON_MJS", str(tmp_path / "micropython.mjs"))
    monkeypatch.setattr(mpvm, "REPO_ROOT", tmp_path)
    reason = mpvm.unavailable_reason()
    assert reason is not None and mpvm.PACKAGE_NAME in reason


def _read_until(proc, marker: bytes, timeout_s: float = 10.0) -> bytes:
    out = b""
    end = time.monotonic() + timeout_s
    while marker not in out:
        left = end - time.monotonic()
        assert left > 0, f"no {marker!r} in {out!r}"
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            assert chunk, f"VM ended; output so far {out!r}"
            out += chunk
    return out


def test_streaming_repl_friendly_and_raw() -> None:
    vm = mpvm.MicroPythonVM(mounts={"/": mpvm.FIRMWARE_DIR})
    proc = vm.start_repl(setup=["x = 41"])
    stdin = proc.stdin
    assert stdin is not None
    try:
        assert b"MicroPython v1.27" in _read_until(proc, b">>> ")
        stdin.write(b"print(x + 1)\r")
        stdin.flush()
        assert b"42" in _read_until(proc, b">>> ")
        stdin.write(b"\x01")  # raw REPL, as mpremote uses it
        stdin.flush()
        _read_until(proc, b"raw REPL; CTRL-B to exit\r\n>")
        stdin.write(b"import legsense_core.detector as d\nprint(d.CH_GYRO)\x04")
        stdin.flush()
        assert _read_until(proc, b"\x04>").startswith(b"OK2")
    finally:
        stdin.close()
        proc.wait(timeout=10)


def test_each_step_reports_its_own_cpu_time() -> None:
    # One figure per step that ran; a step doing 200 000 loop iterations takes more
    # process CPU than an empty one whatever the machine's load (CPU time, not wall time).
    vm = mpvm.MicroPythonVM()
    busy = "n = 0\nfor i in range(200000):\n    n = (n + i) & 0xFFFF\n"
    result = vm.run(["pass", busy, "pass"]).check()
    assert len(result.step_cpu_s) == 3
    assert all(t >= 0.0 for t in result.step_cpu_s)
    assert result.step_cpu_s[1] > 2 * max(result.step_cpu_s[0], result.step_cpu_s[2])
    stopped = vm.run(["pass", "raise ValueError", "pass"])
    assert len(stopped.step_cpu_s) == 2  # the raising step is measured, the next never runs
