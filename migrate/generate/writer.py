"""Write a rendered tree: every file atomically (migrate/fsutil), with the mode the tree gives it."""

from __future__ import annotations

from pathlib import Path

from .. import fsutil
from ..errors import UsageError


def write_tree(tree: dict[str, tuple[str, int]], out_dir: str) -> None:
    """``tree``: {relative path: (text, mode)}; the output directories are created."""
    out = Path(out_dir)
    for rel, (text, mode) in tree.items():
        path = out / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fsutil.write_atomic(path, text, mode=mode)
        except OSError as exc:  # e.g. --out is a file, no permission
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
