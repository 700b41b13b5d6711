"""Load shapes: what the client sends, and when.

A closed loop (``--concurrency 1,2,4``) keeps N requests in flight: the next one leaves when a slot opens,
and each level of the sweep is its own result. An open loop sends on a schedule that does not wait for
answers: ``--rate R`` (every 1/R s) or ``--poisson R`` (exponential gaps with mean 1/R, seeded by
``--seed``). Either loop stops after ``--requests N`` or, for ``--duration S``, once S seconds of the
schedule have been issued. ``--warmup N`` requests go first, at the level's concurrency, and are awaited
and discarded before the measured schedule starts.

Open-loop latency is clocked from each request's *scheduled* time, so a client or a server that falls
behind cannot hide it (no coordinated omission); how late the client itself sent is reported apart.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Iterator, Literal, Optional

from ..errors import UsageError

Shape = Literal["concurrency", "rate", "poisson"]


@dataclass(frozen=True)
class Level:
    """One measured run of a load shape: one concurrency of a sweep, or the one open-loop rate."""

    shape: Shape
    concurrency: Optional[int] = None  # closed loop: requests in flight
    rate: Optional[float] = None  # open loop: requests per second

    @property
    def label(self) -> str:
        if self.shape == "concurrency":
            return f"concurrency {self.concurrency}"
        return f"{self.shape} {self.rate:g}/s"

    @property
    def closed(self) -> bool:
        return self.shape == "concurrency"

    def echo(self) -> dict:
        return {"shape": self.shape, "concurrency": self.concurrency, "rate": self.rate}


@dataclass
class Load:
    shape: Shape = "concurrency"
    concurrency: list[int] = field(default_factory=lambda: [1])
    rate: Optional[float] = None
    requests: Optional[int] = None  # per level; None with ``duration``
    duration: Optional[float] = None  # seconds of schedule per level
    warmup: int = 1
    seed: int = 0
    max_concurrency: int = 256  # open loop: requests in flight at most (the connection pool)

    def levels(self) -> list[Level]:
        if self.shape == "concurrency":
            return [Level("concurrency", concurrency=c) for c in self.concurrency]
        return [Level(self.shape, rate=self.rate)]

    def pool_size(self, level: Level) -> int:
        return level.concurrency if level.closed and level.concurrency else self.max_concurrency

    def arrivals(self, level: Level) -> Iterator[float]:
        """Open loop: the scheduled send offsets (seconds from the start), in order."""
        assert level.rate
        rng = random.Random(self.seed)
        offset, n = 0.0, 0
        while True:
            if self.requests is not None and n >= self.requests:
                return
            if self.duration is not None and offset >= self.duration:
                return
            yield offset
            n += 1
            # Constant: n / rate, not a running sum (0.1 added ten times is not 1.0).
            offset = offset + rng.expovariate(level.rate) if level.shape == "poisson" else n / level.rate

    def echo(self) -> dict:
        return {
            "shape": self.shape,
            "concurrency": list(self.concurrency) if self.shape == "concurrency" else None,
            "rate": self.rate,
            "requests": self.requests,
            "duration_s": self.duration,
            "warmup": self.warmup,
            "seed": self.seed,
            "max_concurrency": self.max_concurrency if self.shape != "concurrency" else None,
        }


DEFAULT_REQUESTS = 50


def concurrency_list(text: str) -> list[int]:
    """``"1,2,4"`` -> [1, 2, 4]: positive integers, each once, in the order given."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            value = int(part)
        except ValueError:
            raise UsageError(f"--concurrency: {part!r} is not a whole number (expected e.g. 1,2,4)") from None
        if not 1 <= value <= 4096:
            raise UsageError(f"--concurrency: {value} is outside 1-4096")
        if value in out:
            raise UsageError(f"--concurrency: {value} is listed twice")
        out.append(value)
    return out


def build_load(
    *,
    concurrency: Optional[str] = None,
    rate: Optional[float] = None,
    poisson: Optional[float] = None,
    requests: Optional[int] = None,
    duration: Optional[float] = None,
    warmup: int = 1,
    seed: int = 0,
    max_concurrency: int = 256,
) -> Load:
    """The load for these option values, or a ``UsageError``: one shape, one stopping rule."""
    given = [name for name, v in (("--concurrency", concurrency), ("--rate", rate), ("--poisson", poisson)) if v]
    if len(given) > 1:
        raise UsageError(f"give one load shape, not {' and '.join(given)}")
    if requests is not None and duration is not None:
        raise UsageError("give --requests or --duration, not both")
    for option, value in (("--rate", rate), ("--poisson", poisson)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise UsageError(f"{option}: must be a positive number of requests per second")
    if requests is None and duration is None:
        requests = DEFAULT_REQUESTS
    if rate:
        return Load("rate", [], rate, requests, duration, warmup, seed, max_concurrency)
    if poisson:
        return Load("poisson", [], poisson, requests, duration, warmup, seed, max_concurrency)
    return Load(
        "concurrency", concurrency_list(concurrency or "1"), None, requests, duration, warmup, seed, max_concurrency
    )
