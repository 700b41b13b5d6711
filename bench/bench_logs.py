"""Benchmark: `migrate inventory --logs` parser vs one mawk pass over the same file.

Builds N GIN access lines that cycle through every access-line format seen in recorded Ollama logs
(built here from patterns; nothing is read from elsewhere):
  * prefixes: none (plain file, Windows server.log), journald in several locales ("Feb 20 ...",
    "2月 21 ...", "9月 28 ...", "janv. 20 ..."), journald with a redacted host quoted with "> ",
    Docker --timestamps, TTY colours around status and method;
  * spacing: gin's padded columns and collapsed single spaces; LF and CRLF line ends;
  * latencies in every Go duration form (ns, µs, ms, s, 0s, XmYs, XhYmZs), with realistic values
    (every value different, as in real logs: no cache can remember them).
Then times, best of 5 each (interleaved: the machine may be shared):
  * mawk: one pass splitting on '|' and counting by status and path (the reading floor);
  * ours: LogStats.feed_file + result (latency per endpoint, clients, per-minute, concurrency),
    in a fresh interpreter like a `migrate inventory` run.
Reports wall-clock and CPU time (CPU time is what load from other processes disturbs least), how
many lines the column way read, and peak RSS after N/10 and N lines (memory stays flat).

Usage: python bench/bench_logs.py [--lines 1000000] [--keep FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from migrate.testbed.ollama_server import go_duration  # the test server writes gin lines too

MONTHS = {  # journald's month column in a few locales (month 2, the bench's February)
    "C": "Feb",
    "zh_CN": "2月",
    "fr_FR": "févr.",
    "ja_JP": "2月",
    "de_DE": "Feb",
    "es_ES": "feb",
}
REQUESTS = [
    ("GET", "/api/tags"),
    ("POST", "/api/generate"),
    ("HEAD", "/"),
    ("POST", "/api/show"),
    ("POST", "/api/chat"),
    ("POST", "/api/embeddings"),
    ("POST", "/api/embed"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/api/chat?stream=false"),
    ("GET", "/api/ps"),
]
STATUSES = ["200"] * 40 + ["500", "503", "403", "499", "400", "404"]
CLIENTS = ["127.0.0.1", "192.168.30.134", "172.17.0.2", "10.130.41.81", "192.168.242.247", "10.0.0.123", "::1"]
COLOURS = {
    "200": "\x1b[97;42m",
    "400": "\x1b[90;43m",
    "403": "\x1b[90;43m",
    "404": "\x1b[90;43m",
    "499": "\x1b[90;43m",
    "500": "\x1b[97;41m",
    "503": "\x1b[97;41m",
}
METHOD_COLOURS = {"GET": "\x1b[97;44m", "POST": "\x1b[97;46m", "HEAD": "\x1b[97;45m"}
RESET = "\x1b[0m"


def gin_latency(ns: int) -> str:
    """A latency as gin prints it: Go's Duration.String(), whole seconds above one minute."""
    if ns > 60_000_000_000:
        ns -= ns % 1_000_000_000
    return go_duration(ns)


# Shares of each Go duration form, roughly as in the recorded logs (a third are generations of a
# second or more; the rest are tags/show/HEAD polls, embeddings and rejected requests), each value
# drawn log-uniformly within its unit's range.
LATENCY_FORMS = [
    (0.05, 0, 0),
    (0.03, 100, 1_000),
    (0.20, 1_000, 1_000_000),
    (0.39, 1_000_000, 1_000_000_000),
    (0.30, 1_000_000_000, 60_000_000_000),
    (0.025, 60_000_000_000, 3_600_000_000_000),
    (0.005, 3_600_000_000_000, 20_000_000_000_000),
]


def latency_ns(rnd: random.Random) -> int:
    r = rnd.random()
    for share, lo, hi in LATENCY_FORMS:
        if r < share:
            return int(math.exp(rnd.uniform(math.log(lo), math.log(hi)))) if hi else 0
        r -= share
    return 0


