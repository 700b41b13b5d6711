"""Log parser: exact counts on every real Ollama log in tests/fixtures/realdata (counted by reading each file),
plus the formats and faults the issue lists."""

from __future__ import annotations

import gzip

import pytest

from migrate.inventory.logs import LogStats, parse_env_map, parse_go_duration
from tests.conftest import realdata_dir

# file -> expected counts, computed by reading each file by hand:
# (lines, gin, slog-style, other known, blank, unparsed, by_method_path, by_status,
#  truncation events, server-config key counts, peak concurrency)
EXPECTED = {
    "ollama_log_v0.1.33_2024-05_llamacpp-server-json-lines_issue4124.log": (2, 0, 0, 2, 0, 0, {}, {}, 0, [], None),
    "ollama_log_v0.1.37_2024-05_serverconfig_windows-arm64_msys2.log": (11, 0, 3, 6, 2, 0, {}, {}, 0, [10], None),
    # one line is an rsyslog "message repeated 2 times" wrapper: 1 + 2 slog records
    "ollama_log_v0.1.39-pre_2024-05_offload-to-gpu_memorygo_issue4636.log": (2, 0, 3, 0, 0, 0, {}, {}, 0, [], None),
    "ollama_log_v0.1.3x_2024-06_debug_starting-llama-server_issue3940.log": (5, 0, 5, 0, 0, 0, {}, {}, 0, [], None),
    "ollama_log_v0.11.x_2025-08_journal_systemmemory_offload_projector_ollama-engine_pr12000.log": (
        4,
        0,
        4,
        0,
        0,
        0,
        {},
        {},
        0,
        [],
        None,
    ),
    "ollama_log_v0.11.x_2025-08_runner-load-request_alloc-commit_issue12027.log": (
        6,
        0,
        6,
        0,
        0,
        0,
        {},
        {},
        0,
        [],
        None,
    ),
    # cut off after OLLAMA_LOAD_TIMEOUT: 17 complete keys, the partial "OLLAMA_MAX_LOADE" dropped
    "ollama_log_v0.11.x_2025-08_slog-serverconfig_CONTEXT_LENGTH_issue10833.log": (
        1,
        0,
        1,
        0,
        0,
        0,
        {},
        {},
        0,
        [17],
        None,
    ),
    "ollama_log_v0.2.7_2024-07_windows_GIN403_offload-to-cpu_issue5816.log": (
        7,
        6,
        1,
        0,
        0,
        0,
        {"GET /api/tags": 3, "POST /api/generate": 3},
        {"200": 3, "403": 3},
        0,
        [],
        1,
    ),
    "ollama_log_v0.3.x_2024-08_windows_debug_llamacpp-server-requests_issue6148.log": (
        6,
        3,
        1,
        1,
        1,
        0,
        {"HEAD /": 1, "POST /api/show": 1, "POST /api/chat": 1},
        {"200": 3},
        0,
        [],
        1,
    ),
    "ollama_log_v0.3.x_2024-09_docker_runner-started-50s_GIN-5m1s_issue6852.log": (
        2,
        1,
        1,
        0,
        0,
        0,
        {"POST /api/chat": 1},
        {"200": 1},
        0,
        [],
        1,
    ),
    "ollama_log_v0.4.x_2024-12_colab_sched_vram_systemmemory_issue7907.log": (3, 0, 3, 0, 0, 0, {}, {}, 0, [], None),
    "ollama_log_v0.5.7_2025-01_listening-version_dynamic-libs_issue8532.log": (8, 0, 6, 2, 0, 0, {}, {}, 0, [], None),
    "ollama_log_v0.5.x_2024-12_offload-to-cuda_starting-llama-server_parallel4_issue8098.log": (
        5,
        0,
        5,
        0,
        0,
        0,
        {},
        {},
        0,
        [],
        None,
    ),
    "ollama_log_v0.5.x_2025-02_debug_serverconfig_map_issue8963.log": (4, 0, 3, 1, 0, 0, {}, {}, 0, [29], None),
    # journald with a Chinese month; 7 raw CUDA discovery lines are not Ollama log records
    "ollama_log_v0.5.x_2025-02_journal_inference-compute_GIN_issue9245.log": (
        14,
        1,
        3,
        1,
        2,
        7,
        {"GET /api/tags": 1},
        {"200": 1},
        0,
        [],
        1,
    ),
    # 35.7 s, 51.8 s and 16.2 s chats overlap around 11:20:29 -> 3 in flight
    "ollama_log_v0.5.x_2025-02_runner-started_GIN500_issue8983.log": (
        15,
        3,
        1,
        9,
        2,
        0,
        {"POST /api/chat": 3},
        {"200": 1, "500": 2},
        0,
        [],
        3,
    ),
    "ollama_log_v0.6.x_2025-04_truncating-input-prompt_embeddings_issue10368.log": (
        3,
        1,
        2,
        0,
        0,
        0,
        {"POST /api/embeddings": 1},
        {"200": 1},
        1,
        [],
        1,
    ),
    "ollama_log_v0.9.x-newengine_2025-07_ggml_model-weights_multiGPU_pr11090.log": (
        9,
        0,
        9,
        0,
        0,
        0,
        {},
        {},
        0,
        [],
        None,
    ),
    "ollama_log_v0.9.x_2025-06_debug_truncating-messages_context-shift_issue8531.log": (
        11,
        0,
        7,
        4,
        0,
        0,
        {},
        {},
        0,
        [],
        None,
    ),
    "ollama_log_v0.9.x_2025-06_journal_cpu-offload_ollama-engine_no-mmap_parallel2_deepresearch14.log": (
        4,
        0,
        4,
        0,
        0,
        0,
        {},
        {},
        0,
        [],
        None,
    ),
    "ollama_clientlog_server-busy-maximum-pending-requests_2026-05_ha-llmvision648.log": (
        8,
        0,
        0,
        4,
        2,
        2,
        {},
        {},
        0,
        [],
        None,
    ),
}


