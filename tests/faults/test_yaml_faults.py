"""Hostile YAML/JSON for every command that reads a user's file, and hostile names for generate.

Every input is built here at test time. Alias bombs run as real processes (``run`` with a timeout):
a broken reader hangs or eats memory, and only a subprocess can be killed. The rest run in-process.
Expected: exit 2 (bad input), one ``error:`` line naming the file, no traceback, fast.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from migrate.datafiles import MAX_DEPTH, MAX_USER_FILE_BYTES
from migrate.gateway import MAX_GATEWAY_BYTES

from ..canary_fixtures import GATEWAY, report, write
from .harness import fingerprint, invoke, judge, judge_ok, run

ALIAS, CANDIDATE = "support-assistant-prod", "vllm-h100-a"


def billion_laughs() -> str:
    """Nine levels of nine aliases: ~400 bytes that expand to 9**9 (387 million) strings."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\nmodels: *l9\n"


RECURSIVE = "models: &a [*a]\n"
DEEP = "models: " + "[" * (MAX_DEPTH * 4) + "]" * (MAX_DEPTH * 4) + "\n"


def oversize(path: Path, size: int) -> Path:
    """A sparse file one byte over ``size``: instant to make, refused by its size before reading."""
    with open(path, "wb") as fh:
        fh.truncate(size + 1)
    return path


# Each command that reads a user YAML file: (name, argv for that file, the file's size cap).
def _validate(tmp: Path, f: Path) -> list:
    return ["validate", f]


def _canary_policy(tmp: Path, f: Path) -> list:
    return ["canary", "--report", write(tmp, report()), "--policy", f]


def _canary_apply(tmp: Path, f: Path) -> list:
    return ["canary", "--report", write(tmp, report()), "--apply", f, "--alias", ALIAS, "--backend", CANDIDATE]


def _plan_profile(tmp: Path, f: Path) -> list:
    return ["plan", "--profile", f]


def _compat_cases(tmp: Path, f: Path) -> list:
    ends = ["--from", "ollama", "--to", "openai", "--from-url", "http://127.0.0.1:9", "--to-url", "http://127.0.0.1:9"]
    return ["compat", *ends, "--model", "m", "--no-builtin", "--cases", f]


def _generate_inventory(tmp: Path, f: Path) -> list:
    return ["generate", "--target", "vllm", "--inventory", f, "--out", tmp / "out"]


def _generate_plan(tmp: Path, f: Path) -> list:
    return ["generate", "--target", "vllm", "--alias", "a=llama3.1:8b", "--plan", f, "--out", tmp / "out"]


COMMANDS = {
    "validate": (_validate, MAX_GATEWAY_BYTES),
    "canary --policy": (_canary_policy, MAX_USER_FILE_BYTES),
    "canary --apply": (_canary_apply, MAX_GATEWAY_BYTES),
    "plan --profile": (_plan_profile, MAX_USER_FILE_BYTES),
    "compat --cases": (_compat_cases, MAX_USER_FILE_BYTES),
    "generate --inventory": (_generate_inventory, MAX_USER_FILE_BYTES),
    "generate --plan": (_generate_plan, MAX_USER_FILE_BYTES),
}


def _judge_refused(case: str, outcome, f: Path, fragment: str, *, within: float = 5.0) -> None:
    judge(case, outcome, 2, within=within)
    assert str(f) in outcome.stderr and fragment in outcome.stderr, outcome.stderr
    assert not (f.parent / "out").exists(), f"{case}: wrote output from a refused input"


@pytest.mark.parametrize("command", COMMANDS)
def test_alias_bomb_is_refused_at_once(tmp_path, command):
    argv, _ = COMMANDS[command]
    f = tmp_path / "bomb.yaml"
    f.write_text(billion_laughs())
    before = fingerprint(f)
    outcome = run(argv(tmp_path, f), timeout=20)
    _judge_refused(f"{command}: billion laughs", outcome, f, "an alias bomb", within=10)
    assert fingerprint(f) == before and not (tmp_path / "bomb.yaml.bak").exists()  # --apply wrote nothing


