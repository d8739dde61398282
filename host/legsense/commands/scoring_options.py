"""Scoring options shared by `legsense analyze`, `score`, `sync` and `validate`."""

from __future__ import annotations

import argparse

from legsense.errors import InputError
from legsense.scoring import RESP_WINDOWS, ScoringParams


def add_scoring_options(parser: argparse.ArgumentParser, context: bool = False) -> None:
    """--min-imi, --max-imi, --min-series, --min-lm, --max-lm and the readings of the
    rules where the standard leaves a choice (WASM 2016 defaults, read like MATPLM).
    `context` adds the options for respiratory events and arousals (PSG input)."""
    d = ScoringParams()
    g = parser.add_argument_group("scoring (WASM/IRLSSG 2016 defaults; docs/scoring.md)")
    g.add_argument(
        "--min-imi",
        type=float,
        default=d.min_imi_s,
        metavar="S",
        help=f"shortest IMI in a PLM series (default {d.min_imi_s:g} s; 5 for WASM 2006)",
    )
    g.add_argument(
        "--max-imi",
        type=float,
        default=d.max_imi_s,
        metavar="S",
        help=f"longest inter-movement interval in a series (default {d.max_imi_s:g} s)",
    )
    g.add_argument(
        "--min-series",
        type=int,
        default=d.min_series,
        metavar="N",
        help=f"fewest consecutive candidates in a series (default {d.min_series})",
    )
    g.add_argument(
        "--min-lm",
        type=float,
        default=d.min_lm_s,
        metavar="S",
        help=f"shortest leg movement (default {d.min_lm_s:g} s)",
    )
    g.add_argument(
        "--max-lm",
        type=float,
        default=d.max_lm_s,
        metavar="S",
        help=f"longest candidate leg movement (default {d.max_lm_s:g} s)",
    )
    g.add_argument(
        "--intervening-lm",
        choices=("breakpoint", "exclude", "skip"),
        default=d.short_imi,
        help="an LM less than --min-imi after the one before it ends the series; "
        "breakpoint: it may start the next one (MATPLM, default); exclude: it is never a "
        "PLM; skip: it is left out and the series may go on (WASM 2006 practice)",
    )
    g.add_argument(
        "--imi-from",
        choices=("candidate", "lm"),
        default=d.imi_from,
        help="IMIs run between candidates, a non-candidate only breaking the series "
        "(MATPLM, default), or between all LMs (PLMScoRe)",
    )
    g.add_argument(
        "--periodicity",
        choices=("plm-per-clm", "ferri"),
        default=d.periodicity.replace("_", "-"),
        help="periodicity index: PLMs / CLMs (MATPLM's PI, default) or Ferri 2006's share "
        "of IMIs in runs of 3+ IMIs of 10-90 s",
    )
    g.add_argument(
        "--imi-stats",
        choices=("plm", "series"),
        default=d.imi_stats,
        help="log-IMI mean/SD over every PLM's IMI up to --max-imi (MATPLM, default) or "
        "over the IMIs inside series only",
    )
    if not context:
        return
    c = parser.add_argument_group("PSG context (respiratory events, arousals)")
    c.add_argument(
        "--respiratory",
        choices=("exclude", "remove", "keep"),
        default=d.respiratory,
        help="respiratory-related LMs: not candidates and breaking series (default), "
        "removed as if absent (the 'nr' figures, always reported too), or kept",
    )
    c.add_argument(
        "--resp-window",
        default="wasm2016",
        metavar="NAME|BEFORE,AFTER",
        help="window around a respiratory event: wasm2016 (2.0 s before to 10.25 s after "
        "its end, default), aasm (0.5 s before its start to 0.5 s after its end), or "
        "BEFORE,AFTER seconds around its end",
    )
    c.add_argument(
        "--arousal-rule",
        choices=("overlap", "arousal-end"),
        default=d.arousal_rule.replace("_", "-"),
        help="LM with arousal: overlapping or less than 0.5 s apart (the standard, default), "
        "or meeting 0.5 s around the arousal's end (MATPLM)",
    )


def scoring_params_from_args(args: argparse.Namespace) -> ScoringParams:
    """The ScoringParams the options ask for; InputError (exit 2) when inconsistent."""
    extra: dict[str, object] = {}
    if hasattr(args, "respiratory"):
        anchor, before, after = _resp_window(args.resp_window)
        extra = {
            "respiratory": args.respiratory,
            "resp_anchor": anchor,
            "resp_before_s": before,
            "resp_after_s": after,
            "arousal_rule": args.arousal_rule.replace("-", "_"),
        }
    try:
        return ScoringParams(
            min_lm_s=args.min_lm,
            max_lm_s=args.max_lm,
            min_imi_s=args.min_imi,
            max_imi_s=args.max_imi,
            min_series=args.min_series,
            short_imi=getattr(args, "intervening_lm", ScoringParams.short_imi),
            imi_from=getattr(args, "imi_from", ScoringParams.imi_from),
            periodicity=getattr(args, "periodicity", "plm-per-clm").replace("-", "_"),
            imi_stats=getattr(args, "imi_stats", ScoringParams.imi_stats),
            **extra,  # type: ignore[arg-type]
        )
    except ValueError as exc:
        raise InputError(f"bad scoring option: {exc}") from None


def _resp_window(text: str) -> tuple[str, float, float]:
    if text in RESP_WINDOWS:
        return RESP_WINDOWS[text]
    parts = text.split(",")
    try:
        before, after = (float(p) for p in parts)
    except ValueError:
        raise InputError(
            f"bad --resp-window {text!r}: wasm2016, aasm or BEFORE,AFTER in seconds"
        ) from None
    return ("end", before, after)
