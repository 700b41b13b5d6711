"""Code scan: where does an application talk to Ollama, how, and with which Ollama-only knobs.

Patterns follow the shared Ollama reference, section 7. The scan is two-stage for speed: one
compiled prefilter over each whole file (close to grep), then a line-level pass only on files that
hit. Comments and prose (including Python docstrings and JS/Go block comments) that merely mention
``11434`` are reported as ``kind: "mention"``, never as call sites. A URL is a call site only inside
an HTTP call's statement; elsewhere (assignments, env-var defaults) it is a ``config`` site.

What a line means (an SDK call, a framework class, a URL, a setting) is the detector table in
``migrate/data/code_detectors.yaml``: the first detector that matches a line reports it.

Only regular files inside the scanned tree are read: a symlink whose target lies outside it, a FIFO,
a device, a directory symlink (never followed: no loops, nothing outside) and a file over
``MAX_FILE_BYTES`` are skipped with a warning. Every site leaves through ``_fact``: secrets masked
(``migrate.redact``), text made printable, file names decoded with their undecodable bytes as ``\\xNN``.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import stat
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..datafiles import package_data
from ..redact import REDACTED, is_secret_name, mask_data, printable
from .logs.reader import file_type, open_regular
from .numbers import leading_int

MAX_FILE_BYTES = 1_000_000  # a source file larger than this is skipped (with a warning): generated or data
MAX_WARNINGS_PER_REASON = 20  # per scanned root; past this one line says how many more
MAX_WINDOW_LINES = 40

SKIP_DIRS = {
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "vendor",
    "third_party",
    "third-party",
    ".venv",
    "venv",
    "env",
    "site-packages",
    "__pycache__",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    "dist",
    "build",
    ".next",
    ".nuxt",
    "bower_components",
    ".idea",
    ".vscode",
    "target",
    ".terraform",
    ".cache",
}

LANG_BY_EXT = {
    ".py": "python",
    ".pyi": "python",
    ".ipynb": "python",
    ".js": "js",
    ".mjs": "js",
    ".cjs": "js",
    ".jsx": "js",
    ".ts": "js",
    ".tsx": "js",
    ".mts": "js",
    ".cts": "js",
    ".go": "go",
    ".sh": "shell",
    ".bash": "shell",
    ".zsh": "shell",
    ".env": "config",
    ".yaml": "config",
    ".yml": "config",
    ".toml": "config",
    ".ini": "config",
    ".cfg": "config",
    ".conf": "config",
    ".json": "config",
    ".properties": "config",
    ".md": "doc",
    ".txt": "doc",
    ".rst": "doc",
    ".adoc": "doc",
}

# Stage 1: does the file mention Ollama at all? (the same pattern the grep baseline uses)
PREFILTER = r"11434|[Oo]llama|OLLAMA|/api/(chat|generate|embed|embeddings|tags|show|ps|pull)\b"
_PRE = re.compile(PREFILTER)

# A bare API path counts when it starts a string or follows an interpolation: "/api/chat",
# f"{host}/api/chat", `${host}/api/chat`, host + "/api/chat", Sprintf("%s/api/chat").
_URL = re.compile(
    r"""(?:https?://)?[\w.\-\[\]]*:11434(?:/[^\s'"`),]*)?|"""
    r"""(?:["'`}]|%s)(?:/api/(?:chat|generate|embed|embeddings|tags|show|ps|pull)|/v1/chat/completions)"""
    r"""(?=["'`?])"""
)
_HTTP_CALL = re.compile(
    r"\brequests\s*\.\s*(post|get|request)|\bhttpx\b|\baiohttp\b|\bsession\s*\.\s*(post|get)|"
    r"\bfetch\s*\(|\baxios\b|\bhttp\s*\.\s*(Post|Get|NewRequest)|\burllib\b|\bcurl\b|"
    r"\b\w*(?:[Cc]lient|[Ss]ession)\s*\.\s*(post|get|request|stream)\s*\(|\bwget\b|\bInvoke-RestMethod\b"
)
_ENV_READ = re.compile(r"\b(OLLAMA_HOST|OLLAMA_BASE_URL|OLLAMA_API_BASE|OLLAMA_URL)\b")
_SETTING = re.compile(
    r"""^\s*(?:export\s+|-\s+)?["']?(OLLAMA_[A-Z_]+|OPENAI_BASE_URL|OPENAI_API_BASE|ANTHROPIC_BASE_URL|"""
    r"""base_url|baseUrl|api_base|host)["']?\s*[:=]\s*["']?([^"'\s#]*)"""
)
_MENTION = re.compile(r"11434|[Oo]llama|OLLAMA")

