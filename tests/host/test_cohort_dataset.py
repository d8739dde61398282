"""The cohort dataset: Parquet any reader can open, incremental, atomic; DuckDB queries."""

from __future__ import annotations

import json
import os
import shutil

import pandas as pd
import pyarrow.dataset as pads
import pytest
from legsense.cli import main
from legsense.cohort_dataset import MANIFEST, export, query
from legsense.synthetic_cohort import make_cohort


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_cohort(root, people=2, nights=5, seed=9)  # evenings 2026-01-05 .. 01-09
    return root


def summaries(root):
    return {
        str(p.parent.relative_to(root)): json.loads(p.read_text())
        for p in root.rglob("summary.json")
    }


def test_export_reads_unchanged_in_pandas_pyarrow_and_duckdb(data, tmp_path, capsys):
    ds = tmp_path / "ds"
    assert main(["export", str(data), "--out", str(ds)]) == 0
    assert "10 night(s)" in capsys.readouterr().out
    layout = sorted(p.relative_to(ds).as_posix() for p in ds.rglob("*.parquet"))
    assert "nights/person=p001/month=2026-01/part-0.parquet" in layout
    assert "events/person=p002/month=2026-01/part-0.parquet" in layout
    assert not [p for p in ds.rglob("*") if p.name.startswith(".")]  # no temp files

    nights = pd.read_parquet(ds / "nights")
    expected = summaries(data)
    assert len(nights) == 10
    for row in nights.itertuples():
        s = expected[row.night]
        assert row.plm_index == s["plm_index"] and row.lm_count == s["lm_count"]
        assert row.person == row.night.split("/")[0]  # the partition is the person
        assert row.legsense_version == s["legsense_version"]
        assert json.loads(row.scoring_params) == s["params"]
        assert str(row.night_date) == row.night.split("/")[1]
    events = pads.dataset(ds / "events", partitioning="hive").to_table().to_pandas()
    key, s = next(iter(sorted(expected.items())))
    start = pd.Timestamp(s["recording"]["start_utc"])
    mine = events[events.night == key]
    assert (mine.onset_utc - start).dt.total_seconds().round(3).tolist() == mine.onset_s.tolist()
    for key, s in expected.items():
        mine = events[events.night == key]
        assert len(mine) == s["movement_count"]  # one row per detected movement
        assert int(mine.plm.sum()) == s["plm_count"]
    names, rows = query(
        ds, "SELECT person, count(*), sum(plm_count) FROM nights GROUP BY 1 ORDER BY 1"
    )
    by_person = {
        p: sum(s["plm_count"] for k, s in expected.items() if k.startswith(p))
        for p in ("p001", "p002")
    }
    assert names[0] == "person" and rows == [(p, 5, by_person[p]) for p in ("p001", "p002")]
    _, diary = query(ds, "SELECT count(*) FROM diary WHERE tag = 'iron'")
    assert diary == [(2,)]


def test_export_is_incremental(data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data, root)
    ds = tmp_path / "ds"
    first = export(root, ds)
    assert (first.partitions_written, first.partitions_unchanged) == (2, 0)
    files = {p: p.stat().st_mtime_ns for p in ds.rglob("*.parquet")}
    again = export(root, ds)
    assert (again.partitions_written, again.partitions_unchanged) == (0, 2)
    assert {p: p.stat().st_mtime_ns for p in ds.rglob("*.parquet")} == files  # untouched
    # One night of p002 changes: only p002's partition is rewritten.
    night = root / "p002" / "2026-01-07" / "summary.json"
    s = json.loads(night.read_text())
    s["plm_index"] = 99.5
    night.write_text(json.dumps(s))
    os.utime(night, ns=(1, 1))
    third = export(root, ds)
    assert (third.partitions_written, third.partitions_unchanged) == (1, 1)
    assert query(ds, "SELECT max(plm_index) FROM nights WHERE person = 'p002'")[1] == [(99.5,)]
    p001 = [p for p in files if "person=p001" in str(p)]
    assert all(p.stat().st_mtime_ns == files[p] for p in p001)
    # A person's nights are gone: their partitions go too.
    shutil.rmtree(root / "p001")
    fourth = export(root, ds)
    assert fourth.partitions_removed == 1
    assert not (ds / "nights" / "person=p001").exists()
    assert query(ds, "SELECT DISTINCT person FROM nights")[1] == [("p002",)]


def test_query_output_and_errors(data, tmp_path, capsys):
    ds = tmp_path / "ds"
    assert main(["export", str(data), "--out", str(ds), "-q"]) == 0
    assert (
        main(
            [
                "query",
                str(ds),
                "SELECT person, count(*) AS n FROM nights GROUP BY 1 ORDER BY 1",
                "--csv",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == "person,n\np001,5\np002,5\n"
    assert main(["query", str(ds), "SELECT count(*) AS n FROM epochs"]) == 0
    assert capsys.readouterr().out.strip().endswith("(1 row)")
    assert main(["query", str(ds), "SELECT nope FROM nights"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "query failed" in err and "nope" in err
    assert main(["query", str(tmp_path / "none"), "SELECT 1"]) == 2
    assert "no such dataset folder" in capsys.readouterr().err
    assert main(["query", str(data), "SELECT 1"]) == 2  # a data folder, not a dataset
    assert MANIFEST in capsys.readouterr().err


def test_export_refuses_a_folder_that_is_not_a_dataset(data, tmp_path, capsys):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("mine")
    assert main(["export", str(data), "--out", str(busy), "-q"]) == 2
    assert "not a legsense dataset" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "ds"), "-q"]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_a_table_with_no_rows_still_answers(data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data, root)
    (root / "diary.csv").unlink()
    export(root, tmp_path / "ds")
    assert query(tmp_path / "ds", "SELECT count(*), count(tag) FROM diary") == (
        ["count_star()", "count(tag)"],
        [(0, 0)],
    )


def test_an_unreadable_night_is_listed_and_the_rest_exported(data, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(data, root)
    (root / "p001" / "2026-01-06" / "events.csv").write_bytes(b"onset_s,lm\n\xff\xfe,1\n")
    (root / "p002" / "2026-01-08" / "summary.json").write_text("{")
    assert main(["export", str(root), "--out", str(tmp_path / "ds")]) == 0
    out = capsys.readouterr().out
    assert out.count("not read:") == 2 and "events.csv" in out and "not JSON" in out
    assert query(tmp_path / "ds", "SELECT count(*) FROM nights")[1] == [(8,)]
