"""The suggested immobilization test (SIT): scoring and the SIT folder.

A SIT is a device recording whose header config says `"mode": "sit"` (with `sit_min`,
the planned length, and `rating_every_min`, how often the person is asked to rate the
discomfort in the legs). It ends with M_SIT_DONE when it ran its full length; any other
ending (stopped by button or host, flash full, a reset loop, still open) means it stopped
early, and what was recorded is scored and said to be short. Ratings are M_RATING
markers: value 0-10, or RATING_MISSED for a prompt nobody answered; text is the source
(`button` or `host`).

The SIT folder (`DIR/<device>/<date>_sit_<id>/` beside the nights, docs/sit.md):

    events.csv    the movements, scored like a night's (the whole SIT is wake: PLMW)
    ratings.csv   t_s, utc, minute, rating (0-10 or `missed`), source
    markers.csv   every marker the device logged
    summary.json  `kind: "sit"`, the indices over the test, the discomfort curve, the
                  published cut-offs with their sources and limits
    sit.png       movements over the test, and the discomfort ratings

The scoring is the night's (legsense.scoring, WASM/IRLSSG 2016): the test is wake, so
the PLM index over the test is the PLMW index. The IMI window is an option because the
SIT literature varies (the 2016 standard's 10-90 s; Michaud et al. 2001 scored SITs with
4-90 s): ScoringParams(min_imi_s=4).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from legsense_core import records as R

from legsense import __version__
from legsense.errors import InputError
from legsense.night import Epochs, Movements, NightInfo
from legsense.night_folder import atomic_folder, events_csv, markers_csv
from legsense.scoring import Scoring, ScoringParams, score_movements

KIND = "sit"
DEFAULT_SIT_MIN = 60
DEFAULT_EVERY_MIN = 10
MAX_SIT_MIN = 24 * 60
MAX_RATING = 10
RATINGS_COLUMNS = ["t_s", "utc", "minute", "rating", "source"]
MISSED = "missed"
LATE_RATING_S = 120.0  # a prompt due at the end is answered up to ~1 min after it

# Published cut-offs. Each number here was read in the paper's abstract (docs/sit.md says
# how, and what the paper measured); one not verifiable is left out, never guessed.
MONTPLAISIR_1998 = {
    "figure": "plmw_index",
    "threshold_per_h": 40.0,
    "rule": "above",
    "source": "Montplaisir J, Boucher S, Nicolas A, et al. Immobilization tests and periodic "
    "leg movements in sleep for the diagnosis of restless leg syndrome. Mov Disord "
    "1998;13(2):324-329. doi:10.1002/mds.870130220",
    "reported": "a SIT index above 40 per hour separated RLS patients from matched controls "
    "(81 % of patients and 81 % of controls classified correctly)",
    "limits": "measured with EMG of both tibialis anterior muscles during a 1-h SIT in a "
    "laboratory, with the older (4-90 s) periodicity rules; an ankle accelerometer on one leg "
    "misses the other leg's movements and counts differently (an actimeter needed per-recording "
    "threshold adjustment during SITs: Yang et al., Sleep Med 2014;15(1):132-137): indicative "
    "only, not a diagnosis",
}
CUTOFFS = (MONTPLAISIR_1998,)


@dataclass(frozen=True)
class Rating:
    """One rating prompt: when (s since the start), the answer (None: missed), from where."""

    t_s: float
    rating: int | None
    source: str = ""

    @property
    def missed(self) -> bool:
        return self.rating is None


@dataclass
class SitSession:
    """What a SIT recorded: its plan, how far it ran, its movements and ratings."""

    movements: Movements
    info: NightInfo
    ratings: list[Rating]
    sit_min: float = DEFAULT_SIT_MIN
    every_min: float = DEFAULT_EVERY_MIN
    test_s: float = 0.0  # how long the test ran (to M_SIT_DONE, or as far as recorded)
    completed: bool = True
    ending: str = ""  # why it ended ("SIT complete", "stopped by host", "still recording")
    epochs: Epochs | None = None
    markers: list[tuple] | None = None
    problems: list[str] = field(default_factory=list)


def sit_plan(config: dict[str, Any], where: str | Path | None = None) -> tuple[float, float] | None:
    """(sit_min, rating_every_min) when the header config is a SIT's, else None.
    InputError for a SIT config with impossible numbers."""
    if config.get("mode") != KIND:
        return None
    sit_min = config.get("sit_min", DEFAULT_SIT_MIN)
    every = config.get("rating_every_min", DEFAULT_EVERY_MIN)
    for name, value in (("sit_min", sit_min), ("rating_every_min", every)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise InputError(f"the SIT header's {name} {value!r} is not a positive number", where)
    if sit_min > MAX_SIT_MIN:
        raise InputError(f"the SIT header's sit_min {sit_min!r} is over {MAX_SIT_MIN}", where)
    return float(sit_min), float(every)


def check_rating(value: int, where: str | Path | None = None, line: int | None = None) -> None:
    """InputError unless value is a rating 0-10 or RATING_MISSED."""
    if value != R.RATING_MISSED and not 0 <= value <= MAX_RATING:
        raise InputError(
            f"rating {value} out of range: a rating is 0-{MAX_RATING} "
            f"({R.RATING_MISSED} for a missed prompt)",
            where,
            line,
        )


def ratings_from_markers(rows: list[tuple], where: str | Path | None = None) -> list[Rating]:
    """The ratings among markers.csv rows (t_s, utc, code, name, value, text)."""
    out = []
    for t_s, _utc, code, _name, value, text in rows:
        if int(code) != R.M_RATING:
            continue
        check_rating(int(value), where)
        rating = None if int(value) == R.RATING_MISSED else int(value)
        out.append(Rating(float(t_s), rating, str(text)))
    return out


def session_from_decoded(decoded: Any, config: dict[str, Any], closed: bool) -> SitSession:
    """A SitSession from a decoded device recording (night_decode.DecodedNight) whose
    header config is a SIT's."""
    plan = sit_plan(config, decoded.info.source)
    assert plan is not None
    sit_min, every = plan
    markers = decoded.markers or []
    done = [float(m[0]) for m in markers if int(m[2]) == R.M_SIT_DONE]
    endings = [m for m in markers if int(m[2]) in R.ENDING_MARKERS]
    if done:
        # The device answers a prompt due at the end before it writes M_SIT_DONE: the
        # test is the planned minutes (the last rating may come just after them).
        test_s = min(done[0], sit_min * 60.0)
        completed, ending = True, R.MARKER_NAMES[R.M_SIT_DONE]
    else:
        test_s, completed = float(decoded.info.recording_s), False
        if endings:
            t_end = float(endings[-1][0])
            if 0 < t_end < test_s:
                test_s = t_end
            ending = str(endings[-1][3])
        else:
            ending = "still recording" if not closed else "ended without a marker"
    return SitSession(
        movements=decoded.movements,
        info=decoded.info,
        ratings=ratings_from_markers(markers, decoded.info.source),
        sit_min=sit_min,
        every_min=every,
        test_s=max(test_s, 0.0),
        completed=completed,
        ending=ending,
        epochs=decoded.epochs,
        markers=markers,
    )


