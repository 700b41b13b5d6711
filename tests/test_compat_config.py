"""compat configuration without a network: gateway.compare_pair and compat_suite.config.build_config."""

from __future__ import annotations

from pathlib import Path

import pytest
from migrate.compat_suite.config import build_config, kind_from_url, parse_model_spec, split_list

from migrate import gateway
from migrate.errors import MigrateError

from .canary_fixtures import GATEWAY

ALIAS = "support-assistant-prod"

# Three backends: the old one is not first and the heaviest non-Ollama one is not last, so a
# "take the first/last" implementation fails.
THREE = """\
models:
  chat-prod:
    contract: openai-chat
    backends:
      - {name: sglang-b, weight: 20, base_url: 'http://127.0.0.1:30000/v1'}
      - {name: local-runtime, weight: 10, base_url: 'http://127.0.0.1:11434'}
      - {name: vllm-a, weight: 60, base_url: 'http://127.0.0.1:8000/v1', required_metrics: [waiting_requests]}
      - {name: tgi-c, weight: 10, base_url: 'http://127.0.0.1:8080/v1'}
  openai-only:
    contract: openai-chat
    backends:
      - {name: vllm-x, weight: 50, base_url: 'http://127.0.0.1:8000/v1'}
      - {name: vllm-y, weight: 50, base_url: 'http://127.0.0.1:8001/v1'}
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "gateway.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def _usage_error(fn, *args, **kwargs) -> str:
    with pytest.raises(MigrateError) as exc:
        fn(*args, **kwargs)
    assert exc.value.code == 2
    return str(exc.value)


# --- compare_pair -----------------------------------------------------------------------------


def test_contract_example_ollama_old_vllm_new(tmp_path):
    pair = gateway.compare_pair(_write(tmp_path, GATEWAY), ALIAS)
    assert pair.old["name"] == "current-ollama-dev"
    assert pair.new["name"] == "vllm-h100-a"
    assert pair.required_metrics == [
        "time_to_first_token",
        "time_per_output_token",
        "waiting_requests",
        "kv_cache_usage",
    ]
    assert type(pair.old) is dict and type(pair.required_metrics) is list


def test_root_url_backend_is_old_and_heaviest_other_is_new(tmp_path):
    pair = gateway.compare_pair(_write(tmp_path, THREE), "chat-prod")
    assert pair.old["name"] == "local-runtime"  # root URL = Ollama's native API
    assert pair.new["name"] == "vllm-a"  # weight 60 beats 20 and 10
    assert pair.new["base_url"] == "http://127.0.0.1:8000/v1"
    assert pair.required_metrics == ["waiting_requests"]


def test_named_overrides(tmp_path):
    path = _write(tmp_path, THREE)
    pair = gateway.compare_pair(path, "chat-prod", new_name="tgi-c")
    assert (pair.old["name"], pair.new["name"]) == ("local-runtime", "tgi-c")
    assert pair.required_metrics == []
    pair = gateway.compare_pair(path, "chat-prod", old_name="sglang-b")
    # The named old one is excluded from the "heaviest other" choice.
    assert (pair.old["name"], pair.new["name"]) == ("sglang-b", "vllm-a")
    pair = gateway.compare_pair(path, "openai-only", "vllm-y", "vllm-x")
    assert (pair.old["name"], pair.new["name"]) == ("vllm-y", "vllm-x")


def test_unknown_backend_name_lists_the_alias_backends(tmp_path):
    path = _write(tmp_path, THREE)
    msg = _usage_error(gateway.compare_pair, path, "chat-prod", new_name="nope")
    assert msg == "backend 'nope' not in alias 'chat-prod' (backends: sglang-b, local-runtime, vllm-a, tgi-c)"
    msg = _usage_error(gateway.compare_pair, path, "chat-prod", old_name="gone")
    assert msg.startswith("backend 'gone' not in alias 'chat-prod'")


def test_alias_missing_and_nothing_to_compare(tmp_path):
    path = _write(tmp_path, THREE)
    assert (
        _usage_error(gateway.compare_pair, path, "nope")
        == "alias 'nope' not in the gateway config (aliases: chat-prod, openai-only)"
    )
    assert "no Ollama backend found; name one with --old-backend" in _usage_error(
        gateway.compare_pair, path, "openai-only"
    )
    assert "needs a second backend to compare" in _usage_error(
        gateway.compare_pair, path, "chat-prod", "vllm-a", "vllm-a"
    )
    single = _write(tmp_path, GATEWAY)
    assert "'embeddings-prod': needs a second backend" in _usage_error(gateway.compare_pair, single, "embeddings-prod")


def test_invalid_or_missing_file_is_usage_error(tmp_path):
    bad = _write(tmp_path, GATEWAY.replace("weight: 5\n", "weight: 15\n"))
    assert "is not a valid gateway config" in _usage_error(gateway.compare_pair, bad, ALIAS)
    assert "no such file" in _usage_error(gateway.compare_pair, tmp_path / "absent.yaml", ALIAS)


# --- build_config -----------------------------------------------------------------------------

FULL = dict(
    from_kind="ollama",
    to_kind="vllm",
    from_url="http://127.0.0.1:11434",
    to_url="http://127.0.0.1:8000/v1",
    model_spec="qwen2.5:7b=Qwen/Qwen2.5-7B-Instruct",
    reduced=True,
)


def test_helpers():
    assert split_list(("a, b", "c", " ,")) == ["a", "b", "c"]
    assert parse_model_spec("m") == ("m", "m")
    assert parse_model_spec("old=new") == ("old", "new")
    assert kind_from_url("http://h:8000/v1/") == "openai" and kind_from_url("http://h:11434") == "ollama"


def test_build_config_from_explicit_options():
    cfg = build_config(**FULL, old_extra_body='{"keep_alive": "5m"}', required_metrics=("a,b", "c"), seed=7)
    assert (cfg.old.kind, cfg.old.protocol, cfg.old.model) == ("ollama", "ollama", "qwen2.5:7b")
    assert (cfg.new.kind, cfg.new.protocol, cfg.new.model) == ("vllm", "openai", "Qwen/Qwen2.5-7B-Instruct")
    assert cfg.old.extra_body == {"keep_alive": "5m"} and cfg.new.extra_body == {}
    assert cfg.required_metrics == ["a", "b", "c"] and cfg.seed == 7
    assert cfg.cases and cfg.embeddings is None


def test_build_config_from_gateway_fills_the_gaps(tmp_path):
    cfg = build_config(gateway_file=str(_write(tmp_path, THREE)), alias="chat-prod", reduced=True)
    assert (cfg.old.kind, cfg.old.url) == ("ollama", "http://127.0.0.1:11434")
    assert (cfg.new.kind, cfg.new.url) == ("openai", "http://127.0.0.1:8000/v1")
    assert cfg.old.model == cfg.new.model == "chat-prod"
    assert cfg.required_metrics == ["waiting_requests"]
    # Explicit options win; the named old backend at /v1 is inferred as OpenAI.
    cfg = build_config(
        gateway_file=str(_write(tmp_path, THREE)),
        alias="chat-prod",
        reduced=True,
        old_backend="sglang-b",
        to_kind="vllm",
        model_spec="a=b",
        required_metrics=("kv_cache_usage",),
    )
    assert (cfg.old.kind, cfg.new.kind, cfg.old.model, cfg.new.model) == ("openai", "vllm", "a", "b")
    assert cfg.required_metrics == ["kv_cache_usage"]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(from_kind="ollama"), "missing --to, --from-url, --to-url, --model (or use --gateway FILE --alias NAME)"),
        ({**FULL, "to_url": None}, "missing --to-url (or use --gateway FILE --alias NAME)"),
        (dict(alias="x"), "--gateway and --alias go together"),
        (dict(gateway_file="g.yaml"), "--gateway and --alias go together"),
        ({**FULL, "model_spec": "=new"}, "--model: empty old model name"),
        (
            {**FULL, "old_extra_body": "{nope"},
            "--old-extra-body: not valid JSON (Expecting property name enclosed in double quotes)",
        ),
        ({**FULL, "new_extra_body": "[1, 2]"}, "--new-extra-body: must be a JSON object"),
        ({**FULL, "no_builtin": True}, "no cases selected (check --only/--skip/--cases)"),
    ],
)
def test_build_config_usage_errors(kwargs, message):
    assert _usage_error(build_config, **kwargs) == message


def test_no_cases_is_fine_when_only_metrics_are_checked():
    cfg = build_config(**FULL, no_builtin=True, check_metrics=True)
    assert cfg.cases == [] and cfg.check_metrics


def test_only_embeddings_turns_embeddings_on():
    assert build_config(**{**FULL, "reduced": False}, only=("embeddings",)).embeddings is True


def test_defaults_live_in_the_config_dataclass():
    # The CLI options and build_config take their defaults from CompatConfig's fields, so the
    # three can never disagree again.
    from migrate.compat_suite.config import DEFAULTS, CompatConfig

    from migrate.cli import main

    options = {p.name: p.default for p in main.commands["compat"].params}
    for name in ("baseline_repeats", "repeats", "concurrency", "timeout"):
        assert options[name] == DEFAULTS[name] == CompatConfig.__dataclass_fields__[name].default
    cfg = build_config(**FULL)
    assert all(getattr(cfg, name) == value for name, value in DEFAULTS.items())
