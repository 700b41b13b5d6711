"""The wheel: every module and data file ships, all under the `migrate` package (the repository's
`compat_suite/` and `templates/` folders install as `migrate.compat_suite` and `migrate.templates`),
and the installed tool reads its data through importlib, not from the checkout."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# repository folder -> where it lands in the wheel (mirrors package-dir in pyproject.toml)
INSTALLED_AS = {"migrate": "migrate", "compat_suite": "migrate/compat_suite", "templates": "migrate/templates"}
DATA_PATTERNS = (
    "migrate/schemas/*.json",
    "migrate/data/**/*",
    "migrate/testbed/data/*",
    "compat_suite/cases/*.yaml",
    "compat_suite/schemas/*.json",
    "templates/**/*.j2",
)


def _installed_path(path: Path) -> str:
    top, *rest = path.relative_to(REPO).parts
    return "/".join([INSTALLED_AS[top], *rest])


def _shipped_sources() -> set[str]:
    """Every module and data file of the three folders, as the wheel must name it."""
    wanted = set()
    for top in INSTALLED_AS:
        wanted |= {_installed_path(p) for p in (REPO / top).rglob("*.py") if "__pycache__" not in p.parts}
    for pattern in DATA_PATTERNS:
        wanted |= {_installed_path(p) for p in REPO.glob(pattern) if p.is_file() and "__pycache__" not in p.parts}
    return wanted


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build once from a clean copy of the sources: a stale build/ folder in the checkout would
    leak old files into the wheel, and an in-tree build would leave build/ and egg-info behind."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    shutil.copytree(
        REPO,
        src,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".*", "build", "dist", "*.egg-info", "__pycache__", "tests", "demo-out", "out"),
    )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-3000:]  # e.g. setuptools from the `test` extra missing
    return next(out.glob("ollama_migrate-*.whl"))


def test_wheel_contains_every_module_and_data_file_under_migrate(wheel):
    names = {n for n in zipfile.ZipFile(wheel).namelist() if "__pycache__" not in n}
    wanted = _shipped_sources()
    assert "migrate/compat_suite/cases/tools.yaml" in wanted, "the source globs are stale"
    missing = sorted(wanted - names)
    assert not missing, f"not in the wheel (a package missing from pyproject.toml?): {missing}"
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top_level == {"migrate"}, top_level


def test_installed_package_reads_its_data_through_importlib():
    from importlib.resources import files

    schemas = [p.name for p in files("migrate").joinpath("schemas").iterdir()]
    assert any(name.endswith(".schema.json") for name in schemas)
    assert files("migrate.templates").joinpath("gateway.yaml.j2").is_file()
    assert files("migrate.compat_suite").joinpath("schemas", "case.schema.json").is_file()


def test_commands_work_from_the_installed_wheel(wheel, tmp_path):
    """Install the wheel into its own directory (dependencies from this venv) and run commands
    that read shipped data: rules and catalog (plan, generate), templates, cases and schemas."""
    target, out = tmp_path / "site", tmp_path / "out"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    # -S: only the wheel's directory and the standard library, no site-packages (where an editable
    # install of this checkout would answer for any name).
    where = run(
        "-S",
        "-c",
        "import importlib.util as u, migrate.compat_suite, migrate.templates; "
        "print(migrate.compat_suite.__file__, migrate.templates.__file__, "
        "u.find_spec('compat_suite'), u.find_spec('templates'))",
    )
    assert where.returncode == 0, where.stderr
    suite, templates, top_suite, top_templates = where.stdout.split()
    assert suite == str(target / "migrate" / "compat_suite" / "__init__.py")
    assert templates == str(target / "migrate" / "templates" / "__init__.py")
    assert (top_suite, top_templates) == ("None", "None")  # nothing installed at the top level
    plan = run("-m", "migrate", "plan", "--gpus", "8xH100", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    gen = run(
        "-m",
        "migrate",
        "generate",
        "--target",
        "vllm",
        "--alias",
        "chat=llama3.1:8b",
        "--gpus",
        "1xH100",
        "--out",
        str(out),
    )
    assert gen.returncode == 0, gen.stderr
    valid = run("-m", "migrate", "validate", str(out / "gateway.yaml"))
    assert valid.returncode == 0, valid.stdout + valid.stderr
    cases = run("-c", "from migrate.compat_suite.loader import load_cases; print(len(load_cases()))")
    assert cases.returncode == 0 and int(cases.stdout) > 10, cases.stderr


def test_code_names_the_suite_and_templates_through_migrate():
    """From the repository root `compat_suite` and `templates` are also importable as top-level
    names; a module imported under both names would exist twice (two check registries)."""
    top_level = re.compile(
        r"^\s*(from|import)\s+(compat_suite|templates)\b"
        r"|files\(\s*['\"](compat_suite|templates)['\"]",
        re.M,
    )
    sources = [
        p
        for top in ("migrate", "compat_suite", "templates", "tests", "bench", "examples")
        for p in (REPO / top).rglob("*.py")
    ]
    offenders = [str(p.relative_to(REPO)) for p in sources if top_level.search(p.read_text(encoding="utf-8"))]
    assert not offenders, offenders
