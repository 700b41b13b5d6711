"""The bench's server-side metrics: the engine's /metrics scraped around each level, as deltas.

The ground-truth server with ``metrics=1`` serves a vLLM-style /metrics whose families advance as it
serves requests, and its own per-request records at /debug/records: the bench's deltas must equal what
the server recorded for the measured requests (the warm-up excluded), its 404 must read "not exposed",
and a restart between the scrapes must read as a reset, never a negative delta.
"""

from __future__ import annotations

import math

import httpx
import pytest

from migrate.bench import build_config, run_bench
from migrate.bench.report import report_errors
from migrate.bench.server_metrics import bucket_quantile, hist_delta
from migrate.protocol.prometheus import Hist, parse_prometheus

from .groundtruth_server import BUCKETS, GroundTruth

WARMUP, REQUESTS = 2, 8


def _run(gt: GroundTruth, kind: str = "vllm", **options) -> tuple[dict, dict]:
    options = {"concurrency": "3", "requests": REQUESTS, "warmup": WARMUP, **options}
    report = run_bench(build_config(url=gt.url, kind=kind, old_model="m", **options))
    assert report_errors(report) == []
    return report, report["scenarios"][0]["levels"][0]["results"]["target"]


@pytest.fixture(scope="module")
def served():
    # One slot, three clients: two of every three requests wait, so the queue-time histogram has
    # something to count.
    with GroundTruth(ttft=0.03, interval=0.005, tokens=6, slots=1, metrics=1) as gt:
        report, result = _run(gt)
        records = httpx.get(gt.url + "/debug/records").json()
        yield result, records


def _measured(records: list[dict]) -> list[dict]:
    # The server numbers requests from 1 as they arrive; the warm-up came first.
    return [r for r in records if r["index"] > WARMUP]


@pytest.mark.parametrize("key,field", [("queue_time", "queue"), ("ttft", "ttft"), ("tpot", "tpot")])
def test_histogram_deltas_equal_what_the_server_recorded(served, key, field):
    result, records = served
    mine = [r[field] for r in _measured(records)]
    h = result["server"]["histograms"][key]
    assert h["status"] == "measured"
    assert h["count"] == len(mine) == REQUESTS
    assert h["sum"] == pytest.approx(sum(mine), abs=2e-6)
    assert h["mean"] == pytest.approx(sum(mine) / len(mine), abs=2e-6)
    expected = {("+Inf" if math.isinf(le) else f"{le:g}"): sum(v <= le for v in mine) for le in BUCKETS}
    assert h["buckets"] == expected
    assert h["p50"] <= h["p95"]


def test_queue_time_shows_the_wait_for_the_one_slot(served):
    result, records = served
    queue = result["server"]["histograms"]["queue_time"]
    assert queue["mean"] > 0.01  # three clients, one slot: most requests waited for a whole answer


def test_client_ttft_beside_the_server_ttft_with_the_difference(served):
    result, _ = served
    ttft = result["server"]["histograms"]["ttft"]
    assert ttft["client"]["p50"] == result["ttft"]["p50"]
    assert ttft["client_minus_server"]["mean"] == pytest.approx(result["ttft"]["mean"] - ttft["mean"], abs=2e-6)


def test_prefix_cache_hit_rate_from_counter_deltas(served):
    result, records = served
    mine = _measured(records)
    pc = result["server"]["prefix_cache"]
    assert pc["status"] == "measured" and pc["metric"] == "vllm:prefix_cache_hits_total"
    assert pc["hits"] == sum(r["hits"] for r in mine)
    assert pc["queries"] == sum(r["queries"] for r in mine)
    assert pc["hit_rate"] == pytest.approx(pc["hits"] / pc["queries"], abs=1e-6)


def test_gauges_sampled_during_the_level_within_what_the_server_allows(served):
    result, _ = served
    gauges = result["server"]["gauges"]
    for key in ("kv_cache_usage", "running", "waiting"):
        g = gauges[key]
        assert g["status"] == "measured" and g["samples"] >= 1
        assert 0 <= g["mean"] <= g["peak"]
    assert gauges["running"]["peak"] <= 1  # one slot
    assert gauges["waiting"]["peak"] <= 2  # three clients


