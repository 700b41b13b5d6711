"""Latency math against hand-computed values."""

import math

import pytest

from migrate.exchange import ChatRequest, Exchange, Timings
from migrate.report import latency_table, percentile
from migrate.report.latency import ratio, summarise


def test_percentile_linear_interpolation_hand_computed():
    xs = [4.0, 1.0, 3.0, 2.0]  # sorted 1,2,3,4; h = 3q
    assert percentile(xs, 0.5) == pytest.approx(2.5)  # h=1.5 -> 2 + .5*(3-2)
    assert percentile(xs, 0.95) == pytest.approx(3.85)  # h=2.85 -> 3 + .85*(4-3)
    assert percentile(xs, 0.0) == 1.0
    assert percentile(xs, 1.0) == 4.0


def test_percentile_none_safe_and_single_value():
    assert percentile([], 0.5) is None
    assert percentile([None, None], 0.95) is None
    assert percentile([None, 0.7, float("nan")], 0.95) == 0.7
    with pytest.raises(ValueError):
        percentile([1.0], 95)  # fractions, not percents


def test_summarise_uses_timings_properties():
    # ttft = first_content - sent; e2e = end - sent; tpot = (last_token - first_content) / (tokens - 1):
    # a trailing usage/[DONE] frame (end after last_token) does not stretch TPOT
    a = Timings(sent=0.0, first_content=0.1, last_token=1.1, end=1.1, output_tokens=11)  # ttft .1 e2e 1.1 tpot .1
    b = Timings(sent=0.0, first_content=0.3, last_token=0.7, end=0.7, output_tokens=5)  # ttft .3 e2e .7 tpot .1
    c = Timings(scheduled=0.0, sent=0.5, first_content=None, end=2.0)  # failed before a token
    s = summarise([a, b, c])
    assert s["n"] == 3
    assert s["ttft_p50"] == pytest.approx(0.2)  # over the two that had a token
    assert s["ttft_p95"] == pytest.approx(0.1 + 0.95 * 0.2)
    assert s["tpot_p50"] == pytest.approx(0.1)
    assert s["e2e_p50"] == pytest.approx(1.1)  # 0.7, 1.1, 2.0 (queueing counted)
    assert s["e2e_p95"] == pytest.approx(1.1 + 0.9 * 0.9)  # h=1.9


def test_summarise_accepts_exchanges_and_skips_none():
    ex = Exchange(
        request=ChatRequest(model="m"),
        timings=Timings(sent=1.0, first_content=1.5, last_token=2.0, end=2.0, output_tokens=3),
    )
    s = summarise([ex, None])
    assert s["n"] == 1 and s["ttft_p95"] == pytest.approx(0.5) and s["tpot_p50"] == pytest.approx(0.25)
    with pytest.raises(TypeError):
        summarise([{"ttft": 1}])


def test_ratio_is_new_over_old_and_none_safe():
    assert ratio(0.2, 0.1) == pytest.approx(2.0)
    assert ratio(None, 0.1) is None and ratio(0.1, None) is None and ratio(0.1, 0.0) is None


def test_latency_table_shape_and_ratios():
    old = [Timings(sent=0, first_content=0.2, last_token=1.0, end=1.0, output_tokens=5)]
    new = [Timings(sent=0, first_content=0.1, last_token=1.5, end=1.5, output_tokens=5)]
    table = latency_table({"chat": {"old": old, "new": new}, "tools": {"old": old}})
    assert set(table) == {"chat", "tools"}
    chat = table["chat"]
    assert chat["ratio"]["ttft_p95"] == pytest.approx(0.5)
    assert chat["ratio"]["e2e_p95"] == pytest.approx(1.5)
    assert chat["ratio"]["tpot_p95"] == pytest.approx((1.4 / 4) / (0.8 / 4), rel=1e-3)
    tools = table["tools"]
    assert tools["new"]["n"] == 0 and tools["new"]["e2e_p95"] is None
    assert all(v is None for v in tools["ratio"].values())
    with pytest.raises(ValueError):
        latency_table({"chat": {"candidate": old}})
    assert not any(isinstance(v, float) and math.isnan(v) for v in chat["old"].values())
