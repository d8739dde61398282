"""The virtual board (firmware on the MicroPython VM) keeps time honestly and a night
survives its resets.

* Simulated time advances only while the VM waits: a VM that gets no CPU for a while
  (SIGSTOP, or a machine busy with other work) slows the simulation instead of falling
  behind it, so the watchdog does not fire (it fired on a loaded machine before).
* Brownout and a hung firmware (the watchdog) resume the night with a "resumed" marker
  naming the cause; the clock set before is still set after; a power cut closes it.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from legsense.simulation.micropython_vm import unavailable_reason
from legsense.simulation.vm_board.board import VirtualBoard
from legsense.simulation.vm_board.mp_lib.sim_machine_common import BOOT_MS
from legsense_core import records
from legsense_device.resume import MIRROR_MS
from test_hil_replay import cli, flash

pytestmark = [pytest.mark.hil, pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def vm_ok():
    if reason := unavailable_reason():
        pytest.skip(reason)


def markers(state):
    data = (state / "nights" / "00000001.log").read_bytes()
    return [p for _o, t, p in records.iter_records(data) if t == records.T_MARKER]


def test_a_starved_vm_slows_the_simulation_instead_of_resetting(tmp_path):
    state = tmp_path / "flash"
    flash(state, {"odr_hz": 26})
    speed = 20.0
    with VirtualBoard(None, state, speed=speed) as board:
        cli("start", "--port", board.port)
        board.wait_world_ms(board.world_ms() + 5000, timeout_s=60)
        pid = board.pid
        assert pid is not None
        before = board.world_ms()
        os.kill(pid, signal.SIGSTOP)  # no CPU for 1 s: 20 s of simulated time at 20x
        time.sleep(1.0)
        os.kill(pid, signal.SIGCONT)
        board.wait_world_ms(before + 15_000, timeout_s=60)
        assert board.resets == []  # the watchdog (8 s) saw the firmware keep up
        assert board.achieved_speed() <= speed * 1.05
        cli("stop", "--port", board.port)
    assert [m[1] for m in markers(state)] == [records.M_STARTED, records.M_STOP_HOST]


def test_brownout_and_watchdog_resume_the_night_and_keep_the_clock(tmp_path):
    state = tmp_path / "flash"
    flash(state, {"odr_hz": 26})
    with VirtualBoard(None, state, speed=20.0) as board:
        cli("time", "--port", board.port, "--set", "--out", str(tmp_path / "clock"))
        cli("start", "--port", board.port)
        board.wait_world_ms(board.world_ms() + 20_000, timeout_s=60)
        board.brownout()
        board.wait_world_ms(board.world_ms() + 20_000, timeout_s=60)
        board.hang()  # the firmware stops dead; the watchdog resets the board
        board.wait_world_ms(board.world_ms() + 30_000, timeout_s=60)
        assert [r.split(": ")[-1][:8] for r in board.resets] == ["brownout", "watchdog"]
        out = cli("time", "--port", board.port)
        assert "no time" not in out and "difference" in out  # UTC survived both resets
        cli("stop", "--port", board.port)
        board.power_cut()  # after the night: nothing to resume, the clock is gone
        board.wait_world_ms(board.world_ms() + 5_000, timeout_s=60)
    got = markers(state)
    resumed = [m for m in got if m[1] == records.M_RESUMED]
    assert [m[3] for m in resumed] == ["brownout", "watchdog"]
    # Not recorded: the boot, plus the time since the newest sample mirrored in RTC memory:
    # mirrored at the polls (every 500 ms at 26 Hz) once MIRROR_MS has passed; the newest
    # sample's counted time may lag the MCU's clock (after a resume up to about 1.5 s on
    # the VM, pulled back by the slew at most half a period per read); a hang adds the
    # watchdog's 8 s on top.
    since = MIRROR_MS + 2 * 500 + 1500
    assert BOOT_MS <= resumed[0][2] <= BOOT_MS + since
    assert 8000 + BOOT_MS <= resumed[1][2] <= 8000 + BOOT_MS + since
    assert got[-1][1] == records.M_STOP_HOST
