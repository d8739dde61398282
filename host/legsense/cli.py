"""The `legsense` command: one entry point, one module per subcommand.

Exit statuses (also in README.md): 0 success, 1 unexpected failure, 2 bad input
(file, row, option, an output folder that cannot be written), 3 device or link problem,
4 sync left some nights unsynced, 130 interrupted. A reader that closes our stdout early
(`legsense score x.csv | head -1`) ends the output quietly, not the work.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
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
    "merge": "merge",
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
    "sit": "sit",
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


class _QuietPipe:
    """stdout that goes quiet when its reader has gone (EPIPE): the rest of the output is
    dropped, the command finishes its work and exits with its own status."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self.closed_by_reader = False

    def _gone(self) -> None:
        self.closed_by_reader = True
        try:  # what is still buffered, and the interpreter's last flush, go nowhere
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass

    def write(self, text: str) -> int:
        if self.closed_by_reader:
            return len(text)
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._gone()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            self._gone()
        return len(text)

    def flush(self) -> None:
        if self.closed_by_reader:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            self._gone()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    first = next((w for w in words if not w.startswith("-")), None)
    parser = build_parser(first if first in COMMANDS else None)
    args = parser.parse_args(words)
    real_stdout = sys.stdout
    if not isinstance(real_stdout, _QuietPipe):
        sys.stdout = _QuietPipe(real_stdout)
    try:
        return _run(args)
    finally:
        try:
            sys.stdout.flush()
        finally:
            sys.stdout = real_stdout


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args._run(args) or 0)
    except InputError as exc:
        print(f"legsense {args.command}: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print(f"legsense {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
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
