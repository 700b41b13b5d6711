"""The layering in docs/architecture.md, enforced on the real imports (read with ``ast``, never executed).

The table of layers is read from docs/architecture.md, so the page and the rule cannot drift apart.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("migrate", "compat_suite")
INIT_MAX_LINES = 80

# Known offenders tolerated while an area is refactored (none today). The test fails for any offender
# not listed here and for any entry that no longer offends, so the list can only shrink. Entries look
# like ("import", importing area, imported area), ("init", package __init__.py that holds logic or is
# too long), ("exit-code", area that still raises MigrateError(msg, code)).
PENDING: set[tuple[str, ...]] = set()


@dataclass(frozen=True)
class Area:
    name: str
    layer: int
    modules: tuple[str, ...]
    importers: Optional[frozenset[str]]  # None: any higher layer may import it


_ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*([a-z_]+)\s*\|(.*)\|(.*)\|\s*$")


def load_areas(doc: Path = DOC) -> list[Area]:
    areas = []
    for line in doc.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if not m:
            continue
        layer, name, modules, imported_by = int(m[1]), m[2], m[3], m[4].strip()
        named = frozenset(re.findall(r"`([\w.]+)`", imported_by))
        importers = named if named or imported_by.startswith("nothing") else None
        areas.append(Area(name, layer, tuple(re.findall(r"`([\w.]+)`", modules)), importers))
    return areas


@functools.lru_cache(maxsize=None)
def parse(path: Path) -> tuple[ast.Module, int]:
    """The file's syntax tree and its line count (each file is read once per run)."""
    text = path.read_text(encoding="utf-8")
    return ast.parse(text, str(path)), len(text.splitlines())


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files(root: Path) -> list[Path]:
    return sorted(p for pkg in PACKAGES if (root / pkg).is_dir() for p in (root / pkg).rglob("*.py"))


def area_of(module: str, areas: list[Area]) -> Optional[Area]:
    # The installed wheel may place compat_suite under the migrate namespace; the layer is the same.
    if module == "migrate.compat_suite" or module.startswith("migrate.compat_suite."):
        module = module[len("migrate.") :]
    best, best_len = None, -1
    for area in areas:
        for prefix in area.modules:
            # `migrate` is the package root only; every other name covers its submodules too.
            covers = module == prefix or (prefix != "migrate" and module.startswith(prefix + "."))
            if covers and len(prefix) > best_len:
                best, best_len = area, len(prefix)
    return best


