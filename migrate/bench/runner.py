"""Sending one load level to one backend: asyncio, a connection per request in flight, every request through
the protocol layer (``send_async`` with the request's scheduled time), reduced to a ``Sample`` as soon
as it ends.

Nothing waits without a bound: each request has ``--timeout`` (and a stream that goes silent for the
stall limit is cut and counted as ``stall``), and the whole level has ``--max-duration``: past it no
request is sent and the ones in flight are cancelled and counted as ``timeout``. A backend that dies
mid-run shows up as errors by type (``stream_cut`` for the streams it cut, ``connection_refused`` for
the requests after); the caller decides what that means for the exit code.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable, Optional

import httpx

from ..protocol import Backend, send_async
from .metrics import Sample, sample
from .profiles import Level, Load
from .scenarios import Scenario

CONNECT_FAULTS = ("connection_refused", "connect_timeout")


@dataclass
class LevelRun:
    samples: list[Sample] = field(default_factory=list)
    warmup: int = 0
    warmup_errors: Counter = field(default_factory=Counter)
    bounded: bool = False  # stopped by --max-duration

    @property
    def connect_faults(self) -> int:
        return sum(1 for s in self.samples if s.error in CONNECT_FAULTS) + sum(
            n for k, n in self.warmup_errors.items() if k in CONNECT_FAULTS
        )


class Lanes:
    """The level's connections: one httpx client with a pool of ONE connection per request in flight,
    made when first needed and reused (last in, first out, so they stay warm).

    Not one client with a pool of N: httpcore's pool re-scans every connection for every other one each
    time a request starts or ends (quadratic in the pool size: at 64 connections that was more than half
    of the client's CPU), and a client that is short of CPU reports the server slower than it is. One
    TLS context serves every lane (building one costs ~50 ms)."""

    def __init__(self, size: int, https: bool) -> None:
        self.free = asyncio.Semaphore(size)
        self.idle: list[httpx.AsyncClient] = []
        self.made: list[httpx.AsyncClient] = []
        self.verify = httpx.create_ssl_context() if https else False

    @asynccontextmanager
    async def lane(self) -> AsyncIterator[httpx.AsyncClient]:
        async with self.free:  # waiting here counts in the latency: it is the client's lateness
            client = self.idle.pop() if self.idle else self._new()
            try:
                yield client
            finally:
                self.idle.append(client)

    def _new(self) -> httpx.AsyncClient:
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        client = httpx.AsyncClient(limits=one, follow_redirects=False, verify=self.verify)
        self.made.append(client)
        return client

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.made), return_exceptions=True)


async def _until(moment: float) -> None:
    delay = moment - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


class _Level:
    def __init__(
        self,
        backend: Backend,
        scenario: Scenario,
        model: str,
        load: Load,
        level: Level,
        lanes: Lanes,
        max_duration: float,
        on_done: Optional[Callable[[Sample], None]],
    ) -> None:
        self.backend, self.scenario, self.model = backend, scenario, model
        self.load, self.level, self.lanes = load, level, lanes
        self.max_duration = max_duration
        self.on_done = on_done
        self.run = LevelRun()
        self.origin = time.perf_counter()

    async def _send(self, index: int, scheduled: float, counted: bool = True) -> None:
        request = self.scenario.request(self.model, index)
        try:
            async with self.lanes.lane() as client:
                ex = await send_async(self.backend, request, client=client, scheduled=scheduled)
        except asyncio.CancelledError:
            if counted:
                s = Sample(index=index, scheduled=scheduled - self.origin, end=time.perf_counter() - self.origin)
                s.error = "timeout"
                s.error_message = f"cancelled at the overall bound (--max-duration {self.max_duration:g} s)"
                self.run.samples.append(s)
            raise
        if not counted:
            if ex.error is not None:
                self.run.warmup_errors[ex.error.type] += 1
            return
        s = sample(ex, index, self.origin, from_schedule=not self.level.closed)
        self.run.samples.append(s)
        if self.on_done is not None:
            self.on_done(s)

    async def warmup(self) -> None:
        n = self.load.warmup
        self.run.warmup = n
        counter = itertools.count()

        async def worker() -> None:
            while (i := next(counter)) < n:
                await self._send(-1 - i, time.perf_counter(), counted=False)

        await asyncio.gather(*(worker() for _ in range(min(n, self.load.pool_size(self.level)))))

    async def closed(self) -> None:
        load, counter = self.load, itertools.count()
        self.origin = time.perf_counter()

        async def worker() -> None:
            while True:
                now = time.perf_counter()
                if load.duration is not None and now - self.origin >= load.duration:
                    return
                i = next(counter)
                if load.requests is not None and i >= load.requests:
                    return
                await self._send(i, now)

        assert self.level.concurrency
        await asyncio.gather(*(worker() for _ in range(self.level.concurrency)))

    async def open(self) -> None:
        self.origin = time.perf_counter()
        tasks: list[asyncio.Task] = []
        try:
            for i, offset in enumerate(self.load.arrivals(self.level)):
                at = self.origin + offset
                await _until(at)
                tasks.append(asyncio.ensure_future(self._send(i, at)))
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def run_level(
    backend: Backend,
    scenario: Scenario,
    model: str,
    load: Load,
    level: Level,
    *,
    max_duration: float,
    on_done: Optional[Callable[[Sample], None]] = None,
    on_measure: Optional[Callable[[], Awaitable[None]]] = None,
) -> LevelRun:
    """Warm-up, then the measured schedule of ``level``; the samples of the measured requests.
    ``on_measure`` is awaited between the two (the server-metrics scrape that must not count the warm-up)."""
    lanes = Lanes(load.pool_size(level), backend.url.lower().startswith("https:"))
    state = _Level(backend, scenario, model, load, level, lanes, max_duration, on_done)

    async def everything() -> None:
        await state.warmup()
        if on_measure is not None:
            await on_measure()
        await (state.closed() if level.closed else state.open())

    try:
        await asyncio.wait_for(everything(), timeout=max_duration)
    except asyncio.TimeoutError:
        state.run.bounded = True
    finally:
        await lanes.aclose()
    return state.run
