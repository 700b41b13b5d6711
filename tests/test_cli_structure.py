"""The command line's shape: command modules stand alone, the group registers every command, and the
group is the one place an expected failure becomes one line on stderr and its exit code."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import migrate.commands
from migrate.cli import MigrateGroup, main
from migrate.errors import (
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    FailedError,
    InconclusiveError,
    MigrateError,
    UnreachableError,
    UsageError,
)

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(m.name for m in pkgutil.iter_modules(migrate.commands.__path__))


def _commands_defined_in(module_name: str) -> list[click.Command]:
    module = importlib.import_module(f"migrate.commands.{module_name}")
    return [
        v for v in vars(module).values() if isinstance(v, click.Command) and v.callback.__module__ == module.__name__
    ]


def test_every_command_module_imports_first_in_a_fresh_interpreter():
    # One interpreter per module, all at once: a cycle through migrate.cli shows up as a
    # partially-initialised-module ImportError only when that module is the first one imported.
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import migrate.commands.{name}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in MODULES
    }
    failures = {}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=60)
        if proc.returncode:
            failures[name] = err.strip().splitlines()[-1]
    assert "send" in MODULES and not failures, failures


def test_help_lists_every_command_that_a_command_module_defines():
    defined = {cmd.name for name in MODULES for cmd in _commands_defined_in(name)}
    assert len(defined) >= 8
    out = subprocess.run(
        [sys.executable, "-m", "migrate", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    listed = set()
    in_commands = False
    for line in out.stdout.splitlines():
        if line.startswith("Commands:"):
            in_commands = True
        elif in_commands and line.startswith("  ") and line.split():
            listed.add(line.split()[0])
    assert listed == defined
    assert set(main.commands) == defined


@pytest.mark.parametrize(
    "error, code",
    [
        (UsageError("bad flag"), EXIT_USAGE),
        (FailedError("bad flag"), EXIT_FAIL),
        (UnreachableError("bad flag"), EXIT_UNREACHABLE),
        (InconclusiveError("bad flag"), EXIT_INCONCLUSIVE),
        (MigrateError("bad flag", EXIT_FAIL), EXIT_FAIL),  # the older (message, code) form
        (MigrateError("bad flag"), EXIT_USAGE),
    ],
)
def test_the_group_turns_a_migrate_error_into_one_line_and_its_exit_code(error, code):
    @click.group(cls=MigrateGroup)
    def group():
        pass

    @group.command()
    def boom():
        click.echo("partial output")
        raise error

    result = CliRunner().invoke(group, ["boom"])
    assert result.exit_code == code
    assert result.stderr == "error: bad flag\n"
    assert result.stdout == "partial output\n"


def test_click_usage_errors_keep_exit_2_and_help_and_version_work():
    runner = CliRunner()
    bad = runner.invoke(main, ["send", "--url", "http://127.0.0.1:9"])
    assert bad.exit_code == 2 and "Missing option '--protocol'" in bad.stderr
    unknown = runner.invoke(main, ["no-such-command"])
    assert unknown.exit_code == 2 and "No such command" in unknown.stderr
    assert runner.invoke(main, ["--help"]).exit_code == 0
    version = runner.invoke(main, ["--version"])
    assert version.exit_code == 0 and version.stdout.startswith("migrate, version ")


def test_a_library_error_raised_inside_a_real_command_reaches_the_user_as_one_line(tmp_path):
    request = tmp_path / "req.json"
    request.write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["send", "--url", "http://127.0.0.1:9", "--protocol", "openai", "--request", str(request)]
    )
    assert result.exit_code == EXIT_USAGE
    assert result.stderr.startswith(f"error: {request}: invalid JSON at line 1")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_plan_output_file_is_the_json_document_and_a_bad_path_is_one_line(tmp_path):
    runner = CliRunner()
    target = tmp_path / "new-dir" / "plan.json"
    ok = runner.invoke(main, ["plan", "--gpus", "1xH100", "--format", "json", "-o", str(target)])
    assert ok.exit_code == 0, ok.output
    assert target.read_text(encoding="utf-8") == ok.stdout
    assert target.stat().st_mode & 0o777 == 0o644
    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")
    bad = runner.invoke(main, ["plan", "--gpus", "1xH100", "-o", str(blocked / "plan.json")])
    assert bad.exit_code == EXIT_USAGE
    assert bad.stderr.startswith(f"error: cannot write {blocked / 'plan.json'}: ") and bad.stderr.count("\n") == 1
