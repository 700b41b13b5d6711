"""What one request measured (``Sample``), and the summary of many (``measure``).

Definitions (seconds; clocks are ``time.perf_counter`` readings taken by the protocol layer as bytes
arrive). "start" is, in an open loop, the request's scheduled send time (a client or server that falls
behind cannot hide it); in a closed loop, where nothing is scheduled, the moment the request went on the
network (its TCP connect when it opened one, else its last byte written): a busy client takes
milliseconds to get 64 requests out, and that is its delay, not the server's.

- TTFT = first frame carrying content, reasoning or a tool call - start. A role-only frame is no token.
- TPOT = (last token frame - first token frame) / (output tokens - 1), where the last token frame is
  the last frame carrying text, reasoning or a tool call (a finish-only, usage or [DONE] frame after it
  does not count) and output tokens is the **server-reported** count (OpenAI ``usage.completion_tokens``
  with ``stream_options.include_usage``; Ollama ``eval_count``). No count, no TPOT: never re-tokenised.
- ITL = the gap between consecutive token frames divided by the mean tokens per token frame (server
  count / token frames), one sample per gap: frames of 4 tokens 40 ms apart give 10 ms, not 40 ms.
- E2E = end of the response (its last byte) - start.
- lateness = on the network - scheduled (closed loop: - the moment the slot opened): how late the
  client itself was.
- queue delay (Ollama) = total_duration - load_duration - prompt_eval_duration - eval_duration.
- server TPOT (Ollama) = eval_duration / eval_count, the server's own figure, shown beside TPOT.

Latency percentiles (p50/p90/p95/p99, type 7: ``migrate.report.latency.percentile``) and means are
over completed requests; failed requests count in ``errors`` by type. Every per-request sample is
kept in the result, so results can later be merged exactly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Optional

from ..exchange import Exchange
from ..redact import mask_text, printable
from ..report.latency import percentile

QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}
LATENCY_METRICS = ("ttft", "tpot", "itl", "e2e")
_NS = 1e-9


@dataclass
class Sample:
    """One counted request, reduced to numbers as soon as it ends (the Exchange is not kept)."""

    index: int
    scheduled: float  # seconds from the start of the level's schedule
    lateness: Optional[float] = None
    ttft: Optional[float] = None
    tpot: Optional[float] = None
    e2e: Optional[float] = None
    end: Optional[float] = None  # seconds from the start of the level's schedule
    itl: list[float] = field(default_factory=list)
    token_frames: int = 0
    input_tokens: Optional[int] = None  # server-reported
    output_tokens: Optional[int] = None  # server-reported
    queue_delay: Optional[float] = None
    server_tpot: Optional[float] = None
    error: Optional[str] = None  # one of migrate.exchange.ERROR_TYPES
    error_message: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        out = {
            "index": self.index,
            "scheduled": _r(self.scheduled),
            "lateness": _r(self.lateness),
            "ttft": _r(self.ttft),
            "tpot": _r(self.tpot),
            "e2e": _r(self.e2e),
            "itl": [_r(x) for x in self.itl],
            "token_frames": self.token_frames,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "queue_delay": _r(self.queue_delay),
            "server_tpot": _r(self.server_tpot),
            "error": self.error,
        }
        return out


def sample(ex: Exchange, index: int, origin: float, *, from_schedule: bool) -> Sample:
    """The numbers of one finished exchange; ``origin`` is the level's schedule start (perf_counter).

    ``from_schedule`` (open loop): latencies count from the scheduled send time. Otherwise (closed loop,
    where "scheduled" is only the moment a slot opened) from when the request went on the network."""
    t = ex.timings
    scheduled = t.scheduled if t.scheduled is not None else origin
    wire = t.wire if t.wire is not None else t.sent
    start = scheduled if from_schedule or wire is None else wire
    s = Sample(index=index, scheduled=scheduled - origin)
    if wire is not None:
        s.lateness = max(0.0, wire - scheduled)
    if t.end is not None:
        s.end = t.end - origin
    if ex.error is not None:
        s.error = ex.error.type
        s.error_message = printable(mask_text(ex.error.message))[:200]
    if ex.usage.reported:
        s.input_tokens = ex.usage.prompt_tokens
        s.output_tokens = ex.usage.completion_tokens
    frames = [d.t for d in ex.deltas if d.is_token]
    s.token_frames = len(frames)
    if ex.error is not None:
        return s
    s.ttft = t.first_token - start if t.first_token is not None else None
    s.e2e = t.end - start if t.end is not None else None
    n = s.output_tokens
    if n is not None:
        s.tpot = t.tpot_s
        if n > 0 and len(frames) >= 2:
            per_frame = n / len(frames)
            s.itl = [(b - a) / per_frame for a, b in zip(frames, frames[1:])]
    extra = ex.server_extra
    if all(isinstance(extra.get(k), (int, float)) for k in ("total_duration", "load_duration")):
        parts = [extra.get(k) for k in ("prompt_eval_duration", "eval_duration")]
        if all(isinstance(p, (int, float)) for p in parts):
            s.queue_delay = (extra["total_duration"] - extra["load_duration"] - sum(parts)) * _NS  # type: ignore[arg-type]
    if isinstance(extra.get("eval_duration"), (int, float)) and n:
        s.server_tpot = extra["eval_duration"] * _NS / n
    return s


def stats(values: Iterable[Optional[float]]) -> Optional[dict]:
    """``{"n", "p50", "p90", "p95", "p99", "mean"}`` of the known values; None when there are none."""
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return None
    out: dict = {"n": len(xs)}
    for name, q in QUANTILES.items():
        out[name] = _r(percentile(xs, q))
    out["mean"] = _r(sum(xs) / len(xs))
    return out


def _meets(s: Sample, slo: dict[str, float]) -> Optional[bool]:
    """Whether one request met every SLO given; None when a needed number is unknown."""
    if not s.ok:
        return False
    for metric, limit in slo.items():
        value = getattr(s, metric)
        if value is None:
            if metric == "tpot" and s.output_tokens is not None and s.output_tokens < 2:
                continue  # one token: there is no time per output token to miss
            return None
        if value > limit:
            return False
    return True


def measure(samples: list[Sample], *, protocol: str, slo: dict[str, float]) -> dict:
    """The measurements of one backend at one level (the report's ``results.<role>`` object)."""
    done = [s for s in samples if s.ok]
    errors = Counter(s.error for s in samples if s.error)
    examples: dict[str, str] = {}
    for s in samples:
        if s.error and s.error not in examples and s.error_message:
            examples[s.error] = s.error_message
    ends = [s.end for s in samples if s.end is not None]
    window = max(ends) - min(s.scheduled for s in samples) if ends else None
    not_measured: list[str] = []

    def per_s(x: Optional[float]) -> Optional[float]:
        return _r(x / window) if x is not None and window else None

    out_counts = [s.output_tokens for s in done if s.output_tokens is not None]
    in_counts = [s.input_tokens for s in done if s.input_tokens is not None]
    if done and not out_counts:
        not_measured.append(
            "TPOT, ITL and output tokens/s: the server reported no output token counts "
            + ("(no eval_count)" if protocol == "ollama" else "(no usage chunk despite stream_options.include_usage)")
        )
    if done and not in_counts:
        not_measured.append("input tokens/s: the server reported no prompt token counts")
    result = {
        "requests": len(samples),
        "completed": len(done),
        "errors": sum(errors.values()),
        "errors_by_type": dict(sorted(errors.items())),
        "error_examples": examples,
        "duration_s": _r(window),
        "request_throughput": per_s(float(len(done))) if done else (0.0 if window else None),
        "input_tokens": {"total": sum(in_counts) if in_counts else None, "reported": len(in_counts)},
        "output_tokens": {
            "total": sum(out_counts) if out_counts else None,
            "reported": len(out_counts),
            "mean": _r(sum(out_counts) / len(out_counts)) if out_counts else None,
        },
        "input_tokens_per_s": per_s(float(sum(in_counts))) if in_counts else None,
        "output_tokens_per_s": per_s(float(sum(out_counts))) if out_counts else None,
        "tokens_per_frame": _r(sum(out_counts) / sum(s.token_frames for s in done if s.output_tokens is not None))
        if out_counts and any(s.token_frames for s in done)
        else None,
        "ttft": stats(s.ttft for s in done),
        "tpot": stats(s.tpot for s in done),
        "itl": stats(x for s in done for x in s.itl),
        "e2e": stats(s.e2e for s in done),
        "lateness": _lateness(samples),
        "goodput": None,
        "queue_delay": stats(s.queue_delay for s in done),
        "server_tpot": stats(s.server_tpot for s in done),
        "not_measured": not_measured,
        "samples": [s.to_dict() for s in sorted(samples, key=lambda s: s.index)],
    }
    if slo:
        verdicts = [_meets(s, slo) for s in samples]
        if None in verdicts:
            not_measured.append("goodput: a request lacks a number one of the SLOs needs (no server token count)")
        elif samples:
            good = sum(1 for v in verdicts if v)
            result["goodput"] = {
                "requests": good,
                "fraction": _r(good / len(samples)),
                "rate": per_s(float(good)) if window else None,
            }
    if result["queue_delay"] is None and done:
        not_measured.append(
            "queue delay: the server reported no Ollama durations"
            if protocol == "ollama"
            else "queue delay: the OpenAI API reports none per request (the engine's own histogram is under server.histograms.queue_time)"
        )
    return result


def _lateness(samples: list[Sample]) -> Optional[dict]:
    xs = [s.lateness for s in samples if s.lateness is not None]
    if not xs:
        return None
    return {"p50": _r(percentile(xs, 0.5)), "p99": _r(percentile(xs, 0.99)), "max": _r(max(xs))}


def _r(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(x, 6)