def test_every_realdata_log_has_expectations():
    files = sorted(p.name for p in realdata_dir().glob("ollama_log_*")) + sorted(
        p.name for p in realdata_dir().glob("ollama_clientlog_*")
    )
    assert sorted(EXPECTED) == sorted(files)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_realdata_log_counts(name):
    lines, gin, slog, other, blank, unparsed, by_mp, by_status, trunc, cfg_keys, peak = EXPECTED[name]
    st = LogStats()
    info = st.feed_file(str(realdata_dir() / name))
    res = st.result()
    t = res["traffic"]
    assert (info["lines"], info["gin"], info["slog"], info["other_known"], info["blank"], info["unparsed"]) == (
        lines,
        gin,
        slog,
        other,
        blank,
        unparsed,
    )
    assert t["requests"] == gin
    assert t["by_method_path"] == by_mp
    assert t["by_status"] == by_status
    assert t["truncation_events"] == trunc
    assert [len(c["env"]) for c in res["server_config"]] == cfg_keys
    assert t["peak_concurrency_estimate"] == peak


def test_realdata_details():
    rd = realdata_dir()
    st = LogStats()
    for name in (
        "ollama_log_v0.6.x_2025-04_truncating-input-prompt_embeddings_issue10368.log",
        "ollama_log_v0.5.x_2024-12_offload-to-cuda_starting-llama-server_parallel4_issue8098.log",
        "ollama_log_v0.5.7_2025-01_listening-version_dynamic-libs_issue8532.log",
        "ollama_log_v0.11.x_2025-08_slog-serverconfig_CONTEXT_LENGTH_issue10833.log",
        "ollama_log_v0.1.37_2024-05_serverconfig_windows-arm64_msys2.log",
        "ollama_log_v0.11.x_2025-08_runner-load-request_alloc-commit_issue12027.log",
        "ollama_log_v0.9.x_2025-06_debug_truncating-messages_context-shift_issue8531.log",
        "ollama_clientlog_server-busy-maximum-pending-requests_2026-05_ha-llmvision648.log",
    ):
        st.feed_file(str(rd / name))
    r = st.result()
    ev = r["traffic"]["truncation_samples"][0]
    assert (ev["limit"], ev["prompt"], ev["keep"], ev["new"]) == (2048, 5065, 5, 2048)
    runner = r["runners"][0]
    assert (runner["ctx_size"], runner["parallel"], runner["ctx_per_slot"]) == (8192, 4, 2048)
    assert runner["model_blob"].startswith("sha256:dde5aa3f")
    assert r["versions"] == ["0.5.7"]
    cfg = {c["line"]: c for c in r["server_config"]}
    cut = [c for c in r["server_config"] if c["truncated"]][0]
    assert cut["env"]["OLLAMA_CONTEXT_LENGTH"] == "4096"
    assert cut["env"]["OLLAMA_LOAD_TIMEOUT"] == "1h0m0s"
    assert "OLLAMA_MAX_LOADE" not in cut["env"]
    old = [c for c in r["server_config"] if "OLLAMA_RUNNERS_DIR" in c["env"]][0]
    assert old["env"]["OLLAMA_NUM_PARALLEL"] == "1" and old["env"]["OLLAMA_MAX_QUEUE"] == "512"
    assert old["env"]["OLLAMA_ORIGINS"].startswith("[http://localhost ") and old["env"]["OLLAMA_TMPDIR"] == ""
    assert cfg  # both configs are kept, one per source
    assert [(x["operation"], x["kv_size"], x["kv_cache_type"]) for x in r["load_requests"]] == [
        ("alloc", 26624, "q4_0"),
        ("commit", 26624, "q4_0"),
    ]
    assert r["traffic"]["context_shift_events"] == 4
    assert r["traffic"]["message_truncation_events"] == 1
    assert r["traffic"]["queue_full_events"] == 4


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("971.777µs", 971.777e-6),
        ("1.193025ms", 1.193025e-3),
        ("32.779561288s", 32.779561288),
        ("5m8s", 308.0),
        ("1h24m39s", 5079.0),
        ("0s", 0.0),
        ("794.342μs", 794.342e-6),
        ("30m0s", 1800.0),
    ],
)
def test_go_durations(text, seconds):
    assert parse_go_duration(text) == pytest.approx(seconds)


