"""Exit codes and the exceptions the CLI turns into one line on stderr and that exit code.

Exit codes (stable; documented in docs/exit-codes.md):
  0 success / nothing to report
  1 a check failed (regression, invalid config, backend answered with an error)
  2 usage error or bad input (unreadable file, invalid JSON/YAML, schema violation)
  3 a backend is unreachable
  4 inconclusive (not enough evidence to decide)
  70 internal error: a bug in migrate (sysexits' EX_SOFTWARE), never one of the answers above

Library code raises the subclass that names the outcome (``UsageError(msg)``); the exit code travels
with the class, so no module outside this one passes a bare number. The command group in
``migrate/cli.py`` is the one place that catches ``MigrateError``.
"""

from __future__ import annotations

from typing import Optional

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INCONCLUSIVE = 4
EXIT_INTERNAL = 70


class MigrateError(Exception):
    """An expected failure: the CLI prints ``error: <message>`` on one line and exits ``code``.

    ``MigrateError(msg, code)`` still works while callers move to the subclasses below; without a
    code it keeps its historical meaning, bad input (2).
    """

    code: int = EXIT_USAGE

    def __init__(self, message: str, code: Optional[int] = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class UsageError(MigrateError):
    """Bad usage or bad input: unreadable file, invalid JSON/YAML, schema violation (exit 2)."""

    code = EXIT_USAGE


class FailedError(MigrateError):
    """A check failed or an action was refused: invalid config, unsafe edit (exit 1)."""

    code = EXIT_FAIL


class UnreachableError(MigrateError):
    """Nothing answered where a backend was expected (exit 3)."""

    code = EXIT_UNREACHABLE


class InconclusiveError(MigrateError):
    """Not enough evidence to decide (exit 4)."""

    code = EXIT_INCONCLUSIVE
