"""Every log line that is not an access line: Ollama's application log and what passes through it.

* slog lines ``time=... level=... source=... msg=...`` and the older
  ``2024/05/12 06:47:18 routes.go:1006: INFO ...`` form;
* ``server config env="map[...]"`` (possibly broken across lines or cut off);
* runner start lines, ``load request=...``, ``truncating input prompt``, ``Listening on ... (version X)``;
* llama.cpp stderr passing through, gin's debug banner, journald headers, client logs relaying
  Ollama's 503 text; journald (any locale), Docker ``--timestamps`` and rsyslog
  ``message repeated N times: [ ... ]`` wrappers around any of them.

Unknown lines are counted and a few are sampled; they are never fatal.
"""

from __future__ import annotations

import re
from typing import Optional

from ..numbers import leading_int
from .reader import COLOURS

SAMPLE_UNPARSED = 5
MAX_CONFIG_CONTINUATION = 60  # a broken server-config line never swallows more than this
QUEUE_FULL_TEXT = "maximum pending requests exceeded"

# journald: "Mon DD HH:MM:SS host ident[pid]: " in any locale ("jan", "2月", ...); host may contain
# spaces when redacted ("<ollama server>"). Optional "> " from quoted pastes.
_JOURNAL = re.compile(r"^(?:> ?)?\S+\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}\s+.+?\s\S+\[\d+\]:\s?")
_DOCKER_TS = re.compile(r"^(?:> ?)?\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})\s")
_REPEATED = re.compile(r"^message repeated (\d+) times: \[\s?(.*?)\]?\s*$")
_LEGACY = re.compile(r"^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) (\S+\.go:\d+): (INFO|WARN|ERROR|DEBUG|TRACE) (.*)$")
_LEVEL = re.compile(r"\blevel=(\w+)")
_KV = re.compile(r'([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|\S+)')
_LISTEN_VERSION = re.compile(r"Listening on (\S+) \(version ([^)]+)\)")
_STARTED_IN = re.compile(r"started in ([\d.]+) seconds")
_ENGINE_LINE = re.compile(r"^[a-z][a-z0-9_]*: ")  # llama.cpp stderr passthrough
_ENGINE_NCTX = re.compile(r"\b(n_ctx_train|n_ctx_per_seq|n_ctx)\s*=\s*(\d+)")
_RUNNER_JSON = re.compile(r'^\{"function":')
_RUNNER_TEXT = re.compile(r"^(?:DEBUG|INFO|WARN|ERROR) \[\w+\]")
_GIN_ERROR = re.compile(r"^Error #\d+:")
_KNOWN_PREFIXES = ("[GIN-debug]", " - using ", "-- Logs begin", "-- Journal begins", "-- No entries")
_CMD_FLAG = re.compile(r"(?:^|\s)(--ctx-size|-c|--parallel|-np|--model|-m|--n-gpu-layers|-ngl|--batch-size)\s+(\S+)")
_BLOB = re.compile(r"sha256[-:]([0-9a-f]{64})")
_LOAD_REQ = re.compile(r"\b(Operation|Parallel|KvSize|KvCacheType|BatchSize|FlashAttention|NumThreads):([^\s}]*)")
_CONFIG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:")
_NOTABLE = (
    "invalid option provided",
    "context field is deprecated",
    "aborting completion request",
    "requested context size too large",
)


def parse_env_map(body: str, truncated: bool = False) -> dict[str, str]:
    """Parse the inside of Go's ``map[K:V K:V ...]`` print; values may hold ``[...]`` lists with spaces."""
    tokens: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(body):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        elif ch == " " and depth == 0:
            if i > start:
                tokens.append(body[start:i])
            start = i + 1
    if start < len(body):
        tokens.append(body[start:])
    if truncated and tokens and (not _CONFIG_KEY.match(tokens[-1]) or depth > 0):
        tokens.pop()  # the cut-off tail is not a complete KEY:VALUE
    env: dict[str, str] = {}
    last: Optional[str] = None
    for tok in tokens:
        if _CONFIG_KEY.match(tok):
            key, _, value = tok.partition(":")
            env[key] = value
            last = key
        elif last is not None:  # a value that itself contained a space (e.g. a Windows path)
            env[last] += " " + tok
    return env


