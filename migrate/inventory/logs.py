"""Streaming parser for Ollama server logs (and client logs that relay Ollama errors).

One pass, one line at a time, bounded memory: counters, per-second/per-minute buckets and a capped
latency sample per endpoint (switching to a log-bucket histogram past the cap). Nothing here reads a
whole file. Formats (see the shared Ollama reference, section 4):

* GIN access lines ``[GIN] 2025/02/20 - 16:34:14 | 200 |  7.69s | 10.0.0.1 | POST "/api/chat"``,
  optionally with ANSI colours, a journald prefix (any locale), a Docker ``--timestamps`` prefix or
  an rsyslog ``message repeated N times: [ ... ]`` wrapper;
* slog lines ``time=... level=... source=... msg=...`` and the older
  ``2024/05/12 06:47:18 routes.go:1006: INFO ...`` form;
* ``server config env="map[...]"`` (possibly broken across lines or cut off);
* runner start lines, ``load request=...``, ``truncating input prompt``, ``Listening on ... (version X)``.

Unknown lines are counted and a few are sampled; they are never fatal.
"""
from __future__ import annotations

from array import array
import calendar
import gzip
import io
import math
from collections import Counter
from itertools import compress, groupby, repeat
from operator import add, is_, itemgetter, lt, mul, sub, truediv
import os
import re
import sys
from typing import IO, Iterable, Iterator, Optional

SAMPLE_UNPARSED = 5
EXACT_LATENCY_CAP = 20_000          # per endpoint; beyond this a log-bucket histogram takes over
HIST_RATIO = math.log(1.02)         # 2 % wide buckets: percentiles within ~1 %
MAX_LINE = 1 << 20                  # longer lines are counted as oversized and skipped
MAX_CONFIG_CONTINUATION = 60        # a broken server-config line never swallows more than this

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# One access line, anywhere in a line (so journald/Docker prefixes need no separate pass).
_GIN_RE = re.compile(r'\[GIN\] (\d{4}/\d\d/\d\d - \d\d:\d\d:\d\d) \| *(\d{3}) \| *([0-9.]+)([a-zµμ]+)((?:[0-9.]+[a-zµμ]+)*) \| *(\S*) \| *'
                     r'([A-Z]+) +"([^"?\n]*)[^"\n]*"')
CHUNK = 1 << 18
# The same access line cut at its four '|' (fast path): each column must match its part of _GIN_RE,
# so both paths accept exactly the same lines.
_COL_TS = re.compile(r"\[GIN\] (\d{4}/\d\d/\d\d - \d\d:\d\d:\d\d) ")
_COL_STATUS = re.compile(r" *(\d{3}) ")
_COL_IP = re.compile(r" *(\S*) ")
_COL_REQ = re.compile(r' *([A-Z]+) +"([^"?\n]*)[^"\n]*"')
# After the unit rewrite below, a latency column holds only these characters; anything else
# (signs, exponents, "inf", stray letters) goes to the regex path.
_LAT_STRAY = re.compile(r"[^ 0-9.|\nnumsh]| \|")
_LAT_COMPOUND = re.compile(r"[0-9.]+[a-zµμ]+(?:[0-9.]+[a-zµμ]+)*")
# Single-unit durations rewritten to "number|multiplier" in one str.replace pass per unit
# ("ms" before "s"); the multiplier is then looked up, never parsed per line.
_LAT_UNITS = (("ns \n", "|n\n"), ("µs \n", "|u\n"), ("μs \n", "|u\n"), ("us \n", "|u\n"),
              ("ms \n", "|m\n"), ("s \n", "|s\n"))
_LAT_MULT = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "s": 1.0}
_TAIL28 = itemgetter(slice(-28, None))
FAST_CACHE_MAX = 50_000             # distinct column values remembered between blocks
# journald: "Mon DD HH:MM:SS host ident[pid]: " in any locale ("jan", "2月", ...); host may contain
# spaces when redacted ("<ollama server>"). Optional "> " from quoted pastes.
_JOURNAL = re.compile(r"^(?:> ?)?\S+\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}\s+.+?\s\S+\[\d+\]:\s?")
_DOCKER_TS = re.compile(r"^(?:> ?)?\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})\s")
_REPEATED = re.compile(r"^message repeated (\d+) times: \[\s?(.*?)\]?\s*$")
_LEGACY = re.compile(r"^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) (\S+\.go:\d+): (INFO|WARN|ERROR|DEBUG|TRACE) (.*)$")
_LEVEL = re.compile(r"\blevel=(\w+)")
_KV = re.compile(r'([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|\S+)')
_LISTEN_VERSION = re.compile(r"Listening on (\S+) \(version ([^)]+)\)")
_ENGINE_LINE = re.compile(r"^[a-z][a-z0-9_]*: ")   # llama.cpp stderr passthrough
_ENGINE_NCTX = re.compile(r"\b(n_ctx_train|n_ctx_per_seq|n_ctx)\s*=\s*(\d+)")
_RUNNER_JSON = re.compile(r'^\{"function":')
_RUNNER_TEXT = re.compile(r"^(?:DEBUG|INFO|WARN|ERROR) \[\w+\]")
_GIN_ERROR = re.compile(r"^Error #\d+:")
_CMD_FLAG = re.compile(r"(?:^|\s)(--ctx-size|-c|--parallel|-np|--model|-m|--n-gpu-layers|-ngl|--batch-size)\s+(\S+)")
_BLOB = re.compile(r"sha256[-:]([0-9a-f]{64})")
_LOAD_REQ = re.compile(r"\b(Operation|Parallel|KvSize|KvCacheType|BatchSize|FlashAttention|NumThreads):([^\s}]*)")
_CONFIG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:")
_DUR_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)")
_COMPOUND_CACHE: dict[str, float] = {}
_COMPOUND_TOKENS: dict[str, object] = {}   # fast path: padded "5m8" -> seconds, or False if invalid
_DUR_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}

