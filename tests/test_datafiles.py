"""User YAML/JSON files fail with one line naming the file (and the line), exit 2."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from migrate.cli import main
from migrate.datafiles import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    check_yaml_text,
    load_user_file,
    load_user_json,
    package_data,
    parse_yaml,
)
from migrate.errors import MigrateError, UsageError


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


def _aliased(anchor_size: int, uses: int) -> str:
    """An anchored list of ``anchor_size`` scalars, aliased ``uses`` times."""
    items = ", ".join(["x"] * anchor_size)
    return f"base: &b [{items}]\nuses:\n" + "".join("  - *b\n" for _ in range(uses))


def test_aliases_are_counted_as_if_expanded():
    # The anchored list is 1,001 nodes (itself and its 1,000 items): just under and just over the bound.
    under = MAX_ALIAS_NODES // 1001
    assert len(parse_yaml(_aliased(1000, under), "ok.yaml")["uses"]) == under
    with pytest.raises(UsageError, match=r"^over\.yaml:\d+: file has aliases that expand to more than 100,000"):
        parse_yaml(_aliased(1000, under + 1), "over.yaml")


def test_recursion_is_refused_but_a_redefined_anchor_is_not():
    with pytest.raises(UsageError, match=r"^r\.yaml:1: file has a recursive alias \*a$"):
        parse_yaml("a: &a {self: *a}\n", "r.yaml")
    with pytest.raises(UsageError, match="recursive alias"):
        parse_yaml("a: &x [1]\nb: &x [*x]\n", "r.yaml")  # *x inside the node &x names: a cycle
    # An alias names the latest complete definition (YAML 1.2 lets ruamel redefine an anchor): no cycle.
    check_yaml_text("a: &x [&x [1], *x]\n", "ok.yaml")


def test_depth_is_bounded_and_syntax_errors_are_the_loaders():
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_yaml(ok, "ok.yaml") is not None
    with pytest.raises(UsageError, match=f"^d.yaml:1: file is nested deeper than {MAX_DEPTH} levels$"):
        parse_yaml("[" + ok + "]", "d.yaml")
    with pytest.raises(UsageError, match=r"^u\.yaml:2: file is not valid YAML/JSON"):
        parse_yaml("a: 1\nb: *undefined\n", "u.yaml")


def test_the_callers_parser_rescans_what_libyaml_could_not_parse():
    # Gateway configs are parsed by ruamel: if libyaml stops on a syntax error, ruamel's own events are
    # checked, so text only one parser accepts cannot carry a bomb past the check.
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdef", "bcdefg")
    )
    broken = "a: [1\n"
    check_yaml_text(broken, "g.yaml")  # a syntax error alone: left to the loader
    with pytest.raises(UsageError, match="an alias bomb"):
        check_yaml_text(broken, "g.yaml", events=lambda _text: yaml.parse(bomb))


def test_size_cap_on_text_and_json_nesting(tmp_path):
    with pytest.raises(UsageError, match=r"^t\.yaml: file is larger than 1 KiB; refusing to read it$"):
        check_yaml_text("#" * 1025, "t.yaml", limit=1024)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UsageError, match="request is nested too deeply"):
        load_user_json(deep, "request")


def test_no_other_module_parses_yaml():
    # Every YAML parse goes through the guarded reader; the gateway's ruamel round-trip (which keeps
    # comments for canary --apply) runs datafiles.check_yaml_text first.
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    parse = re.compile(r"\byaml\.(safe_)?load(_all)?\(|\bYAML\(|\byaml\.parse\(|\bcompose\(")
    allowed = {"migrate/datafiles.py", "migrate/gateway.py"}
    offenders = [
        str(p.relative_to(repo))
        for top in ("migrate", "compat_suite")
        for p in (repo / top).rglob("*.py")
        if str(p.relative_to(repo)) not in allowed and parse.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    assert "check_yaml_text(" in (repo / "migrate/gateway.py").read_text(encoding="utf-8")
