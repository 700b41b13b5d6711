"""The versioned model catalog: Ollama tag -> checkpoints per engine, parser names, trained context."""

from .resolve import ModelRef, load, quant_from_tag, resolve, split_tag, version

__all__ = ["ModelRef", "load", "quant_from_tag", "resolve", "split_tag", "version"]
