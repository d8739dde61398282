"""The cohort dataset: night folders as Parquet tables, and DuckDB to ask them questions.

Layout (Hive-style partitions, read unchanged by DuckDB, pyarrow, pandas, Spark, Dask):

    DATASET/nights/person=<P>/month=<YYYY-MM>/part-0.parquet   one row per night
    DATASET/events/person=<P>/month=<YYYY-MM>/part-0.parquet   one row per movement
    DATASET/epochs/person=<P>/month=<YYYY-MM>/part-0.parquet   one row per 30-s epoch
    DATASET/diary/person=<P>/month=<YYYY-MM>/part-0.parquet    one row per diary entry
    DATASET/_legsense_export.json                              what was exported from what

Partitioned by person and by date, at the grain of a month of evenings (`night_date` in
every row gives the day): one file per night would make 10,000 nights 10,000 files per
table, and opening them costs DuckDB seconds; a month is a few dozen nights. `person`
and `month` live in the folder names only (the Hive convention; every reader adds them
back as columns). Units are in the column names (`_s`, `_h`, `_mg`, `_dps`, `_min`);
times are UTC. Every row carries the software version and the scoring parameters (and
the detector configuration where it applies) its numbers came from.

Incremental and atomic: a partition is rewritten only when a night in it changed (its
files' sizes and modification times are the fingerprint) or a night came or went;
every file is written to a temporary name, fsynced and renamed, and the manifest last.
An export cut anywhere leaves each file whole; the next run redoes what is missing.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

from legsense import __version__
from legsense.atomic_file import write_atomically, write_text_atomically
from legsense.diary import DiaryEntry, diary_path, read_diary
from legsense.errors import InputError
from legsense.night_catalog import NightRef, scan
from legsense.night_markers import read_markers

TABLES = ("nights", "events", "epochs", "diary", "sits")
MANIFEST = "_legsense_export.json"
FORMAT = 1  # bump when the schema changes: every partition is then rewritten
FINGERPRINT_FILES = ("summary.json", "events.csv", "epochs.csv", "markers.csv")


def _pa():
    import pyarrow as pa

    return pa


def table_columns() -> dict[str, list[tuple[str, str]]]:
    """Each table's columns and their kinds (person and month come from the partition
    path). Plain names, so a query need not load pyarrow to know them."""
    common = [
        ("legsense_version", "string"),
        ("export_version", "string"),
        ("scoring_params", "string"),
        ("detector", "string"),
    ]
    return {
        "nights": [
            ("night", "string"),
            ("night_date", "date32"),
            ("start_utc", "timestamp"),
            ("utc_offset_min", "int32"),
            ("device_id", "string"),
            ("night_uid", "string"),
            ("leg", "string"),
            ("source", "string"),
            ("folder", "string"),
            ("recording_h", "float64"),
            ("analysed_h", "float64"),
            ("movement_count", "int32"),
            ("lm_count", "int32"),
            ("clm_count", "int32"),
            ("plm_count", "int32"),
            ("plm_series_count", "int32"),
            ("bilateral_lm_count", "int32"),
            ("lm_index", "float64"),
            ("clm_index", "float64"),
            ("plm_index", "float64"),
            ("periodicity_index", "float64"),
            ("mean_lm_duration_s", "float64"),
            ("mean_plm_duration_s", "float64"),
            ("median_plm_imi_s", "float64"),
            ("gap_count", "int32"),
            ("gap_min", "float64"),
            ("resets", "int32"),
            ("clock_utc_known", "bool"),
            ("clock_drift_ppm", "float64"),
            ("button_presses", "int32"),
            ("rules", "string"),
            ("index_basis", "string"),
            ("min_lm_s", "float64"),
            ("max_lm_s", "float64"),
            ("min_imi_s", "float64"),
            ("max_imi_s", "float64"),
            ("min_series", "int32"),
            *common,
        ],
        "events": [
            ("night", "string"),
            ("night_date", "date32"),
            ("onset_s", "float64"),
            ("offset_s", "float64"),
            ("duration_s", "float64"),
            ("lm", "int8"),
            ("candidate", "int8"),
            ("plm", "int8"),
            ("series", "int32"),
            ("imi_s", "float64"),
            ("leg", "string"),
            ("peak_mg", "int32"),
            ("peak_dps", "int32"),
            ("channels", "int8"),
            ("onset_utc", "timestamp"),
            *common,
        ],
        "epochs": [
            ("night", "string"),
            ("night_date", "date32"),
            ("start_s", "float64"),
            ("start_utc", "timestamp"),
            ("n_samples", "int32"),
            ("active_s", "float64"),
            ("activity_mg_s", "int64"),
            ("posture_x_mg", "int32"),
            ("posture_y_mg", "int32"),
            ("posture_z_mg", "int32"),
            *common,
        ],
        "diary": [
            ("entry_date", "date32"),
            ("end_date", "date32"),
            ("ongoing", "bool"),
            ("tag", "string"),
            ("value", "float64"),
            ("unit", "string"),
            ("rating", "int8"),
            ("note", "string"),
            ("line", "int32"),
            ("export_version", "string"),
        ],
        "sits": [
            ("sit", "string"),
            ("sit_date", "date32"),
            ("start_utc", "timestamp"),
            ("device_id", "string"),
            ("leg", "string"),
            ("folder", "string"),
            ("planned_min", "float64"),
            ("test_min", "float64"),
            ("completed", "bool"),
            ("lm_count", "int32"),
            ("plm_count", "int32"),
            ("lm_index", "float64"),
            ("plmw_index", "float64"),
            ("min_imi_s", "float64"),
            ("max_imi_s", "float64"),
            ("prompts", "int32"),
            ("rating_count", "int32"),
            ("missed_count", "int32"),
            ("mean_rating", "float64"),
            ("max_rating", "int32"),
            ("first_rating", "int32"),
            ("last_rating", "int32"),
            ("above_cutoff_40", "bool"),
            ("next_night", "string"),
            ("next_night_plm_index", "float64"),
            *common,
        ],
    }


DUCKDB_TYPES = {
    "string": "VARCHAR",
    "date32": "DATE",
    "timestamp": "TIMESTAMPTZ",
    "float64": "DOUBLE",
    "int8": "TINYINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "bool": "BOOLEAN",
}


def schemas() -> dict[str, Any]:
    """The Arrow schema of each table."""
    pa = _pa()
    kinds = {
        "string": pa.string(),
        "date32": pa.date32(),
        "timestamp": pa.timestamp("ms", tz="UTC"),
        "float64": pa.float64(),
        "int8": pa.int8(),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "bool": pa.bool_(),
    }
    return {
        table: pa.schema([(name, kinds[kind]) for name, kind in columns])
        for table, columns in table_columns().items()
    }


# CSV columns and the Arrow types they are read as (missing columns become nulls).
EVENT_TYPES = {
    "onset_s": "float64",
    "offset_s": "float64",
    "duration_s": "float64",
    "lm": "int8",
    "candidate": "int8",
    "plm": "int8",
    "series": "int32",
    "imi_s": "float64",
    "leg": "string",
    "peak_mg": "int32",
    "peak_dps": "int32",
    "channels": "int8",
}
EPOCH_TYPES = {
    "start_s": "float64",
    "n_samples": "int32",
    "active_s": "float64",
    "activity_mg_s": "int64",
    "posture_x_mg": "int32",
    "posture_y_mg": "int32",
    "posture_z_mg": "int32",
}


@dataclass
class ExportResult:
    """What one export did."""

    nights: int
    partitions_written: int
    partitions_unchanged: int
    partitions_removed: int
    unreadable: list[tuple[Path, str]]
    dataset: Path


def month_of(evening: date | None) -> str:
    return "undated" if evening is None else f"{evening:%Y-%m}"


def partition_dir(dataset: Path, table: str, person: str, month: str) -> Path:
    quoted = urllib.parse.quote(person, safe="")
    return dataset / table / f"person={quoted}" / f"month={month}"


def fingerprint(ref: NightRef) -> list:
    """What says a night's files changed: sizes and modification times."""
    out: list = [str(ref.folder)]
    for name in FINGERPRINT_FILES:
        try:
            st = (ref.folder / name).stat()
            out.append([name, st.st_size, st.st_mtime_ns])
        except OSError:
            out.append([name, None])
    return out


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    v = _num(value)
    return None if v is None else int(v)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


