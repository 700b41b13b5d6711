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


def test_commands_work_from_the_installed_wheel(tmp_path):
    """Install the wheel into its own directory (dependencies from this venv) and run commands
    that read shipped data: rules and catalog (plan, generate), templates, cases and schemas."""
    wheel_dir, target, out = tmp_path / "wheel", tmp_path / "site", tmp_path / "out"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheel_dir), str(REPO)], check=True, capture_output=True)
    wheel = next(wheel_dir.glob("ollama_migrate-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    where = run("-c", "import migrate, compat_suite, templates; "
                      "print(migrate.__file__, compat_suite.__file__, templates.__file__)")
    assert where.returncode == 0, where.stderr
    assert all(path.startswith(str(target)) for path in where.stdout.split()), where.stdout
    plan = run("-m", "migrate", "plan", "--gpus", "8xH100", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    gen = run("-m", "migrate", "generate", "--target", "vllm", "--alias", "chat=llama3.1:8b",
              "--gpus", "1xH100", "--out", str(out))
    assert gen.returncode == 0, gen.stderr
    valid = run("-m", "migrate", "validate", str(out / "gateway.yaml"))
    assert valid.returncode == 0, valid.stdout + valid.stderr
    cases = run("-c", "from compat_suite.loader import load_cases; print(len(load_cases()))")
    assert cases.returncode == 0 and int(cases.stdout) > 10, cases.stderr
