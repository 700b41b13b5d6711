"""Hostile inputs to `migrate inventory --code/--logs/--capture` (issue #11), built at test time.

Each case is judged the fault-matrix way (exit code, no traceback, in time) and says what it expects:
planted secrets never leave the process, nothing outside the scanned tree is read, a FIFO or a device
never blocks, a damaged or odd file is skipped and *named* in a warning, and whatever the scan met
(control characters, undecodable names, random bytes) the written inventory reads back.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import threading
import time
from pathlib import Path

import pytest

from migrate.inventory import capture as capture_mod
from migrate.redact import mask_text

from .harness import assert_no_secret, invoke, judge, judge_ok, run


def _gin(second: int, path: str = "/api/chat", status: int = 200) -> str:
    hh, mm, ss = 10 + second // 3600, second // 60 % 60, second % 60
    return f'[GIN] 2025/02/20 - {hh:02d}:{mm:02d}:{ss:02d} | {status} |    1.5s |  127.0.0.1 | POST     "{path}"'


def _log(path: str, n: int, start: int = 0) -> str:
    return "\n".join(_gin(start + i, path) for i in range(n)) + "\n"


def _ollama_app(root: Path) -> None:
    """One ordinary call site, so a scan that skipped the hostile files still finds something."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "ok.py").write_text('import requests\nrequests.post("http://localhost:11434/api/chat", json={})\n')


def _warnings(out) -> list[str]:
    return [line for line in out.stderr.splitlines() if line.startswith("warning:")]


# --- 1. secrets ------------------------------------------------------------------------------------

SECRETS = {
    "env_token": "sk-faultEnvKey0123456789abcdef",
    "env_password": "hunter2",  # no token shape: masked because of its key's name
    "env_odd_value": "pa(ss;wo#rd",  # a value the field pattern cannot delimit: the .env rule masks it whole
    "env_url_password": "envUrlPw77",
    "code_url_password": "codeUrlPw88",
    "bearer": "sk-faultBearer0123456789abcdef",
    "bearer_no_digits": "plainbearertokenvalue",
    "api_key_arg": "faultArgKey42xyz",
    "x_api_key": "faultHeaderVal77",
    "x_token": "faultXTok55abc",
    "api_key_header": "faultApiKeyHdr66",
    "curl_header": "curlHeaderValue",
    "hf": "hf_faultHuggingFace0123456789ab",
    "ghp": "ghp_faultGitHub0123456789abcdefgh",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmYXVsdCJ9.c2lnbmF0dXJlZmF1bHQ",
    "outside": "sk-faultOutsideTree0123456789ab",
}


