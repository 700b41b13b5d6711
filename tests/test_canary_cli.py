"""`migrate canary`: formats, --apply on a commented gateway file, and the --check CI gate."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from migrate.cli import main

from .canary_fixtures import GATEWAY, check, healthy_checks, report, write

ALIAS, CANDIDATE = "support-assistant-prod", "vllm-h100-a"


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def healthy(tmp_path):
    return write(tmp_path, report())


@pytest.fixture
def broken(tmp_path):
    checks = healthy_checks()
    checks[1] = check("tools.single_call", "tools", "tool_call_structure", "regression")
    return write(tmp_path, report(checks), "broken.json")


def _gw(tmp_path, text=GATEWAY, name="gateway.yaml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_json_format_is_one_document_with_the_contract_keys(runner, healthy):
    r = runner.invoke(main, ["canary", "--report", str(healthy), "--current-weight", "5", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert {"recommended_weight", "current_weight", "decision", "reasons"} <= set(doc)
    assert (doc["decision"], doc["current_weight"], doc["recommended_weight"]) == ("promote", 5, 10)


def test_text_format_and_exit_codes(runner, healthy, broken, tmp_path):
    r = runner.invoke(main, ["canary", "--report", str(healthy)])
    assert r.exit_code == 0 and r.stdout.startswith("canary promote: 0% -> 1%")
    r = runner.invoke(main, ["canary", "--report", str(broken), "--current-weight", "10"])
    assert r.exit_code == 1 and "rollback: 10% -> 0%" in r.stdout
    empty = write(tmp_path, report(checks=[], latency={}), "empty.json")
    r = runner.invoke(main, ["canary", "--report", str(empty), "--current-weight", "10"])
    assert r.exit_code == 4 and "inconclusive: 10% -> 10%" in r.stdout


def test_flagger_argo_litellm_express_the_same_step(runner, healthy, tmp_path):
    base = ["canary", "--report", str(healthy), "--current-weight", "10", "--format"]
    flagger = yaml.safe_load(runner.invoke(main, base + ["flagger"]).stdout)
    assert flagger["kind"] == "Canary" and flagger["spec"]["analysis"]["stepWeights"] == [25]
    argo = yaml.safe_load(runner.invoke(main, base + ["argo"]).stdout)
    assert argo["spec"]["strategy"]["canary"]["steps"] == [{"setWeight": 25}, {"pause": {}}]
    # With --apply the LiteLLM weights cover the whole model group.
    gw = _gw(tmp_path)
    r = runner.invoke(
        main,
        [
            "canary",
            "--report",
            str(healthy),
            "--format",
            "litellm",
            "--apply",
            str(gw),
            "--alias",
            ALIAS,
            "--backend",
            CANDIDATE,
        ],
    )
    assert r.exit_code == 0, r.output
    lite = yaml.safe_load(r.stdout)["model_list"]
    assert {e["model_info"]["id"]: e["litellm_params"]["weight"] for e in lite} == {
        "current-ollama-dev": 90,
        CANDIDATE: 10,
    }
    assert all(e["model_name"] == ALIAS for e in lite)


def test_apply_changes_only_weight_values_and_keeps_backup(runner, healthy, tmp_path):
    gw = _gw(tmp_path)
    r = runner.invoke(
        main,
        [
            "canary",
            "--report",
            str(healthy),
            "--apply",
            str(gw),
            "--alias",
            ALIAS,
            "--backend",
            CANDIDATE,
            "--format",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["current_weight"] == 5 and doc["recommended_weight"] == 10  # read from the file
    before, after = GATEWAY.splitlines(), gw.read_text().splitlines()
    diff = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after)
    assert diff == [
        ("        weight: 95   # rollback target", "        weight: 90   # rollback target"),
        ("        weight: 5", "        weight: 10"),
    ]
    assert (tmp_path / "gateway.yaml.bak").read_text() == GATEWAY
    assert runner.invoke(main, ["validate", str(gw)]).exit_code == 0


def test_apply_rollback_moves_traffic_back(runner, broken, tmp_path):
    gw = _gw(tmp_path)
    r = runner.invoke(
        main, ["canary", "--report", str(broken), "--apply", str(gw), "--alias", ALIAS, "--backend", CANDIDATE]
    )
    assert r.exit_code == 1
    assert "weight: 100   # rollback target" in gw.read_text() and "        weight: 0\n" in gw.read_text()


def test_apply_refuses_when_the_result_would_not_validate(runner, healthy, tmp_path):
    bad = GATEWAY.replace("notes: 'learner", "timeout_seconds: -3\n        notes: 'learner")
    gw = _gw(tmp_path, bad)
    r = runner.invoke(
        main,
        [
            "canary",
            "--report",
            str(healthy),
            "--apply",
            str(gw),
            "--alias",
            ALIAS,
            "--backend",
            CANDIDATE,
            "--current-weight",
            "5",
        ],
    )
    assert r.exit_code == 1 and "refused" in r.stderr and "Traceback" not in r.output
    assert gw.read_text() == bad and not (tmp_path / "gateway.yaml.bak").exists()


def _pr(tmp_path, candidate_weight: int):
    text = GATEWAY.replace("weight: 95", f"weight: {100 - candidate_weight}").replace(
        "weight: 5\n", f"weight: {candidate_weight}\n"
    )
    return _gw(tmp_path, text, f"pr-{candidate_weight}.yaml")


def test_check_fails_a_pr_asking_for_more_than_the_evidence_supports(runner, healthy, tmp_path):
    base = _gw(tmp_path, name="base.yaml")  # target branch: 5%
    summary = tmp_path / "summary.md"
    r = runner.invoke(
        main,
        [
            "canary",
            "--check",
            str(_pr(tmp_path, 50)),
            "--base",
            str(base),
            "--report",
            str(healthy),
            "--alias",
            ALIAS,
            "--backend",
            CANDIDATE,
            "--summary-file",
            str(summary),
        ],
    )
    assert r.exit_code == 1
    assert "FAIL" in r.stdout and "asks for **50%**" in r.stdout and "only **10%** from 5%" in r.stdout
    assert summary.read_text() == r.stdout


def test_check_passes_a_pr_within_the_recommendation(runner, healthy, tmp_path):
    base = _gw(tmp_path, name="base.yaml")
    for w in (10, 5, 0):
        r = runner.invoke(
            main,
            [
                "canary",
                "--check",
                str(_pr(tmp_path, w)),
                "--base",
                str(base),
                "--report",
                str(healthy),
                "--alias",
                ALIAS,
                "--backend",
                CANDIDATE,
            ],
        )
        assert r.exit_code == 0, (w, r.output)
        assert "## migrate canary check: PASS" in r.stdout


def test_check_current_weight_sources(runner, healthy, broken, tmp_path):
    pr = _pr(tmp_path, 10)
    args = [
        "canary",
        "--check",
        str(pr),
        "--report",
        str(healthy),
        "--alias",
        ALIAS,
        "--backend",
        CANDIDATE,
        "--format",
        "json",
    ]
    doc = json.loads(runner.invoke(main, args).stdout)  # no base: current 0 -> 1% allowed
    assert (doc["ok"], doc["current_weight"], doc["decision"]["recommended_weight"]) == (False, 0, 1)
    doc = json.loads(runner.invoke(main, args + ["--current-weight", "5"]).stdout)
    assert doc["ok"] is True
    # A base without the backend is a first rollout from 0.
    base = _gw(tmp_path, GATEWAY.replace("vllm-h100-a", "other"), "base.yaml")
    doc = json.loads(runner.invoke(main, args + ["--base", str(base)]).stdout)
    assert doc["current_weight"] == 0 and "new backend" in doc["current_source"]
    # Evidence of a critical regression fails any PR that keeps traffic on the candidate.
    r = runner.invoke(
        main,
        [
            "canary",
            "--check",
            str(pr),
            "--report",
            str(broken),
            "--alias",
            ALIAS,
            "--backend",
            CANDIDATE,
            "--current-weight",
            "10",
        ],
    )
    assert r.exit_code == 1 and "rollback" in r.stdout


@pytest.mark.parametrize(
    "args,code,msg",
    [
        (["--report", "MISSING"], 2, "no such file"),
        (["--report", "BADJSON"], 2, "not valid JSON"),
        (["--report", "NOTREPORT"], 2, "not a compat report"),
        (["--report", "OK", "--apply", "g.yaml"], 2, "need --alias and --backend"),
        (["--report", "OK", "--current-weight", "101"], 2, ""),
        (["--report", "OK", "--policy", "POLICY"], 2, "steps"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(runner, tmp_path, args, code, msg):
    files = {
        "MISSING": tmp_path / "missing.json",
        "BADJSON": tmp_path / "bad.json",
        "NOTREPORT": tmp_path / "other.json",
        "OK": write(tmp_path, report(), "ok.json"),
        "POLICY": tmp_path / "policy.yaml",
    }
    files["BADJSON"].write_text("{not json")
    files["NOTREPORT"].write_text(json.dumps({"schema_version": 1, "checks": "nope"}))
    files["POLICY"].write_text("steps: [5, 1]\n")
    r = runner.invoke(main, ["canary"] + [str(files.get(a, a)) for a in args])
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output and msg in r.output
