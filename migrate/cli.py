"""The `migrate` command line: the command group, which registers every command and is the one place
an expected failure (``MigrateError``) becomes ``error: <message>`` on stderr and its exit code.

Imports go one way: this module imports the command modules; they never import it.
"""

from __future__ import annotations

import errno
import io
import os
import sys

import click

from . import __version__
from .commands._io import emit_error_document, reset_stdout
from .commands.bench import bench_cmd
from .commands.canary import canary
from .commands.compat import compat_cmd
from .commands.generate import generate_cmd
from .commands.inventory import inventory
from .commands.plan import plan_cmd
from .commands.probe import probe_command
from .commands.send import send_command
from .commands.validate import validate
from .errors import EXIT_INTERNAL, EXIT_USAGE, MigrateError
from .redact import mask_text, printable

COMMANDS = (bench_cmd, canary, compat_cmd, generate_cmd, inventory, plan_cmd, probe_command, send_command, validate)

# A stream write that failed (stdout on a full disk, /dev/full, a hung-up terminal) raises an OSError
# with one of these and no file name; every file the tool writes is named in its own error instead.
_STREAM_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}
DEBUG_ENV = "MIGRATE_DEBUG"


class MigrateGroup(click.Group):
    """A click group that turns ``MigrateError`` into one line and a documented exit code, never a
    traceback. Click's own usage errors keep click's handling (message + usage, exit 2), and so does
    a closed pipe (``migrate plan | head -1``): click exits 1 without a word, as Unix tools do.

    Anything else is a bug. It still gets one line (``error: internal error: ...``, secrets masked)
    and its own exit code, 70, which is none of the documented answers, so CI and the fault matrix
    can never mistake a crash for a verdict. ``MIGRATE_DEBUG=1`` lets the traceback through."""

    def invoke(self, ctx: click.Context):
        reset_stdout()
        try:
            return super().invoke(ctx)
        except MigrateError as exc:
            # The last line of defence: a message may quote a URL, a path or a server's words.
            message = printable(mask_text(str(exc)))
            emit_error_document(message, exc.code)
            click.echo(f"error: {message}", err=True)
            raise SystemExit(exc.code) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise
            if exc.filename is None and exc.errno in _STREAM_ERRNOS:
                _discard_stdout()
                click.echo(f"error: cannot write to standard output: {exc.strerror}", err=True)
                raise SystemExit(EXIT_USAGE) from None
            _internal_error(exc)
        except Exception as exc:
            _internal_error(exc)


def _discard_stdout() -> None:
    """What is still buffered for a stdout that failed would fail again when Python flushes it at
    exit, with a second message; point the descriptor at /dev/null so the exit is quiet."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return  # not a real descriptor (CliRunner): nothing is flushed at exit
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def _internal_error(exc: Exception) -> None:
    if os.environ.get(DEBUG_ENV):
        raise exc
    message = printable(mask_text(str(exc)))
    emit_error_document(f"internal error: {type(exc).__name__}: {message}", EXIT_INTERNAL)
    click.echo(
        f"error: internal error: {type(exc).__name__}: {message} "
        f"(a bug in migrate, please report it; {DEBUG_ENV}=1 shows the traceback)",
        err=True,
    )
    raise SystemExit(EXIT_INTERNAL) from None


@click.group(cls=MigrateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="migrate")
def main() -> None:
    """Move an application from Ollama to a production inference engine, with evidence."""


for _command in COMMANDS:
    main.add_command(_command)
