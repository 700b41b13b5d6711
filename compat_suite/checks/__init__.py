"""One module per aspect; ``REGISTRY`` maps a check name (as cases name it) to its function.

A check takes ``(case, CaseRun, CheckContext)`` and returns one report entry, or a list of them.
"""
from __future__ import annotations

from . import (chat, defaults, embeddings, errors, long_context, observability, streaming,
               structured, tools)
from .base import CaseRun, CheckContext, SideInfo

REGISTRY = {}
for _module in (chat, defaults, tools, streaming, structured, long_context, errors, embeddings,
                observability):
    REGISTRY.update(_module.CHECKS)

# The check a case gets when it names none (unless its case kind has its own default).
DEFAULT_CHECKS = {
    "chat": ["response_structure"], "defaults": ["default_behaviour"],
    "tools": ["tool_call_structure"], "streaming": ["stream_invariants"],
    "structured": ["json_validity"], "long_context": ["context_window"],
    "errors": ["error_contract"],
}

__all__ = ["REGISTRY", "DEFAULT_CHECKS", "CaseRun", "CheckContext", "SideInfo"]
