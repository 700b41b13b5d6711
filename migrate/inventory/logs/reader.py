"""Log input: which files a path names, opening them (plain, .gz, stdin), and cutting the bytes into
blocks of complete lines.

Nothing here reads a whole file or keeps one unbounded line: bytes are read in fixed-size blocks,
and a line longer than ``MAX_LINE`` bytes is dropped (the reader yields ``None`` where it was; the
caller counts and reports it). Blocks stay bytes: access lines are read from them directly (``gin``),
other lines are decoded.

Only regular files are opened (checked after resolving symlinks, and again on the descriptor, which
is opened non-blocking by ``datafiles.open_input``): a FIFO or a device found in a log directory is
skipped, never read. A FIFO named on the command line is read as a stream, like ``-`` (``--logs
<(zcat old.log.gz)``); one that no process writes to is an error, not a wait.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import stat
import sys
import zlib
from typing import IO, Iterator, Optional

from ...datafiles import file_kind, open_input

CHUNK = 1 << 16  # small enough for a block's column objects to stay in cache
MAX_LINE = 1 << 20  # 1 MiB: longer lines are counted as oversized, skipped and reported
BINARY_PROBE = 8192
# Terminal colours (gin colours status and method when stdout is a TTY).
COLOURS = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
COLOURS_BYTES = re.compile(COLOURS.pattern.encode())
_LONE_CR = re.compile(rb"\r(?!\n)")


def iter_log_paths(path: str) -> Iterator[str]:
    """``path`` itself (``-``, a file, a pipe), or every file under a directory (sorted, hidden files
    skipped, directory symlinks not followed). Whether each one is read is ``refusal``'s call."""
    if path == "-" or not os.path.isdir(path):
        yield path
        return
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield os.path.join(root, name)


file_type = file_kind  # what a non-regular file is, in words (``a FIFO``, ``a device``), for a warning


# What reading a damaged file raises: a truncated .gz ends in EOFError, a corrupt one in zlib.error
# or gzip.BadGzipFile (an OSError), a disk in OSError.
READ_ERRORS = (OSError, EOFError, zlib.error)


def refusal(path: str, named: bool) -> Optional[str]:
    """Why ``path`` is not read as a log (``None``: read it). ``named``: given on the command line
    rather than found in a directory (only then is a FIFO read)."""
    if path == "-":
        return None
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc}), skipped"
    if stat.S_ISREG(mode) or (named and stat.S_ISFIFO(mode)):
        return None
    return f"not a regular file ({file_type(mode)}), not read"


def describe(exc: BaseException) -> str:
    """A read error in words, for a warning."""
    if isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile)):
        return f"truncated or corrupt gzip ({exc})"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def open_regular(path: str) -> IO[bytes]:
    """A regular file, opened non-blocking and checked on the descriptor: a file swapped for a FIFO
    after a check on its name cannot block the open or the reads. Raises OSError otherwise."""
    return open_input(path, fifo=False)


@contextlib.contextmanager
def open_bytes(path: str, named: bool = True) -> Iterator[IO[bytes]]:
    """The log's bytes (decompressed for .gz); ``-`` is stdin (left open). Only a ``named`` path may be
    a pipe (read as it comes, see ``datafiles.open_input``); any other is a regular file or not read."""
    if path == "-":
        yield sys.stdin.buffer
        return
    with open_input(path, fifo=named) as raw:
        if path.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                yield gz
        else:
            yield raw


def head_and_blocks(stream: IO[bytes]) -> tuple[bytes, Iterator[Optional[bytes]]]:
    """The first ``BINARY_PROBE`` bytes (to look for NULs) and the blocks of the whole stream, from
    one read: a pipe cannot be read twice."""
    head = stream.read(BINARY_PROBE)
    return head, blocks(stream, head)


def decode(block: bytes) -> str:
    """Text of a block: UTF-8, undecodable bytes replaced (blocks end at a newline, so no
    character is ever cut in two)."""
    return block.decode("utf-8", "replace")


def _reads(stream: IO[bytes], first: bytes) -> Iterator[bytes]:
    """``first`` (bytes already read), then the rest of the stream, in pieces of ``CHUNK`` bytes."""
    for i in range(0, len(first), CHUNK):
        yield first[i : i + CHUNK]
    read = stream.read
    while block := read(CHUNK):
        yield block


def blocks(stream: IO[bytes], first: bytes = b"") -> Iterator[Optional[bytes]]:
    """Complete lines in blocks of about ``CHUNK`` bytes, without their final newline; ``\\r\\n``
    and a lone ``\\r`` end a line like ``\\n`` does.

    ``None`` stands for one oversized line, yielded where that line ends; the last block may lack
    its newline (a file not ending in one). ``first``: bytes already read from the stream."""
    carry = b""
    skipping = False  # inside an oversized line: drop bytes up to the next newline
    pending_cr = False  # the last read ended in CR: an LF starting the next read belongs to it
    for block in _reads(stream, first):
        if pending_cr:
            block = b"\r" + block
        pending_cr = block.endswith(b"\r")
        if pending_cr:
            block = block[:-1]
        if b"\r" in block:  # CRLF (Windows): drop the CRs; a lone CR (rare) is a newline
            block = (
                block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                if _LONE_CR.search(block)
                else block.replace(b"\r", b"")
            )
        if skipping:
            cut = block.find(b"\n")
            if cut < 0:
                continue
            block, skipping = block[cut + 1 :], False
            yield None
        block = carry + block
        cut = block.rfind(b"\n")
        if cut < 0:
            carry = block
            if len(carry) > MAX_LINE:
                carry, skipping = b"", True
            continue
        carry = block[cut + 1 :]
        if len(carry) > MAX_LINE:
            carry, skipping = b"", True
        yield block[:cut]
    if pending_cr:
        if skipping:
            skipping = False
            yield None
        elif carry:
            yield carry
            carry = b""
        else:
            yield b""
    if carry:
        yield carry
    if skipping:
        yield None
