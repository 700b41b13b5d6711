"""A real LiteLLM proxy for the test bed: its own cached venv (``litellm[proxy]``, pinned).

Built once into ``${XDG_CACHE_HOME:-~/.cache}/ollama-migrate/litellm-venv`` with the same
build-into-temp, rename, then marker scheme as the vLLM venv (a crash never leaves a venv a later
call trusts). Pinned to 1.108.7: newer ``[proxy]`` extras pin companion packages the index lacks
and pip backtracks through hundreds of MB first (testbed.md). The console script is not used
(its shebang would name the temp build dir); start the proxy with ``python -m litellm.proxy.proxy_cli``.
``python -m migrate.testbed.litellm_env`` builds (or reuses) and prints the interpreter path.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .vllm_env import Progress, _dir_bytes, _run, build_once

LITELLM_SPEC = "litellm[proxy]==1.108.7"
PROXY_MODULE = "litellm.proxy.proxy_cli"


@dataclass(frozen=True)
class LitellmEnv:
    python: Path
    version: str
    root: Path
    built: bool

    def proxy_argv(self, config: str | os.PathLike, host: str, port: int) -> list[str]:
        return [str(self.python), "-m", PROXY_MODULE, "--config", str(config), "--host", host, "--port", str(port)]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ollama-migrate" / "litellm-venv"


def _build(tmp: Path, log_path: Path, progress: Progress) -> dict:
    started = time.monotonic()
    py = tmp / "bin" / "python"
    _run([sys.executable, "-m", "venv", tmp], log_path, "create venv", progress)
    _run(
        [py, "-m", "pip", "--disable-pip-version-check", "install", LITELLM_SPEC],
        log_path,
        f"pip install {LITELLM_SPEC}",
        progress,
    )
    _run([py, "-c", f"import {PROXY_MODULE}"], log_path, "check proxy import", progress)
    version = _run(
        [py, "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        log_path,
        "read version",
        lambda _m: None,
    ).strip()
    return {"version": version, "install_seconds": round(time.monotonic() - started, 1), "bytes": _dir_bytes(tmp)}


def ensure_litellm_env(progress: Optional[Progress] = None) -> LitellmEnv:
    """Build (first call, ~35 s and ~760 MB) or reuse (later calls) the LiteLLM proxy venv."""
    progress = progress or (lambda _m: None)
    final = cache_dir()
    final.parent.mkdir(parents=True, exist_ok=True)
    log = final.parent / "build-litellm.log"

    def build(tmp: Path) -> dict:
        log.write_text("")
        return _build(tmp, log, progress)

    fingerprint = {"litellm": LITELLM_SPEC, "python": "%d.%d" % sys.version_info[:2]}
    info, built = build_once(final, fingerprint, build, final.parent / ".litellm-build.lock")
    return LitellmEnv(python=final / "bin" / "python", version=info["version"], root=final, built=built)


if __name__ == "__main__":
    env = ensure_litellm_env(lambda m: print(m, file=sys.stderr))
    print(env.python)