_MODEL = re.compile(r"""\b(?:model|model_name|modelName|Model)["']?\s*[:=]\s*["']([^"'\s]+)["']""")


class _Gitignore:
    """The subset of gitignore that matters for a scan: globs, ``**``, ``/`` anchoring, ``!``,
    trailing ``/`` for directories, nested ``.gitignore`` files."""

    def __init__(self) -> None:
        self.rules: list[tuple[str, bool, bool, re.Pattern]] = []  # (base, negate, dir_only, rx)

    def add_file(self, path: str, base: str) -> None:
        try:
            with open_regular(path) as f:  # a FIFO named .gitignore must not block the scan
                lines = f.read(200_000).decode("utf-8", "replace").splitlines()
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
                sub = rel[len(base) + 1 :]
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
                out.append("[" + glob[i + 1 : j].replace("!", "^", 1) + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _language(name: str) -> Optional[str]:
    lower = name.lower()
    if lower.startswith(".env") or lower.endswith(".env"):
        return "config"
    if (
        lower == "dockerfile"
        or lower.startswith("dockerfile.")
        or lower.startswith("docker-compose")
        or lower.startswith("compose.")
    ):
        return "config"
    if lower in ("makefile", "procfile"):
        return "shell"
    return LANG_BY_EXT.get(os.path.splitext(lower)[1])


def undecodable_escaped(text: str) -> str:
    """A name from the file system with its undecodable bytes as ``\\xNN``: os.walk hands them over
    as lone surrogates, which no UTF-8 file or terminal takes."""
    try:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that did not come from a file name: printable() escapes it
        return text


def shown_path(path: str) -> str:
    """A file's name as the inventory stores and prints it: undecodable bytes as ``\\xNN``,
    control characters escaped."""
    return printable(undecodable_escaped(path))


class _Skips:
    """What the scan left out and why: counted in ``stats["skipped"]``, and for the reasons a user
    should hear about (a link out of the tree, a FIFO, a huge file), one warning per file."""

    WARNED = {
        "outside_link": "symlink to a file outside the scanned tree, not followed",
        "dir_link": "directory symlink, not followed",
        "not_regular": "not a regular file ({}), not read",
        "huge": "{}, skipped",
        "unreadable": "unreadable ({}), skipped",
    }

    def __init__(self, root: str, counts: dict, warnings: list) -> None:
        self.root, self.counts, self.warnings = root, counts, warnings
        self._warned: dict[str, int] = {}

    def __call__(self, reason: str, rel: str = "", detail: str = "") -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if reason not in self.WARNED:
            return
        n = self._warned[reason] = self._warned.get(reason, 0) + 1
        if n <= MAX_WARNINGS_PER_REASON:
            self.warnings.append(
                f"code {shown_path(os.path.join(self.root, rel))}: {self.WARNED[reason].format(detail)}"
            )

    def summary(self) -> None:
        for reason, n in self._warned.items():
            if n > MAX_WARNINGS_PER_REASON:
                what = self.WARNED[reason].format("...")
                more = n - MAX_WARNINGS_PER_REASON
                self.warnings.append(f"code {shown_path(self.root)}: {more} more files skipped the same way ({what})")


def _inside(path: str, root_real: str) -> bool:
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def iter_files(root: str, skip: Callable[..., None]):
    """Yield (abs path, rel path, language) honouring .gitignore and skipping vendored trees; ``skip``
    hears every file or directory left out, with the reason.

    Directory symlinks are never followed (no loops, nothing outside the tree)."""
    ign = _Gitignore()
    root = os.path.abspath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        if ".gitignore" in filenames and not os.path.islink(os.path.join(dirpath, ".gitignore")):
            ign.add_file(os.path.join(dirpath, ".gitignore"), rel_dir)
        keep = []
        for d in sorted(dirnames):
            rel = f"{rel_dir}/{d}" if rel_dir else d
            if d in SKIP_DIRS or d.endswith(".egg-info"):
                skip("vendored")
            elif ign.rules and ign.ignored(rel, True):
                skip("gitignored")
            elif os.path.islink(os.path.join(dirpath, d)):
                skip("dir_link", rel)
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            lang = _language(name)
            if lang is None:
                continue
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if ign.rules and ign.ignored(rel, False):
                skip("gitignored")
                continue
            if name.endswith((".min.js", ".map", ".lock")) or name in ("package-lock.json", "yarn.lock"):
                skip("generated")
                continue
            yield os.path.join(dirpath, name), rel, lang


def _read_scanned(path: str, root_real: str, max_bytes: int) -> tuple[Optional[bytes], str, str]:
    """(bytes, "", "") for a regular file of at most ``max_bytes`` inside the tree (a symlink counts by
    its resolved target); else (None, skip reason, detail).

    Checked before opening (a FIFO would block the open, a device would never end) and again on the
    open descriptor (``open_regular``: a file swapped for a FIFO in between cannot block either)."""
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            if not _inside(path, root_real):
                return None, "outside_link", ""
            st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return None, "not_regular", file_type(st.st_mode)
        if st.st_size > max_bytes:
            return None, "huge", f"{st.st_size:,} bytes, over the {max_bytes:,}-byte cap"
        with open_regular(path) as f:
            # Sized by the stat (read(max_bytes) would allocate the whole cap for every small file).
            data = f.read(st.st_size + 1)
    except OSError as exc:
        return None, "unreadable", exc.strerror or type(exc).__name__
    if len(data) > st.st_size:  # grew since the stat: not the file we sized (and checked against the cap)
        return None, "unreadable", "it grew while being read"
    return data, "", ""


def scan_code(root: str, max_bytes: int = MAX_FILE_BYTES) -> dict:
    """The Ollama sites of one tree; ``stats["warnings"]`` says what was skipped that a user should know."""
    stats = {
        "root": shown_path(root),
        "files_scanned": 0,
        "files_matched": 0,
        "bytes_scanned": 0,
        "skipped": {
            "vendored": 0,
            "gitignored": 0,
            "generated": 0,
            "binary": 0,
            "huge": 0,
            "unreadable": 0,
            "not_regular": 0,
            "outside_link": 0,
            "dir_link": 0,
        },
        "warnings": [],
    }
    skip = _Skips(root, stats["skipped"], stats["warnings"])
    sites: list[dict] = []
    root_real = os.path.realpath(root)
    for path, rel, lang in iter_files(root, skip):
        data, reason, detail = _read_scanned(path, root_real, max_bytes)
        if data is None:
            skip(reason, rel, detail)
            continue
        if b"\x00" in data[:8192]:
            skip("binary")
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
        found = scan_text(text, shown_path(rel), lang)
        if found:
            stats["files_matched"] += 1
            sites.extend(found)
    skip.summary()
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
        return j, "\n".join(lines[i : j + 1])
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
    return j, "\n".join(lines[i : j + 1])


_STR = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'')


