"""The one catalogue of logical metric names (``migrate/data/metrics.yaml``).

Used by the gateway contract (``required_metrics`` must be known logical names) and by
``migrate compat --check-metrics`` (which Prometheus family to look for on each engine).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Optional

from . import engines as registry
from .datafiles import package_data


@dataclass(frozen=True)
class EngineMetric:
    """How one engine exposes one logical metric. ``name`` None: the engine has no equivalent."""

    name: Optional[str]
    promql: Optional[str] = None
    also: tuple[str, ...] = ()  # other families the promql needs
    legacy: tuple[str, ...] = ()  # names older builds exposed
    note: Optional[str] = None


@dataclass(frozen=True)
class LogicalMetric:
    name: str
    description: str
    unit: str
    aliases: tuple[str, ...]
    engines: dict = field(default_factory=dict)  # engine key -> EngineMetric


class MetricsCatalog:
    def __init__(self, data: dict):
        self.version = data.get("version")
        self.engine_keys: tuple[str, ...] = registry.metric_engines()
        self.metrics: dict[str, LogicalMetric] = {}
        self._alias: dict[str, str] = {}
        for name, spec in (data.get("metrics") or {}).items():
            engines = {eng: _engine_metric(v) for eng, v in (spec.get("engines") or {}).items()}
            lm = LogicalMetric(
                name=name,
                description=str(spec.get("description", "")).strip(),
                unit=str(spec.get("unit", "")),
                aliases=tuple(spec.get("aliases") or ()),
                engines=engines,
            )
            self.metrics[name] = lm
            self._alias[name] = name
            for alias in lm.aliases:
                self._alias[alias] = name

    def names(self, *, include_aliases: bool = True) -> list[str]:
        """Every accepted logical name (canonical names first, then aliases)."""
        canonical = list(self.metrics)
        if not include_aliases:
            return canonical
        return canonical + sorted(a for a in self._alias if a not in self.metrics)

    def canonical(self, name: str) -> Optional[str]:
        return self._alias.get(name)

    def is_known(self, name: str) -> bool:
        return name in self._alias

    @staticmethod
    def engine_key(kind: str) -> str:
        engine = registry.resolve(kind)
        return engine.metrics_key if engine else str(kind).strip().lower()

    def lookup(self, logical: str, engine: str) -> Optional[EngineMetric]:
        """The engine's exposure of a logical metric; None when the name or engine is unknown."""
        canonical = self.canonical(logical)
        if canonical is None:
            return None
        return self.metrics[canonical].engines.get(self.engine_key(engine))

    def exposed_by(self, engine: str) -> dict[str, str]:
        """Logical name -> what to scrape (PromQL where derived, else the family) for one engine."""
        out = {}
        for name, lm in self.metrics.items():
            em = lm.engines.get(self.engine_key(engine))
            if em is not None and em.name:
                out[name] = em.promql or em.name
        return out

    def prometheus_name(self, logical: str, engine: str) -> Optional[str]:
        em = self.lookup(logical, engine)
        return em.name if em else None


def _engine_metric(value) -> EngineMetric:
    if value is None or isinstance(value, str):
        return EngineMetric(name=value)
    return EngineMetric(
        name=value.get("name"),
        promql=value.get("promql"),
        also=tuple(value.get("also") or ()),
        legacy=tuple(value.get("legacy") or ()),
        note=value.get("note"),
    )


@functools.lru_cache(maxsize=1)
def load_catalog() -> MetricsCatalog:
    return MetricsCatalog(package_data("metrics.yaml"))
