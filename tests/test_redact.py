"""The one masking function: what it must hide, and what it must leave alone (facts)."""

from __future__ import annotations

import pytest

from migrate.redact import has_unsafe_chars, is_secret_name, mask_data, mask_text, mask_url, printable


@pytest.mark.parametrize(
    "url, shown",
    [
        ("http://user:pw@host:11434", "http://host:11434"),
        ("http://user:p@ss@host:1/v1", "http://host:1/v1"),  # a password may itself hold an "@"
        ("https://token@gateway.example/v1?api_key=abc123", "https://gateway.example/v1?api_key=***"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_mask_url(url, shown):
    assert mask_url(url) == shown


def test_names_stay_values_go():
    assert mask_text("OLLAMA_API_KEY=sk-abcdefghijklmnop1234") == "OLLAMA_API_KEY=***"
    assert mask_text('client = OpenAI(api_key=os.environ["OLLAMA_API_KEY"])').endswith('["OLLAMA_API_KEY"])')
    assert mask_text('json={"max_tokens": 100, "keep_alive": "5m"}') == 'json={"max_tokens": 100, "keep_alive": "5m"}'
    assert mask_data({"counts": {"pass": 3}, "token": "abc", "max_tokens": 5}) == {
        "counts": {"pass": 3},
        "token": "***",
        "max_tokens": 5,
    }
    assert is_secret_name("X-Api-Key") and is_secret_name("apiKey") and not is_secret_name("time_to_first_token")


def test_printable_escapes_terminal_controls():
    assert printable("a\x1b]0;pwn\x07b\x7f\u2028c") == "a\\x1b]0;pwn\\x07b\\x7f\\u2028c"
    assert printable("tab\tstays") == "tab\tstays"
    assert has_unsafe_chars("chat\u2028x") and not has_unsafe_chars("llama3.1:8b")


def test_json_on_stdout_is_terminal_safe_and_still_the_same_document(capsys):
    import json

    from migrate.commands._io import emit_json

    value = {"model": "x\x7f\x9b2J\u2028y é"}
    emit_json(value)
    out = capsys.readouterr().out
    assert "\x9b" not in out and "\u2028" not in out and "é" in out
    assert json.loads(out) == value
