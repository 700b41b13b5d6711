"""Real local backends for the demo and the integration tests (no GPU, no Ollama binary).

- ``LlamaCppServer``: a real llama.cpp HTTP server (xllamacpp) in a subprocess we own.
- ``OllamaTestServer``: Ollama's native + OpenAI-layer API over that engine, reproducing the
  behaviours a migration trips over (NDJSON framing, ns durations, silent front truncation, queue
  limit 503, Ollama's error shapes, Ollama-format logs).

``python -m migrate.testbed`` starts both and prints their URLs as one JSON line.
"""

from __future__ import annotations

import importlib

# Lazy: importing the package must not import xllamacpp/starlette (they are an optional extra).
_EXPORTS = {
    "LlamaCppServer": "llamacpp",
    "EngineStartError": "llamacpp",
    "OllamaTestServer": "ollama_server",
    "MODEL_NAME": "model",
    "model_path": "model",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(name)


__all__ = ["LlamaCppServer", "EngineStartError", "OllamaTestServer", "MODEL_NAME", "model_path"]
