"""How many requests per second one `migrate bench` process sustains: concurrency 64 against a
zero-delay local streaming server (the ground-truth server of the tests, in its own process, answering
each request at once with a role frame, 16 one-token frames, a finish frame, a usage chunk and [DONE]).

    python bench/bench_client_capacity.py [--requests 3000] [--concurrency 64] [--runs 3] [--profile]

Prints, best of ``--runs`` (interleaved, the machine is shared), the bench's request throughput next to
the target (150 requests/s) and next to the minimal raw-socket client of the tests on the same server,
the floor of what any client can do there, with the client CPU time per request. ``--profile`` adds where
the bench's CPU goes, by package.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from migrate.bench import build_config, run_bench  # noqa: E402
from tests.groundtruth_server import GroundTruth, truth_run  # noqa: E402

TARGET = 150.0  # requests/s, from the issue (guidellm reaches ~160 there)


def bench_once(url: str, concurrency: int, requests: int) -> tuple[float, float]:
    cfg = build_config(url=url, kind="vllm", old_model="m", concurrency=str(concurrency), requests=requests)
    cfg.load.warmup = concurrency
    cpu = time.process_time()
    report = run_bench(cfg)
    cpu = time.process_time() - cpu
    result = report["scenarios"][0]["levels"][0]["results"]["target"]
    assert result["errors"] == 0, result["errors_by_type"]
    return result["request_throughput"], cpu / (requests + concurrency)


def truth_once(url: str, concurrency: int, requests: int) -> tuple[float, float]:
    body = {"model": "m", "stream": True, "stream_options": {"include_usage": True}}
    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(truth_run(url, "/v1/chat/completions", body, concurrency=concurrency, requests=requests))
    return requests / (time.perf_counter() - wall), (time.process_time() - cpu) / requests


def where(url: str, concurrency: int, requests: int) -> None:
    profile = cProfile.Profile()
    profile.enable()
    bench_once(url, concurrency, requests)
    profile.disable()
    own: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, tottime, _, _) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        path = filename.replace("\\", "/")
        for name in ("httpcore", "httpx", "h11", "anyio", "migrate/protocol", "migrate/bench", "asyncio", "json"):
            if f"/{name}/" in path:
                own[name] += tottime
                break
        else:
            own["socket calls and the rest" if filename.startswith("~") else "other Python"] += tottime
    total = sum(own.values())
    print("\nwhere the bench's CPU goes (cProfile, own time):")
    for name, seconds in sorted(own.items(), key=lambda kv: -kv[1]):
        print(f"  {name:28s} {seconds / total:6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    bench_best, truth_best = (0.0, 0.0), (0.0, 0.0)
    with GroundTruth(ttft=0.0, interval=0.0, tokens=16, tail=0.0) as gt:
        for _ in range(args.runs):
            truth_best = max(truth_best, truth_once(gt.url, args.concurrency, args.requests))
            bench_best = max(bench_best, bench_once(gt.url, args.concurrency, args.requests))
        print(f"concurrency {args.concurrency}, {args.requests} requests, best of {args.runs}")
        print(f"  migrate bench      {bench_best[0]:7.0f} requests/s   {bench_best[1] * 1000:.2f} ms CPU per request")
        print(f"  raw-socket client  {truth_best[0]:7.0f} requests/s   {truth_best[1] * 1000:.2f} ms CPU per request")
        print(f"  target             {TARGET:7.0f} requests/s   ({'met' if bench_best[0] >= TARGET else 'MISSED'})")
        if args.profile:
            where(gt.url, args.concurrency, min(args.requests, 1000))


if __name__ == "__main__":
    main()
