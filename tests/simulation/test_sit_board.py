"""A SIT end to end on a virtual board: the firmware (legsense_device.app on a CPython
SimBoard, its IMU replaying a simulated trace) runs a SIT the host started over the link,
the button gives ratings (SimBoard.press_button), the host types one, `legsense sync`'s
engine fetches it over a pty, and the trend report shows it.

Expected, from outside the code under test:
* ratings.csv holds exactly the ratings pressed (3 presses = 3; a prompt left alone =
  missed; a long press = 0) and typed (6, `host`), in that order;
* a short press outside a prompt is a `button` marker, not a rating;
* events.csv holds the movements the detector finds offline in the samples the IMU
  produced during the SIT (bilateral_rig.reference_movements): same count, onsets equal
  up to the one shift between the two time origins;
* the SIT ends with M_SIT_DONE after the last prompt, and is never counted as a night.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import tty
from datetime import UTC, datetime

import numpy as np
import pytest
from bilateral_rig import LegPlan, LegRun, reference_movements
from legsense.device_client import DeviceClient
from legsense.night_catalog import scan
from legsense.simulation import machine_shim
from legsense.simulation.night_generator import simulate_night
from legsense.simulation.sim_board import BOARDS_DIR, SimBoard
from legsense.simulation.virtual_loop import VirtualTimeLoop, _cancel_all
from legsense.sync import SyncEngine
from legsense.transport import SerialTransport
from legsense_core import records

WORLD0_MS = int(datetime(2026, 1, 5, 19, 0, tzinfo=UTC).timestamp() * 1000)
SIT_MIN = 4
EVERY_MIN = 1
START_S = 20.0  # the host starts the SIT (board seconds)


async def _at(seconds: float) -> None:
    await asyncio.sleep(max(0.0, seconds - asyncio.get_running_loop().time()))


def run_sit(tmp_path):
    trace, _labels = simulate_night(17, 5 / 60, 52.0, profile="plmd")
    state = tmp_path / "device"
    state.mkdir()
    shutil.copytree(BOARDS_DIR, state / "boards")
    (state / "config.json").write_text(
        '{"board": "virtual", "odr_hz": 52, "leg": "left", "person": "anna"}'
    )
    board = SimBoard("virtual", imu="lsm6dsox", trace=trace, trace_start_ms=0)
    assert board.feeder is not None
    ticks, rows = [], []

    def seen(t, r) -> None:
        ticks.append(np.array(t, dtype=np.float64))
        rows.append(np.maximum(np.array(r, dtype=np.int64) - 1, 0))

    board.feeder.on_ticks = seen
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    out = tmp_path / "data"
    found: dict = {}

    def utc_ms() -> int:
        return WORLD0_MS + board.clock.now_ns // 1_000_000

    try:
        with machine_shim.installed(board):
            from legsense_device.app import App
            from legsense_device.usb_link import FdPort

            app = App(fs_root=str(state))
            app.link_port = FdPort(master)  # pyright: ignore[reportAttributeAccessIssue]
            loop = VirtualTimeLoop(board.clock)
            selector = loop._selector  # pyright: ignore[reportAttributeAccessIssue]

            async def with_host(fn):
                transport = SerialTransport(port)
                selector.speed = 1.0
                try:
                    client = DeviceClient(transport, timeout=10.0)
                    await client.hello()
                    return await fn(client)
                finally:
                    await transport.close()
                    selector.speed = None

            async def sync(client):
                return await SyncEngine(client, out, utc_now_ms=utc_ms, picture=True).run()

            async def press(at_s: float, hold_s: float = 0.3) -> None:
                await _at(at_s)
                board.press_button(True)
                await _at(at_s + hold_s)
                board.press_button(False)

            async def main() -> None:
                runner = asyncio.create_task(app.run())
                await asyncio.sleep(0)
                try:
                    await _at(5.0)
                    await with_host(lambda c: c.set_time(utc_ms))
                    await _at(START_S)
                    found["started"] = await with_host(lambda c: c.start_sit(SIT_MIN, EVERY_MIN))
                    t0 = START_S
                    await _at(t0 + 61.0)
                    found["led_in_prompt"] = app.led_state()
                    for k in range(3):  # prompt 1: three presses = 3
                        await press(t0 + 62.0 + k)
                    await press(t0 + 90.0)  # outside a prompt: the person's marker
                    # prompt 2 (t0 + 120 s): nobody answers -> missed at t0 + 180 s
                    await press(t0 + 185.0, hold_s=2.6)  # prompt 3: a long press = 0
                    await _at(t0 + 245.0)  # prompt 4 (at the SIT's end): typed at the host
                    found["rating"] = await with_host(lambda c: c.sit_rating(6))
                    await _at(t0 + 260.0)
                    found["state_after"] = app.session.state
                    found["report"] = await with_host(sync)
                finally:
                    runner.cancel()

            try:
                loop.run_until_complete(main())
            finally:
                _cancel_all(loop)
                loop.close()
    finally:
        os.close(master)
        os.close(slave)
    plan = LegPlan("left", b"", odr_hz=52)
    night = found["report"].nights[0]
    sit = json.loads((night.folder / "summary.json").read_text())
    start_world = START_S
    end_world = START_S + sit["recording"]["recording_s"]
    run = LegRun(plan, [], np.concatenate(ticks), np.concatenate(rows), (start_world, end_world))
    return found, out, night.folder, reference_movements(run, trace, 0.0)


@pytest.fixture(scope="module")
def sit_run(tmp_path_factory):
    return run_sit(tmp_path_factory.mktemp("sit"))


def test_the_sit_folder_holds_what_was_pressed_and_typed(sit_run):
    found, out, folder, _ref = sit_run
    assert found["started"][0] == "recording"
    assert found["led_in_prompt"] == "sit prompt"
    assert found["rating"] == 6
    assert found["state_after"] == "stopped"  # ended itself after the last prompt
    assert folder.name.endswith("_sit_1") and folder.parent.name == "240ac4a1b2c3"
    rows = list(csv.DictReader((folder / "ratings.csv").open()))
    assert [(r["rating"], r["source"]) for r in rows] == [
        ("3", "button"),
        ("missed", "button"),
        ("0", "button"),
        ("6", "host"),
    ]
    minutes = [float(r["minute"]) for r in rows]
    # each rating is taken within its prompt's window (prompts at 1, 2, 3, 4 min)
    for k, m in enumerate(minutes, start=1):
        assert k <= m <= k + 1.05, minutes
    markers = list(csv.DictReader((folder / "markers.csv").open()))
    codes = [int(m["code"]) for m in markers]
    assert codes.count(records.M_BUTTON) == 1
    assert codes[-1] == records.M_SIT_DONE
    s = json.loads((folder / "summary.json").read_text())
    assert s["kind"] == "sit" and s["completed"] is True and s["planned_min"] == SIT_MIN
    assert s["test_min"] == SIT_MIN  # scored over the planned minutes
    assert s["discomfort"]["rating_count"] == 3 and s["discomfort"]["missed_count"] == 1
    assert (folder / "sit.png").exists()
    cat = scan(out)
    assert cat.nights == [] and len(cat.sits) == 1


def test_the_sit_folder_events_are_the_replayed_movements(sit_run):
    _found, _out, folder, ref = sit_run
    rows = list(csv.DictReader((folder / "events.csv").open()))
    got = np.array([float(r["onset_s"]) for r in rows])
    s = json.loads((folder / "summary.json").read_text())
    want = np.sort(ref.onset_s)
    assert len(want) > 5, "the trace should move during the SIT"
    # events.csv keeps the movements that began within the test; the reference those of
    # the samples up to the night's end: compare the ones before the test's end.
    shift = got[0] - want[0]
    want = want[want + shift < s["test_min"] * 60.0]
    assert len(got) == len(want)
    assert np.max(np.abs(got - (want + shift))) < 0.05


# --- `legsense sit`: the host starts the SIT, sends typed ratings, syncs it -------------


def run_host_sit(tmp_path, config: str, ratings: dict[int, int]):
    """The board runs; sit_session() drives it over the pty (waits in virtual time)."""
    from legsense.commands.sit import sit_session

    trace, _labels = simulate_night(17, 5 / 60, 52.0, profile="plmd")
    state = tmp_path / "device"
    state.mkdir()
    shutil.copytree(BOARDS_DIR, state / "boards")
    (state / "config.json").write_text(config)
    board = SimBoard("virtual", imu="lsm6dsox", trace=trace, trace_start_ms=0)
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    out = tmp_path / "data"
    found: dict = {}

    def utc_ms() -> int:
        return WORLD0_MS + board.clock.now_ns // 1_000_000

    try:
        with machine_shim.installed(board):
            from legsense_device.app import App
            from legsense_device.usb_link import FdPort

            app = App(fs_root=str(state))
            app.link_port = FdPort(master)  # pyright: ignore[reportAttributeAccessIssue]
            loop = VirtualTimeLoop(board.clock)
            selector = loop._selector  # pyright: ignore[reportAttributeAccessIssue]

            async def virtual_sleep(s: float) -> None:
                selector.speed = None  # nobody talks meanwhile: pure virtual time
                try:
                    await asyncio.sleep(s)
                finally:
                    selector.speed = 1.0

            async def host(client: DeviceClient):
                try:
                    found["night"] = await sit_session(
                        client,
                        SIT_MIN,
                        EVERY_MIN,
                        ratings=ratings,
                        utc_now_ms=utc_ms,
                        sleep=virtual_sleep,
                    )
                except Exception as exc:  # what the command would report
                    found["error"] = exc
                    return
                found["report"] = await SyncEngine(
                    client, out, utc_now_ms=utc_ms, picture=False
                ).run()

            async def main() -> None:
                runner = asyncio.create_task(app.run())
                await asyncio.sleep(0)
                try:
                    await _at(5.0)
                    transport = SerialTransport(port)
                    selector.speed = 1.0
                    try:
                        client = DeviceClient(transport, timeout=10.0)
                        await client.hello()
                        await host(client)
                    finally:
                        await transport.close()
                        selector.speed = None
                finally:
                    runner.cancel()

            try:
                loop.run_until_complete(main())
            finally:
                _cancel_all(loop)
                loop.close()
    finally:
        os.close(master)
        os.close(slave)
    return found, out


def test_legsense_sit_sends_the_ratings_and_syncs(tmp_path):
    config = '{"board": "virtual", "odr_hz": 52, "leg": "left", "person": "anna"}'
    found, _out = run_host_sit(tmp_path, config, {1: 5, 3: 8})
    assert "error" not in found, found.get("error")
    (night,) = found["report"].nights
    rows = list(csv.DictReader((night.folder / "ratings.csv").open()))
    # minutes 1 and 3 typed at the host; 2 and 4 left to the button, nobody pressed
    assert [(r["rating"], r["source"]) for r in rows] == [
        ("5", "host"),
        ("missed", "button"),
        ("8", "host"),
        ("missed", "button"),
    ]
    s = json.loads((night.folder / "summary.json").read_text())
    assert s["completed"] is True and s["recording"]["person"] == "anna"
    assert s["recording"]["start_utc"] is not None  # the clock was set before the start


def test_legsense_sit_refuses_a_device_without_a_person(tmp_path):
    from legsense.errors import InputError

    found, out = run_host_sit(tmp_path, '{"board": "virtual", "odr_hz": 52}', {})
    err = found.get("error")
    assert isinstance(err, InputError) and "the device has no person" in str(err)
    assert err.exit_status == 2
    assert not (out).exists()  # nothing started, nothing synced
