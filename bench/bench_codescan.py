"""Benchmark: `migrate inventory --code` scan vs `grep -rEn` with the same prefilter pattern.

Builds a large tree (default 20,000 files) by copying the code-scan fixtures among filler source
files, then times grep and our scanner on it. Usage: python bench/bench_codescan.py [--files N]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from migrate.inventory.code import PREFILTER, scan_code  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "code", "app")
FILLER = {
    ".py": "def f{i}(x):\n    '''helper {i}'''\n    return [y * {i} for y in range(x)]\n\n" * 12,
    ".js": "export function f{i}(x) {{\n  return x.map((y) => y * {i});\n}}\n\n" * 12,
    ".go": "func f{i}(x int) int {{\n\treturn x * {i}\n}}\n\n" * 12,
    ".md": "Some prose about service {i}; nothing to see here.\n\n" * 12,
}


def build(root: str, n: int) -> None:
    rnd = random.Random(3)
    fixtures = []
    for d, _, files in os.walk(FIXTURES):
        fixtures += [os.path.join(d, f) for f in files if "node_modules" not in d and "ignored_dir" not in d]
    for i in range(n):
        sub = os.path.join(root, f"pkg{i % 200}", f"mod{i % 7}")
        os.makedirs(sub, exist_ok=True)
        if i % 50 == 0:  # 2 % of files use Ollama
            src = rnd.choice(fixtures)
            shutil.copy(src, os.path.join(sub, f"{i}_{os.path.basename(src)}"))
        else:
            ext = rnd.choice(list(FILLER))
            with open(os.path.join(sub, f"f{i}{ext}"), "w") as f:
                f.write(FILLER[ext].format(i=i))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20_000)
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="bench_code_")
    try:
        build(root, args.files)
        best_grep = best_ours = float("inf")
        for _ in range(3):  # best of 3 each: the page cache is warm after the first pass
            t = time.perf_counter()
            subprocess.run(["grep", "-rEn", PREFILTER, root], stdout=subprocess.DEVNULL, check=False)
            best_grep = min(best_grep, time.perf_counter() - t)
            t = time.perf_counter()
            res = scan_code(root)
            best_ours = min(best_ours, time.perf_counter() - t)
        st = res["stats"]
        print(f"tree : {args.files:,} files, {st['bytes_scanned'] / 1e6:.1f} MB scanned")
        print(f"grep : {best_grep:6.2f} s")
        print(
            f"ours : {best_ours:6.2f} s  ({best_ours / best_grep:.1f}x grep; target <= 5x); "
            f"{len(res['sites'])} sites in {st['files_matched']} files"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
