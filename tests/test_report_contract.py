"""The report contract module (migrate/report/contract.py) agrees with the shipped schemas, and no
other module spells the report vocabulary out again."""

from __future__ import annotations

import ast
import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from migrate.report import contract

ROOT = Path(__file__).resolve().parent.parent


def _schema() -> dict:
    text = resources.files("migrate").joinpath("schemas", "compat-report.schema.json").read_text("utf-8")
    return json.loads(text)


def test_vocabulary_matches_the_shipped_report_schema():
    schema = _schema()
    defs = schema["$defs"]
    assert contract.load_schema() == schema
    assert contract.SCHEMA_VERSION == schema["properties"]["schema_version"]["const"]
    assert contract.VERDICTS == tuple(defs["verdict"]["enum"])
    assert contract.VERDICTS == tuple(defs["summary"]["properties"]["counts"]["required"])
    assert contract.SUMMARY_VERDICTS == tuple(defs["summary"]["properties"]["verdict"]["enum"])
    assert set(contract.EXIT_CODES) == set(defs["summary"]["properties"]["exit_code"]["enum"])
    assert contract.CATEGORIES == tuple(defs["category"]["enum"])
    assert set(contract.CRITICAL_CATEGORIES) < set(contract.CATEGORIES)
    assert sorted(contract.SEVERITY) == sorted(contract.VERDICTS)
    assert len(set(contract.SEVERITY.values())) == len(contract.VERDICTS)


def test_case_files_use_the_report_categories():
    from migrate.compat_suite.loader import schema as case_schema

    assert tuple(case_schema()["$defs"]["category"]["enum"]) == contract.CATEGORIES


@pytest.mark.parametrize(
    "verdicts, unreachable, bad_input, expected",
    [
        ((), False, False, ("inconclusive", 4)),  # a pass must be observed
        (("pass", "improvement", "unsupported_old", "unsupported_new"), False, False, ("pass", 0)),
        (("pass", "inconclusive"), False, False, ("inconclusive", 4)),
        (("inconclusive", "error"), False, False, ("error", 4)),
        (("error", "regression"), False, False, ("regression", 1)),
        (("regression",), False, True, ("error", 2)),
        (("regression",), True, True, ("error", 3)),
    ],
)
def test_summary_rule_and_exit_codes(verdicts, unreachable, bad_input, expected):
    checks = [{"verdict": v} for v in verdicts]
    summary = contract.summarize(checks, unreachable=unreachable, bad_input=bad_input)
    assert (summary["verdict"], summary["exit_code"]) == expected
    assert sum(summary["counts"].values()) == len(verdicts)
    schema = _schema()
    jsonschema.Draft202012Validator({**schema["$defs"]["summary"], "$defs": schema["$defs"]}).validate(summary)


def test_unknown_verdict_is_refused():
    with pytest.raises(ValueError, match="bogus"):
        contract.summarize([{"verdict": "bogus"}])


def test_checks_and_canary_read_the_contract():
    from migrate.compat_suite.checks.base import result
    from migrate.compat_suite.loader import Case

    from migrate.canary.policy import DEFAULT_POLICY

    for category in contract.CATEGORIES:
        entry = result(Case(id=f"{category}.x", category=category), "c", "pass", "")
        assert entry["critical"] is (category in contract.CRITICAL_CATEGORIES)
    assert DEFAULT_POLICY["critical"]["categories"] == list(contract.CRITICAL_CATEGORIES)
    assert set(DEFAULT_POLICY["critical"]["categories"]) | set(DEFAULT_POLICY["warning"]["categories"]) == set(
        contract.CATEGORIES
    )


def _vocabulary_literals(path: Path) -> list[str]:
    """List/tuple/set literals in a module that restate a whole vocabulary of the contract."""
    vocabularies = {
        "verdicts": set(contract.VERDICTS),
        "categories": set(contract.CATEGORIES),
        "critical categories": set(contract.CRITICAL_CATEGORIES),
    }
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            continue
        names = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        for what, vocabulary in vocabularies.items():
            if names == vocabulary or (len(names) >= 5 and names <= vocabulary):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {what}")
    return found


def test_no_other_module_restates_the_vocabulary():
    sources = [p for d in ("migrate", "compat_suite") for p in sorted((ROOT / d).rglob("*.py"))]
    assert len(sources) > 20
    offenders = [
        hit for p in sources if p.name != "contract.py" or p.parent.name != "report" for hit in _vocabulary_literals(p)
    ]
    assert offenders == []
    # and the detector does see a restatement
    assert _vocabulary_literals(ROOT / "migrate" / "report" / "contract.py")
