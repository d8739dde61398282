"""Re-analysis at study scale: the detector and the scoring over many nights' raw samples,
in parallel on Dask.

Input: every night folder under DIR that keeps the raw samples its detector saw
(`raw.csv`, a legsense trace: what a validation night syncs, or what a study stores).
Each night is one task: `legsense analyze raw.csv --out OUT/<same relative folder>` with
the scoring options given, run by a Dask worker — a local cluster of worker processes
by default (the detector is pure Python: processes, not threads, use the cores), or an
existing cluster by its scheduler address. markers.csv is copied along.

Resumable: a finished night gets `reanalysis.json` (what was analysed, with which
options and software) written last, atomically; a rerun skips nights whose stamp
matches, so a cut run (Ctrl-C, a lost worker, a reboot) continues where it stopped, and
changing the options redoes everything. Night folders themselves are written
atomically by `analyze`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from legsense import __version__
from legsense.atomic_file import write_text_atomically
from legsense.errors import InputError

RAW = "raw.csv"
STAMP = "reanalysis.json"


@dataclass(frozen=True)
class Job:
    """One night to analyse."""

    raw: str  # path of raw.csv
    out: str  # night folder to write
    options: tuple[str, ...]  # scoring options, as on the command line
    picture: bool
    stamp: dict[str, Any] = field(hash=False, compare=False, default_factory=dict)


@dataclass
class Outcome:
    """What happened to one night."""

    out: str
    ok: bool
    message: str = ""
    seconds: float = 0.0
    skipped: bool = False


@dataclass
class ReanalysisResult:
    """The whole run."""

    outcomes: list[Outcome]
    seconds: float
    workers: int
    cluster: str

    @property
    def done(self) -> int:
        return sum(1 for o in self.outcomes if o.ok and not o.skipped)

    @property
    def skipped(self) -> int:
        return sum(1 for o in self.outcomes if o.skipped)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def nights_per_minute(self) -> float:
        return 60.0 * self.done / self.seconds if self.seconds > 0 else 0.0


def stamp_for(raw: Path, options: tuple[str, ...], picture: bool) -> dict[str, Any]:
    """What a finished night is checked against: the input's size and time, the options."""
    st = raw.stat()
    return {
        "raw": str(raw),
        "raw_bytes": st.st_size,
        "raw_mtime_ns": st.st_mtime_ns,
        "options": list(options),
        "picture": picture,
        "legsense_version": __version__,
    }


def is_done(job: Job) -> bool:
    try:
        old = json.loads((Path(job.out) / STAMP).read_text())
    except (OSError, ValueError):
        return False
    return old == job.stamp and (Path(job.out) / "summary.json").exists()


def find_jobs(root: Path, out: Path, options: tuple[str, ...], picture: bool = False) -> list[Job]:
    """A job for every folder under root that holds raw.csv (hidden folders skipped)."""
    root, out = Path(root), Path(out)
    if not root.exists():
        raise InputError("no such folder", root)
    if not root.is_dir():
        raise InputError("not a folder", root)
    jobs = []
    for raw in sorted(root.rglob(RAW)):
        rel = raw.parent.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if out.resolve() in raw.resolve().parents:
            continue  # our own output
        target = out / rel if rel.parts else out / raw.parent.name
        jobs.append(Job(str(raw), str(target), options, picture, stamp_for(raw, options, picture)))
    return jobs


def analyse_one(job: Job) -> Outcome:
    """Run `legsense analyze` on one night (in a worker); never raises."""
    from legsense.cli import main

    t0 = time.perf_counter()
    err = io.StringIO()
    argv = ["analyze", job.raw, "--out", job.out, "-q", *job.options]
    if not job.picture:
        argv.append("--no-picture")
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = main(argv)
    except BaseException as exc:  # a worker must report, not die
        return Outcome(job.out, False, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0)
    if status != 0:
        message = err.getvalue().strip().splitlines()
        return Outcome(job.out, False, message[-1] if message else f"exit {status}")
    source = Path(job.raw).parent
    for name in ("markers.csv",):
        if (source / name).exists():
            shutil.copyfile(source / name, Path(job.out) / name)
    write_text_atomically(
        Path(job.out) / STAMP, json.dumps(job.stamp, indent=1) + "\n", make_parents=True
    )
    return Outcome(job.out, True, "", time.perf_counter() - t0)


def _client(workers: int, scheduler: str | None):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError(
            "reanalyze on Dask needs dask.distributed: pip install 'legsense[cluster]' "
            "(or --workers 0 to run in this process)"
        ) from None
    if scheduler:
        try:
            return Client(scheduler, timeout="10s"), f"scheduler {scheduler}"
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=cast(str, None),  # None: no dashboard (the stub says str only)
        silence_logs=logging.ERROR,
    )
    return Client(cluster), f"local cluster, {workers} worker process(es)"


def reanalyze(
    root: Path,
    out: Path,
    options: tuple[str, ...] = (),
    workers: int = 2,
    scheduler: str | None = None,
    picture: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ReanalysisResult:
    """Analyse every raw night under root into out (see the module doc)."""
    jobs = find_jobs(root, out, options, picture)
    if not jobs:
        raise InputError(f"no night folders with {RAW} (raw samples) here", root)
    todo = [j for j in jobs if not is_done(j)]
    outcomes = [
        Outcome(j.out, True, "already done", 0.0, skipped=True) for j in jobs if j not in todo
    ]
    Path(out).mkdir(parents=True, exist_ok=True)
    total = len(jobs)
    if progress is not None:
        progress(len(outcomes), total)
    t0 = time.perf_counter()
    if workers == 0 and not scheduler:
        for job in todo:
            outcomes.append(analyse_one(job))
            if progress is not None:
                progress(len(outcomes), total)
        return ReanalysisResult(outcomes, time.perf_counter() - t0, 0, "this process")
    client, where = _client(workers, scheduler)
    try:
        from distributed import as_completed

        t0 = time.perf_counter()
        futures = client.map(analyse_one, todo, pure=False)
        for future in as_completed(futures):
            outcomes.append(future.result())
            if progress is not None:
                progress(len(outcomes), total)
        seconds = time.perf_counter() - t0
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and not scheduler:
            cluster.close()
    return ReanalysisResult(outcomes, seconds, workers, where)
