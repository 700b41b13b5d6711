"""The bench report's Markdown, CSV and HTML outputs, rendered from a real side-by-side run against the
ground-truth server (old: Ollama NDJSON with one slot; new: OpenAI SSE named by a hostile model name),
checked against the JSON report they come from."""

from __future__ import annotations

import copy
import csv
import io
import re
import stat
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from migrate.bench import build_config, run_bench
from migrate.bench.outputs import render_csv, render_html, render_markdown
from migrate.bench.outputs._common import ROWS, ratio_of
from migrate.bench.outputs.csv import COLUMNS, LATENCY, ROWS_PER_RESULT, STATS
from migrate.bench.report import report_errors

from .faults.harness import invoke
from .groundtruth_server import GroundTruth

HOSTILE = "<script>alert(1)</script>"
HOSTILE_ERROR = '<img src=x onerror="alert(2)"> see https://evil.example/x.js'


@pytest.fixture(scope="module")
def servers():
    with (
        GroundTruth(ttft=0.03, interval=0.005, tokens=6, slots=1) as old,
        GroundTruth(ttft=0.03, interval=0.005, tokens=6) as new,
    ):
        yield old, new


@pytest.fixture(scope="module")
def report(servers) -> dict:
    old, new = servers
    cfg = build_config(
        from_kind="ollama",
        to_kind="vllm",
        from_url=old.url,
        to_url=new.url + "/v1",
        old_model="llama3.2:3b",
        new_model=HOSTILE,
        concurrency="1,2,3",
        requests=6,
        slo="ttft=0.2,tpot=0.02",
    )
    out = run_bench(cfg)
    assert report_errors(out) == [] and out["summary"]["exit_code"] == 0
    return out


def with_errors(report: dict) -> dict:
    """The run, with two of the new side's requests at the last level failed (a hostile error text)."""
    out = copy.deepcopy(report)
    r = out["scenarios"][0]["levels"][-1]["results"]["new"]
    r["errors"], r["completed"] = 2, r["completed"] - 2
    r["errors_by_type"] = {"overloaded": 1, "timeout": 1}
    r["error_examples"] = {"overloaded": HOSTILE_ERROR, "timeout": "read timed out"}
    assert report_errors(out) == []
    return out


def levels(report: dict) -> list[dict]:
    return [lv for s in report["scenarios"] for lv in s["levels"]]


# ---- Markdown