QUEUE_FULL_TEXT = "maximum pending requests exceeded"
BUSY_COMPACT_AT = 20_000            # seconds kept in the concurrency buckets before folding old ones
COMPACT_HORIZON_S = 4 * 3600        # requests longer than this may be under-counted after folding


def parse_go_duration(text: str) -> Optional[float]:
    """Go ``time.Duration.String()`` -> seconds (``971.777µs``, ``32.7s``, ``5m8s``, ``1h24m39s``)."""
    s = text.strip()
    if not s:
        return None
    if s == "0s" or s == "0":
        return 0.0
    # Fast paths for the common single-unit forms.
    tail = s[-2:]
    try:
        if tail == "ms":
            return float(s[:-2]) * 1e-3
        if tail in ("µs", "μs", "us"):
            return float(s[:-2]) * 1e-6
        if tail == "ns":
            return float(s[:-2]) * 1e-9
        if s[-1] == "s":
            return float(s[:-1])
    except ValueError:
        pass
    total, pos = 0.0, 0
    for m in _DUR_PART.finditer(s):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _DUR_UNIT[m.group(2)]
        pos = m.end()
    return total if pos == len(s) and pos else None


def _dur_fast(s: str) -> float:
    """parse_go_duration for strings the access-line regex already isolated (hot path)."""
    if s[-1] == "s":
        c = s[-2:-1]
        try:
            if c == "m":
                return float(s[:-2]) * 1e-3
            if c == "µ" or c == "μ" or c == "u":
                return float(s[:-2]) * 1e-6
            if c == "n":
                return float(s[:-2]) * 1e-9
            return float(s[:-1])
        except ValueError:
            pass
    v = parse_go_duration(s)
    return 0.0 if v is None else v


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
        tokens.pop()        # the cut-off tail is not a complete KEY:VALUE
    env: dict[str, str] = {}
    last: Optional[str] = None
    for tok in tokens:
        if _CONFIG_KEY.match(tok):
            key, _, value = tok.partition(":")
            env[key] = value
            last = key
        elif last is not None:          # a value that itself contained a space (e.g. a Windows path)
            env[last] += " " + tok
    return env


_TINY = 1e-12                       # below Go's 1ns resolution: stands for a 0s latency in the histogram
_TINY_BUCKET = math.floor(math.log(_TINY) / HIST_RATIO)


def _buckets(vals) -> Counter:
    """Histogram bucket counts of many latencies in one C-level pass (no Python call per value)."""
    return Counter(map(math.floor, map(truediv, map(math.log, map(max, vals, repeat(_TINY))),
                                       repeat(HIST_RATIO))))


class _Latency:
    """Exact samples (a flat double array) up to a cap, then a log-bucket histogram (memory flat)."""

    __slots__ = ("values", "hist", "count", "total", "max")

    def __init__(self) -> None:
        self.values: Optional[array] = array("d")
        self.hist: Optional[Counter] = None
        self.count = 0
        self.total = 0.0
        self.max = 0.0

    def add(self, v: float) -> None:
        self.count += 1
        self.total += v
        if v > self.max:
            self.max = v
        if self.values is not None:
            self.values.append(v)
            if len(self.values) >= EXACT_LATENCY_CAP:
                self._to_hist()
        else:
            self.hist.update(_buckets((v,)))

    def extend(self, vals: list) -> None:
        if not vals:
            return
        self.count += len(vals)
        self.total += sum(vals)
        m = max(vals)
        if m > self.max:
            self.max = m
        if self.values is not None:
            self.values.extend(vals)
            if len(self.values) >= EXACT_LATENCY_CAP:
                self._to_hist()
        else:
            self.hist.update(_buckets(vals))

    def _to_hist(self) -> None:
        self.hist = _buckets(self.values)
        self.values = None

    def percentile(self, q: float) -> Optional[float]:
        if not self.count:
            return None
        if self.values is not None:
            vals = sorted(self.values)
            return vals[min(len(vals) - 1, max(0, math.ceil(q / 100 * len(vals)) - 1))]
        rank = max(1, math.ceil(q / 100 * self.count))
        seen = 0
        for b in sorted(self.hist):
            seen += self.hist[b]
            if seen >= rank:
                return 0.0 if b <= _TINY_BUCKET else math.exp((b + 0.5) * HIST_RATIO)
        return self.max

    def summary(self) -> dict:
        r = lambda x: None if x is None else round(x, 6)  # noqa: E731
        return {"count": self.count, "p50_s": r(self.percentile(50)), "p90_s": r(self.percentile(90)),
                "p95_s": r(self.percentile(95)), "p99_s": r(self.percentile(99)),
                "max_s": r(self.max), "mean_s": r(self.total / self.count) if self.count else None,
                "exact": self.values is not None}


