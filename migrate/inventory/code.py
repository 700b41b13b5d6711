"""Code scan: where does an application talk to Ollama, how, and with which Ollama-only knobs.

What is recognised is data (migrate/data/code_detectors.yaml): file facts, the ordered call-site
detectors (pattern, kind, what it means) and the request fields. The scan is two-stage for speed: one
compiled prefilter over each whole file (close to grep), then a line-level pass only on files that
hit. Comments and prose (including Python docstrings and JS/Go block comments) that merely mention
``11434`` are reported as ``kind: "mention"``, never as call sites. A URL is a call site only inside
an HTTP call's statement; elsewhere (assignments, env-var defaults) it is a ``config`` site.
"""
from __future__ import annotations

import ast
import functools
import os
import re
from dataclasses import dataclass
from typing import Optional

from ..datafiles import package_data
from .numbers import leading_int

MAX_FILE_BYTES = 1_000_000
MAX_WINDOW_LINES = 40

SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "vendor", "third_party", "third-party", ".venv",
             "venv", "env", "site-packages", "__pycache__", ".tox", ".mypy_cache", ".pytest_cache",
             "dist", "build", ".next", ".nuxt", "bower_components", ".idea", ".vscode", "target",
             ".terraform", ".cache"}

LANG_BY_EXT = {
    ".py": "python", ".pyi": "python", ".ipynb": "python",
    ".js": "js", ".mjs": "js", ".cjs": "js", ".jsx": "js", ".ts": "js", ".tsx": "js", ".mts": "js",
    ".cts": "js", ".go": "go",
    ".sh": "shell", ".bash": "shell", ".zsh": "shell",
    ".env": "config", ".yaml": "config", ".yml": "config", ".toml": "config", ".ini": "config",
    ".cfg": "config", ".conf": "config", ".json": "config", ".properties": "config",
    ".md": "doc", ".txt": "doc", ".rst": "doc", ".adoc": "doc",
}

# Stage 1: does the file mention Ollama at all? (the same pattern the grep baseline uses)
PREFILTER = r"11434|[Oo]llama|OLLAMA|/api/(chat|generate|embed|embeddings|tags|show|ps|pull)\b"
_PRE = re.compile(PREFILTER)

_URL = re.compile(r"""(?:https?://)?[\w.\-\[\]]*:11434(?:/[^\s'"`),]*)?|"""
                  r"""(?:["'`}]|%s)(?:/api/(?:chat|generate|embed|embeddings|tags|show|ps|pull)|/v1/chat/completions)"""
                  r"""(?=["'`?])""")
_HTTP_CALL = re.compile(r"\brequests\s*\.\s*(post|get|request)|\bhttpx\b|\baiohttp\b|\bsession\s*\.\s*(post|get)|"
                        r"\bfetch\s*\(|\baxios\b|\bhttp\s*\.\s*(Post|Get|NewRequest)|\burllib\b|\bcurl\b|"
                        r"\b\w*(?:[Cc]lient|[Ss]ession)\s*\.\s*(post|get|request|stream)\s*\(|\bwget\b|\bInvoke-RestMethod\b")
_ENV_READ = re.compile(r"\b(OLLAMA_HOST|OLLAMA_BASE_URL|OLLAMA_API_BASE|OLLAMA_URL)\b")
_SETTING = re.compile(r"""^\s*(?:export\s+|-\s+)?["']?(OLLAMA_[A-Z_]+|OPENAI_BASE_URL|OPENAI_API_BASE|ANTHROPIC_BASE_URL|"""
                      r"""base_url|baseUrl|api_base|host)["']?\s*[:=]\s*["']?([^"'\s#]*)""")
_IMAGE = re.compile(r"^\s*image:\s*['\"]?ollama/ollama")
_PORT = re.compile(r"""["']?11434:11434["']?""")
_OPENAI_CTOR = re.compile(r"\b(?:Async)?(?:Azure)?OpenAI\s*\(")
_MODEL = re.compile(r"""\b(?:model|model_name|modelName|Model)["']?\s*[:=]\s*["']([^"'\s]+)["']""")
_PY_IMPORTED = re.compile(r"^[ \t]*from\s+ollama\s+import\s+(?:\(([^)]*)\)|([\w \t,]+))", re.M)