def test_go_duration_rejects_garbage():
    assert parse_go_duration("fast") is None
    assert parse_go_duration("5x") is None


def test_env_map_keeps_list_values_and_windows_paths():
    env = parse_env_map(r"A:1 OLLAMA_ORIGINS:[http://a http://b] OLLAMA_MODELS:C:\Program Files\m B:")
    assert env == {"A": "1", "OLLAMA_ORIGINS": "[http://a http://b]", "OLLAMA_MODELS": r"C:\Program Files\m", "B": ""}


GIN = '[GIN] 2025/02/20 - 16:34:14 | 200 |    7.6964767s | 192.168.242.247 | POST     "/api/chat"'


def test_prefixes_colours_and_broken_config_line(tmp_path):
    lines = [
        GIN,
        "Dec 11 09:58:58 host ollama[1543654]: " + GIN.replace("16:34:14", "16:34:15"),
        "2025-02-20T16:34:16.123456789Z " + GIN.replace("16:34:14", "16:34:16"),
        '[GIN] 2025/02/20 - 16:34:17 |\x1b[97;41m 503 \x1b[0m|    5.8114756s |       127.0.0.1 |\x1b[97;46m POST    \x1b[0m "/api/chat?x=1"',
        '[GIN] 2025/02/20 - 16:35:00 | 499 |         5m8s |       127.0.0.1 | POST     "/api/generate"',
        'time=2025-02-20T16:30:00.000Z level=INFO source=routes.go:1259 msg="server config" env="map[OLLAMA_HOST:http://0.0.0.0:11434',
        ' OLLAMA_NUM_PARALLEL:4 OLLAMA_MAX_QUEUE:512]"',
        "totally unknown line",
        "",
    ]
    p = tmp_path / "mixed.log.gz"
    with gzip.open(p, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    st = LogStats()
    info = st.feed_file(str(p))
    r = st.result()
    t = r["traffic"]
    assert info["gin"] == 5 and info["unparsed"] == 1 and info["blank"] == 1
    assert t["by_endpoint"] == {"/api/chat": 4, "/api/generate": 1}
    assert t["by_status"] == {"200": 3, "499": 1, "503": 1}
    assert t["status_503"] == 1 and t["status_499"] == 1
    assert t["latency"]["/api/generate"]["max_s"] == 308.0
    assert r["server_config"][0]["env"] == {
        "OLLAMA_HOST": "http://0.0.0.0:11434",
        "OLLAMA_NUM_PARALLEL": "4",
        "OLLAMA_MAX_QUEUE": "512",
    }
    assert r["server_config"][0]["truncated"] is False
    assert r["unparsed_samples"][0] == {"source": str(p), "line": 8, "text": "totally unknown line"}
    # four 6-8 s chats ending one second apart overlap each other and the 5m8s generate
    # (16:29:52 - 16:35:00): second 16:34:14 holds 0.5 + 1 + 1 + 1 + 1 request-seconds -> 5
    assert t["peak_concurrency_estimate"] == 5
    assert t["requests_per_minute_peak"] == 4


def test_binary_and_oversized_lines_are_skipped(tmp_path, monkeypatch):
    from migrate.inventory.logs import reader

    b = tmp_path / "core.bin"
    b.write_bytes(b"\x7fELF\x00\x00" + b"\x00" * 100)
    monkeypatch.setattr(reader, "MAX_LINE", 1000)
    monkeypatch.setattr(reader, "CHUNK", 256)
    big = tmp_path / "big.log"
    big.write_text(GIN + "\n" + "x" * 5000 + "\n" + GIN.replace("16:34:14", "16:34:20") + "\n")
    st = LogStats()
    assert st.feed_file(str(b))["binary"] is True
    info = st.feed_file(str(big))
    assert info["oversized"] == 1 and info["gin"] == 2 and info["lines"] == 3
    assert st.result()["traffic"]["requests"] == 2


def test_latency_histogram_after_cap(monkeypatch):
    from migrate.inventory.logs import stats

    monkeypatch.setattr(stats, "EXACT_LATENCY_CAP", 100)
    lat = stats._Latency()
    lat.extend([[float(i) for i in range(1, 1001)]])
    s = lat.summary()
    assert s["exact"] is False and s["count"] == 1000 and s["max_s"] == 1000.0
    assert s["p50_s"] == pytest.approx(500, rel=0.02)
    assert s["p99_s"] == pytest.approx(990, rel=0.02)


# ------------------------------------------------------------------ both ways agree
def _both_ways(path: str):
    """The same file read the column way and the regex way (the reference)."""
    out = []
    for columns in (True, False):
        st = LogStats(columns=columns)
        info = st.feed_file(path)
        out.append((st, info, st.result()))
    return out


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_realdata_log_same_result_both_ways(name):
    (fast, fast_info, fast_res), (slow, slow_info, slow_res) = _both_ways(str(realdata_dir() / name))
    assert fast_res == slow_res and fast_info == slow_info
    # the column way really read every access line, the reference none
    assert (fast.column_lines, slow.column_lines) == (fast_info["gin"], 0)


_PREFIXES = [
    "",
    "Dec 11 09:58:58 host ollama[1543654]: ",
    "2月 21 13:33:07 tc ollama[285585]: ",
    "9月 28 10:01:02 srv ollama[77]: ",
    "janv. 20 10:01:02 srv ollama[77]: ",
    "> Jun 05 10:01:02 <ollama server> ollama[77]: ",
    "2025-02-20T16:34:16.123456789Z ",
]
_LATENCIES = [
    "0s",
    "512ns",
    "971.777µs",
    "794.342μs",
    "3.2us",
    "6.2826ms",
    "444.455595ms",
    "7.6964767s",
    "51.787708541s",
    "5m1s",
    "30m0s",
    "1h24m39s",
    "1m30.5s",
]
_REQUESTS = [
    ("GET", "/api/tags"),
    ("POST", "/api/chat"),
    ("HEAD", "/"),
    ("POST", "/api/generate?raw=1"),
    ("POST", "/api/embeddings"),
]


def _access(i: int, when: int) -> str:
    ts = f"2025/02/20 - {when // 3600 % 24:02d}:{when // 60 % 60:02d}:{when % 60:02d}"
    method, path = _REQUESTS[i % len(_REQUESTS)]
    status = ("200", "200", "500", "503", "403", "499")[i % 6]
    lat = _LATENCIES[i % len(_LATENCIES)]
    if i % 5 == 0:  # compact spacing
        line = f'[GIN] {ts} | {status} | {lat} | 10.0.0.{i % 3} | {method} "{path}"'
    elif i % 5 == 1:  # TTY colours
        line = (
            f"[GIN] {ts} |\x1b[97;42m {status} \x1b[0m| {lat:>13} | {'::1':>15} |"
            f'\x1b[97;46m {method:<7} \x1b[0m "{path}"'
        )
    else:
        line = f'[GIN] {ts} | {status} | {lat:>13} | {"127.0.0.1":>15} | {method:<7}  "{path}"'
    return _PREFIXES[i % len(_PREFIXES)] + line + ("\r" if i % 4 == 0 else "")


def test_every_format_same_result_both_ways(tmp_path, monkeypatch):
    """Access lines in every recorded format, with long requests folding past the horizon, the
    histogram past its cap and many small blocks; then the same with other lines and malformed
    access lines mixed in."""
    from migrate.inventory.logs import reader, stats

    monkeypatch.setattr(reader, "CHUNK", 4096)
    monkeypatch.setattr(stats, "EXACT_LATENCY_CAP", 50)
    monkeypatch.setattr(stats, "BUSY_COMPACT_AT", 300)
    monkeypatch.setattr(stats, "COMPACT_HORIZON_S", 1800)
    pure = tmp_path / "pure.log"
    pure.write_text("".join(_access(i, 40_000 + i // 3) + "\n" for i in range(6000)), encoding="utf-8")
    (fast, fast_info, fast_res), (_, slow_info, slow_res) = _both_ways(str(pure))
    assert fast_res == slow_res and fast_info == slow_info
    assert fast.column_lines == 6000 == fast_res["traffic"]["requests"]
    assert fast_res["traffic"]["latency"]["/api/chat"]["exact"] is False
    assert fast_res["unparsed_lines"] == 0

    mixed = tmp_path / "mixed.log"
    lines = []
    for i in range(3000):
        lines.append(_access(i, 40_000 + i // 3))
        if i % 7 == 0:
            lines.append(
                'time=2025-02-20T11:20:29.000Z level=INFO source=server.go:594 msg="llama runner '
                'started in 0.76 seconds"'
            )
        if i % 97 == 0:  # malformed: the regex way samples it, the column way must not take its block
            lines.append(f'[GIN] 2025/02/20 - 11:20:29 | 2o{i % 10} | 5s | 127.0.0.1 | POST "/api/chat"')
    mixed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (fast, fast_info, fast_res), (_, slow_info, slow_res) = _both_ways(str(mixed))
    assert fast_res == slow_res and fast_info == slow_info
    assert fast_res["unparsed_lines"] == 31 and fast_res["traffic"]["requests"] == 3000
    assert fast.column_lines > 0


def test_crlf_and_cr_end_lines_across_blocks(tmp_path, monkeypatch):
    from migrate.inventory.logs import reader

    monkeypatch.setattr(reader, "CHUNK", 7)  # a CR and its LF land in different reads
    body = [GIN, "totally unknown line", "", GIN.replace("16:34:14", "16:34:15")]
    for name, sep in (("lf.log", "\n"), ("crlf.log", "\r\n"), ("cr.log", "\r")):
        (tmp_path / name).write_bytes((sep.join(body) + sep).encode())
    infos = []
    for name in ("lf.log", "crlf.log", "cr.log"):
        st = LogStats()
        info = st.feed_file(str(tmp_path / name))
        infos.append((info["lines"], info["gin"], info["blank"], info["unparsed"], st.result()["traffic"]["requests"]))
    assert infos == [(4, 2, 1, 1, 2)] * 3
