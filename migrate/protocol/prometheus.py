"""Prometheus text exposition (format 0.0.4): the one parser of an engine's ``/metrics``.

A pure decoder, like the rest of the wire layer: text in, samples out. Which families matter, and what
they mean, is the metrics catalogue's business (``migrate/data/metrics.yaml``), not this module's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Optional

# Sample names of a family: a histogram's ``_bucket``/``_sum``/``_count``, a counter's ``_total``, ...
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created", "_info")

_SAMPLE = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


# ------------------------------------------------------------------------------------------------
# The exposition format


@dataclass
class Scrape:
    """The samples of one Prometheus text dump, by sample name: ``[(labels, value)]``; ``types`` from the
    ``# TYPE`` lines."""

    series: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    def families(self) -> set[str]:
        """Every name a ``# TYPE`` line or a sample gives, and the family each sample belongs to."""
        return set(self.types) | set(self.series) | {_family(n) for n in self.series}

    def has(self, family: str) -> bool:
        return any(n in self.series for n in (family, f"{family}_total", f"{family}_count"))

    def total(self, name: str) -> Optional[float]:
        """The sum over every label set of one sample name (a server with several models reports each)."""
        rows = self.series.get(name)
        return None if rows is None else sum(v for _, v in rows)

    def counter(self, family: str) -> Optional[float]:
        value = self.total(family)
        return value if value is not None else self.total(f"{family}_total")

    def histogram(self, family: str) -> Optional["Hist"]:
        count, total = self.total(f"{family}_count"), self.total(f"{family}_sum")
        if count is None or total is None:
            return None
        buckets: dict[float, float] = {}
        for labels, value in self.series.get(f"{family}_bucket", []):
            try:
                le = float(labels.get("le", ""))
            except ValueError:
                continue
            buckets[le] = buckets.get(le, 0.0) + value
        return Hist(count=count, sum=total, buckets=dict(sorted(buckets.items())))


def parse_prometheus(text: str, wanted: Optional[set[str]] = None) -> Scrape:
    """Prometheus text exposition (0.0.4) into a ``Scrape``. ``wanted``: family names to keep (their
    ``_bucket``/``_sum``/``_count``/``_total`` samples too); the rest is skipped unparsed. Lines that are
    not samples are ignored."""
    out = Scrape()
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "TYPE":
                out.types[parts[2]] = parts[3]
            continue
        name = re.split(r"[\s{]", line, maxsplit=1)[0]
        if wanted is not None and _family(name) not in wanted and name not in wanted:
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        if math.isnan(value):
            continue
        labels = {k: re.sub(r"\\(.)", r"\1", v) for k, v in _LABEL.findall(m.group(2) or "")}
        out.series.setdefault(m.group(1), []).append((labels, value))
    return out


def _family(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@dataclass
class Hist:
    count: float
    sum: float
    buckets: dict[float, float]  # upper bound -> cumulative count (as exposed)