def read_ratings_csv(path: Path) -> list[Rating]:
    """Ratings typed in a CSV: `minute` or `t_s`, `rating` (0-10, or `missed`/empty for a
    prompt nobody answered), optional `source`. InputError naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path) from None
    rows = [
        (n, r)
        for n, r in enumerate(csv.reader(io.StringIO(text)), start=1)
        if r and r[0].strip() and not r[0].lstrip().startswith("#")
    ]
    if not rows:
        raise InputError("no ratings: expected a header with minute (or t_s) and rating", path)
    head_line, header = rows[0]
    cols = [c.strip() for c in header]
    if "rating" not in cols or ("minute" not in cols and "t_s" not in cols):
        raise InputError(
            f"header must have minute (or t_s) and rating, got {','.join(cols)}", path, head_line
        )
    i_t = cols.index("t_s") if "t_s" in cols else cols.index("minute")
    scale = 1.0 if cols[i_t] == "t_s" else 60.0
    i_r = cols.index("rating")
    i_s = cols.index("source") if "source" in cols else -1
    out = []
    for line, r in rows[1:]:
        if len(r) != len(cols):
            raise InputError(f"expected {len(cols)} fields, got {len(r)}", path, line)
        try:
            t = float(r[i_t]) * scale
        except ValueError:
            raise InputError(f"{cols[i_t]} is not a number: {r[i_t]!r}", path, line) from None
        if not math.isfinite(t) or t < 0:
            raise InputError(f"{cols[i_t]} must be a time >= 0, got {r[i_t]!r}", path, line)
        word = r[i_r].strip().lower()
        if word in ("", MISSED):
            rating = None
        else:
            try:
                value = int(word)
            except ValueError:
                raise InputError(
                    f"rating must be a whole number 0-{MAX_RATING} or 'missed', got {r[i_r]!r}",
                    path,
                    line,
                ) from None
            if not 0 <= value <= MAX_RATING:
                raise InputError(
                    f"rating {value} out of range: a rating is 0-{MAX_RATING}", path, line
                )
            rating = value
        source = r[i_s].strip() if i_s >= 0 else "typed"
        out.append(Rating(t, rating, source))
    if not out:
        raise InputError("no ratings: the file has a header and nothing else", path)
    return sorted(out, key=lambda x: x.t_s)


def _in_test(movements: Movements, test_s: float) -> Movements:
    keep = movements.onset_s < test_s
    return Movements.from_arrays(
        movements.onset_s[keep], np.minimum(movements.offset_s[keep], test_s), movements.leg[keep]
    )


def discomfort(ratings: list[Rating], test_s: float, every_min: float) -> dict[str, Any]:
    """The discomfort curve: each prompt's minute and answer, and the figures of it."""
    answered = [r.rating for r in ratings if r.rating is not None]
    prompts_due = math.floor(test_s / 60.0 / every_min + 1e-9)
    values = np.array(answered, dtype=float)
    return {
        "scale": f"0 (none) - {MAX_RATING} (worst)",
        "prompt_every_min": every_min,
        "prompts_due": prompts_due,
        "prompts_logged": len(ratings),
        "rating_count": len(answered),
        "missed_count": sum(1 for r in ratings if r.missed),
        "mean_rating": round(float(values.mean()), 2) if len(values) else None,
        "max_rating": int(values.max()) if len(values) else None,
        "first_rating": answered[0] if answered else None,
        "last_rating": answered[-1] if answered else None,
        "ratings_per_hour": round(len(answered) / (test_s / 3600.0), 2) if test_s > 0 else None,
        "curve": [
            {"minute": round(r.t_s / 60.0, 2), "rating": r.rating, "source": r.source}
            for r in ratings
        ],
    }


