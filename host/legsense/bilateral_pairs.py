"""Which synced nights are the two legs of one person's night, and what stands in the way.

A device configured with `person=P leg=left|right` writes both into every night's
header, so each synced night folder (DIR/<device>/<night>/ with night.bin and
summary.json) says whose leg it recorded. Nights of one person are paired when one is a
left leg's, the other a right leg's, both have a UTC time axis (the device clock was
set) and they overlap by at least MIN_OVERLAP_S. What cannot be paired is said, in two
kinds:

* notes (nothing is wrong): a night of nobody in particular (the device has no person),
  a person's leg with no night of the other leg near it (one sensor worn that night);
* problems (bad input: the nights stay single-leg until it is fixed): two devices of one
  person configured as the same leg with overlapping nights, a night of a person that
  names no leg while the other leg's night is there, a night without UTC next to the
  other leg's, and nights of the two legs within NEAR_S of each other that do not
  overlap (a clock set wrong, or a sensor started a day late).

Only the folders' first record (the header) and summary.json are read here; the merge
(bilateral_night) decodes the nights it builds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from legsense.night_decode import read_header_file
from legsense.night_store import NIGHT_BIN, device_folder_name, night_key

PERSONS = "persons"  # DIR/persons/<person>/<date>_bilateral_<id>/
SUMMARY = "summary.json"
MIN_OVERLAP_S = 300.0  # two legs' nights that share less than this are not one night
NEAR_S = 12 * 3600.0  # nights of the two legs this close but apart: something is wrong
LEGS = ("left", "right")


@dataclass(frozen=True)
class LegNight:
    """One synced night folder of a person's leg, as its header and summary say."""

    folder: Path
    device_id: str
    night_id: int
    night_key: str
    person: str
    leg: str  # "left" | "right" | "" (the device named no leg)
    start_ms: float | None  # UTC ms of its start (None: the clock was never set)
    end_ms: float | None
    stamp: str  # what its folder was made from: night.bin digest and clock anchors

    @property
    def utc_known(self) -> bool:
        return self.start_ms is not None and self.end_ms is not None

    def name(self) -> str:
        """The night in words: device, id and when."""
        when = "no UTC" if self.start_ms is None else _hhmm_span(self.start_ms, self.end_ms)
        return f"device {self.device_id} night {self.night_id} ({when})"