class LogStats:
    """Accumulates everything the inventory needs from any number of log files."""

    def __init__(self) -> None:
        self.files: list[dict] = []
        self.requests = 0
        self._tri: Counter = Counter()          # (path, status, method) -> count
        self.latency: dict[str, _Latency] = {}
        self.clients: Counter = Counter()
        self.per_minute: dict[int, int] = {}
        self._busy: dict[int, float] = {}      # request-seconds spent in each wall-clock second
        self._diff: dict[int, int] = {}        # +1/-1 for whole seconds covered by long requests
        self._folded_before: Optional[int] = None   # seconds before this are folded into _folded_*
        self._folded_running = 0
        self._folded_peak = 0.0
        self.first_ts: Optional[int] = None
        self.last_ts: Optional[int] = None
        self.truncations: list[dict] = []       # capped list of events; totals kept separately
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
        self._date_cache: dict[str, int] = {}
        self._source = "-"
        self._lineno = 0
        self._cfg_buf: Optional[list] = None
        # fast path: timestamp column -> end second, (request, status) columns -> (path, status,
        # method), client column -> address
        self._fast_caches: tuple[dict, dict, dict] = ({}, {}, {})
        self._paths: dict[str, str] = {}

    # ----------------------------------------------------------------- input
    def feed_file(self, path: str) -> dict:
        """Parse one file (plain, .gz, or ``-`` for stdin). Binary files are counted and skipped."""
        info = {"path": path, "lines": 0, "blank": 0, "gin": 0, "slog": 0, "other_known": 0,
                "unparsed": 0, "oversized": 0, "binary": False, "server_configs": 0}
        if path == "-":
            stream: IO[str] = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
            self._feed_stream(stream, path, info)
        else:
            with open(path, "rb") as raw:
                head = raw.read(8192)
            if path.endswith(".gz"):
                with gzip.open(path, "rb") as gz:
                    head = gz.read(8192)
            if b"\x00" in head:
                info["binary"] = True
                self.files.append(info)
                return info
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8", errors="replace", newline=None) as stream:
                self._feed_stream(stream, path, info)
        self.files.append(info)
        return info

    def _feed_stream(self, stream: IO[str], path: str, info: dict) -> None:
        """Read fixed-size blocks (never a whole file, never one unbounded line) and parse them."""
        self._source, self._lineno = path, 0
        before = (self.unparsed, len(self.server_configs))
        counts = {"gin": 0, "slog": 0, "other": 0, "blank": 0, "oversized": 0}
        carry = ""
        skipping = False        # inside an oversized line: drop text up to the next newline
        read = stream.read
        while True:
            block = read(CHUNK)
            if not block:
                break
            if skipping:
                cut = block.find("\n")
                if cut < 0:
                    continue
                block, skipping = block[cut + 1:], False
                self._lineno += 1
            block = carry + block
            cut = block.rfind("\n")
            if cut < 0:
                carry = block
                if len(carry) > MAX_LINE:
                    counts["oversized"] += 1
                    carry, skipping = "", True
                continue
            carry = block[cut + 1:]
            if len(carry) > MAX_LINE:
                counts["oversized"] += 1
                carry, skipping = "", True
            self._chunk(block[:cut], counts)
        if carry:
            self._chunk(carry, counts)
        if skipping:
            self._lineno += 1
        self._flush_config(truncated=True)
        info["lines"] = self._lineno
        info["blank"] = counts["blank"]
        info["gin"] = counts["gin"]
        info["slog"] = counts["slog"]
        info["other_known"] = counts["other"]
        info["oversized"] = counts["oversized"]
        info["unparsed"] = self.unparsed - before[0]
        info["server_configs"] = len(self.server_configs) - before[1]

    def _chunk(self, chunk: str, counts: dict) -> None:
        """Parse complete lines: access lines in bulk (split at '|' when every one fits, else the
        full regex, which also samples malformed ones), the rest one by one."""
        if "\x1b" in chunk:
            chunk = _ANSI.sub("", chunk)
        base = self._lineno
        n_gin = chunk.count("[GIN] ")
        if n_gin and n_gin == chunk.count("\n") + 1 and self._gin_fast(chunk, n_gin):
            counts["gin"] += n_gin      # a block of pure access lines
            self._lineno = base + n_gin
            return
        lines = chunk.split("\n")
        if n_gin and n_gin < len(lines):
            gin_lines = list(compress(lines, map(str.__contains__, lines, repeat("[GIN] "))))
            if len(gin_lines) == n_gin and self._gin_fast("\n".join(gin_lines), n_gin):
                counts["gin"] += n_gin
                n_gin = -n_gin          # done; the loop below handles the other lines
        if n_gin > 0:
            found = _GIN_RE.findall(chunk)
            if len(found) != n_gin:     # some access lines are malformed: go line by line
                found = []
                for i, line in enumerate(lines):
                    if "[GIN] " in line:
                        m = _GIN_RE.search(line)
                        if m:
                            found.append(m.groups())
                        else:
                            self._lineno = base + i + 1
                            self._unparsed(line)
            counts["gin"] += len(found)
            self._gin_batch(found)
        if abs(n_gin) < len(lines):
            handle = self._handle
            for i, line in enumerate(lines):
                if "[GIN] " not in line:
                    self._lineno = base + i + 1
                    handle(line, counts)
        self._lineno = base + len(lines)

    def feed_lines(self, lines: Iterable[str], source: str = "<lines>") -> dict:
        """Parse already-split lines (tests, benchmarks)."""
        info = {"path": source, "lines": 0, "blank": 0, "gin": 0, "slog": 0, "other_known": 0,
                "unparsed": 0, "oversized": 0, "binary": False, "server_configs": 0}
        self._feed_stream(io.StringIO("".join(l if l.endswith("\n") else l + "\n" for l in lines)),
                          source, info)
        self.files.append(info)
        return info

    # ------------------------------------------------------------- dispatch
    def _handle(self, line: str, counts: dict, repeat: int = 1) -> None:
        if self._cfg_buf is not None:
            body = self._strip_prefix(line)
            self._cfg_buf.append(body)
            if ']"' in body or len(self._cfg_buf) > MAX_CONFIG_CONTINUATION:
                self._flush_config(truncated=']"' not in body)
            counts["other"] += 1
            return
        if not line.strip():
            counts["blank"] += 1
            return
        if "\x1b" in line:
            line = _ANSI.sub("", line)
        if not line.startswith("time="):
            stripped = self._strip_prefix(line)
            if stripped is not line:
                m = _REPEATED.match(stripped)
                if m:
                    inner, times = m.group(2), repeat * int(m.group(1))
                    g = _GIN_RE.search(inner)
                    if g:
                        counts["gin"] += times
                        self._gin_batch([g.groups()] * times)
                    else:
                        self._handle(inner, counts, times)
                    return
                line = stripped
                if not line.strip():
                    counts["blank"] += 1
                    return
        for _ in range(repeat):
            self._other(line, counts)

    def _strip_prefix(self, line: str) -> str:
        m = _DOCKER_TS.match(line) or _JOURNAL.match(line)
        if m:
            return line[m.end():]
        if line.startswith("> "):
            return line[2:]
        return line

    # ------------------------------------------------------------------ GIN
    def _gin_fast(self, text: str, n: int) -> bool:
        """Aggregate ``n`` access lines (joined by newlines) with C-level str/Counter operations.

        Cut at the four '|' of each line, the columns are validated per DISTINCT value (timestamps,
        statuses, clients and requests repeat), latencies in one regex pass over the column.
        Returns False, having changed nothing, when any line does not fit; the caller then takes
        the regex path, which handles (and samples) malformed lines."""
        f = text.replace("\n", "|").split("|")
        if len(f) != 5 * n:
            return False
        c0, c1, c2, c3, c4 = f[0::5], f[1::5], f[2::5], f[3::5], f[4::5]
        del f
        caches = self._fast_caches
        ts_map, req_map, ip_map = caches
        # Only the last 28 characters ("[GIN] 2025/02/20 - 16:34:14 ") matter: journald, Docker or
        # repeat prefixes before them vary per line and are ignored, as the regex path does.
        tails = list(map(_TAIL28, c0))
        for v in set(tails).difference(ts_map):
            m = _COL_TS.fullmatch(v)
            e = self._gin_time(m.group(1)) if m else None
            if e is None:
                return False
            ts_map[v] = e
        quad = Counter(zip(c4, c1, c3))     # (request, status, client) columns: few distinct
        for r, st, ip in quad:
            if (r, st) not in req_map:
                m, sm = _COL_REQ.match(r), _COL_STATUS.fullmatch(st)
                if not (m and sm):
                    return False
                # paths interned: the per-path split below compares by identity
                path = self._paths.setdefault(m.group(2), m.group(2))
                req_map[(r, st)] = (path, sm.group(1), m.group(1))
            if ip not in ip_map:
                m = _COL_IP.fullmatch(ip)
                if not m:
                    return False
                ip_map[ip] = m.group(1)
        lats = _latency_column(c2)
        if lats is None:
            return False
        # Validated: from here on only aggregation.
        self.requests += n
        tri_out, clients = self._tri, self.clients
        paths = {}                                              # request column -> path
        for (r, st, ip), c in quad.items():
            k = req_map[(r, st)]
            tri_out[k] += c
            clients[ip_map[ip]] += c
            paths[r] = k[0]
        p_col = list(map(paths.__getitem__, c4))
        distinct = set(paths.values())
        latency = self.latency
        if len(distinct) <= 16:
            for p in distinct:
                lat = latency.get(p)
                if lat is None:
                    lat = latency[p] = _Latency()
                lat.extend(list(compress(lats, map(is_, p_col, repeat(p)))))
        else:       # many paths (scanners): one pass grouping values per path
            groups: dict[str, list] = {}
            for p, v in zip(p_col, lats):
                g = groups.get(p)
                if g is None:
                    g = groups[p] = []
                g.append(v)
            for p, vals in groups.items():
                lat = latency.get(p)
                if lat is None:
                    lat = latency[p] = _Latency()
                lat.extend(vals)
        e_col = list(map(ts_map.__getitem__, tails))
        self._concurrency(e_col, lats)
        if len(ts_map) > 4096:          # timestamps move on: old seconds are not seen again
            ts_map.clear()
        if max(map(len, caches)) > FAST_CACHE_MAX:
            for c in caches + (self._paths,):     # together: cached keys refer to interned paths
                c.clear()
        return True

    def _concurrency(self, e_col: list, lats: list) -> None:
        """Per-second/per-minute accounting of access lines given as end seconds and latencies."""
        busy = self._busy
        per_minute = self.per_minute
        # The true end of a request logged at second e is taken as e + 0.5, so the part of each
        # request inside its logged second is min(latency, 0.5); only the rest of longer requests
        # is spread over earlier seconds.
        for e, grp in groupby(zip(e_col, map(min, lats, repeat(0.5))), key=itemgetter(0)):
            vals = list(map(itemgetter(1), grp))
            minute = e // 60
            per_minute[minute] = per_minute.get(minute, 0) + len(vals)
            busy[e] = busy.get(e, 0.0) + sum(vals)
        lo, hi = min(e_col), max(e_col)
        if self.first_ts is None or lo < self.first_ts:
            self.first_ts = lo
        if self.last_ts is None or hi > self.last_ts:
            self.last_ts = hi
        slow = list(compress(range(len(lats)), map(lt, repeat(0.5), lats)))
        if slow:
            ends = list(map(e_col.__getitem__, slow))
            starts = list(map(sub, ends, map(sub, map(lats.__getitem__, slow), repeat(0.5))))
            first = list(map(math.floor, starts))
            folded = self._folded_before
            if folded is not None and min(first) < folded:
                for e, lat in zip(ends, map(lats.__getitem__, slow)):
                    self._account_before(e, lat - 0.5)
            else:
                # Same arithmetic as _account_before: the fraction of the first second, then
                # +1/-1 over the whole seconds in between (net zero when there are none).
                bget = busy.get
                for sa, frac in zip(first, map(sub, map(add, first, repeat(1)), starts)):
                    busy[sa] = bget(sa, 0.0) + frac
                diff = self._diff
                for k, c in Counter(map(add, first, repeat(1))).items():
                    diff[k] = diff.get(k, 0) + c
                for k, c in Counter(ends).items():
                    diff[k] = diff.get(k, 0) - c
        if len(busy) > BUSY_COMPACT_AT:
            self._compact()

    def _gin_batch(self, found: list) -> None:
        """Aggregate access lines given as regex groups
        (time, status, number, unit, compound-rest, ip, method, path).

        Column-wise with C-level builtins (zip/map/compress/Counter) so the per-line Python work is
        limited to requests longer than half a second."""
        if not found:
            return
        ts_col, st_col, num_col, unit_col, rest_col, ip_col, m_col, p_col = zip(*found)
        n = len(found)
        self.requests += n
        self._tri.update(zip(p_col, st_col, m_col))
        self.clients.update(ip_col)
        try:
            lats = list(map(mul, map(float, num_col), map(_DUR_UNIT.__getitem__, unit_col)))
        except (KeyError, ValueError):
            lats = [_dur_fast(a + b + c) for a, b, c in zip(num_col, unit_col, rest_col)]
        else:
            for i in compress(range(n), rest_col):     # "5m8s", "1h24m39s": rare, cached
                text = num_col[i] + unit_col[i] + rest_col[i]
                v = _COMPOUND_CACHE.get(text)
                if v is None:
                    v = parse_go_duration(text) or 0.0
                    if len(_COMPOUND_CACHE) < 100_000:
                        _COMPOUND_CACHE[text] = v
                lats[i] = v
        for p in set(p_col):
            lat = self.latency.get(p)
            if lat is None:
                lat = self.latency[p] = _Latency()
            lat.extend(list(compress(lats, map(p.__eq__, p_col))))
        # Concurrency. The true end of a request logged at second e is taken as e + 0.5, so the
        # part of each request inside its logged second is min(latency, 0.5): sum that per second,
        # and spread only the remainder of longer requests over earlier seconds.
        busy = self._busy
        conv = self._gin_time
        clipped = map(min, lats, repeat(0.5))
        for ts, grp in groupby(zip(ts_col, clipped), key=itemgetter(0)):
            e = conv(ts)
            if e is None:
                continue
            vals = list(map(itemgetter(1), grp))
            minute = e // 60
            self.per_minute[minute] = self.per_minute.get(minute, 0) + len(vals)
            if self.first_ts is None or e < self.first_ts:
                self.first_ts = e
            if self.last_ts is None or e > self.last_ts:
                self.last_ts = e
            busy[e] = busy.get(e, 0.0) + sum(vals)
        for i in compress(range(n), map(lt, repeat(0.5), lats)):
            e = conv(ts_col[i])
            if e is not None:
                self._account_before(e, lats[i] - 0.5)
        if len(busy) > BUSY_COMPACT_AT:
            self._compact()

    def _gin_time(self, ts: str) -> Optional[int]:
        # "2025/02/20 - 16:34:14"; wall-clock seconds in the server's local time, treated as naive.
        if len(ts) != 21 or ts[10:13] != " - ":
            return None
        day = self._date_cache.get(ts[:10])
        if day is None:
            try:
                day = calendar.timegm((int(ts[0:4]), int(ts[5:7]), int(ts[8:10]), 0, 0, 0))
            except ValueError:
                return None
            self._date_cache[ts[:10]] = day
        try:
            return day + int(ts[13:15]) * 3600 + int(ts[16:18]) * 60 + int(ts[19:21])
        except ValueError:
            return None

    def _account_before(self, end_s: int, rest: float) -> None:
        """Add in-flight time over [end_s - rest, end_s) (the part before the logged second)."""
        a = end_s - rest
        sa = math.floor(a)
        folded = self._folded_before
        if folded is not None and sa < folded:
            # Started before the folded horizon: count only the part still in memory.
            if end_s <= folded:
                return
            sa, a = folded, float(folded)
        busy = self._busy
        busy[sa] = busy.get(sa, 0.0) + (sa + 1 - a)
        if end_s > sa + 1:
            diff = self._diff
            diff[sa + 1] = diff.get(sa + 1, 0) + 1
            diff[end_s] = diff.get(end_s, 0) - 1

    # ---------------------------------------------------------- slog & co.
    def _other(self, line: str, counts: dict) -> None:
        if line.startswith("time="):
            counts["slog"] += 1
            m = _LEVEL.search(line, 0, 120)
            if m:
                lvl = m.group(1).upper()
                self.levels[lvl] = self.levels.get(lvl, 0) + 1
            self._app_line(line)
            return
        m = _LEGACY.match(line)
        if m:
            counts["slog"] += 1
            lvl = m.group(3)
            self.levels[lvl] = self.levels.get(lvl, 0) + 1
            self._app_line(line)
            return
        if QUEUE_FULL_TEXT in line:     # client logs relaying Ollama's 503 body
            counts["other"] += 1
            self.queue_full += 1
            return
        if (line.startswith("[GIN-debug]") or line.startswith(" - using ") or _GIN_ERROR.match(line)
                or _RUNNER_JSON.match(line) or _RUNNER_TEXT.match(line)
                or line.startswith("-- Logs begin") or line.startswith("-- Journal begins")
                or line.startswith("-- No entries")):
            counts["other"] += 1
            return
        if _ENGINE_LINE.match(line):
            counts["other"] += 1
            for key, val in _ENGINE_NCTX.findall(line):
                self.engine_ctx[key] = max(self.engine_ctx.get(key, 0), int(val))
            return
        self._unparsed(line)

    def _app_line(self, line: str) -> None:
        if 'env="map[' in line:
            start = line.index('env="map[')
            self._cfg_buf = [line[start + len('env="map['):]]
            self._cfg_line = self._lineno
            if ']"' in line[start:]:
                self._flush_config(truncated=False)
            return
        if "msg=" not in line:
            return
        if "truncating input prompt" in line:
            kv = _kv(line)
            self.truncation_count += 1
            ev = {"source": self._source, "line": self._lineno,
                  "limit": _int(kv.get("limit")), "prompt": _int(kv.get("prompt")),
                  "keep": _int(kv.get("keep")), "new": _int(kv.get("new"))}
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
        elif ("starting llama server" in line or "starting runner" in line
              or "starting llama-server" in line):
            kv = _kv(line)
            self.runners.append(_runner(kv.get("cmd", ""), self._source, self._lineno))
        elif "msg=load request=" in line or 'msg="load request"' in line:
            fields = dict(_LOAD_REQ.findall(line))
            if len(self.load_requests) < 200:
                self.load_requests.append({
                    "source": self._source, "line": self._lineno,
                    "operation": fields.get("Operation"), "parallel": _int(fields.get("Parallel")),
                    "kv_size": _int(fields.get("KvSize")), "kv_cache_type": fields.get("KvCacheType") or None})
        elif "runner started in" in line or "llama-server started in" in line:
            m = re.search(r"started in ([\d.]+) seconds", line)
            if m and len(self.runner_start_s) < 1000:
                self.runner_start_s.append(float(m.group(1)))
        elif QUEUE_FULL_TEXT in line:
            self.queue_full += 1
        else:
            for key in ("invalid option provided", "context field is deprecated",
                        "aborting completion request", "requested context size too large"):
                if key in line:
                    self.warnings[key] = self.warnings.get(key, 0) + 1
                    break

    def _flush_config(self, truncated: bool) -> None:
        if self._cfg_buf is None:
            return
        text = " ".join(s.strip() for s in self._cfg_buf)
        self._cfg_buf = None
        end = text.find(']"')
        body = text[:end] if end >= 0 else text
        env = parse_env_map(body, truncated=truncated or end < 0)
        self.server_configs.append({"source": self._source, "line": self._cfg_line,
                                    "truncated": bool(truncated or end < 0), "env": env})

    def _unparsed(self, line: str) -> None:
        self.unparsed += 1
        if len(self.unparsed_samples) < SAMPLE_UNPARSED:
            self.unparsed_samples.append({"source": self._source, "line": self._lineno,
                                          "text": line[:200]})

    # --------------------------------------------------------------- result
    def _compact(self) -> None:
        """Fold seconds older than the horizon into a running total so memory stays flat."""
        if self.last_ts is None:
            return
        cutoff = self.last_ts - COMPACT_HORIZON_S
        old = sorted(k for k in set(self._busy) | set(self._diff) if k < cutoff)
        running, peak = self._folded_running, self._folded_peak
        for sec in old:
            running += self._diff.pop(sec, 0)
            peak = max(peak, running + self._busy.pop(sec, 0.0))
        self._folded_running, self._folded_peak = running, peak
        if old:
            self._folded_before = max(cutoff, self._folded_before or cutoff)

    def peak_concurrency(self) -> Optional[int]:
        if not self._busy and not self._diff and self._folded_before is None:
            return None
        running, peak = self._folded_running, self._folded_peak
        for sec in sorted(set(self._busy) | set(self._diff)):
            running += self._diff.get(sec, 0)
            peak = max(peak, running + self._busy.get(sec, 0.0))
        return int(math.ceil(round(peak, 3)))

    def result(self) -> dict:
        rpm_peak, rpm_peak_at = None, None
        if self.per_minute:
            minute, rpm_peak = max(self.per_minute.items(), key=lambda kv: (kv[1], -kv[0]))
            rpm_peak_at = _fmt_minute(minute)
        span_min = None
        if self.first_ts is not None and self.last_ts is not None:
            span_min = (self.last_ts - self.first_ts) / 60 + 1 / 60
        by_endpoint: dict[str, int] = {}
        by_status: dict[str, int] = {}
        by_method_path: dict[str, int] = {}
        by_path_status: dict[str, dict[str, int]] = {}
        for (path, status, method), c in self._tri.items():
            by_endpoint[path] = by_endpoint.get(path, 0) + c
            by_status[status] = by_status.get(status, 0) + c
            mp = method + " " + path
            by_method_path[mp] = by_method_path.get(mp, 0) + c
            ps = by_path_status.setdefault(path, {})
            ps[status] = ps.get(status, 0) + c
        status5xx = sum(v for k, v in by_status.items() if k.startswith("5"))
        return {
            "files": self.files,
            "traffic": {
                "requests": self.requests,
                "by_endpoint": dict(sorted(by_endpoint.items(), key=lambda kv: (-kv[1], kv[0]))),
                "by_status": dict(sorted(by_status.items())),
                "by_method_path": dict(sorted(by_method_path.items(), key=lambda kv: (-kv[1], kv[0]))),
                "by_path_status": {p: dict(sorted(s.items())) for p, s in sorted(by_path_status.items())},
                "latency": {p: lat.summary() for p, lat in self.latency.items()},
                "clients": dict(sorted(self.clients.items(), key=lambda kv: -kv[1])[:50]),
                "client_count": len(self.clients),
                "requests_per_minute_peak": rpm_peak,
                "requests_per_minute_peak_at": rpm_peak_at,
                "requests_per_minute_mean": (round(self.requests / span_min, 3)
                                             if span_min and self.requests else None),
                "active_minutes": len(self.per_minute),
                "peak_concurrency_estimate": self.peak_concurrency(),
                "peak_concurrency_method": "max over wall-clock seconds of summed in-flight time "
                                           "(end timestamp and latency of each access line), rounded up",
                "errors_5xx": status5xx,
                "status_503": by_status.get("503", 0),
                "status_500": by_status.get("500", 0),
                "status_403": by_status.get("403", 0),
                "status_499": by_status.get("499", 0),
                "queue_full_events": self.queue_full,
                "truncation_events": self.truncation_count,
                "truncation_limits": self.truncation_limits,
                "truncation_max_prompt": self.truncation_max_prompt,
                "truncation_samples": self.truncations[:20],
                "message_truncation_events": self.message_truncations,
                "context_shift_events": self.context_shifts,
                "first_seen": _fmt_sec(self.first_ts),
                "last_seen": _fmt_sec(self.last_ts),
            },
            "server_config": self.server_configs,
            "runners": self.runners[:200],
            "load_requests": self.load_requests,
            "runner_start_seconds": self.runner_start_s[:200],
            "versions": sorted(set(self.versions)),
            "listen_addresses": sorted(set(self.listen_addresses)),
            "levels": self.levels,
            "notable_warnings": self.warnings,
            "engine_context": self.engine_ctx,
            "unparsed_lines": self.unparsed,
            "unparsed_samples": self.unparsed_samples,
        }