def md_tables(text: str) -> list[dict[str, list[str]]]:
    """Each level's table as {metric label: [cells after the label]}."""
    tables = []
    for block in re.split(r"\n### ", text)[1:]:
        rows = [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| metric")]
        tables.append({cells[0]: cells[1:] for cells in ([c.strip() for c in r.strip("|").split(" | ")] for r in rows)})
    return [t for t in tables if t]


def test_markdown_tables_hold_the_json_numbers(report):
    text = render_markdown(report)
    tables = md_tables(text)
    assert len(tables) == len(levels(report)) == 3
    for table, level in zip(tables, levels(report)):
        res = level["results"]
        assert table["completed/requests"][:2] == [
            f"{res[r]['completed']}/{res[r]['requests']}" for r in ("old", "new")
        ]
        for label, get, _fmt, key in ROWS:
            values = [get(res["old"]), get(res["new"])]
            if all(v is None for v in values):
                assert label not in table
                continue
            want = ["–" if v is None else (f"{v * 1000:.1f}" if "(ms)" in label else f"{v:.2f}") for v in values]
            ratio = ratio_of(level, key)
            assert table[label] == [*want, "–" if ratio is None else f"{ratio:.2f}×"], label
        for role, cell in zip(("old", "new"), table["goodput"]):
            g = res[role]["goodput"]
            assert cell == f"{g['fraction'] * 100:.0f}% ({g['requests']})"
    # The old side has one slot: its queue delay is measured; the new (OpenAI) side's is not, and says so.
    assert "### Not measured" in text and "queue delay: the OpenAI API reports none" in text


def test_markdown_escapes_and_lists_errors(report):
    text = render_markdown(with_errors(report))
    assert HOSTILE not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<img" not in text and "&lt;img" in text
    assert md_tables(text)[-1]["errors"][1] == "2 (1 overloaded, 1 timeout)"


def test_markdown_stays_under_its_limit(report):
    many = copy.deepcopy(report)
    many["scenarios"][0]["levels"] = levels(report) * 200
    text = render_markdown(many)
    assert len(text) < 60_000
    assert "more level(s) left out" in text and "### Not measured" in text
    small = render_markdown(many, max_chars=12_000)
    assert len(small) < 12_000 and len(md_tables(small)) < len(md_tables(text))


# ---- CSV


def test_csv_has_one_row_per_number_and_they_parse_back(report):
    bad = with_errors(report)
    rows = list(csv.DictReader(io.StringIO(render_csv(bad))))
    assert list(rows[0]) == COLUMNS
    results = [(lv, role, r) for lv in levels(bad) for role, r in lv["results"].items()]
    assert len(rows) == len(results) * ROWS_PER_RESULT + 2  # + one row per error type seen
    index = {(r["concurrency"], r["backend"], r["metric"], r["statistic"]): r for r in rows}
    assert len(index) == len(rows)
    checked = 0
    for lv, role, r in results:
        c = str(lv["load"]["concurrency"])
        for metric in LATENCY:
            for k in STATS:
                row = index[(c, role, metric, k)]
                want = (r[metric] or {}).get(k)
                assert row["unit"] == "s"
                assert (row["value"] == "") if want is None else (float(row["value"]) == want)
                checked += want is not None
        assert float(index[(c, role, "request_throughput", "value")]["value"]) == r["request_throughput"]
        assert int(index[(c, role, "completed", "count")]["value"]) == r["completed"]
        assert index[(c, role, "ttft", "p50")]["model"] == bad["backends"][role]["model"]
    assert checked > 100
    assert index[("3", "new", "errors_by_type", "overloaded")]["value"] == "1"


def test_csv_defuses_spreadsheet_formulas(report):
    formula = copy.deepcopy(report)
    formula["backends"]["new"]["model"] = '=HYPERLINK("https://evil.example","x")'
    rows = list(csv.DictReader(io.StringIO(render_csv(formula))))
    assert {r["model"] for r in rows if r["backend"] == "new"} == {"'" + formula["backends"]["new"]["model"]}


# ---- HTML


def test_html_draws_a_plot_for_each_curve_and_cdf(report):
    page = render_html(report)
    svgs = re.findall(r"<svg\b.*?</svg>", page, re.S)
    # 3 curves against the load (TTFT, TPOT, throughput) and 2 CDFs (TTFT, e2e) per level.
    assert len(svgs) == 3 + 2 * len(levels(report))
    for svg in svgs:
        ET.fromstring(svg)  # well-formed: every text and attribute escaped
    titles = [re.search(r"<title>(.*?)</title>", s)[1] for s in svgs]
    assert titles[:3] == [
        "TTFT p50 and p95 against the load",
        "TPOT p50 and p95 against the load",
        "Throughput against the load",
    ]
    assert titles[3] == "TTFT: CDF, concurrency 1" and titles[4] == "End-to-end latency: CDF, concurrency 1"
    # Old and new overlaid: one curve each per CDF, two (p50, p95) each per latency curve.
    assert all(s.count("<polyline") == 2 for s in svgs[2:]) and svgs[0].count("<polyline") == 4
    # A CDF climbs to 1 over as many steps as there were completed requests.
    n = levels(report)[0]["results"]["old"]["completed"]
    first = re.findall(r'<polyline points="([^"]+)"', svgs[3])[0].split()
    assert len(first) == 1 + 2 * n


class Markup(HTMLParser):
    """The page's markup apart from its text: tags, attributes, and the inline stylesheet."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str]] = []
        self.style = ""
        self.text: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += [(k, v or "") for k, v in attrs]
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data
        else:
            self.text.append(data)


def test_html_is_self_contained_and_escaped(report):
    bad = with_errors(report)
    page = render_html(bad)
    assert page.startswith("<!DOCTYPE html>")
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page
    parsed = Markup()
    parsed.feed(page)
    # Nothing that runs or fetches: no script, image, link, frame, object; no attribute that loads.
    assert not parsed.tags & {"script", "img", "link", "iframe", "object", "embed", "image", "use", "foreignobject"}
    assert not {k for k, _ in parsed.attrs} & {"src", "href", "xlink:href", "srcset", "action", "onerror", "onload"}
    assert not any("http" in v or "javascript:" in v for _, v in parsed.attrs)
    assert "url(" not in parsed.style and "@import" not in parsed.style and "http" not in parsed.style
    # URLs appear as text only: the backends' own and the error example's, as the user sees them.
    text = "".join(parsed.text)
    assert HOSTILE in text and HOSTILE_ERROR in text  # shown, as text
    rest = page
    for url in [b["url"] for b in bad["backends"].values()] + ["https://evil.example/x.js"]:
        rest = rest.replace(url, "")
    assert "http://" not in rest and "https://" not in rest
    for level in levels(bad):
        res = level["results"]
        assert f"<td>{res['old']['ttft']['p50'] * 1000:.1f}</td>" in page


def test_html_with_one_level_has_no_sweep(report):
    one = copy.deepcopy(report)
    one["scenarios"][0]["levels"] = levels(report)[:1]
    page = render_html(one)
    assert page.count("<svg") == 2 and "against the load" not in page


def test_a_report_that_breaks_its_schema_is_never_rendered(report):
    broken = copy.deepcopy(report)
    del broken["summary"]
    for render in (render_markdown, render_csv, render_html):
        with pytest.raises(ValueError, match="breaks its schema"):
            render(broken)


# ---- the command


def test_the_command_writes_every_format_privately(servers, tmp_path):
    _, new = servers
    paths = {f: tmp_path / "out" / f"bench.{f}" for f in ("json", "markdown", "csv", "html")}
    args = ["bench", "--url", new.url, "--kind", "vllm", "--model", HOSTILE, "--requests", "3", "--quiet"]
    for fmt, path in paths.items():
        args += [f"--{fmt}", path]
    out = invoke(args)
    assert out.code == 0, out.stderr
    for path in paths.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "| TTFT p50 (ms) |" in paths["markdown"].read_text()
    assert paths["csv"].read_text().startswith(",".join(COLUMNS))
    assert paths["html"].read_text().count("<svg") == 2  # one level, one backend: its two CDFs


def test_the_command_writes_one_document_to_stdout(servers):
    _, new = servers
    out = invoke(
        ["bench", "--url", new.url, "--kind", "vllm", "--model", "m", "--requests", "2", "--quiet", "--csv", "-"]
    )
    assert out.code == 0, out.stderr
    assert out.stdout.startswith(",".join(COLUMNS)) and len(out.stdout.splitlines()) == 1 + ROWS_PER_RESULT


@pytest.mark.parametrize("pair", [("--json", "--markdown"), ("--csv", "--html"), ("--markdown", "--csv")])
def test_two_outputs_on_stdout_are_refused_before_any_request(pair):
    # Port 9 (discard) is never contacted: the usage error comes first.
    out = invoke(["bench", "--url", "http://127.0.0.1:9", "--kind", "vllm", "--model", "m", pair[0], "-", pair[1], "-"])
    assert out.code == 2 and "Traceback" not in out.stderr
    assert [line for line in out.stderr.splitlines() if line.startswith("error:")] == [
        "error: only one of --json, --markdown, --csv and --html can be '-' (stdout holds one document)"
    ]
