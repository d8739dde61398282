"""`legsense score FILE`: score leg movements by WASM/IRLSSG 2016 and print the summary.

FILE is an event list (CSV `onset_s,duration_s[,leg]`) or a PSG event file: a RemLogic
event export or an EDF+ file with annotations (told apart by content). A PSG brings its
sleep stages, respiratory events and arousals, and the summary gets per-stage indices.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from legsense.commands.scoring_options import add_scoring_options, scoring_params_from_args
from legsense.errors import InputError
from legsense.night import Movements, NightInfo
from legsense.night_folder import atomic_folder, read_events_csv
from legsense.psg.context import ScoringContext
from legsense.psg.labels import EventPatterns
from legsense.psg.reader import is_psg_file, read_psg
from legsense.psg.record import PsgRecord
from legsense.psg.report import stage_table_csv, stage_table_text
from legsense.scoring import Scoring, score_movements


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="score an event list or a PSG event file (RemLogic, EDF+) and print the summary",
        description="Score leg movements by the WASM/IRLSSG 2016 rules. FILE is a CSV event "
        "list (onset_s,duration_s[,leg]; indices per hour of recording) or a PSG event file "
        "(RemLogic event export or EDF+ with annotations; sleep stages, respiratory events "
        "and arousals are used: indices per hour of time in bed, of sleep and per stage). "
        "Figures and options: docs/scoring.md.",
    )
    p.add_argument("events", type=Path, metavar="FILE", help="CSV event list or PSG event file")
    p.add_argument(
        "--recording-hours",
        type=float,
        default=None,
        metavar="H",
        help="length of the recording (CSV; default: up to the last movement's offset)",
    )
    p.add_argument(
        "--table", action="store_true", help="print the per-stage table instead of the JSON"
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="also write DIR/summary.json, stages.csv, lms.csv and psg.png",
    )
    add_psg_options(p)
    add_sit_options(p)
    add_scoring_options(p, context=True)
    return p


def add_sit_options(p: argparse.ArgumentParser) -> None:
    """--sit and what a SIT's event list needs (docs/sit.md)."""
    g = p.add_argument_group("SIT: an event list of a suggested immobilization test (docs/sit.md)")
    g.add_argument(
        "--sit",
        action="store_true",
        help="FILE is the event list of a SIT: score it as one (PLMW index, discomfort "
        "curve, published cut-offs); --out writes a SIT folder",
    )
    g.add_argument(
        "--ratings",
        type=Path,
        metavar="CSV",
        help="the ratings: minute (or t_s), rating (0-10 or missed)[, source]",
    )
    g.add_argument(
        "--sit-minutes", type=float, default=60.0, metavar="M", help="planned length (default 60)"
    )
    g.add_argument(
        "--every", type=float, default=10.0, metavar="M", help="minutes between prompts (10)"
    )
    g.add_argument(
        "--stopped-at",
        type=float,
        metavar="M",
        help="the SIT was stopped early at this minute (default: it ran its full length)",
    )


def add_psg_options(p: argparse.ArgumentParser) -> None:
    """Options that say how to read a PSG file (labels, legs, which context to use)."""
    d = EventPatterns()
    g = p.add_argument_group("PSG input (RemLogic, EDF+)")
    g.add_argument(
        "--lm-event",
        action="append",
        metavar="PATTERN",
        help=f"label of a leg movement, a glob without case (repeat; default {', '.join(d.lm)})",
    )
    g.add_argument(
        "--resp-event",
        action="append",
        metavar="PATTERN",
        help="label of a respiratory event (repeat; default APNEA*, HYPOPNEA*, RERA*, "
        "AROUSAL-RERA* (RemLogic's RERA) and EDF+ spellings; add DESAT* to count "
        "desaturations)",
    )
    g.add_argument(
        "--arousal-event",
        action="append",
        metavar="PATTERN",
        help="label of an arousal (repeat; default AROUSAL*, *arousal*)",
    )
    g.add_argument("--left-location", metavar="REGEX", help="location (or label) of the left leg")
    g.add_argument("--right-location", metavar="REGEX", help="location (or label) of the right leg")
    g.add_argument(
        "--leg",
        choices=("both", "left", "right"),
        default="both",
        help="score the LMs of both legs (default) or of one leg only",
    )
    g.add_argument(
        "--ignore",
        action="append",
        choices=("stages", "respiratory", "arousals"),
        default=[],
        help="leave a part of the PSG context out (repeat)",
    )