def _strip_strings(line: str) -> str:
    return _STR.sub('""', line)


@dataclass(frozen=True)
class Vocabulary:
    """The request fields of ``code_detectors.yaml`` (``parameters``), as the patterns that find them."""

    inline: re.Pattern  # `key: v`, `key=v`, `"key": v` (any spelling in `spelling`)
    spelling: dict  # every spelling (snake, camelCase) -> the field
    go_field: re.Pattern  # Go api struct fields: `Format: "json"`
    go_fields: dict  # Go field -> the field
    go_map_key: re.Pattern  # Go map keys: `"num_ctx": 8192`
    always: tuple[str, ...]  # reported in ollama_params wherever they appear
    on_v1: tuple[str, ...]  # reported on /v1 endpoints only


@functools.lru_cache(maxsize=None)
def vocabulary() -> Vocabulary:
    params = package_data("code_detectors.yaml")["parameters"]
    spelling = {}
    for name, spec in params.items():
        spelling[name] = name
        if spec.get("js"):
            spelling[spec["js"]] = name
    go_fields = {spec["go"]: name for name, spec in params.items() if spec.get("go")}
    go_keys = [name for name, spec in params.items() if spec.get("go_map_key")]
    return Vocabulary(
        inline=re.compile(r"""(?<![\w.$])["']?(""" + "|".join(spelling) + r""")["']?\s*[:=](?!=)\s*([^,\n)}]*)"""),
        spelling=spelling,
        go_field=re.compile(r"\b(" + "|".join(go_fields) + r")\s*:\s*([^,\n}]*)"),
        go_fields=go_fields,
        go_map_key=re.compile(r'"(' + "|".join(go_keys) + r')"\s*:\s*([^,\n}]*)'),
        always=tuple(n for n, spec in params.items() if spec.get("report") == "always"),
        on_v1=tuple(n for n, spec in params.items() if spec.get("report") == "v1"),
    )


