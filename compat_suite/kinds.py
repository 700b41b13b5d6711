"""Case kinds: how each kind of case runs on both backends. ``CASE_KINDS`` maps a case's ``kind``
to its entry, as ``checks.REGISTRY`` maps a check name to its function; the runner knows no kind
by name.

An entry says how many requests a case sends (``planned``, for progress), how it runs
(``execute`` -> the ``CaseRun`` its checks judge), whether it needs the old backend's effective
context (the context probe and prompt calibration), and when it runs (``stage``): latency-measured
kinds first, then the prefill-heavy ones so a long prefill never sits inside another case's
latency sample, then what must see all the traffic (the /metrics scrape).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional

from migrate.exchange import ChatRequest, Exchange
from migrate.protocol import embed_async
from migrate.protocol.client import ADAPTERS

from .checks import CaseRun, CheckContext, observability
from .config import CompatConfig
from .prompts import NEEDLES, long_prompt, nonce
from .session import Session, Side

if TYPE_CHECKING:
    from .loader import Case

UNKNOWN_MODEL = "migrate-compat-no-such-model"
FRACTIONS = [0.5, 0.9, 1.1]  # of the old context, when a long_context case names none
OVER_LENGTH_FACTOR = 1.5

# Stages, run one after the other (the cases of a stage run concurrently).
TIMED, HEAVY, AFTER = 0, 1, 2


@dataclass(frozen=True)
class CaseKind:
    name: str
    execute: Callable[["Case", Session], Awaitable[CaseRun]]
    planned: Callable[["Case", CompatConfig], int]  # requests it sends (progress total)
    needs_context: Callable[["Case"], bool] = lambda case: False
    stage: int = HEAVY  # TIMED kinds also feed the report's latency table
    model: str = "chat"  # the model it talks to: chat | embedding | any
    needs_messages: bool = False  # a case file must give request.messages
    default_checks: tuple[str, ...] = ()  # when a case names none; else its category's
    # An extra top-level block of the report built from the run: (key, value).
    section: Optional[Callable[["Case", CaseRun, CheckContext], tuple[str, Any]]] = None

    @property
    def timed(self) -> bool:
        return self.stage == TIMED


def counts(case: "Case", cfg: CompatConfig) -> tuple[int, int]:
    """Samples per side: the case's own ``repeats``, else the run's."""
    if case.repeats:
        return case.repeats, case.repeats
    return cfg.baseline_repeats, cfg.repeats


def case_request(
    case: "Case",
    side: Side,
    seed: Optional[int],
    *,
    stream: Optional[bool] = None,
    model: Optional[str] = None,
    messages: Optional[list] = None,
) -> ChatRequest:
    """The canonical request of a case for one side: its model, its extra body, the run's seed."""
    body = json.loads(json.dumps(case.request))  # deep copy: cases are shared
    body.pop("input", None)
    body["model"] = model or side.cfg.model
    if messages is not None:
        body["messages"] = messages
    if stream is not None:
        body["stream"] = stream
        if not stream:
            body.pop("stream_options", None)
    if seed is not None and "seed" in body:
        body["seed"] = seed
    req = ChatRequest.from_openai(body)
    if side.cfg.extra_body:
        merged = dict(req.extras.get(side.cfg.protocol, {}))
        merged.update(side.cfg.extra_body)
        req.extras[side.cfg.protocol] = merged
    return req


# -- chat and stream ---------------------------------------------------------------------------


def _samples(case: "Case", cfg: CompatConfig) -> int:
    return sum(counts(case, cfg))


async def _chat(case: "Case", s: Session, *, twins: bool = False) -> CaseRun:
    n_old, n_new = counts(case, s.cfg)
    seed = s.cfg.seed
    jobs = [s.send(s.old, case_request(case, s.old, seed), case.id) for _ in range(n_old)]
    jobs += [s.send(s.new, case_request(case, s.new, seed), case.id) for _ in range(n_new)]
    if twins:  # the same request without streaming: what the stream must add up to
        jobs += [
            s.send(s.old, case_request(case, s.old, seed, stream=False), case.id),
            s.send(s.new, case_request(case, s.new, seed, stream=False), case.id),
        ]
    out = await asyncio.gather(*jobs)
    run = CaseRun(case, old=list(out[:n_old]), new=list(out[n_old : n_old + n_new]))
    if twins:
        run.aux["non_stream"] = {"old": [out[-2]], "new": [out[-1]]}
    return run


