"""Data files (schemas, templates, cases, catalog) ship in the wheel, not only in the checkout."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _data_files() -> set[str]:
    wanted = set()
    for pattern in ("migrate/schemas/*.json", "migrate/data/**/*", "migrate/testbed/data/*",
                    "compat_suite/cases/*.yaml", "compat_suite/schemas/*.json", "templates/**/*.j2"):
        for path in REPO.glob(pattern):
            if path.is_file() and "__pycache__" not in path.parts:
                wanted.add(path.relative_to(REPO).as_posix())
    return wanted


def test_wheel_contains_every_data_file(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(REPO)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("ollama_migrate-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = _data_files()
    assert wanted, "no data files found: the glob patterns are stale"
    missing = sorted(wanted - names)
    assert not missing, f"not in the wheel: {missing}"


def test_installed_package_reads_its_data_through_importlib():
    from importlib.resources import files
    schemas = [p.name for p in files("migrate").joinpath("schemas").iterdir()]
    assert any(name.endswith(".schema.json") for name in schemas)
