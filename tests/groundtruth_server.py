"""The bench's ground truth: a raw-socket asyncio streaming server with a known timing, and a minimal
raw-socket client that measures what any client at least must see against it.

The server (run as its own process, so its clock is not disturbed by the client under test) answers
``POST /v1/chat/completions`` with OpenAI SSE and ``POST /api/chat`` with Ollama NDJSON:

- SSE: a role-only first frame at once, then ``tokens`` content tokens in frames of ``tokens_per_chunk``,
  the first ``ttft`` seconds after the request, one frame every ``interval``; after ``tail`` seconds a
  finish-only frame, after another ``tail`` a usage chunk (``completion_tokens`` = ``tokens``), then
  ``[DONE]``. The trailing frames are late on purpose: a client that stops its TPOT clock at the end of
  the stream instead of at the last token frame is off by ``2 * tail / (tokens - 1)``.
- NDJSON: the same token timing, a last ``done: true`` line with Ollama's ``eval_count``,
  ``eval_duration``, ``prompt_eval_count``, ``prompt_eval_duration``, ``load_duration`` and
  ``total_duration`` (nanoseconds, measured by the server: total counts from when the request was read,
  so time spent waiting for a slot shows as total - load - prompt_eval - eval, Ollama's queue delay).

Knobs for faults: ``slots`` (requests generating at once; others wait, as with ``OLLAMA_NUM_PARALLEL``),
``queue_max`` (waiting requests beyond it get HTTP 503 as Ollama's full queue does), ``die_after`` (the
process exits abruptly when that many requests have arrived: open streams are cut, later connects
refused), ``stall_every`` (every k-th request stops sending after its first token and never ends).

Server metrics: with ``metrics`` 1, ``GET /metrics`` serves vLLM-style Prometheus text whose families
advance as requests are served (queue time = the wait for a slot, TTFT and TPOT as the server clocks them,
prefix-cache hits/queries counters, running/waiting/KV-usage gauges), and ``GET /debug/records`` the raw
per-request values (JSON) a test compares the bench's deltas with; with 0, ``GET /metrics`` is a 404.
``metrics_reset_at`` k: every family restarts from zero when request k arrives (an engine restart).

``python tests/groundtruth_server.py --ttft 0.05 ...`` prints the port on stdout, then serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Optional


@dataclass
class Params:
    ttft: float = 0.05
    interval: float = 0.01
    tokens: int = 16
    tokens_per_chunk: int = 1
    tail: float = 0.0
    prompt_tokens: int = 12
    slots: int = 0  # 0: no limit
    queue_max: int = 0  # 0: no limit
    die_after: int = 0  # 0: never
    stall_every: int = 0  # 0: never
    load_ns: int = 1_000_000
    # Extra TTFT per request, spread evenly over [0, jitter] by the request's number modulo 64 (a fixed
    # cycle, so any 64 consecutive requests see the same set of delays): a real server does not
    # finish 64 requests in the same millisecond, so its clients do not start 64 in one burst either.
    jitter: float = 0.0
    metrics: int = 0  # 1: a vLLM-style /metrics; 0: /metrics is a 404
    metrics_reset_at: int = 0  # 0: never
    # 1: report prompt tokens as the request's message characters / 4 (a tokenizer-like count that is
    # not the bench's own words-per-token proxy) instead of the fixed ``prompt_tokens``.
    count_prompt: int = 0


# vLLM's family names and a bucket layout fine enough for a fake whose delays are tens of milliseconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, math.inf)
HISTOGRAMS = {
    "queue": "vllm:request_queue_time_seconds",
    "ttft": "vllm:time_to_first_token_seconds",
    "tpot": "vllm:request_time_per_output_token_seconds",
}


class Metrics:
    """What the fake engine exposes: histograms, counters and gauges, restarted by ``reset``."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.hist = {k: {"sum": 0.0, "count": 0, "buckets": [0] * len(BUCKETS)} for k in HISTOGRAMS}
        self.hits = self.queries = 0

    def observe(self, key: str, value: float) -> None:
        h = self.hist[key]
        h["sum"] += value
        h["count"] += 1
        for i, le in enumerate(BUCKETS):
            if value <= le:
                h["buckets"][i] += 1

    def text(self, running: int, waiting: int, slots: int) -> str:
        lines = []
        for key, name in HISTOGRAMS.items():
            h = self.hist[key]
            lines.append(f"# TYPE {name} histogram")
            for le, n in zip(BUCKETS, h["buckets"]):
                bound = "+Inf" if math.isinf(le) else repr(le)
                lines.append(f'{name}_bucket{{le="{bound}",model_name="m"}} {float(n)}')
            lines.append(f'{name}_sum{{model_name="m"}} {h["sum"]!r}')
            lines.append(f'{name}_count{{model_name="m"}} {float(h["count"])}')
        lines += [
            "# TYPE vllm:prefix_cache_hits counter",
            f'vllm:prefix_cache_hits_total{{model_name="m"}} {float(self.hits)}',
            "# TYPE vllm:prefix_cache_queries counter",
            f'vllm:prefix_cache_queries_total{{model_name="m"}} {float(self.queries)}',
            "# TYPE vllm:num_requests_running gauge",
            f'vllm:num_requests_running{{model_name="m"}} {float(running)}',
            "# TYPE vllm:num_requests_waiting gauge",
            f'vllm:num_requests_waiting{{model_name="m"}} {float(waiting)}',
            "# TYPE vllm:kv_cache_usage_perc gauge",
            f'vllm:kv_cache_usage_perc{{model_name="m"}} {running / (slots or 64)!r}',
        ]
        return "\n".join(lines) + "\n"


