"""Light sleep on the MicroPython VM board (issue 12): the real firmware on the real VM
sleeps between FIFO bursts once the USB cable is out, wakes on the IMU's INT1, hears
nothing on its serial port meanwhile, wakes again when the cable goes back in, and
`legsense sync` then gets the night the detector makes of exactly those samples.

Figures from the datasheets and the configuration, not from the firmware: at 26 Hz the
app's watermark is 90 % of a 6 s sleep (the 8 s watchdog less 2 s): 140 samples, a burst
every 5.38 s, each 140 x 14 bytes from the LSM6DSOX's tagged FIFO (tag + 6 data bytes
per sensor).
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
import tty

import pytest
from legsense.simulation.micropython_vm import unavailable_reason
from legsense.simulation.vm_board.board import VirtualBoard
from legsense.simulation.vm_board.mp_lib import sim_machine_common as common
from legsense.trace import write_trace
from test_hil_replay import (
    TRACES,
    as_sampled,
    cli,
    events,
    flash,
    load,
    night_folder,
)

pytestmark = pytest.mark.hil

SPEED = 100.0


@pytest.fixture(autouse=True)
def _vm():
    if reason := unavailable_reason():
        pytest.skip(reason)


def test_sync_works_against_a_board_that_slept_through_its_night(tmp_path):
    trace = load(TRACES / "plmd-gyro-26hz.csv.gz", tmp_path)
    state = tmp_path / "flash"
    flash(state, {"odr_hz": 26, "raw_samples": True})
    out = tmp_path / "synced"
    with VirtualBoard(trace, state, speed=SPEED) as board:
        cli("time", "--port", board.port, "--set", "--out", str(tmp_path / "clock"))
        cli("start", "--port", board.port)
        start = board.trace_start_ms
        assert start is not None
        board.set_usb(False)  # bedtime: the cable comes out, nothing keeps it awake
        # A host talking now reaches nobody: a sleeping chip's UART hears nothing.
        fd = os.open(board.port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
        board.wait_world_ms(start + 70_000, timeout_s=120)
        for _ in range(200):  # bytes that land in an awake moment reach the link instead
            if board.rx_dropped >= 16:
                break
            if board.asleep_for_s() > 0.03:
                os.write(fd, b"\x00" * 16)
            time.sleep(0.005)
        os.close(fd)
        board.wait_world_ms(start + trace.t_s[-1] * 1000.0 + 1000.0, timeout_s=120)
        board.set_usb(True)  # morning: plugged in again, it wakes and stays awake
        board.wait_world_ms(board.world_ms() + 300.0, timeout_s=120)
        cli("stop", "--port", board.port)
        cli("sync", "--port", board.port, "--out", str(out), "--no-picture", "-q")
        assert board.resets == [], board.resets
        log = board.awake_log
        dropped = board.rx_dropped
        sleeps = board.sim.sleeps
    assert dropped >= 16
    # It slept once the host had been quiet for a minute (the `start` it got last):
    # bursts every 5.38 s on INT1 from then on, and only short timer wakes between.
    int1 = [s for s in sleeps if s.cause == common.EXT1_WAKE]
    gaps = [(b.end_ns - a.end_ns) / 1e9 for a, b in itertools.pairwise(int1)]
    asleep_s = trace.t_s[-1] - 60.0
    assert len(int1) >= int(asleep_s / (140 / 26.0)) - 1
    assert statistics.median(gaps) == pytest.approx(140 / 26.0, abs=0.02)
    slept = sum(s.end_ns - s.start_ns for s in sleeps) / 1e9
    assert slept > 0.95 * asleep_s
    # Each INT1 burst read the 140 samples of 14 bytes each (plus status reads).
    reads = [e["bytes_read"] for e in log if e["woke_by"] == common.EXT1_WAKE]
    burst = statistics.median(reads[1:])
    assert 140 * 14 <= burst <= 140 * 14 + 64
    # The night it synced is the detector's on the samples it logged, and the host's
    # model of the emulator's sampling gives the same night.
    folder = night_folder(out)
    got = events(folder)
    assert got
    from_raw = tmp_path / "from_raw"
    cli("analyze", str(folder / "raw.csv"), "--out", str(from_raw), "--no-picture", "-q")
    assert got == events(from_raw)
    sampled = as_sampled(trace, 26.0)
    sampled_csv = tmp_path / "sampled.csv"
    write_trace(sampled_csv, sampled)
    offline = tmp_path / "offline"
    cli("analyze", str(sampled_csv), "--out", str(offline), "--no-picture", "-q")
    assert got == events(offline)


PROBE = """
import esp32, machine, sys
out = []
try:
    esp32.wake_on_ext0(machine.Pin(5), esp32.WAKEUP_ANY_HIGH)
except ValueError as e:
    out.append("ext0: %s" % e)
try:
    esp32.wake_on_ext1([machine.Pin(27), machine.Pin(23)], esp32.WAKEUP_ANY_HIGH)
except ValueError as e:
    out.append("ext1: %s" % e)
out.append("before %d" % machine.wake_reason())
t0 = machine.sim_ticks_ms()
machine.lightsleep(250)
out.append("timer %d %d" % (machine.wake_reason(), machine.sim_ticks_ms() - t0))
esp32.wake_on_ext1([machine.Pin(34)], esp32.WAKEUP_ANY_HIGH)
t0 = machine.sim_ticks_ms()
machine.lightsleep(1000)
out.append("vbus %d %d" % (machine.wake_reason(), machine.sim_ticks_ms() - t0))
with open("/probe.txt", "w") as f:
    f.write("\\n".join(out))
"""


def test_the_vm_board_allows_only_rtc_gpios_and_reports_the_wake_reason(tmp_path):
    state = tmp_path / "flash"
    state.mkdir()
    (state / "main.py").write_text(PROBE)
    with VirtualBoard(None, state, speed=SPEED) as board:  # USB in: VBUS high
        board.wait_world_ms(3000.0, timeout_s=60)
    lines = (state / "probe.txt").read_text().splitlines()
    assert lines == [
        "ext0: invalid pin 5: not an RTC GPIO",
        "ext1: invalid pin 23: not an RTC GPIO",
        "before 0",
        f"timer {common.TIMER_WAKE} 250",
        f"vbus {common.EXT1_WAKE} 0",  # a level already at its wake value wakes at once
    ]
