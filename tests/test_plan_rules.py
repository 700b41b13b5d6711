"""`migrate plan`: the rules table, provenance and the CLI contract."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrate.cli import main
from migrate.errors import MigrateError
from migrate.plan import build_facts, parse_gpus, plan, render, rules

GOLDEN = Path(__file__).parent / "golden"


# Every worked profile of decision-framework.md is a test (expected first / second).
@pytest.mark.parametrize(
    "flags, rule, first, second",
    [
        ({"gpus": "8xH100"}, "datacenter-baseline", "vllm", "trtllm"),  # Llama-class dense, mixed chat
        (
            {"gpus": "16xH100", "moe": True, "nvidia_max": True},
            "datacenter-structured-nvidia-max",
            "sglang",
            "trtllm",
        ),  # DeepSeek-style MoE
        ({"gpus": "8xH100", "moe": True}, "datacenter-structured", "sglang", "vllm"),  # MoE: TRT-LLM *or* vLLM second
        (
            {"gpus": "4xH100", "prefix_reuse": True, "context": 65536},
            "datacenter-structured",
            "sglang",
            "vllm",
        ),  # long-context RAG
        ({"gpus": "2xA100", "hf_native": True}, "datacenter-hf-native", "tgi", "vllm"),  # HF-native service
        ({"portable": "intel-estate"}, "intel-estate", "ovms", "mlc"),  # Intel estate
        ({"gpus": "2xXeon"}, "intel-estate", "ovms", "mlc"),
        ({"portable": "browser"}, "edge-portable", "mlc", "ovms"),  # browser / mobile
        ({"portable": "mobile"}, "edge-portable", "mlc", "ovms"),
        ({"gpus": "2xRTX4090", "exl_available": True}, "consumer-exl", "exllamav3", "vllm"),
        ({"gpus": "1xRTX3090"}, "consumer-quantized", "vllm", "sglang"),
        ({"gpus": "1xRTX4090", "structured": True}, "consumer-structured", "sglang", "vllm"),
        ({"gpus": "8xMI300X"}, "amd-rocm", "vllm", "sglang"),
        ({"gpus": "8xH100", "nvidia_max": True}, "datacenter-nvidia-max", "trtllm", "vllm"),
    ],
)
def test_worked_profiles(flags, rule, first, second):
    p = plan(flags=flags)
    assert (p["rule"], p["first"]["engine"], p["second"]["engine"]) == (rule, first, second)
    assert p["rejection_metrics"], "a plan without rejection metrics is only a preference"


def test_rules_are_data_and_end_with_catch_all():
    table = rules()["rules"]
    assert len({r["id"] for r in table}) == len(table)
    assert table[-1]["when"] == {} and "any" not in table[-1]
    assert plan(flags={})["rule"] == table[-1]["id"]


def test_first_match_wins_in_table_order():
    # Both the structured and the baseline datacenter rules match; the earlier one must fire.
    p = plan(flags={"gpus": "8xH100", "structured": True})
    assert p["rule"] == "datacenter-structured"
    assert "datacenter-baseline" not in p["rules_not_matching"]
    assert p["fired_because"]["structured_outputs"]["value"] is True


def test_dynamo_goes_above_engine_only_when_disaggregated():
    p = plan(flags={"gpus": "8xH100", "nodes": 4, "disaggregated": True})
    assert p["above"]["engine"] == "dynamo" and p["first"]["engine"] == "vllm"
    single = plan(flags={"gpus": "8xH100"})
    assert single["above"] is None
    assert "no routing problem" in {d["engine"]: d["why"] for d in single["do_not_test_yet"]}["dynamo"]


def test_do_not_test_yet_reasons_follow_hardware():
    p = plan(flags={"gpus": "8xMI300X"})
    dnt = {d["engine"]: d["why"] for d in p["do_not_test_yet"]}
    assert "NVIDIA CUDA" in dnt["trtllm"] and "ollama" in dnt
    assert "vllm" not in dnt and "sglang" not in dnt


@pytest.mark.parametrize(
    "spec, vendor, klass, count",
    [
        ("8xH100", "nvidia", "datacenter", 8),
        ("2xRTX4090", "nvidia", "consumer", 2),
        ("1x GeForce RTX 3090", "nvidia", "consumer", 1),
        ("L40S", "nvidia", "datacenter", 1),
        ("4xL4", "nvidia", "datacenter", 4),
        ("8xMI250", "amd", "amd", 8),
        ("2xArc A770", "intel", "intel", 2),
        ("Gaudi3", "intel", "intel", 1),
        ("B200", "nvidia", "datacenter", 1),
    ],
)
def test_gpu_inference(spec, vendor, klass, count):
    g = parse_gpus(spec)
    assert (g["vendor"], g["class"], g["count"]) == (vendor, klass, count)


def test_provenance_flags_over_profile_over_inventory(tmp_path):
    inv = json.loads((GOLDEN / "inventory_seven.json").read_text())
    facts = build_facts(
        inv,
        {"concurrency": 32, "gpus": "2xRTX4090"},
        {"gpus": "8xH100"},
        profile_path="p.yaml",
        inventory_path="inv.json",
    )
    assert facts["concurrency"] == {"value": 32, "source": "profile (p.yaml)"}  # profile beats inventory (8)
    assert facts["gpus"]["source"] == "flag --gpus" and facts["gpu_class"]["value"] == "datacenter"
    assert facts["context"] == {"value": 6000, "source": "inventory (inv.json)"}
    assert facts["moe"]["value"] is True and facts["tools"]["value"] is True


def test_inventory_drives_the_decision():
    p = plan(str(GOLDEN / "inventory_seven.json"), flags={"gpus": "8xH100"})
    # gpt-oss is MoE and the app uses tools: the structured/MoE datacenter rule fires, citing the inventory.
    assert p["rule"] == "datacenter-structured" and p["first"]["engine"] == "sglang"
    assert p["fired_because"]["moe"]["source"].startswith("inventory")
    rows = {c["id"]: c for c in p["ollama_rejection_checklist"]}
    assert rows["continuous-batching"]["applies"] and "8" in rows["continuous-batching"]["why"]
    assert rows["non-blocking"]["applies"]  # p95 output 600 >= 512


def test_profile_file_and_unknown_key(tmp_path):
    good = tmp_path / "profile.yaml"
    good.write_text("gpus: 2xRTX4090\nexl_available: true\nconcurrency: 4\n")
    p = plan(profile_path=str(good))
    assert p["first"]["engine"] == "exllamav3"
    assert p["inputs"]["exl_available"]["source"] == f"profile ({good})"
    bad = tmp_path / "bad.yaml"
    bad.write_text("gpus: 2xRTX4090\ngpu_count: 3\n")
    with pytest.raises(MigrateError) as exc:
        plan(profile_path=str(bad))
    assert exc.value.code == 2 and "gpu_count" in str(exc.value)


def test_cli_json_is_one_document_with_required_keys():
    r = CliRunner().invoke(main, ["plan", "--gpus", "8xH100", "--moe", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    for key in ("constraint", "first", "second", "do_not_test_yet", "rejection_metrics", "rule"):
        assert key in doc
    assert set(doc["first"]) >= {"engine", "why"} and doc["inputs"]["moe"]["source"] == "flag --moe"


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--gpus", "0xH100"],
        ["plan", "--profile", "/nonexistent/profile.yaml"],
        ["plan", "--gpus", "8xH100", "--gpu-vendor", "amd"],
    ],
)
def test_cli_bad_input_is_one_line_exit_2(argv):
    r = CliRunner().invoke(main, argv)
    assert r.exit_code == 2
    assert "Traceback" not in r.output and r.stderr.strip().count("\n") == 0


def test_markdown_has_every_section():
    r = CliRunner().invoke(main, ["plan", "--gpus", "8xH100", "--format", "md"])
    for section in (
        "Decisive constraint",
        "## First engine",
        "## Second engine",
        "## Do not test yet",
        "falsification path",
        "## Ollama production-rejection checklist",
        "## Phase benchmark",
    ):
        assert section in r.stdout


def test_plan_output_file_is_public_json_for_generate(tmp_path):
    out = tmp_path / "new" / "dir" / "plan.json"  # the directory is created, as generate --out does
    r = CliRunner().invoke(main, ["plan", "--gpus", "8xH100", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["first"]["engine"] == "vllm"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # fsutil.PUBLIC: only the user's own settings


def test_plan_output_unwritable_is_one_line_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = CliRunner().invoke(main, ["plan", "--gpus", "8xH100", "-o", str(blocker / "plan.json")])
    assert r.exit_code == 2 and "cannot write" in r.stderr and "Traceback" not in r.output


def test_plan_does_not_import_generate_or_jinja():
    code = (
        "import sys, migrate.plan as p; p.write_plan; "
        "bad = [m for m in sys.modules if m.startswith(('migrate.generate', 'jinja2'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert r.returncode == 0, r.stdout + r.stderr


def test_display_names_come_from_the_registry():
    p = plan(flags={"gpus": "8xH100", "nodes": 4, "disaggregated": True})
    text = render(p)
    assert "vLLM (vllm)" in text and "above it: NVIDIA Dynamo:" in text
    assert "- Ollama:" in text  # do-not-test-yet names Ollama by its display name
