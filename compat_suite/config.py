"""The configuration of a compat run (``SideConfig``, ``CompatConfig``) and how the raw option
values of ``migrate compat`` become one.

The dataclass fields are the one place for defaults: the CLI options and ``build_config`` read
them through ``DEFAULTS``. Every usage problem is a MigrateError with exit 2, checked in a fixed
order (gateway, missing options, model spec, cases, JSON bodies, URLs) so the first message is the
one users act on.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Optional

from migrate import engines
from migrate.errors import UsageError

from . import noise

if TYPE_CHECKING:
    from .loader import Case

KINDS = engines.server_kinds()


@dataclass
class SideConfig:
    kind: str
    url: str
    model: str
    api_key_env: Optional[str] = None
    extra_body: dict = field(default_factory=dict)  # merged into every request body on this side

    @property
    def protocol(self) -> str:
        """Engine kinds only pick defaults and metric names; the registry says which protocol each speaks."""
        return engines.protocol_of(self.kind)


@dataclass
class CompatConfig:
    old: SideConfig
    new: SideConfig
    cases: list[Case]
    baseline_repeats: int = 2
    repeats: int = 1
    concurrency: int = 2
    timeout: float = 180.0
    seed: Optional[int] = None
    old_context: Optional[int] = None
    check_metrics: bool = False
    required_metrics: Optional[list[str]] = None
    embeddings: Optional[bool] = None  # None: only when the old model is an embedding model
    thresholds: noise.Thresholds = field(default_factory=noise.Thresholds)


# Field name -> default, for the fields that have a plain one (what `migrate compat` shows).
DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(CompatConfig) if f.default is not dataclasses.MISSING
}


def split_list(values: Optional[Iterable[str]]) -> list[str]:
    """Repeatable options that also accept comma lists: ("a,b", "c") -> [a, b, c]."""
    out: list[str] = []
    for v in values or ():
        out.extend(x.strip() for x in str(v).split(",") if x.strip())
    return out


def json_object(text: Optional[str], option: str) -> dict:
    """A JSON object option value ({} when empty); anything else is a usage error."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{option}: not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise UsageError(f"{option}: must be a JSON object")
    return value


def parse_model_spec(spec: str) -> tuple[str, str]:
    """``OLD[=NEW]`` -> (old, new); NEW defaults to OLD."""
    old_model, _, new_model = spec.partition("=")
    if not old_model:
        raise UsageError("--model: empty old model name")
    return old_model, new_model or old_model


def kind_from_url(base_url: str) -> str:
    """A gateway backend at a /v1 root speaks OpenAI; one at the server root is Ollama's native API."""
    return "openai" if str(base_url).rstrip("/").endswith("/v1") else "ollama"


def build_config(
    *,
    from_kind: Optional[str] = None,
    to_kind: Optional[str] = None,
    from_url: Optional[str] = None,
    to_url: Optional[str] = None,
    model_spec: Optional[str] = None,
    gateway_file: Optional[str] = None,
    alias: Optional[str] = None,
    old_backend: Optional[str] = None,
    new_backend: Optional[str] = None,
    case_paths: Iterable[str] = (),
    no_builtin: bool = False,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
    reduced: bool = False,
    baseline_repeats: int = DEFAULTS["baseline_repeats"],
    repeats: int = DEFAULTS["repeats"],
    concurrency: int = DEFAULTS["concurrency"],
    timeout: float = DEFAULTS["timeout"],
    seed: Optional[int] = None,
    old_context: Optional[int] = None,
    check_metrics: bool = False,
    required_metrics: Iterable[str] = (),
    embeddings: bool = False,
    from_api_key_env: Optional[str] = None,
    to_api_key_env: Optional[str] = None,
    old_extra_body: Optional[str] = None,
    new_extra_body: Optional[str] = None,
) -> CompatConfig:
    """The CompatConfig for these option values (names as the CLI options), or a UsageError.

    Explicit options win over what ``--gateway``/``--alias`` supply; with a gateway the model
    defaults to the alias and the new side to the OpenAI protocol.
    """
    # Imported here, not at the top: every `migrate` command line loads this module for KINDS and
    # DEFAULTS, and should not pay for the case loader, the HTTP client or the gateway reader.
    from migrate.protocol import check_seconds, parse_server_url

    from .loader import load_cases

    check_seconds(timeout, "--timeout")  # click's FloatRange lets nan through (every comparison is False)
    gw_metrics: list[str] = []
    if gateway_file or alias:
        if not (gateway_file and alias):
            raise UsageError("--gateway and --alias go together")
        from migrate.gateway import compare_pair

        pair = compare_pair(gateway_file, alias, old_backend, new_backend)
        gw_metrics = pair.required_metrics
        from_url = from_url or pair.old["base_url"]
        to_url = to_url or pair.new["base_url"]
        from_kind = from_kind or kind_from_url(pair.old["base_url"])
        to_kind = to_kind or "openai"
        model_spec = model_spec or alias
    missing = [
        name
        for name, value in (
            ("--from", from_kind),
            ("--to", to_kind),
            ("--from-url", from_url),
            ("--to-url", to_url),
            ("--model", model_spec),
        )
        if not value
    ]
    if missing:
        raise UsageError(f"missing {', '.join(missing)} (or use --gateway FILE --alias NAME)")
    old_model, new_model = parse_model_spec(model_spec)

    only_list = split_list(only)
    cases = load_cases(case_paths, builtin=not no_builtin, only=only_list, skip=split_list(skip), reduced=reduced)
    if not cases and not check_metrics:
        raise UsageError("no cases selected (check --only/--skip/--cases)")
    cfg = CompatConfig(
        old=SideConfig(
            from_kind, from_url, old_model, from_api_key_env, json_object(old_extra_body, "--old-extra-body")
        ),
        new=SideConfig(to_kind, to_url, new_model, to_api_key_env, json_object(new_extra_body, "--new-extra-body")),
        cases=cases,
        baseline_repeats=baseline_repeats,
        repeats=repeats,
        concurrency=concurrency,
        timeout=timeout,
        seed=seed,
        old_context=old_context,
        check_metrics=check_metrics,
        required_metrics=split_list(required_metrics) or gw_metrics or None,
        embeddings=True if embeddings or "embeddings" in only_list else None,
    )
    # Refuse a malformed URL now (exit 2, the URL masked) rather than as an "unreachable" backend (exit 3).
    parse_server_url(from_url, strip_v1=cfg.old.protocol == "openai", what="--from-url")
    parse_server_url(to_url, strip_v1=cfg.new.protocol == "openai", what="--to-url")
    return cfg
