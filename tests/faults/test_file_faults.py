"""Hostile output targets: devices, FIFOs, symlinks, read-only and immutable files, unwritable
directories, a full disk (simulated), a full or closed stdout, and two `canary --apply` at once.

Every target is built here, in tmp_path, at test time. /dev/null itself is never a replace target: it
is reached only through a symlink in tmp_path (a buggy writer would replace the link, not the device)
or as a mknod copy when running as root.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from migrate import fsutil
from migrate.canary import load_policy
from migrate.canary.apply import apply
from migrate.errors import EXIT_FAIL, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE
from tests.canary_fixtures import GATEWAY, report, write
from tests.faults.harness import fingerprint, invoke, judge, judge_ok, run

ALIAS, CANDIDATE = "support-assistant-prod", "vllm-h100-a"
IS_ROOT = os.geteuid() == 0


# --- helpers -----------------------------------------------------------------------------------------


def _strays(*dirs: Path) -> list[str]:
    """Temp files, temp directories and backups the writer may have left behind."""
    found = []
    for d in dirs:
        for p in d.iterdir():
            if p.name.endswith((".tmp", ".bak")) or (p.name.startswith(".") and p.is_dir()):
                found.append(str(p))
    return found


def _gateway(directory: Path, name: str = "gateway.yaml", mode: int = 0o644) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    p = directory / name
    p.write_text(GATEWAY, encoding="utf-8")
    os.chmod(p, mode)
    return p


def _apply_args(report_path: Path, gw: Path, *extra: str) -> list[str]:
    return ["canary", "--report", report_path, "--apply", gw, "--alias", ALIAS, "--backend", CANDIDATE, *extra]


def _weight(gw: Path) -> int:
    backends = yaml.safe_load(gw.read_text())["models"][ALIAS]["backends"]
    return next(b["weight"] for b in backends if b["name"] == CANDIDATE)


def _mknod_char(path: Path, major: int, minor: int) -> Path:
    """A character device node in tmp_path (root only), so no real /dev entry is ever a target."""
    if not IS_ROOT:
        pytest.skip("mknod of a character device needs root")
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
    except OSError as exc:
        pytest.skip(f"mknod not permitted here ({exc.strerror})")
    return path


class FifoReader:
    """A reader that holds the FIFO open BEFORE migrate opens it (so the non-blocking open finds a
    reader, no race) and collects everything until migrate closes it. A dummy write end keeps the read
    blocking instead of hitting end-of-file before migrate's write end exists."""

    def __init__(self, fifo: Path):
        self.fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        os.set_blocking(self.fd, True)
        self.dummy = os.open(fifo, os.O_WRONLY)
        self.data = bytearray()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while chunk := os.read(self.fd, 65536):
            self.data += chunk

    def close(self) -> bytes:
        os.close(self.dummy)  # the last writer gone: the reader sees end-of-file after draining
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "FIFO reader did not finish"
        os.close(self.fd)
        return bytes(self.data)


@pytest.fixture
def healthy(tmp_path):
    return write(tmp_path, report(), "report.json")


# --- devices and FIFOs: written into, never replaced -------------------------------------------------


def test_plan_output_into_a_fifo_with_a_reader_writes_through(tmp_path):
    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)
    before = fingerprint(fifo)
    reader = FifoReader(fifo)
    try:
        out = invoke(["plan", "--gpus", "1xH100", "--format", "json", "-o", fifo])
    finally:
        received = reader.close()
    judge_ok("plan -o FIFO with a reader -> written into it", out)
    assert json.loads(received) == json.loads(out.stdout)
    assert fingerprint(fifo) == before and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert _strays(tmp_path) == []


def test_write_atomic_into_a_fifo_waits_for_a_slow_reader(tmp_path):
    # 4 MiB is far beyond a pipe's buffer: the write blocks on the reader, as `>` does, and completes.
    fifo = tmp_path / "big.fifo"
    os.mkfifo(fifo)
    payload = os.urandom(4 << 20)
    before = fingerprint(fifo)
    reader = FifoReader(fifo)
    try:
        fsutil.write_atomic(fifo, payload, mode=fsutil.EXECUTABLE)
    finally:
        received = reader.close()
    assert received == payload
    assert fingerprint(fifo) == before  # still a FIFO, and no mode applied to it


def test_fifo_without_a_reader_fails_at_once_instead_of_hanging(tmp_path):
    fifo = tmp_path / "nobody.fifo"
    os.mkfifo(fifo, 0o644)
    before = fingerprint(fifo)
    out = run(["plan", "--gpus", "1xH100", "-o", fifo], timeout=15)
    judge("plan -o FIFO without a reader -> exit 2, no hang", out, EXIT_USAGE, within=10, stdout_ok=True)
    assert "no process is reading it" in out.stderr
    assert fingerprint(fifo) == before and _strays(tmp_path) == []


