"""User YAML/JSON files fail with one line naming the file (and the line), exit 2."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from migrate.cli import main
from migrate.datafiles import load_user_file, package_data
from migrate.errors import MigrateError


def test_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "profile.yaml"
    bad.write_text("gpus: 2xRTX4090\nconcurrency: [4\n")
    with pytest.raises(MigrateError) as exc:
        load_user_file(bad, "profile")
    assert exc.value.code == 2
    assert str(exc.value).startswith(f"{bad}:3: profile is not valid YAML/JSON")
    assert "\n" not in str(exc.value)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(MigrateError, match="cannot read plan .*nope.json"):
        load_user_file(tmp_path / "nope.json", "plan")
    blob = tmp_path / "blob.yaml"
    blob.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(MigrateError, match="cannot read policy"):
        load_user_file(blob, "policy")


def test_json_is_read_by_the_same_loader(tmp_path):
    f = tmp_path / "p.json"
    f.write_text('{"gpus": "8xH100", "moe": true}')
    assert load_user_file(f) == {"gpus": "8xH100", "moe": True}


def test_package_data_is_shipped_yaml():
    assert "metrics" in package_data("metrics.yaml") and package_data("rules.yaml")


@pytest.mark.parametrize("args", [["plan", "--profile"], ["canary", "--report", "r.json", "--policy"]])
def test_commands_report_bad_files_in_one_line(tmp_path, args):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1\n")
    result = CliRunner().invoke(main, args + [str(bad)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("\n") == 1
    assert "bad.yaml:2" in result.output, result.output
