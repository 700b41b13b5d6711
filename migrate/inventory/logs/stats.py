"""Streaming statistics over Ollama server logs: one pass, bounded memory.

``LogStats.feed_file`` reads blocks of lines (``reader``), sends access lines to ``gin`` (the column
way for blocks where every access line fits, else the regex way) and every other line to ``slog``.
Both ways of reading access lines end in ONE accounting function, ``LogStats.account``: counters,
per-second/per-minute buckets and a capped latency sample per endpoint (switching to a log-bucket
histogram past the cap). Formats: see the shared Ollama reference, section 4.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from itertools import chain, compress, repeat
from operator import add, ge, is_not, lt, not_, sub, truediv
from typing import Optional

from . import reader
from .gin import ACCESS_MARK, ACCESS_MARK_BYTES, GIN_RE, Access, GinParser, indexes
from .reader import COLOURS_BYTES
from .slog import AppLog

EXACT_LATENCY_CAP = 20_000  # per endpoint; beyond this a log-bucket histogram takes over
HIST_RATIO = math.log(1.02)  # 2 % wide buckets: percentiles within ~1 %
BUSY_COMPACT_AT = 20_000  # seconds kept in the concurrency buckets before folding old ones
COMPACT_HORIZON_S = 4 * 3600  # requests longer than this may be under-counted after folding
# The true end of a request logged at second e is taken as e + 0.5: the part of a request inside
# its logged second is min(latency, 0.5); only the rest of longer ones spreads over earlier seconds.
IN_LOGGED_SECOND = 0.5

_HIST_RATIO_2 = math.log2(1.02)  # the same width in log2 (math.log2 is the cheaper call)
_TINY = 1e-12  # below Go's 1ns resolution: stands for a 0s latency in the histogram
_TINY_BUCKET = math.floor(math.log2(_TINY) / _HIST_RATIO_2)


def _count_buckets(vals: list, hist: Counter) -> None:
    """Add each latency's histogram bucket to ``hist``, with no Python-level call per value."""
    nonzero = list(filter(None, vals))  # 0s latencies count in the lowest bucket
    if nonzero:
        if min(nonzero) < _TINY:
            nonzero = list(map(max, nonzero, repeat(_TINY)))
        hist.update(map(math.floor, map(truediv, map(math.log2, nonzero), repeat(_HIST_RATIO_2))))
    if len(nonzero) < len(vals):
        hist[_TINY_BUCKET] += len(vals) - len(nonzero)


class _Latency:
    """Exact samples up to a cap, then a log-bucket histogram (memory flat)."""

    __slots__ = ("values", "hist", "count", "total", "max")

    def __init__(self) -> None:
        self.values: Optional[list] = []
        self.hist: Optional[Counter] = None
        self.count = 0
        self.total = 0.0
        self.max = 0.0

    def extend(self, lists: list) -> None:
        """Add latencies given as lists; exactly-rounded sums make their order of no consequence."""
        vals = lists[0] if len(lists) == 1 else list(chain.from_iterable(lists))
        self.count += len(vals)
        self.total += math.fsum(vals)
        m = max(vals)
        if m > self.max:
            self.max = m
        if self.values is not None:
            self.values += vals
            if len(self.values) >= EXACT_LATENCY_CAP:
                self.hist = Counter()
                _count_buckets(self.values, self.hist)
                self.values = None
        else:
            _count_buckets(vals, self.hist)

    def percentiles(self, qs: tuple) -> list:
        if not self.count:
            return [None] * len(qs)
        if self.values is not None:
            vals = sorted(self.values)
            return [vals[min(len(vals) - 1, max(0, math.ceil(q / 100 * len(vals)) - 1))] for q in qs]
        ranked = sorted(self.hist.items())
        out = []
        for q in qs:
            rank = max(1, math.ceil(q / 100 * self.count))
            seen, value = 0, self.max
            for b, c in ranked:
                seen += c
                if seen >= rank:
                    value = 0.0 if b <= _TINY_BUCKET else math.exp((b + 0.5) * HIST_RATIO)
                    break
            out.append(value)
        return out

    def summary(self) -> dict:
        r = lambda x: None if x is None else round(x, 6)  # noqa: E731
        p50, p90, p95, p99 = self.percentiles((50, 90, 95, 99))
        return {
            "count": self.count,
            "p50_s": r(p50),
            "p90_s": r(p90),
            "p95_s": r(p95),
            "p99_s": r(p99),
            "max_s": r(self.max),
            "mean_s": r(self.total / self.count) if self.count else None,
            "exact": self.values is not None,
        }