def test_symlink_to_dev_null_writes_into_the_device_and_keeps_the_link(tmp_path):
    link = tmp_path / "out.json"
    link.symlink_to("/dev/null")  # if the writer replaced it, only this link would go
    before = fingerprint(link)
    out = invoke(["plan", "--gpus", "1xH100", "-o", link])
    judge_ok("plan -o link->/dev/null -> written into the device", out)
    assert fingerprint(link) == before
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert _strays(tmp_path) == []


def test_char_device_copy_of_dev_null_is_written_into_not_replaced(tmp_path):
    dev = _mknod_char(tmp_path / "null", 1, 3)
    before = fingerprint(dev)
    for args in (
        ["plan", "--gpus", "1xH100", "-o", dev],
        ["inventory", "--no-ollama", "--code", Path(__file__).parent.parent / "fixtures/code/app", "-o", dev],
    ):
        out = invoke(args)
        judge_ok(f"{args[0]} -o char device (mknod 1,3) -> written into it", out)
        assert fingerprint(dev) == before and stat.S_ISCHR(os.lstat(dev).st_mode)
    assert _strays(tmp_path) == []


def test_char_device_copy_of_dev_full_is_one_error_line(tmp_path):
    dev = _mknod_char(tmp_path / "full", 1, 7)
    before = fingerprint(dev)
    out = invoke(["plan", "--gpus", "1xH100", "-o", dev])
    judge("plan -o char device (mknod 1,7 = /dev/full) -> exit 2", out, EXIT_USAGE, stdout_ok=True)
    assert f"cannot write {dev}: No space left on device" in out.stderr
    assert fingerprint(dev) == before and _strays(tmp_path) == []


def test_compat_report_writer_follows_a_link_to_a_device(tmp_path):
    from migrate.report import write_json
    from tests.report_fixtures import passing_report

    link = tmp_path / "report.json"
    link.symlink_to("/dev/null")
    before = fingerprint(link)
    write_json(passing_report(), link)  # compat --json FILE's writer
    assert fingerprint(link) == before and _strays(tmp_path) == []


# --- symlinks --------------------------------------------------------------------------------------------


def test_output_symlink_writes_the_target_and_keeps_the_link(tmp_path):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    target = real_dir / "plan.json"
    target.write_text("old\n")
    link = tmp_path / "plan.json"
    link.symlink_to(target)
    link_before = fingerprint(link)
    out = invoke(["plan", "--gpus", "1xH100", "--format", "json", "-o", link])
    judge_ok("plan -o symlink -> the target is written, the link stays", out)
    assert fingerprint(link) == link_before
    assert json.loads(target.read_text()) == json.loads(out.stdout)
    assert _strays(tmp_path) == [] and _strays(real_dir) == []


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "inv.json"
    link.symlink_to(tmp_path / "made.json")
    before = fingerprint(link)
    out = invoke(["plan", "--gpus", "1xH100", "-o", link])
    judge_ok("plan -o dangling symlink -> its target is created", out)
    assert fingerprint(link) == before and (tmp_path / "made.json").is_file()
    assert stat.S_IMODE((tmp_path / "made.json").stat().st_mode) == fsutil.PUBLIC


def test_dangling_symlink_into_a_missing_directory_is_one_line(tmp_path):
    link = tmp_path / "out.json"
    link.symlink_to(tmp_path / "no" / "such" / "dir" / "x.json")
    before = fingerprint(link)
    out = invoke(["plan", "--gpus", "1xH100", "-o", link])
    judge("plan -o link into a missing directory -> exit 2", out, EXIT_USAGE, stdout_ok=True)
    assert fingerprint(link) == before and _strays(tmp_path) == []


