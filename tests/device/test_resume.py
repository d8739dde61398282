"""A night survives resets: the app on the CPython board through watchdog, hard, soft,
panic (an exception or MemoryError in the sampling task) and brownout resets resumes the
same night with a "resumed" marker; a power cut does not (the RTC is gone); five resets
within ten minutes end the night with a "reset loop" marker; UTC and the night's clock
go on across a reset; nothing buffered before a reset is lost.

Expected values come from the design (marker codes and texts, the 1.5 s boot time of
the simulated board, the loop rule) and from the board's own reset log, never from the
app's output.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from app_harness import exact_rate_trace, night_records, of_type, write_config
from legsense.simulation.device_runner import DeviceRunner
from legsense.simulation.sim_board import SimBoard
from legsense.simulation.vm_board.mp_lib.sim_machine_common import BOOT_MS
from legsense_core import records
from legsense_device.resume import LOOP_RESETS, MIRROR_MS

UTC_SET = int(datetime(2026, 11, 21, 22, 0, tzinfo=UTC).timestamp() * 1000)
START_S = 2.0  # the host starts the night
RESET_S = 200.0  # the fault


def _night(root, kind: str):
    """A night with one fault; returns the board, the runner and, read by the app near
    the end: (status before the stop, the stop's answer, status after)."""
    board = SimBoard("virtual")
    runner = DeviceRunner(board, root)
    seen = []
    timeline = [
        (1.0, lambda app: app.set_time(UTC_SET)),
        (START_S, lambda app: app.start("host")),
        (RESET_S, runner.inject(kind)),
        (390.0, lambda app: seen.append(app.status())),
        (395.0, lambda app: seen.append(app.stop("host"))),
        (396.0, lambda app: seen.append(app.status())),
    ]
    runner.run(400.0, timeline)
    return board, runner, seen


def _markers(root, night_id=1):
    return of_type(night_records(root, night_id), records.T_MARKER)


@pytest.mark.parametrize(
    ("kind", "word"),
    [
        ("hard", "hard"),
        ("soft", "soft"),
        ("exception", "panic"),
        ("memory", "panic"),
        ("brownout", "brownout"),
        ("watchdog", "watchdog"),
    ],
)
def test_each_reset_but_a_power_cut_resumes_the_same_night(root, kind, word):
    board, _runner, (during, stopped, after) = _night(root, kind)
    assert [k for _ns, k in board.resets] == [
        kind if kind not in ("exception", "memory") else "hard"
    ]
    # one night, still recording after the reset, with one "resumed" marker
    assert sorted(p.name for p in (root / "nights").glob("*.log")) == ["00000001.log"]
    assert during["state"] == "recording" and during["reset_cause"] == word
    resumed = [m for m in _markers(root) if m[1] == records.M_RESUMED]
    assert len(resumed) == 1
    t_ms, _code, gap_ms, text = resumed[0]
    assert text == word
    # the night's clock goes on across the reset: the marker is at the moment the app
    # ran again, night ms since the start at 2 s
    reset_ns, _ = board.resets[0]
    boot_at_ms = (reset_ns / 1e6 + BOOT_MS) - START_S * 1000
    assert abs(t_ms - boot_at_ms) <= 1
    # not recorded: from the newest sample mirrored before the reset (at most MIRROR_MS
    # and a poll old) to the resume; a hang adds the watchdog's 8 s before its reset
    hang_ms = 8000 if kind == "watchdog" else 0
    assert BOOT_MS + hang_ms <= gap_ms <= BOOT_MS + hang_ms + MIRROR_MS + 250 + 20
    # a plain stop after the resume works and closes the night
    assert stopped == (True, "stopped by host") and after["state"] == "stopped"
    assert _markers(root)[-1][1] == records.M_STOP_HOST
    assert not (root / "nights" / "recording").exists()


def test_a_power_cut_closes_the_night_instead(root):
    _board, _runner, (during, stopped, _after) = _night(root, "power cut")
    assert during["state"] == "idle" and during["reset_cause"] == "power-on"
    assert stopped == (False, "not recording")
    markers = _markers(root)
    assert not [m for m in markers if m[1] == records.M_RESUMED]
    assert markers[-1][1] == records.M_RECOVERED and markers[-1][3] == "power-on"
    # the clock went with the power
    assert during["utc_ms"] == 0
    assert not (root / "nights" / "recording").exists()


def test_utc_survives_a_reset_but_not_a_power_cut(root):
    board = SimBoard("virtual")
    runner = DeviceRunner(board, root)
    seen = []
    runner.run(
        100.0,
        [
            (1.0, lambda app: app.set_time(UTC_SET)),
            (10.0, runner.inject("hard")),
            (50.0, lambda app: seen.append(app.status()["utc_ms"])),
            (60.0, runner.inject("power cut")),
            (90.0, lambda app: seen.append(app.status()["utc_ms"])),
        ],
    )
    assert abs(seen[0] - (UTC_SET + 49_000)) <= 2  # set at 1 s, read at 50 s
    assert seen[1] == 0


def test_a_reset_loop_ends_the_night_and_says_why(root):
    board = SimBoard("virtual")
    runner = DeviceRunner(board, root)
    faults = [(START_S + 60.0 * (i + 1), runner.inject("hard")) for i in range(LOOP_RESETS)]
    seen = []
    runner.run(
        600.0,
        [
            (START_S, lambda app: app.start("host")),
            *faults,
            (590.0, lambda app: seen.append((app.status(), app.led_state()))),
        ],
    )
    markers = _markers(root)
    resumed = [m for m in markers if m[1] == records.M_RESUMED]
    assert len(resumed) == LOOP_RESETS - 1  # the fifth reset within 10 min ends it
    assert markers[-1][1] == records.M_RESET_LOOP
    assert markers[-1][3] == "5 resets in 10 min, last hard"
    status, led = seen[0]
    assert status["state"] == "idle"
    assert any(e.startswith("reset loop:") for e in status["errors"])
    assert led == "error"


def test_a_reset_loses_nothing_recorded_before_it(root):
    # A PLMD night at 52 Hz: every event the detector finished before the reset is in
    # the night log afterwards, although the log had not flushed it to flash (it was
    # in the RTC memory's mirror of the log buffer).
    trace = exact_rate_trace(0.2, 52.0, "lsm6dsox", seed=3)
    write_config(root, {"board": "virtual", "odr_hz": 52})
    board = SimBoard("virtual", trace=trace, trace_start_ms=int(START_S * 1000) + 1)
    runner = DeviceRunner(board, root)
    finished_before = []

    def before_reset(app):
        finished_before.append(app.sampler.events)

    runner.run(
        700.0,
        [
            (START_S, lambda app: app.start("host")),
            (RESET_S + 30.0, before_reset),  # mid-minute: the log has not flushed
            (RESET_S + 30.0, runner.inject("hard")),
        ],
    )
    recs = night_records(root)
    resumed_at = [m for m in of_type(recs, records.T_MARKER) if m[1] == records.M_RESUMED]
    before = [e for e in of_type(recs, records.T_EVENT) if e[1] < resumed_at[0][0]]
    assert finished_before[0] > 0
    assert len(before) == finished_before[0]


def test_nights_have_fresh_uids_and_the_boot_count(root):
    board = SimBoard("virtual")
    runner = DeviceRunner(board, root)
    runner.run(
        100.0,
        [
            (1.0, lambda app: app.start("host")),
            (10.0, lambda app: app.stop("host")),
            (20.0, runner.inject("hard")),
            (30.0, lambda app: app.start("host")),
            (40.0, lambda app: app.stop("host")),
        ],
    )
    h1 = dict(zip(records.NIGHT_FIELDS, night_records(root, 1)[0][1], strict=True))
    h2 = dict(zip(records.NIGHT_FIELDS, night_records(root, 2)[0][1], strict=True))
    assert h1["night_uid"] != h2["night_uid"] and h1["night_uid"] and h2["night_uid"]
    assert (h1["boot_count"], h2["boot_count"]) == (1, 2)
    # an erased and reinstalled board (an empty flash) counts ids from 1 again, with
    # new UIDs: (device id, UID) still tells the nights apart
    import shutil

    shutil.rmtree(root / "nights")
    DeviceRunner(board, root).run(
        200.0, [(110.0, lambda app: app.start("host")), (120.0, lambda app: app.stop("host"))]
    )
    h3 = dict(zip(records.NIGHT_FIELDS, night_records(root, 1)[0][1], strict=True))
    assert h3["night_id"] == 1 and h3["night_uid"] not in (h1["night_uid"], h2["night_uid"])
    assert h3["boot_count"] == 1