def strip_prefix(line: str) -> str:
    """The line without a journald, Docker ``--timestamps`` or ``> `` quoting prefix."""
    m = _DOCKER_TS.match(line) or _JOURNAL.match(line)
    if m:
        return line[m.end() :]
    if line.startswith("> "):
        return line[2:]
    return line


class AppLog:
    """What the application log says: configuration, runners, truncations, levels, warnings.

    ``source`` and ``lineno`` name the line being handled (set by the caller)."""

    def __init__(self) -> None:
        self.source = "-"
        self.lineno = 0
        self.truncations: list[dict] = []  # capped list of events; totals kept separately
        self.truncation_count = 0
        self.truncation_max_prompt: Optional[int] = None
        self.truncation_limits: dict[str, int] = {}
        self.message_truncations = 0
        self.context_shifts = 0
        self.queue_full = 0
        self.server_configs: list[dict] = []
        self.runners: list[dict] = []
        self.load_requests: list[dict] = []
        self.runner_start_s: list[float] = []
        self.versions: list[str] = []
        self.listen_addresses: list[str] = []
        self.levels: dict[str, int] = {}
        self.warnings: dict[str, int] = {}
        self.engine_ctx: dict[str, int] = {}
        self.unparsed = 0
        self.unparsed_samples: list[dict] = []
        self._cfg_buf: Optional[list] = None
        self._cfg_line = 0

    def handle(self, line: str, counts: dict, times: int = 1) -> None:
        """One line that is not an access line; ``counts`` gets its class (blank, slog, other)."""
        if self._cfg_buf is not None:
            body = strip_prefix(line)
            self._cfg_buf.append(body)
            if ']"' in body or len(self._cfg_buf) > MAX_CONFIG_CONTINUATION:
                self.flush_config(truncated=']"' not in body)
            counts["other"] += 1
            return
        if not line.strip():
            counts["blank"] += 1
            return
        if "\x1b" in line:
            line = COLOURS.sub("", line)
        if not line.startswith("time="):
            stripped = strip_prefix(line)
            if stripped is not line:
                m = _REPEATED.match(stripped)
                if m:
                    self.handle(m.group(2), counts, times * int(m.group(1)))
                    return
                line = stripped
                if not line.strip():
                    counts["blank"] += 1
                    return
        for _ in range(times):
            self._record(line, counts)

    def _record(self, line: str, counts: dict) -> None:
        if line.startswith("time="):
            counts["slog"] += 1
            m = _LEVEL.search(line, 0, 120)
            if m:
                lvl = m.group(1).upper()
                self.levels[lvl] = self.levels.get(lvl, 0) + 1
            self._message(line)
            return
        m = _LEGACY.match(line)
        if m:
            counts["slog"] += 1
            lvl = m.group(3)
            self.levels[lvl] = self.levels.get(lvl, 0) + 1
            self._message(line)
            return
        if QUEUE_FULL_TEXT in line:  # client logs relaying Ollama's 503 body
            counts["other"] += 1
            self.queue_full += 1
            return
        if (
            line.startswith(_KNOWN_PREFIXES)
            or _GIN_ERROR.match(line)
            or _RUNNER_JSON.match(line)
            or _RUNNER_TEXT.match(line)
        ):
            counts["other"] += 1
            return
        if _ENGINE_LINE.match(line):
            counts["other"] += 1
            for key, val in _ENGINE_NCTX.findall(line):
                self.engine_ctx[key] = max(self.engine_ctx.get(key, 0), int(val))
            return
        self.unparsed_line(line)

    def _message(self, line: str) -> None:
        if 'env="map[' in line:
            start = line.index('env="map[')
            self._cfg_buf = [line[start + len('env="map[') :]]
            self._cfg_line = self.lineno
            if ']"' in line[start:]:
                self.flush_config(truncated=False)
            return
        if "msg=" not in line:
            return
        if "truncating input prompt" in line:
            kv = _kv(line)
            self.truncation_count += 1
            ev = {
                "source": self.source,
                "line": self.lineno,
                **{k: leading_int(kv.get(k), signed=True) for k in ("limit", "prompt", "keep", "new")},
            }
            if ev["prompt"] is not None:
                self.truncation_max_prompt = max(self.truncation_max_prompt or 0, ev["prompt"])
            if ev["limit"] is not None:
                k = str(ev["limit"])
                self.truncation_limits[k] = self.truncation_limits.get(k, 0) + 1
            if len(self.truncations) < 100:
                self.truncations.append(ev)
        elif "truncating input messages" in line:
            self.message_truncations += 1
        elif "context limit hit" in line:
            self.context_shifts += 1
        elif "Listening on" in line:
            m = _LISTEN_VERSION.search(line)
            if m:
                self.listen_addresses.append(m.group(1))
                self.versions.append(m.group(2))
        elif "starting llama server" in line or "starting runner" in line or "starting llama-server" in line:
            kv = _kv(line)
            self.runners.append(_runner(kv.get("cmd", ""), self.source, self.lineno))
        elif "msg=load request=" in line or 'msg="load request"' in line:
            fields = dict(_LOAD_REQ.findall(line))
            if len(self.load_requests) < 200:
                self.load_requests.append(
                    {
                        "source": self.source,
                        "line": self.lineno,
                        "operation": fields.get("Operation"),
                        "parallel": leading_int(fields.get("Parallel"), signed=True),
                        "kv_size": leading_int(fields.get("KvSize"), signed=True),
                        "kv_cache_type": fields.get("KvCacheType") or None,
                    }
                )
        elif "runner started in" in line or "llama-server started in" in line:
            m = _STARTED_IN.search(line)
            if m and len(self.runner_start_s) < 1000:
                self.runner_start_s.append(float(m.group(1)))
        elif QUEUE_FULL_TEXT in line:
            self.queue_full += 1
        else:
            for key in _NOTABLE:
                if key in line:
                    self.warnings[key] = self.warnings.get(key, 0) + 1
                    break

    def flush_config(self, truncated: bool) -> None:
        """Close a pending ``server config`` line (``truncated``: its end never came)."""
        if self._cfg_buf is None:
            return
        text = " ".join(s.strip() for s in self._cfg_buf)
        self._cfg_buf = None
        end = text.find(']"')
        body = text[:end] if end >= 0 else text
        env = parse_env_map(body, truncated=truncated or end < 0)
        self.server_configs.append(
            {"source": self.source, "line": self._cfg_line, "truncated": bool(truncated or end < 0), "env": env}
        )

    def unparsed_line(self, line: str) -> None:
        self.unparsed += 1
        if len(self.unparsed_samples) < SAMPLE_UNPARSED:
            self.unparsed_samples.append({"source": self.source, "line": self.lineno, "text": line[:200]})


def _kv(line: str) -> dict[str, str]:
    out = {}
    for key, val in _KV.findall(line):
        if val.startswith('"') and val.endswith('"') and len(val) >= 2:
            val = val[1:-1].replace('\\"', '"')
        out[key] = val
    return out


def _runner(cmd: str, source: str, lineno: int) -> dict:
    flags: dict[str, str] = {}
    for flag, val in _CMD_FLAG.findall(cmd):
        flags.setdefault(flag, val)
    ctx = leading_int(flags.get("--ctx-size", flags.get("-c")), signed=True)
    par = leading_int(flags.get("--parallel", flags.get("-np")), signed=True)
    model = flags.get("--model", flags.get("-m"))
    blob = _BLOB.search(model or "")
    return {
        "source": source,
        "line": lineno,
        "ctx_size": ctx,
        "parallel": par,
        "ctx_per_slot": (ctx // par) if ctx and par else ctx,
        "model_blob": ("sha256:" + blob.group(1)) if blob else None,
        "ollama_engine": "--ollama-engine" in cmd,
        "n_gpu_layers": leading_int(flags.get("--n-gpu-layers", flags.get("-ngl")), signed=True),
        "no_mmap": "--no-mmap" in cmd,
    }
