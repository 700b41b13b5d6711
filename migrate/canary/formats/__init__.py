"""Output formats for a canary Decision: one module per format, each ``render(decision, ctx) -> str``."""

from .common import FORMATS, Context, headline, render

__all__ = ["FORMATS", "Context", "headline", "render"]
