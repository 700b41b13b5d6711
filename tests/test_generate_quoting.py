"""The one path a value takes into generated YAML (``render.yaml_quote``): hostile strings round-trip
to the same value, never add a document, a key or a line, and the generated files stay valid.

The CLI refuses control and separator characters in aliases and tags (tests/faults/test_yaml_faults.py);
these tests feed them past that check, so the render layer is proven on its own.
"""

from __future__ import annotations

import math

import pytest
import yaml
from ruamel.yaml import YAML

from migrate.gateway import validate_text
from migrate.generate.render import yaml_quote
from migrate.redact import has_unsafe_chars

from .test_generate_golden import HOSTILE, render_unchecked

# On top of the shell list: what no argv can carry (NUL) and what only YAML cares about.
YAML_HOSTILE = HOSTILE + [
    "nul\x00byte",
    "\ufeffbom",
    "nel\x85line",
    "para\u2029sep",
    "emoji \U0001f600 and \U000e0001 tag",
    "lone \ud800 surrogate",
    "...",
    "- item",
    "&anchor *alias !tag",
    "yes",
    "null",
    "0x1f",
    " leading and trailing ",
    "",
]
LINE_BREAKS = "\n\r\x85\u2028\u2029"


def _both_parsers(text: str):
    """What PyYAML (YAML 1.1, LiteLLM) and ruamel (YAML 1.2, validate/canary) read from ``text``."""
    return yaml.safe_load(text), YAML(typ="safe", pure=True).load(text)


@pytest.mark.parametrize("value", YAML_HOSTILE, ids=repr)
def test_a_quoted_value_round_trips_and_stays_on_its_line(value):
    quoted = yaml_quote(value)
    assert not any(ch in quoted for ch in LINE_BREAKS), quoted
    doc = f"k: {quoted}\nafter: 1\n"
    for parsed in _both_parsers(doc):
        assert parsed == {"k": value, "after": 1}
    as_key = f"{yaml_quote(value, key=True)}: 1\n"
    assert yaml.safe_load(as_key) == {value: 1}
    # In a comment the value can neither end the comment nor start a document or a key.
    commented = f"# for {quoted}\nonly: key\n"
    for parsed in _both_parsers(commented):
        assert parsed == {"only": "key"}


def test_collections_and_numbers_keep_their_types():
    value = {"stop": ["a\u2028b", "x: y"], "temperature": 0.7, "n": 3, "on": True, "none": None}
    assert yaml.safe_load(f"k: {yaml_quote(value)}") == {"k": value}
    assert yaml.safe_load(f"k: {yaml_quote(list(YAML_HOSTILE))}") == {"k": YAML_HOSTILE}
    assert yaml.safe_load(f"k: {yaml_quote(math.inf)}")["k"] == math.inf
    assert math.isnan(yaml.safe_load(f"k: {yaml_quote(math.nan)}")["k"])
    assert yaml_quote("top_p", key=True) == "top_p"  # identifiers stay bare (goldens unchanged)
    assert yaml_quote("yes", key=True) == '"yes"'  # ...unless YAML 1.1 would read a boolean


def _docs(path):
    return list(yaml.safe_load_all(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("target", ["vllm", "exllamav3"])  # exllamav3 also writes a ConfigMap
def test_generated_files_hold_hostile_aliases_and_tags(tmp_path, target):
    baseline = render_unchecked(target, tmp_path / "base", [("plain-alias", "plain:tag")])
    # Not a lone surrogate here: no UTF-8 file (a script, the manifest) can hold one; the CLI refuses it.
    pairs = [(f"{v}!alias", f"{v}:tag") for v in YAML_HOSTILE if v and "\ud800" not in v]
    manifest = render_unchecked(target, tmp_path / "out", pairs)
    out = tmp_path / "out"

    gw_text = (out / "gateway.yaml").read_text(encoding="utf-8")
    # ruamel reads it and the contract holds, except that validate flags the aliases the CLI refuses.
    flagged = [p.message for p in validate_text(gw_text)]
    unsafe = [a for a, _ in pairs if has_unsafe_chars(a)]
    assert flagged == [f"models: alias {a!r} contains control or line-separator characters" for a in unsafe]
    gw = yaml.safe_load(gw_text)
    assert list(gw) == ["models"] and list(gw["models"]) == [a for a, _ in pairs]
    for alias, tag in pairs:
        notes = gw["models"][alias]["backends"][0]["notes"]
        assert tag in notes

    lite = _docs(out / "litellm.yaml")
    assert len(lite) == 1 and set(lite[0]) == set(_docs(tmp_path / "base" / "litellm.yaml")[0])
    assert [d["model_name"] for d in lite[0]["model_list"]] == [a for a, _ in pairs for _ in (0, 1)]
    assert lite[0]["router_settings"]["model_group_alias"] == {t: a for a, t in pairs}

    base_k8s = _docs(tmp_path / "base" / baseline["models"][0]["dir"] / "k8s.yaml")
    for m, (alias, tag) in zip(manifest["models"], pairs):
        text = (out / m["dir"] / "k8s.yaml").read_text(encoding="utf-8")
        header = text.split("\napiVersion:", 1)[0].splitlines()
        assert all(line.startswith("#") for line in header), header  # the comment stayed a comment
        assert yaml_quote(alias) in header[0] and yaml_quote(tag) in header[0]
        docs = list(yaml.safe_load_all(text))
        assert [d["kind"] for d in docs] == [d["kind"] for d in base_k8s]
        assert [sorted(d) for d in docs] == [sorted(d) for d in base_k8s]
        container = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
        if "args" in container:  # engines configured by argv serve the alias and the old tag by name
            assert alias in container["args"] and tag in container["args"], container["args"]
