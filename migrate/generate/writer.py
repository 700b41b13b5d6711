"""Write a rendered tree: all or nothing (migrate/fsutil.write_tree), with the mode the tree gives each file."""

from __future__ import annotations

from .. import fsutil


def write_tree(tree: dict[str, tuple[str, int]], out_dir: str) -> None:
    """``tree``: {relative path: (text, mode)}. The files are written into a temporary directory next
    to ``out_dir`` and moved into place, so a failure (a full disk, an unwritable path) is one
    ``UsageError`` and leaves ``out_dir`` as it was."""
    fsutil.write_tree(out_dir, tree)