@pytest.fixture()
def planted(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    s = SECRETS
    (app / ".env").write_text(
        f"OLLAMA_HOST=http://admin:{s['env_url_password']}@ollama.internal:11434\n"
        f"OLLAMA_API_KEY={s['env_token']}\n"
        f"OLLAMA_PASSWORD={s['env_odd_value']}\n"
        f"OLLAMA_BASE_URL=http://ollama.internal:11434 DB_PASSWORD={s['env_password']}\n"
        f"DB_PASSWORD={s['env_password']}\n"
    )
    (app / "client.py").write_text(
        "import ollama, requests\n"
        "from openai import OpenAI\n"
        f'requests.post("http://u:{s["code_url_password"]}@localhost:11434/api/chat", '
        f'headers={{"Authorization": "Bearer {s["bearer"]}"}}, json={{"model": "llama3.1:8b"}})\n'
        'requests.post("http://localhost:11434/api/generate", '
        f'headers={{"X-Token": "{s["x_token"]}", "X-Api-Key": "{s["x_api_key"]}", "api-key": "{s["api_key_header"]}"}})\n'
        f'client = OpenAI(base_url="http://localhost:11434/v1", api_key="{s["api_key_arg"]}")\n'
        f'c = ollama.Client(host="http://localhost:11434", headers={{"Authorization": "Bearer {s["jwt"]}"}})\n'
        f"# ollama tokens: {s['hf']} {s['ghp']}\n"
    )
    (app / "call.sh").write_text(
        f'curl -H "Authorization: Bearer {s["bearer_no_digits"]}" http://localhost:11434/api/chat -d @body.json\n'
        f'curl -H "X-Api-Key: {s["curl_header"]}" http://localhost:11434/api/tags\n'
    )
    (tmp_path / "outside.env").write_text(f"OLLAMA_API_KEY={s['outside']}\n")
    (app / "linked.env").symlink_to(tmp_path / "outside.env")
    return tmp_path


def test_planted_secrets_never_reach_the_inventory(planted):
    inv = planted / "inv.json"
    out = invoke(["inventory", "--no-ollama", "--code", planted / "app", "-o", inv, "--json"])
    judge_ok("inventory --code: every secret form planted, -o and --json", out)
    assert_no_secret(list(SECRETS.values()), out, inv)
    human = invoke(["inventory", "--no-ollama", "--code", planted / "app"])
    judge_ok("inventory --code: every secret form planted, human output", human)
    assert_no_secret(list(SECRETS.values()), human)

    doc = json.loads(inv.read_text())
    settings = {k: v for site in doc["code_sites"] for k, v in (site.get("settings") or {}).items()}
    # Names stay, values go; the facts around them survive.
    assert settings["OLLAMA_API_KEY"] == "***" and settings["OLLAMA_PASSWORD"] == "***"
    assert settings["OLLAMA_HOST"] == "http://ollama.internal:11434"
    snippets = "\n".join(site["snippet"] for site in doc["code_sites"])
    assert '"Authorization": "Bearer ***"' in snippets and '"X-Api-Key": "***"' in snippets
    assert 'api_key="***"' in snippets and "OLLAMA_PASSWORD=***" in snippets
    kinds = {(site["file"], site["kind"], site["endpoint"]) for site in doc["code_sites"]}
    assert {("client.py", "raw_http", "/api/chat"), ("client.py", "openai_sdk", None)} <= kinds
    assert ("call.sh", "raw_http", "/api/tags") in kinds
    assert "llama3.1:8b" in doc["profile"]["models"]
    # The link out of the tree was not followed, and the warning says so.
    assert not any(site["file"] == "linked.env" for site in doc["code_sites"])
    assert any("linked.env: symlink to a file outside the scanned tree, not followed" in w for w in _warnings(out))
    assert doc["code_stats"][0]["skipped"]["outside_link"] == 1


LOG_SECRETS = ["proxyPw123", "sk-logKeyLogKeyLogKey0001", "sk-logLineBearer00000002", "hf_logHuggingFace0123456789ab"]


def test_secrets_in_server_logs_are_masked_too(tmp_path):
    """The whole document is masked once more before it is written: log samples and the server's env
    map are facts from outside as much as code lines are."""
    log = tmp_path / "ollama.log"
    log.write_text(
        'time=2025-02-20T16:34:10.000Z level=INFO source=routes.go:1259 msg="server config" env="map['
        f"HTTPS_PROXY:http://proxyuser:{LOG_SECRETS[0]}@proxy:3128 OLLAMA_API_KEY:{LOG_SECRETS[1]} "
        'OLLAMA_NUM_PARALLEL:4]"\n'
        f'time=2025-02-20T16:34:11.000Z level=WARN source=x.go:1 msg="failed" header="Authorization: Bearer {LOG_SECRETS[2]}"\n'
        f"an unparsed line with {LOG_SECRETS[3]}\n" + _log("/api/chat", 2)
    )
    inv = tmp_path / "inv.json"
    out = invoke(["inventory", "--no-ollama", "--logs", log, "-o", inv, "--json"])
    judge_ok("inventory --logs: secrets in the server config and in log lines", out)
    assert_no_secret(LOG_SECRETS, out, inv)
    env = json.loads(out.stdout)["server_config"][0]["env"]
    assert env["OLLAMA_API_KEY"] == "***" and env["HTTPS_PROXY"] == "http://proxy:3128"
    assert env["OLLAMA_NUM_PARALLEL"] == "4"


# --- 2./3. symlinks, FIFOs, devices, loops, caps --------------------------------------------------


def test_fifo_in_code_tree_is_skipped_not_read(tmp_path):
    app = tmp_path / "app"
    _ollama_app(app)
    os.mkfifo(app / "pipe.py")
    os.mkfifo(app / ".gitignore")  # read for its rules: must not block either
    (app / "to_pipe.py").symlink_to(app / "pipe.py")  # inside the tree, resolves to the FIFO
    out = run(["inventory", "--no-ollama", "--code", app, "--json"], timeout=20)
    judge_ok("inventory --code: a FIFO (and a link to it) in the tree", out, within=15)
    warned = _warnings(out)
    assert any("pipe.py: not a regular file (a FIFO), not read" in w for w in warned), warned
    assert any("to_pipe.py: not a regular file (a FIFO), not read" in w for w in warned), warned
    assert [s["file"] for s in json.loads(out.stdout)["code_sites"]] == ["ok.py"]


def test_symlink_to_dev_zero_in_code_tree_is_not_followed(tmp_path):
    app = tmp_path / "app"
    _ollama_app(app)
    (app / "zero.py").symlink_to("/dev/zero")
    out = run(["inventory", "--no-ollama", "--code", app, "--json"], timeout=20)
    judge_ok("inventory --code: symlink to /dev/zero", out, within=15)
    assert any("zero.py: symlink to a file outside the scanned tree" in w for w in _warnings(out)), out.stderr


def test_directory_symlink_loops_are_not_followed(tmp_path):
    app = tmp_path / "app"
    _ollama_app(app / "sub")
    (app / "sub" / "loop").symlink_to(app)
    (app / "up").symlink_to("..")
    out = invoke(["inventory", "--no-ollama", "--code", app, "--json"])
    judge_ok("inventory --code: directory symlink loops", out)
    assert [s["file"] for s in json.loads(out.stdout)["code_sites"]] == ["sub/ok.py"]
    assert sum("directory symlink, not followed" in w for w in _warnings(out)) == 2


def test_code_file_over_the_cap_is_skipped_with_a_warning(tmp_path):
    app = tmp_path / "app"
    _ollama_app(app)
    (app / "generated.py").write_text('OLLAMA_HOST = "http://h:11434"\n' + "x = 1\n" * 200_000)
    out = invoke(["inventory", "--no-ollama", "--code", app, "--json"])
    judge_ok("inventory --code: a source file over the size cap", out)
    assert any("generated.py: 1,200,031 bytes, over the 1,000,000-byte cap, skipped" in w for w in _warnings(out))


def test_fifo_in_logs_directory_is_skipped_not_read(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "good.log").write_text(_log("/api/chat", 3))
    os.mkfifo(logs / "pipe.log")
    out = run(["inventory", "--no-ollama", "--logs", logs, "--json"], timeout=20)
    judge_ok("inventory --logs: a FIFO in the log directory", out, within=15)
    assert any("pipe.log: not a regular file (a FIFO), not read" in w for w in _warnings(out)), out.stderr
    assert json.loads(out.stdout)["traffic"]["requests"] == 3


def test_symlink_to_dev_zero_in_logs_directory_is_not_read(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "good.log").write_text(_log("/api/chat", 2))
    (logs / "zero.log").symlink_to("/dev/zero")
    out = run(["inventory", "--no-ollama", "--logs", logs, "--json"], timeout=20)
    judge_ok("inventory --logs: symlink to /dev/zero in the log directory", out, within=15)
    assert any("zero.log: not a regular file (a device), not read" in w for w in _warnings(out)), out.stderr


def test_fifo_named_on_the_command_line_is_read_as_a_stream(tmp_path):
    """`--logs <(zcat old.log.gz)` hands over a pipe by name: that one is read, like `-`."""
    pipe = tmp_path / "named.log"
    os.mkfifo(pipe)

    def writer():
        with open(pipe, "w") as f:  # blocks until the inventory opens the pipe
            f.write(_log("/api/generate", 4))

    threading.Thread(target=writer, daemon=True).start()
    out = invoke(["inventory", "--no-ollama", "--logs", pipe, "--json"])
    judge_ok("inventory --logs FIFO named on the command line", out)
    assert json.loads(out.stdout)["traffic"]["by_endpoint"] == {"/api/generate": 4}


def test_huge_single_line_log_is_counted_and_named(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(_log("/api/chat", 2) + "x" * 5_000_000 + "\n" + _log("/api/chat", 1, start=10))
    out = invoke(["inventory", "--no-ollama", "--logs", logs, "--json"])
    judge_ok("inventory --logs: a 5 MB single line", out)
    assert any("a.log: 1 line longer than 1 MiB skipped (line cap)" in w for w in _warnings(out)), out.stderr
    assert json.loads(out.stdout)["traffic"]["requests"] == 3


def test_truncated_and_corrupt_gz_are_named_and_the_others_read(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(_log("/api/chat", 3))
    whole = gzip.compress(_log("/api/embed", 3000).encode())
    (logs / "b.log.gz").write_bytes(whole[: len(whole) // 2])
    (logs / "c.log.gz").write_bytes(b"this is not gzip at all\n")
    (logs / "d.log").write_text(_log("/api/generate", 2, start=30))
    out = invoke(["inventory", "--no-ollama", "--logs", logs, "--json"])
    judge_ok("inventory --logs: truncated and corrupt .gz among good logs", out)
    assert "Aborted" not in out.text()
    warned = _warnings(out)
    assert any("b.log.gz: truncated or corrupt gzip" in w and "the rest of the file skipped" in w for w in warned)
    assert any("c.log.gz: truncated or corrupt gzip (Not a gzipped file" in w for w in warned), warned
    by_endpoint = json.loads(out.stdout)["traffic"]["by_endpoint"]
    assert by_endpoint["/api/chat"] == 3 and by_endpoint["/api/generate"] == 2  # the files after b were read
    assert 0 < by_endpoint["/api/embed"] < 3000  # b's lines before the cut count


# --- 4./5. names and bytes the tool must carry safely ---------------------------------------------


def test_non_utf8_file_name(tmp_path):
    app = tmp_path / "app"
    _ollama_app(app)
    (Path(os.fsdecode(bytes(app) + b"/caf\xe9.env"))).write_text("OLLAMA_HOST=http://h:11434\n")
    inv = tmp_path / "inv.json"
    out = run(["inventory", "--no-ollama", "--code", app], timeout=20)  # the human output, a real pipe
    judge_ok("inventory --code: a file name that is not UTF-8 (human output)", out)
    assert "caf\\xe9.env:1" in out.stdout
    out = invoke(["inventory", "--no-ollama", "--code", app, "-o", inv])
    judge_ok("inventory --code: a file name that is not UTF-8 (-o)", out)
    assert "caf\\xe9.env" in {s["file"] for s in json.loads(inv.read_text(encoding="utf-8"))["code_sites"]}
    judge_ok("plan reads that inventory", invoke(["plan", "--inventory", inv]))


def test_control_characters_never_reach_terminal_or_file(tmp_path):
    app = tmp_path / "app"
    _ollama_app(app)
    (app / "README.md").write_bytes(
        b"Use ollama \x1b]0;pwned\x07 \x1b[31mred\x1b[0m \x7f del \xc2\x9b c1 \xe2\x80\xae rtl \xff bad\n"
    )
    (app / "e\x1b[2Jvil[red]x.env").write_text("OLLAMA_HOST=http://h:11434\n")
    inv = tmp_path / "inv.json"
    for args, case in (([], "human output"), (["--json"], "--json"), (["-o", inv], "-o")):
        out = invoke(["inventory", "--no-ollama", "--code", app, *args])
        judge_ok(f"inventory --code: control characters in a scanned line and a file name ({case})", out)
        for raw in ("\x1b", "\x07", "\x7f", "\x9b", "\u202e"):
            assert raw not in out.text(), (case, raw)
    human = invoke(["inventory", "--no-ollama", "--code", app]).stdout
    assert "e\\x1b[2Jvil[red]x.env:1" in human  # escaped, and rich markup printed as written
    text = inv.read_text(encoding="utf-8")
    assert not any(ch in text for ch in ("\x1b", "\x7f", "\x9b", "\u202e"))
    judge_ok("plan reads that inventory", invoke(["plan", "--inventory", inv]))


_MARKERS = [b"ollama", b"OLLAMA_HOST=", b"http://localhost:11434/api/chat", b'requests.post("', b"\xe2\x80\xa8"]


def _random_line(rng: random.Random) -> bytes:
    noise = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 60)))
    return (
        rng.choice(_MARKERS)
        + noise
        + rng.choice(_MARKERS)
        + bytes(rng.choice([0, 0x7F, 0x1B, 0x85, 0xFF]) for _ in range(3))
    )


def _random_name(rng: random.Random) -> bytes:
    alphabet = [b for b in range(1, 256) if b != ord("/")]
    return bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 12))) + rng.choice(
        [b".py", b".env", b".md", b".js"]
    )


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_random_bytes_round_trip_through_plan(tmp_path, seed):
    """Property: whatever bytes a scanned tree holds (controls, NULs past the binary probe, invalid
    UTF-8, U+2028, any file name), `inventory -o` writes a file `plan --inventory` reads."""
    rng = random.Random(seed)
    app = tmp_path / "app"
    app.mkdir()
    for _ in range(25):
        lines = [_random_line(rng) for _ in range(rng.randrange(1, 30))]
        body = b"\n".join(lines) + b"\n"
        if rng.random() < 0.3:
            body = b"#" * 9000 + b"\n\x00" + body  # a NUL after the 8 KiB binary probe
        name = os.path.join(os.fsencode(app), _random_name(rng))
        with open(name, "wb") as f:
            f.write(body)
    inv = tmp_path / "inv.json"
    out = invoke(["inventory", "--no-ollama", "--code", app, "-o", inv])
    judge_ok(f"inventory --code: random bytes (seed {seed})", out)
    doc = json.loads(inv.read_text(encoding="utf-8"))
    assert doc["code_sites"], "the markers make sites; an empty scan would prove nothing"
    judge_ok(f"plan --inventory after random bytes (seed {seed})", invoke(["plan", "--inventory", inv]))


