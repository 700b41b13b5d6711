"""The `migrate` command line: the command group, which registers every command and is the one place
an expected failure (``MigrateError``) becomes ``error: <message>`` on stderr and its exit code.

Imports go one way: this module imports the command modules; they never import it.
"""

from __future__ import annotations

import click

from . import __version__
from .commands.canary import canary
from .commands.compat import compat_cmd
from .commands.generate import generate_cmd
from .commands.inventory import inventory
from .commands.plan import plan_cmd
from .commands.probe import probe_command
from .commands.send import send_command
from .commands.validate import validate
from .errors import MigrateError

COMMANDS = (canary, compat_cmd, generate_cmd, inventory, plan_cmd, probe_command, send_command, validate)


class MigrateGroup(click.Group):
    """A click group that turns ``MigrateError`` into one line and a documented exit code, never a
    traceback. Click's own usage errors keep click's handling (message + usage, exit 2)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MigrateError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(exc.code) from None


@click.group(cls=MigrateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="migrate")
def main() -> None:
    """Move an application from Ollama to a production inference engine, with evidence."""


for _command in COMMANDS:
    main.add_command(_command)
