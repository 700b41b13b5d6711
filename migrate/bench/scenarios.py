"""Scenarios: what each request of a bench asks for, and under which load.

The built-in phase scenarios are data (``migrate/data/bench_scenarios.yaml``); ``--scenario NAME`` picks
some, ``--plan plan.json`` runs the phases a plan lists (the plan's load and token targets, the built-in
scenario's request form, matched by name). Without either, the ad-hoc streaming chat scenario runs: a
short prompt, at most ``--max-tokens`` output tokens, under the load options.

A phase's prompt of N input tokens is shipped text (``migrate/data/bench_text.txt``) cut to
N x ``words_per_token`` words from a start chosen per request by the seed, so requests differ (no
accidental prefix caching) and both backends get the same text. Words are only a proxy for tokens: the
report shows the prompt tokens the server counted. OpenAI requests ask for
``stream_options.include_usage`` so the server reports its own token counts; Ollama reports
``prompt_eval_count``/``eval_count`` on its last line without being asked.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Optional

from ..datafiles import package_data
from ..errors import UsageError
from ..exchange import ChatRequest, Message, ResponseFormat
from .profiles import Load

ADHOC_NAME = "adhoc-chat"
ADHOC_PROMPT = (
    "Describe how a lighthouse keeper spent an ordinary day in the nineteenth century, "
    "from lighting the lamp at dusk to the morning log entry."
)
DATA_FILE = "bench_scenarios.yaml"
TEXT_FILE = "bench_text.txt"
INSTRUCTION = "Summarise the passage above in plain prose."
LOAD_KINDS = ("concurrency", "rate", "poisson")
ECHO_PROMPT_CHARS = 200


@lru_cache(maxsize=1)
def _words() -> tuple[str, ...]:
    text = resources.files("migrate").joinpath(f"data/{TEXT_FILE}").read_text("utf-8")
    return tuple(text.split())


def words_per_token() -> float:
    return float(package_data(DATA_FILE)["words_per_token"])


def build_prompt(tokens: int, *, seed: int, index: int, prefix: float = 0.0) -> str:
    """About ``tokens`` input tokens of shipped text, the same for the same (seed, index).

    ``prefix`` (0-1): that fraction of the words is the same for every request (the text's start);
    the rest starts at a place drawn from (seed, index), wrapping around the text."""
    words = _words()
    tail = INSTRUCTION.split()
    n = max(1, round(tokens * words_per_token()) - len(tail))
    shared = min(n, round(n * prefix))
    start = random.Random(f"{seed}:{index}").randrange(len(words))
    body = [words[i % len(words)] for i in range(shared)]
    body += [words[(start + i) % len(words)] for i in range(n - shared)]
    return " ".join(body) + "\n\n" + INSTRUCTION


@dataclass
class Scenario:
    name: str
    max_tokens: int
    load: Load = field(default_factory=Load)
    prompt: Optional[str] = None  # a fixed prompt (ad hoc); else built from input_tokens
    input_tokens: Optional[int] = None
    endpoint: str = "chat"
    prefix: float = 0.0
    structured: Optional[dict] = None  # {"name", "schema"}: response_format json_schema
    report: list[str] = field(default_factory=list)
    source: str = "options"  # options | built-in | plan

    def prompt_for(self, index: int) -> str:
        if self.prompt is not None:
            return self.prompt
        assert self.input_tokens is not None
        return build_prompt(self.input_tokens, seed=self.load.seed, index=index, prefix=self.prefix)

    def request(self, model: str, index: int) -> ChatRequest:
        """The request number ``index`` of this scenario for ``model`` (the same text on both sides)."""
        request = ChatRequest(model=model, messages=[Message(role="user", content=self.prompt_for(index))], stream=True)
        request.include_usage = True  # the server's own token count, never a client re-tokenisation
        request.sampling.max_tokens = self.max_tokens
        if self.structured:
            request.response_format = ResponseFormat(
                type="json_schema", schema=self.structured["schema"], name=self.structured.get("name")
            )
        return request

    def echo(self) -> dict:
        first = self.prompt_for(0)
        return {
            "name": self.name,
            "source": self.source,
            "endpoint": self.endpoint,
            "stream": True,
            "max_tokens": self.max_tokens,
            "input_tokens": self.input_tokens,
            "prefix": self.prefix,
            "structured": bool(self.structured),
            "report": list(self.report),
            "load": self.load.echo(),
            "prompt": first if len(first) <= ECHO_PROMPT_CHARS else first[:ECHO_PROMPT_CHARS] + "...",
        }


def adhoc(max_tokens: int, load: Optional[Load] = None) -> Scenario:
    return Scenario(ADHOC_NAME, max_tokens, load or Load(), prompt=ADHOC_PROMPT)


# ---------------------------------------------------------------------------------------------------
# Scenarios as data: the shipped file, and the phases of a plan


def builtin_specs() -> dict[str, dict]:
    return {s["name"]: s for s in package_data(DATA_FILE)["scenarios"]}


def metric_names() -> dict[str, str]:
    return dict(package_data(DATA_FILE)["metric_names"])


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{where}: expected a whole number of at least 1, got {value!r}")
    return value


def _positive_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise UsageError(f"{where}: expected a positive number, got {value!r}")
    return float(value)


def load_of(shape: Any, where: str) -> Load:
    """``{"kind": "concurrency", "levels": [..]}`` / ``{"kind": "rate"|"poisson", "rate": R}`` -> a Load."""
    if not isinstance(shape, dict) or shape.get("kind") not in LOAD_KINDS:
        raise UsageError(f"{where}: expected {{kind: {'|'.join(LOAD_KINDS)}, ...}}, got {shape!r}"[:300])
    kind = shape["kind"]
    if kind == "concurrency":
        levels = shape.get("levels")
        if not isinstance(levels, list) or not levels:
            raise UsageError(f"{where}.levels: expected a non-empty list of concurrencies")
        values = [_positive_int(v, f"{where}.levels") for v in levels]
        if len(set(values)) != len(values) or max(values) > 4096:
            raise UsageError(f"{where}.levels: each concurrency once, at most 4096")
        return Load("concurrency", values)
    return Load(kind, [], _positive_number(shape.get("rate"), f"{where}.rate"))


def scenario_of(spec: Any, where: str, *, source: str) -> Scenario:
    """A scenario from its data form (the shipped file, or a plan phase merged over it)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
        raise UsageError(f"{where}: expected a mapping with a name")
    load = load_of(spec.get("load"), f"{where}.load")
    has_requests, has_duration = spec.get("requests") is not None, spec.get("duration_s") is not None
    if has_requests == has_duration:
        raise UsageError(f"{where}: give requests or duration_s (one of them)")
    if has_requests:
        load.requests = _positive_int(spec["requests"], f"{where}.requests")
    else:
        load.duration = _positive_number(spec["duration_s"], f"{where}.duration_s")
    if spec.get("endpoint", "chat") != "chat":
        raise UsageError(f"{where}.endpoint: only chat is supported, got {spec.get('endpoint')!r}")
    report = spec.get("report", [])
    if not isinstance(report, list) or not all(isinstance(m, str) for m in report):
        raise UsageError(f"{where}.report: expected a list of metric names")
    prefix = spec.get("prefix", 0.0)
    if isinstance(prefix, bool) or not isinstance(prefix, (int, float)) or not 0 <= prefix < 1:
        raise UsageError(f"{where}.prefix: expected a fraction in [0, 1), got {prefix!r}")
    structured = spec.get("structured")
    if structured is not None and not (isinstance(structured, dict) and isinstance(structured.get("schema"), dict)):
        raise UsageError(f"{where}.structured: expected {{name, schema}}")
    return Scenario(
        name=spec["name"],
        max_tokens=_positive_int(spec.get("output_tokens"), f"{where}.output_tokens"),
        load=load,
        input_tokens=_positive_int(spec.get("input_tokens"), f"{where}.input_tokens"),
        prefix=float(prefix),
        structured=structured,
        report=list(report),
        source=source,
    )


def split_names(values: tuple[str, ...] | list[str]) -> list[str]:
    """``--scenario a,b --scenario c`` -> [a, b, c], each once."""
    out: list[str] = []
    for value in values:
        for name in str(value).split(","):
            name = name.strip()
            if name and name not in out:
                out.append(name)
    return out


def builtin(names: list[str]) -> list[Scenario]:
    specs = builtin_specs()
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise UsageError(f"--scenario: unknown {', '.join(map(repr, unknown))} (one of: {', '.join(specs)})")
    return [scenario_of(specs[n], f"{DATA_FILE}: {n}", source="built-in") for n in names]


def from_plan(plan: Any, source: str, names: Optional[list[str]] = None) -> tuple[list[Scenario], list[dict]]:
    """The phases a plan lists (``benchmark_plan.phases``), or the ``names`` among them; and its rejection
    rules. A phase takes its load and token targets from the plan, the rest from the built-in of its name."""
    phases = plan.get("benchmark_plan", {}).get("phases") if isinstance(plan, dict) else None
    if not (isinstance(plan, dict) and plan.get("schema") == "migrate.plan/1" and isinstance(phases, list)):
        raise UsageError(f"{source}: not a plan (expected the JSON of `migrate plan --format json`)")
    specs = builtin_specs()
    out: list[Scenario] = []
    for i, phase in enumerate(phases):
        where = f"{source}: benchmark_plan.phases[{i}]"
        name = phase.get("phase") if isinstance(phase, dict) else None
        if name not in specs:
            raise UsageError(f"{where}: unknown phase {name!r} (one of: {', '.join(specs)})"[:300])
        if names and name not in names:
            continue
        shape = phase.get("load_shape")
        if shape is None:
            raise UsageError(
                f"{where}: no load_shape (a plan written before bench could run it: run `migrate plan` again)"
            )
        load_of(shape, f"{where}.load_shape")  # its own name in the error
        merged = {**specs[name], "load": shape}
        for key in ("input_tokens", "output_tokens", "report"):
            if key in phase:
                merged[key] = phase[key]
        out.append(scenario_of(merged, where, source="plan"))
    missing = [n for n in names or [] if n not in {s.name for s in out}]
    if missing:
        raise UsageError(f"--scenario: {', '.join(map(repr, missing))} is not a phase of {source}")
    rules = plan.get("rejection_metrics") or []
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise UsageError(f"{source}: rejection_metrics: expected a list of rules")
    return out, rules


def scaled(scenario: Scenario, factor: float) -> Scenario:
    """``--scale F``: requests, duration and token targets times F (at least 1 request / token)."""
    if factor == 1.0:
        return scenario
    load = dataclasses.replace(scenario.load)
    if load.requests is not None:
        load.requests = max(1, math.ceil(load.requests * factor))
    if load.duration is not None:
        load.duration = load.duration * factor
    return dataclasses.replace(
        scenario,
        load=load,
        max_tokens=max(1, round(scenario.max_tokens * factor)),
        input_tokens=max(1, round(scenario.input_tokens * factor)) if scenario.input_tokens else None,
    )
