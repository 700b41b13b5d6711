"""Code scan: where does an application talk to Ollama, how, and with which Ollama-only knobs.

Patterns follow the shared Ollama reference, section 7. The scan is two-stage for speed: one
compiled prefilter over each whole file (close to grep), then a line-level pass only on files that
hit. Comments and prose (including Python docstrings and JS/Go block comments) that merely mention
``11434`` are reported as ``kind: "mention"``, never as call sites. A URL is a call site only inside
an HTTP call's statement; elsewhere (assignments, env-var defaults) it is a ``config`` site.
"""
from __future__ import annotations

import ast
import os
import re
from typing import Optional

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

_ENDPOINT_OF_CALL = {"chat": "/api/chat", "generate": "/api/generate", "embed": "/api/embed",
                     "embeddings": "/api/embeddings", "list": "/api/tags", "show": "/api/show",
                     "ps": "/api/ps", "pull": "/api/pull", "push": "/api/push", "create": "/api/create",
                     "copy": "/api/copy", "delete": "/api/delete"}

_LITELLM = re.compile(r"""["'](ollama(?:_chat)?)/([\w.:\-/]+)["']""")
_MOD_CALL = re.compile(r"\bollama\s*\.\s*(chat|generate|embed|embeddings|list|show|ps|pull|push|create|copy|delete)\s*\(")
_PY_CLIENT = re.compile(r"(?<![\w.])(?:ollama\s*\.\s*)?(Async)?Client\s*\(")
_JS_CLIENT = re.compile(r"\bnew\s+Ollama\s*\(")
_METHOD_CALL = re.compile(r"\.\s*(chat|generate|embed|embeddings)\s*\(")
_BARE_CALL = re.compile(r"(?<![\w.])(chat|generate|embed)\s*\(")
_LANGCHAIN = re.compile(r"\b(ChatOllama|OllamaLLM|OllamaEmbeddings)\s*\(")
_BARE_OLLAMA_CLS = re.compile(r"(?<![\w.])(Ollama|OllamaEmbedding)\s*\(")
_OPENAI_CTOR = re.compile(r"\b(?:Async)?(?:Azure)?OpenAI\s*\(")
_OPENAI_CALL = re.compile(r"\.\s*(chat\s*\.\s*completions|completions|embeddings|responses)\s*\.\s*create\s*\(")
_GO_CLIENT = re.compile(r"\bapi\s*\.\s*(ClientFromEnvironment|NewClient)\s*\(")
_GO_CALL = re.compile(r"\.\s*(Chat|Generate|Embed|Embeddings|List|Show|Pull)\s*\(\s*ctx")
# A bare API path counts when it starts a string or follows an interpolation: "/api/chat",
# f"{host}/api/chat", `${host}/api/chat`, host + "/api/chat", Sprintf("%s/api/chat").
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

_CAMEL = {"numCtx": "num_ctx", "numPredict": "num_predict", "keepAlive": "keep_alive",
          "toolChoice": "tool_choice", "responseFormat": "response_format", "contextWindow": "context_window"}
_PARAM = re.compile(r"""(?<![\w.$])["']?(num_ctx|numCtx|num_predict|numPredict|keep_alive|keepAlive|toolChoice|format|raw|context|template|think|images|"""
                    r"""tool_choice|num_gpu|num_thread|num_batch|mirostat|suffix|truncate|context_window|"""
                    r"""json_mode|max_completion_tokens|max_tokens|temperature|tools|response_format|stream|"""
                    r"""options|top_k|top_p|seed|stop|reasoning_effort|extra_body)["']?\s*[:=](?!=)\s*([^,\n)}]*)""")
_GO_PARAM = re.compile(r"\b(Format|KeepAlive|Raw|Context|Template|Think|Images|Options|Stream|Tools|Suffix)\s*:\s*([^,\n}]*)")
_GO_MAP = {"Format": "format", "KeepAlive": "keep_alive", "Raw": "raw", "Context": "context",
           "Template": "template", "Think": "think", "Images": "images", "Options": "options",
           "Stream": "stream", "Tools": "tools", "Suffix": "suffix"}
_MODEL = re.compile(r"""\b(?:model|model_name|modelName|Model)["']?\s*[:=]\s*["']([^"'\s]+)["']""")
OLLAMA_ONLY = ("num_ctx", "num_predict", "keep_alive", "format", "raw", "context", "template", "think",
               "images", "suffix", "truncate", "num_gpu", "num_thread", "num_batch", "mirostat",
               "context_window", "json_mode", "options")


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


def _params(window: str, lang: str) -> dict:
    found: dict[str, str] = {}
    for key, val in _PARAM.findall(window):
        found.setdefault(_CAMEL.get(key, key), val.strip())
    if lang == "go":
        for key, val in _GO_PARAM.findall(window):
            found.setdefault(_GO_MAP[key], val.strip())
        for key, val in re.findall(r'"(num_ctx|num_predict|keep_alive)"\s*:\s*([^,\n}]*)', window):
            found.setdefault(key, val.strip())
    return found


def _int(v: Optional[str]) -> Optional[int]:
    m = re.match(r"\s*(\d[\d_]*)", v or "")
    return int(m.group(1).replace("_", "")) if m else None


def _site(rel, lineno, end, lang, kind, client, endpoint, window, extra_models=()) -> dict:
    p = _params(window, lang)
    models = [m.split("/", 1)[1] if m.startswith(("ollama/", "ollama_chat/")) else m
              for m in list(extra_models) + _MODEL.findall(window)]
    models = list(dict.fromkeys(models))
    v1 = bool(endpoint and endpoint.startswith("/v1"))
    ollama_params = [k for k in OLLAMA_ONLY if k in p]
    if v1:
        ollama_params += [k for k in ("tool_choice", "max_completion_tokens") if k in p]
    fmt = p.get("format")
    fmt_kind = None
    if fmt is not None:
        fmt_kind = "json" if fmt.strip("'\" ") == "json" else "schema"
    if kind == "llamaindex" and "json_mode" in p and p["json_mode"].strip().lower() == "true":
        fmt_kind = fmt_kind or "json"
    num_ctx = _int(p.get("num_ctx")) or _int(p.get("context_window"))
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


