"""Latency summaries for compat reports: p50/p95 of TTFT, TPOT and end-to-end time, and new/old ratios.

Pure functions over :class:`migrate.exchange.Timings` (or anything with a ``.timings`` attribute,
such as an Exchange). Nothing here measures; it only summarises what the protocol layer recorded.

Definitions (all in seconds, from ``Timings``):
  * TTFT  = first content or tool-call token - start (start = scheduled send time when set, so queueing
            counts); a role-only frame never stops the clock.
  * TPOT  = (last output token - first token) / (output tokens - 1); the last output token is the last
            frame carrying text, reasoning or a tool call, so a trailing finish/usage/[DONE] frame does
            not stretch it.
  * E2E   = end - start.

Percentile method: linear interpolation between closest ranks (Hyndman & Fan type 7, the default of
``numpy.percentile`` and of ``vllm bench serve``): for sorted values x[0..n-1] and q in [0, 1],
h = (n - 1) * q and P = x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)]).
With one value every percentile is that value. Missing values (None, NaN) are skipped per metric;
a metric with no values is None, never 0. ``n`` is the number of samples given for that side,
so a side where half the requests failed before a first token still shows its real sample count.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Optional, Sequence

from ..exchange import Timings

METRICS = ("ttft", "tpot", "e2e")
QUANTILES = {"p50": 0.50, "p95": 0.95}
STAT_KEYS = ("n",) + tuple(f"{m}_{p}" for m in METRICS for p in QUANTILES)
RATIO_KEYS = tuple(f"{m}_p95" for m in METRICS)


def percentile(values: Iterable[Optional[float]], q: float) -> Optional[float]:
    """Type-7 percentile of the non-missing values; ``q`` is a fraction in [0, 1]."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"percentile q must be within [0, 1], got {q}")
    xs = sorted(float(v) for v in values if v is not None and not math.isnan(float(v)))
    if not xs:
        return None
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    if lo + 1 >= len(xs):
        return xs[-1]
    return xs[lo] + (h - lo) * (xs[lo + 1] - xs[lo])


def _timings(sample: Any) -> Optional[Timings]:
    if sample is None:
        return None
    if isinstance(sample, Timings):
        return sample
    inner = getattr(sample, "timings", None)
    if isinstance(inner, Timings):
        return inner
    raise TypeError(f"expected Timings or an object with .timings, got {type(sample).__name__}")


def summarise(samples: Iterable[Any]) -> dict:
    """``{"n", "ttft_p50", "ttft_p95", "tpot_p50", "tpot_p95", "e2e_p50", "e2e_p95"}`` for one side."""
    timings = [t for t in (_timings(s) for s in samples) if t is not None]
    values = {
        "ttft": [t.ttft_s for t in timings],
        "tpot": [t.tpot_s for t in timings],
        "e2e": [t.e2e_s for t in timings],
    }
    out: dict = {"n": len(timings)}
    for metric in METRICS:
        for name, q in QUANTILES.items():
            out[f"{metric}_{name}"] = _round(percentile(values[metric], q))
    return out


def ratio(new: Optional[float], old: Optional[float]) -> Optional[float]:
    """new / old; None when either side is unknown or old is zero (no meaningful ratio)."""
    if new is None or old is None or old == 0:
        return None
    return round(new / old, 4)


def compare(old_samples: Iterable[Any], new_samples: Iterable[Any]) -> dict:
    """One latency entry of the report: ``{"old": stats, "new": stats, "ratio": {...}}``."""
    old = summarise(old_samples)
    new = summarise(new_samples)
    return {"old": old, "new": new, "ratio": {key: ratio(new[key], old[key]) for key in RATIO_KEYS}}


def latency_table(groups: Mapping[str, Mapping[str, Sequence[Any]]]) -> dict:
    """The report's ``latency`` block from ``{case_class: {"old": [...], "new": [...]}}``.

    Each list holds Timings or Exchanges (None entries are skipped). A case class missing one side
    still gets an entry: that side's percentiles are None and so are the ratios.
    """
    table: dict = {}
    for case_class in sorted(groups):
        sides = groups[case_class] or {}
        unknown = set(sides) - {"old", "new"}
        if unknown:
            raise ValueError(f"latency group {case_class!r}: unknown side(s) {sorted(unknown)}")
        table[case_class] = compare(sides.get("old") or [], sides.get("new") or [])
    return table


def _round(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(x, 6)