def patterns_from_args(args: argparse.Namespace) -> EventPatterns:
    """The EventPatterns the options ask for."""
    d = EventPatterns()
    return EventPatterns(
        lm=tuple(args.lm_event) if args.lm_event else d.lm,
        respiratory=tuple(args.resp_event) if args.resp_event else d.respiratory,
        arousal=tuple(args.arousal_event) if args.arousal_event else d.arousal,
        desaturation=d.desaturation,
        left=args.left_location or d.left,
        right=args.right_location or d.right,
    )


def run(args: argparse.Namespace) -> int:
    params = scoring_params_from_args(args)
    if not args.events.exists():
        raise InputError("no such file", args.events)
    if args.sit:
        return _score_sit(args, params)
    if args.ratings is not None:
        raise InputError("--ratings goes with --sit")
    if is_psg_file(args.events):
        record = read_psg(args.events, patterns_from_args(args))
        _warn_unsided(record)
        scoring, _, _ = score_psg(record, params, args.leg, args.ignore)
        extra: dict[str, Any] = {"psg": record.describe(), "psg_leg": args.leg}
        start = record.start
    else:
        scoring, _, _ = _score_csv(args, params)
        extra = {}
        start = None
    summary = dict(scoring.summary)
    summary.update(extra)
    if not is_psg_file(args.events) and args.recording_hours is None:
        summary["recording_hours_source"] = "last offset in the event list"
    if args.out is not None:
        _write_out(args.out, summary, scoring, start)
    if args.table:
        sys.stdout.write(stage_table_text(summary["stage_table"]))
    else:
        json.dump(summary, sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    return 0


def _score_sit(args: argparse.Namespace, params: Any) -> int:
    from legsense.sit import SitSession, read_ratings_csv, score_sit, write_sit_folder

    if is_psg_file(args.events):
        raise InputError("--sit scores a CSV event list, not a PSG file", args.events)
    for name in ("sit_minutes", "every"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"--{name.replace('_', '-')} must be > 0, got {value:g}")
    planned_s = args.sit_minutes * 60.0
    test_s = planned_s
    if args.stopped_at is not None:
        if not (math.isfinite(args.stopped_at) and 0 < args.stopped_at <= args.sit_minutes):
            raise InputError(
                f"--stopped-at must be in (0, --sit-minutes {args.sit_minutes:g}], "
                f"got {args.stopped_at:g}"
            )
        test_s = args.stopped_at * 60.0
    movements = select_leg(read_events_csv(args.events), args.leg)
    if len(movements) and float(movements.onset_s.max()) >= test_s:
        raise InputError(
            f"a movement starts at minute {movements.onset_s.max() / 60:.2f}, after the test's "
            f"end (minute {test_s / 60:g}): give --sit-minutes or --stopped-at",
            args.events,
        )
    ratings = read_ratings_csv(args.ratings) if args.ratings is not None else []
    info = NightInfo(test_s, test_s, 0.0, source=str(args.events))
    stopped = args.stopped_at is not None and test_s < planned_s
    session = SitSession(
        movements,
        info,
        ratings,
        sit_min=args.sit_minutes,
        every_min=args.every,
        test_s=test_s,
        completed=not stopped,
        ending="stopped early (--stopped-at)" if stopped else "SIT complete",
    )
    result = score_sit(session, params)
    if args.out is not None:
        write_sit_folder(args.out, session, result)
    json.dump(result.summary, sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")
    return 0


def _warn_unsided(record: PsgRecord) -> None:
    """One line on stderr when some LMs have no side while others have one: they would
    neither pair nor sit in a series with the other leg's, which ruins a night quietly."""
    unsided = record.unsided_lm_locations()
    if unsided:
        n = int(sum(1 for x in record.movements.leg if not x))
        names = ", ".join(repr(x) for x in unsided)
        print(
            f"legsense score: warning: {n} leg movements have no side (location {names}); "
            "they join no LM of either leg: give --left-location/--right-location",
            file=sys.stderr,
        )


def select_leg(movements: Movements, leg: str) -> Movements:
    """The LMs of one leg ("left"/"right"), or all of them ("both")."""
    if leg == "both":
        return movements
    k = np.array([str(x) == leg for x in movements.leg], dtype=bool)
    return Movements.from_arrays(movements.onset_s[k], movements.offset_s[k], movements.leg[k])


def score_psg(
    record: PsgRecord, params: Any, leg: str = "both", ignore: list[str] | tuple[str, ...] = ()
) -> tuple[Scoring, Movements, NightInfo]:
    """Score a PSG record: its LMs (one leg or both) with its context."""
    ctx = record.context
    context = ScoringContext(
        hypnogram=None if "stages" in ignore else ctx.hypnogram,
        respiratory=None if "respiratory" in ignore else ctx.respiratory,
        arousals=None if "arousals" in ignore else ctx.arousals,
    )
    movements = select_leg(record.movements, leg)
    recording_s = max(record.end_s, 1.0)
    hyp = context.hypnogram
    analysed_s = hyp.hours("TIB") * 3600.0 if hyp is not None and len(hyp) else recording_s
    info = NightInfo(recording_s, min(analysed_s, recording_s), 0.0, source="PSG")
    return score_movements(movements, info, params, context), movements, info


def _score_csv(args: argparse.Namespace, params: Any) -> tuple[Scoring, Movements, NightInfo]:
    movements = read_events_csv(args.events)
    if args.recording_hours is not None:
        if not args.recording_hours > 0:
            raise InputError("--recording-hours must be > 0")
        recording_s = args.recording_hours * 3600.0
    else:
        recording_s = float(movements.offset_s.max()) if len(movements) else 0.0
    if recording_s <= 0:
        raise InputError(
            "no movements to tell the recording length: give --recording-hours", args.events
        )
    if len(movements) and recording_s < float(movements.offset_s.max()):
        raise InputError(
            f"--recording-hours {args.recording_hours:g} is shorter than the events "
            f"(last offset at {movements.offset_s.max() / 3600:.3f} h)"
        )
    movements = select_leg(movements, args.leg)
    info = NightInfo(recording_s, recording_s, 0.0, source=str(args.events))
    return score_movements(movements, info, params), movements, info


LMS_COLUMNS = (
    "onset_s",
    "offset_s",
    "duration_s",
    "leg",
    "candidate",
    "plm",
    "series",
    "imi_s",
    "stage",
    "respiratory",
    "arousal",
)


def lms_csv(scoring: Scoring) -> str:
    """lms.csv: one row per scored LM with its stage and context flags."""
    lms = scoring.lms
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LMS_COLUMNS)
    for i in range(len(lms)):
        imi = float(lms.imi_s[i])
        stage = lms.stage[i] if len(lms.stage) else None
        w.writerow(
            [
                f"{lms.onset_s[i]:.3f}",
                f"{lms.offset_s[i]:.3f}",
                f"{lms.offset_s[i] - lms.onset_s[i]:.3f}",
                lms.leg[i],
                int(bool(lms.candidate[i])),
                int(bool(lms.plm[i])),
                int(lms.series[i]),
                "" if math.isnan(imi) else f"{imi:.3f}",
                "outside" if stage is None else (stage or "unscored"),
                int(bool(lms.respiratory[i])) if len(lms.respiratory) else 0,
                int(bool(lms.arousal[i])) if len(lms.arousal) else 0,
            ]
        )
    return buf.getvalue()


def _write_out(out: Path, summary: dict[str, Any], scoring: Scoring, start: Any) -> None:
    from legsense.psg.figure import plot_psg_night  # matplotlib: only when drawing

    with atomic_folder(out) as tmp:
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
        (tmp / "stages.csv").write_text(stage_table_csv(summary["stage_table"]))
        (tmp / "lms.csv").write_text(lms_csv(scoring))
        plot_psg_night(tmp / "psg.png", scoring, start, "legsense score")