def imports_of(path: Path, root: Path, known: set[str]) -> list[tuple[int, str]]:
    """(line, imported module) for every import of our packages, at any depth in the file."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(parse(path)[0]):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                source = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.append((node.lineno, sub if sub in known else source))
    return sorted({(line, name) for line, name in found if name.split(".")[0] in PACKAGES})


def layering_offences(root: Path = ROOT) -> list[tuple[tuple, str]]:
    """Each offending import as (offence key, readable line); the key is what PENDING lists."""
    areas = load_areas(root / "docs" / "architecture.md")
    files = source_files(root)
    known = {module_name(p, root) for p in files}
    found = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        src = area_of(module_name(path, root), areas)
        if src is None:
            found.append((("unplaced", rel), f"{rel}: not covered by the layer table in docs/architecture.md"))
            continue
        for lineno, target in imports_of(path, root, known):
            dst = area_of(target, areas)
            where = f"{rel}:{lineno}: {src.name} imports {target}"
            if dst is None:
                found.append((("unplaced", target), f"{where}, which the layer table does not cover"))
            elif dst is src:
                continue
            elif dst.importers is not None and src.name not in dst.importers:
                found.append(
                    (
                        ("import", src.name, dst.name),
                        f"{where} ({dst.name} may be imported by "
                        f"{', '.join(sorted(dst.importers)) or 'nothing in the package'} only)",
                    )
                )
            elif dst.layer >= src.layer:
                found.append(
                    (
                        ("import", src.name, dst.name),
                        f"{where} ({src.name} is layer {src.layer}, {dst.name} layer {dst.layer})",
                    )
                )
    return found


def init_offences(root: Path = ROOT) -> list[tuple[tuple, str]]:
    found = []
    for path in source_files(root):
        if path.name != "__init__.py":
            continue
        rel = path.relative_to(root).as_posix()
        tree, count = parse(path)
        # A PEP 562 module __getattr__/__dir__ is how a face re-exports lazily; it is not logic.
        lazy = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in ("__getattr__", "__dir__")]
        inside_lazy = {id(n) for f in lazy for n in ast.walk(f)}
        defs = [
            n
            for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and id(n) not in inside_lazy
        ]
        problems = [f"defines {n.name} (line {n.lineno})" for n in defs]
        if count > INIT_MAX_LINES:
            problems.append(f"{count} lines (at most {INIT_MAX_LINES})")
        if problems:
            found.append((("init", rel), f"{rel}: a package face only re-exports: {'; '.join(problems)}"))
    return found


def exit_code_offences(root: Path = ROOT) -> list[tuple[tuple, str]]:
    """Library code names the outcome (``UsageError(msg)``): a ``MigrateError(...)`` call outside
    migrate/errors.py passes a bare exit code or leans on the historical default."""
    areas = load_areas(root / "docs" / "architecture.md")
    found = []
    for path in source_files(root):
        rel = path.relative_to(root).as_posix()
        if rel == "migrate/errors.py":
            continue
        for node in ast.walk(parse(path)[0]):
            func = getattr(node, "func", None)
            name = getattr(func, "id", None) or getattr(func, "attr", None)
            if isinstance(node, ast.Call) and name == "MigrateError":
                area = area_of(module_name(path, root), areas)
                found.append(
                    (
                        ("exit-code", area.name if area else rel),
                        f"{rel}:{node.lineno}: MigrateError(...): raise UsageError, FailedError, "
                        f"UnreachableError or InconclusiveError instead",
                    )
                )
    return found


def test_the_layer_table_is_read_from_the_docs():
    areas = load_areas()
    by_name = {a.name: a for a in areas}
    assert len(by_name) == len(areas), "an area is listed twice"
    assert by_name["protocol"].layer > by_name["exchange"].layer > by_name["foundation"].layer
    assert by_name["commands"].importers == {"entry"} and by_name["testbed"].importers == frozenset()
    assert area_of("migrate.protocol.client", areas) is by_name["protocol"]
    assert area_of("migrate", areas) is by_name["foundation"]
    assert area_of("migrate.unknown_module", areas) is None


def test_imports_follow_the_layers():
    new = [line for key, line in layering_offences() if key not in PENDING]
    assert not new, "imports against docs/architecture.md:\n" + "\n".join(new)


def test_package_init_files_only_re_export():
    new = [line for key, line in init_offences() if key not in PENDING]
    assert not new, "\n".join(new)


def test_library_errors_name_their_outcome_not_an_exit_code():
    new = [line for key, line in exit_code_offences() if key not in PENDING]
    assert not new, "\n".join(new)


def test_pending_lists_only_current_offenders():
    current = {key for key, _ in layering_offences() + init_offences() + exit_code_offences()}
    stale = sorted(PENDING - current)
    assert not stale, f"no longer offending; remove from PENDING in tests/test_architecture.py: {stale}"


_COPY = ("docs/architecture.md", "migrate/__init__.py", "migrate/commands/__init__.py", "migrate/protocol/__init__.py")


@pytest.mark.parametrize(
    "where, source, expected",
    [
        ("migrate/commands/extra.py", "from ..cli import main\n", ("import", "commands", "entry")),
        (
            "migrate/protocol/extra.py",
            "def f():\n    from migrate.commands.send import x\n",
            ("import", "protocol", "commands"),
        ),
        ("migrate/protocol/extra.py", "import migrate.plan\n", ("import", "protocol", "plan")),
        ("migrate/commands/extra.py", "from ..testbed import model\n", ("import", "commands", "testbed")),
        ("migrate/commands/extra.py", "import migrate.newthing\n", ("unplaced", "migrate.newthing")),
        ("migrate/newthing.py", "x = 1\n", ("unplaced", "migrate/newthing.py")),
        ("migrate/commands/extra.py", "from ..protocol import send\nfrom . import _io\n", None),
    ],
)
def test_the_checker_reports_a_new_offence(tmp_path, where, source, expected):
    for rel in _COPY:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text((ROOT / rel).read_text(encoding="utf-8"), encoding="utf-8")
    for rel, text in ((where, source), ("migrate/commands/_io.py", ""), ("migrate/cli.py", "")):
        (tmp_path / rel).write_text(text, encoding="utf-8")
    keys = {key for key, _ in layering_offences(tmp_path)}
    assert keys == ({expected} if expected else set())


def test_the_checker_reports_logic_in_a_package_face(tmp_path):
    face = tmp_path / "migrate" / "plan" / "__init__.py"
    face.parent.mkdir(parents=True)
    face.write_text("from .rules import decide\n\n\ndef helper():\n    return 1\n", encoding="utf-8")
    lazy = tmp_path / "migrate" / "testbed" / "__init__.py"
    lazy.parent.mkdir(parents=True)
    lazy.write_text("def __getattr__(name):\n    raise AttributeError(name)\n", encoding="utf-8")
    assert [key for key, _ in init_offences(tmp_path)] == [("init", "migrate/plan/__init__.py")]


def test_the_checker_reports_a_bare_exit_code(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "architecture.md").write_text(DOC.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "migrate" / "probe").mkdir(parents=True)
    (tmp_path / "migrate" / "probe" / "x.py").write_text(
        "from .. import errors\n\n\ndef f():\n    raise errors.MigrateError('no', 3)\n\n\n"
        "def g():\n    raise errors.UnreachableError('no')\n",
        encoding="utf-8",
    )
    assert [key for key, _ in exit_code_offences(tmp_path)] == [("exit-code", "probe")]


def test_engine_fixtures_only_run_in_marked_tests(request):
    # `make unit` deselects the `engine` and `vllm` marks and must start no engine: a test that
    # reaches an engine fixture without one of those marks would start it anyway.
    engine_fixtures = {"llamacpp_server", "ollama_server", "vllm_env", "vllm_server"}
    unmarked = [
        item.nodeid
        for item in request.session.items
        if engine_fixtures & set(getattr(item, "fixturenames", ()))
        and not {m.name for m in item.iter_markers()} & {"engine", "vllm"}
    ]
    assert not unmarked