def _latency_column(col: list) -> Optional[list]:
    """Latency column (``"  971.777µs "`` ...) -> seconds, or None if any value does not fit."""
    j = "\n".join(col) + "\n"
    for unit, repl in _LAT_UNITS:
        if unit in j:
            j = j.replace(unit, repl)
    n = len(col)
    # Every value must have been " *NUMBER UNIT " (one rewrite each, no space before the unit);
    # "5m" and other forms go to the regex path.
    if j.count("|") != n or _LAT_STRAY.search(j):
        return None
    tok = j.replace("|", "\n").split("\n")
    nums, mults = tok[0:2 * n:2], tok[1:2 * n:2]
    if "m" in j:    # compound "5m8s", "1h24m39s" (the trailing "s" became "|s"); an "h" without
        # an "m" is no Go output: float() rejects it below and the regex path takes over
        cache = _COMPOUND_TOKENS
        for i in compress(range(n), map(str.__contains__, nums, repeat("m"))):
            tok = nums[i]
            v = cache.get(tok)
            if v is None:
                text = tok.lstrip(" ") + "s"
                v = (parse_go_duration(text) or 0.0) if _LAT_COMPOUND.fullmatch(text) else False
                if len(cache) < 100_000:
                    cache[tok] = v
            if v is False or mults[i] != "s":
                return None
            nums[i] = v
    try:
        return list(map(mul, map(float, nums), map(_LAT_MULT.__getitem__, mults)))
    except (ValueError, KeyError):
        return None


