"""The fault matrix's one way to run `migrate` and judge the outcome.

Every hostile input is judged the same way: the documented exit code, exactly one ``error:`` line on
stderr, no traceback, finished within a stated time, no output file damaged, no planted secret in any
output. ``invoke`` runs in-process (fast); ``run`` starts a real process, for cases that could hang
(a FIFO, a stalled server) or that need real file descriptors (``> /dev/full``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from migrate.cli import main

# The matrix records every case it judged, so docs/faults.md can state its counts.
JUDGED: list[str] = []


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def text(self) -> str:
        return self.stdout + "\n" + self.stderr


def invoke(args: list[str], *, input: str | bytes | None = None, env: dict | None = None) -> Outcome:
    """In-process run; an escaped exception lands in ``stderr`` as a traceback so judging fails."""
    started = time.monotonic()
    result = CliRunner().invoke(main, [str(a) for a in args], input=input, env=env, catch_exceptions=True)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return Outcome(result.exit_code, result.stdout, stderr, time.monotonic() - started)


def run(
    args: list[str],
    *,
    timeout: float = 30.0,
    stdin=None,
    stdout=None,
    env: dict | None = None,
    cwd: str | os.PathLike | None = None,
) -> Outcome:
    """A real ``python -m migrate`` process, killed (and the case failed) when it outlives ``timeout``."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "migrate", *map(str, args)],
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=stdout if stdout is not None else subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"migrate {' '.join(map(str, args))} hung: killed after {timeout} s") from exc
    out = proc.stdout.decode("utf-8", "replace") if isinstance(proc.stdout, bytes) else ""
    return Outcome(proc.returncode, out, proc.stderr.decode("utf-8", "replace"), time.monotonic() - started)


def judge(case: str, outcome: Outcome, code: int, *, within: float = 10.0, stdout_ok: bool = False) -> None:
    """The documented exit code, one ``error:`` line on stderr and nothing else there, no traceback,
    within ``within`` seconds. ``stdout_ok`` allows a document on stdout (``--json`` modes)."""
    JUDGED.append(case)
    where = f"{case}: exit {outcome.code}, stderr={outcome.stderr!r}, stdout={outcome.stdout[:300]!r}"
    assert "Traceback" not in outcome.text(), where
    assert outcome.code == code, where
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, where
    if not stdout_ok and outcome.stdout.strip():
        # A --json mode keeps its promise of one document on stdout: the error document, nothing else.
        try:
            document = json.loads(outcome.stdout)
        except ValueError:
            raise AssertionError(f"stdout is neither empty nor one JSON document: {where}") from None
        assert set(document) == {"error", "exit_code"} and document["exit_code"] == code, where
    assert outcome.seconds < within, f"{case}: took {outcome.seconds:.1f} s (budget {within} s)"


def judge_ok(case: str, outcome: Outcome, *, code: int = 0, within: float = 10.0) -> None:
    """A hostile input the tool handles (writes into a FIFO, skips a device, masks a secret): the
    expected exit code, no traceback, in time. Warnings on stderr are fine."""
    JUDGED.append(case)
    where = f"{case}: exit {outcome.code}, stderr={outcome.stderr[-800:]!r}"
    assert "Traceback" not in outcome.text(), where
    assert outcome.code == code, where
    assert outcome.seconds < within, f"{case}: took {outcome.seconds:.1f} s (budget {within} s)"


def fingerprint(path: str | os.PathLike) -> tuple:
    """What must not change about a file we were told not to damage: type, mode, link target, bytes."""
    p = Path(path)
    st = os.lstat(p)
    link = os.readlink(p) if p.is_symlink() else None
    digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else None
    return (st.st_mode, link, digest)


def assert_no_secret(secrets: list[str], *outputs: str | os.PathLike | Outcome) -> None:
    """No planted secret in any stdout/stderr or any file (directories are walked)."""
    for item in outputs:
        if isinstance(item, Outcome):
            texts = [("stdout", item.stdout), ("stderr", item.stderr)]
        elif isinstance(item, str) and not os.path.exists(item):
            texts = [("text", item)]
        else:
            root = Path(item)
            files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
            texts = [(str(p), p.read_bytes().decode("utf-8", "replace")) for p in files]
        for where, text in texts:
            for secret in secrets:
                assert secret not in text, f"planted secret {secret[:6]}... leaked into {where}"
