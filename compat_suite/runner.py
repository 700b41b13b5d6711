"""The compat runner: health-check both ends, learn the old context, run every case on both
backends (old ``baseline_repeats`` times, new ``repeats`` times) with bounded concurrency through
the one protocol layer, run the checks, and build the report dict of the compat contract.

How each kind of case runs is the case kind's business (``kinds.CASE_KINDS``); what is judged is
the checks' (``checks.REGISTRY``). The runner owns the probes, the sending (concurrency, clocks,
progress), the order of stages and the report.

Clocks start at each request's scheduled send time (the moment its concurrency slot opens), so
time spent queueing behind our own concurrency limit is not billed to a backend, but everything
from then on (connection, server queue, prefill) is.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Optional

from migrate import __version__
from migrate.errors import UsageError
from migrate.exchange import ChatRequest, Exchange, Message
from migrate.protocol import HttpResult, fetch_async, send_async, send_raw_async
from migrate.report.contract import SCHEMA_VERSION, summarize
from migrate.report.latency import latency_table

from .checks import REGISTRY, CheckContext
from .checks.base import result
from .checks.observability import DEFAULT_REQUIRED
from .config import CompatConfig
from .kinds import CASE_KINDS
from .loader import Case
from .prompts import long_prompt, nonce
from .session import Side

CONNECT_FAULTS = {"connection_refused", "connect_timeout"}
METRICS_CASE_ID = "observability.required_metrics"


# ----------------------------------------------------------------------------------------------
# probes


async def _get(side: Side, path: str, *, method: str = "GET", body: Any = None) -> HttpResult:
    return await fetch_async(side.backend.url, path, method=method, json=body, headers=side.headers() or None)


async def health(side: Side) -> Optional[str]:
    """None when healthy, else one sentence saying why not."""
    path = "/api/version" if side.cfg.protocol == "ollama" else "/v1/models"
    res = await _get(side, path)
    if res.error is not None and res.status is None:
        return f"{side.name} backend {side.backend.url} is unreachable ({res.error.type}: {res.error.message})"
    if res.status is None or res.status >= 400:
        return f"{side.name} backend {side.backend.url} answered GET {path} with HTTP {res.status}"
    return None


def _ollama_default_context(version: Optional[str]) -> tuple[Optional[int], str]:
    """Ollama's default num_ctx by version (ollama.md §0 and §3)."""
    try:
        parts = tuple(int(p) for p in str(version).split("-")[0].split(".")[:3])
    except ValueError:
        return None, "unknown"
    if parts < (0, 6, 7):
        return 2048, f"Ollama {version} default"
    if parts < (0, 15, 5):
        return 4096, f"Ollama {version} default"
    return 4096, f"Ollama {version} VRAM-tiered default (4096 assumed: <24 GiB)"


async def learn_context(side: Side) -> tuple[Optional[int], str]:
    """The effective per-request context: Ollama /api/ps (or its version's default), llama.cpp
    /props, vLLM /v1/models max_model_len."""
    model = side.cfg.model
    if side.cfg.protocol == "ollama":
        ps = await _get(side, "/api/ps")
        if ps.ok and isinstance(ps.json, dict):
            for m in ps.json.get("models") or []:
                names = {m.get("name"), m.get("model")}
                if (model in names or f"{model}:latest" in names) and m.get("context_length"):
                    return int(m["context_length"]), "/api/ps context_length"
        ver = await _get(side, "/api/version")
        version = ver.json.get("version") if ver.ok and isinstance(ver.json, dict) else None
        return _ollama_default_context(version)
    props = await _get(side, "/props")
    if props.ok and isinstance(props.json, dict):
        n = (props.json.get("default_generation_settings") or {}).get("n_ctx")
        if n:
            return int(n), "llama.cpp /props n_ctx (per slot)"
    models = await _get(side, "/v1/models")
    if models.ok and isinstance(models.json, dict):
        data = [m for m in models.json.get("data") or [] if isinstance(m, dict)]
        mine = [m for m in data if m.get("id") == model] or (data if len(data) == 1 else [])
        for m in mine:
            if m.get("max_model_len"):
                return int(m["max_model_len"]), "/v1/models max_model_len"
            if (m.get("meta") or {}).get("n_ctx"):
                return int(m["meta"]["n_ctx"]), "/v1/models meta.n_ctx"
    return None, "unknown"


async def is_embedding_model(side: Side) -> bool:
    if side.cfg.protocol != "ollama":
        return False
    res = await _get(side, "/api/show", method="POST", body={"model": side.cfg.model})
    caps = res.json.get("capabilities") if res.ok and isinstance(res.json, dict) else None
    return bool(caps) and "embedding" in caps and "completion" not in caps


