"""Gateway config: validation with line numbers, weight changes that touch only the weights."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from migrate import gateway
from migrate.cli import main
from migrate.errors import MigrateError
from migrate.metrics_catalog import load_catalog

from .canary_fixtures import GATEWAY

ALIAS, CANDIDATE = "support-assistant-prod", "vllm-h100-a"


@pytest.fixture
def gw(tmp_path):
    p = tmp_path / "gateway.yaml"
    p.write_text(GATEWAY, encoding="utf-8")
    return p


def test_contract_example_is_valid(gw):
    assert gateway.validate_file(gw) == []


@pytest.mark.parametrize(
    "edit,line,fragment",
    [
        (("weight: 5\n", "weight: 15\n"), 6, "weights sum to 110"),
        (("name: vllm-h100-a", "name: current-ollama-dev"), 11, "used twice"),
        (("http://127.0.0.1:8000/v1", "http//127.0.0.1:8000/v1"), 13, "must start with http"),
        (("http://127.0.0.1:8000/v1", "http://127.0.0.1:80000/v1"), 13, "not a valid URL"),
        (("http://127.0.0.1:8000/v1", "http://user:secret@127.0.0.1:8000/v1"), 13, "credentials"),
        (("default_timeout_seconds: 90", "default_timeout_seconds: 0"), 5, "default_timeout_seconds"),
        (
            ("waiting_requests, kv_cache_usage", "waiting_requests, gpu_melt_rate"),
            14,
            "unknown required metric 'gpu_melt_rate'",
        ),
        (("weight: 95", "weight: '95'"), 8, "is not of type 'integer'"),
        (
            ("    backends:\n      - name: current", "    backendz:\n      - name: current"),
            3,
            "'backends' is a required",
        ),
        (("  - {name: ollama-embed, weight: 100", "  - {name: ollama-embed, weight: [100"), 20, "invalid YAML"),
    ],
)
def test_problems_point_at_the_line(gw, edit, line, fragment):
    old, new = edit
    assert old in GATEWAY
    gw.write_text(GATEWAY.replace(old, new, 1))
    problems = gateway.validate_file(gw)
    assert problems, "expected a problem"
    hit = [p for p in problems if fragment in p.message]
    assert hit, [p.message for p in problems]
    assert hit[0].line == line, (hit[0], problems)


def test_queue_depth_alias_is_known_and_kind_checks_the_engine(gw):
    text = GATEWAY.replace("waiting_requests, kv_cache_usage", "queue_depth")
    assert gateway.validate_text(text) == []
    # TGI exposes no TTFT histogram, so requiring it from a tgi backend cannot be met.
    text = GATEWAY.replace(
        '        base_url: "http://127.0.0.1:8000/v1"',
        '        kind: tgi\n        base_url: "http://127.0.0.1:8000/v1"',
    )
    msgs = [p.message for p in gateway.validate_text(text)]
    assert any("tgi exposes no metric for 'time_to_first_token'" in m for m in msgs)


def test_unreadable_file_is_a_usage_error(tmp_path):
    with pytest.raises(MigrateError) as exc:
        gateway.validate_file(tmp_path / "missing.yaml")
    assert exc.value.code == 2
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00models")
    with pytest.raises(MigrateError):
        gateway.validate_file(tmp_path / "bin.yaml")


def test_validate_cli_exit_codes(gw, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["validate", str(gw)])
    assert ok.exit_code == 0 and "valid" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(GATEWAY.replace("weight: 5\n", "weight: 6\n"))
    r = runner.invoke(main, ["validate", str(bad)])
    assert r.exit_code == 1
    assert f"{bad}:6: models.support-assistant-prod: backend weights sum to 101" in r.output
    r = runner.invoke(main, ["validate", str(tmp_path / "nope.yaml")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    r = runner.invoke(main, ["validate", "--json", str(bad)])
    import json

    doc = json.loads(r.stdout)
    assert doc["valid"] is False and doc["problems"][0]["line"] == 6


@pytest.mark.parametrize(
    "current,backend,weight,expected",
    [
        ({"a": 95, "b": 5}, "b", 10, {"a": 90, "b": 10}),
        ({"a": 0, "b": 90, "c": 10}, "c", 25, {"a": 0, "b": 75, "c": 25}),
        ({"a": 50, "b": 25, "c": 25}, "a", 0, {"a": 0, "b": 50, "c": 50}),
        ({"a": 100, "b": 0, "c": 0}, "a", 0, {"a": 0, "b": 50, "c": 50}),
        ({"a": 60, "b": 30, "c": 10}, "c", 5, {"a": 63, "b": 32, "c": 5}),
        ({"a": 1, "b": 1, "c": 98}, "c", 1, {"a": 50, "b": 49, "c": 1}),
    ],
)
def test_split_weights_keeps_100_and_proportions(current, backend, weight, expected):
    out = gateway.split_weights(current, backend, weight)
    assert out == expected and sum(out.values()) == 100


def test_set_weights_changes_only_weight_values(gw):
    before = gw.read_text().splitlines(keepends=True)
    res = gateway.set_weights(gw, ALIAS, CANDIDATE, 25)
    after = gw.read_text().splitlines(keepends=True)
    assert res["after"] == {"current-ollama-dev": 75, CANDIDATE: 25}
    assert len(before) == len(after)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert changed == [7, 11]  # the two weight lines, nothing else
    assert after[7] == "        weight: 75   # rollback target\n"
    assert after[11] == "        weight: 25\n"
    assert (gw.parent / "gateway.yaml.bak").read_text() == GATEWAY
    assert gateway.validate_file(gw) == []


def test_set_weights_in_flow_mapping_and_crlf(tmp_path):
    text = GATEWAY.replace("\n", "\r\n")
    p = tmp_path / "g.yaml"
    p.write_bytes(text.encode())
    text2 = GATEWAY + (
        "  two:\n    backends:\n"
        "      - {name: x, weight: 30, base_url: 'http://h:1'}  # keep\n"
        "      - {name: y, weight: 70, base_url: 'http://h:2'}\n"
    )
    gateway.set_weights(p, ALIAS, CANDIDATE, 10)
    raw = p.read_bytes().decode()
    assert raw.count("\r\n") == text.count("\r\n") and "weight: 90   # rollback target\r\n" in raw
    q = tmp_path / "h.yaml"
    q.write_text(text2)
    gateway.set_weights(q, "two", "y", 50)
    assert "      - {name: x, weight: 50, base_url: 'http://h:1'}  # keep\n" in q.read_text()
    assert (
        q.read_text()
        .replace("weight: 50, base_url: 'http://h:1'", "weight: 30, base_url: 'http://h:1'")
        .replace("weight: 50, base_url: 'http://h:2'", "weight: 70, base_url: 'http://h:2'")
        == text2
    )


def test_set_weights_refuses_a_result_that_would_not_validate(tmp_path):
    # A single-backend alias cannot give its backend 40 and still sum to 100.
    p = tmp_path / "g.yaml"
    p.write_text(GATEWAY)
    mtime = os.stat(p).st_mtime_ns
    with pytest.raises(MigrateError) as exc:
        gateway.set_weights(p, "embeddings-prod", "ollama-embed", 40)
    assert exc.value.code == 1 and "would not validate" in str(exc.value)
    assert p.read_text() == GATEWAY and os.stat(p).st_mtime_ns == mtime
    assert not (tmp_path / "g.yaml.bak").exists()
    # An already-invalid file is refused too, untouched.
    bad = GATEWAY.replace("base_url: http://127.0.0.1:11434\n", "base_url: ftp://127.0.0.1:11434\n")
    p.write_text(bad)
    with pytest.raises(MigrateError):
        gateway.set_weights(p, ALIAS, CANDIDATE, 10)
    assert p.read_text() == bad


def test_unknown_alias_or_backend_is_bad_input(gw):
    for alias, backend in (("nope", CANDIDATE), (ALIAS, "nope")):
        with pytest.raises(MigrateError) as exc:
            gateway.set_weights(gw, alias, backend, 10)
        assert exc.value.code == 2
    assert gw.read_text() == GATEWAY


def test_metrics_catalog_covers_every_engine_for_every_metric():
    cat = load_catalog()
    expected = {
        "time_to_first_token",
        "time_per_output_token",
        "e2e_latency",
        "queue_time",
        "running_requests",
        "waiting_requests",
        "kv_cache_usage",
        "prefix_cache_hit_rate",
        "constrained_decode_latency",
        "generation_throughput",
    }
    assert set(cat.names(include_aliases=False)) == expected
    assert cat.canonical("queue_depth") == "waiting_requests"
    for m in cat.metrics.values():
        assert set(m.engines) == set(cat.engine_keys), m.name
    assert cat.prometheus_name("time_to_first_token", "vllm") == "vllm:time_to_first_token_seconds"
    assert cat.prometheus_name("queue_depth", "llama.cpp") == "llamacpp:requests_deferred"
    assert cat.prometheus_name("time_to_first_token", "tgi") is None
    assert all(em.name is None for em in cat.metrics["constrained_decode_latency"].engines.values())


def test_unknown_keys_are_problems_at_their_own_line():
    text = GATEWAY.replace("    contract: openai-chat\n", "    contract: openai-chat\n    retries: 3\n", 1).replace(
        "        weight: 5\n", "        wieght: 5\n        weight: 5\n"
    )
    problems = {p.message: p.line for p in gateway.validate_text(text)}
    assert problems == {
        "models.support-assistant-prod.retries: unknown key "
        "(known: contract, default_timeout_seconds, backends; x-* keys are yours)": 5,
        "models.support-assistant-prod.backends[1].wieght: unknown key (did you mean 'weight'?)": 13,
    }


def test_the_open_parts_of_the_contract():
    # x-* keys anywhere (anchors, team data), any *timeout* key (checked as seconds), an engine kind.
    text = "x-team: search\n" + GATEWAY.replace(
        "    contract: openai-chat\n", "    contract: openai-chat\n    x-owner: ml\n    connect_timeout: 5\n", 1
    ).replace("        weight: 5\n", "        weight: 5\n        kind: vllm\n        read_timeout_seconds: 30\n")
    assert gateway.validate_text(text) == []
    bad = text.replace("connect_timeout: 5", "connect_timeout: soon")
    assert [p.message for p in gateway.validate_text(bad)] == [
        "models.support-assistant-prod.connect_timeout: timeout must be a positive number of seconds up to 3600, got 'soon'"
    ]


def test_bombs_are_refused_before_ruamel_builds_anything(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdef", "bcdefg")
    )
    with pytest.raises(gateway.GatewayUnreadable, match=r"g\.yaml:\d+: gateway config has aliases that expand"):
        gateway.parse_text(bomb, "g.yaml")
    with pytest.raises(gateway.GatewayUnreadable, match="recursive alias"):
        gateway.validate_text("models: &m {a: *m}\n")
    big = tmp_path / "big.yaml"
    big.write_text("models: {}\n" + "#" * gateway.MAX_GATEWAY_BYTES)
    with pytest.raises(gateway.GatewayUnreadable, match=r"big\.yaml: gateway config is larger than 1 MiB"):
        gateway.validate_file(big)
