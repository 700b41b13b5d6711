"""The bench's pieces without a network: load shapes, option parsing, per-request samples from recorded
streams (line i arrives at time i), summaries, the report schema."""

from __future__ import annotations

import json
import re

import pytest

from migrate.bench import build_config, parse_slo
from migrate.bench.metrics import Sample, measure, sample, stats
from migrate.bench.pipeline import compare
from migrate.bench.profiles import Level, Load, build_load, concurrency_list
from migrate.bench.report import load_schema, report_errors
from migrate.errors import UsageError
from migrate.exchange import ERROR_TYPES, Timings
from migrate.protocol import ollama, openai


def sse(obj) -> list[str]:
    return ["data: " + (obj if isinstance(obj, str) else json.dumps(obj)), ""]


def chunk(delta: dict, finish=None) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def stream(frames: list[str], *, usage: int | None, trailing: int = 0) -> list[str]:
    """A role-only frame, the content frames, ``trailing`` empty keep-alive frames, finish, usage, [DONE]."""
    lines = sse(chunk({"role": "assistant", "content": ""}))
    for text in frames:
        lines += sse(chunk({"content": text}))
    for _ in range(trailing):
        lines += sse(chunk({}))
    lines += sse(chunk({}, "length"))
    if usage is not None:
        lines += sse({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": usage}})
    return lines + sse("[DONE]")


def recorded(lines: list[str], *, start: float = 0.0):
    ex = openai.decode_lines(lines)
    ex.timings.scheduled = ex.timings.written = start
    return ex


# -- per-request numbers ------------------------------------------------------------------------


def test_ttft_skips_the_role_frame_and_tpot_stops_at_the_last_token():
    # Events dispatch on their blank line: role at t=1, tokens at t=3, 5, 7, 9; finish 11, usage 13, [DONE].
    ex = recorded(stream(["a", "b", "c", "d"], usage=4, trailing=3))
    t = ex.timings
    assert (t.first_token, t.last_token) == (3.0, 9.0)
    assert t.end > 9.0  # the stream went on after the last token
    s = sample(ex, 0, 0.0, from_schedule=False)
    assert s.ttft == 3.0  # never the role-only frame at t=1
    assert s.tpot == pytest.approx((9.0 - 3.0) / 3)  # not (end - 3) / 3
    assert s.itl == [2.0, 2.0, 2.0]
    assert (s.input_tokens, s.output_tokens, s.token_frames) == (7, 4, 4)


def test_itl_divides_each_gap_by_the_tokens_per_frame():
    # 4 frames carrying 12 tokens (server count): 3 tokens per frame, frames 2 apart -> 2/3 per token.
    s = sample(recorded(stream(["a b c"] * 4, usage=12)), 0, 0.0, from_schedule=False)
    assert s.itl == pytest.approx([2 / 3] * 3)
    assert s.tpot == pytest.approx(6 / 11)


def test_without_a_server_count_there_is_no_tpot_or_itl():
    s = sample(recorded(stream(["a", "b", "c"], usage=None)), 0, 0.0, from_schedule=False)
    assert s.ttft == 3.0 and s.tpot is None and s.itl == [] and s.output_tokens is None
    result = measure([s], protocol="openai", slo={"tpot": 0.05})
    assert result["tpot"] is None and result["output_tokens_per_s"] is None and result["goodput"] is None
    assert any("no output token counts" in note for note in result["not_measured"])
    assert any(note.startswith("goodput:") for note in result["not_measured"])


def test_open_loop_counts_from_the_schedule_closed_loop_from_the_wire():
    ex = recorded(stream(["a", "b"], usage=2), start=0.0)
    ex.timings.scheduled, ex.timings.written = 0.5, 1.5  # the client was 1 s late
    open_loop = sample(ex, 0, 0.0, from_schedule=True)
    closed = sample(ex, 0, 0.0, from_schedule=False)
    assert open_loop.lateness == closed.lateness == 1.0
    assert open_loop.ttft == 3.0 - 0.5 and closed.ttft == 3.0 - 1.5
    assert open_loop.scheduled == 0.5


def test_ollama_durations_give_queue_delay_and_server_tpot():
    done = {
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "total_duration": 900_000_000,
        "load_duration": 100_000_000,
        "prompt_eval_count": 5,
        "prompt_eval_duration": 200_000_000,
        "eval_count": 4,
        "eval_duration": 400_000_000,
    }
    lines = [json.dumps({"message": {"role": "assistant", "content": w}, "done": False}) for w in "abcd"]
    ex = ollama.decode_lines(lines + [json.dumps(done)])
    ex.timings.written = 0.0
    s = sample(ex, 0, 0.0, from_schedule=False)
    assert s.queue_delay == pytest.approx(0.2)  # 0.9 - 0.1 - 0.2 - 0.4
    assert s.server_tpot == pytest.approx(0.1)  # 0.4 s / 4 tokens
    assert s.tpot == pytest.approx((3.0 - 0.0) / 3) and s.ttft == 0.0


def test_a_failed_request_counts_by_type_and_not_in_latency():
    lines = stream(["a", "b"], usage=None)[:4]  # cut after the first token
    ex = openai.decode_lines(lines)
    assert ex.error is not None and ex.error.type == "stream_cut"
    s = sample(ex, 3, 0.0, from_schedule=False)
    assert s.error == "stream_cut" and s.ttft is None and s.e2e is None
    ok = Sample(index=0, scheduled=0.0, ttft=0.1, e2e=1.0, end=1.0, output_tokens=3)
    result = measure([ok, s], protocol="openai", slo={})
    assert (result["requests"], result["completed"], result["errors"]) == (2, 1, 1)
    assert result["errors_by_type"] == {"stream_cut": 1} and result["ttft"]["n"] == 1


# -- summaries ----------------------------------------------------------------------------------


def test_stats_type7_percentiles_and_mean():
    out = stats([0.4, None, 0.1, 0.3, 0.2])
    assert out == {"n": 4, "p50": 0.25, "p90": 0.37, "p95": 0.385, "p99": 0.397, "mean": 0.25}
    assert stats([None]) is None


def test_goodput_counts_requests_meeting_every_slo():
    samples = [
        Sample(index=0, scheduled=0.0, ttft=0.2, tpot=0.01, e2e=1.0, end=1.0, output_tokens=10),
        Sample(index=1, scheduled=0.0, ttft=0.6, tpot=0.01, e2e=1.0, end=2.0, output_tokens=10),  # TTFT missed
        Sample(index=2, scheduled=0.0, ttft=0.2, tpot=None, e2e=0.3, end=1.0, output_tokens=1),  # one token: no TPOT
        Sample(index=3, scheduled=0.0, end=1.0, error="overloaded"),
    ]
    g = measure(samples, protocol="openai", slo={"ttft": 0.5, "tpot": 0.05})["goodput"]
    assert g == {"requests": 2, "fraction": 0.5, "rate": 1.0}  # over a 2 s window


def test_ratios_are_new_over_old():
    old = {"ttft": {"p50": 0.2, "p90": 0.3, "p95": 0.4, "p99": 0.5, "mean": 0.25}, "request_throughput": 10.0}
    new = {"ttft": {"p50": 0.1, "p90": 0.3, "p95": 0.4, "p99": 1.0, "mean": 0.25}, "request_throughput": 20.0}
    r = compare(old, new)
    assert r["ttft"]["p50"] == 0.5 and r["ttft"]["p99"] == 2.0 and r["request_throughput"] == 2.0
    assert r["tpot"] == {"p50": None, "p90": None, "p95": None, "p99": None, "mean": None}


def test_tpot_of_the_timings_stops_at_the_last_token():
    t = Timings(sent=0.0, first_token=1.0, first_content=1.0, last_token=4.0, end=9.0, output_tokens=4)
    assert t.tpot_s == pytest.approx(1.0)
    assert Timings(sent=0.0, first_content=1.0, end=9.0, output_tokens=4).tpot_s is None  # no token frame seen


# -- load shapes and options --------------------------------------------------------------------


def test_constant_and_poisson_schedules():
    constant = Load("rate", [], 4.0, requests=5)
    assert list(constant.arrivals(Level("rate", rate=4.0))) == [0.0, 0.25, 0.5, 0.75, 1.0]
    poisson = Load("poisson", [], 50.0, requests=2000, seed=7)
    a = list(poisson.arrivals(Level("poisson", rate=50.0)))
    assert a == list(Load("poisson", [], 50.0, requests=2000, seed=7).arrivals(Level("poisson", rate=50.0)))
    assert a != list(Load("poisson", [], 50.0, requests=2000, seed=8).arrivals(Level("poisson", rate=50.0)))
    gaps = [b - x for x, b in zip(a, a[1:])]
    assert sum(gaps) / len(gaps) == pytest.approx(1 / 50, rel=0.1)
    assert min(gaps) < 0.005 < 0.05 < max(gaps)  # exponential, not evenly spaced
    timed = Load("rate", [], 10.0, requests=None, duration=1.0)
    assert len(list(timed.arrivals(Level("rate", rate=10.0)))) == 10


def test_load_options():
    assert concurrency_list("1, 2,4") == [1, 2, 4]
    assert [lv.label for lv in build_load(concurrency="1,8").levels()] == ["concurrency 1", "concurrency 8"]
    assert build_load().requests == 50 and build_load().levels() == [Level("concurrency", concurrency=1)]
    assert build_load(poisson=2.5, duration=3.0).echo()["shape"] == "poisson"
    for bad in ("1,x", "0", "2,2", "", "5000"):
        with pytest.raises(UsageError, match="--concurrency"):
            concurrency_list(bad)
    for kwargs in ({"rate": 1.0, "concurrency": "2"}, {"rate": 0.0}, {"poisson": float("inf")}, {"rate": float("nan")}):
        with pytest.raises(UsageError):
            build_load(**kwargs)
    with pytest.raises(UsageError, match="not both"):
        build_load(requests=3, duration=1.0)


def test_slo_option():
    assert parse_slo("ttft=0.5, tpot=0.05,e2e=10") == {"ttft": 0.5, "tpot": 0.05, "e2e": 10.0}
    assert parse_slo(None) == {}
    for bad in ("itl=1", "ttft", "ttft=x", "ttft=-1", "ttft=nan"):
        with pytest.raises(UsageError, match="--slo"):
            parse_slo(bad)


def test_backend_options(monkeypatch):
    single = build_config(url="http://h:1/v1", kind="vllm", old_model="m")
    assert [t.role for t in single.targets] == ["target"] and single.stall_s == 30.0
    pair = build_config(
        from_kind="ollama", to_kind="sglang", from_url="h:11434", to_url="http://g:2", old_model="a", new_model="b"
    )
    assert [(t.role, t.protocol, t.model) for t in pair.targets] == [("old", "ollama", "a"), ("new", "openai", "b")]
    problems = {
        "or two (--from/--to/--from-url/--to-url), not both": dict(
            url="http://h:1", kind="vllm", from_kind="ollama", old_model="m"
        ),
        "missing a backend": dict(old_model="m"),
        "missing --model": dict(url="http://h:1", kind="vllm"),
        "missing --to-url": dict(from_kind="ollama", to_kind="vllm", from_url="http://h:1", old_model="m"),
        "needs two backends": dict(url="http://h:1", kind="vllm", old_model="a", new_model="b"),
        "not a server URL": dict(url="ftp://h:1", kind="vllm", old_model="m"),
        "--timeout": dict(url="http://h:1", kind="vllm", old_model="m", timeout=float("nan")),
        "--duration": dict(url="http://h:1", kind="vllm", old_model="m", duration=0.0),
        "BENCH_UNSET_KEY: the variable is not set": dict(
            url="http://h:1", kind="vllm", old_model="m", api_key_env="BENCH_UNSET_KEY"
        ),
    }
    monkeypatch.delenv("BENCH_UNSET_KEY", raising=False)
    for message, kwargs in problems.items():
        with pytest.raises(UsageError, match=re.escape(message)):
            build_config(**kwargs)


def test_schema_knows_every_error_type_and_rejects_credentials():
    schema = load_schema()
    assert schema["$defs"]["error_type"]["enum"] == list(ERROR_TYPES)
    bad = {
        "schema_version": 1,
        "backends": {"target": {"kind": "vllm", "protocol": "openai", "url": "http://u:p@h", "model": "m"}},
    }
    errors = report_errors(bad)
    assert any("$.backends.target.url" in e for e in errors)
