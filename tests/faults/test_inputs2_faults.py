"""Hostile inputs, round 2 (issue #11): FIFOs and devices as input files, garbage `--gpus`, `compat
--timeout nan`, gateway configs with non-string keys, escape sequences in aliases, nan/huge timeouts
and keys in URLs.

Every input is built here at test time. A FIFO case runs as a real process (``run`` with a timeout) so
a reader that blocks fails the case instead of hanging the suite; the writer-less FIFO cases run
side by side, each waits ``FIFO_WAIT_S`` for a writer before it fails. Pipes that do have a writer
(a FIFO with a writer thread, a pipe on stdin, bash's ``<(...)``) must still be read.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from migrate.datafiles import FIFO_WAIT_S, open_input
from migrate.errors import EXIT_FAIL, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from migrate.gateway import MAX_TIMEOUT_S
from migrate.hardware import MAX_GPUS

from ..canary_fixtures import GATEWAY, report, write
from .harness import Outcome, assert_no_secret, fingerprint, invoke, judge, judge_ok, run

ALIAS, CANDIDATE = "support-assistant-prod", "vllm-h100-a"
NO_WRITER = "a FIFO with no writer"
SECRET = "sk-abcdefghijklmnopqrstuvwx"
UNREACHABLE_URL = "http://127.0.0.1:9"
COMPAT = ["compat", "--from", "ollama", "--to", "vllm", "--from-url", UNREACHABLE_URL, "--to-url", UNREACHABLE_URL]


def _gin(second: int) -> str:
    return f'[GIN] 2025/02/20 - 10:00:{second:02d} | 200 |    1.5s |  127.0.0.1 | POST     "/api/chat"'


LOG = "\n".join(_gin(i) for i in range(3)) + "\n"


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    gw = tmp_path / "gateway.yaml"
    gw.write_text(GATEWAY)
    return {"gw": gw, "report": write(tmp_path, report(), "report.json"), "out": tmp_path / "out"}


# --- 1. a FIFO with no writer, and pipes that have one ----------------------------------------------------


def _writerless_cases(f: dict[str, Path]) -> dict[str, tuple[list, int]]:
    """Every command line that reads an input file, with ``{F}`` where the FIFO goes."""
    check = ["--alias", ALIAS, "--backend", CANDIDATE]
    return {
        "validate FIFO": (["validate", "{F}"], EXIT_USAGE),
        "plan --inventory FIFO": (["plan", "--inventory", "{F}"], EXIT_USAGE),
        "plan --profile FIFO": (["plan", "--profile", "{F}"], EXIT_USAGE),
        "generate --inventory FIFO": (
            ["generate", "--target", "vllm", "--inventory", "{F}", "--out", f["out"]],
            EXIT_USAGE,
        ),
        "generate --plan FIFO": (
            ["generate", "--target", "vllm", "--alias", "chat=llama3.1:8b", "--plan", "{F}", "--out", f["out"]],
            EXIT_USAGE,
        ),
        "compat --gateway FIFO": (["compat", "--gateway", "{F}", "--alias", "x"], EXIT_USAGE),
        "compat --cases FIFO": ([*COMPAT, "--model", "m", "--cases", "{F}"], EXIT_USAGE),
        "send --request FIFO": (
            ["send", "--protocol", "openai", "--url", UNREACHABLE_URL, "--request", "{F}"],
            EXIT_USAGE,
        ),
        # Every --logs source failed: the inventory's own rule, exit 3 (docs/inventory.md).
        "inventory --logs FIFO": (["inventory", "--no-ollama", "--logs", "{F}"], EXIT_UNREACHABLE),
        "canary --report FIFO": (["canary", "--report", "{F}"], EXIT_USAGE),
        "canary --policy FIFO": (["canary", "--report", f["report"], "--policy", "{F}"], EXIT_USAGE),
        "canary --check FIFO": (["canary", "--report", f["report"], "--check", "{F}", *check], EXIT_USAGE),
        "canary --check --base FIFO": (
            ["canary", "--report", f["report"], "--check", f["gw"], "--base", "{F}", *check],
            EXIT_USAGE,
        ),
    }


# One interpreter imports migrate once and forks a process per case, so the cases wait for their
# writer side by side without paying an interpreter start each (~8 s on two cores, now ~2 s). A case
# that hangs is killed with its process group when the driver's timeout runs out.
_FORKING_DRIVER = r"""
import json, os, sys, time
from migrate.cli import main
cases, out = json.loads(sys.argv[1]), sys.argv[2]
children = []
for i, argv in enumerate(cases):
    pid = os.fork()
    if pid == 0:
        for fd, ext in ((1, "out"), (2, "err")):
            os.dup2(os.open(os.path.join(out, f"{i}.{ext}"), os.O_WRONLY | os.O_CREAT, 0o600), fd)
        started = time.monotonic()
        try:
            main(argv, prog_name="migrate")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        with open(os.path.join(out, f"{i}.time"), "w") as fh:
            fh.write(str(time.monotonic() - started))
        os._exit(code)
    children.append(pid)
