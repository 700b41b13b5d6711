"""Captured exchanges (JSONL, one ``Exchange.to_dict()`` per line) -> workload distributions.

A line longer than ``MAX_LINE`` is counted (``oversized_lines``) and skipped, never held whole."""

from __future__ import annotations

import json
import math
from typing import Iterator, Optional

from ..exchange import Exchange
from .logs.reader import open_regular

MAX_LINE = 64 << 20  # 64 MiB: far above one exchange with a long context, far below the memory


def _pct(values: list, q: float) -> Optional[int]:
    if not values:
        return None
    vals = sorted(values)
    return vals[min(len(vals) - 1, max(0, math.ceil(q / 100 * len(vals)) - 1))]


def parse_capture(path: str) -> dict:
    """Stream the file line by line; invalid and oversized lines are counted, never fatal."""
    prompt, output, ctx = [], [], []
    n = streamed = tools = structured = errors = invalid = oversized = 0
    models: dict[str, int] = {}
    endpoints: dict[str, int] = {}
    protocols: dict[str, int] = {}
    intervals: list[tuple[float, float]] = []
    with open_regular(path) as f:
        for line in _lines(f):
            if line is None:
                oversized += 1
                continue
            if not line.strip():
                continue
            try:
                ex = Exchange.from_dict(json.loads(line))
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
                invalid += 1
                continue
            n += 1
            req = ex.request
            models[req.model] = models.get(req.model, 0) + 1
            endpoints[req.endpoint] = endpoints.get(req.endpoint, 0) + 1
            protocols[ex.protocol or "?"] = protocols.get(ex.protocol or "?", 0) + 1
            streamed += bool(req.stream)
            tools += bool(req.tools) or bool(ex.tool_calls)
            fmt = (req.extras.get("ollama") or {}).get("format") if req.extras else None
            structured += bool((req.response_format and req.response_format.type != "text") or fmt)
            errors += ex.error is not None
            if ex.usage.reported and ex.usage.prompt_tokens is not None:
                prompt.append(ex.usage.prompt_tokens)
            if ex.usage.reported and ex.usage.completion_tokens is not None:
                output.append(ex.usage.completion_tokens)
            opts = ((req.extras or {}).get("ollama") or {}).get("options") or {}
            if isinstance(opts.get("num_ctx"), int):
                ctx.append(opts["num_ctx"])
            t = ex.timings
            if t.start is not None and t.end is not None:
                intervals.append((t.start, t.end))
    return {
        "path": path,
        "exchanges": n,
        "invalid_lines": invalid,
        "oversized_lines": oversized,
        "errors": errors,
        "models": models,
        "endpoints": endpoints,
        "protocols": protocols,
        "streaming_share": round(streamed / n, 4) if n else None,
        "tool_share": round(tools / n, 4) if n else None,
        "structured_share": round(structured / n, 4) if n else None,
        "prompt_tokens": {
            "count": len(prompt),
            "p50": _pct(prompt, 50),
            "p95": _pct(prompt, 95),
            "max": max(prompt) if prompt else None,
        },
        "output_tokens": {
            "count": len(output),
            "p50": _pct(output, 50),
            "p95": _pct(output, 95),
            "max": max(output) if output else None,
        },
        "max_num_ctx": max(ctx) if ctx else None,
        "peak_concurrency": _peak(intervals),
    }


def _lines(f) -> Iterator[Optional[str]]:
    """The file's lines, decoded; ``None`` for a line over ``MAX_LINE`` bytes (read past, not kept)."""
    while True:
        line = f.readline(MAX_LINE + 1)
        if not line:
            return
        if len(line) > MAX_LINE:
            while line and not line.endswith(b"\n"):
                line = f.readline(1 << 20)
            yield None
        else:
            yield line.decode("utf-8", "replace")


def _peak(intervals: list[tuple[float, float]]) -> Optional[int]:
    """Largest number of exchanges in flight at once (same-process monotonic clocks)."""
    if not intervals:
        return None
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals], key=lambda e: (e[0], e[1]))
    cur = peak = 0
    for _, d in events:
        cur += d
        peak = max(peak, cur)
    return peak