def access_line(rnd: random.Random, i: int, when: float) -> str:
    ts = time.strftime("%Y/%m/%d - %H:%M:%S", time.gmtime(when))
    method, path = REQUESTS[i % len(REQUESTS)]
    status = rnd.choice(STATUSES)
    lat = gin_latency(latency_ns(rnd))
    client = CLIENTS[i % len(CLIENTS)]
    form = i % 11
    if form == 0:  # compact: spacing collapsed to single spaces
        return f'[GIN] {ts} | {status} | {lat} | {client} | {method} "{path}"'
    if form == 1:  # TTY colours around status and method
        return (
            f"[GIN] {ts} |{COLOURS[status]} {status} {RESET}| {lat:>13} | {client:>15} |"
            f'{METHOD_COLOURS[method]} {method:<7} {RESET} "{path}"'
        )
    line = f'[GIN] {ts} | {status} | {lat:>13} | {client:>15} | {method:<7}  "{path}"'
    clock = time.strftime("%H:%M:%S", time.gmtime(when))
    day = time.gmtime(when).tm_mday
    if form in (2, 3, 4, 5):  # journald, one locale each
        locale = list(MONTHS)[form - 2 + (i // 11) % 3]
        return f"{MONTHS[locale]} {day:2d} {clock} host ollama[1543654]: {line}"
    if form == 6:  # journald, redacted host, pasted as a quote
        return f"> {MONTHS['C']} {day:02d} {clock} <ollama server> ollama[77]: {line}"
    if form == 7:  # docker logs --timestamps
        frac = rnd.randrange(10**9)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{frac:09d}Z {line}"
    if form == 8:  # written on Windows with CRLF
        return line + "\r"
    return line


def build(path: str, n: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    t0 = 1_740_000_000
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for i in range(n):
            f.write(access_line(rnd, i, t0 + i // 20) + "\n")


# The parser runs in a fresh interpreter, as `migrate inventory` does (not in this process, whose
# heap the generator has just churned); it reports its own timings and peak RSS.
CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from migrate.inventory.logs import LogStats
st = LogStats()
wall, cpu = time.perf_counter(), time.process_time()
st.feed_file(sys.argv[2])
res = st.result()
t = res["traffic"]
print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "requests": t["requests"], "unparsed": res["unparsed_lines"],
                  "column_lines": st.column_lines, "peak": t["peak_concurrency_estimate"],
                  "p95_chat": t["latency"]["/api/chat"]["p95_s"]}))
"""
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def parse(path: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, REPO, path], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--keep", help="write the generated log here and keep it")
    args = ap.parse_args()
    awk = shutil.which("mawk")
    if not awk:
        awk = shutil.which("awk")
        print(
            "mawk is not installed (apt-get install mawk): the baseline below is "
            f"{os.path.basename(awk) if awk else 'missing'}, not the reference figure"
        )
        if not awk:
            sys.exit(1)
    tmp = tempfile.mkdtemp(prefix="bench_logs_")
    try:
        big = args.keep or os.path.join(tmp, "gin.log")
        small = os.path.join(tmp, "gin_small.log")
        build(big, args.lines)
        build(small, max(1, args.lines // 10))
        size_mb = os.path.getsize(big) / 1e6
        prog = (
            'BEGIN{FS="|"} /\\[GIN\\]/{n++; s[$2]++; split($5,a," "); p[a[2]]++} '
            "END{for(k in s) print k, s[k]; for(k in p) print k, p[k]; print n}"
        )
        rss_small = parse(small)["rss_mb"]
        awk_wall = awk_cpu = float("inf")
        runs = []
        for _ in range(5):  # best of 5 each, interleaved: the machine may be shared
            t, c = time.perf_counter(), child_cpu()
            subprocess.run([awk, prog, big], check=True, stdout=subprocess.DEVNULL)
            awk_wall, awk_cpu = min(awk_wall, time.perf_counter() - t), min(awk_cpu, child_cpu() - c)
            runs.append(parse(big))
        res = min(runs, key=lambda r: r["wall"])
        ours_wall, ours_cpu = res["wall"], min(r["cpu"] for r in runs)
        assert res["requests"] == args.lines and res["unparsed"] == 0, res
        name = os.path.basename(awk)
        print(f"input: {args.lines:,} GIN lines in every recorded format, {size_mb:.1f} MB")
        print(f"{name:5s}: {awk_wall:6.2f} s wall  {awk_cpu:6.2f} s CPU")
        print(f"ours : {ours_wall:6.2f} s wall  {ours_cpu:6.2f} s CPU  {args.lines / ours_wall / 1e6:5.2f} M lines/s")
        print(f"ratio: {ours_wall / awk_wall:.1f}x {name} wall, {ours_cpu / awk_cpu:.1f}x {name} CPU (target <= 8x)")
        print(f"column way: {res['column_lines']:,} of {args.lines:,} lines")
        print(
            f"peak RSS: {rss_small:.0f} MB after {args.lines // 10:,} lines, "
            f"{res['rss_mb']:.0f} MB after {args.lines:,} lines"
        )
        print(f"parsed: requests={res['requests']:,} peak_concurrency={res['peak']} p95 /api/chat={res['p95_chat']} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
