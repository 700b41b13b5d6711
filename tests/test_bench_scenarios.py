"""`migrate bench` workloads: the built-in phase scenarios as data, `--scale`, prompts of a requested
length from shipped text with the server-counted (achieved) input tokens reported, `--plan` from a real
`migrate plan --format json`, and the rejection rules evaluated side by side (met -> exit 1)."""

from __future__ import annotations

import json

import pytest

from migrate.bench import build_config
from migrate.bench import scenarios as sc
from migrate.bench.verdict import evaluate_rule
from migrate.errors import UsageError
from migrate.plan import benchmark_plan

from .faults.harness import invoke, judge, judge_ok
from .groundtruth_server import GroundTruth

FAST = dict(ttft=0.01, interval=0.002, tokens=4, count_prompt=1)
SLOW = dict(ttft=0.01, interval=0.03, tokens=4, count_prompt=1)  # TPOT ~30 ms


def bench(*args) -> list[str]:
    return ["bench", "--quiet", "--warmup", "0", *map(str, args)]


def pair(old_url: str, new_url: str, *args) -> list[str]:
    return bench("--from", "ollama", "--to", "vllm", "--from-url", old_url, "--to-url", new_url, "--model", "m", *args)


# --- scenarios as data -------------------------------------------------------------------------


def test_builtin_scenarios_load_and_match_the_plan_phases():
    specs = sc.builtin_specs()
    assert list(specs) == [
        "single-stream",
        "prefill-heavy",
        "decode-heavy",
        "concurrency-sweep",
        "prefix-reuse",
        "structured-output",
    ]
    built = sc.builtin(list(specs))
    assert built[3].load.concurrency == [1, 2, 4, 8] and built[3].load.requests == 40
    assert (
        built[4].prefix > 0 and built[5].structured and built[5].request("m", 0).response_format.type == "json_schema"
    )
    # The plan writes the same phases with the same metrics (one owner: the data file).
    plan = benchmark_plan({"concurrency": 4, "prefix_reuse": True, "structured_outputs": True}, "vllm")
    assert [p["phase"] for p in plan["phases"]] == list(specs)
    assert all(p["report"] == specs[p["phase"]]["report"] for p in plan["phases"])
    names = set(sc.metric_names())
    assert all(m in names for s in specs.values() for m in s["report"])


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"load": {"kind": "burst"}}, "kind"),
        ({"load": {"kind": "concurrency", "levels": []}}, "levels"),
        ({"load": {"kind": "concurrency", "levels": [2, 2]}}, "once"),
        ({"load": {"kind": "rate", "rate": 0}}, "rate"),
        ({"duration_s": 10}, "one of them"),
        ({"input_tokens": 0}, "input_tokens"),
        ({"output_tokens": True}, "output_tokens"),
        ({"prefix": 1.0}, "prefix"),
        ({"endpoint": "embeddings"}, "endpoint"),
        ({"report": "ttft"}, "report"),
    ],
)
def test_invalid_scenario_is_a_usage_error(patch, message):
    spec = {**sc.builtin_specs()["single-stream"], **patch}
    with pytest.raises(UsageError, match=message):
        sc.scenario_of(spec, "x", source="plan")


def test_scale_shrinks_requests_durations_and_tokens_not_levels():
    cfg = build_config(url="http://127.0.0.1:1", kind="vllm", old_model="m", scenario=("concurrency-sweep",), scale=0.1)
    s = cfg.scenarios[0]
    assert (s.load.concurrency, s.load.requests, s.input_tokens, s.max_tokens) == ([1, 2, 4, 8], 4, 51, 13)
    timed = sc.scaled(
        sc.scenario_of({**sc.builtin_specs()["single-stream"], "requests": None, "duration_s": 30}, "x", source="plan"),
        0.5,
    )
    assert timed.load.duration == 15
    # --requests given explicitly wins over the scenario's (scaled) count.
    cfg = build_config(url="http://127.0.0.1:1", kind="vllm", old_model="m", scenario=("single-stream",), requests=3)
    assert cfg.scenarios[0].load.requests == 3
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(UsageError, match="--scale"):
            build_config(url="http://127.0.0.1:1", kind="vllm", old_model="m", scenario=("single-stream",), scale=bad)


def test_scenario_names_and_load_shape_options():
    base = dict(url="http://127.0.0.1:1", kind="vllm", old_model="m")
    cfg = build_config(**base, scenario=("single-stream,decode-heavy", "single-stream"))
    assert [s.name for s in cfg.scenarios] == ["single-stream", "decode-heavy"]
    with pytest.raises(UsageError, match="unknown 'nope'"):
        build_config(**base, scenario=("nope",))
    with pytest.raises(UsageError, match="own load shape"):
        build_config(**base, scenario=("single-stream",), concurrency="4")