def _params(window: str, lang: str) -> dict:
    voc = vocabulary()
    found: dict[str, str] = {}
    for key, val in voc.inline.findall(window):
        found.setdefault(voc.spelling[key], val.strip())
    if lang == "js":
        # Shorthand properties ({ prompt, context }) pass a variable of the same name: the key is set.
        for entry in _js_object_entries(_blank(window, lang)):
            if entry in voc.spelling:
                found.setdefault(voc.spelling[entry], entry)
    if lang == "go":
        for key, val in voc.go_field.findall(window):
            found.setdefault(voc.go_fields[key], val.strip())
        for key, val in voc.go_map_key.findall(window):
            found.setdefault(key, val.strip())
    return found


# Python strings and comments, blanked (offsets kept) before reading braces, commas and spreads; JS and
# Go use _C_TOKENS.
_PY_NOISE = re.compile(
    r'"""[\s\S]*?(?:"""|\Z)'
    r"|'''[\s\S]*?(?:'''|\Z)"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|'(?:[^'\\\n]|\\.)*'|#[^\n]*"
)
# A JS `{` opens an object only in an expression position (after these); after `)`, `=>` or a
# declaration it opens a block. A `}` followed by `=`, `) =>` or `) {` closes a destructuring pattern.
_JS_OBJECT_OPENS = re.compile(r"(?:[(\[,:?|&!+=]|\b(?:return|yield|await|case|in|of|typeof|void|throw))\s*\Z")
_JS_BINDING_FOLLOWS = re.compile(r"\s*(?:=(?![=>])|\)\s*(?:=>|\{))")
_JS_SPREAD = re.compile(r"\.\.\.\s*([A-Za-z_$][\w$]*)\Z")
_PY_SPREAD = re.compile(r"[(,{]\s*\*\*\s*([A-Za-z_]\w*)\b(?!\s*[.(\[])")


def _blank(code: str, lang: str) -> str:
    rx = _C_TOKENS if lang in ("js", "go") else _PY_NOISE
    return rx.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), code)


def _js_object_entries(code: str) -> list[str]:
    """The top-level entries of every JS object literal in ``code`` (strings already blanked):
    ``{ model: m, prompt, ...opts }`` gives ``model: m``, ``prompt`` and ``...opts``. Blocks and
    destructuring patterns (``({ a }) =>``, ``const { a } = x``) are not objects."""
    entries: list[str] = []
    stack: list[int] = []
    for pos, ch in enumerate(code):
        if ch == "{":
            stack.append(pos)
        elif ch == "}" and stack:
            start = stack.pop()
            if not _JS_OBJECT_OPENS.search(code, 0, start) or _JS_BINDING_FOLLOWS.match(code, pos + 1):
                continue
            depth, last = 0, start + 1
            for j in range(start + 1, pos + 1):
                c = code[j]
                if c in "([{":
                    depth += 1
                elif c in ")]}" and depth:
                    depth -= 1
                elif (c == "," and depth == 0) or j == pos:
                    entries.append(code[last:j].strip())
                    last = j + 1
    return entries


def _spread_names(window: str, lang: str) -> list[str]:
    """Named objects spread into the call: ``{...opts}`` (JS), ``f(**opts)`` / ``{**opts}`` (Python)."""
    code = _blank(window, lang)
    if lang == "js":
        names = [m.group(1) for e in _js_object_entries(code) for m in [_JS_SPREAD.match(e)] if m]
    elif lang == "python":
        names = _PY_SPREAD.findall(code)
    else:
        names = []
    return list(dict.fromkeys(names))


