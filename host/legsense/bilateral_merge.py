"""Build every bilateral night a data folder allows: after a sync, and `legsense merge`.

Pairs come from bilateral_pairs, folders from bilateral_night. One merge at a time per
data folder (DIR/persons/.merge.lock): two syncs of a person's two sensors may end
together. A merged folder whose pair is gone (a night's clock was corrected so the two
no longer overlap, a source folder was deleted) is derived data and is removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from legsense.bilateral_night import Built, build
from legsense.bilateral_pairs import (
    PERSONS,
    SUMMARY,
    Finding,
    LegNight,
    Plan,
    leg_nights,
    person_folder,
    plan,
)
from legsense.errors import InputError
from legsense.scoring import ScoringParams

LOCK = ".merge.lock"
_MERGED = re.compile(r"^\d{4}-\d{2}-\d{2}_bilateral_(?P<id>[0-9a-f]{16})$")


@dataclass
class MergeReport:
    """What a merge did and found."""

    built: list[Built] = field(default_factory=list)  # written or already current
    findings: list[Finding] = field(default_factory=list)
    failed: list[Finding] = field(default_factory=list)  # pairs that could not be built
    removed: list[Path] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.problem] + self.failed

    @property
    def written(self) -> list[Built]:
        return [b for b in self.built if b.written]


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    folder = Path(root) / PERSONS
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one sync at a time there
        yield
        return
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another merge finishes in seconds: wait
        yield
    finally:
        os.close(fd)


def merge_nights(
    root: Path,
    *,
    params: ScoringParams | None = None,
    persons: list[str] | None = None,
    device_id: str | None = None,
    picture: bool = True,
) -> MergeReport:
    """Build or refresh the merged nights under root: of `persons`, or of the persons of
    `device_id`'s nights (a sync), or of everyone. Reads only what changed."""
    params = params or ScoringParams()
    report = MergeReport()
    nights = leg_nights(root)
    mine: list[LegNight] = []
    if device_id is not None:
        mine = [n for n in nights if n.device_id == device_id]
        persons = sorted({n.person for n in mine if n.person})
        if not persons and mine and any(n.person for n in nights):
            report.findings.append(
                Finding(
                    f"device {device_id} has no person: its nights stay single-leg "
                    "(`legsense config set person=NAME leg=left|right --port ...` makes two "
                    "sensors one person's night)",
                    tuple(n.folder for n in mine),
                )
            )
        if not persons:
            return report
    the_plan = plan(nights, persons)
    report.findings.extend(the_plan.findings)
    if not the_plan.persons:
        return report
    with _locked(root):
        for pair in the_plan.pairs:
            try:
                built = build(pair, root, params, picture=picture)
            except InputError as exc:
                report.failed.append(
                    Finding(
                        f"{pair.person}: the bilateral night of {pair.left.name()} and "
                        f"{pair.right.name()} could not be made: {exc}",
                        (pair.left.folder, pair.right.folder),
                        problem=True,
                    )
                )
                continue
            report.built.append(built)
            report.removed.extend(built.removed or [])
        report.removed.extend(_prune(root, the_plan))
    return report


def _prune(root: Path, the_plan: Plan) -> list[Path]:
    """Merged folders of the planned persons whose pair no longer exists."""
    live = {p.identity for p in the_plan.pairs}
    removed = []
    for person in the_plan.persons:
        folder = person_folder(root, person)
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            m = _MERGED.match(entry.name)
            if m is None or m.group("id") in live or not entry.is_dir():
                continue
            try:
                rec = json.loads((entry / SUMMARY).read_text()).get("recording", {})
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(rec, dict) and rec.get("kind") == "bilateral":
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


def involving(findings: list[Finding], folders: set[Path]) -> list[Finding]:
    """The findings about any of these night folders."""
    return [f for f in findings if set(f.folders) & folders]
