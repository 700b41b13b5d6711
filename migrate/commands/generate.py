"""`migrate generate`: launch scripts, docker run, Kubernetes, gateway + LiteLLM configs for one engine."""

from __future__ import annotations

import click

from ..generate import TARGETS, generate
from ._io import emit_json, json_mode


@click.command("generate")
@click.option("--target", required=True, type=click.Choice(TARGETS), help="engine to generate for")
@click.option("--inventory", "inventory_path", type=click.Path(dir_okay=False))
@click.option("--plan", "plan_path", type=click.Path(dir_okay=False), help="plan JSON (migrate plan --format json)")
@click.option("--alias", "aliases", multiple=True, help="NAME=ollama-tag: product alias for a tag (repeatable)")
@click.option("--gpus", help="COUNTxMODEL; overrides the plan's hardware (tensor parallel, capacity)")
@click.option("--ollama-url", default="http://127.0.0.1:11434", show_default=True)
@click.option(
    "--engine-url", help="base URL the gateway uses for the new engine (default: 127.0.0.1 and the engine's port)"
)
@click.option(
    "--new-weight",
    type=click.IntRange(0, 100),
    default=0,
    show_default=True,
    help="starting weight of the new engine; Ollama gets the rest",
)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print the manifest as JSON")
def generate_cmd(
    target, inventory_path, plan_path, aliases, gpus, ollama_url, engine_url, new_weight, out_dir, as_json
):
    """Write deployable files for TARGET; unknown models get a visible TODO, never an invented repo."""
    if as_json:
        json_mode()
    manifest = generate(
        target,
        out_dir,
        inventory_path=inventory_path,
        plan_path=plan_path,
        aliases=aliases,
        ollama_url=ollama_url,
        engine_url=engine_url,
        new_weight=new_weight,
        gpus=gpus,
    )
    if as_json:
        emit_json(manifest)
        return
    click.echo(
        f"wrote {len(manifest['files'])} files to {out_dir} (target {target}, catalog {manifest['catalog_version']})"
    )
    for m in manifest["models"]:
        click.echo(
            f"  {m['alias']}: {m['dir']}/ {m['hf'] or 'TODO'} [{m['fmt']}] context {m['context']} tp {m['tp']}"
            + (f"  replica {m['capacity']['total_gib']} GiB" if m["capacity"].get("total_gib") else "")
        )
    for t in manifest["todos"]:
        click.echo(f"  {t}", err=True)