@dataclass(frozen=True)
class Detector:
    """One row of ``detectors`` in data/code_detectors.yaml (see the field list there)."""
    id: str
    langs: frozenset
    pattern: re.Pattern
    kind: dict
    client: str
    endpoint: object                # None, an endpoint, or (group, map, default)
    needs: tuple = ()
    unless: tuple = ()
    line_has: Optional[str] = None
    not_pattern: Optional[re.Pattern] = None
    group_in: Optional[tuple] = None
    models_group: Optional[int] = None
    means: str = ""

    def match(self, line: str, lang: str, facts: dict) -> Optional[tuple]:
        """(kind, client, endpoint, models) when this detector takes the line."""
        if (lang not in self.langs or not all(facts[f] for f in self.needs)
                or any(facts[f] for f in self.unless)):
            return None
        m = self.pattern.search(line)
        if not m or (self.line_has and self.line_has not in line) \
                or (self.not_pattern and self.not_pattern.search(line)):
            return None
        if self.group_in and m.group(self.group_in[0]) not in facts[self.group_in[1]]:
            return None
        endpoint = self.endpoint
        if isinstance(endpoint, tuple):
            group, table, default = endpoint
            endpoint = table.get(re.sub(r"\s+", "", m.group(group)), default)
        models = [m.group(self.models_group)] if self.models_group else []
        client = self.client.replace("{1}", m.group(1)) if "{1}" in self.client else self.client
        return self.kind[lang], client, endpoint, models


@functools.lru_cache(maxsize=None)
def _tables() -> tuple:
    """(fact patterns by name and language, detectors, parameter table) from the shipped data."""
    data = package_data("code_detectors.yaml")
    facts = {name: {lang: re.compile(rx, re.M) for lang, rx in by_lang.items()}
             for name, by_lang in data["facts"].items()}
    maps = data["endpoint_maps"]
    detectors = []
    for row in data["detectors"]:
        ep = row["endpoint"]
        if isinstance(ep, list):
            ep = (ep[0], maps[ep[1]], ep[2] if len(ep) > 2 else None)
        kind = row["kind"] if isinstance(row["kind"], dict) else {lang: row["kind"] for lang in row["langs"]}
        detectors.append(Detector(
            id=row["id"], langs=frozenset(row["langs"]), pattern=re.compile(row["pattern"]), kind=kind,
            client=row["client"], endpoint=ep, needs=tuple(row.get("needs", ())),
            unless=tuple(row.get("unless", ())), line_has=row.get("line_has"),
            not_pattern=re.compile(row["not_pattern"]) if row.get("not_pattern") else None,
            group_in=tuple(row["group_in"]) if row.get("group_in") else None,
            models_group=row.get("models_group"), means=row.get("means", "")))
    return facts, tuple(detectors), _Params(data["parameters"])


class _Params:
    """The request-field vocabulary: spellings -> canonical names, and the regexes that find them."""

    def __init__(self, rows: list) -> None:
        self.canonical = {}
        self.go = {}
        for row in rows:
            for spelling in [row["name"], *row.get("aliases", ())]:
                self.canonical[spelling] = row["name"]
            if row.get("go"):
                self.go[row["go"]] = row["name"]
        self.not_value = {r["name"]: re.compile(r["not_value"]) for r in rows if r.get("not_value")}
        self.ollama_only = tuple(r["name"] for r in rows if r.get("ollama_only"))
        self.ignored_by_v1 = tuple(r["name"] for r in rows if r.get("ignored_by_ollama_v1"))
        names = "|".join(self.canonical)
        self.keyed = re.compile(r"""(?<![\w.$])["']?(""" + names + r""")["']?\s*[:=](?!=)\s*([^,\n)}]*)""")
        self.go_field = re.compile(r"\b(" + "|".join(self.go) + r")\s*:\s*([^,\n}]*)")


class _Gitignore:
    """The subset of gitignore that matters for a scan: globs, ``**``, ``/`` anchoring, ``!``,
    trailing ``/`` for directories, nested ``.gitignore`` files."""

    def __init__(self) -> None:
        self.rules: list[tuple[str, bool, bool, re.Pattern]] = []   # (base, negate, dir_only, rx)

    def add_file(self, path: str, base: str) -> None:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read(200_000).splitlines()
        except OSError:
            return
        for raw in lines:
            line = raw.rstrip()
            if not line or line.startswith("#"):
                continue
            neg = line.startswith("!")
            if neg:
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            if not line:
                continue
            anchored = "/" in line
            rx = _glob_to_rx(line.lstrip("/"))
            rx = ("^" if anchored else "(?:^|/)") + rx + "$"
            self.rules.append((base, neg, dir_only, re.compile(rx)))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        result = False
        for base, neg, dir_only, rx in self.rules:
            if dir_only and not is_dir:
                continue
            if base:
                if not rel.startswith(base + "/"):
                    continue
                sub = rel[len(base) + 1:]
            else:
                sub = rel
            if rx.search(sub):
                result = not neg
        return result


