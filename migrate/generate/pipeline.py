"""`migrate generate` end to end: load and check the inputs, build the tree, write it."""

from __future__ import annotations

import json
from typing import Optional

from .inputs import DEFAULT_OLLAMA_URL, load_inputs
from .render import MANIFEST, build_tree
from .writer import write_tree


def generate(
    target: str,
    out_dir: str,
    *,
    inventory_path: Optional[str] = None,
    plan_path: Optional[str] = None,
    aliases: tuple = (),
    ollama_url: str = DEFAULT_OLLAMA_URL,
    engine_url: Optional[str] = None,
    new_weight: int = 0,
    gpus: Optional[str] = None,
) -> dict:
    """Write the files for ``target`` into ``out_dir``; returns the manifest (the manifest.json written)."""
    inputs = load_inputs(
        target,
        inventory_path=inventory_path,
        plan_path=plan_path,
        aliases=aliases,
        ollama_url=ollama_url,
        engine_url=engine_url,
        new_weight=new_weight,
        gpus=gpus,
    )
    tree = build_tree(inputs)
    write_tree(tree, out_dir)
    return json.loads(tree[MANIFEST][0])
