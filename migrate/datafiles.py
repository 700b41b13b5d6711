"""The one way YAML/JSON is read: shipped data files, and files a user hands us.

User files fail with one line and exit 2 (``UsageError``), naming the file and, for a syntax error,
the line. YAML is a superset of JSON, so one parser serves both.

A user file is hostile until read: it is refused when larger than ``MAX_USER_FILE_BYTES``, nested
deeper than ``MAX_DEPTH``, or when its aliases refer to themselves (``&a [*a]``) or would expand to
more than ``MAX_ALIAS_NODES`` nodes (a "billion laughs" file is a few hundred bytes). The check runs
on the parser's event stream, before anything is built, so refusing costs no more than reading.
Anchors and aliases below the bound stay allowed: case files share one history across cases.

Every user input is opened by ``open_input``, which never blocks: a regular file, or a FIFO/pipe read
as a stream (``validate <(cat gw.yaml)``, ``/dev/stdin``); a FIFO that no process writes is an error
after ``FIFO_WAIT_S``, a device, socket or directory is refused by its type.
"""

from __future__ import annotations

import errno
import functools
import io
import json
import os
import select
import stat
from importlib import resources
from typing import IO, Any, Iterable, Optional

import yaml

from .errors import UsageError

MAX_USER_FILE_BYTES = 10 * 1024 * 1024  # docs/validate.md; the largest real input (an inventory) is far below
MAX_DEPTH = 64  # nesting levels; real files use < 12, and deep nesting exhausts recursive walkers
MAX_ALIAS_NODES = 100_000  # nodes that aliases add, counted as if expanded
# A FIFO nobody has open for writing gets this long to get a writer (`mkfifo p; migrate validate p &
# cat gw.yaml > p`); a pipe that has a writer (`<(cmd)`) never waits for it.
FIFO_WAIT_S = 1.0

# libyaml when present: the pure-Python parser takes ~2 s per MB.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=None)
def package_data(name: str) -> Any:
    """A data file shipped in ``migrate/data/`` (rules, catalog, metrics, ...)."""
    return yaml.safe_load(resources.files("migrate").joinpath(f"data/{name}").read_text(encoding="utf-8"))


def check_yaml_text(
    text: str, source: str, what: str = "file", *, limit: int = MAX_USER_FILE_BYTES, events: Any = None
) -> None:
    """Refuse (UsageError) YAML text that is too large, too deep or an alias bomb, before it is built.

    A syntax error ends the check silently: the real parser reports it with its line. ``events``, a
    callable text -> events, rescans with the caller's own parser when libyaml stops on a syntax
    error, so no text one parser rejects can carry a bomb past the other.
    """
    if len(text) > limit:
        raise UsageError(f"{source}: {what} is larger than {_size(limit)}; refusing to read it")
    if not _check_events(yaml.parse(text, Loader=_LOADER), source, what) and events is not None:
        _check_events(events(text), source, what)


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n // 1024} KiB"


def _check_events(events: Iterable, source: str, what: str) -> bool:
    """Walk a parser's events keeping each anchor's expanded size; False when the text did not parse.

    Works on PyYAML and ruamel.yaml events alike (same class names and ``anchor`` attributes).
    """
    sizes: dict[str, Optional[int]] = {}  # anchor -> expanded node count; None while still open
    stack: list[list] = []  # [anchor, nodes so far] per open collection
    added = 0  # nodes contributed by aliases
    it = iter(events)
    while True:
        try:
            event = next(it)
        except StopIteration:
            return True
        except Exception:  # any parser's syntax error: the loader reports it with its line
            return False
        kind = type(event).__name__
        anchor = getattr(event, "anchor", None)
        if kind in ("MappingStartEvent", "SequenceStartEvent"):
            if len(stack) >= MAX_DEPTH:
                raise UsageError(f"{_where(source, event)}: {what} is nested deeper than {MAX_DEPTH} levels")
            if anchor is not None:
                sizes[anchor] = None
            stack.append([anchor, 1])
            continue
        if kind in ("MappingEndEvent", "SequenceEndEvent"):
            anchor, size = stack.pop()
            if anchor is not None:
                sizes[anchor] = size
        elif kind == "AliasEvent":
            if anchor in sizes and sizes[anchor] is None:
                raise UsageError(f"{_where(source, event)}: {what} has a recursive alias *{anchor}")
            size = sizes.get(anchor or "") or 1  # an undefined alias: the loader reports it
            added += size
            if added > MAX_ALIAS_NODES:
                raise UsageError(
                    f"{_where(source, event)}: {what} has aliases that expand to more than "
                    f"{MAX_ALIAS_NODES:,} nodes (an alias bomb?); refusing to read it"
                )
        elif kind == "ScalarEvent":
            size = 1
            if anchor is not None:
                sizes[anchor] = 1
        else:
            continue
        if stack:
            stack[-1][1] += size


