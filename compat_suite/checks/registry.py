"""``REGISTRY`` maps a check name (as cases name it) to its function; ``DEFAULT_CHECKS`` says
which checks a case of each category gets when it names none."""

from __future__ import annotations

from typing import Callable

from . import chat, defaults, embeddings, errors, long_context, observability, streaming, structured, tools

REGISTRY: dict[str, Callable] = {}
for _module in (chat, defaults, tools, streaming, structured, long_context, errors, embeddings, observability):
    REGISTRY.update(_module.CHECKS)

# The check a case gets when it names none (unless its case kind has its own default).
DEFAULT_CHECKS = {
    "chat": ["response_structure"],
    "defaults": ["default_behaviour"],
    "tools": ["tool_call_structure"],
    "streaming": ["stream_invariants"],
    "structured": ["json_validity"],
    "long_context": ["context_window"],
    "errors": ["error_contract"],
}
