"""Decisions -> files: ``build_tree`` renders every output file from ``templates/*.j2`` without writing.

Templates run with StrictUndefined; every value that reaches a shell goes through the ``sh`` filter
(shlex.quote) or is an environment reference, and every value that reaches a YAML file or a ``#``
comment goes through :func:`yaml_quote` (filters ``yaml``, ``yaml_key``, ``k8s``, ``comment``); Jinja's
own ``tojson`` is removed so no template can bypass it.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from importlib import resources

import jinja2

from .. import catalog, engines
from ..fsutil import EXECUTABLE, PUBLIC
from ..redact import printable
from .decisions import ModelDecision, decide_model, gateway_entry
from .inputs import Inputs
from .launch import Env, Local

CONTAINER_MOUNT = "/config"
MANIFEST = "manifest.json"
Tree = dict[str, tuple[str, int]]  # relative path -> (text, file mode)


def _sh(v) -> str:
    if isinstance(v, Env):
        return '"${%s}"' % v.name
    if isinstance(v, Local):
        return '"${HERE}/%s"' % v.name
    return shlex.quote(str(v))


def _shd(v) -> str:
    """Docker argv: a generated file lives at /config inside the container."""
    return shlex.quote(f"{CONTAINER_MOUNT}/{v.name}") if isinstance(v, Local) else _sh(v)


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}  # YAML 1.1 reads these as bool/null


def yaml_quote(value, *, key: bool = False) -> str:
    """THE way a value enters generated YAML: a double-quoted scalar (JSON's escaping: quotes,
    backslashes, newlines) with every remaining control, format or line-separator character escaped
    (``\x7f``, ``\x85``, ``\u2028``, ``\ufeff``) by ``redact.printable``. YAML parsers treat U+2028
    and NEL as line breaks and refuse raw DEL, so escaping them is what keeps a value from ending a
    line, a comment or a document. Lists and mappings become flow collections of the same; numbers,
    booleans and null stay typed. ``key=True`` leaves a plain identifier bare (``top_p:``)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{yaml_quote(str(k))}: {yaml_quote(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_quote(v) for v in value) + "]"
    text = str(value)
    if key and _PLAIN_KEY.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return printable(json.dumps(text, ensure_ascii=False))


def _k8s(v) -> str:
    if isinstance(v, Env):
        return yaml_quote("$(%s)" % v.name)  # Kubernetes expands $(VAR) from the container env
    if isinstance(v, Local):
        return yaml_quote(f"{CONTAINER_MOUNT}/{v.name}")
    return yaml_quote(str(v))


def _comment(v) -> str:
    """One line, safe inside a # comment (YAML or shell): quoted and escaped like a YAML value."""
    return yaml_quote(str(v))


def _md(v) -> str:
    """One table cell or list item: no line breaks, pipes or backticks; ESC and friends escaped so
    `cat MIGRATION.md` cannot drive a terminal."""
    return printable(str(v).replace("\r", "\\r").replace("\n", "\\n").replace("|", "\\|").replace("`", "'"))


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: resources.files("migrate.templates").joinpath(name).read_text(encoding="utf-8")
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(
        sh=_sh,
        shd=_shd,
        k8s=_k8s,
        comment=_comment,
        md=_md,
        yaml=yaml_quote,
        yaml_key=lambda v: yaml_quote(v, key=True),
        shjoin=lambda argv: " ".join(_sh(a) for a in argv),
    )
    del env.filters["tojson"]  # HTML-safe JSON is not YAML-safe (raw U+2028): yaml_quote is the one path
    return env


def _model_files(env: jinja2.Environment, inputs: Inputs, d: ModelDecision, cat_version: str) -> Tree:
    launch = d.launch
    ctxvars = {
        "engine_name": engines.display_name(inputs.target),
        "tag": d.tag,
        "served_names": d.served,
        "catalog_version": cat_version,
        "launch": launch,
        "required_env": d.required_env,
        "uses_local": any(isinstance(a, Local) for a in launch.argv),
        "image": launch.image,
        "container": d.dir,
        "files": launch.files,
        "name": d.dir,
        "tp": d.tp,
        "mounts": {f: (f"/app/{f}" if f == "config.yml" else f"{CONTAINER_MOUNT}/{f}") for f in launch.files},
        "gpu_flag": "--gpus all" if launch.gpu_resource else "",
        "gpu_resource": d.gpu_resource,
    }
    files = {
        f"{d.dir}/launch.sh": (env.get_template("launch.sh.j2").render(**ctxvars), EXECUTABLE),
        f"{d.dir}/docker-run.sh": (env.get_template("docker-run.sh.j2").render(**ctxvars), EXECUTABLE),
        f"{d.dir}/k8s.yaml": (env.get_template("k8s.yaml.j2").render(**ctxvars), PUBLIC),
    }
    for fname, text in launch.files.items():
        files[f"{d.dir}/{fname}"] = (text, PUBLIC)
    system = inputs.models[d.tag].get("system")
    if system:
        files[f"system_prompts/{d.dir}.txt"] = (system, PUBLIC)
    return files


def _summary(d: ModelDecision, gateway: dict) -> dict:
    """What MIGRATION.md and the manifest say about one model."""
    return {
        "alias": d.alias,
        "tag": d.tag,
        "dir": d.dir,
        "known": d.ref.known,
        "hf": d.ref.hf,
        "source_text": (str(d.source) if isinstance(d.source, str) else "$MIGRATE_MODEL_SOURCE (TODO)"),
        "fmt": d.checkpoint["fmt"],
        "quant_note": d.checkpoint["note"],
        "served_names": d.served,
        "served_id": gateway["served_id"],
        "parsers": d.parsers,
        "tools_wanted": d.tools_wanted,
        "template_note": d.ref.template_note,
        "tp": d.tp,
        "tp_why": d.tp_why,
        "notes": d.launch.notes + ([d.ref.note] if d.ref.note else []),
        "context": d.context,
        "context_lines": d.context_lines,
        "capacity": d.capacity,
        "carried": d.carried,
        "todos": d.todos,
        "argv": [a if isinstance(a, str) else (f"${a.name}" if isinstance(a, Env) else a.name) for a in d.launch.argv],
    }


def build_tree(inputs: Inputs) -> Tree:
    """Every file of the output, rendered: {relative path: (text, mode)}. Writes nothing."""
    target = inputs.target
    env = environment()
    cat_version = catalog.version()
    used: set = set()
    tree: Tree = {}
    todos, summaries, gateway_aliases = [], [], []
    for tag, model in inputs.models.items():
        d = decide_model(inputs, tag, model, used)
        tree.update(_model_files(env, inputs, d, cat_version))
        gateway_aliases.append(gateway_entry(inputs, d))
        todos += d.todos
        summaries.append(_summary(d, gateway_aliases[-1]))
    common = {
        "catalog_version": cat_version,
        "engine_name": engines.display_name(target),
        "ollama_url": inputs.ollama_url,
        "ollama_weight": 100 - inputs.new_weight,
        "new_weight": inputs.new_weight,
    }
    tree["gateway.yaml"] = (env.get_template("gateway.yaml.j2").render(aliases=gateway_aliases, **common), PUBLIC)
    tree["litellm.yaml"] = (
        env.get_template("litellm.yaml.j2").render(
            aliases=gateway_aliases,
            max_timeout=max(a["timeout"] for a in gateway_aliases),
            group_aliases={a["tag"]: a["alias"] for a in gateway_aliases if a["tag"] != a["alias"]},
            **common,
        ),
        PUBLIC,
    )
    plan_note = None
    if inputs.plan:
        plan = inputs.plan
        chosen = [plan["first"]["engine"], plan["second"]["engine"]]
        plan_note = f"Plan: first `{_md(chosen[0])}`, second `{_md(chosen[1])}` (rule `{_md(plan.get('rule'))}`)." + (
            "" if target in chosen else f" Note: `{target}` is neither; this is an off-plan target."
        )
    tree["MIGRATION.md"] = (
        env.get_template("MIGRATION.md.j2").render(
            target=target, inputs=inputs.sources, plan_note=plan_note, todos=todos, models=summaries, **common
        ),
        PUBLIC,
    )
    manifest = {
        "schema": "migrate.generate/1",
        "target": target,
        "catalog_version": cat_version,
        "files": sorted(tree) + [MANIFEST],
        "todos": todos,
        "models": [
            {
                k: s[k]
                for k in (
                    "alias",
                    "tag",
                    "dir",
                    "known",
                    "hf",
                    "fmt",
                    "context",
                    "tp",
                    "served_names",
                    "parsers",
                    "argv",
                    "todos",
                )
            }
            | {"capacity": s["capacity"], "carried": s["carried"]}
            for s in summaries
        ],
    }
    tree[MANIFEST] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", PUBLIC)
    return tree
