"""The engine registry is the only list of engine kinds, and what it says matches its consumers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from migrate import engines
from migrate.datafiles import package_data

REPO = Path(__file__).resolve().parent.parent
OWNER = REPO / "migrate" / "engines.py"

# Modules whose engine tables are being moved into the registry by work in flight; empty when done.
PENDING: set[str] = set()
PROTOCOLS = {"ollama", "openai"}


def _engine_literals(tree: ast.AST, known: set[str]):
    """(line, ids) for every tuple/list/set literal or dict whose string elements/keys are all engine ids.

    ``("ollama", "openai")`` alone is the pair of wire protocols, not a list of engines.
    """
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [k for k in node.keys if k is not None]
        else:
            continue
        strings = [i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)]
        named = set(strings) & known
        if len(named) >= 2 and len(named) == len(set(strings)) and not named <= PROTOCOLS:
            yield node.lineno, sorted(named)


def test_no_module_spells_out_engine_ids():
    known = set(engines.ids())
    offenders = []
    for folder in ("migrate", "compat_suite"):
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = str(path.relative_to(REPO))
            if path == OWNER or rel in PENDING:
                continue
            for line, named in _engine_literals(ast.parse(path.read_text(encoding="utf-8")), known):
                offenders.append(f"{rel}:{line} {named}")
    assert not offenders, "engine ids belong in migrate/data/engines.yaml:\n" + "\n".join(offenders)


def test_pending_list_only_names_existing_offenders():
    known = set(engines.ids())
    for rel in PENDING:
        tree = ast.parse((REPO / rel).read_text(encoding="utf-8"))
        assert list(_engine_literals(tree, known)), f"{rel} is clean now: remove it from PENDING"


def test_detector_catches_a_planted_list():
    known = set(engines.ids())
    tree = ast.parse(
        'X = ("vllm", "sglang")\nY = {"tgi": 1, "mlc": 2}\nZ = ("vllm",)\n'
        'P = ("ollama", "openai")\nD = {"ollama": 1, "model": 2}\n'
    )
    assert [line for line, _ in _engine_literals(tree, known)] == [1, 2]


def test_every_entry_is_complete():
    for engine in engines.registry().values():
        assert engine.protocol in ("ollama", "openai"), engine.id
        assert engine.roles and set(engine.roles) <= {"server", "launch", "plan"}, engine.id
        assert engine.health.startswith("/"), engine.id
        assert engine.server in engines.registry(), engine.id
        assert engines.registry()[engine.server].is_server or engine.server == engine.id, engine.id
        if engine.is_launch_target:
            assert engine.port, f"{engine.id}: a launch target needs its default port"


def test_spellings_are_unique_and_resolve():
    seen: dict[str, str] = {}
    for engine in engines.registry().values():
        for spelling in (engine.id, *engine.aliases):
            assert spelling.lower() not in seen, f"{spelling} names {seen.get(spelling.lower())} and {engine.id}"
            seen[spelling.lower()] = engine.id
    assert engines.get("TensorRT-LLM").id == "trtllm"
    assert engines.get("llama.cpp").id == "llamacpp"
    assert engines.get("exllamav3").metrics_key == "tabbyapi"
    assert engines.resolve("no-such-engine") is None
    with pytest.raises(KeyError):
        engines.get("no-such-engine")


def test_protocols():
    assert engines.protocol_of("ollama") == "ollama"
    assert all(engines.protocol_of(k) == "openai" for k in engines.server_kinds() if k != "ollama")


def test_metrics_catalogue_columns_are_registry_engines():
    columns = set()
    for spec in package_data("metrics.yaml")["metrics"].values():
        columns |= set(spec.get("engines") or {})
    assert columns == set(engines.metric_engines())


def test_model_catalog_parsers_name_launch_targets():
    targets = set(engines.launch_targets())
    for family, spec in package_data("catalog.yaml")["families"].items():
        assert set((spec.get("parsers") or {})) <= targets, family


def test_an_unknown_registry_field_is_refused():
    spec = {"name": "X", "protocol": "openai", "roles": ["server"], "helth": "/health"}
    with pytest.raises(ValueError, match="x: unknown field.*helth"):
        engines._engine("x", spec)
