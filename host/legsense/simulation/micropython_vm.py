"""Run MicroPython code on the real MicroPython VM: the official WebAssembly port
(npm ``@micropython/micropython-webassembly-pyscript``, pinned in package-lock.json)
under Node.js.

Typical use::

    vm = MicroPythonVM(mounts={"/": FIRMWARE_DIR})
    result = vm.run_code("import legsense_core.detector as d; print(d.CH_GYRO)")
    result.check()          # raises MicroPythonError with the VM's traceback

Each step passed to :meth:`MicroPythonVM.run` is one top-level call into the VM. This
port collects garbage only between top-level calls (it cannot scan the C stack), so
inside one step ``gc.mem_alloc()`` only grows: it counts every byte allocated since the
step began, and ``VmResult.peak_heap_bytes`` is the largest heap in use at the end of a
step. With ``heap_limit`` (the default) the heap cannot grow past ``heap_bytes`` and an
allocation beyond it raises ``MemoryError`` as on the ESP32 (which has ~100 KB without
PSRAM; the default of 256 KB leaves room for garbage made within one step).

:meth:`MicroPythonVM.start_repl` starts a long-lived VM whose REPL is a byte stream on
the process's stdin/stdout (the board's USB serial port, for the virtual board).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PACKAGE_NAME = "@micropython/micropython-webassembly-pyscript"
RUNNER = Path(__file__).with_name("micropython_vm_runner.mjs")
REPO_ROOT = Path(__file__).resolve().parents[3]
FIRMWARE_DIR = REPO_ROOT / "firmware"
DEFAULT_HEAP_BYTES = 256 * 1024
DEFAULT_TIMEOUT_S = 60.0
EXIT_EXCEPTION = 1
EXIT_SETUP = 3


class MicroPythonUnavailable(RuntimeError):
    """Node.js or the MicroPython npm package is missing (the message says which)."""


class MicroPythonError(RuntimeError):
    """Code in the VM raised; the message is the MicroPython traceback."""


class MicroPythonTimeout(TimeoutError):
    """The VM ran longer than its time-out and was killed."""

    def __init__(self, message: str, stdout: str, stderr: str) -> None:
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr


@dataclass(frozen=True)
class VmResult:
    """What one VM run produced."""

    status: int  # 0 ok, 1 exception, n SystemExit(n), 3 runner/set-up error
    stdout: str
    stderr: str  # the MicroPython traceback when status is 1
    peak_heap_bytes: int | None  # largest gc.mem_alloc() at the end of a step
    startup_s: float  # Node start-up + VM load + file copy, measured in the runner
    wall_s: float  # whole subprocess, measured here
    step_cpu_s: tuple[float, ...] = ()  # process CPU time of each step (runner-measured)

    @property
    def ok(self) -> bool:
        """True when every step ran without an exception."""
        return self.status == 0

    @property
    def exception(self) -> str:
        """Last line of the traceback ("ValueError: ..."), or "" when none."""
        lines = [ln for ln in self.stderr.strip().splitlines() if ln.strip()]
        return lines[-1] if lines and self.status != 0 else ""

    def check(self) -> VmResult:
        """Return self, or raise MicroPythonError carrying stdout and the traceback."""
        if not self.ok:
            text = self.stderr.strip() or "(no traceback)"
            if self.stdout.strip():
                text = "stdout:\n" + self.stdout.rstrip() + "\n" + text
            raise MicroPythonError(f"MicroPython exited with status {self.status}:\n{text}")
        return self


def find_node() -> str | None:
    """Path of the ``node`` executable ($LEGSENSE_NODE or PATH), or None."""
    explicit = os.environ.get("LEGSENSE_NODE")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("node")


def find_package() -> Path | None:
    """Path of the package's ``micropython.mjs`` ($LEGSENSE_MICROPYTHON_MJS or the
    repository's node_modules), or None."""
    explicit = os.environ.get("LEGSENSE_MICROPYTHON_MJS")
    candidates = [Path(explicit)] if explicit else []
    candidates.append(REPO_ROOT / "node_modules" / PACKAGE_NAME / "micropython.mjs")
    for mjs in candidates:
        if mjs.is_file() and mjs.with_name("micropython.wasm").is_file():
            return mjs
    return None


def unavailable_reason() -> str | None:
    """Why the VM cannot run here (for pytest skips), or None when it can."""
    if find_node() is None:
        return "Node.js not found (install Node.js >= 18 to run the MicroPython VM)"
    if find_package() is None:
        return f"npm package {PACKAGE_NAME} not installed (run `npm ci` or `make setup`)"
    return None


