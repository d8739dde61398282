"""Errors that the CLI turns into one line and a documented exit status."""

from __future__ import annotations

from pathlib import Path

# Exit statuses of the `legsense` command (documented in README.md).
EXIT_OK = 0
EXIT_FAILURE = 1  # unexpected failure (a bug): one line, and the log has the details
EXIT_USAGE = 2  # bad input: file, option, trace, CSV, config


class InputError(Exception):
    """Bad input: a file, a row, an option. Printed as one line, exit status 2.

    `where` names the file (and line) so a user can go and look.
    """

    exit_status = EXIT_USAGE

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        return where + self.message


EXIT_DEVICE = 3  # device or link problem: no such port, timeout, protocol mismatch, refusal
# sync ran to its end, but some nights were left on the device or got no night folder
# (a damaged header, a night that does not match its listing, a refused READ): everything
# else was synced; the output names each such night, why, and what to do.
EXIT_UNSYNCED = 4


class DeviceError(InputError):
    """A device or link problem (no port, no answer, protocol mismatch, a refusal).

    One line like InputError, naming the port (or device) in `path`; exit status 3.
    """

    exit_status = EXIT_DEVICE
