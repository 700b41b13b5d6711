"""The `migrate` command line: parse, call one library function, print. No logic lives here."""
from __future__ import annotations

import functools
import json
import sys

import click

from . import __version__
from .errors import MigrateError


def handle_errors(fn):
    """Turn expected failures into one line on stderr and a documented exit code, never a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MigrateError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.code)
    return wrapper


def emit_json(data) -> None:
    """stdout carries exactly one JSON document in every --json mode."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="migrate")
def main() -> None:
    """Move an application from Ollama to a production inference engine, with evidence."""


# Each command lives in its own module under migrate/commands/ and is registered here.
# --- BEGIN commands (one line per command; keep sorted) ---
from .commands.canary import canary; main.add_command(canary)  # noqa: E402,E702
from .commands.compat import compat_cmd; main.add_command(compat_cmd)  # noqa: E402,E702
from .commands.generate import generate_cmd; main.add_command(generate_cmd)  # noqa: E402,E702
from .commands.inventory import inventory; main.add_command(inventory)  # noqa: E402,E702
from .commands.plan import plan_cmd; main.add_command(plan_cmd)  # noqa: E402,E702
from .commands.probe import probe_command; main.add_command(probe_command)  # noqa: E402,E702
from .commands.send import send_command; main.add_command(send_command)  # noqa: E402,E702
from .commands.validate import validate; main.add_command(validate)  # noqa: E402,E702
# --- END commands ---
