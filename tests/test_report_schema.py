"""The compat-report contract: the schema accepts real reports and rejects broken ones."""

import copy
import json

import pytest

from migrate.errors import MigrateError
from migrate.report import load_report, report_errors, summarize, write_json
from tests.report_fixtures import SECRET, passing_report, sample_report


def _plain(report):
    """What write_json would write, as data (Transcript dataclasses -> dicts)."""
    from migrate.report._common import prepare

    return prepare(report)


def test_sample_and_passing_reports_are_valid():
    assert report_errors(_plain(sample_report())) == []
    assert report_errors(_plain(passing_report())) == []


def test_write_json_round_trip_atomic_and_scrubbed(tmp_path):
    target = tmp_path / "out" / "report.json"
    write_json(sample_report(), target)
    text = target.read_text()
    assert SECRET not in text and "Authorization" not in text and "x-api-key" not in text
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]  # no temp file left
    loaded = load_report(target)
    assert loaded["summary"]["verdict"] == "regression"
    assert loaded["checks"][2]["transcripts"]["new"][0]["headers"] == {"content-type": "application/json"}


def test_write_json_refuses_invalid_report_and_leaves_no_file(tmp_path):
    bad = sample_report()
    bad["summary"]["verdict"] = "green"
    with pytest.raises(MigrateError) as err:
        write_json(bad, tmp_path / "r.json")
    assert err.value.code == 2 and "$.summary.verdict" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def _mutations():
    def drop(key):
        return lambda r: r.pop(key)

    def set_(path, value):
        def f(r):
            obj = r
            for p in path[:-1]:
                obj = obj[p]
            obj[path[-1]] = value

        return f

    return {
        "missing checks": drop("checks"),
        "missing latency": drop("latency"),
        "schema_version 2": set_(["schema_version"], 2),
        "bad started_at": set_(["started_at"], "yesterday"),
        "negative duration": set_(["duration_s"], -1),
        "bad protocol": set_(["new", "protocol"], "grpc"),
        "credentials in url": set_(["new", "url"], "http://user:pw@host:8000"),
        "bad check verdict": set_(["checks", 0, "verdict"], "ok"),
        "bad category": set_(["checks", 0, "category"], "vibes"),
        "critical not bool": set_(["checks", 0, "critical"], "yes"),
        "extra count key": set_(["summary", "counts", "skipped"], 0),
        "exit code 5": set_(["summary", "exit_code"], 5),
        "pass with exit 1": set_(["summary", "verdict"], "pass"),
        "non-pass without transcripts": lambda r: r["checks"][2].pop("transcripts"),
        "counts disagree with checks": set_(["summary", "counts", "pass"], 7),
        "latency missing ratio": lambda r: r["latency"]["chat"].pop("ratio"),
        "latency negative": set_(["latency", "chat", "old", "e2e_p95"], -0.1),
        "metrics missing list": lambda r: r["metrics"].pop("missing"),
    }


@pytest.mark.parametrize("name", list(_mutations()))
def test_schema_rejects_broken_reports(name):
    report = copy.deepcopy(_plain(sample_report()))
    _mutations()[name](report)
    assert report_errors(report), name


def test_exit_zero_requires_pass_verdict():
    report = _plain(passing_report())
    report["summary"]["verdict"] = "inconclusive"
    assert report_errors(report)


def test_pass_verdict_with_regression_count_rejected():
    report = _plain(passing_report())
    report["summary"]["counts"]["regression"] = 1
    assert any("regression" in e for e in report_errors(report))


@pytest.mark.parametrize(
    "content, fragment",
    [
        (None, "no such file"),
        ("{not json", "not valid JSON (line 1"),
        ('{"schema_version": 1}', "invalid compat report: $: "),
        ("[]", "invalid compat report"),
    ],
)
def test_load_report_bad_input_is_one_line_code_2(tmp_path, content, fragment):
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(MigrateError) as err:
        load_report(path)
    assert err.value.code == 2
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_load_report_binary_file(tmp_path):
    path = tmp_path / "r.json"
    path.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(MigrateError) as err:
        load_report(path)
    assert err.value.code == 2


@pytest.mark.parametrize(
    "verdicts, flags, expected",
    [
        (["pass", "improvement", "unsupported_old", "unsupported_new"], {}, ("pass", 0)),
        (["pass", "inconclusive"], {}, ("inconclusive", 4)),
        ([], {}, ("inconclusive", 4)),  # nothing observed is not a pass
        (["pass", "error"], {}, ("error", 4)),
        (["error", "regression", "inconclusive"], {}, ("regression", 1)),  # 1 > 4
        (["regression"], {"bad_input": True}, ("error", 2)),  # 2 > 1
        (["regression"], {"bad_input": True, "unreachable": True}, ("error", 3)),  # 3 > 2
    ],
)
def test_summarize_precedence(verdicts, flags, expected):
    summary = summarize([{"verdict": v} for v in verdicts], **flags)
    assert (summary["verdict"], summary["exit_code"]) == expected
    assert sum(summary["counts"].values()) == len(verdicts)


def test_summarize_rejects_unknown_verdict():
    with pytest.raises(ValueError):
        summarize([{"verdict": "meh"}])


def test_schema_file_is_valid_draft_2020_12():
    import jsonschema

    from migrate.report.json_report import load_schema

    schema = load_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    jsonschema.Draft202012Validator.check_schema(schema)
    assert json.dumps(schema)


def test_first_error_names_the_real_fault():
    report = _plain(sample_report())
    report["checks"][0]["verdict"] = "ok"
    assert report_errors(report)[0].startswith("$.checks[0].verdict:")


def test_credentials_in_backend_url_are_stripped_not_written(tmp_path):
    report = sample_report()
    report["new"]["url"] = "http://admin:hunter2@127.0.0.1:8000"
    write_json(report, tmp_path / "r.json")
    text = (tmp_path / "r.json").read_text()
    assert "hunter2" not in text and "admin" not in text
    assert load_report(tmp_path / "r.json")["new"]["url"] == "http://127.0.0.1:8000"
