"""The one atomic file writer: users' files are never seen half-written or left truncated.

A temp file is created next to the target (same filesystem, so the rename is atomic), written,
flushed and fsynced, optionally chmod-ed, then renamed over the target with ``os.replace``. On any
failure, including KeyboardInterrupt, the temp file is removed and the target is left as it was.

File modes, one policy for every file the tool writes:
  PRIVATE    0600  anything that may hold what users sent or received (prompts, system prompts seen in
                   traffic, responses, log lines, code excerpts): inventories and compat/canary reports.
                   Also the default when a caller names no mode, so a new kind of output fails safe.
  PUBLIC     0644  files written to be shared or deployed and built only from the user's own settings:
                   plans and `migrate generate` configs, manifests and notes.
  EXECUTABLE 0755  generated scripts.
  KEEP             editing a user's existing file (``canary --apply``) keeps that file's mode
                   (PRIVATE when it does not exist yet).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO

PRIVATE = 0o600
PUBLIC = 0o644
EXECUTABLE = 0o755
KEEP = "keep"


def write_atomic(
    path: str | os.PathLike, data: str | bytes, *, mode: int | str | None = None, newline: str | None = "\n"
) -> Path:
    """Atomically replace ``path`` with ``data``; returns the target path.

    ``data`` as ``bytes`` is written verbatim. ``str`` is encoded as UTF-8 with ``newline`` passed
    to ``open``: ``"\\n"`` (default) writes exactly the newlines in the text on every OS; ``""``
    also writes them untranslated, and is what callers editing users' files pass to make the
    intent (keep CRLF byte-identical) explicit; ``None`` translates to ``os.linesep``.
    ``mode``: PRIVATE, PUBLIC, EXECUTABLE or KEEP (see the module docstring); ``None`` leaves the
    temp file's PRIVATE permissions (``mkstemp``).
    The parent directory must exist (callers decide whether creating it is appropriate).
    """
    target = Path(path)
    if mode == KEEP:
        try:
            mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = None
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        try:
            fh: IO = (
                os.fdopen(fd, "wb")
                if isinstance(data, (bytes, bytearray, memoryview))
                else os.fdopen(fd, "w", encoding="utf-8", newline=newline)
            )
        except BaseException:
            os.close(fd)  # fdopen did not take ownership of the descriptor
            raise
        with fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if isinstance(mode, int):
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target
