"""The virtual board: the firmware on the real MicroPython VM, behind a pseudo-terminal.

A VirtualBoard runs board_runner.mjs (the official MicroPython WebAssembly port under
Node.js) with the board's flash in a host folder, and serves from one thread:

* the USB serial port: it holds a pty master and relays it to the VM's stdin/stdout,
  so the slave path (``board.port``) is what users, mpremote and ``legsense sync`` open;
  it stays the same across resets, as a USB-UART bridge's port does;
* the I2C bus and the battery ADC: the VM's requests (JSON lines with the VM's simulated
  time) are served by a SimBoard (IMU emulator fed from the trace), caught up to that
  time first, so the FIFO holds what the chip would hold;
* resets: machine.reset(), the watchdog and soft resets end the Node process with a
  status saying which; the board restarts it on the same flash folder (boot.py, main.py
  run again) after the boot time (sim_machine_common.BOOT_MS), handing the RTC and its
  memory to the next boot. power_cut() kills it with SIGKILL mid-whatever and powers on
  again (RTC and its memory lost); brownout() restarts it as the ESP32 does after a
  brownout (reset cause power-on, RTC kept); hang() stops the firmware dead (the
  watchdog then resets it);
* light sleep: machine.lightsleep() blocks the VM until this side answers. The wake is
  planned on the SimBoard (its timer, the IMU's interrupt line reaching its level when
  the FIFO fills, the watchdog's deadline) and paced: simulated time runs at `speed`
  times real time meanwhile, and a host event (set_usb()) can end the sleep earlier.
  Bytes sent to the serial port while the chip sleeps are dropped (`rx_dropped`), as a
  sleeping ESP32's UART receives nothing. Every awake stretch (from a wake, or the boot,
  to the next sleep) is logged in `awake_log` with what woke it, the firmware's CPU time
  and the I2C bytes it read (the benchmark's duty cycle); the sleeps themselves are in
  `sim.sleeps`. The USB cable is plugged in unless usb_powered=False: then the virtual
  board's VBUS pin (profile usb.vbus) reads 0 and the firmware may sleep.

Simulated time is the VM's (board_runner.mjs): it advances only while the VM waits, at
most ``speed`` times as fast as real time, so a VM slowed by a busy machine slows the
simulation rather than falling behind it (``achieved_speed()`` says how fast it went).
It goes on across resets (the IMU keeps sampling while the MCU reboots). The trace starts
playing 1 ms after the IMU is first switched on (the first night's start), so trace time
0 is the night's first sample, as in the firmware's own replay tests.

Each state folder is one board: its device id (machine.unique_id()) is derived from the
folder's path, so two boards never share one and a restart keeps it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
from pathlib import Path

from legsense.simulation.i2c_bus import EmulatedI2C
from legsense.simulation.micropython_vm import (
    FIRMWARE_DIR,
    MicroPythonUnavailable,
    find_node,
    find_package,
    unavailable_reason,
)
from legsense.simulation.sim_board import SimBoard, Sleep
from legsense.simulation.vm_board.mp_lib import sim_machine_common as common
from legsense.trace import Trace

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "board_runner.mjs"
MP_LIB = HERE / "mp_lib"
DEFAULT_HEAP_BYTES = 256 * 1024
DEFAULT_FLASH_BYTES = 2 * 1024 * 1024  # an ESP32 with 4 MB flash: about 2 MB of LittleFS
NEVER_NS = 1 << 62

EXIT_STDIN_CLOSED = 0
EXIT_HARD_RESET = 10
EXIT_SOFT_RAW = 11
EXIT_SOFT_FRIENDLY = 12

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
SOFT_RESET = 5

STALE_OUTPUT_S = 2.0  # output nobody reads for this long is dropped, as by a UART
RELAY_CHUNK = 65536
FAULT_STATUS = {"exception": 250, "memory": 251}  # the VM's machine.I2C raises these


def uid_for_state(state_dir: Path | str) -> bytes:
    """The unique id (6 bytes, an Espressif-style MAC) of the virtual board whose flash
    is state_dir: derived from the folder's absolute path, so each folder is its own
    board and keeps its id across restarts."""
    digest = hashlib.sha256(str(Path(state_dir).resolve()).encode()).digest()
    return bytes.fromhex("240ac4") + digest[:3]


class BoardFailed(RuntimeError):
    """The VM could not start or died in a way a reset does not explain."""


def seed_flash(state_dir: Path, board: str = "virtual") -> None:
    """A fresh board's flash: an empty folder gets a config naming its board profile
    (what the factory writes); an existing one is left as it is."""
    state_dir.mkdir(parents=True, exist_ok=True)
    if not any(state_dir.iterdir()):
        (state_dir / "config.json").write_text(json.dumps({"board": board}) + "\n")


def flash_firmware(state_dir: Path, config: dict) -> None:
    """What `make flash` puts on a board (firmware/'s .py files without caches, the
    board profiles under /boards), on a fresh board's flash, plus `config` over the
    virtual board's profile."""
    seed_flash(state_dir)
    for src in FIRMWARE_DIR.rglob("*"):
        rel = src.relative_to(FIRMWARE_DIR)
        if "__pycache__" in rel.parts or not src.is_file():
            continue
        if src.suffix == ".py" or (rel.parts[0] == "boards" and src.suffix == ".json"):
            (state_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, state_dir / rel)
    (state_dir / "config.json").write_text(json.dumps({"board": "virtual", **config}))


