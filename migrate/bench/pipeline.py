"""The bench run: check every backend answers, then for each level of the load shape run it on each
backend in turn (old first, then new, the same schedule), summarise, and decide the exit code.

Side by side, the backends run one after the other, never interleaved: on a shared machine the load of
one would disturb the other's latency. The order alternates per level (old, new, old, new, ...), so a
slow drift of the machine touches both sides alike.

Scenarios run one after the other, in the order given; each has its own load shape and levels.

Exit codes (precedence 3 > 2 > 4 > 1 > 0; a single-backend run evaluates no rejection rules):
3 a backend did not answer at all, or was lost mid-run (the report holds what was measured before);
4 a backend completed no request at all (nothing to measure); 1 side by side, a rejection rule of the
new engine is met (``verdict``); 0 otherwise.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Callable, Optional

from .. import __version__
from ..errors import EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_OK, EXIT_UNREACHABLE
from ..protocol import Timeouts, fetch_async
from ..protocol.client import run_sync
from ..redact import mask_text, mask_url
from ..report.latency import ratio
from .config import BenchConfig, Target
from .metrics import LATENCY_METRICS, QUANTILES, Sample, measure, stats
from .profiles import Level
from .runner import run_level
from .scenarios import Scenario
from .server_metrics import ServerWatch
from .verdict import MET, engine_rules, evaluate

SCHEMA_VERSION = 1
ORDER = "sequential"  # one backend at a time, old then new, per level
RATIO_KEYS = ("request_throughput", "output_tokens_per_s", "input_tokens_per_s")

# (backend role, level label, done, total or None) -> None
Progress = Callable[[str, str, int, Optional[int]], None]


async def reachable(target: Target, timeout: float) -> Optional[str]:
    """None when something answers HTTP at the backend's root (any status), else why not."""
    backend = target.backend(timeout, timeout)
    res = await fetch_async(backend.url, "/", timeouts=Timeouts(connect=min(5.0, timeout), read=timeout, total=timeout))
    if res.status is None:
        detail = f"{res.error.type}: {res.error.message}" if res.error else "no answer"
        return f"{target.role} backend {mask_url(backend.url)} is unreachable ({mask_text(detail)})"
    return None


def backend_echo(target: Target) -> dict:
    return {"kind": target.kind, "protocol": target.protocol, "url": mask_url(target.url), "model": target.model}


def compare(old: dict, new: dict) -> dict:
    """new/old per percentile of each latency metric, and of the rates."""
    out: dict = {}
    for metric in LATENCY_METRICS:
        a, b = old.get(metric) or {}, new.get(metric) or {}
        out[metric] = {k: ratio(b.get(k), a.get(k)) for k in (*QUANTILES, "mean")}
    for key in RATIO_KEYS:
        out[key] = ratio(new.get(key), old.get(key))
    return out