print(json.dumps([os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]))
"""


def _run_forked(cases: list[list], out: Path, timeout: float = 30) -> list[Outcome]:
    out.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", _FORKING_DRIVER, json.dumps([[str(a) for a in argv] for argv in cases]), str(out)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        codes = json.loads(proc.communicate(timeout=timeout)[0])
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        hung = [" ".join(map(str, c)) for i, c in enumerate(cases) if not (out / f"{i}.time").exists()]
        raise AssertionError(f"hung, killed after {timeout} s: {hung}") from None
    return [
        Outcome(
            code, (out / f"{i}.out").read_text(), (out / f"{i}.err").read_text(), float((out / f"{i}.time").read_text())
        )
        for i, code in enumerate(codes)
    ]


def test_every_input_on_a_fifo_without_writer_fails_fast(tmp_path, files):
    cases = _writerless_cases(files)
    fifos = {}
    for i, name in enumerate(cases):
        fifos[name] = tmp_path / f"fifo{i}"
        os.mkfifo(fifos[name])
    before = {name: fingerprint(p) for name, p in fifos.items()}
    argvs = [[fifos[name] if a == "{F}" else a for a in argv] for name, (argv, _) in cases.items()]
    for (name, (_, code)), out in zip(cases.items(), _run_forked(argvs, tmp_path / "outcomes")):
        judge(f"{name} (no writer) -> exit {code}, no hang", out, code, within=FIFO_WAIT_S + 5)
        assert NO_WRITER in out.stderr, (name, out.stderr)
        assert fingerprint(fifos[name]) == before[name]  # read from, never replaced or removed


GW_PADDED = GATEWAY + "".join(f"# comment line {i:06d} padding the file past one pipe buffer\n" for i in range(4000))


def test_fifo_with_a_writer_thread_is_read_as_it_comes(tmp_path):
    fifo = tmp_path / "gw.fifo"
    os.mkfifo(fifo)
    # Held open by the test, a read end lets the writer open at once (no race on who opens first);
    # the writer then streams ~250 KB, more than a pipe holds, so it writes while migrate reads.
    keep = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(fifo, os.O_WRONLY)
    assert len(GW_PADDED.encode()) > 2 * 65536  # a Linux pipe holds 64 KiB

    def write_all():
        with os.fdopen(writer, "wb") as w:
            w.write(GW_PADDED.encode())

    thread = threading.Thread(target=write_all, daemon=True)
    thread.start()
    try:
        out = run(["validate", fifo], timeout=20)
    finally:
        os.close(keep)
    thread.join(timeout=5)
    judge_ok("validate FIFO with a writer thread -> read, valid", out)
    assert out.stdout.strip() == f"{fifo}: valid"


def test_a_writer_that_opens_after_the_reader_is_waited_for(tmp_path):
    """`mkfifo p; migrate validate p & cat gw.yaml > p`: the reader may open first."""
    fifo = tmp_path / "late.fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    with open_input(fifo) as raw:  # no writer yet: the open itself must not block

        def late_writer():
            with open(fifo, "w") as w:
                w.write("models: {}\n")

        threading.Thread(target=late_writer, daemon=True).start()
        assert raw.read() == b"models: {}\n"
    assert time.monotonic() - started < FIFO_WAIT_S + 5


def test_a_pipe_on_stdin_is_read(tmp_path, files):
    r, w = os.pipe()
    os.write(w, GATEWAY.encode())  # fits the pipe buffer; the writer is done before migrate starts
    os.close(w)
    try:
        out = run(["validate", "/dev/stdin"], stdin=r, timeout=20)
    finally:
        os.close(r)
    judge_ok("validate /dev/stdin (a pipe) -> read, valid", out)
    assert out.stdout.strip() == "/dev/stdin: valid"


def _bash(script: str, *args: str | Path, timeout: float = 20) -> Outcome:
    """``python -m migrate`` started by bash, so ``<(...)`` is bash's own process substitution."""
    started = time.monotonic()
    proc = subprocess.run(
        ["bash", "-c", script, "bash", sys.executable, *map(str, args)],
        capture_output=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Outcome(proc.returncode, proc.stdout.decode(), proc.stderr.decode(), time.monotonic() - started)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for <(...)")
def test_process_substitution_still_works(tmp_path, files):
    logs = tmp_path / "old.log.gz"
    logs.write_bytes(gzip.compress(LOG.encode()))
    inventory = tmp_path / "inv.json"
    inventory.write_text(json.dumps({"models": []}))
    out = _bash(
        'set -e; "$1" -m migrate validate <(cat "$2")'
        '; "$1" -m migrate plan --gpus 2xRTX4090 --inventory <(cat "$3") --format json'
        '; "$1" -m migrate inventory --no-ollama --logs <(gzip -dc "$4") --json',
        files["gw"],
        inventory,
        logs,
    )
    judge_ok("validate / plan --inventory / inventory --logs on <(...) -> read", out)
    first, rest = out.stdout.split("\n", 1)
    assert first.startswith("/dev/fd/") and first.endswith(": valid"), out.stdout
    decoder = json.JSONDecoder()
    plan, end = decoder.raw_decode(rest)
    inventory_doc = json.loads(rest[end:])
    assert plan["inputs"]["gpus"]["value"] == "2xRTX4090"
    assert inventory_doc["traffic"]["requests"] == 3


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["validate", "/dev/zero"], "not a regular file (a device)"),
        (["plan", "--profile", "/dev/zero"], "not a regular file (a device)"),
        (["canary", "--report", "/dev/zero"], "not a regular file (a device)"),
        ([*COMPAT, "--model", "m", "--cases", "/dev/zero"], "cannot read case file /dev/zero: not a regular file"),
        ([*COMPAT, "--model", "m", "--cases", "{tmp}/absent.yaml"], "absent.yaml: no such file or directory"),
    ],
    ids=lambda v: " ".join(map(str, v)) if isinstance(v, list) else None,
)
def test_devices_are_refused_by_their_type(tmp_path, argv, reason):
    out = invoke([str(a).replace("{tmp}", str(tmp_path)) for a in argv])
    judge(f"{' '.join(argv[:3])} ... {argv[-1]} -> exit 2", out, EXIT_USAGE)
    assert reason in out.stderr