def test_symlink_loop_is_one_line(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    out = invoke(["plan", "--gpus", "1xH100", "-o", tmp_path / "a"])
    judge("plan -o symlink loop -> exit 2", out, EXIT_USAGE, stdout_ok=True)
    assert "symbolic links" in out.stderr


def test_canary_apply_through_a_symlink_edits_the_target(tmp_path, healthy):
    gw = _gateway(tmp_path / "repo")
    link = tmp_path / "gateway.yaml"
    link.symlink_to(gw)
    link_before = fingerprint(link)
    out = invoke(_apply_args(healthy, link))
    judge_ok("canary --apply symlink -> the target is edited", out)
    assert fingerprint(link) == link_before
    assert _weight(gw) == 10
    assert (gw.parent / "gateway.yaml.bak").read_text() == GATEWAY  # next to the real file
    assert _strays(tmp_path) == [] and sorted(p.name for p in gw.parent.iterdir()) == [
        "gateway.yaml",
        "gateway.yaml.bak",
    ]


# --- read-only, immutable, unwritable -----------------------------------------------------------------


def test_canary_apply_keeps_the_mode_for_the_file_and_its_backup(tmp_path, healthy):
    gw = _gateway(tmp_path, mode=0o644)
    out = invoke(_apply_args(healthy, gw))
    judge_ok("canary --apply 0644 file -> edited, file and .bak stay 0644", out)
    assert stat.S_IMODE(gw.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "gateway.yaml.bak").stat().st_mode) == 0o644


def test_canary_apply_refuses_a_read_only_file(tmp_path, healthy):
    # Checked on the mode bits: as root a 0444 file would be writable.
    gw = _gateway(tmp_path, mode=0o444)
    before = fingerprint(gw)
    out = invoke(_apply_args(healthy, gw))
    judge("canary --apply 0444 file -> refused, exit 2", out, EXIT_USAGE)
    assert "read-only (mode 0444)" in out.stderr
    assert fingerprint(gw) == before and _strays(tmp_path) == []


def test_plan_output_refuses_a_read_only_file(tmp_path):
    target = tmp_path / "plan.json"
    target.write_text("keep\n")
    os.chmod(target, 0o444)
    before = fingerprint(target)
    out = invoke(["plan", "--gpus", "1xH100", "-o", target])
    judge("plan -o 0444 file -> refused, exit 2", out, EXIT_USAGE, stdout_ok=True)
    assert fingerprint(target) == before and _strays(tmp_path) == []


@pytest.fixture
def immutable(tmp_path, monkeypatch):
    """An immutable gateway file: `chattr +i` when we may, else os.replace fails as it then would."""
    gw = _gateway(tmp_path)
    chattr = shutil.which("chattr")
    real = bool(IS_ROOT and chattr and subprocess.run([chattr, "+i", gw], capture_output=True).returncode == 0)
    if not real:
        real_replace = os.replace

        def refuse(src, dst):
            if Path(dst) == gw:
                raise PermissionError(errno.EPERM, os.strerror(errno.EPERM), str(dst))
            return real_replace(src, dst)

        monkeypatch.setattr(fsutil.os, "replace", refuse)
    yield gw
    if real:
        subprocess.run([chattr, "-i", gw], check=True)


def test_canary_apply_on_an_immutable_file_leaves_no_backup(tmp_path, healthy, immutable):
    before = fingerprint(immutable)
    out = invoke(_apply_args(healthy, immutable))
    judge("canary --apply immutable file -> exit 2, no stray .bak", out, EXIT_USAGE)
    assert "Operation not permitted" in out.stderr
    assert fingerprint(immutable) == before and _strays(tmp_path) == []


@pytest.fixture
def unwritable_dir(tmp_path, monkeypatch):
    """A 0555 directory. Root writes there anyway, so creating a file in it is made to fail as it
    would for anyone else."""
    d = tmp_path / "locked"
    gw = _gateway(d)
    os.chmod(d, 0o555)
    real_mkstemp = fsutil.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == d:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(fsutil.tempfile, "mkstemp", mkstemp)
    yield d, gw
    os.chmod(d, 0o755)


def test_canary_apply_in_an_unwritable_directory_is_one_line(healthy, unwritable_dir):
    d, gw = unwritable_dir
    before = fingerprint(gw)
    out = invoke(_apply_args(healthy, gw))
    judge("canary --apply in a 0555 directory -> exit 2", out, EXIT_USAGE)
    assert f"cannot write {gw}: Permission denied" in out.stderr
    assert fingerprint(gw) == before and _strays(d) == []


def test_plan_output_in_an_unwritable_directory_is_one_line(unwritable_dir):
    d, _ = unwritable_dir
    out = invoke(["plan", "--gpus", "1xH100", "-o", d / "plan.json"])
    judge("plan -o into a 0555 directory -> exit 2", out, EXIT_USAGE, stdout_ok=True)
    assert not (d / "plan.json").exists() and _strays(d) == []


# --- a full disk ---------------------------------------------------------------------------------------


def _disk_full_after(monkeypatch, good_writes: int) -> None:
    """The n+1-th fsync of a file fails with ENOSPC, as a full disk reports it."""
    calls = {"n": 0}

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] > good_writes:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fsutil.os, "fsync", fsync)


