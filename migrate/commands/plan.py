"""`migrate plan`: inventory / profile / flags -> engine decision (rules table in migrate/data/rules.yaml)."""

from __future__ import annotations

import click

from ..plan import PORTABLE, USERS, VENDORS, plan, render, write_plan
from ._io import emit_json, json_mode


@click.command("plan")
@click.option(
    "--inventory", "inventory_path", type=click.Path(dir_okay=False), help="inventory JSON (migrate inventory -o)"
)
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False), help="profile YAML/JSON a person writes")
@click.option("--gpus", help="COUNTxMODEL, e.g. 2xRTX4090, 8xH100, MI300X")
@click.option("--gpu-vendor", type=click.Choice(VENDORS))
@click.option("--nodes", type=click.IntRange(min=1))
@click.option("--concurrency", type=click.IntRange(min=0), help="peak concurrent requests")
@click.option("--context", type=click.IntRange(min=0), help="context tokens needed")
@click.option("--structured", is_flag=True, default=None, help="JSON-schema structured outputs")
@click.option("--tools", is_flag=True, default=None, help="tool calling")
@click.option("--moe", is_flag=True, default=None, help="mixture-of-experts model")
@click.option("--prefix-reuse", is_flag=True, default=None, help="heavy prefix reuse / agent programs")
@click.option("--portable", type=click.Choice(PORTABLE))
@click.option("--exl-available", is_flag=True, default=None, help="EXL2/EXL3 weights exist")
@click.option("--hf-native", is_flag=True, default=None, help="prefer a Hugging Face-native surface")
@click.option("--nvidia-max", is_flag=True, default=None, help="maximum tuned NVIDIA performance is required")
@click.option("--disaggregated", is_flag=True, default=None, help="multi-node disaggregated prefill/decode needed")
@click.option("--users", type=click.Choice(USERS))
@click.option("--model", "models", multiple=True, help="Ollama tag (repeatable)")
@click.option("--format", "fmt", type=click.Choice(["text", "md", "json"]), default="text", show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="also write the plan JSON here (for generate --plan)"
)
def plan_cmd(inventory_path, profile_path, fmt, output, models, **flags):
    """Name the decisive constraint, then the FIRST and SECOND engine, with reasons and rejection metrics."""
    if fmt == "json":
        json_mode()
    flags["models"] = tuple(models)
    result = plan(inventory_path, profile_path, flags)
    if output:
        write_plan(result, output)
    if fmt == "json":
        emit_json(result)
    else:
        click.echo(render(result, fmt), nl=False)
