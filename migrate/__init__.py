"""ollama-migrate: move an application from Ollama to a production inference engine, with evidence."""

__version__ = "0.1.0"
