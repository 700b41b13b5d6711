"""The one file writer: users' files are never seen half-written, left truncated, or replaced by
something they did not ask for.

What a path names decides how it is written (``write_atomic``):
  missing or a regular file   a temp file is created next to the target (same filesystem, so the
                              rename is atomic), written, flushed and fsynced, chmod-ed, then renamed
                              over the target with ``os.replace``. On any failure, including
                              KeyboardInterrupt, the temp file is removed and the target is left as it was.
  a symlink                   followed: the file it points to is written (the temp file goes in THAT
                              file's directory) and the link stays a link. A dangling link creates
                              its target, as a shell's ``>`` does.
  a FIFO or character device  written INTO, never replaced (``-o /dev/null``, ``-o >(gzip > x)``,
                              a tty). A FIFO is opened non-blocking first: with no process reading
                              it, the write fails at once instead of hanging. No mode is applied.
  a read-only file            refused (no write bit in its mode, checked explicitly because root's
                              writes ignore permission bits): the user marked it not to be changed.
  a directory, block device   refused.
  or socket
Every failure is one ``UsageError`` (exit 2): ``cannot write <path>: <reason>``.

File modes, one policy for every file the tool writes:
  PRIVATE    0600  anything that may hold what users sent or received (prompts, system prompts seen in
                   traffic, responses, log lines, code excerpts): inventories and compat/canary reports.
                   Also the default when a caller names no mode, so a new kind of output fails safe.
  PUBLIC     0644  files written to be shared or deployed and built only from the user's own settings:
                   plans and `migrate generate` configs, manifests and notes.
  EXECUTABLE 0755  generated scripts.
  KEEP             editing a user's existing file (``canary --apply``) keeps that file's mode
                   (PRIVATE when it does not exist yet); its ``.bak`` gets the same mode.

A tree of files (``write_tree``, for ``migrate generate``) is written into a temporary directory next
to the output directory first, so a failure (a full disk) leaves the output directory as it was.
Editing a user's file under concurrency is serialised with ``locked`` (an advisory ``flock``).
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import UsageError
from .redact import printable

PRIVATE = 0o600
PUBLIC = 0o644
EXECUTABLE = 0o755
KEEP = "keep"

Data = str | bytes


def write_atomic(
    path: str | os.PathLike,
    data: Data,
    *,
    mode: int | str | None = None,
    newline: str | None = "\n",
    backup: bool = False,
) -> Path:
    """Write ``data`` to ``path`` as the module docstring describes; returns ``Path(path)``.

    ``data`` as ``bytes`` is written verbatim. ``str`` is encoded as UTF-8 with ``newline``'s
    translation of ``"\\n"``: ``"\\n"`` (default) writes exactly the newlines in the text on every OS;
    ``""`` also writes them untranslated, and is what callers editing users' files pass to make the
    intent (keep CRLF byte-identical) explicit; ``None`` translates to ``os.linesep``.
    ``mode``: PRIVATE, PUBLIC, EXECUTABLE or KEEP (see the module docstring); ``None`` leaves the
    temp file's PRIVATE permissions (``mkstemp``).
    ``backup``: keep the file's previous bytes as ``backup_path(path)``, with the file's mode, put in
    place only after the file itself was replaced (a refused or failed write leaves no ``.bak``).
    The parent directory must exist (callers decide whether creating it is appropriate).
    """
    given = Path(path)
    payload = _encode(data, newline)
    try:
        _write(given, payload, mode, backup=backup)
    except OSError as exc:
        raise UsageError(f"cannot write {printable(given)}: {_reason(exc)}") from exc
    return given


def backup_path(path: str | os.PathLike) -> Path:
    """Where ``write_atomic(..., backup=True)`` keeps the previous file: next to the real file (for a
    symlink, next to what it points to), spelled as the caller spelled ``path`` when it is no link."""
    given = Path(path)
    if not given.is_symlink():
        return given.with_name(given.name + ".bak")
    target = _resolve(given)
    bak = target.with_name(target.name + ".bak")
    return bak if given.is_absolute() else Path(os.path.relpath(bak))


def append(path: str | os.PathLike, text: str) -> Path:
    """Append ``text`` (UTF-8) to ``path`` (e.g. ``$GITHUB_STEP_SUMMARY``), creating it PRIVATE; a FIFO
    or character device is written into as ``write_atomic`` does, never waited on."""
    given = Path(path)
    payload = _encode(text, "\n")
    try:
        st = _stat(given)
        if st is not None and not stat.S_ISREG(st.st_mode):
            _write_into(given, st, payload)
            return given
        if st is not None:
            _refuse_read_only(given, st)
        fd = os.open(given, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, PRIVATE)
        try:
            _write_all(fd, payload)
        finally:
            os.close(fd)
    except OSError as exc:
        raise UsageError(f"cannot append to {printable(given)}: {_reason(exc)}") from exc
    return given


def write_tree(out_dir: str | os.PathLike, files: dict[str, tuple[Data, int]]) -> Path:
    """Write ``files`` ({relative path: (data, mode)}) under ``out_dir``, all or nothing where the
    filesystem allows it.

    Everything is written into a temporary directory next to ``out_dir`` (same filesystem) first; a
    failure there (a full disk) removes it and leaves ``out_dir`` as it was. Then a new ``out_dir`` is
    that directory, renamed into place; into an existing one each file is renamed over its old
    version. Renames do not need space, so the second step fails only in rare cases, and then the
    error names the files already moved."""
    out = Path(out_dir)
    try:
        st = _stat(out)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise _Refused(f"it is {_kind(st.st_mode)}, not a directory")
        real = _resolve(out)
    except OSError as exc:
        raise UsageError(f"cannot write {printable(out)}: {_reason(exc)}") from exc
    for rel in files:  # a file we must not replace stops the run before anything is written
        try:
            old = _stat(real / rel)
            if old is not None and stat.S_ISDIR(old.st_mode):
                raise _Refused("it is a directory")
            if old is not None and stat.S_ISREG(old.st_mode):
                _refuse_read_only(real / rel, old)
        except OSError as exc:
            raise UsageError(f"cannot write {printable(out / rel)}: {_reason(exc)}; nothing was written") from exc
    try:
        made = [d for d in (real.parent, *real.parent.parents) if not d.exists()]  # removed again on failure
        real.parent.mkdir(parents=True, exist_ok=True)
        stage_root = Path(tempfile.mkdtemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent))
    except OSError as exc:
        raise UsageError(f"cannot write {printable(out)}: {_reason(exc)}") from exc
    done = False
    try:
        stage = stage_root / real.name
        stage.mkdir()  # not mkdtemp's 0700: a new out_dir gets the umask's mode like any mkdir
        for rel, (data, mode) in files.items():
            try:
                (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                _replace(stage / rel, _encode(data, "\n"), mode, backup=False)
            except OSError as exc:
                raise UsageError(f"cannot write {printable(out / rel)}: {_reason(exc)}; nothing was written") from exc
        if st is None:
            try:
                os.rename(stage, real)
            except OSError as exc:
                raise UsageError(f"cannot write {printable(out)}: {_reason(exc)}; nothing was written") from exc
            done = True
            return out
        moved: list[str] = []
        for rel, (_, mode) in files.items():
            dest = real / rel
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                if dest.is_symlink() or (dest.exists() and not dest.is_file()):
                    _write(dest, (stage / rel).read_bytes(), mode, backup=False)  # as `-o link` is written
                else:
                    os.replace(stage / rel, dest)
            except OSError as exc:
                progress = f"{len(moved)} of {len(files)} files were replaced" + (
                    f" ({', '.join(moved)})" if moved else ""
                )
                raise UsageError(f"cannot write {printable(out / rel)}: {_reason(exc)}; {progress}") from exc
            moved.append(rel)
        done = True
        return out
    finally:
        shutil.rmtree(stage_root, ignore_errors=True)
        for d in made if not done else ():
            try:
                d.rmdir()
            except OSError:
                break


@contextmanager
def locked(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive advisory lock (``flock``) on the regular file ``path`` names for the block.

    Callers editing a user's file read it again inside the block, so two concurrent edits apply one
    after the other instead of one losing the other's update. No lock file is left behind: the lock is
    on the file itself. The edit replaces the file (a new inode), so a waiter that wakes up holding the
    lock of the replaced inode takes the lock again on what the path names now."""
    given = Path(path)
    while True:
        try:
            # O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
            fd = os.open(given, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise UsageError(f"{printable(given)}: no such file") from None
        except OSError as exc:
            raise UsageError(f"{printable(given)}: cannot read ({_reason(exc)})") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UsageError(f"{printable(given)}: {_kind(st.st_mode)}, not a regular file to edit")
            fcntl.flock(fd, fcntl.LOCK_EX)
            now = _stat(given)
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
            break
        os.close(fd)  # replaced while we waited: lock what the path names now
    try:
        yield
    finally:
        os.close(fd)  # releases the lock


# --- internals --------------------------------------------------------------------------------------


def _write(given: Path, payload: bytes, mode: int | str | None, *, backup: bool) -> None:
    """``write_atomic`` without the translation of its OSError into one UsageError."""
    st = _stat(given)
    if st is not None and not stat.S_ISREG(st.st_mode):
        _write_into(given, st, payload)
        return
    target = _resolve(given)
    if st is not None:
        _refuse_read_only(given, st)
    if mode == KEEP:
        mode = stat.S_IMODE(st.st_mode) if st is not None else None
    _replace(target, payload, mode, backup=backup and st is not None)


class _Refused(OSError):
    """A write this module will not do; its message is the reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _reason(exc: OSError) -> str:
    if isinstance(exc, _Refused):
        return exc.reason
    return exc.strerror or str(exc)


def _encode(data: Data, newline: str | None) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if not isinstance(data, str):
        raise TypeError(f"write_atomic() takes str or bytes, not {type(data).__name__}")
    if newline is None:
        newline = os.linesep
    if newline not in ("", "\n"):
        data = data.replace("\n", newline)
    return data.encode("utf-8")


def _stat(path: Path, *, follow: bool = True) -> os.stat_result | None:
    try:
        return os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        return None


def _resolve(path: Path) -> Path:
    """The file a (chain of) symlink(s) points to, or ``path`` itself. A loop is an error."""
    real = Path(os.path.realpath(path))
    if real.is_symlink():
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))
    return real


def _kind(st_mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(st_mode):
            return name
    return "not a regular file"


def _refuse_read_only(path: Path, st: os.stat_result) -> None:
    """A file its owner marked read-only, or that we may not write, is not replaced behind their back.
    The mode bits are checked explicitly: running as root, every permission check says yes. Opening
    for writing (no truncation, nothing written) asks the kernel the rest: another user's file, an
    immutable one (``chattr +i``)."""
    if not st.st_mode & 0o222:
        raise _Refused(f"it is read-only (mode {stat.S_IMODE(st.st_mode):04o}); make it writable first")
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC))
    except OSError as exc:
        raise _Refused(f"it is not writable ({_reason(exc)})") from None


def _write_into(path: Path, st: os.stat_result, payload: bytes) -> None:
    """Write into a FIFO or character device (opened where it is, never replaced, no mode applied)."""
    fifo = stat.S_ISFIFO(st.st_mode)
    if not (fifo or stat.S_ISCHR(st.st_mode)):
        raise _Refused(f"it is {_kind(st.st_mode)}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        if fifo and exc.errno == errno.ENXIO:
            raise _Refused("it is a FIFO and no process is reading it") from None
        raise
    try:
        os.set_blocking(fd, True)  # a reader slower than us is waited for, as a shell's `>` does
        _write_all(fd, payload)
    finally:
        os.close(fd)


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]


def _temp_copy(target: Path, payload: bytes, mode: int | None, tag: str) -> str:
    """A fsynced temp file with ``payload`` in ``target``'s directory; its name is returned."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{tag}", suffix=".tmp", dir=target.parent)
    try:
        try:
            _write_all(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        if mode is not None:
            os.chmod(tmp, mode)
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def _replace(target: Path, payload: bytes, mode: int | str | None, *, backup: bool) -> None:
    temps: list[str] = []
    try:
        temps.append(_temp_copy(target, payload, mode if isinstance(mode, int) else None, ""))
        if backup:
            old = target.read_bytes()
            temps.append(_temp_copy(target, old, stat.S_IMODE(os.stat(target).st_mode), "bak."))
        os.replace(temps[0], target)
        if backup:
            bak = target.with_name(target.name + ".bak")
            try:
                os.replace(temps[1], bak)
            except OSError as exc:
                raise _Refused(f"it was written, but its backup {printable(bak)} was not ({_reason(exc)})") from None
    except BaseException:
        for tmp in temps:
            _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