def cutoff_verdicts(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Each published cut-off with this SIT's figure and which side of it it falls."""
    out = []
    for c in CUTOFFS:
        value = summary.get(c["figure"])
        item = dict(c)
        item["value"] = value
        item["above"] = None if value is None else bool(value > c["threshold_per_h"])
        out.append(item)
    return out


@dataclass
class SitScore:
    """A scored SIT: the night scoring over the test, and summary.json's content."""

    scoring: Scoring
    movements: Movements
    summary: dict[str, Any]


def score_sit(session: SitSession, params: ScoringParams | None = None) -> SitScore:
    """Score the movements of the test by the 2016 rules (the whole test is wake) and
    summarise the ratings. InputError when nothing was recorded."""
    params = params or ScoringParams()
    test_s = float(session.test_s)
    where = session.info.source or None
    if not test_s > 0:
        raise InputError("the SIT recorded nothing (0 s): nothing to score", where)
    late = [r for r in session.ratings if r.t_s > test_s + LATE_RATING_S]
    if late:
        raise InputError(
            f"a rating at minute {late[0].t_s / 60:.1f} is after the test's end "
            f"(minute {test_s / 60:.1f})",
            where,
        )
    movements = _in_test(session.movements, test_s)
    analysed_s = min(float(session.info.analysed_s or test_s), test_s)
    spans = None
    if session.info.data_spans_s:
        spans = [(s, min(e, test_s)) for s, e in session.info.data_spans_s if s < test_s]
    info = NightInfo(
        recording_s=test_s,
        analysed_s=max(analysed_s, 1e-3),
        sample_rate_hz=session.info.sample_rate_hz,
        start_utc=session.info.start_utc,
        imu=session.info.imu,
        leg=session.info.leg,
        source=session.info.source,
        data_spans_s=spans,
    )
    scoring = score_movements(movements, info, params)
    s = scoring.summary
    problems = list(session.problems)
    if not session.completed:
        problems.append(
            f"stopped early: {session.ending or 'no end marker'} after "
            f"{test_s / 60:.1f} of {session.sit_min:g} min; the figures are of what was recorded"
        )
    if not session.ratings and test_s >= session.every_min * 60.0:
        problems.append("no ratings: no prompt was answered or logged")
    summary: dict[str, Any] = {
        "kind": KIND,
        "rules": s["rules"],
        "index_basis": "per hour of the test with data; the whole test is wake (PLMW)",
        "planned_min": session.sit_min,
        "test_min": round(test_s / 60.0, 2),
        "completed": session.completed,
        "ending": session.ending,
        "stopped_early": not session.completed,
        "recording_hours": s["recording_hours"],
        "analysed_hours": s["analysed_hours"],
        "movement_count": s["movement_count"],
        "lm_count": s["lm_count"],
        "clm_count": s["clm_count"],
        "plm_count": s["plm_count"],
        "plm_series_count": s["plm_series_count"],
        "lm_index": s["lm_index"],
        "plm_index": s["plm_index"],
        "plmw_index": s["plm_index"],
        "periodicity_index": s["periodicity_index"],
        "mean_lm_duration_s": s["mean_lm_duration_s"],
        "median_plm_imi_s": s["median_plm_imi_s"],
        "imi_window_s": [params.min_imi_s, params.max_imi_s],
        "discomfort": discomfort(session.ratings, test_s, session.every_min),
        "params": s["params"],
        "problems": problems,
    }
    summary["cutoffs"] = cutoff_verdicts(summary)
    i = session.info
    summary["recording"] = {
        "kind": KIND,
        "source": i.source,
        "start_utc": None if i.start_utc is None else i.start_utc.isoformat(),
        "end_utc": None
        if i.start_utc is None
        else (i.start_utc + timedelta(seconds=test_s)).isoformat(),
        "sample_rate_hz": round(i.sample_rate_hz, 3),
        "imu": i.imu,
        "leg": i.leg,
        "recording_s": round(i.recording_s, 3),
        "analysed_s": round(analysed_s, 3),
        **i.extra,
    }
    summary["legsense_version"] = __version__
    return SitScore(scoring, movements, summary)


def ratings_csv(ratings: list[Rating], start_utc: datetime | None) -> str:
    """ratings.csv text: one row per prompt."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(RATINGS_COLUMNS)
    for r in ratings:
        utc = (
            ""
            if start_utc is None
            else (start_utc + timedelta(seconds=r.t_s)).isoformat(timespec="seconds")
        )
        w.writerow(
            [
                f"{r.t_s:.3f}",
                utc,
                f"{r.t_s / 60.0:.2f}",
                MISSED if r.rating is None else r.rating,
                r.source,
            ]
        )
    return buf.getvalue()


def write_sit_folder(
    out: Path,
    session: SitSession,
    result: SitScore,
    picture: bool = True,
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    """Write the SIT folder atomically (summary.json last)."""
    info = NightInfo(
        result.summary["recording_hours"] * 3600.0,
        result.summary["analysed_hours"] * 3600.0,
        session.info.sample_rate_hz,
        start_utc=session.info.start_utc,
        leg=session.info.leg,
    )
    with atomic_folder(out) as tmp:
        (tmp / "events.csv").write_text(events_csv(result.movements, result.scoring, info))
        (tmp / "ratings.csv").write_text(ratings_csv(session.ratings, session.info.start_utc))
        if session.markers is not None:
            (tmp / "markers.csv").write_text(markers_csv(session.markers))
        if picture:
            from legsense.sit_plot import plot_sit  # matplotlib: only when drawing

            plot_sit(tmp / "sit.png", result, session)
        for name, data in (extra_files or {}).items():
            (tmp / name).write_bytes(data)
        (tmp / "summary.json").write_text(
            json.dumps(result.summary, indent=2, allow_nan=False) + "\n"
        )
    return out


def is_sit_summary(summary: dict[str, Any]) -> bool:
    """Does this summary.json describe a SIT (not a night)?"""
    rec = summary.get("recording")
    return summary.get("kind") == KIND or (isinstance(rec, dict) and rec.get("kind") == KIND)
