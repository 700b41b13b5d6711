"""The engine's own view of a bench level: its Prometheus ``/metrics``, scraped just before and just after
the measured part (after the warm-up), reported as histogram and counter DELTAS, plus a light sampler of
its gauges while the level runs.

What to read comes from data only: the metrics path from the engine registry (``engines.yaml``), the
family names from the metrics catalogue (``metrics.yaml``, logical name -> engine family, with its legacy
names). A backend without a metrics path, or whose path does not answer Prometheus text (a 404, a web
page, JSON), is "not exposed" and nothing is guessed. A histogram or counter that went backwards between
the two scrapes (the engine restarted, or reset its metrics) is reported as ``reset`` without numbers:
a delta across a reset is meaningless, and never negative.

The deltas count every request the server finished between the two scrapes, including traffic from
anyone else; on a shared server they are the server's view, not only the bench's.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Optional

import httpx

from .. import engines as registry
from ..metrics_catalog import EngineMetric, load_catalog
from ..protocol import Timeouts, fetch_async
from ..protocol.prometheus import Hist, Scrape, parse_prometheus
from .config import Target

SAMPLE_INTERVAL = 0.5  # seconds between gauge samples while a level runs
QUANTILES = {"p50": 0.5, "p95": 0.95}
# report key -> logical metric (the catalogue's names); the client metric shown beside a server histogram
HISTOGRAMS = {"queue_time": "queue_time", "ttft": "time_to_first_token", "tpot": "time_per_output_token"}
BESIDE_CLIENT = {"ttft": "ttft", "tpot": "tpot"}
GAUGES = {"kv_cache_usage": "kv_cache_usage", "running": "running_requests", "waiting": "waiting_requests"}
PREFIX_CACHE = "prefix_cache_hit_rate"

# ------------------------------------------------------------------------------------------------
# Deltas


def hist_delta(before: Hist, after: Hist) -> Optional[Hist]:
    """after - before, or None when anything went backwards or the buckets changed (a reset)."""
    if after.count < before.count or after.sum < before.sum or set(after.buckets) != set(before.buckets):
        return None
    buckets = {le: after.buckets[le] - before.buckets[le] for le in after.buckets}
    if any(v < 0 for v in buckets.values()):
        return None
    return Hist(count=after.count - before.count, sum=after.sum - before.sum, buckets=buckets)


def bucket_quantile(q: float, h: Hist) -> Optional[float]:
    """Prometheus' ``histogram_quantile``: linear within the bucket holding rank q*count; a rank in the
    +Inf bucket gives the highest finite bound."""
    if h.count <= 0 or not h.buckets:
        return None
    rank = q * h.count
    lower, below = 0.0, 0.0
    for le, cumulative in h.buckets.items():
        if cumulative >= rank:
            if math.isinf(le):
                return lower
            if cumulative == below:
                return le
            if le <= 0:
                return le
            return lower + (le - lower) * (rank - below) / (cumulative - below)
        lower, below = le, cumulative
    return lower


def _round(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(x, 6)


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else f"{bound:g}"


# ------------------------------------------------------------------------------------------------
# The watch over one level


@dataclass
class _Gauge:
    samples: int = 0
    total: float = 0.0
    peak: Optional[float] = None

    def add(self, value: float) -> None:
        self.samples += 1
        self.total += value
        self.peak = value if self.peak is None else max(self.peak, value)


class ServerWatch:
    """``await start()`` before the measured part, ``await stop()`` after it, then ``report(result)``."""

    def __init__(self, target: Target, timeout: float, interval: float = SAMPLE_INTERVAL) -> None:
        backend = target.backend(timeout, timeout)
        self.root, self.headers = backend.url, backend.headers()
        self.interval = interval
        self.timeouts = Timeouts(connect=min(5.0, timeout), read=min(10.0, timeout), total=min(10.0, timeout))
        engine = registry.resolve(target.kind)
        self.path = engine.metrics_path if engine is not None else None
        self.kind = target.kind
        catalog = load_catalog()
        self.families: dict[str, EngineMetric] = {}  # logical -> the engine's exposure
        for logical in (*HISTOGRAMS.values(), *GAUGES.values(), PREFIX_CACHE):
            em = catalog.lookup(logical, target.kind) if engine is not None else None
            if em is not None and em.name:
                self.families[logical] = em
        self.wanted = {n for em in self.families.values() for n in (em.name, *em.also, *em.legacy) if n}
        self.reason: Optional[str] = None if self.path else f"{target.kind} serves no Prometheus metrics"
        self.before: Optional[Scrape] = None
        self.after: Optional[Scrape] = None
        self.gauges: dict[str, _Gauge] = {}
        self.failed_samples = 0
        self._sampler: Optional[asyncio.Task] = None
        self._client: Optional[httpx.AsyncClient] = None

    async def scrape(self) -> tuple[Optional[Scrape], Optional[str]]:
        """The parsed dump, or None and why not."""
        assert self.path is not None
        if self._client is None:
            # One client for every scrape of the level: a new one per scrape would build a TLS context
            # each time (~50 ms of the event loop the requests under measurement share).
            https = self.root.lower().startswith("https:")
            verify = httpx.create_ssl_context() if https else False
            self._client = httpx.AsyncClient(verify=verify, follow_redirects=False)
        res = await fetch_async(self.root, self.path, timeouts=self.timeouts, headers=self.headers, client=self._client)
        if res.status is not None and not 200 <= res.status < 300:
            return None, f"GET {self.path} answered HTTP {res.status}"
        if not res.ok:
            return None, f"GET {self.path}: {res.error.type if res.error else 'no answer'}"
        ctype = (res.headers.get("content-type") or "").lower()
        if "html" in ctype or isinstance(res.json, (dict, list)):
            return None, f"GET {self.path} answered {ctype or 'something'}, not Prometheus text"
        scrape = parse_prometheus(res.text or "", self.wanted)
        if not any(scrape.has(n) for n in self.wanted):
            return None, f"GET {self.path} shows none of the catalogued {self.kind} metrics"
        return scrape, None

    async def start(self) -> None:
        if self.path is None or self.reason:
            return
        self.before, self.reason = await self.scrape()
        if self.before is not None:
            self._sampler = asyncio.ensure_future(self._sample())

    async def _sample(self) -> None:
        while True:
            scrape, _ = await self.scrape()
            if scrape is None:
                self.failed_samples += 1
            else:
                for key, logical in GAUGES.items():
                    value = self._gauge(scrape, logical)
                    if value is not None:
                        self.gauges.setdefault(key, _Gauge()).add(value)
                rate = self._gauge(scrape, PREFIX_CACHE)
                if rate is not None and not self._counter_ratio(scrape):
                    self.gauges.setdefault(PREFIX_CACHE, _Gauge()).add(rate)
            await asyncio.sleep(self.interval)

    async def stop(self, final: bool = True) -> None:
        """End the sampler; ``final``: scrape the "after" side (not when the level broke off)."""
        if self._sampler is not None:
            self._sampler.cancel()
            await asyncio.gather(self._sampler, return_exceptions=True)
            self._sampler = None
        if self.before is not None and final:
            self.after, reason = await self.scrape()
            if self.after is None:
                self.reason = f"the scrape after the level failed ({reason})"
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- reading the catalogue's families out of a scrape

    def _name_in(self, scrape: Scrape, logical: str) -> Optional[str]:
        em = self.families.get(logical)
        if em is None:
            return None
        return next((n for n in (em.name, *em.legacy) if n and scrape.has(n)), None)

    def _gauge(self, scrape: Scrape, logical: str) -> Optional[float]:
        name = self._name_in(scrape, logical)
        if name is None or scrape.types.get(name, "gauge") not in ("gauge", "untyped"):
            return None
        return scrape.total(name)

    def _counter_ratio(self, scrape: Scrape) -> Optional[tuple[str, str]]:
        """(hits family, queries family) when the catalogue gives the prefix cache as two counters."""
        em = self.families.get(PREFIX_CACHE)
        name = self._name_in(scrape, PREFIX_CACHE)
        if em is None or name is None or not em.also:
            return None
        return name, em.also[0]

    # -- the report

    def report(self, client: dict) -> dict:
        out: dict = {"exposed": False, "endpoint": self.path, "reason": self.reason}
        if self.before is None or self.after is None:
            if out["reason"] is None:
                out["reason"] = "the level ended before its measured part"
            return out
        out.update(exposed=True, reason=None, histograms={}, gauges={}, sample_interval_s=self.interval)
        for key, logical in HISTOGRAMS.items():
            out["histograms"][key] = self._histogram(logical, client.get(BESIDE_CLIENT.get(key, "")) or None)
        out["prefix_cache"] = self._prefix_cache()
        for key, logical in GAUGES.items():
            out["gauges"][key] = self._sampled(logical, self.gauges.get(key))
        out["failed_samples"] = self.failed_samples
        return out

    def _sampled(self, logical: str, g: Optional[_Gauge]) -> dict:
        assert self.after is not None
        if g is None or not g.samples:
            return {"metric": self._catalogued(logical), "status": self._missing(logical)}
        return {
            "metric": self._name_in(self.after, logical) or self._catalogued(logical),
            "status": "measured",
            "samples": g.samples,
            "peak": _round(g.peak),
            "mean": _round(g.total / g.samples),
        }

    def _catalogued(self, logical: str) -> Optional[str]:
        em = self.families.get(logical)
        return em.name if em else None

    def _missing(self, logical: str) -> str:
        return "absent" if logical in self.families else "not_catalogued"

    def _histogram(self, logical: str, client: Optional[dict]) -> dict:
        assert self.before is not None and self.after is not None
        name = self._name_in(self.before, logical) or self._name_in(self.after, logical)
        if name is None:
            return {"metric": self._catalogued(logical), "status": self._missing(logical)}
        before, after = self.before.histogram(name), self.after.histogram(name)
        if before is None or after is None:
            return {"metric": name, "status": "absent"}
        delta = hist_delta(before, after)
        if delta is None:
            return {"metric": name, "status": "reset"}
        out: dict = {
            "metric": name,
            "status": "measured",
            "count": int(round(delta.count)),
            "sum": _round(delta.sum),
            "mean": _round(delta.sum / delta.count) if delta.count else None,
            **{k: _round(bucket_quantile(q, delta)) for k, q in QUANTILES.items()},
            "buckets": {_le(le): int(round(n)) for le, n in delta.buckets.items()},
        }
        if client is not None:
            out["client"] = {k: client.get(k) for k in ("mean", *QUANTILES)}
            out["client_minus_server"] = {
                k: None if out[k] is None or client.get(k) is None else _round(client[k] - out[k])
                for k in ("mean", *QUANTILES)
            }
        return out

    def _prefix_cache(self) -> dict:
        assert self.before is not None and self.after is not None
        pair = self._counter_ratio(self.after)
        if pair is None:  # a gauge (or nothing): what the sampler saw
            return self._sampled(PREFIX_CACHE, self.gauges.get(PREFIX_CACHE))
        hits_name, queries_name = pair
        values = [s.counter(n) for s in (self.before, self.after) for n in (hits_name, queries_name)]
        if any(v is None for v in values):
            return {"metric": hits_name, "status": "absent"}
        h0, q0, h1, q1 = (float(v) for v in values if v is not None)
        if h1 < h0 or q1 < q0:
            return {"metric": hits_name, "status": "reset"}
        hits, queries = h1 - h0, q1 - q0
        return {
            "metric": hits_name,
            "status": "measured",
            "hits": int(round(hits)),
            "queries": int(round(queries)),
            "hit_rate": _round(hits / queries) if queries else None,
        }

    def notes(self, report: dict) -> list[str]:
        """The not-measured lines of this watch for the level's result."""
        if not report["exposed"]:
            return [f"server metrics: not exposed ({report['reason']})"]
        out = []
        for key, h in report["histograms"].items():
            if h["status"] == "reset":
                out.append(f"server metrics: {h['metric']} went backwards between the scrapes (a reset): no delta")
        if report["prefix_cache"]["status"] == "reset":
            out.append(f"server metrics: {report['prefix_cache']['metric']} went backwards (a reset): no hit rate")
        return out