def from_zero(trace: Trace | None) -> Trace | None:
    """The trace with its first sample at time 0 (a logger's clock may start anywhere)."""
    if trace is None or len(trace.t_s) == 0 or trace.t_s[0] == 0:
        return trace
    t0 = trace.t_s[0]
    return Trace(t_s=trace.t_s - t0, acc_g=trace.acc_g, gyr_dps=trace.gyr_dps, meta=trace.meta)


class VirtualBoard:
    """One virtual board (see the module doc). start() returns the serial port's path."""

    def __init__(
        self,
        trace: Trace | None,
        state_dir: Path | str,
        *,
        speed: float = 1.0,
        imu: str = "lsm6dsox",
        heap_bytes: int = DEFAULT_HEAP_BYTES,
        flash_bytes: int = DEFAULT_FLASH_BYTES,
        log=None,
        usb_powered: bool = True,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        reason = unavailable_reason()
        if reason:
            raise MicroPythonUnavailable(reason)
        self.state_dir = Path(state_dir).resolve()
        seed_flash(self.state_dir)
        self.speed = float(speed)
        self.heap_bytes = heap_bytes
        self.flash_bytes = flash_bytes
        self.sim = SimBoard(
            "virtual",
            imu=imu,
            trace=from_zero(trace),
            uid=uid_for_state(self.state_dir),
            usb_powered=usb_powered,
        )
        self.sim.trace_start_ns = NEVER_NS  # set when the IMU is first switched on
        self._sleep: dict | None = None  # the VM's pending machine.lightsleep()
        self._events: list[tuple[str, object]] = []  # host events (set_usb) to apply
        self.awake_log: list[dict] = []  # each awake stretch: what woke it, CPU, I2C bytes
        self.rx_dropped = 0  # serial bytes that arrived while the chip slept
        self._bus_mark = (0, 0)  # bus bytes read, clocks at the last wake
        self._woke = (0, 0.0)  # (cause, ms) of the last wake (0: a boot)
        self._empty_bus = EmulatedI2C(-1, -1, -1)
        self._world = 0.0  # simulated ms: where the VM's clock stood at its last word
        self._rtc_offset_ms: float | None = None  # None: restarts with the power
        self._rtc_memory = ""
        self._fault_status = 0
        self.log = log or (lambda text: None)
        self.boots = 0
        self.resets: list[str] = []  # why each reboot happened
        self.failure: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._to_vm = bytearray()
        self._to_port = bytearray()
        self._port_blocked_since: float | None = None
        self._req_buf = bytearray()
        self._stderr_tail: list[str] = []
        self._lock = threading.Lock()
        self._power_cut = False
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line discipline: a UART's bytes
        self.port = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()

    # --- life cycle -------------------------------------------------------------------

    def start(self) -> str:
        """Power on; returns the serial port's path."""
        self._launch("normal", PWRON_RESET)
        self._thread = threading.Thread(target=self._serve, name="virtual-board", daemon=True)
        self._thread.start()
        return self.port

    def close(self) -> None:
        """Power off for good (the flash folder stays)."""
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(10)
        self._kill()
        for fd in (self.master, self._slave, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> VirtualBoard:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def power_cut(self) -> None:
        """Cut the power now (SIGKILL of the VM, whatever it is doing), then power on."""
        with self._lock:
            self._power_cut = True
            proc = self._proc
        if proc is not None:
            proc.kill()
        os.write(self._wake_w, b"x")

    def brownout(self) -> None:
        """A brownout: the ESP32 restarts its CPU (reset cause power-on) while the RTC
        and its memory stay up."""
        self._signal(signal.SIGUSR1)

    def hang(self) -> None:
        """The firmware hangs for good (nothing runs); the watchdog will reset it."""
        self._signal(signal.SIGUSR2)

    def asleep_for_s(self) -> float:
        """Real seconds left in the light sleep the firmware is in now (0: awake)."""
        sleep = self._sleep
        if sleep is None:
            return 0.0
        return max(0.0, self._sleep_left_s(sleep))

    def set_usb(self, powered: bool) -> None:
        """Plug in (True) or pull out the USB cable: the VBUS pin follows at the current
        simulated time, and a sleeping firmware wakes if VBUS is one of its sources."""
        with self._lock:
            self._events.append(("usb", bool(powered)))
        os.write(self._wake_w, b"x")

    def inject_fault(self, kind: str) -> None:
        """The next IMU transfer raises in the firmware: kind "exception" (ValueError)
        or "memory" (MemoryError)."""
        self._fault_status = FAULT_STATUS[kind]

    def _signal(self, signum: int) -> None:
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signum)

    @property
    def pid(self) -> int | None:
        """The VM process's id (None between boots)."""
        proc = self._proc
        return proc.pid if proc is not None else None

    def world_ms(self) -> float:
        """Simulated time since the board was first powered, in ms (as the VM last said)."""
        return self._world

    def achieved_speed(self) -> float:
        """Simulated seconds per real second since start() (at most the speed asked)."""
        real = time.monotonic() - self._t0
        return self._world / 1000.0 / real if real > 0 else 0.0

    def wait_world_ms(self, target_ms: float, timeout_s: float | None = None) -> None:
        """Block (real time) until simulated time reaches target_ms. BoardFailed when the
        board fails first, or when timeout_s real seconds pass without any progress of
        simulated time (a VM that stopped)."""
        last = self._world
        stalled_since = time.monotonic()
        while self._world < target_ms:
            if self.failure:
                raise BoardFailed(self.failure)
            time.sleep(min(0.05, max(0.005, (target_ms - self._world) / self.speed / 1000.0)))
            if self._world != last:
                last = self._world
                stalled_since = time.monotonic()
            elif timeout_s is not None and time.monotonic() - stalled_since > timeout_s:
                raise BoardFailed(f"simulated time stood still for {timeout_s:g} s")

    @property
    def trace_start_ms(self) -> float | None:
        """Simulated time of trace time 0 (None until the IMU was switched on)."""
        ns = self.sim.trace_start_ns
        return None if ns == NEVER_NS else ns / 1e6

    # --- the VM process ---------------------------------------------------------------

    def _launch(self, boot: str, cause: int) -> None:
        node, mjs = find_node(), find_package()
        assert node is not None and mjs is not None
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        start_ms = self._world + common.BOOT_MS
        self._world = start_ms
        self._sleep = None
        self._woke = (0, start_ms)
        if self._rtc_offset_ms is None:  # powered on: the RTC starts at 2000-01-01 now
            self._rtc_offset_ms = -(start_ms - common.BOOT_MS)
            self._rtc_memory = ""
        spec = {
            "package": str(mjs),
            "heap_bytes": self.heap_bytes,
            "flash_dir": str(self.state_dir),
            "flash_bytes": self.flash_bytes,
            "lib_dir": str(MP_LIB),
            "speed": self.speed,
            "start_ms": start_ms,
            "rtc_offset_ms": self._rtc_offset_ms,
            "rtc_memory_hex": self._rtc_memory,
            "boot": boot,
            "reset_cause": cause,
            "uid_hex": self.sim.uid.hex(),
            "rtc_gpios": ",".join(str(p) for p in self.sim.rtc_pins),
            "driven_pins": ",".join(str(p) for p in self._driven_pins()),
            "req_fd": req_w,
            "resp_fd": resp_r,
        }
        fd, spec_path = tempfile.mkstemp(prefix="legsense-vmboard-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(spec, f)
        try:
            proc = subprocess.Popen(
                [node, str(RUNNER), spec_path],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(req_w, resp_r),
            )
        finally:
            os.close(req_w)
            os.close(resp_r)
        self._spec_path = spec_path
        self._req_r, self._resp_w = req_r, resp_w
        self._req_buf.clear()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            assert stream is not None
            os.set_blocking(stream.fileno(), False)
        with self._lock:
            self._proc = proc
        self.boots += 1
        self.log(f"boot {self.boots} ({boot}, reset cause {cause})")

    def _driven_pins(self) -> list[int]:
        pins = []
        int1 = self.sim.profile["imu"].get("int1_pin")
        if int1 is not None:
            pins.append(int1)
        if self.sim.vbus_pin is not None:
            pins.append(self.sim.vbus_pin)
        return pins

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._reap()

    def _reap(self) -> None:
        proc = self._proc
        if proc is None:
            return
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()  # type: ignore[union-attr]
        for fd in (self._req_r, self._resp_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(self._spec_path)
        with self._lock:
            self._proc = None

    def _restart(self, status: int) -> None:
        why = self._stderr_tail[-1] if self._stderr_tail else ""
        with self._lock:
            cut = self._power_cut
            self._power_cut = False
        self._reap()
        if cut:
            self.resets.append("power cut")
            self._rtc_offset_ms = None  # the RTC and its memory went with the power
            if self.sim.imu is not None:  # so did the IMU's
                self.sim.advance_imu()
                self.sim.imu.reset()
            self._launch("normal", PWRON_RESET)
        elif status == EXIT_HARD_RESET:
            self.resets.append(why or "hard reset")
            if "brownout" in why:
                cause = PWRON_RESET
            else:
                cause = WDT_RESET if "watchdog" in why else HARD_RESET
            self._launch("normal", cause)
        elif status == EXIT_SOFT_RAW:
            self.resets.append("soft reset (raw REPL)")
            self._launch("raw", SOFT_RESET)
        elif status == EXIT_SOFT_FRIENDLY:
            self.resets.append("soft reset")
            self._launch("normal", SOFT_RESET)
        else:
            tail = "\n".join(self._stderr_tail[-5:])
            self.failure = f"the MicroPython VM exited with status {status}: {tail}"
            self.log(self.failure)

    # --- the serving thread -----------------------------------------------------------

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                proc = self._proc
                if proc is None:
                    if self.failure:
                        self._serve_port_only()
                        continue
                    return
                self._step(proc)
        except Exception as e:  # reported through .failure; the port stays
            self.failure = f"virtual board stopped: {e!r}"
            self.log(self.failure)

    def _serve_port_only(self) -> None:
        # A dead board: its port is still there (the host may have it open).
        select.select([self._wake_r], [], [], 0.5)

    def _step(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin and proc.stdout and proc.stderr
        out_fd, err_fd, in_fd = proc.stdout.fileno(), proc.stderr.fileno(), proc.stdin.fileno()
        readers = [self.master, out_fd, err_fd, self._req_r, self._wake_r]
        writers = []
        if self._to_vm:
            writers.append(in_fd)
        if self._to_port:
            writers.append(self.master)
        timeout = 0.5
        if self._sleep is not None:
            timeout = max(0.0, min(timeout, self._sleep_left_s()))
        r, w, _ = select.select(readers, writers, [], timeout)
        if self._wake_r in r:
            os.read(self._wake_r, 64)
        if self._req_r in r:
            self._serve_bus()
        if self.master in r:
            with contextlib.suppress(OSError):
                data = os.read(self.master, RELAY_CHUNK)
                if self._sleep is not None:
                    self.rx_dropped += len(data)  # a sleeping chip's UART hears nothing
                else:
                    self._to_vm += data
        self._apply_events()
        if self._sleep is not None:
            self._check_sleep()
        if in_fd in w and self._to_vm:
            try:
                n = os.write(in_fd, self._to_vm)
                del self._to_vm[:n]
            except BlockingIOError:
                pass
            except OSError:  # the VM is going down: keep the bytes for the next boot
                pass
        if err_fd in r:
            self._read_stderr(err_fd)
        ended = False
        if out_fd in r:
            try:
                data = os.read(out_fd, RELAY_CHUNK)
            except BlockingIOError:
                data = None
            if data == b"":
                ended = True
            elif data:
                self._to_port += data
        self._write_port()
        if ended or proc.poll() is not None:
            self._drain(proc)
            status = proc.wait()
            if not self._stop.is_set():
                self._restart(status)

    def _drain(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout and proc.stderr
        for fd, sink in ((proc.stdout.fileno(), "port"), (proc.stderr.fileno(), "err")):
            while True:
                try:
                    data = os.read(fd, RELAY_CHUNK)
                except (BlockingIOError, OSError):
                    break
                if not data:
                    break
                if sink == "port":
                    self._to_port += data
                else:
                    self._note_stderr(data)
        self._write_port()

    def _read_stderr(self, fd: int) -> None:
        try:
            data = os.read(fd, RELAY_CHUNK)
        except (BlockingIOError, OSError):
            return
        self._note_stderr(data)

    def _note_stderr(self, data: bytes) -> None:
        for line in data.decode("utf-8", "replace").splitlines():
            if line.strip():
                self._stderr_tail = [*self._stderr_tail[-20:], line]
                self.log(line)

    def _write_port(self) -> None:
        if not self._to_port:
            self._port_blocked_since = None
            return
        try:
            n = os.write(self.master, self._to_port)
            del self._to_port[:n]
            self._port_blocked_since = None
        except BlockingIOError:
            now = time.monotonic()
            if self._port_blocked_since is None:
                self._port_blocked_since = now
            elif now - self._port_blocked_since > STALE_OUTPUT_S:
                # Nobody reads the port: drop what waits, as a UART with no listener.
                termios.tcflush(self._slave, termios.TCIFLUSH)
                self._to_port.clear()
                self._port_blocked_since = None

    # --- the bus ----------------------------------------------------------------------

    def _serve_bus(self) -> None:
        try:
            chunk = os.read(self._req_r, RELAY_CHUNK)
        except BlockingIOError:
            return
        if not chunk:
            return
        self._req_buf += chunk
        while True:
            end = self._req_buf.find(b"\n")
            if end < 0:
                return
            line = bytes(self._req_buf[:end])
            del self._req_buf[: end + 1]
            req = json.loads(line)
            self._world = max(self._world, float(req["t"]))
            if req["op"] == "time":
                continue  # a notice: no answer
            if req["op"] == "state":  # a reset is coming: what the next boot keeps
                self._rtc_offset_ms = float(req["rtc_offset_ms"])
                self._rtc_memory = str(req["rtc_memory_hex"])
                continue
            if req["op"] == "sleep":
                self._begin_sleep(req)
                return  # the VM waits for the answer: nothing more comes meanwhile
            status, data = self._bus_request(req)
            self._reply(status, data)

    def _reply(self, status: int, data: bytes) -> None:
        reply = struct.pack("<BH", status, len(data)) + data
        view = memoryview(reply)
        while view:
            try:
                n = os.write(self._resp_w, view)
            except BlockingIOError:
                select.select([], [self._resp_w], [], 1.0)
                continue
            view = view[n:]

    # --- light sleep ------------------------------------------------------------------

    def _begin_sleep(self, req: dict) -> None:
        sim = self.sim
        t0 = float(req["t"])
        t0_ns = int(t0 * 1_000_000)
        if t0_ns > sim.clock.now_ns:
            sim.clock.advance_to_ns(t0_ns)
        ext0_pin, ext0_level = req["ext0"]
        sim.ext0 = None if ext0_pin < 0 else (int(ext0_pin), bool(ext0_level))
        pins, high = req["ext1"]
        ids = tuple(int(p) for p in str(pins).split(",") if p)
        sim.ext1 = (ids, bool(high)) if ids else None
        stats = sim.bus.stats
        self.awake_log.append(
            {
                "woke_by": self._woke[0],
                "start_ms": self._woke[1],
                "end_ms": t0,
                "cpu_us": int(req.get("cpu_us", 0)),
                "bridge_us": int(req.get("bridge_us", 0)),
                "bus_requests": int(req.get("bus", 0)),
                "bytes_read": stats.bytes_read - self._bus_mark[0],
                "bus_clocks": stats.clocks - self._bus_mark[1],
            }
        )
        self._sleep = {
            "t0": t0,
            "real0": time.monotonic(),
            "ms": float(req["ms"]),
            "wdt": float(req["wdt"]),
        }
        self._plan_sleep()
        self._check_sleep()

    def _plan_sleep(self) -> None:
        # When the chip wakes if nothing from outside intervenes.
        sleep = self._sleep
        assert sleep is not None
        sim = self.sim
        cause = sim.wake_now()
        now_ms = sim.clock.now_ns / 1e6
        if cause:
            sleep["wake"], sleep["cause"] = now_ms, cause
            return
        deadline = sleep["t0"] + sleep["ms"] if sleep["ms"] >= 0 else float("inf")
        wake, cause = deadline, common.TIMER_WAKE
        int1 = sim.profile["imu"].get("int1_pin")
        for ext, code in ((sim.ext0, common.EXT0_WAKE), (sim.ext1, common.EXT1_WAKE)):
            if ext is None or int1 is None or sim.imu is None:
                continue
            pins = ext[0] if isinstance(ext[0], tuple) else (ext[0],)
            active = 0 if sim._int_low() else 1
            if int1 in pins and int(ext[1]) == active:
                t_int = sim.next_int_ns()
                if t_int is not None and t_int / 1e6 < wake:
                    wake, cause = max(now_ms, t_int / 1e6), code
        if sleep["wdt"] >= 0 and sleep["wdt"] < wake:
            wake, cause = sleep["wdt"], -1  # the watchdog resets the board first
        sleep["wake"], sleep["cause"] = wake, cause

    def _sleep_world_ms(self) -> float:
        sleep = self._sleep
        assert sleep is not None
        paced = sleep["t0"] + (time.monotonic() - sleep["real0"]) * self.speed * 1000.0
        return min(paced, sleep["wake"])

    def _sleep_left_s(self, sleep: dict | None = None) -> float:
        sleep = sleep or self._sleep
        assert sleep is not None
        left_ms = sleep["wake"] - (
            sleep["t0"] + (time.monotonic() - sleep["real0"]) * 1000.0 * self.speed
        )
        return left_ms / 1000.0 / self.speed

    def _check_sleep(self) -> None:
        sleep = self._sleep
        if sleep is None:
            return
        now = self._sleep_world_ms()
        self._world = max(self._world, now)
        if now >= sleep["wake"]:
            self._end_sleep(sleep["wake"], sleep["cause"])

    def _end_sleep(self, t_ms: float, cause: int) -> None:
        sleep = self._sleep
        assert sleep is not None
        self._sleep = None
        sim = self.sim
        t_ns = int(t_ms * 1_000_000)
        if t_ns > sim.clock.now_ns:
            sim.clock.advance_to_ns(t_ns)
        sim.advance_imu()
        sim.sleeps.append(Sleep(int(sleep["t0"] * 1_000_000), t_ns, max(cause, 0)))
        self._world = max(self._world, t_ms)
        stats = sim.bus.stats
        self._bus_mark = (stats.bytes_read, stats.clocks)
        self._woke = (cause, t_ms)
        if cause < 0:
            reply = {"t": t_ms, "cause": 0, "reset": "watchdog"}
        else:
            sim.wake_cause = cause
            reply = {"t": t_ms, "cause": cause}
        self._reply(0, json.dumps(reply).encode())

    def _apply_events(self) -> None:
        with self._lock:
            events, self._events = self._events, []
        for kind, value in events:
            sim = self.sim
            now_ms = self._sleep_world_ms() if self._sleep is not None else self._world
            now_ns = int(now_ms * 1_000_000)
            if now_ns > sim.clock.now_ns:
                sim.clock.advance_to_ns(now_ns)
            if kind == "usb":
                sim.set_usb(bool(value))
            if self._sleep is not None:
                cause = sim.wake_now()
                if cause:
                    self._end_sleep(now_ms, cause)

    def _bus_request(self, req: dict) -> tuple[int, bytes]:
        sim = self.sim
        world_ns = int(float(req["t"]) * 1_000_000)
        if world_ns > sim.clock.now_ns:
            sim.clock.advance_to_ns(world_ns)
        op = req["op"]
        if op == "pin":  # an input the host drives (INT1, VBUS)
            return 0, bytes((sim.pin(int(req["pin"])).read(),))
        fault = self._fault_status
        if fault and op in ("rm", "wm", "r", "w"):
            self._fault_status = 0
            return fault, b""
        if op == "adc":
            return 0, struct.pack("<i", sim.adc_uv(int(req["pin"])))
        bus = sim.bus if tuple(req["bus"]) == (sim.bus.bus_id, sim.bus.scl, sim.bus.sda) else None
        bus = bus or self._empty_bus
        addr, reg, n = int(req["addr"]), int(req["reg"]), int(req["n"])
        data = bytes.fromhex(req["hex"]) if req["hex"] else b""
        try:
            if op == "rm":
                out = bus.readfrom_mem(addr, reg, n)
            elif op == "wm":
                bus.writeto_mem(addr, reg, data)
                out = b""
            elif op == "r":
                out = bus.readfrom(addr, n)
            elif op == "w":
                bus.writeto(addr, data)
                out = b""
            elif op == "scan":
                out = bytes(bus.scan())
            else:
                return 22, b""  # EINVAL
        except OSError as e:
            return e.errno or 5, b""
        if sim.trace_start_ns == NEVER_NS and sim.imu is not None and sim.imu.odr_hz > 0:
            # The first switch-on: trace time 0 plays 1 ms from now.
            sim.trace_start_ns = sim.clock.now_ns + 1_000_000
        return 0, bytes(out)


def run_until_signalled(board: VirtualBoard, report_every_s: float = 10.0) -> int:
    """Serve until SIGINT or SIGTERM; exit status 0 (1 if the VM failed). Every
    `report_every_s` real seconds the board's `log` hears how fast the simulation goes
    (printed with `legsense sim -v`). Either board: VirtualBoard or CPythonBoard."""
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    said = time.monotonic()
    try:
        while not stop.is_set():
            stop.wait(0.2)
            if time.monotonic() - said >= report_every_s:
                said = time.monotonic()
                board.log(
                    f"simulated {board.world_ms() / 1000:.0f} s, achieved speed "
                    f"{board.achieved_speed():.1f}x (at most {board.speed:g}x)"
                )
            if board.failure:
                print(f"legsense sim: {board.failure}", file=sys.stderr)
                return 1
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        board.close()
    return 0