# --- prompts of a requested length ----------------------------------------------------------------


@pytest.mark.parametrize("tokens", [16, 512, 4096])
def test_prompt_length_follows_the_target_by_a_whitespace_proxy(tokens):
    prompt = sc.build_prompt(tokens, seed=0, index=0)
    words = len(prompt.split())
    assert abs(words - tokens * sc.words_per_token()) <= 1
    # Deterministic per (seed, index); requests differ from each other and across seeds.
    assert prompt == sc.build_prompt(tokens, seed=0, index=0)
    assert prompt != sc.build_prompt(tokens, seed=0, index=1) != sc.build_prompt(tokens, seed=1, index=0)


def test_prefix_reuse_shares_the_prompt_start():
    a, b = (sc.build_prompt(1000, seed=0, index=i, prefix=0.8) for i in (0, 1))
    shared = round((len(a.split()) - len(sc.INSTRUCTION.split())) * 0.8)
    common = next(i for i, (x, y) in enumerate(zip(a.split(), b.split())) if x != y)
    assert common >= shared and a != b


def test_achieved_input_tokens_are_the_server_counts_not_the_target():
    with GroundTruth(**FAST) as gt:
        out = invoke(
            bench(
                "--url",
                gt.url,
                "--kind",
                "vllm",
                "--model",
                "m",
                "--scenario",
                "prefill-heavy",
                "--scale",
                "0.1",
                "--json",
                "-",
            )
        )
    judge_ok("bench --scenario", out)
    report = json.loads(out.stdout)
    scenario = report["scenarios"][0]
    cfg = build_config(url="http://127.0.0.1:1", kind="vllm", old_model="m", scenario=("prefill-heavy",), scale=0.1)
    expected = sorted(len(cfg.scenarios[0].prompt_for(i)) // 4 for i in range(cfg.scenarios[0].load.requests))
    achieved = scenario["input_tokens"]["achieved"]["target"]
    assert scenario["input_tokens"]["target"] == 205 and achieved["n"] == len(expected) == 4
    assert expected[0] <= achieved["p50"] <= expected[-1] and achieved["p50"] != 205
    assert 0.7 * 205 <= achieved["p50"] <= 1.4 * 205  # the target is roughly honoured
    assert scenario["levels"][0]["load"]["concurrency"] == 4
    assert report["rules"] == []  # one backend: no rejection rules


# --- --plan --------------------------------------------------------------------------------------


def _plan(tmp_path, *flags) -> str:
    out = invoke(["plan", "--format", "json", "--concurrency", "2", *flags])
    assert out.code == 0, out.stderr
    path = tmp_path / "plan.json"
    path.write_text(out.stdout)
    return str(path)


def test_plan_round_trip_runs_exactly_its_phases(tmp_path):
    path = _plan(tmp_path, "--prefix-reuse", "--gpus", "1xH100")
    plan = json.loads(open(path).read())
    with GroundTruth(**FAST) as old, GroundTruth(**FAST) as new:
        out = invoke(pair(old.url, new.url, "--plan", path, "--requests", "2", "--scale", "0.05", "--json", "-"))
    judge_ok("bench --plan", out)
    report = json.loads(out.stdout)
    phases = plan["benchmark_plan"]["phases"]
    assert [s["name"] for s in report["scenarios"]] == [p["phase"] for p in phases]
    for s, p in zip(report["scenarios"], phases):
        assert [lv["load"]["concurrency"] for lv in s["levels"]] == p["load_shape"]["levels"]
        assert s["config"]["source"] == "plan" and s["input_tokens"]["target"] == round(p["input_tokens"] * 0.05)
    # The plan's rejection rules (sglang's for this plan), each evaluated.
    assert plan["first"]["engine"] == "sglang"
    assert [r["metric"] for r in report["rules"]] == [r["metric"] for r in plan["rejection_metrics"]]
    assert report["config"]["plan"] == path


def test_plan_picks_a_phase_with_scenario(tmp_path):
    path = _plan(tmp_path)
    with GroundTruth(**FAST) as gt:
        out = invoke(
            bench(
                "--url",
                gt.url,
                "--kind",
                "vllm",
                "--model",
                "m",
                "--plan",
                path,
                "--scenario",
                "decode-heavy",
                "--requests",
                "2",
                "--scale",
                "0.05",
                "--json",
                "-",
            )
        )
    judge_ok("bench --plan --scenario", out)
    assert [s["name"] for s in json.loads(out.stdout)["scenarios"]] == ["decode-heavy"]


@pytest.mark.parametrize(
    "case, mutate, message",
    [
        ("unknown phase", lambda p: p["benchmark_plan"]["phases"][0].update(phase="warp-speed"), "unknown phase"),
        ("not a plan", lambda p: p.pop("schema"), "not a plan"),
        ("bad load_shape", lambda p: p["benchmark_plan"]["phases"][0].update(load_shape={"kind": "x"}), "load_shape"),
        ("old plan", lambda p: p["benchmark_plan"]["phases"][0].pop("load_shape"), "no load_shape"),
    ],
)
def test_bad_plan_exits_2(tmp_path, case, mutate, message):
    plan = json.loads(open(_plan(tmp_path)).read())
    mutate(plan)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(plan))
    out = invoke(bench("--url", "http://127.0.0.1:1", "--kind", "vllm", "--model", "m", "--plan", path))
    judge(f"bench --plan: {case}", out, 2)
    assert message in out.stderr