# --- 6. logs with nothing of Ollama's -------------------------------------------------------------

NGINX = '192.168.1.5 - - [20/Feb/2025:16:34:14 +0000] "POST /api/chat HTTP/1.1" 200 512 "-" "python-requests/2.31"\n'


def test_empty_and_nginx_logs_alone_fail_the_source(tmp_path):
    (tmp_path / "empty.log").write_text("")
    (tmp_path / "nginx.log").write_text(NGINX * 5)
    out = invoke(["inventory", "--no-ollama", "--logs", tmp_path / "empty.log", "--logs", tmp_path / "nginx.log"])
    judge("inventory --logs: only an empty and an nginx log", out, 3)
    assert "0 Ollama lines recognised in" in out.stderr and "empty.log (0 lines read)" in out.stderr
    assert "nginx.log (5 lines read)" in out.stderr


def test_empty_and_nginx_logs_beside_a_good_one_are_warned(tmp_path):
    for name, text in (("empty.log", ""), ("nginx.log", NGINX), ("ollama.log", _log("/api/chat", 2))):
        (tmp_path / name).write_text(text)
    out = invoke(["inventory", "--no-ollama", "--logs", tmp_path, "--json"])
    judge_ok("inventory --logs: an empty and an nginx log beside an Ollama log", out)
    warned = _warnings(out)
    assert any("0 Ollama lines recognised in" in w and "empty.log" in w for w in warned), warned
    assert any("0 Ollama lines recognised in" in w and "nginx.log" in w for w in warned), warned
    sources = {Path(s["path"]).name: s["ok"] for s in json.loads(out.stdout)["sources"]["logs"]}
    assert sources == {"empty.log": False, "nginx.log": False, "ollama.log": True}


