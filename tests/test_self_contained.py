"""The repository is self-contained: a clone runs its tests and demo with nothing beside it.

Test data lives in ``tests/fixtures/`` (provenance in each folder's INDEX.md); no code, script or
configuration may reach outside the checkout for reference data.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.conftest import FIXTURES, realdata_dir

REPO = Path(__file__).resolve().parent.parent

# Spelt in pieces so this file does not match itself.
FORBIDDEN = re.compile(
    "|".join([re.escape(".." + "/shared"), "MIGRATE" + "_SHARED", r"/\s*['\"]" + "shared" + r"['\"]"])
)
CODE_SUFFIXES = {".py", ".sh", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".j2", ".jinja", ".json"}
SKIP_DIRS = {"__pycache__", "build", "dist", "demo-out", "out", "node_modules"}


def _code_files() -> list[Path]:
    found = []
    for root, dirs, files in os.walk(REPO):
        here = Path(root)
        # Hidden folders are tooling (.git, virtualenvs, caches), except the CI entry point.
        dirs[:] = [
            d
            for d in dirs
            if d not in SKIP_DIRS and not d.endswith(".egg-info") and (not d.startswith(".") or d == ".ci")
        ]
        for name in files:
            path = here / name
            if path.suffix in CODE_SUFFIXES or name == "Makefile" or ".ci" in path.relative_to(REPO).parts:
                found.append(path)
    return found


def test_no_code_reads_data_from_outside_the_repository():
    files = _code_files()
    assert REPO / "Makefile" in files and REPO / "tests" / "conftest.py" in files  # the walk sees code
    offenders = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for path in files
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert not offenders, "\n".join(offenders)


def _indexed(index: Path) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", index.read_text(encoding="utf-8"), re.M))


def test_every_recording_has_a_provenance_row_and_every_row_a_file():
    files = {p.name for p in realdata_dir().iterdir()} - {"INDEX.md"}
    assert files, "no recordings in tests/fixtures/realdata"
    assert _indexed(realdata_dir() / "INDEX.md") == files


def test_every_testbed_fixture_has_a_provenance_row():
    files = {p.name for p in (FIXTURES / "testbed").iterdir()} - {"INDEX.md"}
    assert files and files <= _indexed(FIXTURES / "testbed" / "INDEX.md")