def night_record(ref: NightRef, key: str) -> dict[str, Any]:
    """The nights-table row of one night, from its summary.json (numbers unchanged)."""
    s = ref.summary
    rec = ref.recording
    params: dict[str, Any] = s["params"] if isinstance(s.get("params"), dict) else {}
    gaps = s.get("gaps") if isinstance(s.get("gaps"), dict) else None
    clock = s.get("clock") if isinstance(s.get("clock"), dict) else None
    resets = s.get("resets")
    if isinstance(resets, dict):
        resets = resets.get("count")
    if gaps is not None and _num(gaps.get("total_s")) is not None:
        gap_min = float(gaps["total_s"]) / 60.0
    else:
        gap_min = (
            max(
                0.0,
                (_num(s.get("recording_hours")) or 0.0) - (_num(s.get("analysed_hours")) or 0.0),
            )
            * 60.0
        )
    drift = _num((clock or {}).get("drift_ppm"))
    if drift is None:
        try:
            drift = float(str(rec.get("clock_drift_ppm")))
            drift = drift if math.isfinite(drift) else None
        except ValueError:
            drift = None
    markers = read_markers(ref.folder)
    offset = ref.zone.utcoffset(ref.start_utc or datetime.now(UTC))
    return {
        "night": key,
        "night_date": ref.evening,
        "start_utc": ref.start_utc,
        "utc_offset_min": None if offset is None else int(offset.total_seconds() // 60),
        "device_id": rec.get("device_id") or None,
        "night_uid": str(rec["night_uid"]) if rec.get("night_uid") not in (None, "") else None,
        "leg": rec.get("leg") or None,
        "source": rec.get("source") or None,
        "folder": str(ref.folder),
        "recording_h": _num(s.get("recording_hours")),
        "analysed_h": _num(s.get("analysed_hours")),
        "movement_count": _int(s.get("movement_count")),
        "lm_count": _int(s.get("lm_count")),
        "clm_count": _int(s.get("clm_count")),
        "plm_count": _int(s.get("plm_count")),
        "plm_series_count": _int(s.get("plm_series_count")),
        "bilateral_lm_count": _int(s.get("bilateral_lm_count")),
        "lm_index": _num(s.get("lm_index")),
        "clm_index": _num(s.get("clm_index")),
        "plm_index": _num(s.get("plm_index")),
        "periodicity_index": _num(s.get("periodicity_index")),
        "mean_lm_duration_s": _num(s.get("mean_lm_duration_s")),
        "mean_plm_duration_s": _num(s.get("mean_plm_duration_s")),
        "median_plm_imi_s": _num(s.get("median_plm_imi_s")),
        "gap_count": None if gaps is None else _int(gaps.get("count")),
        "gap_min": gap_min,
        "resets": _int(resets),
        "clock_utc_known": (clock or {}).get("utc_known") if clock else ref.start_utc is not None,
        "clock_drift_ppm": drift,
        "button_presses": len(markers.buttons) if markers.known else None,
        "rules": s.get("rules"),
        "index_basis": s.get("index_basis"),
        "min_lm_s": _num(params.get("min_lm_s")),
        "max_lm_s": _num(params.get("max_lm_s")),
        "min_imi_s": _num(params.get("min_imi_s")),
        "max_imi_s": _num(params.get("max_imi_s")),
        "min_series": _int(params.get("min_series")),
        **_provenance(s),
    }


def _provenance(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "legsense_version": summary.get("legsense_version"),
        "export_version": __version__,
        "scoring_params": _json(summary.get("params")),
        "detector": _json(summary.get("detector")),
    }


def _read_csv(path: Path, types: dict[str, str]):
    """A night's CSV as an Arrow table with the given column types (None: no file)."""
    pa = _pa()
    import pyarrow.csv as pacsv

    if not path.exists():
        return None
    try:
        names = pacsv.read_csv(
            path, read_options=pacsv.ReadOptions(block_size=1 << 16)
        ).column_names
        present = [c for c in types if c in names]
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                include_columns=present + (["onset_utc"] if "onset_utc" in names else []),
                column_types={c: getattr(pa, types[c])() for c in present},
                strings_can_be_null=True,
            ),
        )
    except (OSError, UnicodeDecodeError, pa.ArrowException) as exc:
        raise InputError(f"unreadable: {exc}", path) from None
    return table