class Server:
    def __init__(self, p: Params) -> None:
        self.p = p
        self.count = 0
        self.waiting = 0
        self.running = 0
        self.metrics = Metrics()
        self.records: list[dict] = []  # per finished request: index, queue, ttft, tpot, hits, queries
        self.slots = asyncio.Semaphore(p.slots) if p.slots else None
        self.forever = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        arrived = time.perf_counter()
        lines = head.decode("latin-1").split("\r\n")
        method, path = lines[0].split(" ")[:2]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
        keep = headers.get("connection", "").lower() != "close"
        if method == "GET" and path == "/metrics":
            if not self.p.metrics:
                self._plain(writer, 404, b'{"error":"not found"}')
            else:
                text = self.metrics.text(self.running, self.waiting, self.p.slots).encode()
                self._plain(writer, 200, text, b"text/plain; version=0.0.4")
            return keep
        if method == "GET" and path == "/debug/records":
            self._plain(writer, 200, json.dumps(self.records).encode())
            return keep
        if method == "GET":
            self._plain(writer, 200, b'{"status":"ok"}')
            return keep
        if path not in ("/v1/chat/completions", "/api/chat"):
            self._plain(writer, 404, b'{"error":"not found"}')
            return keep
        self.count += 1
        index = self.count
        if self.p.metrics_reset_at and index == self.p.metrics_reset_at:
            self.metrics.reset()
        if self.p.die_after and index >= self.p.die_after:
            os._exit(0)  # abruptly: the kernel resets every open connection
        parsed = json.loads(body or b"{}") or {}
        model = parsed.get("model", "m")
        prompt_tokens = self.p.prompt_tokens
        if self.p.count_prompt:
            chars = sum(len(m.get("content") or "") for m in parsed.get("messages", []) if isinstance(m, dict))
            prompt_tokens = max(1, chars // 4)
        if self.slots is not None and self.slots.locked() and self.p.queue_max and self.waiting >= self.p.queue_max:
            self._plain(writer, 503, b'{"error":"server busy, please try again.  maximum pending requests exceeded"}')
            return keep
        stall = bool(self.p.stall_every) and index % self.p.stall_every == 0
        if self.slots is None:
            await self._stream(writer, path, model, arrived, stall, index, prompt_tokens)
        else:
            self.waiting += 1
            try:
                await self.slots.acquire()
            finally:
                self.waiting -= 1
            try:
                await self._stream(writer, path, model, arrived, stall, index, prompt_tokens)
            finally:
                self.slots.release()
        return keep

    @staticmethod
    def _plain(writer: asyncio.StreamWriter, status: int, body: bytes, ctype: bytes = b"application/json") -> None:
        writer.write(
            b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (status, ctype, len(body), body)
        )

    async def _stream(
        self, writer, path: str, model: str, arrived: float, stall: bool, index: int, prompt_tokens: int
    ) -> None:
        p = self.p
        ttft = p.ttft + p.jitter * ((index * 29) % 64) / 63
        sse = path.startswith("/v1/")
        ctype = b"text/event-stream" if sse else b"application/x-ndjson"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n" % ctype)

        def frame(obj) -> None:
            data = (
                ("data: " + (obj if isinstance(obj, str) else json.dumps(obj)) + "\n\n")
                if sse
                else json.dumps(obj) + "\n"
            )
            raw = data.encode()
            writer.write(b"%x\r\n%s\r\n" % (len(raw), raw))

        def chat(delta: dict, finish=None) -> dict:
            return {
                "id": "c",
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        def line(content: str) -> dict:
            return {
                "model": model,
                "created_at": "2026-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": content},
                "done": False,
            }

        started = time.perf_counter()  # a slot was free: generation starts
        self.running += 1
        try:
            await self._frames(
                writer, sse, model, arrived, started, stall, index, ttft, frame, chat, line, prompt_tokens
            )
        finally:
            self.running -= 1

    def _record(self, index: int, arrived: float, started: float, first: float, last: float) -> None:
        """What a vLLM would observe for one finished request (hits: every other request's prompt)."""
        p = self.p
        tpot = (last - first) / (p.tokens - 1) if p.tokens > 1 else None
        hits = p.prompt_tokens if index % 2 == 0 else 0
        rec = {"index": index, "queue": started - arrived, "ttft": first - arrived, "tpot": tpot}
        self.records.append({**rec, "hits": hits, "queries": p.prompt_tokens})
        self.metrics.observe("queue", rec["queue"])
        self.metrics.observe("ttft", rec["ttft"])
        if tpot is not None:
            self.metrics.observe("tpot", tpot)
        self.metrics.hits += hits
        self.metrics.queries += p.prompt_tokens

    async def _frames(
        self, writer, sse, model, arrived, started, stall, index, ttft, frame, chat, line, prompt_tokens: int
    ) -> None:
        p = self.p
        frame(chat({"role": "assistant", "content": ""}) if sse else line(""))
        await writer.drain()
        frames = math.ceil(p.tokens / p.tokens_per_chunk)
        first = last = started
        for i in range(frames):
            await _until(started + ttft + i * p.interval)
            n = min(p.tokens_per_chunk, p.tokens - i * p.tokens_per_chunk)
            text = "tok " * n
            frame(chat({"content": text}) if sse else line(text))
            await writer.drain()
            last = time.perf_counter()
            if i == 0:
                first = last
                if stall:
                    await self.forever.wait()
        self._record(index, arrived, started, first, last)
        if p.tail:
            await asyncio.sleep(p.tail)
        if sse:
            frame(chat({}, "length"))
            await writer.drain()
            if p.tail:
                await asyncio.sleep(p.tail)
            frame(
                {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "model": model,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": p.tokens,
                        "total_tokens": prompt_tokens + p.tokens,
                    },
                }
            )
            frame("[DONE]")
        else:
            done = time.perf_counter()
            frame(
                {
                    "model": model,
                    "created_at": "2026-01-01T00:00:00Z",
                    "message": {"role": "assistant", "content": ""},
                    "done": True,
                    "done_reason": "length",
                    "total_duration": int((done - arrived) * 1e9) + p.load_ns,
                    "load_duration": p.load_ns,
                    "prompt_eval_count": prompt_tokens,
                    "prompt_eval_duration": int((first - started) * 1e9),
                    "eval_count": p.tokens,
                    "eval_duration": int((last - first) * 1e9),
                }
            )
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def _until(deadline: float) -> None:
    delay = deadline - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def serve(p: Params, port: int = 0) -> None:
    server = Server(p)
    srv = await asyncio.start_server(server.handle, "127.0.0.1", port, backlog=1024)
    print(srv.sockets[0].getsockname()[1], flush=True)
    async with srv:
        await srv.serve_forever()


