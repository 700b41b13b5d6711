"""Ollama server logs -> traffic, configuration and warnings.

``reader`` opens and cuts the input, ``gin`` reads access lines, ``slog`` everything else, ``stats``
accounts for both and builds the result.
"""

from .gin import parse_go_duration
from .reader import iter_log_paths
from .slog import parse_env_map
from .stats import LogStats

__all__ = ["LogStats", "iter_log_paths", "parse_env_map", "parse_go_duration"]
