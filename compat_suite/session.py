"""A comparison in progress: its two sides, and what a case kind may ask of it (``Session``)."""

from __future__ import annotations

import asyncio
from typing import Optional, Protocol

from migrate.exchange import ChatRequest, Exchange
from migrate.protocol import Backend, HttpResult, Timeouts

from .checks import SideInfo
from .config import CompatConfig, SideConfig
from .prompts import FILLER


class Side:
    """One backend of the comparison: its config, its client, its concurrency slots, and what the
    context probe learned about sizing prompts on it."""

    def __init__(self, name: str, cfg: SideConfig, timeout: float, concurrency: int):
        self.name = name
        self.cfg = cfg
        self.backend = Backend(
            url=cfg.url,
            protocol=cfg.protocol,
            kind=cfg.kind,
            api_key_env=cfg.api_key_env,
            timeouts=Timeouts(connect=5.0, read=timeout, stall=timeout, total=timeout),
        )
        self.sem = asyncio.Semaphore(concurrency)
        self.info = SideInfo(kind=cfg.kind, protocol=cfg.protocol, url=self.backend.url, model=cfg.model)
        self.calibration: Optional[tuple[float, float]] = None  # (overhead tokens, tokens per unit)
        self.faulted = False  # a connection fault was seen during the run
        self.sizing: Optional[tuple[float, float]] = None  # fallback for sizing prompts only

    def headers(self) -> dict:
        return self.backend.headers()

    def units_for(self, tokens: int) -> int:
        """Filler units for a prompt of about ``tokens`` tokens on this side."""
        # Last resort without any usage counts: ~4 characters per token.
        overhead, per_unit = self.calibration or self.sizing or (20.0, len(FILLER) / 4)
        return max(1, int((tokens - overhead) / per_unit))

    def tokens_for(self, units: int) -> Optional[int]:
        """Tokens a prompt of ``units`` filler units is on this side; None when never measured."""
        if not self.calibration:
            return None
        overhead, per_unit = self.calibration
        return int(round(overhead + per_unit * units))


class Session(Protocol):
    """What a case kind's ``execute`` may use: the config, both sides, the old and new effective
    contexts, and sending through the runner (concurrency limit, clocks, progress)."""

    cfg: CompatConfig
    old: Side
    new: Side
    contexts: dict[str, Optional[int]]

    async def send(self, side: Side, request: ChatRequest, label: str) -> Exchange: ...

    async def send_raw(self, side: Side, path: str, body: str, label: str) -> Exchange: ...

    async def fetch(self, side: Side, path: str) -> HttpResult: ...
