"""Scoring options shared by `legsense analyze`, `score` and `sync`."""

from __future__ import annotations

import argparse

from legsense.errors import InputError
from legsense.scoring import ScoringParams


def add_scoring_options(parser: argparse.ArgumentParser) -> None:
    """--min-imi, --max-imi, --min-series, --min-lm, --max-lm (WASM 2016 defaults)."""
    d = ScoringParams()
    g = parser.add_argument_group("scoring (WASM/IRLSSG 2016 defaults)")
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


def scoring_params_from_args(args: argparse.Namespace) -> ScoringParams:
    """The ScoringParams the options ask for; InputError (exit 2) when inconsistent."""
    try:
        return ScoringParams(
            min_lm_s=args.min_lm,
            max_lm_s=args.max_lm,
            min_imi_s=args.min_imi,
            max_imi_s=args.max_imi,
            min_series=args.min_series,
        )
    except ValueError as exc:
        raise InputError(f"bad scoring option: {exc}") from None
