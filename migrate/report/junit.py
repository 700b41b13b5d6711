"""The compat report as JUnit XML, for CI test tabs (GitHub, GitLab, Jenkins).

One ``<testcase>`` per case x check, grouped in one ``<testsuite>`` per category:
  regression                          -> <failure>
  error                               -> <error>
  inconclusive, unsupported_old/_new  -> <skipped message="...">   (not evidence either way)
  pass, improvement                   -> passed (improvement noted in <system-out>)
``classname`` is ``compat.<category>.<case>`` and ``name`` the check, so CI UIs group by case.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ._common import backend_label, prepare, write_output

# XML 1.0 cannot carry most control characters, and model output can contain them.
_INVALID_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BODY_LIMIT = 8_000


def xml_text(value: Any) -> str:
    return _INVALID_XML.sub("\ufffd", str(value))


def _evidence(check: dict) -> str:
    body = json.dumps(
        {
            "old": check.get("old"),
            "new": check.get("new"),
            "samples": check.get("samples"),
            "needed_samples": check.get("needed_samples"),
        },
        indent=2,
        ensure_ascii=False,
        default=str,
    )
    if len(body) > _BODY_LIMIT:
        body = body[:_BODY_LIMIT] + "\n... (truncated; see the JSON report)"
    return xml_text(body)


def build_junit(report: Any) -> ET.Element:
    data = prepare(report)
    checks = data.get("checks", [])
    root = ET.Element("testsuites", name="migrate compat")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    by_category: dict[str, list[dict]] = {}
    for c in checks:
        by_category.setdefault(str(c.get("category", "other")), []).append(c)
    title = f"{backend_label(data.get('old'))} -> {backend_label(data.get('new'))}"
    for category in sorted(by_category):
        suite = ET.SubElement(root, "testsuite", name=xml_text(f"compat.{category}"))
        props = ET.SubElement(suite, "properties")
        for key, value in (
            ("old", data.get("old", {}).get("url", "")),
            ("new", data.get("new", {}).get("url", "")),
            ("comparison", title),
            ("started_at", data.get("started_at", "")),
        ):
            ET.SubElement(props, "property", name=key, value=xml_text(value))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for c in by_category[category]:
            counts["tests"] += 1
            verdict = str(c.get("verdict"))
            detail = xml_text(c.get("detail", ""))
            case = ET.SubElement(
                suite,
                "testcase",
                name=xml_text(c.get("check", "?")),
                classname=xml_text(f"compat.{category}.{c.get('case', '?')}"),
                time="0",
            )
            if verdict == "regression":
                counts["failures"] += 1
                critical = "critical " if c.get("critical") else ""
                el = ET.SubElement(case, "failure", message=detail, type=f"{critical}regression".strip())
                el.text = _evidence(c)
            elif verdict == "error":
                counts["errors"] += 1
                el = ET.SubElement(case, "error", message=detail, type="error")
                el.text = _evidence(c)
            elif verdict in ("inconclusive", "unsupported_old", "unsupported_new"):
                counts["skipped"] += 1
                message = f"{verdict}: {detail}"
                if verdict == "inconclusive" and c.get("needed_samples"):
                    message += f" (needs {c['needed_samples']} samples per side)"
                ET.SubElement(case, "skipped", message=message)
            elif verdict == "improvement":
                ET.SubElement(case, "system-out").text = f"improvement: {detail}"
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", "0")
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{float(data.get('duration_s') or 0):.3f}")
    return root


def render_junit(report: Any) -> str:
    root = build_junit(report)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(report: Any, path: str | os.PathLike) -> Path:
    return write_output(path, render_junit(report))
