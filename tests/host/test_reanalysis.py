"""legsense reanalyze: every raw night analysed again, in parallel on Dask, resumable."""

from __future__ import annotations

import json

import pytest
from legsense.cli import main
from legsense.reanalysis import STAMP


@pytest.fixture(scope="module")
def raw_nights(tmp_path_factory):
    """Two device folders with raw samples, as a validation sync leaves them."""
    root = tmp_path_factory.mktemp("raw")
    for k, folder in enumerate(("dev-a/2026-11-21_1", "dev-a/2026-11-22_2")):
        (root / folder).mkdir(parents=True)
        assert main(["simulate-night", "--seed", str(k + 1), "--hours", "0.15", "--rate", "26",
                     "--out", str(root / folder / "raw.csv")]) == 0  # fmt: skip
        (root / folder / "raw.labels.csv").unlink()
    (root / "dev-a/2026-11-21_1/markers.csv").write_text(
        "t_s,utc,code,name,value,text\n100.0,,10,button,300,\n"
    )
    reference = tmp_path_factory.mktemp("reference")
    for folder in ("dev-a/2026-11-21_1", "dev-a/2026-11-22_2"):
        assert main(["analyze", str(root / folder / "raw.csv"), "--out",
                     str(reference / folder), "-q", "--no-picture"]) == 0  # fmt: skip
    return root, reference


def same_night(a, b) -> None:
    assert (a / "events.csv").read_bytes() == (b / "events.csv").read_bytes()
    sa, sb = (json.loads((x / "summary.json").read_text()) for x in (a, b))
    for key in ("lm_count", "plm_count", "plm_index", "periodicity_index", "hourly"):
        assert sa[key] == sb[key]


def test_in_process_equals_analyze_and_resumes(raw_nights, tmp_path, capsys):
    root, reference = raw_nights
    out = tmp_path / "out"
    assert main(["reanalyze", str(root), "--out", str(out), "--workers", "0"]) == 0
    assert "2 night(s) analysed, 0 already done" in capsys.readouterr().out
    for folder in ("dev-a/2026-11-21_1", "dev-a/2026-11-22_2"):
        same_night(out / folder, reference / folder)
    assert (out / "dev-a/2026-11-21_1/markers.csv").exists()  # markers travel along
    # Again: nothing to do. One stamp gone (a cut run): only that night again.
    assert main(["reanalyze", str(root), "--out", str(out), "--workers", "0"]) == 0
    assert "0 night(s) analysed, 2 already done" in capsys.readouterr().out
    (out / "dev-a/2026-11-22_2" / STAMP).unlink()
    assert main(["reanalyze", str(root), "--out", str(out), "--workers", "0"]) == 0
    assert "1 night(s) analysed, 1 already done" in capsys.readouterr().out
    # Other scoring options: everything again, scored by them.
    assert (
        main(["reanalyze", str(root), "--out", str(out), "--workers", "0", "--min-imi", "5"]) == 0
    )
    assert "2 night(s) analysed" in capsys.readouterr().out
    summary = json.loads((out / "dev-a/2026-11-21_1/summary.json").read_text())
    assert summary["params"]["min_imi_s"] == 5.0


def test_a_bad_night_fails_alone(raw_nights, tmp_path, capsys):
    root, _ = raw_nights
    data = tmp_path / "data"
    (data / "good").mkdir(parents=True)
    (data / "good" / "raw.csv").write_bytes((root / "dev-a/2026-11-21_1/raw.csv").read_bytes())
    (data / "bad").mkdir()
    (data / "bad" / "raw.csv").write_text("t,ax,ay,az\n0,0,0,1\nnot,a,number,row\n")
    assert main(["reanalyze", str(data), "--out", str(tmp_path / "out"), "--workers", "0"]) == 2
    out = capsys.readouterr().out
    assert "1 night(s) analysed" in out and "1 failed" in out
    assert "failed:" in out and "raw.csv:3" in out
    assert (tmp_path / "out" / "good" / "summary.json").exists()
    assert not (tmp_path / "out" / "bad" / STAMP).exists()


def test_nothing_to_reanalyse_exits_2(tmp_path, capsys):
    assert main(["reanalyze", str(tmp_path / "no"), "--out", str(tmp_path / "o")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["reanalyze", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no night folders with raw.csv" in capsys.readouterr().err
    assert main(["reanalyze", str(tmp_path), "--out", str(tmp_path / "o"), "--workers", "-1"]) == 2


@pytest.mark.slow
def test_on_a_local_dask_cluster(raw_nights, tmp_path, capsys):
    root, reference = raw_nights
    out = tmp_path / "out"
    assert main(["reanalyze", str(root), "--out", str(out), "--workers", "2"]) == 0
    printed = capsys.readouterr()
    assert "local cluster, 2 worker process(es)" in printed.out
    assert "reanalyze: 100%" in printed.err
    for folder in ("dev-a/2026-11-21_1", "dev-a/2026-11-22_2"):
        same_night(out / folder, reference / folder)
