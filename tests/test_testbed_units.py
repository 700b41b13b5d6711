"""Test-bed pieces that need no engine: Go-format helpers checked against real Ollama logs,
the admission (queue) logic, the model cache and the GGUF reader."""

from __future__ import annotations

import asyncio
import re

import pytest

from migrate.testbed.ollama_server import BUSY, Admission, Busy, gin_line, go_duration, go_time, slog_time
from tests.conftest import realdata_dir

GIN_RE = re.compile(
    r"^\[GIN\] (\d{4}/\d{2}/\d{2} - \d{2}:\d{2}:\d{2}) \|\s*(\d{3})\s*\|\s*(\S+)\s*\|"
    r'\s*(\S+)\s*\|\s*([A-Z]+)\s+"(.*)"$'
)


def _real_gin_lines():
    lines = []
    for path in sorted(realdata_dir().glob("ollama_log_*.log")):
        for line in path.read_text(errors="replace").splitlines():
            idx = line.find("[GIN] ")
            if idx >= 0 and "\x1b" not in line:
                lines.append(line[idx:].rstrip())
    return lines


def test_gin_line_layout_matches_real_logs_column_for_column():
    real = [ln for ln in _real_gin_lines() if GIN_RE.match(ln)]
    assert len(real) >= 5, "expected real gin lines in the recorded logs"
    for line in real[:50]:
        m = GIN_RE.match(line)
        latency, ip, method, path = m.group(3), m.group(4), m.group(5), m.group(6)
        ns = _parse_go_duration(latency)
        # Re-render the same fields: the column layout must be byte-identical (timestamp aside).
        ours = gin_line(int(m.group(2)), ns, ip, method, path)
        assert ours[ours.index("|") :] == line[line.index("|") :], (ours, line)


def _parse_go_duration(text: str) -> int:
    units = {"h": 3600e9, "m": 60e9, "s": 1e9, "ms": 1e6, "µs": 1e3, "us": 1e3, "ns": 1}
    total = 0.0
    for num, unit in re.findall(r"([\d.]+)(h|ms|µs|us|ns|m|s)", text):
        total += float(num) * units[unit]
    return int(round(total))


@pytest.mark.parametrize(
    "ns,text",
    [
        (0, "0s"),
        (7_696_476_700, "7.6964767s"),
        (6_282_600, "6.2826ms"),
        (512_300, "512.3µs"),
        (1_800_000_000_000, "30m0s"),
        (301_000_000_000, "5m1s"),
        (999, "999ns"),
    ],
)
def test_go_duration(ns, text):
    assert go_duration(ns) == text


def test_created_at_and_slog_time_formats():
    # RFC3339Nano with trailing zeros trimmed (real: "2025-08-20T13:48:24.36571Z").
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,9}(Z|[+-]\d\d:\d\d)", go_time(1_755_697_704_365_710_000))
    assert go_time(1_755_697_704_365_710_000).split(".")[1].rstrip("Z+-:0123456789") == ""
    assert ".36571" in go_time(1_755_697_704_365_710_000)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)", slog_time())


async def test_admission_runs_parallel_then_queues_then_refuses():
    adm = Admission(num_parallel=1, max_queue=1)
    first = await adm.__aenter__()
    entered = asyncio.Event()

    async def waiter():
        async with adm:
            entered.set()

    task = asyncio.create_task(waiter())
    while adm.waiting == 0:  # let the waiter reach the queue
        await asyncio.sleep(0)
    with pytest.raises(Busy) as exc:
        await adm.__aenter__()  # one running + one waiting: the queue is full
    assert str(exc.value) == BUSY
    assert not entered.is_set()
    await first.__aexit__(None, None, None)
    await task
    assert entered.is_set() and adm.running == 0 and adm.waiting == 0


def test_busy_message_matches_the_real_client_log():
    text = (
        realdata_dir() / "ollama_clientlog_server-busy-maximum-pending-requests_2026-05_ha-llmvision648.log"
    ).read_text()
    assert BUSY in text


def test_model_cache_is_idempotent_and_gguf_metadata_reads(tmp_path, monkeypatch):
    from migrate.testbed.model import gguf_metadata, model_path

    first = model_path()
    assert first.name == "gemma-3-270m-q4_k_m.gguf" and "ollama-migrate" in str(first)
    assert model_path() == first and first.stat().st_size > 200_000_000
    meta = gguf_metadata(first)
    assert meta["general.architecture"] == "gemma3"
    assert meta["gemma3.context_length"] == 32768
    assert meta["tokenizer.ggml.tokens"] is None  # large arrays elided like Ollama's show


@pytest.mark.parametrize(
    "ns,text", [(77_516_341_601, "1m17s"), (1_800_000_000_000, "30m0s"), (59_999_000_000, "59.999s")]
)
def test_gin_truncates_latency_above_a_minute(ns, text):
    line = gin_line(200, ns, "127.0.0.1", "POST", "/api/chat", when=0)
    assert line.split("|")[2].strip() == text
