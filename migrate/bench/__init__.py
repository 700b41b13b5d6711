"""`migrate bench`: the phase benchmark under load, one backend or old and new side by side.

One module per concern: ``profiles`` (load shapes and schedules), ``scenarios`` (what each request
asks: the built-in phases and a plan's), ``runner`` (sending one level to one backend), ``metrics``
(per-request samples and their summary), ``pipeline`` (the run, both backends, the exit code),
``verdict`` (the rejection rules on the measured numbers), ``report`` (the JSON contract),
``terminal`` (the tables), ``outputs`` (Markdown, CSV and HTML).
"""

from .config import BenchConfig, Target, build_config, parse_slo
from .pipeline import run_bench
from .report import to_json_text, write_json

__all__ = ["BenchConfig", "Target", "build_config", "parse_slo", "run_bench", "to_json_text", "write_json"]