@pytest.mark.parametrize("good_writes", [0, 1])  # the new file's write, then the backup's
def test_canary_apply_on_a_full_disk_leaves_the_file_and_no_strays(tmp_path, healthy, monkeypatch, good_writes):
    gw = _gateway(tmp_path)
    before = fingerprint(gw)
    _disk_full_after(monkeypatch, good_writes)
    out = invoke(_apply_args(healthy, gw))
    judge(f"canary --apply, disk full after {good_writes} writes -> exit 2", out, EXIT_USAGE)
    assert "No space left on device" in out.stderr
    assert fingerprint(gw) == before and _strays(tmp_path) == []


def test_plan_output_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "plan.json"
    target.write_text("previous plan\n")
    before = fingerprint(target)
    _disk_full_after(monkeypatch, 0)
    out = invoke(["plan", "--gpus", "1xH100", "-o", target])
    judge("plan -o, disk full -> exit 2, old file intact", out, EXIT_USAGE, stdout_ok=True)
    assert fingerprint(target) == before and _strays(tmp_path) == []


GENERATE = ["generate", "--target", "vllm", "--alias", "a=llama3.1:8b", "--alias", "b=qwen3:8b", "--out"]


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): fingerprint(p) for p in sorted(root.rglob("*"))}


def test_generate_on_a_full_disk_writes_nothing(tmp_path, monkeypatch):
    out_dir = tmp_path / "new" / "parents" / "gen"
    _disk_full_after(monkeypatch, 6)  # the 7th file fails: the defect left 7 of 11 files behind
    out = invoke([*GENERATE, out_dir])
    judge("generate --out NEW, disk full mid-tree -> exit 2, no directory", out, EXIT_USAGE)
    assert "nothing was written" in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_generate_on_a_full_disk_leaves_an_existing_tree_as_it_was(tmp_path, monkeypatch):
    out_dir = tmp_path / "gen"
    judge_ok("generate --out NEW", invoke([*GENERATE, out_dir]))
    (out_dir / "mine.txt").write_text("user file\n")
    before = _tree(out_dir)
    _disk_full_after(monkeypatch, 6)
    out = invoke(["generate", "--target", "sglang", "--alias", "a=llama3.1:8b", "--out", out_dir])
    judge("generate --out EXISTING, disk full mid-tree -> exit 2, tree unchanged", out, EXIT_USAGE)
    assert _tree(out_dir) == before and _strays(tmp_path) == []


def test_generate_over_an_existing_tree_replaces_its_files(tmp_path):
    out_dir = tmp_path / "gen"
    judge_ok("generate --out NEW", invoke([*GENERATE, out_dir]))
    (out_dir / "mine.txt").write_text("user file\n")
    out = invoke(["generate", "--target", "sglang", "--alias", "a=llama3.1:8b", "--out", out_dir])
    judge_ok("generate --out EXISTING -> files replaced, others kept", out)
    assert "sglang" in (out_dir / "a" / "launch.sh").read_text()
    assert (out_dir / "mine.txt").read_text() == "user file\n" and _strays(tmp_path) == []
    assert stat.S_IMODE((out_dir / "a" / "launch.sh").stat().st_mode) == fsutil.EXECUTABLE


def test_generate_over_a_tree_whose_gateway_is_a_symlink_writes_the_target(tmp_path):
    out_dir = tmp_path / "gen"
    judge_ok("generate --out NEW", invoke([*GENERATE, out_dir]))
    repo = tmp_path / "repo"
    repo.mkdir()
    (out_dir / "gateway.yaml").rename(repo / "gateway.yaml")
    (out_dir / "gateway.yaml").symlink_to(repo / "gateway.yaml")
    link_before = fingerprint(out_dir / "gateway.yaml")
    out = invoke(["generate", "--target", "sglang", "--alias", "a=llama3.1:8b", "--out", out_dir])
    judge_ok("generate --out EXISTING with gateway.yaml a symlink -> the target is written", out)
    assert fingerprint(out_dir / "gateway.yaml") == link_before
    assert "sglang" in (repo / "gateway.yaml").read_text() and _strays(repo) == []


@pytest.mark.parametrize("kind", ["device link", "through a file", "read-only file inside"])
def test_generate_onto_an_impossible_out_is_one_line(tmp_path, kind):
    if kind == "device link":
        out_dir = tmp_path / "out"
        out_dir.symlink_to("/dev/null")
    elif kind == "through a file":
        (tmp_path / "file").write_text("x")
        out_dir = tmp_path / "file" / "out"
    else:
        out_dir = tmp_path / "out"
        out_dir.mkdir()
        (out_dir / "gateway.yaml").write_text("mine\n")
        os.chmod(out_dir / "gateway.yaml", 0o444)
    before = _tree(tmp_path)
    out = invoke([*GENERATE, out_dir])
    judge(f"generate --out {kind} -> exit 2", out, EXIT_USAGE)
    assert _tree(tmp_path) == before


