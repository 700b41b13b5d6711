"""`migrate generate` end to end: load and check the inputs, build the tree, write it."""

from __future__ import annotations

import json

from .inputs import load_inputs
from .render import MANIFEST, build_tree
from .writer import write_tree


def generate(target: str, out_dir: str, **options) -> dict:
    """Write the files for ``target`` into ``out_dir``; returns the manifest (the manifest.json written).

    ``options`` are ``load_inputs``'s keywords (inventory_path, plan_path, aliases, ollama_url, ...).
    """
    tree = build_tree(load_inputs(target, **options))
    write_tree(tree, out_dir)
    return json.loads(tree[MANIFEST][0])