def test_plan_that_is_not_json_exits_2(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text("phases: [single-stream]\n")
    out = invoke(bench("--url", "http://127.0.0.1:1", "--kind", "vllm", "--model", "m", "--plan", path))
    judge("bench --plan: YAML, not JSON", out, 2)


# --- rejection rules -----------------------------------------------------------------------------


def test_a_rejection_rule_met_exits_1_and_not_met_exits_0():
    """vLLM's rule: reject if p95 TPOT misses the SLO at peak concurrency (the new side runs at ~30 ms)."""
    with GroundTruth(**FAST) as old, GroundTruth(**SLOW) as new:
        met = invoke(
            pair(
                old.url,
                new.url,
                "--scenario",
                "concurrency-sweep",
                "--scale",
                "0.05",
                "--slo",
                "tpot=0.01",
                "--json",
                "-",
            )
        )
        fine = invoke(
            pair(
                old.url, new.url, "--scenario", "concurrency-sweep", "--scale", "0.05", "--slo", "tpot=1", "--json", "-"
            )
        )
        unset = invoke(pair(old.url, new.url, "--scenario", "single-stream", "--scale", "0.05", "--json", "-"))
    judge("bench: a rejection rule met", met, 1, stdout_ok=True)
    rule = next(r for r in json.loads(met.stdout)["rules"] if r["metric"] == "time_per_output_token")
    assert rule["status"] == "met" and rule["limit"] == 0.01
    # at: peak -> only the highest concurrency of the sweep (8) is judged, with its figure.
    assert [f["level"] for f in rule["figures"]] == ["concurrency 8"] and rule["figures"][0]["value"] > 0.02
    assert "p95 TPOT misses the SLO" in met.stderr
    judge_ok("bench: no rejection rule met", fine)
    rules = json.loads(fine.stdout)["rules"]
    assert next(r for r in rules if r["metric"] == "time_per_output_token")["status"] == "not met"
    assert {r["status"] for r in rules if r["check"] is None} == {"not measurable"}
    judge_ok("bench: rule without its SLO", unset)
    rule = next(r for r in json.loads(unset.stdout)["rules"] if r["metric"] == "time_per_output_token")
    assert rule["status"] == "not measurable" and "--slo tpot" in rule["why"]


def test_rule_against_the_old_backend_and_an_unmeasured_metric():
    level = {
        "load": {"shape": "concurrency", "concurrency": 2, "rate": None},
        "results": {
            "old": {"requests": 10, "errors": 0, "ttft": {"p95": 0.1}},
            "new": {"requests": 10, "errors": 3, "ttft": {"p95": 0.3}},
        },
    }
    report = {"scenarios": [{"name": "s", "levels": [level]}]}
    worse = evaluate_rule(
        {"metric": "x", "reject_if": "slower", "check": {"metric": "ttft", "stat": "p95", "op": ">", "than": "old"}},
        report,
        {},
    )
    assert worse["status"] == "met" and worse["figures"][0]["limit"] == 0.1
    errors = evaluate_rule(
        {"metric": "e", "reject_if": "errors", "check": {"metric": "error_rate", "op": ">", "threshold": 0.5}},
        report,
        {},
    )
    assert errors["status"] == "not met" and errors["figures"][0]["value"] == 0.3
    unmeasured = evaluate_rule(
        {
            "metric": "p",
            "reject_if": "cache",
            "check": {"metric": "prefix_cache_hit_rate", "op": "<", "threshold": 0.3},
        },
        report,
        {},
    )
    assert unmeasured["status"] == "not measurable" and "not measured" in unmeasured["why"]
