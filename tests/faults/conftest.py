"""Print how many hostile cases the fault matrix judged (docs/faults.md quotes these counts)."""

from __future__ import annotations

from .harness import JUDGED


def pytest_terminal_summary(terminalreporter):
    if JUDGED:
        terminalreporter.write_line(f"fault matrix: {len(JUDGED)} hostile cases judged ({len(set(JUDGED))} distinct)")