def test_a_404_metrics_path_is_not_exposed_and_nothing_is_guessed():
    with GroundTruth(ttft=0.01, interval=0.002, tokens=4, metrics=0) as gt:
        report, result = _run(gt, requests=3, warmup=0)
    server = result["server"]
    assert server == {"exposed": False, "endpoint": "/metrics", "reason": "GET /metrics answered HTTP 404"}
    assert "target: server metrics: not exposed (GET /metrics answered HTTP 404)" in report["summary"]["not_measured"]


def test_ollama_has_no_metrics_endpoint():
    with GroundTruth(ttft=0.01, interval=0.002, tokens=4, metrics=1) as gt:
        _, result = _run(gt, kind="ollama", requests=2, warmup=0)
    assert result["server"]["exposed"] is False
    assert result["server"]["endpoint"] is None
    assert "ollama" in result["server"]["reason"]


def test_a_counter_reset_between_the_scrapes_gives_no_negative_delta():
    # The server restarts its metrics when request 5 arrives: after the "before" scrape (2 warm-up
    # requests), before the "after" one. Fewer observations remain than were there before.
    with GroundTruth(ttft=0.01, interval=0.002, tokens=4, metrics=1, metrics_reset_at=5) as gt:
        report, result = _run(gt, concurrency="1", requests=3)
    server = result["server"]
    assert server["exposed"] is True
    for h in server["histograms"].values():
        assert h["status"] == "reset" and "count" not in h and "sum" not in h
    assert server["prefix_cache"]["status"] == "reset" and "hits" not in server["prefix_cache"]
    assert any("went backwards" in n for n in result["not_measured"])


# ------------------------------------------------------------------------------------------------
# The pieces


def test_parser_sums_label_sets_and_keeps_only_wanted_families():
    text = "\n".join(
        [
            "# HELP x a help line",
            "# TYPE vllm:q histogram",
            'vllm:q_bucket{le="0.1",model_name="a"} 1',
            'vllm:q_bucket{le="+Inf",model_name="a"} 2',
            'vllm:q_bucket{le="0.1",model_name="b \\"quoted\\" }"} 3',
            'vllm:q_bucket{le="+Inf",model_name="b \\"quoted\\" }"} 3',
            'vllm:q_sum{model_name="a"} 0.5',
            'vllm:q_sum{model_name="b"} 0.25',
            'vllm:q_count{model_name="a"} 2',
            'vllm:q_count{model_name="b"} 3',
            "other_metric 7",
            "garbage line without value",
        ]
    )
    scrape = parse_prometheus(text, {"vllm:q"})
    assert "other_metric" not in scrape.series
    h = scrape.histogram("vllm:q")
    assert h is not None and h.count == 5 and h.sum == 0.75
    assert h.buckets == {0.1: 4.0, math.inf: 5.0}
    assert scrape.types["vllm:q"] == "histogram"


def test_bucket_quantile_interpolates_like_prometheus():
    h = Hist(count=10, sum=1.0, buckets={0.1: 2.0, 0.2: 8.0, math.inf: 10.0})
    assert bucket_quantile(0.5, h) == pytest.approx(0.1 + 0.1 * (5 - 2) / 6)
    assert bucket_quantile(0.1, h) == pytest.approx(0.05)
    assert bucket_quantile(0.95, h) == 0.2  # in +Inf: the highest finite bound
    assert bucket_quantile(0.5, Hist(0, 0.0, {math.inf: 0.0})) is None


def test_delta_refuses_anything_that_went_backwards():
    before = Hist(count=4, sum=1.0, buckets={0.1: 2.0, math.inf: 4.0})
    assert hist_delta(before, Hist(count=3, sum=2.0, buckets={0.1: 2.0, math.inf: 3.0})) is None
    assert hist_delta(before, Hist(count=5, sum=0.5, buckets={0.1: 2.0, math.inf: 5.0})) is None
    assert hist_delta(before, Hist(count=5, sum=2.0, buckets={0.1: 1.0, math.inf: 5.0})) is None
    assert hist_delta(before, Hist(count=5, sum=2.0, buckets={0.2: 3.0, math.inf: 5.0})) is None
    d = hist_delta(before, Hist(count=6, sum=1.5, buckets={0.1: 3.0, math.inf: 6.0}))
    assert d == Hist(count=2, sum=0.5, buckets={0.1: 1.0, math.inf: 2.0})