def _new_info(path: str) -> dict:
    return {
        "path": path,
        "lines": 0,
        "blank": 0,
        "gin": 0,
        "slog": 0,
        "other_known": 0,
        "unparsed": 0,
        "oversized": 0,
        "binary": False,
        "server_configs": 0,
        "skipped": None,  # why the file was not read at all
        "error": None,  # why reading stopped early (the lines before it are counted)
    }


class LogStats:
    """Accumulates everything the inventory needs from any number of log files.

    ``columns=False`` reads every access line the regex way (the reference the column way is
    tested against); results are the same either way."""

    def __init__(self, columns: bool = True) -> None:
        self.columns = columns
        self.column_lines = 0  # access lines read the column way
        self.files: list[dict] = []
        self.app = AppLog()
        self.gin = GinParser()
        self.requests = 0
        self._by_key: Counter = Counter()  # (path, status, method) -> count
        self.latency: dict[str, _Latency] = {}
        self.clients: Counter = Counter()
        self.per_minute: dict[int, int] = {}
        self._busy: dict[int, float] = {}  # request-seconds spent in each wall-clock second
        # Whole seconds covered by long requests: how many begin / stop being covered at each second
        self._covered_from: Counter = Counter()
        self._covered_until: Counter = Counter()
        self._folded_before: Optional[int] = None  # seconds before this are folded into _folded_*
        self._folded_running = 0
        self._folded_peak = 0.0
        self.first_ts: Optional[int] = None
        self.last_ts: Optional[int] = None

    # ----------------------------------------------------------------- input
    def feed_file(self, path: str, named: bool = True) -> dict:
        """Parse one file (plain, .gz, a pipe, or ``-`` for stdin); never raises for the file's sake.
        ``info["skipped"]`` says why a file was not read (not a regular file, unreadable),
        ``info["binary"]`` marks NUL bytes in its first block, ``info["error"]`` why reading stopped
        early (a truncated .gz: the lines before the cut are counted). ``named``: given on the command
        line, not found in a directory (only then is a FIFO read)."""
        info = _new_info(path)
        self.files.append(info)
        info["skipped"] = reader.refusal(path, named)
        if info["skipped"]:
            return info
        try:
            with reader.open_bytes(path, named) as stream:
                head, blocks = reader.head_and_blocks(stream)
                if b"\x00" in head:
                    info["binary"] = True
                else:
                    self._feed_stream(blocks, path, info)
        except reader.READ_ERRORS as exc:
            info["error"] = reader.describe(exc)
        return info

    def _feed_stream(self, blocks, path: str, info: dict) -> None:
        app = self.app
        app.source, app.lineno = path, 0
        before = (app.unparsed, len(app.server_configs))
        counts = {"gin": 0, "slog": 0, "other": 0, "blank": 0, "oversized": 0}
        try:
            for block in blocks:
                if block is None:
                    counts["oversized"] += 1
                    app.lineno += 1
                else:
                    self._block(block, counts)
        finally:  # a read error mid-file: what was read before it still counts
            app.flush_config(truncated=True)
            info["lines"] = app.lineno
            info["blank"] = counts["blank"]
            info["gin"] = counts["gin"]
            info["slog"] = counts["slog"]
            info["other_known"] = counts["other"]
            info["oversized"] = counts["oversized"]
            info["unparsed"] = app.unparsed - before[0]
            info["server_configs"] = len(app.server_configs) - before[1]

    def _block(self, raw: bytes, counts: dict) -> None:
        """Complete lines: access lines together (the column way when every one fits, else the
        regex way, which also samples malformed ones), the rest one by one."""
        app = self.app
        base = app.lineno
        first_mark, first_end = raw.find(ACCESS_MARK_BYTES), raw.find(b"\n")
        if 0 <= first_mark and (first_mark < first_end or first_end < 0):
            # Starts with an access line: try the block as access lines only (the column way
            # checks that every line is one), with colours removed if that is what stopped it.
            n = raw.count(b"\n") + 1
            if self._columns(raw, n) or (b"\x1b" in raw and self._columns(_uncoloured(raw), n)):
                counts["gin"] += n
                app.lineno = base + n
                return
        raw = _uncoloured(raw)
        n_gin = raw.count(ACCESS_MARK_BYTES)
        block = reader.decode(raw)
        lines = block.split("\n")
        if n_gin and n_gin < len(lines):
            raw_lines = raw.split(b"\n")
            gin_lines = list(compress(raw_lines, map(bytes.__contains__, raw_lines, repeat(ACCESS_MARK_BYTES))))
            if len(gin_lines) == n_gin and self._columns(b"\n".join(gin_lines), n_gin):
                counts["gin"] += n_gin
                n_gin = -n_gin  # done; the loop below handles the other lines
        if n_gin > 0:
            found = GIN_RE.findall(block)
            if len(found) != n_gin:  # some access lines are malformed: go line by line
                found = []
                for i, line in enumerate(lines):
                    if ACCESS_MARK in line:
                        m = GIN_RE.search(line)
                        if m:
                            found.append(m.groups())
                        else:
                            app.lineno = base + i + 1
                            app.unparsed_line(line)
            counts["gin"] += len(found)
            if found:
                self.account(self.gin.groups(found))
        if abs(n_gin) < len(lines):
            handle = app.handle
            for i, line in enumerate(lines):
                if ACCESS_MARK not in line:
                    app.lineno = base + i + 1
                    handle(line, counts)
        app.lineno = base + len(lines)

    def _columns(self, raw: bytes, n: int) -> bool:
        if not self.columns:
            return False
        batch = self.gin.columns(raw, n)
        if batch is None:
            return False
        self.column_lines += n
        self.account(batch)
        return True

    # ------------------------------------------------------------ accounting
    def account(self, batch: Access) -> None:
        """THE accounting of access lines, whichever way they were read."""
        self.requests += batch.count
        self._by_key.update(batch.by_key)
        self.clients.update(batch.by_client)
        latency = self.latency
        for p, lists in batch.by_path.items():
            lat = latency.get(p)
            if lat is None:
                lat = latency[p] = _Latency()
            lat.extend(lists)
        lats = batch.latencies
        secs, lengths = batch.seconds, batch.run_lengths
        if None in secs:  # no calendar date: counted, but not placed in time
            dated = list(map(is_not, secs, repeat(None)))
            lats = list(compress(lats, chain.from_iterable(map(repeat, dated, lengths))))
            secs, lengths = list(compress(secs, dated)), list(compress(lengths, dated))
        if secs:
            self._concurrency(secs, lengths, lats)

    def _concurrency(self, secs: list, lengths: list, lats: list) -> None:
        """Per-second/per-minute accounting of requests given as latencies and their end seconds
        (``secs[i]`` for the next ``lengths[i]`` requests)."""
        busy, per_minute = self._busy, self.per_minute
        is_slow = list(map(lt, repeat(IN_LOGGED_SECOND), lats))
        slow = list(compress(indexes(len(lats)), is_slow))
        inside = lats.copy()
        deque(map(inside.__setitem__, slow, repeat(IN_LOGGED_SECOND)), maxlen=0)
        slow_in_run = []
        a = 0
        for e, k in zip(secs, lengths):
            minute = e // 60
            per_minute[minute] = per_minute.get(minute, 0) + k
            busy[e] = busy.get(e, 0.0) + sum(inside[a : a + k])
            slow_in_run.append(sum(is_slow[a : a + k]))
            a += k
        lo, hi = min(secs), max(secs)
        if self.first_ts is None or lo < self.first_ts:
            self.first_ts = lo
        if self.last_ts is None or hi > self.last_ts:
            self.last_ts = hi
        if slow:
            ends = list(chain.from_iterable(map(repeat, secs, slow_in_run)))
            starts = list(map(sub, ends, map(sub, compress(lats, is_slow), repeat(IN_LOGGED_SECOND))))
            first = list(map(math.floor, starts))
            folded = self._folded_before
            if folded is not None and min(first) < folded:
                # Began before the folded horizon: each counts only where memory still reaches.
                kept = list(map(ge, first, repeat(folded)))
                for e, a in compress(zip(ends, starts), map(not_, kept)):
                    self._account_before(e, a)
                ends, starts, first = (list(compress(x, kept)) for x in (ends, starts, first))
            # As _account_before: busy[sa] += sa + 1 - start, request by request, with no
            # Python-level loop (maps are lazy: each get sees the previous set); then the whole
            # seconds in between (none when it began in the second before its own).
            first_full = list(map(add, first, repeat(1)))
            fracs = map(sub, first_full, starts)
            deque(map(busy.__setitem__, first, map(add, map(busy.get, first, repeat(0.0)), fracs)), maxlen=0)
            self._covered_from.update(first_full)
            self._covered_until.update(ends)
        if len(busy) > BUSY_COMPACT_AT:
            self._compact()

    def _account_before(self, end_s: int, a: float) -> None:
        """Add in-flight time over [a, end_s) (the part before the logged second), where the
        folded horizon allows."""
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
            self._covered_from[sa + 1] += 1
            self._covered_until[end_s] += 1

    def _compact(self) -> None:
        """Fold seconds older than the horizon into a running total so memory stays flat."""
        if self.last_ts is None:
            return
        cutoff = self.last_ts - COMPACT_HORIZON_S
        busy, since, until = self._busy, self._covered_from, self._covered_until
        old = sorted(k for k in set(busy) | set(since) | set(until) if k < cutoff)
        running, peak = self._folded_running, self._folded_peak
        for sec in old:
            running += since.pop(sec, 0) - until.pop(sec, 0)
            peak = max(peak, running + busy.pop(sec, 0.0))
        self._folded_running, self._folded_peak = running, peak
        if old:
            self._folded_before = max(cutoff, self._folded_before or cutoff)

    def peak_concurrency(self) -> Optional[int]:
        busy, since, until = self._busy, self._covered_from, self._covered_until
        if not busy and not since and not until and self._folded_before is None:
            return None
        running, peak = self._folded_running, self._folded_peak
        for sec in sorted(set(busy) | set(since) | set(until)):
            running += since.get(sec, 0) - until.get(sec, 0)
            peak = max(peak, running + busy.get(sec, 0.0))
        return int(math.ceil(round(peak, 3)))

    # --------------------------------------------------------------- result
    def result(self) -> dict:
        app = self.app
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
        for (path, status, method), c in self._by_key.items():
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
                "requests_per_minute_mean": (
                    round(self.requests / span_min, 3) if span_min and self.requests else None
                ),
                "active_minutes": len(self.per_minute),
                "peak_concurrency_estimate": self.peak_concurrency(),
                "peak_concurrency_method": "max over wall-clock seconds of summed in-flight time "
                "(end timestamp and latency of each access line), rounded up",
                "errors_5xx": status5xx,
                "status_503": by_status.get("503", 0),
                "status_500": by_status.get("500", 0),
                "status_403": by_status.get("403", 0),
                "status_499": by_status.get("499", 0),
                "queue_full_events": app.queue_full,
                "truncation_events": app.truncation_count,
                "truncation_limits": app.truncation_limits,
                "truncation_max_prompt": app.truncation_max_prompt,
                "truncation_samples": app.truncations[:20],
                "message_truncation_events": app.message_truncations,
                "context_shift_events": app.context_shifts,
                "first_seen": _fmt_sec(self.first_ts),
                "last_seen": _fmt_sec(self.last_ts),
            },
            "server_config": app.server_configs,
            "runners": app.runners[:200],
            "load_requests": app.load_requests,
            "runner_start_seconds": app.runner_start_s[:200],
            "versions": sorted(set(app.versions)),
            "listen_addresses": sorted(set(app.listen_addresses)),
            "levels": app.levels,
            "notable_warnings": app.warnings,
            "engine_context": app.engine_ctx,
            "unparsed_lines": app.unparsed,
            "unparsed_samples": app.unparsed_samples,
        }


def _uncoloured(raw: bytes) -> bytes:
    return COLOURS_BYTES.sub(b"", raw) if b"\x1b" in raw else raw


def _fmt_sec(ts: Optional[int]) -> Optional[str]:
    return None if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def _fmt_minute(minute: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(minute * 60))