def metrics_case(required: Iterable[str]) -> Case:
    """The case ``--check-metrics`` adds: one scrape of the new backend's /metrics."""
    kind = CASE_KINDS["metrics"]
    return Case(
        id=METRICS_CASE_ID,
        category="observability",
        kind=kind.name,
        checks=list(kind.default_checks),
        params={"required": list(required)},
    )


class Runner:
    """One comparison; also the ``Session`` its case kinds run in."""

    def __init__(self, cfg: CompatConfig, on_progress: Optional[Callable[[int, int, str], None]] = None):
        self.cfg = cfg
        self.on_progress = on_progress
        self.done = 0
        self.total = 0
        self.old: Side
        self.new: Side
        self.contexts: dict[str, Optional[int]] = {"old": None, "new": None}

    # -- sending (the Session of the case kinds) -------------------------------------------------
    async def send(self, side: Side, request: ChatRequest, label: str, count: bool = True) -> Exchange:
        async with side.sem:
            scheduled = time.perf_counter()
            ex = await send_async(side.backend, request, scheduled=scheduled)
        self._note(side, ex)
        if count:
            self._tick(label)
        return ex

    async def send_raw(self, side: Side, path: str, body: str, label: str) -> Exchange:
        async with side.sem:
            ex = await send_raw_async(side.backend, path, body, scheduled=time.perf_counter(), model=side.cfg.model)
        self._note(side, ex)
        self._tick(label)
        return ex

    async def fetch(self, side: Side, path: str) -> HttpResult:
        return await _get(side, path)

    @staticmethod
    def _note(side: Side, ex: Exchange) -> None:
        if ex.error is not None and ex.error.type in CONNECT_FAULTS:
            side.faulted = True

    def _tick(self, label: str) -> None:
        self.done += 1
        if self.on_progress:
            self.on_progress(self.done, self.total, label)

    async def _calibrate(self, side: Side) -> None:
        """Tokens per filler unit on this side: two small prompts, max_tokens 1 (one retry each,
        since a loaded server may time out; nothing is guessed from a failed probe)."""
        counts = []
        for units in (8, 24):
            count = None
            for attempt in range(2):
                req = ChatRequest(
                    model=side.cfg.model,
                    messages=[
                        Message(role="user", content=long_prompt(units, nonce(side.name, units, attempt, time.time())))
                    ],
                )
                req.sampling.max_tokens = 1
                req.sampling.temperature = 0
                ex = await self.send(side, req, f"{side.name}: calibrate", count=attempt == 0)
                if ex.ok and ex.usage.prompt_tokens:
                    count = ex.usage.prompt_tokens
                    break
            counts.append(count)
        if None in counts or counts[1] <= counts[0]:
            side.calibration = None
            return
        per_unit = (counts[1] - counts[0]) / 16
        side.calibration = (counts[0] - 8 * per_unit, per_unit)

    # -- the whole run ---------------------------------------------------------------------------
    async def run(self) -> dict:
        cfg = self.cfg
        # Made here, inside the event loop that will use their semaphores.
        self.old = old = Side("old", cfg.old, cfg.timeout, cfg.concurrency)
        self.new = new = Side("new", cfg.new, cfg.timeout, cfg.concurrency)
        started_at = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        report = self._skeleton(started_at, old, new)

        problems = [p for p in await asyncio.gather(health(old), health(new)) if p]
        if problems:
            return self._finish(report, [], {}, t0, unreachable="; ".join(problems))

        # Warm up (loads the model on Ollama, so /api/ps knows its context) and catch a wrong name.
        warm = await asyncio.gather(*[send_async(s.backend, self._tiny(s)) for s in (old, new)])
        for side, ex in zip((old, new), warm):
            if ex.error and ex.error.type in CONNECT_FAULTS | {"read_timeout", "connect_timeout"}:
                return self._finish(report, [], {}, t0, unreachable=f"{side.name} backend: {ex.error.message}")
            if ex.status == 404:
                raise UsageError(
                    f"the {side.name} backend does not know model {side.cfg.model!r} "
                    f"({ex.error.message if ex.error else 'HTTP 404'}); check --model"
                )

        (oc, osrc), (nc, nsrc) = await asyncio.gather(learn_context(old), learn_context(new))
        if cfg.old_context:
            oc, osrc = cfg.old_context, "--old-context"
        old.info.context, old.info.context_source = oc, osrc
        new.info.context, new.info.context_source = nc, nsrc
        ctx = CheckContext(old=old.info, new=new.info, thresholds=cfg.thresholds)

        cases = self._select(await is_embedding_model(old))
        if cfg.check_metrics:
            cases.append(metrics_case(cfg.required_metrics or DEFAULT_REQUIRED))
        needs_context = [c for c in cases if CASE_KINDS[c.kind].needs_context(c)]
        checks: list[dict] = []
        if needs_context and not oc:
            for c in needs_context:
                checks.append(
                    result(
                        c,
                        c.checks[0],
                        "inconclusive",
                        "The old backend's effective context is unknown: pass --old-context N.",
                        needed=None,
                    )
                )
            cases = [c for c in cases if c not in needs_context]
            needs_context = []
        self.total = sum(CASE_KINDS[c.kind].planned(c, cfg) for c in cases) + (4 if needs_context else 0)
        if needs_context:
            await asyncio.gather(self._calibrate(old), self._calibrate(new))
            # One side without usage counts: size its prompts with the other side's calibration
            # (same model family), but never claim truncation there (sent tokens stay unknown).
            for a, b in ((old, new), (new, old)):
                if a.calibration is None and b.calibration is not None:
                    a.sizing = b.calibration
        self.contexts = {"old": oc, "new": nc}

        async def run_case(case: Case):
            return case, await CASE_KINDS[case.kind].execute(case, self)

        runs = []
        for stage in sorted({CASE_KINDS[c.kind].stage for c in cases}):
            runs += await asyncio.gather(*[run_case(c) for c in cases if CASE_KINDS[c.kind].stage == stage])
        latency_groups: dict[str, dict[str, list]] = {}
        sections: dict[str, Any] = {}
        for case, run in runs:
            kind = CASE_KINDS[case.kind]
            for name in case.checks:
                try:
                    out = REGISTRY[name](case, run, ctx)
                except Exception as exc:  # a check bug must not hide the other results
                    out = result(
                        case,
                        name,
                        "error",
                        f"check failed: {type(exc).__name__}: {exc}",
                        old_ex=run.old,
                        new_ex=run.new,
                    )
                checks.extend(out if isinstance(out, list) else [out])
            if kind.timed:
                group = latency_groups.setdefault(case.latency_class, {"old": [], "new": []})
                group["old"].extend(ex for ex in run.old if ex.ok)
                group["new"].extend(ex for ex in run.new if ex.ok)
            if kind.section:
                key, value = kind.section(case, run, ctx)
                sections[key] = value

        lost = await self._lost(old, new)
        return self._finish(report, checks, latency_groups, t0, sections=sections, unreachable=lost)

    def _tiny(self, side: Side) -> ChatRequest:
        req = ChatRequest(model=side.cfg.model, messages=[Message(role="user", content="Hi")])
        req.sampling.max_tokens = 1
        req.sampling.temperature = 0
        return req

    def _select(self, embedding_model: bool) -> list[Case]:
        # An embedding model cannot chat: only the cases for embedding models make sense.
        models = {"embedding"} if embedding_model else {"chat", "embedding"} if self.cfg.embeddings else {"chat"}
        return [c for c in self.cfg.cases if CASE_KINDS[c.kind].model in models | {"any"}]

    async def _lost(self, old: Side, new: Side) -> Optional[str]:
        """A backend lost mid-run: connection faults were seen and it fails its health check now."""
        problems = []
        for side in (old, new):
            if side.faulted:
                problem = await health(side)
                if problem:
                    problems.append(problem + " (lost during the run)")
        return "; ".join(problems) or None

    # -- report ----------------------------------------------------------------------------------
    def _skeleton(self, started_at: datetime, old: Side, new: Side) -> dict:
        def side(s: Side) -> dict:
            return {"kind": s.cfg.kind, "protocol": s.cfg.protocol, "url": s.backend.url, "model": s.cfg.model}

        return {
            "schema_version": SCHEMA_VERSION,
            "tool_version": __version__,
            "started_at": started_at.isoformat(timespec="seconds"),
            "duration_s": 0.0,
            "old": side(old),
            "new": side(new),
        }

    def _finish(
        self,
        report: dict,
        checks: list[dict],
        latency_groups: dict,
        t0: float,
        *,
        sections: Optional[dict] = None,
        unreachable: Optional[str] = None,
    ) -> dict:
        # One exit-code rule for every consumer: 3 > 2 > 1 > 4 > 0 (2 is raised before a report).
        report["summary"] = summarize(checks, unreachable=bool(unreachable))
        if unreachable:
            report["summary"]["reason"] = unreachable
        report["checks"] = checks
        report["latency"] = latency_table(latency_groups)
        report.update(sections or {})
        report["duration_s"] = round(time.perf_counter() - t0, 3)
        return report


def run_compat(cfg: CompatConfig, on_progress=None) -> dict:
    return asyncio.run(Runner(cfg, on_progress).run())
