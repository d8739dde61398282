"""Setting the clock mid-night is a step, not drift: the night keeps its device-time
spacing and moves in UTC to where the latest setting puts it.

On the main of before this change every test here fails: the anchors were interpolated
whatever they said, so a clock first set minutes off and corrected mid-night squeezed the
night (recording_hours 0.0084 instead of 0.13, 0 LM instead of 3).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fake_device import UTC0_MS, FakeDevice, FakeLink, NightSpec, build_night, fake_night
from legsense.analysis import analyze_trace
from legsense.night_decode import decode_night
from legsense.night_folder import events_csv
from legsense.scoring import ScoringParams, score_movements
from legsense.simulation.night_generator import simulate_night
from legsense.time_base import build_time_base
from legsense_core import protocol as P
from legsense_core import records
from link_device import DEVICE_ID, Client
from sync_harness import Rig, sync_port

MIN = 60_000
HOUR = 3_600_000
DAY = 24 * HOUR


def device_events(data: bytes) -> list[tuple]:
    return [p for _, t, p in records.iter_records(data) if t == records.T_EVENT]


CASES = {
    # name: (header offset from the truth, [(device ms, offset) of each later setting])
    "5-min-fast-corrected-once": (5 * MIN, [(10 * MIN, 0)]),
    "5-min-slow-corrected-once": (-5 * MIN, [(10 * MIN, 0)]),
    "3-h-off-corrected-once": (3 * HOUR, [(25 * MIN, 0)]),
    "a-day-behind-corrected-once": (-DAY, [(12 * MIN, 0)]),
    "a-day-ahead-corrected-many-times": (
        DAY,
        [(10 * MIN, 0), (20 * MIN, 2 * HOUR), (30 * MIN, 0), (40 * MIN, -7 * MIN), (50 * MIN, 0)]
        + [(52 * MIN + k * 60_000, 0) for k in range(5)],  # resets to the same time: noise
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_step_moves_the_night_without_rescaling_it(tmp_path, name):
    header_off, settings = CASES[name]
    spec = NightSpec(
        1,
        uid=0xC10C,
        minutes=60,
        seed=5,
        header_anchor=(0, UTC0_MS + header_off),
        anchors=[(d, UTC0_MS + d + off) for d, off in settings],
    )
    night = fake_night(spec)
    link = FakeLink(FakeDevice([night]))
    try:
        report = sync_port(link.port, tmp_path / "host")
    finally:
        link.close()
    folder = report.nights[0].folder
    assert folder is not None
    rows = list(csv.DictReader(io.StringIO((folder / "events.csv").read_text())))
    events = sorted(device_events(night.data))
    assert len(rows) == len(events) > 50
    # every event exactly where the device counted it: no squeeze, no stretch
    for row, ev in zip(rows, events, strict=True):
        assert float(row["onset_s"]) == pytest.approx(ev[0] / 1000.0, abs=5e-4)
        assert float(row["offset_s"]) == pytest.approx(ev[1] / 1000.0, abs=5e-4)
        utc = datetime.fromisoformat(row["onset_utc"])
        # the last setting was right, and it places the whole night
        truth = datetime.fromtimestamp(UTC0_MS / 1000, tz=UTC) + timedelta(milliseconds=ev[0])
        assert abs((utc - truth).total_seconds()) <= 0.001
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["recording_hours"] == 1.0
    assert summary["recording"]["start_utc"] == "2026-01-05T22:30:00+00:00"
    levels = [header_off] + [off for _, off in settings]
    expected_steps = sum(1 for a, b in itertools.pairwise(levels) if a != b)
    assert summary["clock"]["steps"] == expected_steps
    assert summary["clock"]["utc_known"] is True
    assert summary["clock"]["drift_ppm"] is None and summary["clock"]["drift_reason"]


def test_time_set_mid_night_on_the_device_keeps_the_night(tmp_path):
    """The issue's case on the device's own code (NightLog, protocol server): the clock
    first set 4 minutes off, a 1 h detected night, `legsense time --set` half-way."""
    trace, _ = simulate_night(3, 1.0, 52)
    del trace.meta["leg"]
    detection, info = analyze_trace(trace)
    r = Rig(tmp_path / "device")
    try:
        client = Client(r.link.slave)
        client.call(P.SET_TIME, (r.clock.utc_now_ms() + 4 * MIN,))  # a wrong host clock
        true_start = r.clock.utc_now_ms()
        assert r.device.start("host")[0]
        m, e = detection.movements, detection.epochs
        half = 1_800_000
        for i in range(len(m)):
            if m.onset_s[i] * 1000 < half:
                r.device.log.append_event(_event(m, i))
        for i in range(len(e)):
            if e.start_s[i] * 1000 < half:
                r.device.log.append_epoch(_epoch(e, i))
        r.clock.advance(half)
        client.call(P.SET_TIME, (r.clock.utc_now_ms(),))  # a right one, mid-night
        for i in range(len(m)):
            if m.onset_s[i] * 1000 >= half:
                r.device.log.append_event(_event(m, i))
        for i in range(len(e)):
            if e.start_s[i] * 1000 >= half:
                r.device.log.append_epoch(_epoch(e, i))
        r.clock.advance(round(float(e.start_s[-1] + e.epoch_s) * 1000) - half)
        assert r.device.stop("host")[0]
        r.clock.advance(2 * HOUR)
        report = r.sync(tmp_path / "host")
    finally:
        r.close()
    folder = report.nights[0].folder
    assert folder is not None
    summary = json.loads((folder / "summary.json").read_text())
    scoring = score_movements(detection.movements, info, ScoringParams())
    assert summary["recording_hours"] == scoring.summary["recording_hours"]
    assert summary["lm_count"] == scoring.summary["lm_count"] > 0
    assert summary["plm_count"] == scoring.summary["plm_count"] > 0
    assert summary["clock"]["steps"] == 1

    def first_12(text: str) -> list[str]:  # onset_utc aside: the trace's start is not ours
        return [",".join(line.split(",")[:12]) for line in text.splitlines()]

    expected = first_12(events_csv(detection.movements, scoring, info))
    assert first_12((folder / "events.csv").read_text()) == expected  # to the millisecond
    start = datetime.fromisoformat(summary["recording"]["start_utc"])
    assert abs(start.timestamp() * 1000 - true_start) <= 50  # the latency the host adds


def _event(m, i) -> tuple:
    return (
        round(m.onset_s[i] * 1000),
        round(m.offset_s[i] * 1000),
        int(m.peak_mg[i]),
        int(m.peak_dps[i]),
        int(m.channels[i]),
        0,
    )


def _epoch(e, i) -> tuple:
    return (
        round(e.start_s[i] / e.epoch_s),
        int(e.n_samples[i]),
        round(e.active_s[i] * 1000),
        int(e.activity_mg_s[i]),
        *(int(v) for v in e.posture_mg[i]),
    )


def test_drift_is_measured_only_within_an_era():
    # 80 ppm fast crystal: 288 ms per hour. A step of a day at 1 h; the second era has
    # anchors 30 min apart that measure the drift; the first era keeps its own slope 1.
    ppm = 80.0
    true0 = UTC0_MS

    def dev_at(true_ms: float) -> int:
        return round(true_ms * (1 + ppm * 1e-6))

    anchors = [(0, true0 - DAY)]  # the wrong setting: no drift can be learnt from it
    for k in range(4):
        t = HOUR + k * 30 * MIN
        anchors.append((dev_at(t), true0 + t))
    tb = build_time_base(anchors)
    assert len(tb.steps) == 1 and abs(tb.steps[0][1] - DAY) < 1000
    assert tb.drift_ppm == pytest.approx(ppm, abs=0.5)
    # within the second era device time maps to true time
    d = np.array([dev_at(HOUR + 10 * MIN), dev_at(2 * HOUR)])
    assert np.allclose(tb.to_utc(d), [true0 + HOUR + 10 * MIN, true0 + 2 * HOUR], atol=1.0)
    # the first era joins it at the step with the device's own spacing
    first = tb.to_utc(np.array([0, dev_at(HOUR)]))
    assert first[1] - first[0] == pytest.approx(dev_at(HOUR), abs=0.5)


def test_implausible_anchors_are_ignored_with_a_warning():
    night = build_night(
        NightSpec(
            1,
            uid=1,
            minutes=10,
            anchors=[(2 * MIN, 2**64 - 1), (3 * MIN, 5), (4 * MIN, UTC0_MS + 4 * MIN)],
        )
    )
    decoded = decode_night(night)
    assert decoded.clock.anchors_ignored == 2
    assert decoded.clock.warnings and "implausible" in decoded.clock.warnings[0]
    assert decoded.info.start_utc == datetime.fromtimestamp(UTC0_MS / 1000, tz=UTC)
    assert decoded.clock.steps == []


def test_clock_set_far_off_after_the_night_is_a_warning_not_a_rescale(tmp_path):
    """The morning sync finds the device clock an hour off (another host set it): that
    estimate fails the drift limit, is reported, and the night keeps its evening anchor."""
    r = Rig(tmp_path / "device")
    try:
        out = tmp_path / "host"
        r.sync(out)  # evening: the anchor
        nid = r.device.record_night(n_events=20, raw_chunks=0)
        Client(r.link.slave).call(P.SET_TIME, (r.clock.utc_now_ms() + HOUR,))  # not logged
        r.clock.advance(HOUR)
        report = r.sync(out)
        folder = report.nights[0].folder
        assert folder is not None
        summary = json.loads((folder / "summary.json").read_text())
        decoded = decode_night((folder / "night.bin").read_bytes())
    finally:
        r.close()
    assert nid == 1
    events = decoded.records.events
    rows = list(csv.DictReader(io.StringIO((folder / "events.csv").read_text())))
    assert [float(x["onset_s"]) for x in rows] == [e[0] / 1000.0 for e in events]
    assert summary["clock"]["warnings"], summary["clock"]
    assert summary["clock"]["steps"] == 0
    assert DEVICE_ID in str(folder)