class MicroPythonVM:
    """A configuration for running code on the MicroPython VM; each run is a fresh VM.

    mounts: VM directory -> host directory or file, copied into the VM's filesystem
    before the code runs (``{"/": FIRMWARE_DIR}`` lays the firmware out as on the board,
    so ``import legsense_core.detector`` works as there).
    heap_bytes: the MicroPython heap; heap_limit=False lets it grow (no MemoryError).
    """

    def __init__(
        self,
        *,
        mounts: Mapping[str, Path | str] | None = None,
        heap_bytes: int = DEFAULT_HEAP_BYTES,
        heap_limit: bool = True,
        sys_path: Sequence[str] = (),
        cwd: str = "/",
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if heap_bytes < 16 * 1024:
            raise ValueError(f"heap_bytes must be at least 16 KiB, got {heap_bytes}")
        self.mounts = {vm: Path(host) for vm, host in (mounts or {}).items()}
        for vm_path, host in self.mounts.items():
            if not vm_path.startswith("/"):
                raise ValueError(f"VM path must be absolute: {vm_path!r}")
            if not host.exists():
                raise FileNotFoundError(f"nothing to mount at {host}")
        self.heap_bytes = heap_bytes
        self.heap_limit = heap_limit
        self.sys_path = list(sys_path)
        self.cwd = cwd
        self.timeout_s = timeout_s

    # -- running code ------------------------------------------------------------------

    def run(
        self,
        steps: Sequence[str],
        *,
        files: Mapping[str, bytes | str | Path] | None = None,
        timeout_s: float | None = None,
    ) -> VmResult:
        """Run code strings as consecutive top-level calls in one VM (GC between them).

        Stops at the first step that raises. files: extra VM path -> content (bytes or
        str) or host Path, written before the steps run.
        """
        node, mjs = self._require()
        with tempfile.TemporaryDirectory(prefix="legsense-mpvm-") as tmp:
            spec_path, result_path = self._write_spec(Path(tmp), mjs, steps, files, "run")
            timeout = self.timeout_s if timeout_s is None else timeout_s
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(
                    [node, str(RUNNER), str(spec_path)],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise MicroPythonTimeout(
                    f"MicroPython VM still running after {timeout:g} s; killed",
                    _text(exc.stdout),
                    _text(exc.stderr),
                ) from None
            wall = time.perf_counter() - t0
            info = _read_json(result_path)
        return VmResult(
            status=proc.returncode,
            stdout=_text(proc.stdout),
            stderr=_text(proc.stderr),
            peak_heap_bytes=info.get("peak_heap_bytes"),
            startup_s=float(info.get("startup_ms", 0.0)) / 1000.0,
            wall_s=wall,
            step_cpu_s=tuple(us / 1e6 for us in info.get("step_cpu_us", [])),
        )

    def run_code(self, code: str, **kwargs) -> VmResult:
        """Run one code string (one top-level call)."""
        return self.run([code], **kwargs)

    def run_file(self, path: Path | str, **kwargs) -> VmResult:
        """Copy a host file into the VM (as /<name>) and run it as the main script,
        with its own name in tracebacks."""
        path = Path(path)
        vm_path = "/" + path.name
        files = dict(kwargs.pop("files", None) or {})
        files[vm_path] = path
        code = f"exec(compile(open({vm_path!r}).read(), {vm_path!r}, 'exec'))"
        return self.run([code], files=files, **kwargs)

    def start_repl(
        self, *, setup: Sequence[str] = (), files: Mapping[str, bytes | str | Path] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a long-lived VM whose REPL is a byte stream on the returned process's
        stdin/stdout (friendly and raw REPL, as on the board's serial port).

        The caller owns the process: close stdin or kill it when done.
        """
        node, mjs = self._require()
        tmp = Path(tempfile.mkdtemp(prefix="legsense-mprepl-"))
        spec_path, _ = self._write_spec(tmp, mjs, setup, files, "repl", cleanup=True)
        return subprocess.Popen(
            [node, str(RUNNER), str(spec_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    # -- internals ---------------------------------------------------------------------

    def _require(self) -> tuple[str, Path]:
        reason = unavailable_reason()
        if reason:
            raise MicroPythonUnavailable(reason)
        node = find_node()
        mjs = find_package()
        assert node is not None and mjs is not None
        return node, mjs

    def _write_spec(
        self,
        tmp: Path,
        mjs: Path,
        steps: Sequence[str],
        files: Mapping[str, bytes | str | Path] | None,
        mode: str,
        cleanup: bool = False,
    ) -> tuple[Path, Path]:
        copies = [[str(host.resolve()), vm] for vm, host in self.mounts.items()]
        for i, (vm_path, content) in enumerate((files or {}).items()):
            if isinstance(content, Path):
                copies.append([str(content.resolve()), vm_path])
                continue
            staged = tmp / f"file{i}"
            staged.write_bytes(content.encode() if isinstance(content, str) else content)
            copies.append([str(staged), vm_path])
        result_path = tmp / "result.json"
        spec = {
            "package": str(mjs),
            "heap_bytes": self.heap_bytes,
            "heap_limit": self.heap_limit,
            "files": copies,
            "sys_path": self.sys_path,
            "cwd": self.cwd,
            "steps": list(steps),
            "mode": mode,
            "result": None if cleanup else str(result_path),
            "cleanup_dir": str(tmp) if cleanup else None,
        }
        spec_path = tmp / "spec.json"
        spec_path.write_text(json.dumps(spec))
        return spec_path, result_path


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
