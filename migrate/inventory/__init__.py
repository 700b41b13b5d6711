"""``migrate inventory``: live Ollama + server logs + application code + captures -> one inventory.

The pipeline is ``build``; sources are ``live``, ``logs``, ``code`` and ``capture``; ``profile`` and
``risks`` derive from the assembled inventory; ``render`` prints it.
"""

from .build import build_inventory, load_schema, validate, write_inventory

__all__ = ["build_inventory", "load_schema", "validate", "write_inventory"]
