"""Policy edge cases of the canary decision (pure: no I/O, no backends)."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

from migrate.canary import decide, next_step, resolve_policy
from migrate.canary.policy import DEFAULT_POLICY, load_policy
from migrate.canary.report import check_report
from migrate.errors import MigrateError

from .canary_fixtures import check, healthy_checks, latency_entry, report, stats

SCHEMA = json.loads(resources.files("migrate").joinpath("schemas/compat-report.schema.json").read_text())


@pytest.fixture
def policy():
    return resolve_policy()


def _decide(rep, policy, w):
    jsonschema.validate(rep, SCHEMA)  # every fixture is a report compat could have written
    check_report(rep)
    return decide(rep, policy, w)


def test_two_identical_healthy_backends_promote_one_step(policy):
    d = _decide(report(), policy, 5)
    assert d.decision == "promote"
    assert d.recommended_weight == 10 and d.current_weight == 5
    assert d.score == 100 and d.classification == "pass"
    assert any("5% -> 10%" in r for r in d.reasons)


@pytest.mark.parametrize("current,expected", [(0, 1), (1, 5), (7, 10), (50, 100)])
def test_promotion_climbs_exactly_one_step(policy, current, expected):
    assert _decide(report(), policy, current).recommended_weight == expected


def test_policy_may_allow_bigger_jumps():
    p = resolve_policy({"max_steps_per_promotion": 2})
    assert decide(report(), p, 5).recommended_weight == 25
    assert next_step([0, 1, 5, 10, 25, 50, 100], 50, 3) == 100


def test_no_data_is_inconclusive_and_holds(policy):
    d = _decide(report(checks=[], latency={}), policy, 10)
    assert d.decision == "inconclusive" and d.recommended_weight == 10
    assert d.score is None
    assert "no evidence" in d.reasons[0]


def test_one_critical_regression_rolls_back_to_zero(policy):
    checks = healthy_checks()
    checks[1] = check(
        "tools.single_call", "tools", "tool_call_structure", "regression", detail="tool call came back as plain content"
    )
    d = _decide(report(checks), policy, 25)
    assert d.decision == "rollback" and d.recommended_weight == 0
    assert any("tools.single_call/tool_call_structure" in r and "plain content" in r for r in d.reasons)


def test_unsupported_on_new_side_in_critical_category_rolls_back(policy):
    checks = healthy_checks() + [check("structured.strict", "structured", "json_schema_validity", "unsupported_new")]
    assert _decide(report(checks), policy, 10).decision == "rollback"


def test_latency_only_regression_holds(policy):
    lat = {"chat": latency_entry(stats(ttft=0.20), stats(ttft=0.45))}  # x2.25, +250 ms
    d = _decide(report(latency=lat), policy, 10)
    assert d.decision == "hold" and d.recommended_weight == 10
    assert any("TTFT p95 chat" in r and "x2.25" in r for r in d.reasons)


def test_latency_ratio_under_the_floor_never_blocks(policy):
    # x3 but only +40 ms on TTFT (floor 100 ms) and +10 ms on TPOT (floor 20 ms): jitter.
    lat = {"chat": latency_entry(stats(ttft=0.02, tpot=0.005), stats(ttft=0.06, tpot=0.015))}
    d = _decide(report(latency=lat), policy, 10)
    assert d.decision == "promote" and d.recommended_weight == 25


def test_latency_beyond_critical_ratio_rolls_back(policy):
    lat = {"chat": latency_entry(stats(e2e=0.7), stats(e2e=2.8))}  # x4
    d = _decide(report(latency=lat), policy, 10)
    assert d.decision == "rollback" and d.recommended_weight == 0


def test_latency_breach_action_score_lets_the_score_decide():
    p = resolve_policy({"latency": {"breach_action": "score", "critical_ratio": None}})
    lat = {"chat": latency_entry(stats(ttft=0.2), stats(ttft=0.5))}
    d = decide(report(latency=lat), p, 10)
    # latency group 2/3 pass -> 66.67 x 30 + 100 x 70 = 90 -> pass
    assert d.score == 90 and d.decision == "promote"


def test_marginal_score_holds(policy):
    checks = healthy_checks()[1:] + [
        check("chat.stop", "chat", "stop_sequence", "regression"),
        check("chat.seed", "chat", "seeded_repeatability", "regression"),
    ]
    d = _decide(report(checks), policy, 10)
    # 6 groups share 70 (latency has 30); the chat group scores 0 -> 100 - 70/6 = 88.33
    assert d.score == 88.33 and d.classification == "marginal"
    assert d.decision == "hold" and d.recommended_weight == 10
    assert any("chat.stop/stop_sequence" in r for r in d.reasons)


def test_failing_score_rolls_back():
    p = resolve_policy({"scoring": {"group_weights": {"chat": 80, "latency": 0}}})
    checks = [
        check("chat.a", "chat", "x", "regression"),
        check("chat.b", "chat", "y", "regression"),
        check("tools.single_call", "tools", "tool_call_structure"),
    ]
    d = decide(report(checks), p, 10)
    assert d.classification == "fail" and d.decision == "rollback" and d.recommended_weight == 0


def test_warning_regression_with_passing_score_still_promotes_and_says_so(policy):
    checks = healthy_checks() + [
        check("chat.b", "chat", "y"),
        check("chat.c", "chat", "z"),
        check("chat.stop", "chat", "stop_sequence", "regression"),
    ]
    d = _decide(report(checks), policy, 10)
    assert d.decision == "promote"
    assert any(r.startswith("warning: chat.stop/stop_sequence") for r in d.reasons)


def test_too_few_samples_is_inconclusive_with_samples_needed():
    p = resolve_policy({"min_samples": 3})
    d = decide(report(healthy_checks(samples=1)), p, 10)
    assert d.decision == "inconclusive" and d.recommended_weight == 10
    assert d.needed_samples["tools.single_call/tool_call_structure"] == 2
    assert any("2 more sample(s) per side would decide" in r for r in d.reasons)


def test_inconclusive_critical_check_uses_reported_needed_samples(policy):
    checks = healthy_checks()
    checks[2] = check("structured.schema", "structured", "json_schema_validity", "inconclusive", samples=2, needed=5)
    d = _decide(report(checks), policy, 5)
    assert d.decision == "inconclusive" and d.recommended_weight == 5
    assert d.needed_samples == {"structured.schema/json_schema_validity": 3}


def test_latency_with_too_few_requests_is_not_judged(policy):
    lat = {"chat": latency_entry(stats(n=2, ttft=0.2), stats(n=2, ttft=0.9))}
    d = _decide(report(latency=lat), policy, 10)
    assert d.decision == "promote"
    assert all(m.classification == "nodata" for m in d.metrics if m.group == "latency")


def test_already_at_100_stays_at_100(policy):
    d = _decide(report(), policy, 100)
    assert d.decision == "promote" and d.recommended_weight == 100 and d.final
    assert any("already at 100%" in r for r in d.reasons)


def test_harness_errors_on_a_critical_check_block_promotion(policy):
    checks = healthy_checks()
    checks[4] = check("errors.unknown_model", "errors", "error_contract", "error")
    d = _decide(report(checks), policy, 10)
    assert d.decision == "inconclusive" and d.recommended_weight == 10


def test_ignored_checks_are_not_scored():
    p = resolve_policy({"ignore": {"checks": ["stop_sequence"]}})
    checks = healthy_checks() + [check("chat.stop", "chat", "stop_sequence", "regression")]
    d = decide(report(checks), p, 10)
    assert d.score == 100 and d.decision == "promote"


def test_policy_overrides_critical_categories():
    # With tools demoted to a warning, a tools regression lowers the score instead of rolling back.
    p = resolve_policy({"critical": {"categories": ["structured"]}, "honour_report_critical": False})
    checks = healthy_checks()
    checks[1] = check("tools.single_call", "tools", "tool_call_structure", "regression")
    assert decide(report(checks), p, 10).decision != "rollback"


@pytest.mark.parametrize(
    "bad",
    [
        {"steps": [1, 5, 100]},
        {"steps": [0, 10, 5, 100]},
        {"stepz": [0, 100]},
        {"scoring": {"thresholds": {"pass": 70, "marginal": 80}}},
        {"latency": {"limits": {"ttft_p95": {"max_ratio": -1}}}},
        {"scoring": {"group_weights": {"a": 80, "b": 30}}},
    ],
)
def test_bad_policies_are_refused(bad):
    with pytest.raises(MigrateError) as exc:
        resolve_policy(bad)
    assert exc.value.code == 2


def test_policy_file_yaml_and_defaults_document_themselves(tmp_path):
    f = tmp_path / "policy.yaml"
    f.write_text("# stricter latency\nlatency:\n  limits:\n    ttft_p95: {max_ratio: 1.2}\n")
    p = load_policy(f)
    assert p["latency"]["limits"]["ttft_p95"] == {"max_ratio": 1.2, "floor_s": 0.1}
    assert p["steps"] == DEFAULT_POLICY["steps"]
    # The defaults themselves satisfy the shipped schema.
    schema = json.loads(resources.files("migrate").joinpath("schemas/canary-policy.schema.json").read_text())
    jsonschema.validate(DEFAULT_POLICY, schema)
    (tmp_path / "bad.yaml").write_text("latency: [unclosed\n")
    with pytest.raises(MigrateError) as exc:
        load_policy(tmp_path / "bad.yaml")
    assert exc.value.code == 2 and "bad.yaml:" in str(exc.value)