def _glob_to_rx(glob: str) -> str:
    out, i = [], 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = glob.find("]", i)
            if j < 0:
                out.append(re.escape(c))
            else:
                out.append("[" + glob[i + 1:j].replace("!", "^", 1) + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _language(name: str) -> Optional[str]:
    lower = name.lower()
    if lower.startswith(".env") or lower.endswith(".env"):
        return "config"
    if lower == "dockerfile" or lower.startswith("dockerfile.") or lower.startswith("docker-compose") \
            or lower.startswith("compose."):
        return "config"
    if lower in ("makefile", "procfile"):
        return "shell"
    return LANG_BY_EXT.get(os.path.splitext(lower)[1])


def iter_files(root: str, stats: dict):
    """Yield (abs path, rel path, language) honouring .gitignore and skipping vendored trees."""
    ign = _Gitignore()
    root = os.path.abspath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        if ".gitignore" in filenames:
            ign.add_file(os.path.join(dirpath, ".gitignore"), rel_dir)
        keep = []
        for d in sorted(dirnames):
            rel = f"{rel_dir}/{d}" if rel_dir else d
            if d in SKIP_DIRS or d.endswith(".egg-info"):
                stats["skipped"]["vendored"] += 1
            elif ign.rules and ign.ignored(rel, True):
                stats["skipped"]["gitignored"] += 1
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            lang = _language(name)
            if lang is None:
                continue
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if ign.rules and ign.ignored(rel, False):
                stats["skipped"]["gitignored"] += 1
                continue
            if name.endswith((".min.js", ".map", ".lock")) or name in ("package-lock.json", "yarn.lock"):
                stats["skipped"]["generated"] += 1
                continue
            yield os.path.join(dirpath, name), rel, lang


def scan_code(root: str, max_bytes: int = MAX_FILE_BYTES) -> dict:
    stats = {"root": root, "files_scanned": 0, "files_matched": 0, "bytes_scanned": 0,
             "skipped": {"vendored": 0, "gitignored": 0, "generated": 0, "binary": 0, "huge": 0,
                         "unreadable": 0}}
    sites: list[dict] = []
    for path, rel, lang in iter_files(root, stats):
        try:
            size = os.path.getsize(path)
            if size > max_bytes:
                stats["skipped"]["huge"] += 1
                continue
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            stats["skipped"]["unreadable"] += 1
            continue
        if b"\x00" in data[:8192]:
            stats["skipped"]["binary"] += 1
            continue
        stats["files_scanned"] += 1
        stats["bytes_scanned"] += len(data)
        # Plain substring tests (memchr-fast) reject most files before the regex; each literal is
        # implied by one PREFILTER branch, so this never drops a file the regex would keep.
        if not (b"11434" in data or b"llama" in data or b"LLAMA" in data or b"/api/" in data):
            continue
        text = data.decode("utf-8", errors="replace")
        if not _PRE.search(text):
            continue
        found = scan_text(text, rel, lang)
        if found:
            stats["files_matched"] += 1
            sites.extend(found)
    kinds: dict[str, int] = {}
    for s in sites:
        kinds[s["kind"]] = kinds.get(s["kind"], 0) + 1
    stats["by_kind"] = kinds
    return {"stats": stats, "sites": sites}


def _is_comment(line: str, lang: str) -> bool:
    s = line.lstrip()
    if lang in ("python", "shell", "config"):
        return s.startswith("#")
    if lang in ("js", "go"):
        return s.startswith("//") or s.startswith("/*") or s.startswith("*")
    return False


def _window(lines: list[str], i: int, lang: str) -> tuple[int, str]:
    """The statement starting at line i: until brackets balance (or shell continuations end)."""
    if lang == "shell":
        j = i
        while j + 1 < len(lines) and lines[j].rstrip().endswith("\\") and j - i < MAX_WINDOW_LINES:
            j += 1
        return j, "\n".join(lines[i:j + 1])
    depth, opened, j = 0, False, i
    while j < len(lines) and j - i < MAX_WINDOW_LINES:
        for ch in _strip_strings(lines[j]):
            if ch in "([{":
                depth += 1
                opened = True
            elif ch in ")]}":
                depth -= 1
        if not opened or depth <= 0:
            break
        j += 1
    j = min(j, len(lines) - 1)
    return j, "\n".join(lines[i:j + 1])


_STR = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'')