# ----------------------------------------------------------------------------------------------
# Running it from a test


class GroundTruth:
    """``with GroundTruth(ttft=0.05) as gt: gt.url`` — the server in its own process."""

    def __init__(self, **params) -> None:
        self.params = Params(**params)
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0

    def __enter__(self) -> "GroundTruth":
        args = [sys.executable, str(Path(__file__).resolve())]
        for f in fields(Params):
            args += [f"--{f.name.replace('_', '-')}", str(getattr(self.params, f.name))]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(5)
            if self.proc.stdout:
                self.proc.stdout.close()


# ----------------------------------------------------------------------------------------------
# The truth client: raw sockets, no HTTP library, no decoding beyond finding the token frames.


@dataclass
class TruthSample:
    ttft: float
    tpot: Optional[float]
    e2e: float
    tokens: int


async def _truth_one(reader, writer, host: str, path: str, body: bytes) -> TruthSample:
    sse = path.startswith("/v1/")
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    sent = time.perf_counter()
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n", 1)[0], head
    buf = b""
    first = last = None
    tokens = 0
    pending = b""  # body bytes (de-chunked) not yet split into frames
    done = False
    while not done:
        data = await reader.read(65536)
        now = time.perf_counter()
        if not data:
            raise ConnectionError("closed mid-stream")
        buf += data
        while True:  # de-chunk what is complete
            crlf = buf.find(b"\r\n")
            if crlf < 0:
                break
            size = int(buf[:crlf], 16)
            if len(buf) < crlf + 2 + size + 2:
                break
            if size == 0:
                done = True
                buf = b""
                break
            pending += buf[crlf + 2 : crlf + 2 + size]
            buf = buf[crlf + 2 + size + 2 :]
        sep = b"\n\n" if sse else b"\n"
        *frames, pending = pending.split(sep)
        for raw in frames:
            text = raw.decode()
            if sse:
                text = text[len("data: ") :]
                if text == "[DONE]":
                    continue
            obj = json.loads(text)
            if sse:
                if obj.get("usage"):
                    tokens = obj["usage"]["completion_tokens"]
                content = obj["choices"][0]["delta"].get("content") if obj.get("choices") else None
            else:
                if obj.get("done"):
                    tokens = obj["eval_count"]
                content = obj["message"].get("content")
            if content:
                first = now if first is None else first
                last = now
    end = time.perf_counter()
    assert first is not None and last is not None
    tpot = (last - first) / (tokens - 1) if tokens > 1 else None
    return TruthSample(first - sent, tpot, end - sent, tokens)


async def truth_run(url: str, path: str, body: dict, *, concurrency: int, requests: int) -> list[TruthSample]:
    """``requests`` requests, ``concurrency`` at a time (closed loop, one keep-alive connection each)."""
    host_port = url.split("://", 1)[1]
    host, port = host_port.rsplit(":", 1)
    payload = json.dumps(body).encode()
    out: list[TruthSample] = []
    left = [requests]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while left[0] > 0:
                left[0] -= 1
                out.append(await _truth_one(reader, writer, host_port, path, payload))
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    defaults = asdict(Params())
    for name, value in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = vars(parser.parse_args())
    port = args.pop("port")
    try:
        asyncio.run(serve(Params(**args), port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
