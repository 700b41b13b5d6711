"""One module per aspect of the compat comparison; ``REGISTRY`` maps a check name (as cases name
it) to its function.

A check takes ``(case, CaseRun, CheckContext)`` and returns one report entry, or a list of them.
"""

from .base import CaseRun, CheckContext, SideInfo
from .registry import DEFAULT_CHECKS, REGISTRY

__all__ = ["REGISTRY", "DEFAULT_CHECKS", "CaseRun", "CheckContext", "SideInfo"]