def _strip_strings(line: str) -> str:
    return _STR.sub('""', line)


def _params(window: str, lang: str, named: Optional[dict] = None) -> dict:
    """Request fields a call passes: ``key: value`` / ``key=value`` (keyword arguments alike), JS
    shorthand properties, and the fields of a named object the call spreads or sends as its body
    (``named``: name -> that object's statement, from the same file)."""
    vocab = _tables()[2]
    found: dict[str, str] = {}
    for key, val in vocab.keyed.findall(window):
        found.setdefault(vocab.canonical[key], val.strip())
    if lang == "go":
        for key, val in vocab.go_field.findall(window):
            found.setdefault(vocab.go[key], val.strip())
    blank = _blank_strings(window)
    if lang == "js" and "{" in blank:
        for item in _object_items(blank):
            m = _SHORTHAND.fullmatch(item)
            if m and m.group(1) in vocab.canonical:
                found.setdefault(vocab.canonical[m.group(1)], m.group(1))
    if named:
        for groups in _NAMED_OBJECT.findall(blank):
            name = next(g for g in groups if g)
            for key, val in _params(named.get(name, ""), lang).items():
                found.setdefault(key, val)
    if "options" in found:
        for key, val in re.findall(r'"(num_ctx|num_predict|keep_alive)"\s*:\s*([^,\n}]*)', window):
            found.setdefault(key, val.strip())
    for key, other in vocab.not_value.items():
        if key in found and other.search(found[key]):
            del found[key]
    return found


# A JS object item that is a bare name: a shorthand property ("{ model, context }").
_SHORTHAND = re.compile(r"\s*([A-Za-z_$][\w$]*)\s*")
# A named object whose fields a call sends: spread (...opts, **opts) or the JSON body
# (json=payload, JSON.stringify(body), json.dumps(payload), body: payload).
_NAMED_OBJECT = re.compile(r"(?:\.\.\.|\*\*)\s*([A-Za-z_$][\w$]*)|\bjson\s*=\s*([A-Za-z_]\w*)\s*[,)]|"
                           r"\b(?:JSON\.stringify|json\.dumps)\(\s*([A-Za-z_$][\w$]*)\s*\)|"
                           r"\bbody\s*:\s*([A-Za-z_$][\w$]*)\s*[,}]")
# An assignment of an object to a name: const opts = {..., payload = {...}, kwargs = dict(...
_OBJECT_ASSIGNMENT = re.compile(r"^[ \t]*(?:export\s+)?(?:(?:const|let|var)\s+)?([A-Za-z_$][\w$]*)\s*"
                                r"(?::\s*[\w.$<>\[\]| ]+)?=\s*(?:\{|dict\s*\()", re.M)