def scan_text(text: str, rel: str, lang: str) -> list[dict]:
    lines = text.splitlines()
    sites: list[dict] = []
    covered: set[int] = set()

    py_ollama = lang == "python" and re.search(r"^\s*(?:import\s+ollama\b|from\s+ollama\s+import)", text, re.M)
    py_names = set()
    if lang == "python":
        for m in re.finditer(r"^[ \t]*from\s+ollama\s+import\s+(?:\(([^)]*)\)|([\w \t,]+))", text, re.M):
            py_names |= {n.split(" as ")[0].strip() for n in (m.group(1) or m.group(2)).split(",")}
    js_ollama = lang == "js" and re.search(r"""from\s+['"]ollama(?:/browser)?['"]|require\(\s*['"]ollama['"]\s*\)""", text)
    lc = re.search(r"langchain_ollama|langchain_community\.\w+\.ollama|langchain\.\w+\.ollama|@langchain/ollama|"
                   r"@langchain/community/\w+/ollama|langchain_community\.(?:llms|chat_models|embeddings)\s+import[^\n]*Ollama",
                   text)
    li = re.search(r"llama_index\.(?:llms|embeddings)\.ollama|@llamaindex/ollama", text)
    go_ollama = lang == "go" and "github.com/ollama/ollama/api" in text
    prose = _prose_lines(text, lang)
    openai_at_ollama = False
    if lang in ("python", "js"):
        for m in _OPENAI_CTOR.finditer(text):
            seg = text[m.start(): m.start() + 600]
            close = seg.find(")")
            seg = seg[: close if close > 0 else 600]
            if re.search(r"11434|[Oo]llama|OLLAMA", seg):
                openai_at_ollama = True
                break

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

    def add(i, kind, client, endpoint, models=()):
        end, window = _window(lines, i, lang)
        sites.append(_site(rel, i + 1, end + 1, lang, kind, client, endpoint, window, models))
        covered.update(range(i, end + 1))

    for i, line in enumerate(lines):
        if lang != "doc" and not _PRE.search(line) and not (
                (py_ollama or js_ollama or go_ollama or openai_at_ollama or lc or li or used_vars)
                and "(" in line):
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
        if lang in ("python", "js"):
            m = _LITELLM.search(line)
            if m:
                ep = "/api/chat" if m.group(1) == "ollama_chat" else "/api/generate"
                add(i, "litellm", "litellm", ep, [m.group(2)])
                continue
            m = _MOD_CALL.search(line)
            if m and (py_ollama or js_ollama):
                add(i, "ollama_python" if lang == "python" else "ollama_js",
                    f"ollama.{m.group(1)}", _ENDPOINT_OF_CALL[m.group(1)])
                continue
            if lang == "python" and (py_ollama and _PY_CLIENT.search(line)
                                     and ("ollama." in line or {"Client", "AsyncClient"} & py_names)):
                add(i, "ollama_python", "ollama.Client", None)
                continue
            if lang == "js" and js_ollama and _JS_CLIENT.search(line) and not lc:
                add(i, "ollama_js", "new Ollama", None)
                continue
            m = _LANGCHAIN.search(line)
            if m and lc:
                cls = m.group(1)
                ep = {"ChatOllama": "/api/chat", "OllamaLLM": "/api/generate"}.get(cls, "/api/embed")
                add(i, "langchain", cls, ep)
                continue
            m = _BARE_OLLAMA_CLS.search(line)
            if m and (li or lc):
                if li:
                    ep = "/api/embed" if m.group(1) == "OllamaEmbedding" else "/api/chat"
                    add(i, "llamaindex", m.group(1), ep)
                else:
                    add(i, "langchain", m.group(1), "/api/generate")
                continue
            m = _OPENAI_CALL.search(line)
            if m and openai_at_ollama:
                what = re.sub(r"\s+", "", m.group(1))
                ep = {"chat.completions": "/v1/chat/completions", "completions": "/v1/completions",
                      "embeddings": "/v1/embeddings", "responses": "/v1/responses"}[what]
                add(i, "openai_sdk", "openai", ep)
                continue
            if _OPENAI_CTOR.search(line) and openai_at_ollama:
                add(i, "openai_sdk", "OpenAI", None)
                continue
            if py_ollama or js_ollama:
                m = _METHOD_CALL.search(line)
                if m and not _OPENAI_CALL.search(line):
                    add(i, "ollama_python" if lang == "python" else "ollama_js",
                        f"client.{m.group(1)}", _ENDPOINT_OF_CALL[m.group(1)])
                    continue
            if lang == "python" and py_names:
                m = _BARE_CALL.search(line)
                if m and m.group(1) in py_names:
                    add(i, "ollama_python", m.group(1), _ENDPOINT_OF_CALL[m.group(1)])
                    continue
        if lang == "go" and go_ollama:
            if _GO_CLIENT.search(line):
                add(i, "ollama_go", "api." + _GO_CLIENT.search(line).group(1), None)
                continue
            m = _GO_CALL.search(line)
            if m:
                ep = _ENDPOINT_OF_CALL.get(m.group(1).lower())
                add(i, "ollama_go", "client." + m.group(1), ep)
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
            elif ep and ep.startswith("/v1") and openai_at_ollama:
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
