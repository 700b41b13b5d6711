"""The compat runner: health-check both ends, learn the old context, run every case on both
backends (old ``baseline_repeats`` times, new ``repeats`` times) with bounded concurrency through
the one protocol layer, run the checks, and build the report dict of the compat contract.

Clocks start at each request's scheduled send time (the moment its concurrency slot opens), so
time spent queueing behind our own concurrency limit is not billed to a backend, but everything
from then on (connection, server queue, prefill) is.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from migrate import __version__
from migrate.errors import EXIT_USAGE, MigrateError
from migrate.exchange import ChatRequest, Exchange, Message
from migrate.protocol import Backend, HttpResult, Timeouts, fetch_async, send_async, send_raw_async
from migrate.report.contract import SCHEMA_VERSION

from . import noise
from .checks import REGISTRY, CaseRun, CheckContext, SideInfo
from .checks import embeddings as emb
from .checks import observability
from .checks.base import result
from .config import CompatConfig, SideConfig
from .loader import Case

UNKNOWN_MODEL = "migrate-compat-no-such-model"
CONNECT_FAULTS = {"connection_refused", "connect_timeout"}
# Filler for long prompts: plain sentences every tokenizer splits predictably.
FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
NEEDLES = {"start": "AMBER-4817", "middle": "COBALT-2093", "end": "VIOLET-5561"}


class _Side:
    def __init__(self, name: str, cfg: SideConfig, timeout: float, concurrency: int):
        self.name = name
        self.cfg = cfg
        self.backend = Backend(url=cfg.url, protocol=cfg.protocol, kind=cfg.kind,
                               api_key_env=cfg.api_key_env,
                               timeouts=Timeouts(connect=5.0, read=timeout, stall=timeout,
                                                 total=timeout))
        self.sem = asyncio.Semaphore(concurrency)
        self.info = SideInfo(kind=cfg.kind, protocol=cfg.protocol, url=self.backend.url,
                             model=cfg.model)
        self.calibration: Optional[tuple[float, float]] = None   # (overhead tokens, tokens per unit)
        self.faulted = False      # a connection fault was seen during the run
        self.sizing: Optional[tuple[float, float]] = None   # fallback for sizing prompts only

    def headers(self) -> dict:
        return self.backend.headers()


# ----------------------------------------------------------------------------------------------
# probes


async def _get(side: _Side, path: str, *, method: str = "GET", body: Any = None) -> HttpResult:
    return await fetch_async(side.backend.url, path, method=method, json=body,
                             headers=side.headers() or None)


async def health(side: _Side) -> Optional[str]:
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


async def learn_context(side: _Side) -> tuple[Optional[int], str]:
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


async def is_embedding_model(side: _Side) -> bool:
    if side.cfg.protocol != "ollama":
        return False
    res = await _get(side, "/api/show", method="POST", body={"model": side.cfg.model})
    caps = res.json.get("capabilities") if res.ok and isinstance(res.json, dict) else None
    return bool(caps) and "embedding" in caps and "completion" not in caps


# ----------------------------------------------------------------------------------------------
# requests


def case_request(case: Case, side: _Side, seed: Optional[int], *, stream: Optional[bool] = None,
                  model: Optional[str] = None, messages: Optional[list] = None) -> ChatRequest:
    body = json.loads(json.dumps(case.request))      # deep copy: cases are shared
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


def _nonce(*parts: Any) -> str:
    # A unique first line per generated prompt, so no server answers it from a prompt cache
    # (Ollama then reports fewer prompt tokens, which would look like truncation).
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:12]


def long_prompt(units: int, tag: str, needles: Optional[dict[str, str]] = None) -> str:
    needles = needles or {}
    half = max(0, units // 2)
    parts = [f"Document {tag}. Remember the codes in this text.\n"]
    if "start" in needles:
        parts.append(f"The first code is {needles['start']}. ")
    parts.append(FILLER * half)
    if "middle" in needles:
        parts.append(f"The second code is {needles['middle']}. ")
    parts.append(FILLER * (units - half))
    if "end" in needles:
        parts.append(f"The third code is {needles['end']}.\n")
    parts.append("What are the codes? The codes are")
    return "".join(parts)


class Runner:
    def __init__(self, cfg: CompatConfig, on_progress: Optional[Callable[[int, int, str], None]] = None):
        self.cfg = cfg
        self.on_progress = on_progress
        self.done = 0
        self.total = 0

    # -- sending ---------------------------------------------------------------------------------
    async def _send(self, side: _Side, request: ChatRequest, label: str, count: bool = True) -> Exchange:
        async with side.sem:
            scheduled = time.perf_counter()
            ex = await send_async(side.backend, request, scheduled=scheduled)
        self._note(side, ex)
        if count:
            self._tick(label)
        return ex

    async def _send_raw(self, side: _Side, path: str, body: str, label: str) -> Exchange:
        async with side.sem:
            ex = await send_raw_async(side.backend, path, body, scheduled=time.perf_counter(),
                                      model=side.cfg.model)
        self._note(side, ex)
        self._tick(label)
        return ex

    @staticmethod
    def _note(side: _Side, ex: Exchange) -> None:
        if ex.error is not None and ex.error.type in CONNECT_FAULTS:
            side.faulted = True

    def _tick(self, label: str) -> None:
        self.done += 1
        if self.on_progress:
            self.on_progress(self.done, self.total, label)

    async def _calibrate(self, side: _Side) -> None:
        """Tokens per filler unit on this side: two small prompts, max_tokens 1 (one retry each,
        since a loaded server may time out; nothing is guessed from a failed probe)."""
        counts = []
        for units in (8, 24):
            count = None
            for attempt in range(2):
                req = ChatRequest(model=side.cfg.model, messages=[Message(
                    role="user", content=long_prompt(units, _nonce(side.name, units, attempt, time.time())))])
                req.sampling.max_tokens = 1
                req.sampling.temperature = 0
                ex = await self._send(side, req, f"{side.name}: calibrate", count=attempt == 0)
                if ex.ok and ex.usage.prompt_tokens:
                    count = ex.usage.prompt_tokens
                    break
            counts.append(count)
        if None in counts or counts[1] <= counts[0]:
            side.calibration = None
            return
        per_unit = (counts[1] - counts[0]) / 16
        side.calibration = (counts[0] - 8 * per_unit, per_unit)

    def _units_for(self, side: _Side, tokens: int) -> int:
        # Last resort without any usage counts: ~4 characters per token.
        overhead, per_unit = side.calibration or side.sizing or (20.0, len(FILLER) / 4)
        return max(1, int((tokens - overhead) / per_unit))

    def _tokens_for(self, side: _Side, units: int) -> Optional[int]:
        if not side.calibration:
            return None
        overhead, per_unit = side.calibration
        return int(round(overhead + per_unit * units))

    # -- per-kind case runs ----------------------------------------------------------------------
    def _counts(self, case: Case) -> tuple[int, int]:
        if case.repeats:
            return case.repeats, case.repeats
        return self.cfg.baseline_repeats, self.cfg.repeats

    def _planned(self, case: Case) -> int:
        n_old, n_new = self._counts(case)
        if case.kind == "stream":
            return n_old + n_new + 2
        if case.kind == "long_context":
            return 2 * len(case.params.get("fractions") or [0.5, 0.9, 1.1])
        if case.kind == "embeddings":
            return 0
        return n_old + n_new

    async def _run_chat(self, case: Case, old: _Side, new: _Side) -> CaseRun:
        n_old, n_new = self._counts(case)
        seed = self.cfg.seed
        jobs = [self._send(old, case_request(case, old, seed), case.id) for _ in range(n_old)]
        jobs += [self._send(new, case_request(case, new, seed), case.id) for _ in range(n_new)]
        twins = []
        if case.kind == "stream":
            twins = [self._send(old, case_request(case, old, seed, stream=False), case.id),
                     self._send(new, case_request(case, new, seed, stream=False), case.id)]
        out = await asyncio.gather(*jobs, *twins)
        run = CaseRun(case, old=list(out[:n_old]), new=list(out[n_old:n_old + n_new]))
        if twins:
            run.aux["non_stream"] = {"old": [out[-2]], "new": [out[-1]]}
        return run

    async def _run_error(self, case: Case, old: _Side, new: _Side, contexts: dict) -> CaseRun:
        what = case.params.get("error")
        n_old, n_new = self._counts(case)
        run = CaseRun(case)

        async def one(side: _Side) -> Exchange:
            if what == "malformed_body":
                path = "/api/chat" if side.cfg.protocol == "ollama" else "/v1/chat/completions"
                body = '{"model": ' + json.dumps(side.cfg.model) + ', "messages": [{"role": "user", "content": '
                return await self._send_raw(side, path, body, case.id)
            if what == "unknown_model":
                return await self._send(side, case_request(case, side, self.cfg.seed,
                                                            model=UNKNOWN_MODEL), case.id)
            # over_length: a prompt of factor x the OLD context, sized with this side's calibration
            factor = float(case.params.get("over_length_factor", 1.5))
            units = self._units_for(side, int(factor * contexts["old"]))
            run.aux.setdefault("sent_tokens", {})[side.name] = self._tokens_for(side, units)
            msgs = [{"role": "user", "content": long_prompt(units, _nonce(case.id, side.name, time.time()))}]
            return await self._send(side, case_request(case, side, self.cfg.seed, messages=msgs),
                                    case.id)

        out = await asyncio.gather(*[one(old) for _ in range(n_old)], *[one(new) for _ in range(n_new)])
        run.old, run.new = list(out[:n_old]), list(out[n_old:])
        return run

    async def _run_long(self, case: Case, old: _Side, new: _Side, contexts: dict) -> CaseRun:
        run = CaseRun(case)
        prompts: dict = {}
        fractions = case.params.get("fractions") or [0.5, 0.9, 1.1]

        async def one(side: _Side, fraction: float, label: str) -> None:
            units = self._units_for(side, int(fraction * contexts["old"]))
            msgs = [{"role": "user", "content": long_prompt(units, _nonce(case.id, side.name, label, time.time()), NEEDLES)}]
            p = prompts[label]
            p["sent"][side.name] = self._tokens_for(side, units)
            p[side.name] = [await self._send(side, case_request(case, side, self.cfg.seed, messages=msgs),
                                             f"{case.id}.{label}")]

        jobs = []
        for fraction in fractions:
            label = f"{round(fraction * 100)}pct"
            prompts[label] = {"fraction": fraction, "needles": dict(NEEDLES), "sent": {},
                              "old": [], "new": []}
            jobs += [one(old, fraction, label), one(new, fraction, label)]
        await asyncio.gather(*jobs)
        run.aux["prompts"] = prompts
        return run

    async def _run_embeddings(self, case: Case, old: _Side, new: _Side) -> list[dict]:
        inputs = list(case.request.get("input") or [])
        got = {}
        for side in (old, new):
            path, body = emb.request(side.cfg.protocol, side.cfg.model, inputs)
            res = await _get(side, path, method="POST", body=body)
            got[side.name] = (res, emb.vectors(side.cfg.protocol, res.json) if res.ok else None)
        (ro, vo), (rn, vn) = got["old"], got["new"]
        if vo is None or vn is None:
            bad = "old" if vo is None else "new"
            r = ro if vo is None else rn
            verdict = "unsupported_old" if bad == "old" else "unsupported_new"
            return [result(case, "embedding_vectors", verdict,
                           f"The {bad} backend returned no vectors (HTTP {r.status}"
                           f"{': ' + r.error.message if r.error else ''}).", samples=(1, 1))]
        verdict, detail, o, n = emb.compare(vo, vn)
        return [result(case, "embedding_vectors", verdict, detail, old_obs=o, new_obs=n,
                       samples=(1, 1))]

    # -- the whole run ---------------------------------------------------------------------------
    async def run(self) -> dict:
        cfg = self.cfg
        started_at = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        old = _Side("old", cfg.old, cfg.timeout, cfg.concurrency)
        new = _Side("new", cfg.new, cfg.timeout, cfg.concurrency)
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
                raise MigrateError(f"the {side.name} backend does not know model {side.cfg.model!r} "
                                   f"({ex.error.message if ex.error else 'HTTP 404'}); check --model",
                                   EXIT_USAGE)

        (oc, osrc), (nc, nsrc) = await asyncio.gather(learn_context(old), learn_context(new))
        if cfg.old_context:
            oc, osrc = cfg.old_context, "--old-context"
        old.info.context, old.info.context_source = oc, osrc
        new.info.context, new.info.context_source = nc, nsrc
        ctx = CheckContext(old=old.info, new=new.info, thresholds=cfg.thresholds)

        embedding_model = await is_embedding_model(old)
        cases = self._select(embedding_model)
        needs_context = [c for c in cases if c.kind == "long_context"
                         or (c.kind == "error" and c.params.get("error") == "over_length")]
        checks: list[dict] = []
        if needs_context and not oc:
            for c in needs_context:
                checks.append(result(c, c.checks[0], "inconclusive",
                                     "The old backend's effective context is unknown: pass --old-context N.",
                                     needed=None))
            cases = [c for c in cases if c not in needs_context]
            needs_context = []
        self.total = sum(self._planned(c) for c in cases) + (4 if needs_context else 0)
        if needs_context:
            await asyncio.gather(self._calibrate(old), self._calibrate(new))
            # One side without usage counts: size its prompts with the other side's calibration
            # (same model family), but never claim truncation there (sent tokens stay unknown).
            for a, b in ((old, new), (new, old)):
                if a.calibration is None and b.calibration is not None:
                    a.sizing = b.calibration
        contexts = {"old": oc, "new": nc}

        async def run_case(case: Case):
            if case.kind == "embeddings":
                return case, await self._run_embeddings(case, old, new)
            if case.kind == "error":
                return case, await self._run_error(case, old, new, contexts)
            if case.kind == "long_context":
                return case, await self._run_long(case, old, new, contexts)
            return case, await self._run_chat(case, old, new)

        # Latency-measured cases first, then the prefill-heavy ones (long prompts, over-length
        # errors), so a 2k-token prefill never sits inside another case's latency sample.
        timed = [c for c in cases if c.kind in ("chat", "stream")]
        rest = [c for c in cases if c.kind not in ("chat", "stream")]
        runs = list(await asyncio.gather(*[run_case(c) for c in timed]))
        runs += await asyncio.gather(*[run_case(c) for c in rest])
        latency_groups: dict[str, dict[str, list]] = {}
        for case, run in runs:
            if isinstance(run, list):          # embeddings: already judged
                checks.extend(run)
                continue
            for name in case.checks:
                try:
                    out = REGISTRY[name](case, run, ctx)
                except Exception as exc:      # a check bug must not hide the other results
                    out = result(case, name, "error", f"check failed: {type(exc).__name__}: {exc}",
                                 old_ex=run.old, new_ex=run.new)
                checks.extend(out if isinstance(out, list) else [out])
            if case.kind in ("chat", "stream"):
                group = latency_groups.setdefault(case.latency_class, {"old": [], "new": []})
                group["old"].extend(ex for ex in run.old if ex.ok)
                group["new"].extend(ex for ex in run.new if ex.ok)

        metrics = None
        if cfg.check_metrics:
            metrics, entry = await self._metrics(new)
            checks.append(entry)

        lost = await self._lost(old, new)
        return self._finish(report, checks, latency_groups, t0, metrics=metrics, unreachable=lost)

    def _tiny(self, side: _Side) -> ChatRequest:
        req = ChatRequest(model=side.cfg.model, messages=[Message(role="user", content="Hi")])
        req.sampling.max_tokens = 1
        req.sampling.temperature = 0
        return req

    def _select(self, embedding_model: bool) -> list[Case]:
        if embedding_model:
            # An embedding model cannot chat: only the embeddings cases make sense.
            return [c for c in self.cfg.cases if c.kind == "embeddings"]
        want_embeddings = bool(self.cfg.embeddings)
        return [c for c in self.cfg.cases if c.kind != "embeddings" or want_embeddings]

    async def _metrics(self, new: _Side) -> tuple[dict, dict]:
        required = list(self.cfg.required_metrics or observability.DEFAULT_REQUIRED)
        res = await _get(new, "/metrics")
        exposed = observability.families(res.text) if res.ok else None
        resolved = observability.resolve(required, new.cfg.kind, exposed)
        block = {"url": new.backend.url + "/metrics", "required": resolved["required"],
                 "found": resolved["found"], "missing": resolved["missing"]}
        case = Case(id="observability.required_metrics", category="observability")
        if not res.ok:
            verdict = "unsupported_new"
            detail = (f"GET /metrics on the new backend gave HTTP {res.status}"
                      f"{' (' + res.error.message + ')' if res.error else ''}; none of "
                      f"{', '.join(required)} can be scraped (llama.cpp needs --metrics).")
        elif resolved["missing"]:
            verdict = "unsupported_new"
            detail = ("Missing on the new backend: " + "; ".join(
                f"{m} ({resolved['notes'].get(m, 'not exposed')})" for m in resolved["missing"]) + ".")
        else:
            verdict = "pass"
            detail = "All required metrics exposed: " + ", ".join(
                f"{k} as {v}" for k, v in resolved["found"].items()) + "."
        entry = result(case, "required_metrics", verdict, detail,
                       old_obs={}, new_obs={"found": resolved["found"], "missing": resolved["missing"],
                                            "notes": resolved["notes"]}, samples=(0, 1))
        entry.pop("transcripts", None)
        if verdict != "pass":
            entry["transcripts"] = {"old": [], "new": [{"method": "GET", "url": block["url"],
                                                        "request_body": None, "status": res.status,
                                                        "headers": {}, "lines": res.text.splitlines()[:50]}]}
        return block, entry

    async def _lost(self, old: _Side, new: _Side) -> Optional[str]:
        """A backend lost mid-run: connection faults were seen and it fails its health check now."""
        problems = []
        for side in (old, new):
            if side.faulted:
                problem = await health(side)
                if problem:
                    problems.append(problem + " (lost during the run)")
        return "; ".join(problems) or None

    # -- report ----------------------------------------------------------------------------------
    def _skeleton(self, started_at: datetime, old: _Side, new: _Side) -> dict:
        def side(s: _Side) -> dict:
            return {"kind": s.cfg.kind, "protocol": s.cfg.protocol, "url": s.backend.url,
                    "model": s.cfg.model}
        return {"schema_version": SCHEMA_VERSION, "tool_version": __version__,
                "started_at": started_at.isoformat(timespec="seconds"), "duration_s": 0.0,
                "old": side(old), "new": side(new)}

    def _finish(self, report: dict, checks: list[dict], latency_groups: dict, t0: float, *,
                metrics: Optional[dict] = None, unreachable: Optional[str] = None) -> dict:
        from migrate.report import latency_table, summarize
        # One exit-code rule for every consumer: 3 > 2 > 1 > 4 > 0 (2 is raised before a report).
        report["summary"] = summarize(checks, unreachable=bool(unreachable))
        if unreachable:
            report["summary"]["reason"] = unreachable
        report["checks"] = checks
        report["latency"] = latency_table(latency_groups)
        if metrics is not None:
            report["metrics"] = metrics
        report["duration_s"] = round(time.perf_counter() - t0, 3)
        return report


def run_compat(cfg: CompatConfig, on_progress=None) -> dict:
    return asyncio.run(Runner(cfg, on_progress).run())
