"""JUnit, Markdown and terminal renderings of a compat report."""

import io
import xml.etree.ElementTree as ET

from rich.console import Console

from migrate.report import render_markdown, render_terminal, write_junit, write_markdown
from migrate.report.markdown import fence
from tests.report_fixtures import SECRET, passing_report, sample_report

# --- JUnit -----------------------------------------------------------------------------------


def _junit(tmp_path, report):
    path = tmp_path / "junit.xml"
    write_junit(report, path)
    return path, ET.parse(path).getroot()


def test_junit_parses_and_counts_match(tmp_path):
    report = sample_report()
    path, root = _junit(tmp_path, report)
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(report["checks"]) == int(root.get("tests"))
    assert int(root.get("failures")) == 1 == len(root.findall(".//failure"))
    assert int(root.get("errors")) == 1 == len(root.findall(".//error"))
    # inconclusive + unsupported_old -> skipped
    assert int(root.get("skipped")) == 2 == len(root.findall(".//skipped"))
    for suite in root.findall("testsuite"):
        assert int(suite.get("tests")) == len(suite.findall("testcase"))
    assert SECRET not in path.read_text()


def test_junit_mapping_per_verdict(tmp_path):
    _, root = _junit(tmp_path, sample_report())
    by_name = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    reg = by_name[("compat.tools.tools.single_call", "tool_call_structure")]
    failure = reg.find("failure")
    assert failure.get("type") == "critical regression"
    assert failure.get("message").startswith("new backend returned the call as text")
    assert "get_weather" in failure.text
    assert by_name[("compat.errors.errors.unknown_model", "error_contract")].find("error") is not None
    skipped = by_name[("compat.streaming.streaming.usage", "usage_last")].find("skipped")
    assert skipped.get("message").startswith("inconclusive:") and "needs 8 samples" in skipped.get("message")
    assert (
        by_name[("compat.chat.chat.sampling", "tool_choice_required")]
        .find("skipped")
        .get("message")
        .startswith("unsupported_old:")
    )
    passed = by_name[("compat.chat.chat.basic", "finish_reason")]
    assert list(passed) == []
    improved = by_name[("compat.structured.structured.schema", "json_schema_valid")]
    assert improved.find("failure") is None and improved.find("skipped") is None


def test_junit_survives_control_characters(tmp_path):
    report = sample_report()
    report["checks"][2]["detail"] = "bad \x00\x1b[31m byte"
    report["checks"][2]["new"] = {"content": "\x07bell"}
    _, root = _junit(tmp_path, report)  # parses: invalid XML chars were replaced
    assert "\x00" not in root.find(".//failure").get("message")


def test_junit_all_pass(tmp_path):
    _, root = _junit(tmp_path, passing_report())
    assert root.get("failures") == root.get("errors") == root.get("skipped") == "0"
    assert int(root.get("tests")) == 3


# --- Markdown --------------------------------------------------------------------------------


def test_markdown_banner_counts_and_rows():
    md = render_markdown(sample_report())
    assert md.startswith("## ❌ REGRESSION — migrate compat (exit code 1)")
    assert "| 2 | 1 | 1 | 1 | 0 | 1 | 1 |" in md  # counts in COUNT_ORDER
    assert "**1 critical regression(s)**" in md and "`tools.single_call / tool_call_structure`" in md
    rows = [line for line in md.splitlines() if line.startswith("| **")]
    # every non-pass check has exactly one row, most severe first; passes have none
    assert [r.split("|")[1].strip() for r in rows] == [
        "**regression**",
        "**error**",
        "**inconclusive**",
        "**unsupported_old**",
        "**improvement**",
    ]
    assert "text \\| not as tool_calls" in rows[0]  # pipe escaped, row not broken
    assert rows[0].count(" | ") == 6
    assert "needs 8 samples per side" in rows[2]
    assert "finish_reason" not in "\n".join(rows)


def test_markdown_latency_and_metrics():
    md = render_markdown(sample_report())
    # chat old ttft 0.1/0.3 -> p50 200 ms, p95 290 ms; new 0.05/0.15 -> p95 145 ms; ratio 0.5
    assert "| chat | TTFT | 2/2 | 200.0 ms | 290.0 ms | 100.0 ms | 145.0 ms | 0.50× |" in md
    assert "| tools | E2E | 1/0 | 1000.0 ms | 1000.0 ms | – | – | – |" in md
    assert "| kv_cache_usage | **missing** |" in md
    assert "`vllm:time_to_first_token_seconds`" in md


def test_markdown_details_for_every_non_pass_and_no_secrets():
    md = render_markdown(sample_report())
    assert md.count("<details>") == md.count("</details>") == 5
    assert "<summary>regression: tools.single_call / tool_call_structure" in md
    assert '"content": "<tool_call>{\\"name\\": \\"get_weather\\"}</tool_call>"' in md  # evidence verbatim
    assert "POST http://127.0.0.1:8000/v1/chat/completions` → 200" in md
    assert 'data: {"choices":[{"delta":{"content":"hi | <b>x</b>"}}]}' in md  # verbatim inside a fence
    assert SECRET not in md and "Authorization" not in md and "Bearer" not in md


def test_markdown_html_in_detail_is_escaped():
    report = sample_report()
    report["checks"][2]["detail"] = "model said </details><script>x</script>"
    md = render_markdown(report)
    assert "<script>" not in md and "&lt;/details&gt;&lt;script&gt;" in md
    assert md.count("<details>") == md.count("</details>")


def test_markdown_pass_report():
    md = render_markdown(passing_report())
    assert md.startswith("## ✅ PASS") and "All checks passed." not in md  # an improvement is non-pass
    assert md.count("<details>") == 1


def test_markdown_size_limit_trims_transcripts_then_blocks(tmp_path):
    report = sample_report()
    big = ["x" * 200] * 2000
    for c in report["checks"]:
        if "transcripts" in c:
            c["transcripts"]["new"][0].lines = big
    md = render_markdown(report, max_chars=6000)
    assert len(md) <= 6000
    assert "omitted" in md
    path = write_markdown(report, tmp_path / "summary.md", max_chars=6000)
    assert path.read_text() == md


def test_fence_outgrows_backticks_in_content():
    text = "before ```` inside"
    f = fence(text)
    assert f.startswith("`````\n") and f.endswith("\n`````")


# --- terminal --------------------------------------------------------------------------------


def test_terminal_summary_table():
    buf = io.StringIO()
    console = Console(file=buf, width=160, color_system=None)
    report = sample_report()
    report["checks"][2]["detail"] = "reply had [bold]markup[/bold] in it"
    render_terminal(report, console)
    out = buf.getvalue()
    assert "REGRESSION" in out and "exit code 1" in out
    assert "tool_call_structure" in out and "[bold]markup[/bold]" in out  # shown literally
    assert "finish_reason" not in out  # passes not listed
    assert "0.50x" in out and "missing: kv_cache_usage" in out
    assert SECRET not in out
