"""Hardware facts: a ``--gpus`` spec -> count, vendor, class and memory (``migrate/data/gpus.yaml``)."""

from __future__ import annotations

import re

from .datafiles import package_data
from .errors import UsageError

_GPUS_RE = re.compile(r"^\s*(?:(\d+)\s*[x×*]\s*)?(.+?)\s*$", re.IGNORECASE)


def gpu_table() -> list:
    return package_data("gpus.yaml")["gpus"]


def vendor_classes() -> dict[str, list]:
    """vendor -> the GPU classes its cards fall in, in the order --gpu-vendor lists the vendors."""
    return package_data("gpus.yaml")["vendors"]


VENDORS = tuple(vendor_classes())


def parse_gpus(spec: str) -> dict:
    """``2xRTX4090`` -> {count: 2, model: RTX4090, vendor: nvidia, class: consumer, memory_gib: 24}."""
    m = _GPUS_RE.match(spec or "")
    if not m or not m.group(2):
        raise UsageError(f"--gpus {spec!r}: expected COUNTxMODEL, e.g. 2xRTX4090 or 8xH100")
    count = int(m.group(1) or 1)
    if count < 1:
        raise UsageError(f"--gpus {spec!r}: GPU count must be at least 1")
    model = m.group(2).strip()
    key = re.sub(r"[\s_\-]", "", model.lower())
    for row in gpu_table():
        if re.search(row["match"], key):
            return {
                "count": count,
                "model": model,
                "vendor": row["vendor"],
                "class": row["class"],
                "memory_gib": row["memory_gib"],
            }
    return {"count": count, "model": model, "vendor": None, "class": None, "memory_gib": None}