def _site(rel, lineno, end, lang, kind, client, endpoint, window, extra_models=(), spread=()) -> dict:
    """A call site; ``spread`` holds the bodies of named objects the call spreads into its request,
    whose keys count as the call's own (after the ones written inline)."""
    p = _params(window, lang)
    for body in spread:
        for key, val in _params(body, lang).items():
            p.setdefault(key, val)
    models = [
        m.split("/", 1)[1] if m.startswith(("ollama/", "ollama_chat/")) else m
        for m in list(extra_models) + [x for piece in (window, *spread) for x in _MODEL.findall(piece)]
    ]
    models = list(dict.fromkeys(models))
    v1 = bool(endpoint and endpoint.startswith("/v1"))
    voc = vocabulary()
    ollama_params = [k for k in voc.always if k in p]
    if v1:
        ollama_params += [k for k in voc.on_v1 if k in p]
    fmt = p.get("format")
    fmt_kind = None
    if fmt is not None:
        fmt_kind = "json" if fmt.strip("'\" ") == "json" else "schema"
    if kind == "llamaindex" and "json_mode" in p and p["json_mode"].strip().lower() == "true":
        fmt_kind = fmt_kind or "json"
    num_ctx = leading_int(p.get("num_ctx")) or leading_int(p.get("context_window"))
    if num_ctx is None and "options" in p:
        m = re.search(r"num_ctx['\"]?\s*[:=]\s*(\d+)", "\n".join((window, *spread)))
        num_ctx = int(m.group(1)) if m else None
    if num_ctx is not None and "num_ctx" not in ollama_params and "context_window" not in ollama_params:
        ollama_params.append("num_ctx")
    for key in ("num_predict", "keep_alive"):
        if key not in p and any(re.search(rf"['\"]?{key}['\"]?\s*[:=]", piece) for piece in (window, *spread)):
            ollama_params.append(key)
    snippet = window.splitlines()[0].strip() if window else ""
    return {
        "file": rel,
        "line": lineno,
        "end_line": end,
        "language": lang,
        "kind": kind,
        "client": client,
        "endpoint": endpoint,
        "models": models,
        "ollama_params": sorted(set(ollama_params)),
        "num_ctx": num_ctx,
        "format": fmt_kind,
        "keep_alive": (p.get("keep_alive") or "").strip("'\" ") or None,
        "tool_choice": (p.get("tool_choice") or "").strip("'\" ") or None,
        "uses_tools": "tools" in p,
        "structured": fmt_kind is not None or "response_format" in p,
        "temperature_set": "temperature" in p,
        "stream": (p.get("stream") or "").strip().lower() in ("true", "1") if "stream" in p else None,
        "snippet": snippet,
    }


