"""Exit codes and the one exception type the CLI turns into a one-line error.

Exit codes (stable; documented in the README):
  0 success / nothing to report
  1 a check failed (regression, invalid config, backend answered with an error)
  2 usage error or bad input (unreadable file, invalid JSON/YAML, schema violation)
  3 a backend is unreachable
  4 inconclusive (not enough evidence to decide)
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INCONCLUSIVE = 4


class MigrateError(Exception):
    """An expected failure: the CLI prints ``error: <message>`` on one line and exits ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code