def _with_columns(table, schema, constants: dict[str, Any]):
    """Order and type the columns as the schema says; constants fill whole columns."""
    pa = _pa()
    n = table.num_rows
    arrays = []
    for field in schema:
        if field.name in constants:
            arrays.append(pa.array([constants[field.name]] * n, type=field.type))
        elif field.name in table.column_names:
            arrays.append(table.column(field.name).cast(field.type))
        else:
            arrays.append(pa.nulls(n, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _utc_from(ref: NightRef, seconds):
    """UTC timestamps (ms) of seconds from the night's start; nulls when unknown."""
    import numpy as np

    pa = _pa()
    kind = pa.timestamp("ms", tz="UTC")
    if ref.start_utc is None:
        return pa.nulls(len(seconds), type=kind)
    start_ms = round(ref.start_utc.timestamp() * 1000)
    s = seconds.to_numpy(zero_copy_only=False).astype(float)
    ms = np.round(np.nan_to_num(s) * 1000.0).astype(np.int64) + start_ms
    return pa.array(ms, type=pa.int64(), mask=np.isnan(s)).cast(kind)


def night_tables(ref: NightRef, key: str) -> dict[str, Any]:
    """The nights, events and epochs rows of one night as Arrow tables."""
    pa = _pa()
    sch = schemas()
    prov = _provenance(ref.summary)
    common = {"night": key, "night_date": ref.evening, **prov}
    nights = pa.Table.from_pylist([night_record(ref, key)], schema=sch["nights"])
    events = _read_csv(ref.folder / "events.csv", EVENT_TYPES)
    if events is None:
        events = pa.table({"onset_s": pa.array([], pa.float64())})
    events = events.drop_columns([c for c in ("onset_utc",) if c in events.column_names])
    events = events.append_column("onset_utc", _utc_from(ref, events.column("onset_s")))
    epochs = _read_csv(ref.folder / "epochs.csv", EPOCH_TYPES)
    if epochs is None:
        epochs = pa.table({"start_s": pa.array([], pa.float64())})
    epochs = epochs.append_column("start_utc", _utc_from(ref, epochs.column("start_s")))
    return {
        "nights": nights,
        "events": _with_columns(events, sch["events"], common),
        "epochs": _with_columns(epochs, sch["epochs"], common),
    }


def sit_record(ref: NightRef, key: str, night: NightRef | None, night_key: str | None):
    """The sits-table row of one SIT (numbers from its summary.json unchanged), with the
    night that followed it (sit_report.following_night)."""
    s = ref.summary
    rec = ref.recording
    d = s.get("discomfort") if isinstance(s.get("discomfort"), dict) else {}
    window: list[Any] = s.get("imi_window_s") or []
    if not isinstance(window, list) or len(window) != 2:
        window = [None, None]
    cut = [c for c in s.get("cutoffs") or [] if isinstance(c, dict)]
    return {
        "sit": key,
        "sit_date": ref.evening,
        "start_utc": ref.start_utc,
        "device_id": rec.get("device_id") or None,
        "leg": rec.get("leg") or None,
        "folder": str(ref.folder),
        "planned_min": _num(s.get("planned_min")),
        "test_min": _num(s.get("test_min")),
        "completed": s.get("completed") if isinstance(s.get("completed"), bool) else None,
        "lm_count": _int(s.get("lm_count")),
        "plm_count": _int(s.get("plm_count")),
        "lm_index": _num(s.get("lm_index")),
        "plmw_index": _num(s.get("plmw_index")),
        "min_imi_s": _num(window[0]),
        "max_imi_s": _num(window[1]),
        "prompts": _int((d or {}).get("prompts_logged")),
        "rating_count": _int((d or {}).get("rating_count")),
        "missed_count": _int((d or {}).get("missed_count")),
        "mean_rating": _num((d or {}).get("mean_rating")),
        "max_rating": _int((d or {}).get("max_rating")),
        "first_rating": _int((d or {}).get("first_rating")),
        "last_rating": _int((d or {}).get("last_rating")),
        "above_cutoff_40": cut[0].get("above") if cut else None,
        "next_night": night_key,
        "next_night_plm_index": None if night is None else _num(night.summary.get("plm_index")),
        **_provenance(s),
    }


def sits_table(rows: list[dict[str, Any]]):
    """The sits rows of one partition."""
    return _pa().Table.from_pylist(rows, schema=schemas()["sits"])


def diary_table(entries: list[DiaryEntry]):
    """The diary rows of one partition."""
    pa = _pa()
    rows = [
        {
            "entry_date": e.start,
            "end_date": e.end,
            "ongoing": e.ongoing,
            "tag": e.tag or None,
            "value": e.value,
            "unit": e.unit or None,
            "rating": e.rating,
            "note": e.note or None,
            "line": e.line,
            "export_version": __version__,
        }
        for e in entries
    ]
    return pa.Table.from_pylist(rows, schema=schemas()["diary"])


def _write_parquet(table, path: Path) -> None:
    """One Parquet file, atomically (atomic_file)."""
    import pyarrow.parquet as pq

    write_atomically(
        path, lambda f: pq.write_table(table, f, compression="zstd"), make_parents=True
    )


def _remove_partition(dataset: Path, table: str, person: str, month: str) -> None:
    folder = partition_dir(dataset, table, person, month)
    shutil.rmtree(folder, ignore_errors=True)
    parent = folder.parent
    if parent.exists() and not any(parent.iterdir()):
        parent.rmdir()


def _read_manifest(dataset: Path) -> dict[str, Any]:
    try:
        data = json.loads((dataset / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return {}
    return data


def export(
    root: Path,
    dataset: Path,
    zone: tzinfo | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """Export every night under root (and root's diary) into the dataset, incrementally."""
    pa = _pa()
    root, dataset = Path(root), Path(dataset)
    if dataset.exists() and not dataset.is_dir():
        raise InputError("the dataset must be a folder", dataset)
    if dataset.exists() and any(dataset.iterdir()) and not (dataset / MANIFEST).exists():
        raise InputError(
            f"not a legsense dataset (no {MANIFEST}); choose a new or empty folder", dataset
        )
    catalog = scan(root, zone)
    from legsense.sit_report import check_overlaps

    check_overlaps(catalog.sits, root)  # bad input stops the export before it writes
    entries = read_diary(diary_path(root))
    old = _read_manifest(dataset)
    old_groups: dict[str, Any] = old.get("groups", {})

    groups: dict[tuple[str, str], list[NightRef]] = {}
    for ref in catalog.nights:
        groups.setdefault((ref.person, month_of(ref.evening)), []).append(ref)
    diary_groups: dict[tuple[str, str], list[DiaryEntry]] = {}
    for e in entries:
        diary_groups.setdefault((e.person, month_of(e.start)), []).append(e)

    new_groups: dict[str, Any] = {}
    written = unchanged = 0
    todo = []
    for (person, month), refs in sorted(groups.items()):
        gid = f"{person}/{month}"
        prints = [fingerprint(r) for r in refs]
        digest = hashlib.sha256(json.dumps([FORMAT, prints]).encode()).hexdigest()
        new_groups[gid] = {"person": person, "month": month, "digest": digest, "nights": len(refs)}
        if old_groups.get(gid, {}).get("digest") == digest and all(
            (partition_dir(dataset, t, person, month) / "part-0.parquet").exists()
            for t in ("nights", "events", "epochs")
        ):
            unchanged += 1
        else:
            todo.append((person, month, refs))
    total_nights = sum(len(r) for _, _, r in todo)
    unreadable = list(catalog.unreadable)
    done = 0
    for person, month, refs in todo:
        parts: dict[str, list] = {"nights": [], "events": [], "epochs": []}
        for ref in refs:
            try:
                tables = night_tables(ref, ref.key(root))
            except InputError as exc:  # listed, like a night whose summary is unreadable
                unreadable.append((ref.folder, str(exc)))
                tables = {}
            for name, table in tables.items():
                parts[name].append(table)
            done += 1
            if progress is not None:
                progress(done, total_nights)
        for name, tables in parts.items():
            if not tables:  # every night of the partition unreadable: an empty table
                tables = [schemas()[name].empty_table()]
            _write_parquet(
                pa.concat_tables(tables),
                partition_dir(dataset, name, person, month) / "part-0.parquet",
            )
        written += 1
    removed = 0
    for gid, info in old_groups.items():
        if gid not in new_groups:
            for t in ("nights", "events", "epochs"):
                _remove_partition(dataset, t, info["person"], info["month"])
            removed += 1
    diary_digest = hashlib.sha256(
        json.dumps([FORMAT, [e.row() for e in entries]]).encode()
    ).hexdigest()
    old_diary = old.get("diary", {})
    if old_diary.get("digest") != diary_digest:
        for person, month in old_diary.get("partitions", []):
            if (person, month) not in diary_groups:
                _remove_partition(dataset, "diary", person, month)
        for (person, month), group in sorted(diary_groups.items()):
            _write_parquet(
                diary_table(group),
                partition_dir(dataset, "diary", person, month) / "part-0.parquet",
            )
    sits_state = _export_sits(catalog, root, dataset, old.get("sits", {}))
    manifest = {
        "format": FORMAT,
        "legsense_version": __version__,
        "exported_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": str(root.resolve()),
        "groups": new_groups,
        "diary": {"digest": diary_digest, "partitions": [[p, m] for p, m in diary_groups]},
        "sits": sits_state,
        "unreadable": [[str(f), why] for f, why in unreadable],
    }
    dataset.mkdir(parents=True, exist_ok=True)
    write_text_atomically(
        dataset / MANIFEST, json.dumps(manifest, indent=1) + "\n", make_parents=True
    )
    if progress is not None and total_nights == 0:
        progress(1, 1)
    return ExportResult(
        nights=len(catalog.nights),
        partitions_written=written,
        partitions_unchanged=unchanged,
        partitions_removed=removed,
        unreadable=unreadable,
        dataset=dataset,
    )


def _export_sits(catalog, root: Path, dataset: Path, old: dict[str, Any]) -> dict[str, Any]:
    """Write the sits table (person x month partitions) when any SIT or night changed;
    overlapping SITs of one person are bad input (sit_report.check_overlaps)."""
    from legsense.sit_report import following_night

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for ref in catalog.sits:
        night = following_night(ref, catalog.nights)
        row = sit_record(ref, ref.key(root), night, None if night is None else night.key(root))
        groups.setdefault((ref.person, month_of(ref.evening)), []).append(row)
    prints = [fingerprint(r) for r in catalog.sits] + [
        [str(n.folder), n.summary.get("plm_index")] for n in catalog.nights
    ]
    digest = hashlib.sha256(json.dumps([FORMAT, prints], default=str).encode()).hexdigest()
    if old.get("digest") == digest:
        return old
    for person, month in old.get("partitions", []):
        if (person, month) not in groups:
            _remove_partition(dataset, "sits", person, month)
    for (person, month), rows in sorted(groups.items()):
        _write_parquet(
            sits_table(rows), partition_dir(dataset, "sits", person, month) / "part-0.parquet"
        )
    return {"digest": digest, "partitions": [[p, m] for p, m in groups]}


# --- questions ------------------------------------------------------------------------


def connect(dataset: Path):
    """A DuckDB connection (in memory) with the views nights, events, epochs, diary."""
    import duckdb

    dataset = Path(dataset)
    if not dataset.is_dir():
        raise InputError("no such dataset folder", dataset)
    if not (dataset / MANIFEST).exists():
        raise InputError(f"not a legsense dataset (no {MANIFEST}; make one with export)", dataset)
    con = duckdb.connect(":memory:")
    for table in TABLES:
        if next((dataset / table).glob("person=*/month=*/part-0.parquet"), None) is not None:
            pattern = str(dataset / table / "*" / "*" / "part-0.parquet").replace("'", "''")
            con.execute(
                f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{pattern}', "
                "hive_partitioning = true, hive_types = {'person': VARCHAR, 'month': VARCHAR})"
            )
        else:  # an empty table with the right columns
            cols = ", ".join(
                f"CAST(NULL AS {DUCKDB_TYPES[kind]}) AS {name}"
                for name, kind in table_columns()[table]
            )
            con.execute(
                f"CREATE VIEW {table} AS SELECT NULL::VARCHAR AS person, NULL::VARCHAR AS month, "
                f"{cols} WHERE false"
            )
    return con


def query(dataset: Path, sql: str) -> tuple[list[str], list[tuple]]:
    """Run SQL against the dataset; (column names, rows). Bad SQL: InputError (exit 2)."""
    import duckdb

    con = connect(dataset)
    try:
        cur = con.execute(sql)
        if cur.description is None:
            return [], []
        names = [d[0] for d in cur.description]
        return names, cur.fetchall()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"query failed: {first}") from None
    finally:
        con.close()