# --- 2. --gpus ---------------------------------------------------------------------------------------------

GENERATE = ["generate", "--target", "vllm", "--alias", "chat=llama3.1:8b"]


def test_a_huge_gpu_count_is_refused_without_a_search(tmp_path):
    out = run([*GENERATE, "--gpus", "99999999999xH100", "--out", tmp_path / "g"], timeout=20)
    judge("generate --gpus 99999999999xH100 -> exit 2, no hang", out, EXIT_USAGE)
    assert f"the GPU count must be a whole number from 1 to {MAX_GPUS:,}" in out.stderr
    assert not (tmp_path / "g").exists()


def test_a_plan_with_a_huge_gpu_count_searches_a_bounded_tp(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("first: {engine: vllm}\nsecond: {engine: sglang}\ninputs: {gpu_count: {value: 99999999999}}\n")
    out = run([*GENERATE, "--plan", plan, "--out", tmp_path / "g"], timeout=20)
    judge_ok("generate --plan with gpu_count 99999999999 -> tensor parallel searched up to 64", out)
    assert "tp 32" in out.stdout  # llama3.1:8b: 32 heads, 8 KV heads


@pytest.mark.parametrize(
    "spec, message",
    [
        ("-1xH100", "whole number from 1 to"),
        ("0xH100", "whole number from 1 to"),
        (f"{MAX_GPUS + 1}xH100", "whole number from 1 to"),
        ("nanxH100", "whole number from 1 to"),
        ("1.5xH100", "whole number from 1 to"),
        ("1" * 5000 + "xH100", "whole number from 1 to"),
        ("1x", "expected [COUNTx]MODEL"),
        ("x", "expected [COUNTx]MODEL"),
        ("  ", "expected [COUNTx]MODEL"),
        ("1x\x1b[31mH100", "expected [COUNTx]MODEL"),
        ("2xH100\u2028x", "expected [COUNTx]MODEL"),
        ("8", "expected [COUNTx]MODEL"),
    ],
    ids=repr,
)
@pytest.mark.parametrize("command", ["generate", "plan"])
def test_garbage_gpus_is_exit_2_with_the_value_escaped(tmp_path, command, spec, message):
    argv = [*GENERATE, "--out", tmp_path / "g"] if command == "generate" else ["plan"]
    out = invoke([*argv, "--gpus", spec])
    judge(f"{command} --gpus {spec[:20]!r} -> exit 2", out, EXIT_USAGE)
    assert message in out.stderr
    assert "\x1b" not in out.stderr and "\u2028" not in out.stderr
    assert len(out.stderr) < 400  # a 5000-digit count is cut, not echoed


def test_the_largest_gpu_count_still_generates(tmp_path):
    out = invoke([*GENERATE, "--gpus", f"{MAX_GPUS}xH100", "--out", tmp_path / "g"])
    judge_ok(f"generate --gpus {MAX_GPUS}xH100 -> written", out)
    assert "tp 32" in out.stdout


# --- 3. compat --timeout -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "NaN", "-nan"])
def test_compat_timeout_nan_is_exit_2(value):
    out = invoke([*COMPAT, "--model", "m", "--timeout", value])
    judge(f"compat --timeout {value} -> exit 2", out, EXIT_USAGE)
    assert "--timeout: must be a positive number of seconds, not nan" in out.stderr


# --- 4 and 5. gateway configs: keys, names, timeouts, weights, URLs --------------------------------------


def _gateway(alias: str = "chat", timeout: str = "90", url: str = "http://127.0.0.1:11434", weight: str = "100") -> str:
    return (
        f"models:\n  {alias}:\n    default_timeout_seconds: {timeout}\n    backends:\n"
        f'      - {{name: ollama, weight: {weight}, base_url: "{url}"}}\n'
    )


HOSTILE_GATEWAYS = {
    "alias key that is a list": ("models:\n  ? [a, b]\n  : backends: []\n", "a list used as a key"),
    "alias key that is a mapping": ("models:\n  ? {a: 1}\n  : backends: []\n", "a mapping used as a key"),
    "a mapping key inside a key": ("models:\n  ? {a: [b]}: 1\n  : backends: []\n", "invalid YAML"),
    "alias key that is a number": (_gateway(alias="12"), "key 12 is a number (quote it)"),
    "backend key that is null": (_gateway().replace("{name:", "{null: 1, name:"), "key None is null"),
    "alias with an OSC title sequence": (_gateway(alias='"ch\\e]0;pwn\\aat"'), "contains control"),
    "alias with ANSI colours": (_gateway(alias='"\\e[31mred"'), "contains control"),
    "alias with a line separator": (_gateway(alias='"a\\Lb"'), "contains control or line-separator"),
    "backend name with ESC": (_gateway().replace("name: ollama", 'name: "ol\\elama"'), "name: 'ol\\x1blama'"),
    "timeout .nan": (_gateway(timeout=".nan"), "got nan"),
    "timeout 1e26": (_gateway(timeout="99999999999999999999999999"), "got 1e+26"),
    "timeout over the cap": (_gateway(timeout=str(MAX_TIMEOUT_S + 1)), f"up to {MAX_TIMEOUT_S}"),
    "extra timeout .inf": (_gateway().replace("    backends", "    read_timeout: .inf\n    backends"), "got inf"),
    "weight 100.0": (_gateway(weight="100.0"), "must be written as a whole number (100)"),
}


@pytest.mark.parametrize("name", HOSTILE_GATEWAYS)
def test_hostile_gateway_is_invalid_not_valid_nor_a_crash(tmp_path, name):
    text, problem = HOSTILE_GATEWAYS[name]
    gw = tmp_path / "gw.yaml"
    gw.write_text(text)
    out = invoke(["validate", gw])
    judge_ok(f"validate: {name} -> exit 1", out, code=EXIT_FAIL)
    assert problem in out.stdout, out.stdout
    assert not any(c in out.text() for c in "\x1b\x07\u2028"), out.text()
    as_json = invoke(["validate", "--json", gw])
    judge_ok(f"validate --json: {name} -> exit 1", as_json, code=EXIT_FAIL)
    assert json.loads(as_json.stdout)["valid"] is False


def test_the_timeout_cap_itself_is_valid(tmp_path):
    gw = tmp_path / "gw.yaml"
    gw.write_text(_gateway(timeout=str(MAX_TIMEOUT_S)))
    out = invoke(["validate", gw])
    judge_ok(f"validate: timeout {MAX_TIMEOUT_S} -> valid", out)


@pytest.mark.parametrize(
    "url",
    [
        f"http://127.0.0.1:11434?api_key={SECRET}",
        f"http://127.0.0.1:8000/v1#{SECRET}",
        f"http://127.0.0.1:8000/v1?token=hunter2{SECRET[3:]}",
    ],
    ids=["query api_key", "fragment", "query of another name"],
)
def test_a_key_in_a_base_url_is_never_printed(tmp_path, url):
    gw = tmp_path / "gw.yaml"
    gw.write_text(_gateway(url=url))
    for argv in (["validate", gw], ["validate", "--json", gw]):
        out = invoke(argv)
        judge_ok(f"{' '.join(map(str, argv[:2]))}: base_url with a key -> exit 1, key not shown", out, code=EXIT_FAIL)
        assert "has a query or fragment (not shown)" in out.stdout
        assert_no_secret([SECRET, SECRET[3:]], out)


def test_canary_check_reads_the_gateway_through_the_same_validation(tmp_path, files):
    gw = tmp_path / "pr.yaml"
    gw.write_text(GATEWAY.replace(ALIAS, '"support\\e]0;pwn\\a"'))
    check = ["canary", "--report", files["report"], "--check", gw, "--alias", ALIAS, "--backend", CANDIDATE]
    out = invoke(check)
    judge("canary --check on a gateway with an escape in an alias -> exit 1", out, EXIT_FAIL)
    assert "does not validate" in out.stderr and "\x1b" not in out.text()
    gw.write_text(GATEWAY.replace("default_timeout_seconds: 90", "default_timeout_seconds: .nan"))
    out = invoke(check)
    judge("canary --check on a gateway with a nan timeout -> exit 1", out, EXIT_FAIL)
    assert "got nan" in out.stderr


@pytest.mark.parametrize(
    "policy, where",
    [
        ("latency: {critical_ratio: .nan}", "latency.critical_ratio"),
        ("scoring: {thresholds: {pass: .nan}}", "scoring.thresholds.pass"),
        ("latency: {limits: {ttft_p95: {max_ratio: .inf}}}", "latency.limits.ttft_p95.max_ratio"),
    ],
)
def test_canary_policy_nan_is_exit_2(tmp_path, files, policy, where):
    p = tmp_path / "policy.yaml"
    p.write_text(policy + "\n")
    out = invoke(["canary", "--report", files["report"], "--policy", p])
    judge(f"canary --policy {policy} -> exit 2", out, EXIT_USAGE)
    assert f"{where}: must be a finite number" in out.stderr


def test_a_plan_with_an_infinite_size_is_exit_2(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("first: {engine: vllm}\nsecond: {engine: sglang}\ninputs: {gpu_count: {value: .inf}}\n")
    out = invoke([*GENERATE, "--plan", plan, "--out", tmp_path / "g"])
    judge("generate --plan with gpu_count .inf -> exit 2", out, EXIT_USAGE)
    assert "inputs.gpu_count: expected a finite non-negative number, got inf" in out.stderr


def test_fixture_gateway_is_valid(files):
    # The hostile cases above are variations of these: the base must be valid for them to mean anything.
    judge_ok("validate the fixture gateway -> valid", invoke(["validate", files["gw"]]), code=EXIT_OK)