@dataclass(frozen=True)
class Pair:
    """A person's left and right nights that overlap: one bilateral night."""

    person: str
    left: LegNight
    right: LegNight

    @property
    def start_ms(self) -> float:
        return max(self.left.start_ms or 0.0, self.right.start_ms or 0.0)

    @property
    def end_ms(self) -> float:
        return min(self.left.end_ms or 0.0, self.right.end_ms or 0.0)

    @property
    def identity(self) -> str:
        """16 hex digits naming the pair of nights (stable across re-syncs)."""
        text = "\0".join(
            (self.left.device_id, self.left.night_key, self.right.device_id, self.right.night_key)
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def folder(self, root: Path) -> Path:
        """DIR/persons/<person>/<UTC date of the shared start>_bilateral_<identity>."""
        day = datetime.fromtimestamp(self.start_ms / 1000.0, tz=UTC).strftime("%Y-%m-%d")
        return person_folder(root, self.person) / f"{day}_bilateral_{self.identity}"


@dataclass(frozen=True)
class Finding:
    """A note or a problem about some nights (their folders)."""

    text: str
    folders: tuple[Path, ...]
    problem: bool = False


@dataclass
class Plan:
    """What to merge, and what was found that cannot be."""

    pairs: list[Pair] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    persons: list[str] = field(default_factory=list)

    def note(self, text: str, *nights: LegNight) -> None:
        self.findings.append(Finding(text, tuple(n.folder for n in nights)))

    def problem(self, text: str, *nights: LegNight) -> None:
        self.findings.append(Finding(text, tuple(n.folder for n in nights), problem=True))

    @property
    def problems(self) -> list[str]:
        return [f.text for f in self.findings if f.problem]


def person_folder(root: Path, person: str) -> Path:
    """Where a person's merged nights go (the name escaped like a device folder)."""
    return Path(root) / PERSONS / device_folder_name(person)


def leg_nights(root: Path) -> list[LegNight]:
    """Every synced night under DIR/<device>/ with a readable header and summary."""
    out: list[LegNight] = []
    root = Path(root)
    try:
        devices = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return out
    for device in devices:
        if device.name.startswith(".") or device.name == PERSONS:
            continue
        try:
            folders = sorted(p for p in device.iterdir() if p.is_dir())
        except OSError:
            continue
        for folder in folders:
            if folder.name.startswith("."):
                continue
            night = _leg_night(folder)
            if night is not None:
                out.append(night)
    return out


def _leg_night(folder: Path) -> LegNight | None:
    header = read_header_file(folder / NIGHT_BIN)
    if header is None or header.detector.get("mode") == "sit":
        return None  # no header, or a SIT (docs/sit.md): not a night to merge
    try:
        summary = json.loads((folder / SUMMARY).read_text())
    except (OSError, ValueError):
        return None  # no night folder (yet): nothing to merge
    rec = summary.get("recording") if isinstance(summary, dict) else None
    if not isinstance(rec, dict):
        return None
    start_ms = end_ms = None
    clock = summary.get("clock") if isinstance(summary.get("clock"), dict) else {}
    text = rec.get("start_utc")
    length = rec.get("recording_s")
    if (
        isinstance(text, str)
        and text
        and isinstance(length, int | float)
        and (clock or {}).get("utc_known", True)
    ):
        try:
            start = datetime.fromisoformat(text)
        except ValueError:
            start = None
        if start is not None:
            start = start if start.tzinfo else start.replace(tzinfo=UTC)
            start_ms = start.timestamp() * 1000.0
            end_ms = start_ms + float(length) * 1000.0
    stamp = f"{rec.get('night_bin_sha256', '')};{rec.get('clock_anchors', '')}"
    return LegNight(
        folder=folder,
        device_id=header.device_id,
        night_id=header.night_id,
        night_key=night_key(header),
        person=header.person,
        leg=header.leg,
        start_ms=start_ms,
        end_ms=end_ms,
        stamp=stamp,
    )


def plan(nights: Iterable[LegNight], persons: Iterable[str] | None = None) -> Plan:
    """Pair the nights of each person (of `persons` only, when given)."""
    nights = list(nights)
    wanted = None if persons is None else set(persons)
    out = Plan()
    by_person: dict[str, list[LegNight]] = {}
    for n in nights:
        if n.person and (wanted is None or n.person in wanted):
            by_person.setdefault(n.person, []).append(n)
    out.persons = sorted(by_person)
    for person in out.persons:
        _plan_person(person, by_person[person], out)
    return out


def _overlap_s(a: LegNight, b: LegNight) -> float:
    if not (a.utc_known and b.utc_known):
        return 0.0
    return (min(a.end_ms, b.end_ms) - max(a.start_ms, b.start_ms)) / 1000.0  # type: ignore[operator,type-var]


def _apart_s(a: LegNight, b: LegNight) -> float:
    """Seconds between two nights that do not overlap (0 when they do)."""
    return max(0.0, -_overlap_s(a, b))


def _plan_person(person: str, nights: list[LegNight], out: Plan) -> None:
    legs = {leg: [n for n in nights if n.leg == leg] for leg in LEGS}
    if not legs["left"] and not legs["right"]:
        out.note(
            f"{person}: no night names a leg; set one with `legsense config set leg=left` "
            "(or right) on each sensor: nights stay single-leg",
            *nights,
        )
        return
    blocked: set[Path] = set()
    # A night of the person without a leg: a problem when the other nights are there.
    for n in nights:
        if n.leg not in LEGS and any(
            m.leg in LEGS and (not n.utc_known or _overlap_s(n, m) > 0) for m in nights
        ):
            out.problem(
                f"{person}: {n.name()} names no leg, beside the person's other legs' "
                "nights: cannot merge it (set `legsense config set leg=left` or right on "
                "that sensor)",
                n,
            )
    # Two devices as the same leg, recording at the same time.
    for leg in LEGS:
        same = legs[leg]
        for i, a in enumerate(same):
            for b in same[i + 1 :]:
                if a.device_id != b.device_id and _overlap_s(a, b) > 0:
                    blocked.update((a.folder, b.folder))
                    out.problem(
                        f"{person} has two {leg} legs: {a.name()} and {b.name()} overlap; "
                        f"set the other leg on one of them (`legsense config set leg="
                        f"{'right' if leg == 'left' else 'left'} --port ...`): these nights "
                        "are not merged",
                        a,
                        b,
                    )
    other_leg = {"left": "right", "right": "left"}
    usable = {leg: [n for n in legs[leg] if n.folder not in blocked] for leg in LEGS}
    paired: set[Path] = set()
    for n in usable["left"]:
        for m in usable["right"]:
            if _overlap_s(n, m) >= MIN_OVERLAP_S:
                out.pairs.append(Pair(person, n, m))
                paired.update((n.folder, m.folder))
    reported: set[Path] = set()
    for n in usable["left"]:  # the two legs near each other, but not one night
        for m in usable["right"]:
            if (
                n.utc_known
                and m.utc_known
                and _overlap_s(n, m) < MIN_OVERLAP_S
                and _apart_s(n, m) < NEAR_S
                and n.folder not in paired
                and m.folder not in paired
            ):
                reported.update((n.folder, m.folder))
                shared = _overlap_s(n, m)
                how = (
                    f"share only {shared / 60:.0f} min"
                    if shared > 0
                    else f"are {_apart_s(n, m) / 60:.0f} min apart"
                )
                out.problem(
                    f"{person}: the left leg's {n.name()} and the right leg's {m.name()} "
                    f"{how}: they do not overlap enough to be one night (was a clock set "
                    "wrong, or a sensor started late?); each stays single-leg",
                    n,
                    m,
                )
    for n in usable["left"] + usable["right"]:
        if n.folder in paired or n.folder in reported:
            continue
        others = usable[other_leg[n.leg]]
        if not n.utc_known and others:
            out.problem(
                f"{person}: cannot merge {n.name()} ({n.leg} leg): its device clock was "
                "never set, so it has no UTC to line up with the other leg (`legsense "
                "time --set` before a night); it stays single-leg",
                n,
            )
        else:
            out.note(
                f"{person}: {n.name()} is the {n.leg} leg only (no {other_leg[n.leg]}-leg "
                "night overlaps it): single-leg night",
                n,
            )


def _hhmm_span(start_ms: float, end_ms: float | None) -> str:
    a = datetime.fromtimestamp(start_ms / 1000.0, tz=UTC)
    text = f"{a:%Y-%m-%d %H:%M}"
    if end_ms is not None:
        b = datetime.fromtimestamp(end_ms / 1000.0, tz=UTC)
        text += f"-{b:%H:%M}" if b.date() == a.date() else f"-{b:%Y-%m-%d %H:%M}"
    return text + " UTC"