@pytest.mark.parametrize("command", COMMANDS)
def test_recursive_alias_is_refused(tmp_path, command):
    argv, _ = COMMANDS[command]
    f = tmp_path / "rec.yaml"
    f.write_text(RECURSIVE)
    _judge_refused(f"{command}: recursive alias", invoke(argv(tmp_path, f)), f, "recursive alias *a")


@pytest.mark.parametrize("command", COMMANDS)
def test_deep_nesting_is_refused(tmp_path, command):
    argv, _ = COMMANDS[command]
    f = tmp_path / "deep.yaml"
    f.write_text(DEEP)
    _judge_refused(f"{command}: nested {MAX_DEPTH * 4} deep", invoke(argv(tmp_path, f)), f, "nested deeper than")


@pytest.mark.parametrize("command", COMMANDS)
def test_oversize_file_is_refused_by_its_size(tmp_path, command):
    argv, cap = COMMANDS[command]
    f = oversize(tmp_path / "big.yaml", cap)
    _judge_refused(f"{command}: {cap + 1} bytes", invoke(argv(tmp_path, f)), f, "is larger than")


def test_endless_pipe_is_read_only_up_to_the_cap(tmp_path):
    # A pipe has no size to check first: the read itself must stop at the cap. (A device such as
    # /dev/zero is refused by its type before any read: tests/faults/test_inputs2_faults.py.)
    with subprocess.Popen(["yes", "a: 1"], stdout=subprocess.PIPE) as endless:
        outcome = run(["plan", "--profile", "/dev/stdin"], stdin=endless.stdout, timeout=20)
        endless.kill()
    judge("plan --profile <endless pipe>", outcome, 2, within=10)
    assert "is larger than 10 MiB" in outcome.stderr


def test_anchors_within_the_bound_still_work(tmp_path):
    # Real case files share one history across cases with an alias (compat_suite/loader.py).
    cases = tmp_path / "shared.yaml"
    cases.write_text(
        "category: chat\n"
        "x-history: &h [{role: user, content: hi}, {role: assistant, content: hello}]\n"
        "cases:\n"
        "  - {id: chat.one, request: {messages: [*h, {role: user, content: one}]}}\n"
        "  - {id: chat.two, request: {messages: [*h, {role: user, content: two}]}}\n"
    )
    from migrate.compat_suite.loader import load_cases

    loaded = load_cases([str(cases)], builtin=False)
    assert [len(c.request["messages"]) for c in loaded] == [3, 3]


def test_gateway_with_an_anchor_for_shared_settings_validates(tmp_path):
    gw = tmp_path / "gw.yaml"
    gw.write_text(
        "x-ollama: &ollama {name: ollama, weight: 100, base_url: 'http://127.0.0.1:11434'}\n"
        "models:\n  a: {backends: [*ollama]}\n  b: {backends: [*ollama]}\n"
    )
    outcome = invoke(["validate", gw])
    judge_ok("validate: x- key holding an anchor", outcome)
    assert outcome.stdout.strip() == f"{gw}: valid"


# --- unknown keys and shapes ------------------------------------------------------------------------


def test_validate_names_an_unknown_key_at_its_line(tmp_path):
    gw = tmp_path / "gw.yaml"
    gw.write_text(
        GATEWAY.replace("        weight: 5\n", "        wieght: 5\n        weight: 5\n").replace(
            "models:\n", "retries: 3\nmodels:\n"
        )
    )
    outcome = invoke(["validate", gw])
    judge_ok("validate: unknown keys", outcome, code=1)
    lines = outcome.stdout.splitlines()
    assert f"{gw}:2: retries: unknown key (known: models; x-* keys are yours)" in lines, lines
    assert any(
        line.startswith(f"{gw}:") and "backends[1].wieght: unknown key (did you mean 'weight'?)" in line
        for line in lines
    ), lines


def test_validate_escapes_control_characters_it_quotes(tmp_path):
    gw = tmp_path / "gw.yaml"
    gw.write_text(GATEWAY.replace("contract: openai-chat", 'contract: openai-chat\n    "\\e]0;pwned\\a": 1', 1))
    outcome = invoke(["validate", gw])
    judge_ok("validate: ESC in an unknown key", outcome, code=1)
    assert "\x1b" not in outcome.stdout and "\\x1b]0;pwned\\x07: unknown key" in outcome.stdout, outcome.stdout


