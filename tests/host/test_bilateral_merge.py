"""A person's two legs as one night, through the real sync: two devices (the real night
log and protocol server behind a pty, tests/link_device.py) configured as anna's left and
right leg record the labelled movements of a synthetic bilateral night on their own
clocks (crystals +40 and -40 ppm, set at different times, corrected mid-night), and
`legsense sync` of each makes DIR/persons/anna/<date>_bilateral_<id>/.

The truth is the labels scored bilaterally by scoring.score_wasm2016 here, in the test:
the merged night's LMs must be those, each onset within a few ms (the clock maps measure
the crystals' drift between anchors). Bad input (two left legs, a device without a
person, nights that do not overlap, a clock never set) gets its message and status.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import edfio
import numpy as np
import pytest
from legsense.bilateral_pairs import PERSONS
from legsense.cli import main
from legsense.errors import EXIT_UNSYNCED, EXIT_USAGE
from legsense.night import Movements
from legsense.night_catalog import scan
from legsense.scoring import ScoringParams, score_wasm2016
from legsense.simulation.bilateral_generator import simulate_bilateral_night
from link_device import BOARD, FIRMWARE, IMU, LogDevice, PtyLink
from sync_harness import UTC0_MS, Rig, SimClock

HOUR_MS = 3_600_000
EPOCH_MS = 30_000


class LegDevice(LogDevice):
    """A LogDevice with its own id, and the person and leg in its nights' headers (as
    the app writes them from its config)."""

    def __init__(self, root: Path, device_id: str, person: str, leg: str) -> None:
        super().__init__(root)
        self.device_id = device_id
        self.header_json = json.dumps(
            {"epoch_ms": EPOCH_MS, "leg": leg, "person": person}, separators=(",", ":")
        ).encode()

    def identity(self):
        return self.device_id, FIRMWARE, BOARD, IMU

    def start(self, source):
        ok, why = self.session.start(source)
        if ok:
            self.night_ticks = self.ticks_ms
            anchor_dev, anchor_utc = (0, 0)
            if self.anchor is not None:
                anchor_dev = self.anchor[0] - self.ticks_ms
                anchor_utc = self.anchor[1]
            self.log.start_night(
                self.device_id, FIRMWARE, BOARD, IMU, 52000, (61, 1), (8750, 1),
                self.ticks_ms, anchor_dev, anchor_utc, self.header_json,
            )  # fmt: skip
        return ok, why


class LegRig(Rig):
    """Rig (tests/sync_harness.py) around a LegDevice."""

    def __init__(self, root: Path, device_id: str, person: str, leg: str, ppm: float = 0.0):
        self.device = LegDevice(root, device_id, person, leg)
        self.clock = SimClock(self.device, ppm)
        self.link = PtyLink(self.device)
        self.port = os.ttyname(self.link.slave)

    def goto(self, true_ms: int) -> None:
        assert true_ms >= self.clock.true_ms
        self.clock.advance(true_ms - self.clock.true_ms)

    def device_ms(self, true_ms: int) -> int:
        """Device ms since its night started, at true time true_ms."""
        d = self.clock.drift
        return round(true_ms * (1 + d)) - round(self.night_true_ms * (1 + d))

    def record(self, out: Path, onset_ms, offset_ms, start_ms, stop_ms, syncs_ms=()) -> None:
        """A night from start_ms to stop_ms (true ms since UTC0) with these movements,
        synced at each of syncs_ms (during the night: a mid-night clock correction) and
        once after it stopped."""
        self.goto(start_ms)
        assert self.device.start("host")[0]
        self.night_true_ms = start_ms
        log = self.device.log
        cuts = [*sorted(syncs_ms), stop_ms]
        done = 0
        epoch = 0
        for cut in cuts:
            while done < len(onset_ms) and offset_ms[done] < cut:
                a, b = self.device_ms(onset_ms[done]), self.device_ms(offset_ms[done])
                assert log.append_event((a, b, 300, 40, 3, 0))
                done += 1
            while start_ms + (epoch + 1) * EPOCH_MS <= cut:  # the epochs that ended
                assert log.append_epoch((epoch, 1560, 900, 40, -20, 990, 15))
                epoch += 1
            self.goto(cut)
            if cut != stop_ms:
                self.sync(out)
        assert self.device.stop("host")[0]


def true_ms(seconds) -> np.ndarray:
    return np.round(np.asarray(seconds) * 1000).astype(np.int64)


NIGHT_START_MS = 3_600_000  # the movements begin an hour after UTC0 (22:30 + 1 h)


@pytest.fixture(scope="module")
def labels():
    _left, _right, lab = simulate_bilateral_night(21, 0.75, 10.0)
    return lab


def truth_lms(lab, params: ScoringParams | None = None):
    params = params or ScoringParams()
    legs = np.asarray(lab.extra["leg"], dtype=object)
    m = Movements.from_arrays(lab.onset_s, lab.offset_s, legs)
    return score_wasm2016(m, recording_s=float(lab.offset_s.max()) + 60.0, params=params).lms


def two_legs(tmp_path, lab, *, right_person="anna", right_leg="right", right_ppm=-40.0):
    """anna's left (+40 ppm, set at UTC0, corrected at +1 h 10 min) and right leg
    (set 20 min later, corrected at +1 h 25 min), both synced after the night."""
    out = tmp_path / "data"
    rigs = {
        "left": LegRig(tmp_path / "dev-l", "aa00000000l1", "anna", "left", 40.0),
        "right": LegRig(tmp_path / "dev-r", "bb00000000r2", right_person, right_leg, right_ppm),
    }
    legs = np.asarray(lab.extra["leg"])
    plan = {
        "left": (0, NIGHT_START_MS - 120_000, [NIGHT_START_MS + 1_200_000], 900_000),
        "right": (1_200_000, NIGHT_START_MS - 60_000, [NIGHT_START_MS + 2_100_000], 1_200_000),
    }
    for leg, rig in rigs.items():
        set_at, start, mids, after = plan[leg]
        rig.goto(set_at)
        rig.sync(out)
        mine = legs == leg
        on = NIGHT_START_MS + true_ms(lab.onset_s[mine])
        off = NIGHT_START_MS + true_ms(lab.offset_s[mine])
        stop = NIGHT_START_MS + int(lab.offset_s.max() * 1000) + 60_000
        rig.record(out, on, off, start, stop + after // 10, mids)
        rig.goto(stop + after)
    return out, rigs


def merged_folder(out: Path) -> Path:
    found = sorted((out / PERSONS / "anna").glob("*_bilateral_*"))
    assert len(found) == 1, found
    return found[0]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_two_devices_make_one_bilateral_night_equal_to_the_truth(tmp_path, labels):
    out, rigs = two_legs(tmp_path, labels)
    try:
        reports = {leg: rig.sync(out) for leg, rig in rigs.items()}
    finally:
        for rig in rigs.values():
            rig.close()
    # Each final sync brought new bytes of its leg: the merged night was made again.
    for leg in ("left", "right"):
        built = reports[leg].merge.built  # type: ignore[union-attr]
        assert len(built) == 1 and built[0].written
    folder = merged_folder(out)
    assert folder == built[0].folder
    summary = json.loads((folder / "summary.json").read_text())
    truth = truth_lms(labels)
    # The merged movements (both legs on one time axis), scored: LM for LM the truth's,
    # same leg class, candidacy, PLM and series, onsets within a few ms of the truth's
    # (drift is measured between the anchors; device ms are whole).
    rows = read_csv(folder / "events.csv")
    t_shift = (_utc_ms(summary["recording"]["start_utc"]) - (UTC0_MS + NIGHT_START_MS)) / 1000
    got = score_wasm2016(
        Movements.from_arrays(
            np.array([float(r["onset_s"]) for r in rows]) + t_shift,
            np.array([float(r["offset_s"]) for r in rows]) + t_shift,
            np.array([r["leg"] for r in rows], dtype=object),
        ),
        recording_s=float(labels.offset_s.max()) + 60.0,
    ).lms
    assert len(got) == len(truth)
    assert np.abs(got.onset_s - truth.onset_s).max() < 0.005
    assert np.abs(got.offset_s - truth.offset_s).max() < 0.005
    for name in ("leg", "n_mono", "candidate", "plm", "series"):
        assert list(getattr(got, name)) == list(getattr(truth, name)), name
    assert summary["lm_count"] == len(truth)
    assert summary["bilateral_lm_count"] == int((truth.n_mono > 1).sum()) > 5
    assert summary["plm_count"] == int(truth.plm.sum()) > 10
    merged_lms = summary["bilateral"]["combined"]
    assert merged_lms["lm_count"] == len(truth)
    # Per leg: each leg's movements alone, scored over the same time.
    for leg in ("left", "right"):
        mine = np.asarray(labels.extra["leg"]) == leg
        m = Movements.from_arrays(labels.onset_s[mine], labels.offset_s[mine])
        alone = score_wasm2016(m, recording_s=3600.0).summary
        figures = summary["bilateral"]["per_leg"][leg]
        assert figures["lm_count"] == alone["lm_count"]
        assert figures["plm_count"] == alone["plm_count"]
    # The clocks: both drifts measured, opposite in sign; the alignment block says so.
    clocks = summary["clock"]
    assert clocks["left"]["drift_ppm"] == pytest.approx(40.0, abs=1.0)
    assert clocks["right"]["drift_ppm"] == pytest.approx(-40.0, abs=1.0)
    alignment = summary["bilateral"]["alignment"]
    assert alignment["onset_lags"]["pairs"] >= 5
    assert summary["recording"]["person"] == "anna"
    assert summary["recording"]["kind"] == "bilateral"
    # Every file of a night folder is there; the picture was not asked for.
    for name in ("events.csv", "epochs.csv", "markers.csv", "night.edf"):
        assert (folder / name).is_file(), name


def _utc_ms(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp() * 1000.0


def test_merged_events_and_edf_score_again_to_the_same_night(tmp_path, labels, capsys):
    out, rigs = two_legs(tmp_path, labels)
    try:
        for rig in rigs.values():
            rig.sync(out)
    finally:
        for rig in rigs.values():
            rig.close()
    folder = merged_folder(out)
    summary = json.loads((folder / "summary.json").read_text())
    capsys.readouterr()
    assert main(["score", str(folder / "events.csv")]) == 0
    again = json.loads(capsys.readouterr().out)
    for key in ("lm_count", "bilateral_lm_count", "clm_count", "plm_count", "plm_series_count"):
        assert again[key] == summary[key], key
    # The EDF+: one annotation signal per leg besides the time-keeping one; each leg's
    # LMs as "LM left" / "LM right", which a PSG reader scores again bilaterally.
    edf = edfio.read_edf(folder / "night.edf")
    texts = [a.text for a in edf.annotations]
    rows = read_csv(folder / "events.csv")
    for leg in ("left", "right"):
        n = sum(1 for r in rows if r["leg"] == leg and r["lm"] == "1")
        assert texts.count(f"LM {leg}") == n
    assert texts.count("bilateral LM") == summary["lm_count"]
    raw = (folder / "night.edf").read_bytes()
    n_signals = int(raw[252:256].decode())
    labels_in_header = [
        raw[256 + 16 * k : 256 + 16 * (k + 1)].decode().strip() for k in range(n_signals)
    ]
    assert labels_in_header.count("EDF Annotations") == 3
    assert {"activity L", "activity R"} <= set(labels_in_header)
    assert main(["score", str(folder / "night.edf")]) == 0
    psg = json.loads(capsys.readouterr().out)
    assert psg["lm_count"] == summary["lm_count"]
    assert psg["bilateral_lm_count"] == summary["bilateral_lm_count"]


def test_a_resync_with_nothing_new_rewrites_nothing_and_leaves_no_temporaries(tmp_path, labels):
    out, rigs = two_legs(tmp_path, labels)
    try:
        for rig in rigs.values():
            rig.sync(out)
        folder = merged_folder(out)
        before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
        for rig in rigs.values():
            report = rig.sync(out)
            assert report.merge is not None
            assert [b.written for b in report.merge.built] == [False]
    finally:
        for rig in rigs.values():
            rig.close()
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert not [p for p in (out / PERSONS).rglob(".*") if p.name != ".merge.lock"]


def test_the_catalog_counts_a_bilateral_night_once(tmp_path, labels, capsys):
    out, rigs = two_legs(tmp_path, labels)
    try:
        for rig in rigs.values():
            rig.sync(out)
    finally:
        for rig in rigs.values():
            rig.close()
    catalog = scan(out)
    assert [n.folder for n in catalog.nights] == [merged_folder(out)]
    assert catalog.people() == ["anna"]
    singles = [p.parent for p in out.glob("*/*/night.bin")]
    assert len(singles) == 2
    for folder in singles:  # the single-leg nights say whose leg they are
        rec = json.loads((folder / "summary.json").read_text())["recording"]
        assert rec["person"] == "anna" and rec["leg"] in ("left", "right")
    report = tmp_path / "report.html"
    assert main(["report", str(out), "--out", str(report), "-q"]) == 0
    assert report.is_file()


# --- bad input ------------------------------------------------------------------------


def night_of(tmp_path, out, device_id, person, leg, start_ms, minutes=20, ppm=0.0, set_clock=True):
    """A short night with a movement every 25 s, synced after it (and before, to set the
    clock, unless set_clock is False)."""
    rig = LegRig(tmp_path / device_id, device_id, person, leg, ppm)
    try:
        if set_clock:
            rig.goto(max(0, start_ms - 600_000))
            rig.sync(out)
        on = np.arange(start_ms + 30_000, start_ms + minutes * 60_000 - 30_000, 25_000)
        rig.record(out, on, on + 1500, start_ms, start_ms + minutes * 60_000)
        rig.goto(start_ms + minutes * 60_000 + 300_000)
        return rig.sync(out)
    finally:
        rig.close()


def merge_cli(out, capsys, *extra):
    capsys.readouterr()
    status = main(["merge", str(out), "--no-picture", *extra])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_two_left_legs_are_not_merged_and_say_why(tmp_path, capsys):
    out = tmp_path / "data"
    night_of(tmp_path, out, "aa00000000l1", "anna", "left", 4 * HOUR_MS)
    report = night_of(tmp_path, out, "cc00000000l3", "anna", "left", 4 * HOUR_MS + 120_000)
    assert report.merge is not None and not report.merge.built
    problems = [f.text for f in report.merge.problems]
    assert len(problems) == 1 and "anna has two left legs" in problems[0]
    assert "leg=right" in problems[0]
    status, _stdout, err = merge_cli(out, capsys)
    assert status == EXIT_USAGE
    assert "anna has two left legs" in err and "aa00000000l1" in err and "cc00000000l3" in err
    assert not list((out / PERSONS).glob("*/*_bilateral_*"))


def test_sync_exit_status_names_a_merge_problem(tmp_path, capsys):
    """The CLI's sync of the second left leg: its nights are synced (folders written),
    the merge problem is said on stderr, exit status 4."""
    out = tmp_path / "data"
    night_of(tmp_path, out, "aa00000000l1", "anna", "left", 4 * HOUR_MS)
    rig = LegRig(tmp_path / "second", "cc00000000l3", "anna", "left")
    try:
        # This device's night is recorded at the host's real time (the CLI sets it).
        assert main(["time", "--set", "--port", rig.port, "--out", str(out)]) == 0
        assert main(["start", "--port", rig.port]) == 0
        log = rig.device.log
        for k in range(30):
            assert log.append_event((30_000 + 25_000 * k, 31_500 + 25_000 * k, 300, 40, 3, 0))
        for k in range(28):
            assert log.append_epoch((k, 1560, 900, 40, -20, 990, 15))
        rig.goto(rig.clock.true_ms + 850_000)
        assert main(["stop", "--port", rig.port]) == 0
        # The first left leg's night, at the same real time.
        other = LegRig(tmp_path / "first", "aa00000000l9", "anna", "left")
        try:
            assert main(["time", "--set", "--port", other.port, "--out", str(out)]) == 0
            assert main(["start", "--port", other.port]) == 0
            for k in range(28):
                assert other.device.log.append_epoch((k, 1560, 900, 40, -20, 990, 15))
            other.goto(other.clock.true_ms + 850_000)
            assert main(["stop", "--port", other.port]) == 0
            capsys.readouterr()
            assert main(["sync", "--port", other.port, "--out", str(out), "--no-picture"]) == 0
            capsys.readouterr()
        finally:
            other.close()
        status = main(["sync", "--port", rig.port, "--out", str(out), "--no-picture"])
    finally:
        rig.close()
    captured = capsys.readouterr()
    assert status == EXIT_UNSYNCED
    assert "anna has two left legs" in captured.err
    assert "night 1: " in captured.out and "complete" in captured.out


def test_a_device_without_a_person_stays_single_and_says_so(tmp_path, capsys):
    out = tmp_path / "data"
    night_of(tmp_path, out, "bb00000000r2", "anna", "right", 4 * HOUR_MS)
    report = night_of(tmp_path, out, "dd00000000x4", "", "left", 4 * HOUR_MS)
    assert report.merge is not None and not report.merge.built and not report.merge.problems
    notes = [f.text for f in report.merge.findings]
    assert len(notes) == 1 and "has no person" in notes[0] and "person=NAME" in notes[0]
    status, stdout, err = merge_cli(out, capsys)
    assert status == 0 and err == ""
    assert "right leg only" in stdout and "single-leg" in stdout
    assert not list((out / PERSONS).glob("*/*_bilateral_*"))


@pytest.mark.parametrize(
    ("right_start_ms", "status", "words"),
    [
        (4 * HOUR_MS + 17 * 60_000, EXIT_USAGE, "share only 3 min"),  # 3 min overlap
        (5 * HOUR_MS, EXIT_USAGE, "are 40 min apart"),
        (26 * HOUR_MS, 0, "left leg only"),  # the next day: another night
    ],
)
def test_nights_that_do_not_overlap_stay_single(tmp_path, capsys, right_start_ms, status, words):
    out = tmp_path / "data"
    night_of(tmp_path, out, "aa00000000l1", "anna", "left", 4 * HOUR_MS)
    night_of(tmp_path, out, "bb00000000r2", "anna", "right", right_start_ms)
    got, stdout, err = merge_cli(out, capsys)
    assert got == status
    assert words in (err if status else stdout)
    assert not list((out / PERSONS).glob("*/*_bilateral_*"))


def test_a_night_without_utc_cannot_be_merged_and_says_so(tmp_path, capsys):
    out = tmp_path / "data"
    night_of(tmp_path, out, "aa00000000l1", "anna", "left", 4 * HOUR_MS)
    report = night_of(tmp_path, out, "bb00000000r2", "anna", "right", 4 * HOUR_MS, set_clock=False)
    undated = [p for p in (out / "bb00000000r2").iterdir() if p.is_dir()]
    assert [p.name for p in undated] == ["undated_1"]
    assert report.merge is not None
    assert any("never set" in f.text and "no UTC" in f.text for f in report.merge.problems)
    status, _stdout, err = merge_cli(out, capsys)
    assert status == EXIT_USAGE and "never set" in err
    assert not list((out / PERSONS).glob("*/*_bilateral_*"))


def test_merge_command_builds_from_synced_folders_and_keeps_them_current(tmp_path, capsys):
    out = tmp_path / "data"
    night_of(tmp_path, out, "aa00000000l1", "anna", "left", 4 * HOUR_MS, ppm=30.0)
    night_of(tmp_path, out, "bb00000000r2", "anna", "right", 4 * HOUR_MS + 60_000, ppm=-30.0)
    night_of(tmp_path, out, "ee00000000l5", "ben", "left", 4 * HOUR_MS)
    night_of(tmp_path, out, "ff00000000r6", "ben", "right", 4 * HOUR_MS)
    built = sorted((out / PERSONS).glob("*/*_bilateral_*"))
    assert [p.parent.name for p in built] == ["anna", "ben"]
    shutil_rmtree(built[0])
    status, stdout, err = merge_cli(out, capsys, "--person", "anna")
    assert status == 0 and err == ""
    assert stdout.startswith("anna: wrote ") and "bilateral of" in stdout
    assert "ben" not in stdout
    status, stdout, _ = merge_cli(out, capsys)
    assert status == 0 and stdout.count("up to date") == 2
    # With a picture: night.png of both legs.
    status = main(["merge", str(out), "--person", "ben", "--min-imi", "5"])
    assert status == 0
    ben = sorted((out / PERSONS / "ben").iterdir())
    assert [p.name for p in ben[0].iterdir() if p.suffix == ".png"] == ["night.png"]
    summary = json.loads((ben[0] / "summary.json").read_text())
    assert summary["params"]["min_imi_s"] == 5


def test_merge_of_a_folder_that_is_not_there(tmp_path, capsys):
    status, _, err = merge_cli(tmp_path / "nope", capsys)
    assert status == EXIT_USAGE and "no such folder" in err


def shutil_rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path)