async def _stream(case: "Case", s: Session) -> CaseRun:
    return await _chat(case, s, twins=True)


# -- requests that should fail -----------------------------------------------------------------


def _over_length(case: "Case") -> bool:
    return case.params.get("error") == "over_length"


async def _error(case: "Case", s: Session) -> CaseRun:
    what = case.params.get("error")
    n_old, n_new = counts(case, s.cfg)
    run = CaseRun(case)

    async def one(side: Side) -> Exchange:
        if what == "malformed_body":
            path = ADAPTERS[side.cfg.protocol].encode(ChatRequest(model=side.cfg.model))[0]
            body = '{"model": ' + json.dumps(side.cfg.model) + ', "messages": [{"role": "user", "content": '
            return await s.send_raw(side, path, body, case.id)
        if what == "unknown_model":
            return await s.send(side, case_request(case, side, s.cfg.seed, model=UNKNOWN_MODEL), case.id)
        # over_length: a prompt of factor x the OLD context, sized with this side's calibration
        factor = float(case.params.get("over_length_factor", OVER_LENGTH_FACTOR))
        units = side.units_for(int(factor * s.contexts["old"]))
        run.aux.setdefault("sent_tokens", {})[side.name] = side.tokens_for(units)
        msgs = [{"role": "user", "content": long_prompt(units, nonce(case.id, side.name, time.time()))}]
        return await s.send(side, case_request(case, side, s.cfg.seed, messages=msgs), case.id)

    out = await asyncio.gather(*[one(s.old) for _ in range(n_old)], *[one(s.new) for _ in range(n_new)])
    run.old, run.new = list(out[:n_old]), list(out[n_old:])
    return run


# -- long context ------------------------------------------------------------------------------


def _fractions(case: "Case") -> list[float]:
    return case.params.get("fractions") or FRACTIONS


async def _long_context(case: "Case", s: Session) -> CaseRun:
    run = CaseRun(case)
    prompts: dict = {}

    async def one(side: Side, fraction: float, label: str) -> None:
        units = side.units_for(int(fraction * s.contexts["old"]))
        msgs = [{"role": "user", "content": long_prompt(units, nonce(case.id, side.name, label, time.time()), NEEDLES)}]
        p = prompts[label]
        p["sent"][side.name] = side.tokens_for(units)
        p[side.name] = [await s.send(side, case_request(case, side, s.cfg.seed, messages=msgs), f"{case.id}.{label}")]

    jobs = []
    for fraction in _fractions(case):
        label = f"{round(fraction * 100)}pct"
        prompts[label] = {"fraction": fraction, "needles": dict(NEEDLES), "sent": {}, "old": [], "new": []}
        jobs += [one(s.old, fraction, label), one(s.new, fraction, label)]
    await asyncio.gather(*jobs)
    run.aux["prompts"] = prompts
    return run


# -- embeddings and metrics: one plain request per side, not counted as case traffic -----------


def _uncounted(case: "Case", cfg: CompatConfig) -> int:
    return 0


async def _embeddings(case: "Case", s: Session) -> CaseRun:
    inputs = list(case.request.get("input") or [])
    run = CaseRun(case)
    run.aux["embeddings"] = {
        side.name: [await embed_async(side.backend, side.cfg.model, inputs)] for side in (s.old, s.new)
    }
    return run


async def _metrics(case: "Case", s: Session) -> CaseRun:
    run = CaseRun(case)
    run.aux["metrics"] = {"old": [], "new": [await s.fetch(s.new, "/metrics")]}
    return run


CASE_KINDS: dict[str, CaseKind] = {
    kind.name: kind
    for kind in (
        CaseKind("chat", _chat, _samples, stage=TIMED, needs_messages=True),
        CaseKind("stream", _stream, lambda case, cfg: _samples(case, cfg) + 2, stage=TIMED, needs_messages=True),
        CaseKind("error", _error, _samples, needs_context=_over_length),
        CaseKind(
            "long_context", _long_context, lambda case, cfg: 2 * len(_fractions(case)), needs_context=lambda case: True
        ),
        CaseKind("embeddings", _embeddings, _uncounted, model="embedding", default_checks=("embedding_vectors",)),
        # Built by the runner for --check-metrics (no case file names it): after all other traffic.
        CaseKind(
            "metrics",
            _metrics,
            _uncounted,
            stage=AFTER,
            model="any",
            default_checks=("required_metrics",),
            section=observability.report_section,
        ),
    )
}
