"""The SIT on the device: the prompt/rating scheme (sit_session.py, pure logic) and the
app's hooks (long press while idle starts a SIT, the header says so, the host can stop
it early, the link's SIT_START / SIT_RATING)."""

from __future__ import annotations

import json

import pytest
from app_harness import Run, at, night_records, of_type
from legsense.simulation.sim_board import SimBoard
from legsense_core import protocol as P
from legsense_core import records
from legsense_device.sit_session import (
    COUNT_GAP_MS,
    DONE,
    PROMPT,
    PROMPT_WINDOW_MS,
    RATING,
    SitSession,
    check_plan,
)

MIN = 60_000


def test_scheme_presses_long_press_missed_host_and_done():
    s = SitSession(3, 1)  # prompts at 1, 2, 3 min; done after the last is answered
    assert s.header() == {"mode": "sit", "sit_min": 3, "rating_every_min": 1}
    assert s.tick(MIN - 1) == []
    assert s.tick(MIN) == [(PROMPT,)]
    assert s.press(MIN + 1000) and s.press(MIN + 2000)
    assert s.tick(MIN + 2000 + COUNT_GAP_MS - 1) == []  # still counting
    assert s.tick(MIN + 2000 + COUNT_GAP_MS) == [(RATING, 2, "button")]
    assert not s.press(MIN + 30_000)  # no prompt open: the person's own marker
    assert s.tick(2 * MIN) == [(PROMPT,)]
    assert s.tick(2 * MIN + PROMPT_WINDOW_MS - 1) == []
    # the missed prompt closes exactly when the next one (3 min) opens
    assert s.tick(2 * MIN + PROMPT_WINDOW_MS) == [
        (RATING, records.RATING_MISSED, "button"),
        (PROMPT,),
    ]
    assert s.tick(3 * MIN + 10) == []  # the prompt due at the end is answered first
    assert s.host_rating(7) == (RATING, 7, "host")
    assert s.tick(3 * MIN + 20) == [(DONE,)]
    assert s.tick(3 * MIN + 30) == []


def test_long_press_answers_zero_and_presses_cap_at_ten():
    s = SitSession(10, 5)
    s.tick(5 * MIN)
    assert s.long_press() == (RATING, 0, "button")
    assert s.long_press() is None  # no prompt: the app stops the SIT early
    s.tick(10 * MIN)
    for k in range(14):
        s.press(10 * MIN + 100 * k)
    # the last prompt was the one due at the end: answered, the SIT is done
    assert s.tick(10 * MIN + 1300 + COUNT_GAP_MS) == [(RATING, 10, "button"), (DONE,)]


@pytest.mark.parametrize("plan", [(0, 10), (241, 10), (60, 0), (60, 61), (60.0, 10)])
def test_bad_plans(plan):
    assert check_plan(*plan) is not None
    with pytest.raises(ValueError):
        SitSession(*plan)
    with pytest.raises(ValueError):
        SitSession(60, 10).host_rating(11)


def test_long_press_while_idle_starts_a_sit_and_the_host_stops_it_early(root):
    board = SimBoard("virtual")

    async def scenario(app):
        await at(2.0)
        board.press_button(True)
        await at(4.6)  # held past 2 s: a long press while idle
        board.press_button(False)
        await at(5.0)
        started = (app.session.state, app.sit is not None and app.sit.sit_min)
        await at(70.0)
        ok, why = app.sit_rating(4)  # no prompt open: logged all the same
        await at(615.0)  # the first prompt of the default plan: 10 min after the start (4 s)
        prompting = app.led_state()
        await at(620.0)
        stopped = app.stop("host")
        return started, prompting, ok, why, stopped, app.sit

    run = Run(board, root)(scenario)
    started, prompting, ok, why, stopped, sit_after = run.result
    assert started == ("recording", 60)
    assert prompting == "sit prompt" and ok, why
    assert stopped[0] and sit_after is None
    recs = night_records(root)
    header = dict(zip(records.NIGHT_FIELDS, of_type(recs, records.T_NIGHT)[0], strict=True))
    cfg = json.loads(bytes(header["config_json"]))
    assert (cfg["mode"], cfg["sit_min"], cfg["rating_every_min"]) == ("sit", 60, 10)
    markers = of_type(recs, records.T_MARKER)
    ratings = [(m[2], m[3]) for m in markers if m[1] == records.M_RATING]
    assert ratings == [(4, "host")]
    assert markers[-1][1] == records.M_STOP_HOST  # stopped early: not M_SIT_DONE