# Tokens of C-like sources: block comments, line comments and strings (so "/*" inside a string or a
# line comment does not open a block comment). Go raw strings share the backtick form.
_C_TOKENS = re.compile(r'/\*.*?(?:\*/|\Z)|//[^\n]*|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`(?:[^`\\]|\\.)*`', re.S)
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
            if (
                isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
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
            first = line if not text[bol : m.start()].strip() else line + 1
            end = last if not text[m.end() : eol if eol >= 0 else len(text)].strip() else last - 1
            out.update(range(first, end + 1))
    return out


def _py_prose_fallback(text: str) -> set[int]:
    """For sources ast cannot parse: a triple-quoted string that opens its line and does not
    continue an expression (previous code line ending in ( , = [ { + or a backslash)."""
    out: set[int] = set()
    for m in _PY_TRIPLE.finditer(text):
        bol = text.rfind("\n", 0, m.start()) + 1
        if text[bol : m.start()].strip(" \trRuUbB"):
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


@dataclass(frozen=True)
class Signal:
    """A file-level fact from ``code_detectors.yaml``: which Ollama client library the file uses."""

    id: str
    patterns: dict  # language (or "any") -> compiled pattern
    arguments: Optional[re.Pattern] = None

    def holds(self, text: str, lang: str) -> bool:
        rx = self.patterns.get(lang) or self.patterns.get("any")
        if rx is None:
            return False
        if self.arguments is None:
            return rx.search(text) is not None
        for m in rx.finditer(text):
            # The argument list after the match: up to its first ")" (a window, not a parse).
            seg = text[m.start() : m.start() + 600]
            close = seg.find(")")
            if self.arguments.search(seg[: close if close > 0 else 600]):
                return True
        return False


@dataclass(frozen=True)
class Detector:
    """One row of ``code_detectors.yaml``: a pattern, the kind of site it reports, what it means."""

    id: str
    means: str
    pattern: re.Pattern
    languages: Optional[frozenset] = None  # None: every language
    requires: tuple[tuple[str, bool], ...] = ()  # (signal, must hold)
    when: Optional[str] = None
    unless: Optional[re.Pattern] = None
    report: str = "call"
    kind: Optional[str] = None
    client: Optional[str] = None
    endpoint: Any = None
    models: Optional[int] = None

    def site_fields(self, m: re.Match, lang: str, methods: dict) -> tuple:
        groups = [re.sub(r"\s+", "", g or "") for g in (m.group(0), *m.groups())]
        spec = self.endpoint
        if isinstance(spec, dict) and "method" in spec:
            endpoint = methods.get(groups[spec["method"]].lower())
        elif isinstance(spec, dict):
            endpoint = spec["map"].get(groups[spec["group"]], spec.get("default"))
        else:
            endpoint = spec
        models = [m.group(self.models)] if self.models else []
        return (self.kind or "").format(language=lang), (self.client or "").format(*groups), endpoint, models


@dataclass(frozen=True)
class DetectorTable:
    signals: tuple[Signal, ...]
    methods: dict
    detectors: tuple[Detector, ...]


# Patterns code.py owns because its helpers read their groups; the table names them with `match:`.
_NAMED_PATTERNS = {"url": _URL, "setting": _SETTING, "env_read": _ENV_READ}
_REPORTS = ("call", "url", "config", "mention")


def _signal(sid: str, spec: dict) -> Signal:
    patterns = {lang: re.compile(rx, re.M) for lang, rx in spec.items() if lang not in ("means", "arguments")}
    return Signal(sid, patterns, re.compile(spec["arguments"]) if spec.get("arguments") else None)


def _detector(spec: dict, signals: set[str]) -> Detector:
    spec = dict(spec)
    where = f"code_detectors.yaml: detector {spec.get('id', '?')}"
    named = spec.pop("match", None)
    pattern = _NAMED_PATTERNS.get(named) if named else re.compile(spec.get("pattern") or "")
    spec.pop("pattern", None)
    if pattern is None or not pattern.pattern:
        raise ValueError(f"{where}: no pattern (or an unknown match: {named})")
    requires = tuple((r.lstrip("!"), not r.startswith("!")) for r in spec.pop("requires", None) or ())
    if any(r not in signals for r, _ in requires):
        raise ValueError(f"{where}: requires an unknown signal ({', '.join(r for r, _ in requires)})")
    if spec.get("when") and spec["when"] not in _GUARDS:
        raise ValueError(f"{where}: unknown guard {spec['when']}")
    report = spec.get("report", "call")
    if report not in _REPORTS or (report == "call") != bool(spec.get("kind")):
        raise ValueError(f"{where}: report is one of {', '.join(_REPORTS)}, and only a call has a kind")
    languages = spec.pop("languages", None)
    unless = spec.pop("unless", None)
    return Detector(
        pattern=pattern,
        requires=requires,
        languages=frozenset(languages) if languages else None,
        unless=re.compile(unless) if unless else None,
        **spec,
    )


@functools.lru_cache(maxsize=None)
def detector_table() -> DetectorTable:
    """``migrate/data/code_detectors.yaml``, compiled and checked (a bad row names itself)."""
    data = package_data("code_detectors.yaml")
    signals = tuple(_signal(sid, spec) for sid, spec in data["signals"].items())
    known = {s.id for s in signals}
    return DetectorTable(signals, dict(data["methods"]), tuple(_detector(d, known) for d in data["detectors"]))


# Guards a detector names with `when:` (m: the detector's match on the line; f: the file's scan).
_GUARDS: dict[str, Callable[[re.Match, str, "_FileScan"], bool]] = {
    # Client(...) is ollama's when qualified on the line or imported by name from ollama.
    "imported_client": lambda m, line, f: "ollama." in line or bool({"Client", "AsyncClient"} & f.py_names),
    # chat(...) is ollama's when `from ollama import chat` brought the name in.
    "imported_name": lambda m, line, f: m.group(1) in f.py_names,
    "mentions_ollama": lambda m, line, f: _MENTION.search(line) is not None,
}


class _FileScan:
    """One file: what is known about it as a whole, then its lines read one by one against the table."""

    def __init__(self, text: str, rel: str, lang: str):
        self.text, self.rel, self.lang = text, rel, lang
        self.lines = text.splitlines()
        self.sites: list[dict] = []
        self.covered: set[int] = set()
        self._definitions: dict[str, list[tuple[int, str]]] = {}
        self.table = detector_table()
        self.signals = {s.id: s.holds(text, lang) for s in self.table.signals}
        self.detectors = [
            d
            for d in self.table.detectors
            if (d.languages is None or lang in d.languages)
            and all(self.signals[sig] == want for sig, want in d.requires)
        ]
        self.prose = _prose_lines(text, lang)
        self.py_names: set[str] = set()
        if lang == "python":
            for m in re.finditer(r"^[ \t]*from\s+ollama\s+import\s+(?:\(([^)]*)\)|([\w \t,]+))", text, re.M):
                self.py_names |= {n.split(" as ")[0].strip() for n in (m.group(1) or m.group(2)).split(",")}
        # Identifiers holding an Ollama URL (OLLAMA_URL = "http://...:11434/api/generate"), and which
        # of them an HTTP call line uses: the call is the site, the constant is only its target.
        self.url_vars: dict[str, Optional[str]] = {}
        for m in re.finditer(
            r"""^[ \t]*(?:(?:export\s+)?(?:const|let|var)\s+)?([A-Za-z_]\w*)\s*:?=\s*f?["'`]([^"'`\n]*)["'`]""",
            text,
            re.M,
        ):
            u = _URL.search('"' + m.group(2) + '"')
            if u:
                self.url_vars[m.group(1)] = _endpoint_of_url(u.group(0))
        self.used_vars: set[str] = set()
        if self.url_vars:
            for line in self.lines:
                if _HTTP_CALL.search(line):
                    self.used_vars |= {v for v in self.url_vars if re.search(rf"\b{re.escape(v)}\b", line)}
        # A line with no Ollama word may still call a client this file set up: read those with a "(".
        self.read_calls = any(self.signals.values()) or bool(self.used_vars)

    def run(self) -> list[dict]:
        for i, line in enumerate(self.lines):
            if self.lang != "doc" and not _PRE.search(line) and not (self.read_calls and "(" in line):
                continue
            if i not in self.covered:
                self._line(i, line)
        return self.sites

    def _line(self, i: int, line: str) -> None:
        lang = self.lang
        if lang == "doc" or i in self.prose or _is_comment(line, lang):
            if _MENTION.search(line):
                self.sites.append(_mention(self.rel, i, lang, line))
            return
        if self.used_vars and _HTTP_CALL.search(line):
            hit = [v for v in self.used_vars if re.search(rf"\b{re.escape(v)}\b", line)]
            if hit:
                self._call(i, "raw_http", self._client_at(i), self.url_vars[hit[0]])
                return
        am = re.match(r"^[ \t]*(?:(?:export\s+)?(?:const|let|var)\s+)?([A-Za-z_]\w*)\s*:?=", line)
        if am and am.group(1) in self.used_vars:
            self.covered.add(i)
            return
        for d in self.detectors:
            m = d.pattern.search(line)
            if (
                m is None
                or (d.unless is not None and d.unless.search(line))
                or (d.when is not None and not _GUARDS[d.when](m, line, self))
            ):
                continue
            if d.report == "call":
                self._call(i, *d.site_fields(m, lang, self.table.methods))
            elif d.report == "url":
                self._url(i, line)
            elif d.report == "config":
                self.sites.append(_config(self.rel, i, lang, line))
                self.covered.add(i)
            else:
                self.sites.append(_mention(self.rel, i, lang, line))
            return

    def _call(self, i: int, kind: str, client: Optional[str], endpoint: Optional[str], models=()) -> None:
        end, window = _window(self.lines, i, self.lang)
        spread = self._spread_bodies(window, i)
        self.sites.append(_site(self.rel, i + 1, end + 1, self.lang, kind, client, endpoint, window, models, spread))
        self.covered.update(range(i, end + 1))

    def _spread_bodies(self, window: str, i: int) -> list[str]:
        """The definitions of the named objects a call spreads (``{...opts}``, ``**opts``), and of the
        objects those spread in turn: their keys are the call's as much as the ones written inline."""
        bodies: list[str] = []
        todo, seen = _spread_names(window, self.lang), set()
        while todo and len(bodies) < 8:
            name = todo.pop(0)
            if name in seen:
                continue
            seen.add(name)
            body = self._definition(name, i)
            if body is not None:
                bodies.append(body)
                todo += _spread_names(body, self.lang)
        return bodies

    def _definition(self, name: str, i: int) -> Optional[str]:
        """The object literal assigned to ``name`` in this file (``opts = {...}``, ``const opts = {...}``,
        ``opts = dict(...)``): the nearest one above line i, else the first below."""
        if name not in self._definitions:
            rx = re.compile(
                r"^[ \t]*(?:(?:export\s+)?(?:const|let|var)\s+)?"
                + re.escape(name)
                + r"\s*(?::[^=\n]*)?(=)\s*(?:\{|dict\s*\()"
            )
            found = []
            for j, line in enumerate(self.lines):
                m = rx.match(line)
                if m and j not in self.prose and not _is_comment(line, self.lang):
                    found.append((j, _window(self.lines, j, self.lang)[1][m.start(1) :]))
            self._definitions[name] = found
        found = self._definitions[name]
        above = [body for j, body in found if j < i]
        return above[-1] if above else next((body for j, body in found if j > i), None)

    def _client_at(self, i: int) -> Optional[str]:
        return _http_client(_window(self.lines, i, self.lang)[1], self.text)

    def _url(self, i: int, line: str) -> None:
        """A line with an Ollama URL: the HTTP call whose statement holds it, or else a setting."""
        # The first URL naming an endpoint wins (a host-only URL may precede it on the line).
        ep = next(filter(None, (_endpoint_of_url(u.group(0)) for u in _URL.finditer(line))), None)
        # Only a URL inside an HTTP call's own statement is a call site; a URL in an assignment,
        # an env-var default or an argparse default is a setting (the call uses it elsewhere).
        start = None
        if self.lang != "config":
            if _HTTP_CALL.search(_window(self.lines, i, self.lang)[1]):
                start = i
            else:
                start = _enclosing_http_call(self.lines, i, self.lang, self.prose)
        if start is not None and start not in self.covered:
            self._call(start, "raw_http", self._client_at(start), ep)
        elif start is not None:
            self.covered.add(i)
        elif ep and ep.startswith("/v1") and self.signals.get("openai_at_ollama"):
            self.covered.add(i)  # base_url of an OpenAI client already reported
        else:
            self.sites.append(_config(self.rel, i, self.lang, line))
            self.covered.add(i)


def scan_text(text: str, rel: str, lang: str) -> list[dict]:
    """The Ollama call sites, settings and mentions in one file's text (``lang`` from ``LANG_BY_EXT``)."""
    return [_fact(site) for site in _FileScan(text, rel, lang).run()]


SNIPPET_CHARS = 200
# KEY=value in a .env file: the value is everything after "=", whatever its shape.
_ENV_ASSIGNMENT = re.compile(r"^(\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*)(\S.*)$")


def _is_env_file(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1].lower()
    return name.startswith(".env") or name.endswith(".env")


def _fact(site: dict) -> dict:
    """THE point where scanned text becomes an inventory fact. Secrets are masked on the whole line
    (before the snippet is cut, so a cut cannot hide half a token from the patterns): credential-named
    values, token shapes, ``user:password@``; in a ``.env`` file every value of a credential-named key,
    however it looks. Then every string is made printable (no control character, DEL or U+2028 from
    a scanned file reaches the JSON, a YAML reader or a terminal). Names of secrets stay: that the
    app reads ``OLLAMA_API_KEY`` is a fact."""
    text = {k: site[k] for k in _SCANNED_TEXT if site.get(k)}
    if _is_env_file(site["file"]):
        m = _ENV_ASSIGNMENT.match(site["snippet"])
        if m and is_secret_name(m.group(2)):
            text["snippet"] = m.group(1) + REDACTED
    text = mask_data(text)
    text["snippet"] = text.get("snippet", "")[:SNIPPET_CHARS]
    return {**site, **_printable(text)}


# The fields of a site that hold text from the scanned file; the others come from our own tables.
_SCANNED_TEXT = ("file", "snippet", "settings", "models", "keep_alive", "tool_choice", "client")


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return [_printable(v) for v in value]
    if isinstance(value, dict):
        return {printable(k): _printable(v) for k, v in value.items()}
    return value


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
        if "(" in value and url:  # NAME = os.environ.get("NAME", "<default URL>"): the default
            value = url.group(0)
        settings[m.group(1)] = value
    else:
        for k, v in re.findall(r"\b(OLLAMA_[A-Z_]+|OPENAI_BASE_URL|OPENAI_API_BASE)\s*[=:]\s*[\"']?([^\"'\s,]+)", line):
            settings[k] = v
    env = _ENV_READ.search(line)
    if not settings and env and url:  # process.env.OLLAMA_HOST || "<default URL>"
        settings[env.group(1)] = url.group(0)
    ep = _endpoint_of_url(url.group(0)) if url else None
    return {
        "file": rel,
        "line": i + 1,
        "end_line": i + 1,
        "language": lang,
        "kind": "config",
        "client": None,
        "endpoint": ep,
        "models": [],
        "ollama_params": [],
        "num_ctx": None,
        "format": None,
        "keep_alive": settings.get("OLLAMA_KEEP_ALIVE"),
        "tool_choice": None,
        "uses_tools": False,
        "structured": False,
        "temperature_set": False,
        "stream": None,
        "settings": settings,
        "snippet": line.strip(),
    }


def _mention(rel: str, i: int, lang: str, line: str) -> dict:
    return {
        "file": rel,
        "line": i + 1,
        "end_line": i + 1,
        "language": lang,
        "kind": "mention",
        "client": None,
        "endpoint": None,
        "models": [],
        "ollama_params": [],
        "num_ctx": None,
        "format": None,
        "keep_alive": None,
        "tool_choice": None,
        "uses_tools": False,
        "structured": False,
        "temperature_set": False,
        "stream": None,
        "snippet": line.strip(),
    }
