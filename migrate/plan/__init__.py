"""`migrate plan`: profile facts (with provenance) -> the engine decision, by a data-driven rules table.

facts (inputs and provenance) -> rules (the decision) -> benchmark (what to measure) -> render (output);
the `--gpus` facts come from `migrate.hardware`, shared with generate.
Nothing here imports `migrate.generate` (generate reads plans).
"""

from ..datafiles import load_inventory
from ..hardware import VENDORS, gpu_table, parse_gpus
from .benchmark import benchmark_plan
from .facts import PORTABLE, PROFILE_KEYS, USERS, build_facts, load_profile
from .render import render, write_plan
from .rules import PLAN_SCHEMA, decide, matches, plan, rules

__all__ = [
    "PLAN_SCHEMA",
    "PORTABLE",
    "PROFILE_KEYS",
    "USERS",
    "VENDORS",
    "benchmark_plan",
    "build_facts",
    "decide",
    "gpu_table",
    "load_inventory",
    "load_profile",
    "matches",
    "parse_gpus",
    "plan",
    "render",
    "rules",
    "write_plan",
]