def _kv(line: str) -> dict[str, str]:
    out = {}
    for key, val in _KV.findall(line):
        if val.startswith('"') and val.endswith('"') and len(val) >= 2:
            val = val[1:-1].replace('\\"', '"')
        out[key] = val
    return out


def _int(v) -> Optional[int]:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _runner(cmd: str, source: str, lineno: int) -> dict:
    flags: dict[str, str] = {}
    for flag, val in _CMD_FLAG.findall(cmd):
        flags.setdefault(flag, val)
    ctx = _int(flags.get("--ctx-size", flags.get("-c")))
    par = _int(flags.get("--parallel", flags.get("-np")))
    model = flags.get("--model", flags.get("-m"))
    blob = _BLOB.search(model or "")
    return {"source": source, "line": lineno, "ctx_size": ctx, "parallel": par,
            "ctx_per_slot": (ctx // par) if ctx and par else ctx,
            "model_blob": ("sha256:" + blob.group(1)) if blob else None,
            "ollama_engine": "--ollama-engine" in cmd,
            "n_gpu_layers": _int(flags.get("--n-gpu-layers", flags.get("-ngl"))),
            "no_mmap": "--no-mmap" in cmd}


def _fmt_sec(ts: Optional[int]) -> Optional[str]:
    if ts is None:
        return None
    import time
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def _fmt_minute(minute: int) -> str:
    import time
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(minute * 60))


def iter_log_paths(path: str) -> Iterator[str]:
    """A file, ``-``, or every regular file under a directory (sorted, hidden files skipped)."""
    if path == "-" or os.path.isfile(path):
        yield path
        return
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield os.path.join(root, name)


def parse_logs(paths: Iterable[str]) -> dict:
    stats = LogStats()
    for p in paths:
        for f in iter_log_paths(p):
            stats.feed_file(f)
    return stats.result()