def test_plan_refuses_a_gateway_file_as_profile(tmp_path):
    gw = tmp_path / "gateway.yaml"
    gw.write_text(GATEWAY)
    outcome = invoke(["plan", "--profile", gw])
    judge("plan --profile gateway.yaml", outcome, 2)
    assert "models must be a list of Ollama tags, got a mapping (a gateway config is not a profile)" in outcome.stderr


@pytest.mark.parametrize(
    "profile, fragment",
    [
        ({"gpus": "1xH100", "backends": []}, "unknown key(s) backends"),
        ({"gpus": {"count": 2}}, "gpus must be a single value, got a mapping"),
        ({"models": ["llama3.1:8b", "bad\u2028tag"]}, "model tag 'bad\\u2028tag' contains control"),
    ],
)
def test_plan_profile_shape(tmp_path, profile, fragment):
    f = tmp_path / "profile.json"
    f.write_text(json.dumps(profile))
    outcome = invoke(["plan", "--profile", f])
    judge(f"plan --profile {fragment}", outcome, 2)
    assert fragment in outcome.stderr, outcome.stderr


# --- hostile names for generate -------------------------------------------------------------------

HOSTILE_NAMES = {
    "DEL": "bad\x7fname",
    "U+2028": "x\u2028apiVersion: v1\u2028kind: Secret",
    "newline": "x\nkind: Secret",
    "NUL": "nul\x00name",
    "ESC": "esc\x1b]0;title\x07",
}


@pytest.mark.parametrize("where", ["alias", "tag"])
@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_generate_refuses_control_characters_in_aliases_and_tags(tmp_path, name, where):
    value = HOSTILE_NAMES[name]
    pair = f"{value}=llama3.1:8b" if where == "alias" else f"assistant={value}"
    outcome = invoke(["generate", "--target", "vllm", "--alias", pair, "--out", tmp_path / "out"])
    judge(f"generate --alias with {name} in the {where}", outcome, 2)
    assert f"--alias: {where} {value!r} contains control or line-separator characters" in outcome.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_generate_refuses_control_characters_in_inventory_models(tmp_path, name):
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps({"models": [{"name": "llama3.1:8b"}, {"name": HOSTILE_NAMES[name]}]}))
    outcome = invoke(["generate", "--target", "vllm", "--inventory", inv, "--out", tmp_path / "out"])
    judge(f"generate --inventory with {name} in a model name", outcome, 2)
    assert "model name" in outcome.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "plan",
    [
        {"first": "vllm", "second": {"engine": "sglang"}, "inputs": {}},
        {"first": {"engine": "vllm"}, "second": {"engine": "sglang"}, "inputs": []},
        {"first": {"engine": "vllm"}, "second": {"engine": "sglang"}, "inputs": {"gpu_count": {"value": "two"}}},
    ],
    ids=["first-not-object", "inputs-list", "gpu_count-string"],
)
def test_generate_refuses_a_malformed_plan(tmp_path, plan):
    f = tmp_path / "plan.json"
    f.write_text(json.dumps(plan))
    outcome = invoke(["generate", "--target", "vllm", "--alias", "a=llama3.1:8b", "--plan", f, "--out", tmp_path / "o"])
    judge(f"generate --plan {json.dumps(plan)[:40]}", outcome, 2)


@pytest.mark.parametrize(
    "inventory, fragment",
    [
        ({"models": [1, "x"]}, "models[0] must be an object, got int"),
        ({"models": [], "profile": [1]}, "profile must be an object"),
        ({"models": [{"name": "a\u2028b"}]}, "'a\\u2028b' contains control or line-separator characters"),
    ],
    ids=["model-not-object", "profile-list", "U+2028-name"],
)
@pytest.mark.parametrize("command", ["plan", "generate"])
def test_malformed_inventory_is_refused(tmp_path, inventory, fragment, command):
    f = tmp_path / "inventory.json"
    f.write_text(json.dumps(inventory))
    argv = ["plan", "--inventory", f] if command == "plan" else ["generate", "--target", "vllm", "--inventory", f]
    outcome = invoke(argv + (["--out", tmp_path / "out"] if command == "generate" else []))
    judge(f"{command} --inventory {fragment}", outcome, 2)
    assert fragment in outcome.stderr, outcome.stderr
