"""migrate.fsutil.write_atomic: the one atomic writer behind reports, inventory, plan, generate and gateway,\nand its one file-mode policy."""

import os
import stat

import pytest

from migrate import fsutil
from migrate.errors import UsageError
from migrate.fsutil import write_atomic


def _leftovers(directory):
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_text_written_and_path_returned(tmp_path):
    target = tmp_path / "out.txt"
    assert write_atomic(target, "a\nb\n") == target
    assert target.read_bytes() == b"a\nb\n"
    assert _leftovers(tmp_path) == []


def test_crlf_preserved_byte_identical(tmp_path):
    target = tmp_path / "litellm.yaml"
    text = "model_list:\r\n  - model_name: x  # keep\r\n    weight: 3\r\n"
    write_atomic(target, text, newline="")
    assert target.read_bytes() == text.encode()


def test_newline_none_translates_to_platform_linesep(tmp_path):
    target = tmp_path / "x"
    write_atomic(target, "a\nb", newline=None)
    assert target.read_bytes() == f"a{os.linesep}b".encode()


def test_bytes_written_verbatim(tmp_path):
    target = tmp_path / "blob.bin"
    data = b"\x00\xff\r\n\n"
    write_atomic(target, data)
    assert target.read_bytes() == data


def test_utf8_encoding(tmp_path):
    target = tmp_path / "u.txt"
    write_atomic(target, "héllo ✓")
    assert target.read_bytes() == "héllo ✓".encode("utf-8")


def test_mode_applied(tmp_path):
    target = tmp_path / "run.sh"
    write_atomic(target, "#!/bin/sh\n", mode=0o755)
    assert stat.S_IMODE(target.stat().st_mode) == 0o755


def test_no_mode_keeps_private_permissions(tmp_path):
    target = tmp_path / "report.json"
    write_atomic(target, "{}")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_failed_write_removes_temp_and_keeps_target(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("original")

    with pytest.raises(TypeError):
        write_atomic(target, object())  # neither str nor bytes: the write itself fails
    assert target.read_text() == "original"
    assert _leftovers(tmp_path) == []


def test_failed_rename_removes_temp_and_keeps_target(tmp_path, monkeypatch):
    target = tmp_path / "keep.txt"
    target.write_text("original")

    def refuse(src, dst):
        assert os.path.exists(src)  # the temp file really existed before cleanup
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsutil.os, "replace", refuse)
    with pytest.raises(UsageError, match="No space left on device"):
        write_atomic(target, "new content")
    assert target.read_text() == "original"
    assert _leftovers(tmp_path) == []


def test_interrupt_removes_temp(tmp_path, monkeypatch):
    target = tmp_path / "x.txt"

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(fsutil.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "data")
    assert not target.exists()
    assert _leftovers(tmp_path) == []


def test_missing_directory_is_one_usage_error_naming_the_path(tmp_path):
    target = tmp_path / "no" / "such" / "f.txt"
    with pytest.raises(UsageError) as exc:
        write_atomic(target, "x")
    assert str(exc.value) == f"cannot write {target}: No such file or directory" and exc.value.code == 2


def test_relative_path_in_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_atomic("plain.txt", "x")
    assert (tmp_path / "plain.txt").read_text() == "x"
    assert _leftovers(tmp_path) == []


def test_keep_mode_and_crlf_when_editing_a_users_file(tmp_path):
    target = tmp_path / "g.yaml"
    target.write_bytes(b"# comment\r\nvalue: 1\r\n")
    os.chmod(target, 0o640)
    write_atomic(target, "# comment\r\nvalue: 2\r\n", mode=fsutil.KEEP, newline="")
    assert target.read_bytes() == b"# comment\r\nvalue: 2\r\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    write_atomic(tmp_path / "new.yaml", "x", mode=fsutil.KEEP)  # nothing to keep: private
    assert stat.S_IMODE((tmp_path / "new.yaml").stat().st_mode) == 0o600


def test_mode_policy_constants():
    assert (fsutil.PRIVATE, fsutil.PUBLIC, fsutil.EXECUTABLE) == (0o600, 0o644, 0o755)
    for name in ("PRIVATE", "PUBLIC", "EXECUTABLE", "KEEP"):
        assert name in fsutil.__doc__  # the policy is documented where it is applied


def test_generate_write_tree_creates_dirs_and_applies_each_mode(tmp_path):
    from migrate.generate import write_tree

    write_tree({"a/b/run.sh": ("echo hi\n", fsutil.EXECUTABLE), "a/notes.md": ("x\n", fsutil.PUBLIC)}, str(tmp_path))
    assert (tmp_path / "a" / "b" / "run.sh").read_text() == "echo hi\n"
    assert stat.S_IMODE((tmp_path / "a" / "b" / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "a" / "notes.md").stat().st_mode) == 0o644
    assert _leftovers(tmp_path / "a") == []


def test_policy_at_the_command_line(tmp_path):
    """plan -o holds only the user's settings (PUBLIC); inventory -o may hold prompts and log lines (PRIVATE)."""
    from pathlib import Path

    from click.testing import CliRunner

    from migrate.cli import main

    app = Path(__file__).parent / "fixtures" / "code" / "app"
    r = CliRunner().invoke(main, ["inventory", "--no-ollama", "--code", str(app), "-o", str(tmp_path / "inv.json")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["plan", "--inventory", str(tmp_path / "inv.json"), "-o", str(tmp_path / "plan.json")])
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE((tmp_path / "inv.json").stat().st_mode) == fsutil.PRIVATE
    assert stat.S_IMODE((tmp_path / "plan.json").stat().st_mode) == fsutil.PUBLIC
