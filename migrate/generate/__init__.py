"""`migrate generate`: inventory (+ plan) -> launch scripts, docker run, Kubernetes, gateway and LiteLLM configs.

inputs (check and load) -> decisions (per model, pure) -> render (``build_tree``: the files, unwritten)
-> writer (``write_tree``: atomic, with the fsutil mode policy). Launch argv builders live in ``launch``,
the memory arithmetic in ``capacity``; engine facts come from the registry (migrate/engines.py).
"""

from .decisions import carried_defaults, choose_checkpoint, context_decision
from .inputs import TARGETS, Inputs, load_inputs, parse_aliases
from .pipeline import generate
from .render import build_tree
from .writer import write_tree

__all__ = [
    "TARGETS",
    "Inputs",
    "build_tree",
    "carried_defaults",
    "choose_checkpoint",
    "context_decision",
    "generate",
    "load_inputs",
    "parse_aliases",
    "write_tree",
]
