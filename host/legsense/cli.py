"""The `legsense` command: one entry point, one module per subcommand.

Exit statuses (also in README.md): 0 success, 1 unexpected failure, 2 bad input
(file, row, option), 3 device or link problem (later issues), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from legsense import __version__
from legsense.errors import EXIT_FAILURE, EXIT_USAGE, InputError

# Subcommand name -> module under legsense.commands exposing add_parser() and run().
COMMANDS = {
    "analyze": "analyze",
    "score": "score",
    "simulate-night": "simulate_night",
    "sync": "sync",
    "devices": "devices",
    "status": "status",
    "time": "time_cmd",
    "config": "config_cmd",
    "start": "start_stop",
    "stop": "start_stop",
    "erase": "erase",
    "sim": "sim",
    "diary": "diary",
    "report": "report",
    "export": "export",
    "query": "query",
    "reanalyze": "reanalyze",
    "validate": "validate",
}

EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option as one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `only` that one (so a command starts without
    importing what the others need: numpy, matplotlib, pyarrow...)."""
    parser = _Parser(prog="legsense", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--version", action="version", version=f"legsense {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module in COMMANDS.items():
        if only is not None and name != only:
            continue
        mod = importlib.import_module(f"legsense.commands.{module}")
        p = mod.add_parser(sub, name)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    first = next((w for w in words if not w.startswith("-")), None)
    parser = build_parser(first if first in COMMANDS else None)
    args = parser.parse_args(words)
    try:
        return int(args._run(args) or 0)
    except InputError as exc:
        print(f"legsense {args.command}: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print(f"legsense {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_FAILURE
    except Exception as exc:  # a bug: still one line, never a traceback on screen
        print(
            f"legsense {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(set LEGSENSE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        import os

        if os.environ.get("LEGSENSE_DEBUG"):
            raise
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
