"""The compat suite against real engines (the test bed): no false regressions between identical
configurations, each planted difference caught by the right check and nothing else, and the
silent-truncation finding against the Ollama-API test server.

Kept small for CI on 2 cores: a handful of cases per run, max_tokens <= 64, contexts <= 2048.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from migrate.compat_suite.config import CompatConfig, SideConfig
from migrate.compat_suite.loader import load_cases
from migrate.compat_suite.runner import run_compat

from migrate.cli import main
from migrate.report import validate_report
from tests.conftest import FIXTURES

pytestmark = pytest.mark.engine

MODEL = "gemma3-270m"


def _cases(ids: set[str]):
    cases = [c for c in load_cases() if c.id in ids]
    assert {c.id for c in cases} == ids
    return cases


def _run(
    old_url, new_url, cases, *, old_kind="llamacpp", new_kind="llamacpp", old_model=MODEL, new_model=MODEL, **kw
) -> dict:
    cfg = CompatConfig(
        old=SideConfig(old_kind, old_url, old_model),
        new=SideConfig(new_kind, new_url, new_model, extra_body=kw.pop("new_extra", {})),
        cases=cases,
        baseline_repeats=2,
        repeats=1,
        concurrency=2,
        timeout=240,
        **kw,
    )
    report = run_compat(cfg)
    validate_report(report)
    return report


def _by_verdict(report: dict, verdict: str) -> list[dict]:
    return [c for c in report["checks"] if c["verdict"] == verdict]


def _engine(**kw):
    from migrate.testbed.llamacpp import EngineStartError, LlamaCppServer

    server = LlamaCppServer(**kw)
    try:
        return server.start()
    except EngineStartError as exc:
        pytest.fail(f"second llama.cpp engine did not start: {exc}")


SMALL_SET = {
    "chat.single_turn",
    "tools.single_call",
    "streaming.content",
    "structured.json_schema",
    "errors.malformed_body",
}


@pytest.fixture(scope="module")
def twin_engine():
    """A second engine configured exactly like the session one (same template, same context)."""
    server = _engine(n_ctx=8192, n_parallel=2)
    yield server
    server.stop()


def test_identical_configurations_pass_three_times(llamacpp_server, twin_engine):
    cases = _cases(SMALL_SET)
    for attempt in range(3):
        report = _run(llamacpp_server.url, twin_engine.url, cases)
        bad = [c for c in report["checks"] if c["verdict"] != "pass"]
        assert report["summary"]["exit_code"] == 0, (attempt, [(c["case"], c["detail"]) for c in bad])
        assert report["summary"]["counts"]["pass"] == len(report["checks"]) >= len(SMALL_SET)


def test_planted_smaller_context_is_caught_by_long_context_only(llamacpp_server):
    small = _engine(n_ctx=1024, n_parallel=1)  # 1024 per request vs 4096 on the old side
    try:
        report = _run(
            llamacpp_server.url,
            small.url,
            _cases({"long_context.needles", "chat.single_turn", "tools.single_call"}),
            old_context=2048,
        )
    finally:
        small.stop()
    regressions = _by_verdict(report, "regression")
    assert regressions, report["checks"]
    assert {c["category"] for c in regressions} == {"long_context"}
    assert {c["check"] for c in regressions} == {"context_window"}
    assert all(c["critical"] for c in regressions)
    summary = next(c for c in report["checks"] if c["check"] == "max_context")
    assert summary["new"]["context"] == 1024 and summary["old"]["context"] == 2048
    assert report["summary"]["exit_code"] == 1


def test_planted_template_without_tools_is_caught_by_tools_only(llamacpp_server):
    plain = _engine(n_ctx=4096, n_parallel=2, chat_template=(FIXTURES / "testbed" / "gemma3.jinja").read_text())
    try:
        report = _run(
            llamacpp_server.url, plain.url, _cases({"tools.single_call", "chat.single_turn", "structured.json_schema"})
        )
    finally:
        plain.stop()
    regressions = _by_verdict(report, "regression")
    assert [c["case"] for c in regressions] == ["tools.single_call"], [
        (c["case"], c["detail"]) for c in report["checks"] if c["verdict"] != "pass"
    ]
    assert regressions[0]["check"] == "tool_call_structure"
    assert regressions[0]["new"]["made_a_call"] is False
    assert "transcripts" in regressions[0]


def test_planted_schema_not_enforced_is_caught_by_structured_only(llamacpp_server):
    # The new side's requests lose response_format on the way (as a gateway with drop_params, or
    # Ollama before 0.5.0, would): the engine then answers unconstrained.
    report = _run(
        llamacpp_server.url,
        llamacpp_server.url,
        _cases({"structured.json_schema", "chat.single_turn"}),
        new_extra={"response_format": {"type": "text"}},
    )
    regressions = _by_verdict(report, "regression")
    assert [c["case"] for c in regressions] == ["structured.json_schema"], report["checks"]
    assert regressions[0]["check"] == "json_validity" and regressions[0]["critical"]
    assert regressions[0]["old"]["valid_against_schema"] is True
    assert regressions[0]["new"]["valid_against_schema"] is False


def test_from_ollama_shows_silent_truncation(ollama_server, llamacpp_server, tmp_path: Path):
    out = tmp_path / "report.json"
    res = CliRunner().invoke(
        main,
        [
            "compat",
            "--from",
            "ollama",
            "--to",
            "llamacpp",
            "--from-url",
            ollama_server.url,
            "--to-url",
            llamacpp_server.url + "/v1",
            "--model",
            f"{ollama_server.model}={MODEL}",
            "--only",
            "long_context,errors",
            "--reduced",
            "--json",
            str(out),
            "--quiet",
        ],
    )
    report = json.loads(out.read_text())
    validate_report(report)
    assert res.exit_code == report["summary"]["exit_code"]
    assert report["old"]["protocol"] == "ollama" and report["new"]["protocol"] == "openai"
    rows = {c["case"]: c for c in report["checks"]}
    over = rows["long_context.needles.110pct"]
    assert over["old"]["outcome"] == "truncated", over
    assert over["old"]["prompt_tokens"] < over["old"]["sent_tokens"]
    assert over["new"]["outcome"] == "ok"  # 4096 per slot on the new side
    assert over["verdict"] == "improvement"
    assert rows["long_context.needles.50pct"]["verdict"] == "pass"
    ctx = rows["long_context.needles.max_context"]
    assert ctx["old"]["context"] == 2048 and "/api/ps" in ctx["old"]["context_source"]
    # Ollama answers an unknown model with 404; llama.cpp serves it with its own model.
    unknown = rows["errors.unknown_model"]
    assert unknown["verdict"] == "regression" and unknown["old"]["status"] == 404
    assert unknown["new"]["status"] == 200


def test_backend_lost_mid_run_exits_3(llamacpp_server):
    doomed = _engine(n_ctx=2048, n_parallel=2)
    cases = _cases({"chat.single_turn", "chat.multi_turn", "chat.unicode"})
    cfg = CompatConfig(
        old=SideConfig("llamacpp", llamacpp_server.url, MODEL),
        new=SideConfig("llamacpp", doomed.url, MODEL),
        cases=cases,
        baseline_repeats=2,
        repeats=2,
        concurrency=1,
        timeout=120,
    )

    def kill_after_first(done: int, total: int, label: str) -> None:
        if done == 1:
            doomed.stop()  # the new engine dies while cases are still queued for it

    try:
        report = run_compat(cfg, kill_after_first)
    finally:
        doomed.stop()
    validate_report(report)
    assert report["summary"]["exit_code"] == 3, report["summary"]
    assert "lost during the run" in report["summary"]["reason"]
