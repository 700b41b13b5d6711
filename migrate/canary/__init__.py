"""`migrate canary`: compat evidence -> a canary weight, applied to the gateway config, gated in CI.

policy (defaults + schema) -> scoring (Kayenta-style) -> decide (pure) -> formats (output),
check (the CI gate). Data flows one way; nothing here talks to a backend.
"""

from .decide import Decision, decide, next_step
from .policy import DEFAULT_POLICY, load_policy, resolve_policy
from .report import load_report

__all__ = ["Decision", "decide", "next_step", "DEFAULT_POLICY", "load_policy", "resolve_policy", "load_report"]
