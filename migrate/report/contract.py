"""The compat report contract: the one vocabulary that compat checks, the report writers and the
canary share.

The published form is the shipped JSON Schema (``migrate/schemas/compat-report.schema.json``);
this module is its Python face: verdict names and their severity, categories and which of them are
critical, the summary rule with its exit codes, and the schema version.
``tests/test_report_contract.py`` fails when the two disagree.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from importlib import resources
from typing import Iterable

from ..errors import EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE

SCHEMA_NAME = "compat-report.schema.json"
SCHEMA_VERSION = 1

# Every verdict a check can have, in the order counts are shown.
VERDICTS = ("pass", "regression", "improvement", "unsupported_old", "unsupported_new", "inconclusive", "error")
# Rank of each verdict, most actionable first: the order non-pass checks are listed in.
SEVERITY = {
    verdict: rank
    for rank, verdict in enumerate(
        ("regression", "error", "inconclusive", "unsupported_new", "unsupported_old", "improvement", "pass")
    )
}
# The verdict of a whole run (its summary).
SUMMARY_VERDICTS = ("pass", "regression", "inconclusive", "error")
EXIT_CODES = (EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INCONCLUSIVE)

CATEGORIES = (
    "chat",
    "tools",
    "streaming",
    "structured",
    "long_context",
    "errors",
    "defaults",
    "embeddings",
    "observability",
)
# A regression in one of these is a rollback trigger for `migrate canary`: tool-call structure,
# JSON-schema validity, long-context behaviour (silent truncation, a new 400), the error contract.
CRITICAL_CATEGORIES = ("tools", "structured", "long_context", "errors")


def is_critical(category: str) -> bool:
    return category in CRITICAL_CATEGORIES


@lru_cache(maxsize=1)
def load_schema() -> dict:
    """The shipped JSON Schema of the report."""
    return json.loads(resources.files("migrate").joinpath(f"schemas/{SCHEMA_NAME}").read_text("utf-8"))


def summarize(checks: Iterable[dict], *, unreachable: bool = False, bad_input: bool = False) -> dict:
    """The ``summary`` block for a list of checks: the one exit-code rule of every consumer.

    Exit code precedence: 3 (a backend unreachable) > 2 (bad input) > 1 (regression)
    > 4 (inconclusive, or a check could not be evaluated) > 0 (pass). Improvements and
    unsupported_* never fail a run. No checks at all is inconclusive: a pass must be observed.
    """
    checks = list(checks)
    tally = Counter(c.get("verdict") for c in checks)
    unknown = set(tally) - set(VERDICTS)
    if unknown:
        raise ValueError(f"unknown check verdict(s): {sorted(map(str, unknown))}")
    counts = {v: tally.get(v, 0) for v in VERDICTS}
    if unreachable:
        verdict, code = "error", EXIT_UNREACHABLE
    elif bad_input:
        verdict, code = "error", EXIT_USAGE
    elif counts["regression"]:
        verdict, code = "regression", EXIT_FAIL
    elif counts["error"]:
        verdict, code = "error", EXIT_INCONCLUSIVE
    elif counts["inconclusive"] or not checks:
        verdict, code = "inconclusive", EXIT_INCONCLUSIVE
    else:
        verdict, code = "pass", EXIT_OK
    return {"verdict": verdict, "counts": counts, "exit_code": code}