def test_link_sit_start_and_rating(root):
    from legsense_device.protocol_server import AppControl, ProtocolServer

    board = SimBoard("virtual")

    async def scenario(app):
        server = ProtocolServer(AppControl(app))
        await at(2.0)

        def ask(mtype, seq, values):
            n = server.handle(_req(mtype, seq, values))
            return P.decode_body(bytes(server.reply[:n]))

        start = ask(P.SIT_START, 1, (5, 1))
        busy = ask(P.SIT_START, 2, (5, 1))
        bad = ask(P.SIT_RATING, 3, (11,))
        await at(63.0)
        rated = ask(P.SIT_RATING, 4, (9,))
        return start, busy, bad, rated

    run = Run(board, root)(scenario)
    start, busy, bad, rated = run.result
    assert start[0] == P.SIT_START_REPLY and start[2] == (1, 1)
    assert busy[0] == P.ERROR and busy[2][0] == P.E_BUSY
    assert bad[0] == P.ERROR and bad[2][0] == P.E_BAD_REQUEST
    assert rated[0] == P.SIT_RATING_REPLY and rated[2] == (9,)


def _req(mtype, seq, values):
    from legsense_core.frames import MAX_BODY

    buf = bytearray(MAX_BODY)
    return bytes(buf[: P.encode_body(buf, mtype, seq, values)])


def test_resume_at_asks_the_next_prompt_due_after_the_reset():
    s = SitSession(30, 10)  # prompts at 10, 20, 30 min
    s.resume_at(14 * MIN)  # reset 4 min after the 10-min prompt: not asked again
    assert s.prompts == 1 and s.tick(19 * MIN) == []
    assert s.tick(20 * MIN) == [(PROMPT,)]
    late = SitSession(30, 10)
    late.resume_at(31 * MIN)  # back after the end: nothing left to ask, done at once
    assert late.tick(31 * MIN) == [(DONE,)]


def test_a_reset_during_a_sit_goes_on_with_its_prompts_and_ends_it(root):
    # A watchdog reset 90 s into a 3-min SIT (prompts at 1, 2, 3 min): the night resumes,
    # the 2- and 3-min prompts still open (left alone here: missed), M_SIT_DONE ends it.
    from legsense.simulation.device_runner import DeviceRunner

    board = SimBoard("virtual")
    runner = DeviceRunner(board, root)
    start_s = 2.0
    runner.run(
        300.0,
        [
            (start_s, lambda app: app.start_sit("host", 3, 1)),
            (start_s + 62.0, lambda app: app.sit_rating(5)),
            (start_s + 90.0, runner.inject("watchdog")),
        ],
    )
    markers = of_type(night_records(root), records.T_MARKER)
    codes = [m[1] for m in markers]
    assert records.M_RESUMED in codes
    ratings = [(m[0], m[2], m[3]) for m in markers if m[1] == records.M_RATING]
    assert [(v, text) for _t, v, text in ratings] == [
        (5, "host"),
        (records.RATING_MISSED, "button"),
        (records.RATING_MISSED, "button"),
    ]
    # the missed ones close their prompts' windows: 2 and 3 min after the start + 60 s
    assert [t for t, _v, _x in ratings[1:]] == [
        2 * MIN + PROMPT_WINDOW_MS,
        3 * MIN + PROMPT_WINDOW_MS,
    ]
    assert codes[-1] == records.M_SIT_DONE
