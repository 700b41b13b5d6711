"""The configuration of a bench run, and how the option values of ``migrate bench`` become one.

The dataclass fields are the one place for defaults (the click options read ``DEFAULTS``). Every usage
problem is a ``UsageError`` (exit 2), raised before anything is sent.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from .. import engines
from ..errors import UsageError
from ..protocol import Backend, Timeouts, check_seconds, parse_server_url
from . import scenarios as sc
from .profiles import Load, build_load
from .scenarios import Scenario, adhoc

SLO_METRICS = ("ttft", "tpot", "e2e")


@dataclass
class Target:
    """One backend under load: ``target`` alone, or ``old`` and ``new`` side by side."""

    role: str
    kind: str
    url: str
    model: str
    api_key_env: Optional[str] = None

    @property
    def protocol(self) -> str:
        return engines.protocol_of(self.kind)

    def backend(self, timeout: float, stall: float) -> Backend:
        return Backend(
            url=self.url,
            protocol=self.protocol,
            kind=self.kind,
            api_key_env=self.api_key_env,
            timeouts=Timeouts(connect=min(5.0, timeout), read=timeout, stall=stall, total=timeout),
        )


@dataclass
class BenchConfig:
    targets: list[Target]
    load: Load = field(default_factory=Load)
    scenarios: list[Scenario] = field(default_factory=lambda: [adhoc(64)])
    rules: Optional[list[dict]] = None  # a plan's rejection rules; None: the new engine's from rules.yaml
    plan: Optional[str] = None  # the plan file the scenarios came from
    scale: float = 1.0
    slo: dict[str, float] = field(default_factory=dict)
    timeout: float = 60.0  # seconds per request
    stall: Optional[float] = None  # silence mid-stream; None: half of timeout
    max_duration: float = 1800.0  # overall bound per backend and level
    max_tokens: int = 64

    @property
    def stall_s(self) -> float:
        # Below the request deadline, so a stream that stops is counted as `stall`, not `timeout`.
        return self.stall if self.stall is not None else self.timeout / 2

    @property
    def scenario(self) -> Scenario:
        return self.scenarios[0]

    @property
    def side_by_side(self) -> bool:
        return len(self.targets) == 2


DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(BenchConfig) if f.default is not dataclasses.MISSING
}
DEFAULTS.update({f.name: f.default for f in dataclasses.fields(Load) if f.default is not dataclasses.MISSING})


def parse_slo(text: Optional[str]) -> dict[str, float]:
    """``ttft=0.5,tpot=0.05,e2e=10`` (seconds) -> {"ttft": 0.5, ...}."""
    out: dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in SLO_METRICS:
            raise UsageError(
                f"--slo: {part.strip()!r}: expected METRIC=SECONDS with METRIC one of {', '.join(SLO_METRICS)}"
            )
        try:
            seconds = float(value)
        except ValueError:
            raise UsageError(f"--slo: {name}={value.strip()!r} is not a number of seconds") from None
        if not (math.isfinite(seconds) and seconds > 0):
            raise UsageError(f"--slo: {name} must be a positive number of seconds")
        out[name] = seconds
    return out


def _key_env(option: str, name: Optional[str]) -> Optional[str]:
    if name and not os.environ.get(name):
        raise UsageError(f"{option} {name}: the variable is not set")
    return name


def build_config(
    *,
    url: Optional[str] = None,
    kind: Optional[str] = None,
    model: Optional[str] = None,
    api_key_env: Optional[str] = None,
    from_kind: Optional[str] = None,
    to_kind: Optional[str] = None,
    from_url: Optional[str] = None,
    to_url: Optional[str] = None,
    old_model: Optional[str] = None,
    new_model: Optional[str] = None,
    from_api_key_env: Optional[str] = None,
    to_api_key_env: Optional[str] = None,
    concurrency: Optional[str] = None,
    rate: Optional[float] = None,
    poisson: Optional[float] = None,
    requests: Optional[int] = None,
    duration: Optional[float] = None,
    warmup: int = DEFAULTS["warmup"],
    seed: int = DEFAULTS["seed"],
    max_concurrency: int = DEFAULTS["max_concurrency"],
    max_tokens: int = DEFAULTS["max_tokens"],
    slo: Optional[str] = None,
    timeout: float = DEFAULTS["timeout"],
    stall: Optional[float] = None,
    max_duration: float = DEFAULTS["max_duration"],
    scenario: tuple[str, ...] = (),
    plan: Optional[str] = None,
    scale: float = DEFAULTS["scale"],
) -> BenchConfig:
    """One backend (``url``, ``kind``, ``model``) or two (``from_*``, ``to_*``, ``old_model``/``new_model``)."""
    single = any(v is not None for v in (url, kind, api_key_env))
    pair = any(v is not None for v in (from_kind, to_kind, from_url, to_url, from_api_key_env, to_api_key_env))
    if single and pair:
        raise UsageError("give one backend (--url/--kind) or two (--from/--to/--from-url/--to-url), not both")
    if not single and not pair:
        raise UsageError("missing a backend: --url URL --kind KIND --model M, or --from/--to/--from-url/--to-url")
    if single:
        missing = [n for n, v in (("--url", url), ("--kind", kind), ("--model", old_model)) if not v]
    else:
        missing = [
            n
            for n, v in (("--from", from_kind), ("--to", to_kind), ("--from-url", from_url), ("--to-url", to_url))
            if not v
        ] + (["--model"] if not old_model else [])
    if missing:
        raise UsageError(f"missing {', '.join(missing)}")
    if single and new_model and new_model != old_model:
        raise UsageError("--model OLD=NEW needs two backends (--from/--to); one backend takes --model M")
    for option, value in (("--timeout", timeout), ("--max-duration", max_duration)):
        check_seconds(value, option)
    if stall is not None:
        check_seconds(stall, "--stall")
    if duration is not None:
        check_seconds(duration, "--duration")
    load = build_load(
        concurrency=concurrency,
        rate=rate,
        poisson=poisson,
        requests=requests,
        duration=duration,
        warmup=warmup,
        seed=seed,
        max_concurrency=max_concurrency,
    )
    scenarios, rules = _scenarios(
        load,
        sc.split_names(scenario),
        plan,
        scale,
        max_tokens,
        shaped=bool(concurrency or rate or poisson),
        stop=requests is not None or duration is not None,
    )
    if single:
        assert url and kind and old_model
        targets = [Target("target", kind, url, old_model, _key_env("--api-key-env", api_key_env))]
        whats = ["--url"]
    else:
        assert from_kind and to_kind and from_url and to_url and old_model
        targets = [
            Target("old", from_kind, from_url, old_model, _key_env("--from-api-key-env", from_api_key_env)),
            Target("new", to_kind, to_url, new_model or old_model, _key_env("--to-api-key-env", to_api_key_env)),
        ]
        whats = ["--from-url", "--to-url"]
    # A malformed URL is bad input (exit 2, masked), not an unreachable backend (exit 3).
    for target, what in zip(targets, whats):
        parse_server_url(target.url, strip_v1=target.protocol == "openai", what=what)
    return BenchConfig(
        targets=targets,
        load=load,
        scenarios=scenarios,
        rules=rules,
        plan=plan,
        scale=float(scale),
        slo=parse_slo(slo),
        timeout=float(timeout),
        stall=float(stall) if stall is not None else None,
        max_duration=float(max_duration),
        max_tokens=max_tokens,
    )


def _scenarios(
    load: Load, names: list[str], plan: Optional[str], scale: float, max_tokens: int, *, shaped: bool, stop: bool
) -> tuple[list[Scenario], Optional[list[dict]]]:
    """The ad-hoc scenario under ``load``, or the named / planned ones (each with its own load shape;
    ``--requests``/``--duration``, ``--warmup``, ``--seed`` and ``--max-concurrency`` still apply)."""
    if not (math.isfinite(scale) and 0 < scale <= 1000):
        raise UsageError("--scale: expected a positive factor (e.g. 0.1 on a CPU test bed)")
    if not names and not plan:
        return [adhoc(max_tokens, load)], None
    if shaped:
        raise UsageError("--concurrency/--rate/--poisson: a scenario or plan phase sets its own load shape")
    rules: Optional[list[dict]] = None
    if plan:
        from ..datafiles import load_user_json

        chosen, rules = sc.from_plan(load_user_json(plan, "plan"), plan, names)
    else:
        chosen = sc.builtin(names)
    out = []
    for s in chosen:
        s = sc.scaled(s, scale)
        if stop:
            s.load.requests, s.load.duration = load.requests, load.duration
        s.load.warmup, s.load.seed, s.load.max_concurrency = load.warmup, load.seed, load.max_concurrency
        out.append(s)
    return out, rules
