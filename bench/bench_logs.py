"""Benchmark: `migrate inventory --logs` parser vs one awk pass over the same file.

Builds N GIN access lines from the real formats (plain, journald-prefixed, ANSI-coloured; latencies in
every Go duration form seen in real logs), then times:
  * awk: one pass splitting on '|' and counting by status and path (the reading floor);
  * ours: LogStats.feed_file (full parse: latency per endpoint, clients, per-minute, concurrency).
Also reports peak RSS growth of the parser, measured at N/10 and N lines, to show memory stays flat.

Usage: python bench/bench_logs.py [--lines 1000000] [--keep FILE]
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from migrate.inventory.logs import LogStats  # noqa: E402

PATHS = ['"/api/chat"', '"/api/generate"', '"/api/tags"', '"/api/embed"', '"/v1/chat/completions"',
         '"/api/show"', '"/"']
METHODS = {'"/api/tags"': "GET", '"/"': "HEAD"}
LATENCIES = ["971.777µs", "1.193025ms", "32.779561288s", "5m8s", "1h24m39s", "444.455595ms",
             "7.6964767s", "0s", "56.7317ms", "794.342µs"]
STATUSES = ["200"] * 40 + ["500", "503", "403", "499", "400", "404"]
IPS = ["127.0.0.1", "10.0.0.123", "192.168.242.247", "172.17.0.2"]


def build(path: str, n: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    t0 = 1_740_000_000
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            ts = time.strftime("%Y/%m/%d - %H:%M:%S", time.gmtime(t0 + i // 20))
            p = rnd.choice(PATHS)
            status = rnd.choice(STATUSES)
            line = (f"[GIN] {ts} | {status} | {rnd.choice(LATENCIES):>13} | {rnd.choice(IPS):>15} | "
                    f"{METHODS.get(p, 'POST'):<7} {p}")
            r = i % 10
            if r == 0:      # journald prefix
                line = f"Feb 20 16:34:14 host ollama[1543654]: {line}"
            elif r == 1:    # TTY colours around status and method
                line = line.replace(f"| {status} |", f"|\x1b[97;42m {status} \x1b[0m|", 1)
            f.write(line + "\n")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--keep", help="write the generated log here and keep it")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_logs_")
    try:
        big = args.keep or os.path.join(tmp, "gin.log")
        small = os.path.join(tmp, "gin_small.log")
        build(big, args.lines)
        build(small, max(1, args.lines // 10))
        size_mb = os.path.getsize(big) / 1e6
        awk = shutil.which("mawk") or shutil.which("awk")
        prog = ('BEGIN{FS="|"} /\\[GIN\\]/{n++; s[$2]++; split($5,a," "); p[a[2]]++} '
                'END{for(k in s) print k, s[k]; for(k in p) print k, p[k]; print n}')
        st = LogStats()
        st.feed_file(small)
        rss_small = rss_mb()
        awk_s = ours_s = float("inf")
        for _ in range(3):      # best of 3 each, interleaved: the machine is shared
            t = time.perf_counter()
            subprocess.run([awk, prog, big], check=True, stdout=subprocess.DEVNULL)
            awk_s = min(awk_s, time.perf_counter() - t)
            st = LogStats()
            t = time.perf_counter()
            st.feed_file(big)
            res = st.result()
            ours_s = min(ours_s, time.perf_counter() - t)
        rss_big = rss_mb()
        assert res["traffic"]["requests"] == args.lines, res["traffic"]["requests"]
        print(f"input: {args.lines:,} GIN lines, {size_mb:.1f} MB ({os.path.basename(awk)} baseline)")
        print(f"awk  : {awk_s:6.2f} s  {args.lines / awk_s / 1e6:6.2f} M lines/s")
        print(f"ours : {ours_s:6.2f} s  {args.lines / ours_s / 1e6:6.2f} M lines/s  "
              f"({ours_s / awk_s:.1f}x awk; target <= 8x)")
        print(f"peak RSS: {rss_small:.0f} MB after {args.lines // 10:,} lines, "
              f"{rss_big:.0f} MB after {args.lines:,} lines")
        print(f"parsed: requests={res['traffic']['requests']:,} "
              f"peak_concurrency={res['traffic']['peak_concurrency_estimate']} "
              f"p95 /api/chat={res['traffic']['latency']['/api/chat']['p95_s']} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