# --- captures and the masking itself ---------------------------------------------------------------


def test_capture_line_over_the_cap_is_counted(tmp_path, monkeypatch):
    monkeypatch.setattr(capture_mod, "MAX_LINE", 1000)
    cap = tmp_path / "cap.jsonl"
    cap.write_text("x" * 5000 + "\nnot json\n")
    out = invoke(["inventory", "--no-ollama", "--capture", cap])
    judge("inventory --capture: only an oversized and an invalid line", out, 3)
    assert "1 line longer than" in out.stderr and "1 invalid line skipped" in out.stderr


def test_capture_line_nested_too_deeply_is_an_invalid_line(tmp_path):
    cap = tmp_path / "cap.jsonl"
    cap.write_text("[" * 50_000 + "]" * 50_000 + "\n")  # json.loads: RecursionError, not ValueError
    out = invoke(["inventory", "--no-ollama", "--capture", cap])
    judge("inventory --capture: a line nested 50,000 deep", out, 3)
    assert "1 invalid line skipped" in out.stderr


@pytest.mark.parametrize("shape", ["a.", "a-", "a", "x: Bearer ", 'k="', "sk-"])
def test_masking_is_linear_on_hostile_lines(shape):
    """A scanned line is masked whole before it is cut to a snippet: 200 kB of a pathological shape
    must not take quadratic time (20 kB of `a.a.` took 6 s before; 200 kB would take ten minutes)."""
    started = time.monotonic()
    mask_text(shape * (200_000 // len(shape)))
    assert time.monotonic() - started < 1.0


def test_long_ollama_line_in_code_is_scanned_in_time(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "one_line.js").write_text('fetch("http://localhost:11434/api/chat"); ' + "a." * 450_000 + "\n")
    out = invoke(["inventory", "--no-ollama", "--code", app, "--json"])
    judge_ok("inventory --code: a 900 kB line with an Ollama call", out, within=5)
    assert len(json.loads(out.stdout)["code_sites"][0]["snippet"]) <= 200


@pytest.mark.parametrize(
    "line,expected",
    [
        ('curl -H "X-Api-Key: v4lue" http://h:11434', 'curl -H "X-Api-Key: ***" http://h:11434'),
        ('curl -H "Authorization: Bearer nodigitsatall" http://h', 'curl -H "Authorization: Bearer ***" http://h'),
        ("headers: { Authorization: `Bearer literalvalue` }", "headers: { Authorization: `Bearer ***` }"),
        ('api_key=f"{prefix}-suffix"', None),  # a string prefix, not the value
        ("Authorization: Bearer ${TOKEN}", None),  # a reference, not a secret
        ("Authorization: Bearer", None),
        ("max_tokens: 100", None),
        ("x+http://u:pw1@h/p and _http://u:pw2@h", "x+http://h/p and _http://h"),
    ],
)
def test_masking_of_the_forms_a_scan_meets(line, expected):
    assert mask_text(line) == (line if expected is None else expected)
