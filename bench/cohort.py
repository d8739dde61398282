"""Cohort: the trend report over a year of nights, the Parquet export, a DuckDB query over
10,000 nights and `legsense reanalyze` on Dask with 1 and 2 workers.

Every cohort is made here by legsense.synthetic_cohort (real scoring, real night-folder
writer), never stored. Commands are timed as a user runs them (a new process each, so
imports count), except the reanalysis rate, which is measured once the cluster is up
(its start-up is reported beside it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from legsense.atomic_file import write_text_atomically
from legsense.cohort_dataset import MANIFEST, partition_dir, schemas
from legsense.reanalysis import reanalyze
from legsense.simulation.night_generator import simulate_night
from legsense.synthetic_cohort import make_cohort
from legsense.trace import write_trace

QUERY = (
    "SELECT person, count(*) AS nights, median(plm_index) AS median_plmi, "
    "avg(CASE WHEN plm_index > 15 THEN 1 ELSE 0 END) AS share_above_15 "
    "FROM nights GROUP BY person ORDER BY median_plmi DESC"
)


def _cli(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "legsense", *args], check=True, capture_output=True)
    return time.perf_counter() - t0


def _best(times: list[float]) -> float:
    return round(min(times), 2)


def report_and_export(tmp: Path, nights: int) -> dict:
    data = tmp / "year"
    t0 = time.perf_counter()
    make_cohort(data, people=1, nights=nights, seed=2026)
    made = time.perf_counter() - t0
    report = [
        _cli("report", str(data), "--out", str(tmp / f"report{k}.html"), "-q") for k in range(2)
    ]
    ds = tmp / "year-ds"
    export_first = _cli("export", str(data), "--out", str(ds), "-q")
    export_again = _cli("export", str(data), "--out", str(ds), "-q")
    one = next(iter(sorted(data.rglob("summary.json"))))
    one.touch()
    export_one = _cli("export", str(data), "--out", str(ds), "-q")
    size = sum(p.stat().st_size for p in ds.rglob("*.parquet"))
    events_query = [
        _cli("query", str(ds), "SELECT month, sum(plm) FROM events GROUP BY 1") for _ in range(3)
    ]
    return {
        "nights": nights,
        "make_cohort_s": round(made, 1),
        "report_s": _best(report),
        "report_html_mb": round((tmp / "report0.html").stat().st_size / 1e6, 2),
        "export_s": round(export_first, 2),
        "export_unchanged_s": round(export_again, 2),
        "export_one_changed_s": round(export_one, 2),
        "dataset_mb": round(size / 1e6, 1),
        "events_query_s": _best(events_query),
    }


def big_nights_table(tmp: Path, nights: int, people: int = 100) -> Path:
    """A dataset whose nights table has `nights` synthetic nights (people x evenings):
    rows of a real export of a few nights, replicated with new people, dates and indices."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    seed_data = tmp / "seed"
    make_cohort(seed_data, people=1, nights=20, seed=7)
    subprocess.run(
        [sys.executable, "-m", "legsense", "export", str(seed_data), "--out", str(tmp / "s"), "-q"],
        check=True,
    )
    template = pq.read_table(next((tmp / "s" / "nights").rglob("*.parquet")))
    template = template.slice(0, 1)
    rng = np.random.default_rng(10_000)
    ds = tmp / "big-ds"
    per_person = nights // people
    first = np.datetime64("2025-01-01")
    for p in range(people):
        person = f"p{p + 1:03d}"
        dates = first + np.arange(per_person).astype("timedelta64[D]")
        months = dates.astype("datetime64[M]")
        base = rng.uniform(3, 50)
        for month in np.unique(months):
            sel = dates[months == month]
            n = len(sel)
            cols = {name: template.column(name) for name in template.column_names}
            table = pa.table(
                {name: pa.concat_arrays([col.combine_chunks()] * n) for name, col in cols.items()}
            )
            plmi = np.round(base * rng.lognormal(0, 0.3, n), 2)
            table = table.set_column(
                table.schema.get_field_index("plm_index"), "plm_index", pa.array(plmi)
            )
            table = table.set_column(
                table.schema.get_field_index("night_date"),
                "night_date",
                pa.array(sel.astype("datetime64[D]").astype(object), pa.date32()),
            )
            table = table.set_column(
                table.schema.get_field_index("night"), "night",
                pa.array([f"{person}/{d}" for d in sel.astype(str)]),
            )  # fmt: skip
            folder = partition_dir(ds, "nights", person, str(month))
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table.cast(schemas()["nights"]), folder / "part-0.parquet")
    write_text_atomically(
        ds / MANIFEST, json.dumps({"format": 1, "synthetic": True}) + "\n", make_parents=True
    )
    return ds