_STRING_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`(?:[^`\\]|\\.)*`')


def _blank_strings(text: str) -> str:
    """The text with every string literal emptied (braces and commas inside strings do not count)."""
    return _STRING_LITERAL.sub('""', text)


def _object_items(src: str) -> list[str]:
    """The top-level items of every ``{...}`` in ``src`` (strings already blanked)."""
    items: list[str] = []
    stack: list[tuple[str, int]] = []
    for i, ch in enumerate(src):
        if ch in "([{":
            stack.append((ch, i + 1))
        elif ch in ")]}":
            if stack:
                opener, start = stack.pop()
                if opener == "{" and ch == "}":
                    items.append(src[start:i])
        elif ch == "," and stack and stack[-1][0] == "{":
            items.append(src[stack[-1][1]:i])
            stack[-1] = ("{", i + 1)
    return items


def _named_objects(text: str, lines: list[str], lang: str) -> dict:
    """name -> the statement assigning an object literal (or dict(...)) to it, for every name the
    file assigns one to; the first assignment wins."""
    named: dict[str, str] = {}
    for m in _OBJECT_ASSIGNMENT.finditer(text):
        if m.group(1) not in named:
            named[m.group(1)] = _window(lines, text.count("\n", 0, m.start()), lang)[1]
    return named


def _site(rel, lineno, end, lang, kind, client, endpoint, window, extra_models=(), named=None) -> dict:
    vocab = _tables()[2]
    p = _params(window, lang, named)
    models = [m.split("/", 1)[1] if m.startswith(("ollama/", "ollama_chat/")) else m
              for m in list(extra_models) + _MODEL.findall(window)]
    models = list(dict.fromkeys(models))
    v1 = bool(endpoint and endpoint.startswith("/v1"))
    ollama_params = [k for k in vocab.ollama_only if k in p]
    if v1:
        ollama_params += [k for k in vocab.ignored_by_v1 if k in p]
    fmt = p.get("format")
    fmt_kind = None
    if fmt is not None:
        fmt_kind = "json" if fmt.strip("'\" ") == "json" else "schema"
    if kind == "llamaindex" and "json_mode" in p and p["json_mode"].strip().lower() == "true":
        fmt_kind = fmt_kind or "json"
    num_ctx = leading_int(p.get("num_ctx")) or leading_int(p.get("context_window"))
    if num_ctx is None and "options" in p:
        m = re.search(r"num_ctx['\"]?\s*[:=]\s*(\d+)", window)
        num_ctx = int(m.group(1)) if m else None
    if num_ctx is not None and "num_ctx" not in ollama_params and "context_window" not in ollama_params:
        ollama_params.append("num_ctx")
    for key in ("num_predict", "keep_alive"):
        if key not in p and re.search(rf"['\"]?{key}['\"]?\s*[:=]", window):
            ollama_params.append(key)
    snippet = window.splitlines()[0].strip()[:200] if window else ""
    return {
        "file": rel, "line": lineno, "end_line": end, "language": lang, "kind": kind, "client": client,
        "endpoint": endpoint, "models": models, "ollama_params": sorted(set(ollama_params)),
        "num_ctx": num_ctx, "format": fmt_kind,
        "keep_alive": (p.get("keep_alive") or "").strip("'\" ") or None,
        "tool_choice": (p.get("tool_choice") or "").strip("'\" ") or None,
        "uses_tools": "tools" in p, "structured": fmt_kind is not None or "response_format" in p,
        "temperature_set": "temperature" in p,
        "stream": (p.get("stream") or "").strip().lower() in ("true", "1") if "stream" in p else None,
        "snippet": snippet,
    }


# Tokens of C-like sources: block comments, line comments and strings (so "/*" inside a string or a
# line comment does not open a block comment). Go raw strings share the backtick form.
_C_TOKENS = re.compile(r'/\*.*?(?:\*/|\Z)|//[^\n]*|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`(?:[^`\\]|\\.)*`',
                       re.S)
_PY_TRIPLE = re.compile(r"""(?<![\w'"])[rRuUbB]{0,2}(\"\"\"|\'\'\')[\s\S]*?(?:\1|\Z)""")


def _prose_lines(text: str, lang: str) -> set[int]:
    """0-based indices of lines that are prose, not code: Python docstrings (string literals that are
    whole statements, not assigned or passed) and JS/Go block comments."""
    out: set[int] = set()
    if lang == "python":
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return _py_prose_fallback(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
                    and isinstance(node.value.value, str):
                out.update(range(node.lineno - 1, node.end_lineno or node.lineno))
    elif lang in ("js", "go"):
        line, pos = 0, 0
        for m in _C_TOKENS.finditer(text):
            if not text.startswith("/*", m.start()):
                continue
            line += text.count("\n", pos, m.start())
            pos = m.start()
            last = line + m.group(0).count("\n")
            # A boundary line only counts when the comment is all of it (not `f(x) /* ... */`).
            bol = text.rfind("\n", 0, m.start()) + 1
            eol = text.find("\n", m.end())
            first = line if not text[bol:m.start()].strip() else line + 1
            end = last if not text[m.end(): eol if eol >= 0 else len(text)].strip() else last - 1
            out.update(range(first, end + 1))
    return out


def _py_prose_fallback(text: str) -> set[int]:
    """For sources ast cannot parse: a triple-quoted string that opens its line and does not
    continue an expression (previous code line ending in ( , = [ { + or a backslash)."""
    out: set[int] = set()
    for m in _PY_TRIPLE.finditer(text):
        bol = text.rfind("\n", 0, m.start()) + 1
        if text[bol:m.start()].strip(" \trRuUbB"):
            continue
        before = text[:bol].rstrip()
        if before.endswith(("(", ",", "=", "[", "{", "+", "\\", "return", "yield")):
            continue
        first = text.count("\n", 0, m.start())
        out.update(range(first, first + m.group(0).count("\n") + 1))
    return out


def _enclosing_http_call(lines: list[str], i: int, lang: str, prose: set[int]) -> Optional[int]:
    """The line of an HTTP call whose argument list spans line i (URL on its own line)."""
    for j in range(i - 1, max(-1, i - 6), -1):
        if j in prose or _is_comment(lines[j], lang) or not _HTTP_CALL.search(lines[j]):
            continue
        if _window(lines, j, lang)[0] >= i:
            return j
    return None


def _file_facts(text: str, lang: str) -> dict:
    """What the whole file says: the ``facts`` of data/code_detectors.yaml for its language, plus
    the names it imports from ollama and whether an OpenAI client in it points at Ollama."""
    patterns = _tables()[0]
    facts: dict = {name: bool((by_lang.get(lang) or by_lang.get("any")) and
                              (by_lang.get(lang) or by_lang["any"]).search(text))
                   for name, by_lang in patterns.items()}
    names: set[str] = set()
    if lang == "python":
        for m in _PY_IMPORTED.finditer(text):
            names |= {n.split(" as ")[0].strip() for n in (m.group(1) or m.group(2)).split(",")}
    facts["imported_names"] = names
    facts["imports_client"] = bool({"Client", "AsyncClient"} & names)
    facts["openai_at_ollama"] = False
    if lang in ("python", "js"):
        for m in _OPENAI_CTOR.finditer(text):
            seg = text[m.start(): m.start() + 600]
            close = seg.find(")")
            seg = seg[: close if close > 0 else 600]
            if re.search(r"11434|[Oo]llama|OLLAMA", seg):
                facts["openai_at_ollama"] = True
                break
    return facts


def scan_text(text: str, rel: str, lang: str) -> list[dict]:
    lines = text.splitlines()
    sites: list[dict] = []
    covered: set[int] = set()
    facts = _file_facts(text, lang)
    detectors = _tables()[1]
    prose = _prose_lines(text, lang)

    # Identifiers holding an Ollama URL (OLLAMA_URL = "http://...:11434/api/generate"), and which
    # of them an HTTP call line uses: the call is the site, the constant is only its target.
    url_vars: dict[str, Optional[str]] = {}
    for m in re.finditer(r"""^[ \t]*(?:(?:export\s+)?(?:const|let|var)\s+)?([A-Za-z_]\w*)\s*:?=\s*f?["'`]([^"'`\n]*)["'`]""",
                         text, re.M):
        u = _URL.search('"' + m.group(2) + '"')
        if u:
            url_vars[m.group(1)] = _endpoint_of_url(u.group(0))
    used_vars: set[str] = set()
    if url_vars:
        for line in lines:
            if _HTTP_CALL.search(line):
                used_vars |= {v for v in url_vars if re.search(rf"\b{re.escape(v)}\b", line)}
    knows_ollama = any(facts[f] for f in ("ollama_sdk", "openai_at_ollama", "langchain", "llamaindex")) \
        or bool(used_vars)
    named: Optional[dict] = None        # objects assigned to names, read once a call needs them

    def add(i, kind, client, endpoint, models=()):
        nonlocal named
        if named is None:
            named = _named_objects(text, lines, lang) if lang in ("python", "js") else {}
        end, window = _window(lines, i, lang)
        sites.append(_site(rel, i + 1, end + 1, lang, kind, client, endpoint, window, models, named))
        covered.update(range(i, end + 1))

    for i, line in enumerate(lines):
        if lang != "doc" and not _PRE.search(line) and not (knows_ollama and "(" in line):
            continue
        if i in covered:
            continue
        if lang == "doc" or i in prose or _is_comment(line, lang):
            if re.search(r"11434|[Oo]llama|OLLAMA", line):
                sites.append(_mention(rel, i, lang, line))
            continue
        if used_vars and _HTTP_CALL.search(line):
            hit = [v for v in used_vars if re.search(rf"\b{re.escape(v)}\b", line)]
            if hit:
                add(i, "raw_http", _http_client(_window(lines, i, lang)[1], text), url_vars[hit[0]])
                continue
        am = re.match(r"^[ \t]*(?:(?:export\s+)?(?:const|let|var)\s+)?([A-Za-z_]\w*)\s*:?=", line)
        if am and am.group(1) in used_vars:
            covered.add(i)
            continue
        for det in detectors:
            found = det.match(line, lang, facts)
            if found:
                add(i, *found)
                break
        else:
            found = None
        if found:
            continue
        m = _URL.search(line)
        if m:
            # The first URL naming an endpoint wins (a host-only URL may precede it on the line).
            ep = next(filter(None, (_endpoint_of_url(u.group(0)) for u in _URL.finditer(line))), None)
            window = _window(lines, i, lang)[1]
            # Only a URL inside an HTTP call's own statement is a call site; a URL in an assignment,
            # an env-var default or an argparse default is a setting (the call uses it elsewhere).
            start = None
            if lang != "config":
                start = i if _HTTP_CALL.search(window) else _enclosing_http_call(lines, i, lang, prose)
            if start is not None and start not in covered:
                add(start, "raw_http", _http_client(_window(lines, start, lang)[1], text), ep)
            elif start is not None:
                covered.add(i)
            elif ep and ep.startswith("/v1") and facts["openai_at_ollama"]:
                covered.add(i)      # base_url of an OpenAI client already reported
            else:
                sites.append(_config(rel, i, lang, line))
                covered.add(i)
            continue
        if lang in ("config", "shell") and (_SETTING.match(line) or _IMAGE.match(line) or _PORT.search(line)):
            if re.search(r"11434|[Oo]llama|OLLAMA", line):
                sites.append(_config(rel, i, lang, line))
                covered.add(i)
                continue
        if _ENV_READ.search(line):
            sites.append(_config(rel, i, lang, line))
            covered.add(i)
            continue
        if re.search(r"11434", line):
            sites.append(_mention(rel, i, lang, line))
    return sites


def _endpoint_of_url(url: str) -> Optional[str]:
    m = re.search(r"(/api/\w+|/v1/(?:chat/completions|completions|embeddings|models|responses))", url)
    return m.group(1) if m else None


def _http_client(window: str, text: str) -> Optional[str]:
    m = _HTTP_CALL.search(window)
    if not m:
        return None
    word = re.match(r"\w+", m.group(0).strip())
    name = word.group(0).lower() if word else None
    if name and (name.endswith("client") or name.endswith("session")):
        # A client object: name the library the file imports, not the variable.
        lib = re.search(r"^\s*(?:import|from)\s+(httpx|requests|aiohttp|urllib3)\b", text, re.M)
        return lib.group(1) if lib else name
    return name


def _config(rel: str, i: int, lang: str, line: str) -> dict:
    settings = {}
    url = _URL.search(line)
    m = _SETTING.match(line)
    if m:
        value = m.group(2)
        if "(" in value and url:      # NAME = os.environ.get("NAME", "<default URL>"): the default
            value = url.group(0)
        settings[m.group(1)] = value
    else:
        for k, v in re.findall(r"\b(OLLAMA_[A-Z_]+|OPENAI_BASE_URL|OPENAI_API_BASE)\s*[=:]\s*[\"']?([^\"'\s,]+)", line):
            settings[k] = v
    env = _ENV_READ.search(line)
    if not settings and env and url:    # process.env.OLLAMA_HOST || "<default URL>"
        settings[env.group(1)] = url.group(0)
    ep = _endpoint_of_url(url.group(0)) if url else None
    return {"file": rel, "line": i + 1, "end_line": i + 1, "language": lang, "kind": "config",
            "client": None, "endpoint": ep, "models": [], "ollama_params": [], "num_ctx": None,
            "format": None, "keep_alive": settings.get("OLLAMA_KEEP_ALIVE"), "tool_choice": None,
            "uses_tools": False, "structured": False, "temperature_set": False, "stream": None,
            "settings": settings, "snippet": line.strip()[:200]}


def _mention(rel: str, i: int, lang: str, line: str) -> dict:
    return {"file": rel, "line": i + 1, "end_line": i + 1, "language": lang, "kind": "mention",
            "client": None, "endpoint": None, "models": [], "ollama_params": [], "num_ctx": None,
            "format": None, "keep_alive": None, "tool_choice": None, "uses_tools": False,
            "structured": False, "temperature_set": False, "stream": None, "snippet": line.strip()[:200]}
