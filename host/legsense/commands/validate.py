"""`legsense validate NIGHT PSG [NIGHT PSG ...]`: a device night against a PSG.

NIGHT is a night folder (from `legsense sync` or `analyze`) or a trace, analysed on the
fly; PSG a RemLogic export or an EDF+ annotation file of the same night. Writes
validation.json and validation.png to --out. Several pairs: agreement across nights.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from legsense.commands.score import add_psg_options, patterns_from_args
from legsense.commands.scoring_options import add_scoring_options, scoring_params_from_args
from legsense.errors import InputError
from legsense.night_folder import atomic_folder
from legsense.psg.context import ScoringContext
from legsense.psg.reader import read_psg
from legsense.validation import (
    DEFAULT_SEARCH_S,
    across_nights,
    compare_night,
    load_device_night,
    parse_tz,
)


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="compare device nights with PSGs of the same nights (validation.json, .png)",
        description="Align the clocks of a device night (night folder or trace) and a PSG "
        "(RemLogic export or EDF+), match their leg movements and compare the PLM indices; "
        "for several nights also Bland-Altman, ICC and correlation across nights. "
        "Details: docs/scoring.md.",
    )
    p.add_argument(
        "pairs", nargs="+", type=Path, metavar="NIGHT PSG", help="device night, then its PSG"
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write")
    p.add_argument(
        "--psg-tz",
        metavar="TZ",
        help="time zone of the PSG's clock: an IANA name, UTC or +HH:MM "
        "(default: this computer's zone)",
    )
    p.add_argument(
        "--offset",
        type=float,
        metavar="S",
        help="force the shift from PSG time to device time (s; skips the search)",
    )
    p.add_argument(
        "--search",
        type=float,
        default=DEFAULT_SEARCH_S,
        metavar="S",
        help=f"search the clock offset this far either side of the clocks' own "
        f"(default {DEFAULT_SEARCH_S:g} s)",
    )
    p.add_argument("--no-picture", action="store_true", help="skip validation.png")
    add_psg_options(p)
    add_scoring_options(p, context=True)
    return p


def run(args: argparse.Namespace) -> int:
    if len(args.pairs) % 2:
        raise InputError("give pairs: NIGHT PSG [NIGHT PSG ...]")
    params = scoring_params_from_args(args)
    patterns = patterns_from_args(args)
    tz = parse_tz(args.psg_tz)
    nights = []
    for k in range(0, len(args.pairs), 2):
        device = load_device_night(args.pairs[k])
        record = read_psg(args.pairs[k + 1], patterns)
        if args.ignore:
            ctx = record.context
            record = replace(
                record,
                context=ScoringContext(
                    hypnogram=None if "stages" in args.ignore else ctx.hypnogram,
                    respiratory=None if "respiratory" in args.ignore else ctx.respiratory,
                    arousals=None if "arousals" in args.ignore else ctx.arousals,
                ),
            )
        nights.append(
            compare_night(
                device,
                record,
                params,
                tz,
                search_s=args.search,
                forced_shift_s=args.offset,
            )
        )
    across = across_nights(nights) if len(nights) > 1 else None
    result = {
        "rules": "WASM/IRLSSG 2016",
        "params": params.as_dict(),
        "nights": [n.to_dict() for n in nights],
    }
    if across is not None:
        result["across_nights"] = across
    with atomic_folder(args.out) as tmp:
        (tmp / "validation.json").write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
        if not args.no_picture:
            from legsense.validation_plot import plot_validation  # matplotlib: only to draw

            plot_validation(tmp / "validation.png", nights, across or {})
    for k, n in enumerate(nights, start=1):
        a = n.figures["alignment"]
        both = n.figures["comparisons"]["both_legs"]
        print(
            f"night {k}: shift {a['psg_to_device_shift_s']:+.2f} s ({a['method']}, "
            f"{a['confidence']}); LM sensitivity {both['lm']['sensitivity']}, PPV "
            f"{both['lm']['ppv']}; PLM index PSG {both['plm_index']['psg']}/h, device "
            f"{both['plm_index']['device']}/h"
        )
    if across is not None and "both_legs" in across:
        b = across["both_legs"]
        print(
            f"{len(nights)} nights: ICC {b['icc_a1']}, r {b['pearson_r']}, bias "
            f"{b['bland_altman'].get('bias')}/h"
        )
    print(f"wrote {args.out}/ (validation.json" + (")" if args.no_picture else ", validation.png)"))
    return 0