def _where(source: str, event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f"{source}:{mark.line + 1}" if mark is not None else source


def parse_yaml(text: str, source: str, what: str = "file", *, limit: int = MAX_USER_FILE_BYTES) -> Any:
    check_yaml_text(text, source, what, limit=limit)
    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{where}: {what} is not valid YAML/JSON ({problem})") from None


def load_inventory(path: str | os.PathLike) -> dict:
    """An inventory file (``migrate inventory -o``); plan and generate both read it."""
    data = load_user_file(path, "inventory")
    if not isinstance(data, dict) or not isinstance(data.get("models", []), list):
        raise UsageError(f"inventory {path}: expected an object with a models[] list")
    for i, model in enumerate(data.get("models", [])):
        if not isinstance(model, dict):
            raise UsageError(f"inventory {path}: models[{i}] must be an object, got {type(model).__name__}")
    if not isinstance(data.get("profile") or {}, dict):
        raise UsageError(f"inventory {path}: profile must be an object")
    return data


_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device", stat.S_IFSOCK: "a socket"}


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words (``a FIFO``, ``a device``), for a message."""
    return "a directory" if stat.S_ISDIR(mode) else _KINDS.get(stat.S_IFMT(mode), "not a file")


def open_input(path: str | os.PathLike, *, fifo: bool = True) -> IO[bytes]:
    """A user's input opened for reading, binary, without ever blocking on a writer that never comes.

    The open is non-blocking (opening a FIFO with ``O_RDONLY`` alone waits for a writer) and the
    type is judged on the descriptor, so a name swapped after a check cannot get past it. A regular
    file is read as usual; a FIFO or pipe (``fifo``) as a stream, see ``_Fifo``. Anything else (a
    directory, a device, a socket) raises OSError whose ``strerror`` says what it is.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if not (stat.S_ISREG(mode) or (fifo and stat.S_ISFIFO(mode))):
            raise OSError(errno.EINVAL, f"not a regular file ({file_kind(mode)})")
        os.set_blocking(fd, True)
        if stat.S_ISREG(mode):
            return os.fdopen(fd, "rb")
        return io.BufferedReader(_Fifo(fd))
    except BaseException:
        os.close(fd)
        raise


class _Fifo(io.RawIOBase):
    """A FIFO's read end, read blocking. POSIX: a read with no writer returns end of file at once,
    so a pipe whose writer exists (``<(cmd)``) is read normally however slow it is; an end of file
    before the first byte waits ``FIFO_WAIT_S`` for a writer to arrive (a select() on a FIFO that
    has never had a writer stays quiet until one opens it), then is OSError "a FIFO with no writer"."""

    def __init__(self, fd: int):
        self._fd = fd
        self._started = False

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def readinto(self, buffer: Any) -> int:
        n = os.readv(self._fd, [buffer])
        if not self._started and n == 0 and len(buffer):
            if not select.select([self._fd], [], [], FIFO_WAIT_S)[0]:
                raise OSError(errno.ENXIO, f"a FIFO with no writer (waited {FIFO_WAIT_S:g} s for one)")
            n = os.readv(self._fd, [buffer])
        self._started = True
        return n

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


class _BoundedText:
    """A user's text file whose ``read()`` refuses more than ``limit``: a regular file is judged by
    its size before reading, a pipe (no size) by reading at most ``limit`` + 1 characters."""

    def __init__(self, path: str | os.PathLike, what: str, limit: int, newline: Optional[str]):
        raw = open_input(path)
        self._path, self._what, self._limit = path, what, limit
        try:
            st = os.fstat(raw.fileno())
            if stat.S_ISREG(st.st_mode) and st.st_size > limit:
                self._refuse(f" ({st.st_size:,} bytes)")
            self._fh = io.TextIOWrapper(raw, encoding="utf-8", newline=newline)
        except BaseException:
            raw.close()
            raise

    def _refuse(self, detail: str = "") -> None:
        raise UsageError(f"{self._path}: {self._what} is larger than {_size(self._limit)}{detail}; refusing to read it")

    def read(self) -> str:
        text = self._fh.read(self._limit + 1)
        if len(text) > self._limit:
            self._refuse()
        return text

    def __enter__(self) -> "_BoundedText":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._fh.close()


def open_user_text(
    path: str | os.PathLike, what: str = "file", *, limit: int = MAX_USER_FILE_BYTES, newline: Optional[str] = None
) -> _BoundedText:
    """Open a user's UTF-8 text file for one bounded ``read()`` (use as a context manager)."""
    return _BoundedText(path, what, limit, newline)


def read_user_text(path: str | os.PathLike, what: str = "file", *, limit: int = MAX_USER_FILE_BYTES) -> str:
    """A user's text file (size-capped); unreadable, not UTF-8 or too large: UsageError (exit 2)."""
    return _read_user_text(path, what, limit)


def _read_user_text(path: str | os.PathLike, what: str, limit: int = MAX_USER_FILE_BYTES) -> str:
    try:
        with open_user_text(path, what, limit=limit) as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"cannot read {what} {path}: {reason}") from None


def load_user_file(path: str | os.PathLike, what: str = "file") -> Any:
    return parse_yaml(_read_user_text(path, what), str(path), what)


def load_user_json(path: str | os.PathLike, what: str = "file") -> Any:
    """A file that must be JSON (a request body is sent as JSON: YAML there would be a surprise)."""
    text = _read_user_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except RecursionError:
        raise UsageError(f"{path}: {what} is nested too deeply") from None
