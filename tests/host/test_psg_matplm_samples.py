"""Agreement with MATPLM on its own sample nights (optional: needs the files).

MATPLM (pskeba1/MATPLM-Score) publishes RemLogic event exports of real nights in
`sample_events/` and its PDF reports for four of them. The files carry no licence and
some carry patient identifiers, so they are never copied into this repository: point
LEGSENSE_MATPLM_SAMPLES at a folder holding them to run these tests, e.g.

    LEGSENSE_MATPLM_SAMPLES=/tmp/matplm .venv/bin/python -m pytest tests/host/test_psg_matplm*

The expected figures are MATPLM's, as issue #13 quotes its reports (the PDFs are not
readable here); docs/scoring.md ("Agreement with MATPLM on its sample nights") says
which night each belongs to and why the one that differs does.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from legsense.cli import main
from legsense.commands.score import score_psg
from legsense.psg.reader import read_psg
from legsense.scoring import ScoringParams

SAMPLES = os.environ.get("LEGSENSE_MATPLM_SAMPLES", "")
pytestmark = pytest.mark.skipif(
    not SAMPLES,
    reason="set LEGSENSE_MATPLM_SAMPLES to a folder with MATPLM's sample_events/*.txt "
    "(not in the repository: no licence, patient identifiers)",
)

NIGHTS = {
    "BC1": "BC1-Events.txt",
    "BC2": "BC2-Events.txt",
    "DW1": "DW1-Events.txt",
    "MJ1": "MJ1-Events.txt",
    "G20877": "G20877_V1N2 AidRLS-Events.txt",
    "RZ0010": "RZ0010_V1N2 RestEaze-Events.txt",
}
INDEX_TOLERANCE = 0.01  # per hour (issue #13)
PI_TOLERANCE = 0.001


def sample(name: str) -> Path:
    path = Path(SAMPLES) / NIGHTS[name]
    if not path.is_file():
        pytest.skip(f"{path} is not there")
    return path


def scored(name: str, **params):
    scoring, _, _ = score_psg(read_psg(sample(name)), ScoringParams(**params))
    return scoring.summary


def identifiers(path: Path) -> list[str]:
    """The header values that name the patient or the night, and the file's name."""
    found = [path.stem]
    for line in path.read_text(errors="replace").splitlines():
        if line.lstrip().lower().startswith("time ["):
            break
        key, _, value = line.partition(":")
        if key.strip().lower() in ("patient", "patient id", "patient name", "recording date"):
            found += [v for v in (value.strip(),) if v]
    dates = [m for v in found for m in re.findall(r"\d{1,2}/\d{1,2}/\d{4}", v)]
    for d in dates:  # the date also as the outputs would spell it
        month, day, year = d.split("/")
        found.append(f"{year}-{int(month):02d}-{int(day):02d}")
    return found


@pytest.mark.parametrize("name", sorted(NIGHTS))
def test_every_sample_night_reads_and_keeps_the_patient_out(name, tmp_path, capsys):
    path = sample(name)
    out = tmp_path / "out"
    assert main(["score", str(path), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    psg = summary["psg"]
    # Nothing unread but zero-duration LM rows; every stage epoch is a 30-s one.
    assert set(psg["rows_skipped"]) <= {"zero-duration lm"}
    assert summary["time_in_bed_hours"] * 120 == pytest.approx(psg["rows_used"]["stage"], abs=0.02)
    # Every LM channel has a side, except DW1's one-channel "EMG.Tibialis-Leg".
    assert captured.err == ""
    texts = [captured.out] + [(out / n).read_text() for n in ("summary.json", "stages.csv")]
    texts.append((out / "lms.csv").read_text())
    for value in identifiers(path):
        # As a token, not inside a number: "1001" may be part of an onset like 11001.5.
        token = re.compile(r"(?<![\w.])" + re.escape(value) + r"(?![\w.])")
        for text in texts:
            assert not token.search(text), f"{value!r} reached an output"


def test_bc1_low_plm_night():
    s = scored("BC1")
    assert s["plm_index"] == pytest.approx(1.82, abs=INDEX_TOLERANCE)  # 13 PLMs in 7.13 h
    assert s["periodicity_index"] == pytest.approx(0.867, abs=PI_TOLERANCE)


def test_rz0010_periodicity():
    assert scored("RZ0010")["periodicity_index"] == pytest.approx(0.912, abs=PI_TOLERANCE)


def test_g20877_periodicity_with_respiratory_lms_counted():
    # MATPLM's "PI" row counts respiratory-related LMs among the CLMs; ours with
    # --respiratory keep. The default (the 2016 text: not CLMs, they end a series) and
    # the nr figure are lower; docs/scoring.md gives them.
    assert scored("G20877", respiratory="keep")["periodicity_index"] == pytest.approx(
        0.983, abs=PI_TOLERANCE
    )


@pytest.mark.xfail(
    strict=True,
    reason="MATPLM's 4.0/h on MJ1 is not reproduced: see docs/scoring.md (its report "
    "predates the code we could read; clock factor 86500, unrecomputed breakpoints)",
)
def test_mj1_apnea_night_with_respiratory_lms_handled():
    s = scored("MJ1", respiratory="remove")
    assert s["plm_index"] == pytest.approx(4.0, abs=0.05)
