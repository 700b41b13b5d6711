"""`migrate canary --apply`: decide from the weight the gateway file gives the candidate now, then
write the recommendation into that file (gateway.set_weights: round-trip, atomic, .bak, validated).

The read, the decision and the write happen under one lock on the file (``fsutil.locked``), and the
file is read inside it: two `--apply` runs on one file take turns, and the second decides from the
first one's result instead of overwriting it."""

from __future__ import annotations

import os
from typing import Optional

from .. import fsutil, gateway
from .decide import Decision, decide
from .formats import Context


def apply(
    config: str | os.PathLike,
    report: dict,
    policy: dict,
    alias: str,
    backend: str,
    *,
    current_weight: Optional[int] = None,
) -> tuple[Decision, Context]:
    with fsutil.locked(config):
        if current_weight is None:
            current_weight = gateway.read_weight(config, alias, backend)
        d = decide(report, policy, current_weight)
        applied = gateway.set_weights(config, alias, backend, d.recommended_weight)
        base_urls = gateway.base_urls(config, alias)
    ctx = Context(alias=alias, backend=backend, split=applied["after"], applied=applied, base_urls=base_urls)
    return d, ctx
