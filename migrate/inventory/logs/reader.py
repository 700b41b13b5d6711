"""Log input: which files a path names, opening them (plain, .gz, stdin), and cutting the bytes into
blocks of complete lines.

Nothing here reads a whole file or keeps one unbounded line: bytes are read in fixed-size blocks,
and a line longer than ``MAX_LINE`` bytes is dropped (the reader yields ``None`` where it was).
Blocks stay bytes: access lines are read from them directly (``gin``), other lines are decoded.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import sys
from typing import IO, ContextManager, Iterator, Optional

CHUNK = 1 << 16  # small enough for a block's column objects to stay in cache
MAX_LINE = 1 << 20  # longer lines are counted as oversized and skipped
BINARY_PROBE = 8192
# Terminal colours (gin colours status and method when stdout is a TTY).
COLOURS = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
COLOURS_BYTES = re.compile(COLOURS.pattern.encode())
_LONE_CR = re.compile(rb"\r(?!\n)")


def iter_log_paths(path: str) -> Iterator[str]:
    """A file, ``-``, or every regular file under a directory (sorted, hidden files skipped)."""
    if path == "-" or os.path.isfile(path):
        yield path
        return
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield os.path.join(root, name)


def is_binary(path: str) -> bool:
    """A NUL byte in the first block (of the decompressed text for .gz). ``-`` is never probed."""
    if path == "-":
        return False
    with open(path, "rb") as raw:
        head = raw.read(BINARY_PROBE)
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as gz:
            head = gz.read(BINARY_PROBE)
    return b"\x00" in head


def open_bytes(path: str) -> ContextManager[IO[bytes]]:
    """The log's bytes (decompressed for .gz); ``-`` is stdin (left open)."""
    if path == "-":
        return contextlib.nullcontext(sys.stdin.buffer)
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def decode(block: bytes) -> str:
    """Text of a block: UTF-8, undecodable bytes replaced (blocks end at a newline, so no
    character is ever cut in two)."""
    return block.decode("utf-8", "replace")


def blocks(stream: IO[bytes]) -> Iterator[Optional[bytes]]:
    """Complete lines in blocks of about ``CHUNK`` bytes, without their final newline; ``\\r\\n``
    and a lone ``\\r`` end a line like ``\\n`` does.

    ``None`` stands for one oversized line, yielded where that line ends; the last block may lack
    its newline (a file not ending in one)."""
    carry = b""
    skipping = False  # inside an oversized line: drop bytes up to the next newline
    pending_cr = False  # the last read ended in CR: an LF starting the next read belongs to it
    read = stream.read
    while True:
        block = read(CHUNK)
        if not block:
            break
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