class Bench:
    def __init__(self, cfg: BenchConfig, on_progress: Optional[Progress] = None) -> None:
        self.cfg = cfg
        self.on_progress = on_progress

    def _skeleton(self, started_at: datetime) -> dict:
        cfg = self.cfg
        return {
            "schema_version": SCHEMA_VERSION,
            "tool_version": __version__,
            "started_at": started_at.isoformat(timespec="seconds"),
            "duration_s": 0.0,
            "backends": {t.role: backend_echo(t) for t in cfg.targets},
            "config": {
                "load": cfg.scenario.load.echo(),
                "scale": cfg.scale,
                "plan": cfg.plan,
                "slo": dict(cfg.slo),
                "timeout_s": cfg.timeout,
                "stall_s": cfg.stall_s,
                "max_duration_s": cfg.max_duration,
                "order": ORDER if cfg.side_by_side else None,
            },
            "scenarios": [{"name": s.name, "config": s.echo(), "levels": []} for s in cfg.scenarios],
            "rules": [],
            "summary": {"exit_code": EXIT_OK, "reason": None, "not_measured": []},
        }

    async def _level(self, scenario: Scenario, target: Target, level: Level) -> tuple[dict, bool]:
        cfg = self.cfg
        total = scenario.load.requests
        done = [0]

        def tick(_: Sample) -> None:
            done[0] += 1
            if self.on_progress:
                self.on_progress(target.role, f"{scenario.name}, {level.label}", done[0], total)

        if self.on_progress:
            self.on_progress(target.role, f"{scenario.name}, {level.label}", 0, total)
        watch = ServerWatch(target, cfg.timeout)
        try:
            run = await run_level(
                target.backend(cfg.timeout, cfg.stall_s),
                scenario,
                target.model,
                scenario.load,
                level,
                max_duration=cfg.max_duration,
                on_done=tick,
                on_measure=watch.start,
            )
        except BaseException:
            await watch.stop(final=False)  # the sampler never outlives its level
            raise
        await watch.stop()
        result = measure(run.samples, protocol=target.protocol, slo=cfg.slo)
        result["server"] = watch.report(result)
        result["not_measured"].extend(watch.notes(result["server"]))
        result["warmup"] = {"requests": run.warmup, "errors_by_type": dict(sorted(run.warmup_errors.items()))}
        result["bounded"] = run.bounded
        if run.bounded:
            result["not_measured"].append(
                f"the level stopped at --max-duration {cfg.max_duration:g} s; requests in flight counted as timeout"
            )
        return result, run.connect_faults > 0

    async def run(self) -> dict:
        cfg = self.cfg
        started_at = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        report = self._skeleton(started_at)
        summary = report["summary"]
        problems = [p for p in await asyncio.gather(*(reachable(t, cfg.timeout) for t in cfg.targets)) if p]
        lost: Optional[str] = None
        if problems:
            lost = "; ".join(problems)
        else:
            for scenario, out in zip(cfg.scenarios, report["scenarios"]):
                lost = await self._scenario(scenario, out)
                if lost:
                    break
        for scenario, out in zip(cfg.scenarios, report["scenarios"]):
            out["input_tokens"] = achieved_input(scenario, out["levels"])
        report["duration_s"] = round(time.perf_counter() - t0, 3)
        notes: list[str] = []
        for entry in (lv for s in report["scenarios"] for lv in s["levels"]):
            for role, result in entry["results"].items():
                for note in result["not_measured"]:
                    line = f"{role}: {note}"
                    if line not in notes:
                        notes.append(line)
        summary["not_measured"] = notes
        if lost:
            summary["exit_code"], summary["reason"] = EXIT_UNREACHABLE, lost
            return report
        idle = [
            t.role
            for t in cfg.targets
            if not any(
                lv["results"].get(t.role, {}).get("completed") for s in report["scenarios"] for lv in s["levels"]
            )
        ]
        if idle:
            summary["exit_code"] = EXIT_INCONCLUSIVE
            summary["reason"] = "nothing to measure: no request completed on " + " and ".join(
                f"{role} ({_dominant_error(report, role)})" for role in idle
            )
            return report
        if cfg.side_by_side:
            rules = cfg.rules if cfg.rules is not None else engine_rules(cfg.targets[1].kind)
            report["rules"] = evaluate(rules, report, cfg.slo)
            met = [r for r in report["rules"] if r["status"] == MET]
            if met:
                summary["exit_code"] = EXIT_FAIL
                summary["reason"] = f"{len(met)} rejection rule(s) met: " + "; ".join(r["reject_if"] for r in met)
        return report

    async def _scenario(self, scenario: Scenario, out: dict) -> Optional[str]:
        """Every level of one scenario on every backend; why a backend was lost, if it was."""
        cfg = self.cfg
        for level in scenario.load.levels():
            entry: dict = {"load": level.echo(), "results": {}, "ratios": None}
            out["levels"].append(entry)
            for target in cfg.targets:
                result, faulted = await self._level(scenario, target, level)
                entry["results"][target.role] = result
                if faulted:
                    problem = await reachable(target, cfg.timeout)
                    if problem:
                        return problem.replace("is unreachable", "was lost mid-run")
            if cfg.side_by_side and len(entry["results"]) == 2:
                entry["ratios"] = compare(entry["results"]["old"], entry["results"]["new"])
        return None


def achieved_input(scenario: Scenario, levels: list[dict]) -> dict:
    """The prompt tokens the servers counted, per backend (the asked number is only a target)."""
    achieved: dict = {}
    for role in dict.fromkeys(r for lv in levels for r in lv["results"]):
        counts = [
            s["input_tokens"]
            for lv in levels
            for s in lv["results"].get(role, {}).get("samples", [])
            if s.get("input_tokens") is not None
        ]
        achieved[role] = stats(counts)
    return {"target": scenario.input_tokens, "achieved": achieved}


def _dominant_error(report: dict, role: str) -> str:
    counts: dict[str, int] = {}
    example: dict[str, str] = {}
    for entry in (lv for s in report["scenarios"] for lv in s["levels"]):
        result = entry["results"].get(role) or {}
        for k, n in result.get("errors_by_type", {}).items():
            counts[k] = counts.get(k, 0) + n
            example.setdefault(k, result.get("error_examples", {}).get(k, ""))
    if not counts:
        return "no request was sent"
    kind = max(counts, key=lambda k: counts[k])
    return f"{counts[kind]} x {kind}" + (f": {example[kind]}" if example.get(kind) else "")


def run_bench(cfg: BenchConfig, on_progress: Optional[Progress] = None) -> dict:
    return run_sync(Bench(cfg, on_progress).run())