# --- stdout: full, closed --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "--gpus", "1xH100"],
        ["inventory", "--no-ollama", "--code", Path(__file__).parent.parent / "fixtures/code/app", "--json"],
    ],
    ids=["plan", "inventory --json"],
)
def test_stdout_on_a_full_device_is_one_line(args):
    with open("/dev/full", "wb") as full:
        out = run(args, stdout=full, timeout=20)
    judge(f"{args[0]} > /dev/full -> exit 2", out, EXIT_USAGE)
    assert out.stderr == "error: cannot write to standard output: No space left on device\n"


def test_stdout_closed_by_the_reader_exits_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head -1` that has already exited
    try:
        out = run(["plan", "--gpus", "1xH100", "--format", "json"], stdout=write_end, timeout=20)
    finally:
        os.close(write_end)
    judge_ok("plan | (closed pipe) -> exit 1, nothing on stderr", out, code=EXIT_FAIL)
    assert out.stderr == ""


# --- canary --apply and --check edge targets ---------------------------------------------------------------


def test_canary_apply_on_a_fifo_is_refused_without_hanging(tmp_path, healthy):
    fifo = tmp_path / "gateway.yaml"
    os.mkfifo(fifo)
    before = fingerprint(fifo)
    out = run(_apply_args(healthy, fifo), timeout=15)
    judge("canary --apply FIFO -> exit 2, no hang", out, EXIT_USAGE)
    assert "a FIFO, not a regular file to edit" in out.stderr
    assert fingerprint(fifo) == before


def test_canary_summary_file_fifo_without_reader_does_not_hang(tmp_path, healthy):
    gw = _gateway(tmp_path)
    fifo = tmp_path / "summary"
    os.mkfifo(fifo)
    out = run(
        ["canary", "--report", healthy, "--check", gw, "--alias", ALIAS, "--backend", CANDIDATE]
        + ["--summary-file", fifo],
        timeout=15,
    )
    judge("canary --check --summary-file FIFO without reader -> exit 2", out, EXIT_USAGE)
    assert f"cannot append to {fifo}" in out.stderr


# --- two `canary --apply` at once --------------------------------------------------------------------------


def test_concurrent_applies_in_threads_both_land(tmp_path):
    # From 5 %, two promotions in turn give 10 % then 25 %; a lost update leaves 10 %.
    rep, policy = report(), load_policy(None)
    for trial in range(15):  # without the lock every trial loses an update
        gw = _gateway(tmp_path / f"t{trial}")
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def one():
            start.wait()
            try:
                apply(gw, rep, policy, ALIAS, CANDIDATE)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=one) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        assert not errors, errors
        assert (_weight(gw), _weight(gw.with_name("gateway.yaml.bak"))) == (25, 10), f"trial {trial}"
        assert sorted(p.name for p in gw.parent.iterdir()) == ["gateway.yaml", "gateway.yaml.bak"]


def test_concurrent_applies_in_processes_both_land(tmp_path, healthy):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for trial in range(2):
        gw = _gateway(tmp_path / f"p{trial}")
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "migrate", *map(str, _apply_args(healthy, gw))],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
            )
            for _ in range(2)
        ]
        codes = [p.wait(timeout=30) for p in procs]
        assert codes == [EXIT_OK, EXIT_OK], [p.stderr.read() for p in procs]
        for p in procs:
            p.stderr.close()
        assert (_weight(gw), _weight(gw.with_name("gateway.yaml.bak"))) == (25, 10), f"trial {trial}"


# --- anything else is a bug, reported as one line with its own code --------------------------------------


def test_an_unexpected_exception_is_one_internal_error_line(monkeypatch):
    import migrate.commands.plan as plan_module

    def boom(*args, **kwargs):
        raise KeyError("token sk-live-THISMUSTNEVERLEAK0123456789")

    monkeypatch.setattr(plan_module, "plan", boom)
    monkeypatch.delenv("MIGRATE_DEBUG", raising=False)
    out = invoke(["plan", "--gpus", "1xH100"])
    judge("a bug inside a command -> error: internal error, exit 70", out, EXIT_INTERNAL)
    assert out.stderr.startswith("error: internal error: KeyError: ")
    assert "THISMUSTNEVERLEAK" not in out.stderr