def query_10k(tmp: Path, nights: int) -> dict:
    ds = big_nights_table(tmp, nights)
    files = len(list(ds.rglob("*.parquet")))
    times = [_cli("query", str(ds), QUERY, "--csv") for _ in range(3)]
    from legsense.cohort_dataset import query

    inner = []
    for _ in range(3):
        t0 = time.perf_counter()
        _, rows = query(ds, QUERY)
        inner.append(time.perf_counter() - t0)
    count = query(ds, "SELECT count(*) FROM nights")[1][0][0]
    return {
        "nights": int(count),
        "files": files,
        "query_cli_s": _best(times),
        "query_in_process_s": round(min(inner), 3),
        "rows": len(rows),
    }


def reanalysis(tmp: Path, nights: int, hours: float) -> dict:
    root = tmp / "raw"
    for k in range(nights):
        folder = root / "dev" / f"night-{k:02d}"
        folder.mkdir(parents=True)
        trace, _ = simulate_night(100 + k, hours, 50.0)
        write_trace(folder / "raw.csv", trace)
    out: dict = {"nights": nights, "hours_each": hours, "rate_hz": 50}
    t0 = time.perf_counter()
    serial = reanalyze(root, tmp / "out0", workers=0)
    out["in_process_nights_per_min"] = round(serial.nights_per_minute, 1)
    out["in_process_s"] = round(time.perf_counter() - t0, 1)
    for workers in (1, 2):
        t0 = time.perf_counter()
        result = reanalyze(root, tmp / f"out{workers}", workers=workers)
        wall = time.perf_counter() - t0
        assert not result.failed, result.failed
        out[f"workers_{workers}"] = {
            "nights_per_min": round(result.nights_per_minute, 1),
            "compute_s": round(result.seconds, 1),
            "wall_s_with_startup": round(wall, 1),
        }
    out["scaling_1_to_2"] = round(
        out["workers_2"]["nights_per_min"] / out["workers_1"]["nights_per_min"], 2
    )
    return out


def run(
    nights: int = 365, query_nights: int = 10_000, raw_nights: int = 6, raw_hours: float = 1.0
) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        return {
            "year": report_and_export(tmp / "a", nights),
            "query": query_10k(tmp / "b", query_nights),
            "reanalyze": reanalysis(tmp / "c", raw_nights, raw_hours),
        }


def render(r: dict) -> list[str]:
    """README lines."""
    y, q, ra = r["year"], r["query"], r["reanalyze"]
    w1, w2 = ra["workers_1"], ra["workers_2"]
    return [
        f"Synthetic cohorts made by `legsense.synthetic_cohort` (real scoring and night-folder "
        f"writer; {y['nights']} nights took {y['make_cohort_s']} s to make); commands timed "
        "as a user runs them, process start included (`bench/cohort.py`):",
        "",
        "| cohort | value | target |",
        "|---|---|---|",
        f"| `legsense report`, {y['nights']} nights (HTML {y['report_html_mb']} MB, 3 figures) "
        f"| {y['report_s']:.1f} s | <= 10 s |",
        f"| `legsense export`, {y['nights']} nights ({y['dataset_mb']} MB of Parquet) "
        f"| {y['export_s']:.1f} s | <= 30 s |",
        f"| `legsense export` again, nothing changed / one night changed "
        f"| {y['export_unchanged_s']:.1f} s / {y['export_one_changed_s']:.1f} s | |",
        f"| `legsense query` over {q['nights']:,} nights ({q['files']:,} files): median PLM "
        f"index per person | {q['query_cli_s']:.2f} s ({q['query_in_process_s'] * 1000:.0f} ms "
        "in process) | <= 1 s |",
        f"| `legsense query` over the events of {y['nights']} nights | "
        f"{y['events_query_s']:.2f} s | |",
        f"| `legsense reanalyze`, {ra['nights']} nights of {ra['hours_each']:g} h at "
        f"{ra['rate_hz']} Hz, 1 Dask worker | {w1['nights_per_min']:.1f} nights/min "
        f"({w1['compute_s']:.1f} s + cluster start, {w1['wall_s_with_startup']:.1f} s in all) | |",
        f"| same, 2 Dask workers | {w2['nights_per_min']:.1f} nights/min "
        f"({w2['wall_s_with_startup']:.1f} s in all): x{ra['scaling_1_to_2']:.2f} from 1 to 2 "
        "workers | |",
        f"| same, in one process (no Dask) | {ra['in_process_nights_per_min']:.1f} nights/min | |",
        "",
    ]
