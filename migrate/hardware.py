"""Hardware facts: a ``--gpus`` spec -> count, vendor, class and memory (``migrate/data/gpus.yaml``)."""

from __future__ import annotations

import re

from .datafiles import package_data
from .errors import UsageError

# A --gpus count is one deployment's GPUs. Past a few thousand it is a typo or hostile input, and the
# numbers derived from it (tensor parallel, memory per card) would mean nothing: docs/plan.md.
MAX_GPUS = 4096
MAX_MODEL_CHARS = 64
_SEPARATOR = re.compile(r"\s*[x×*]\s*", re.IGNORECASE)
# A model name: starts with a letter, then letters, digits, spaces, '-', '_', '.' (ASCII only: nothing a
# terminal or a generated YAML/shell file could read as anything but a name).
_MODEL = re.compile(rf"[A-Za-z][A-Za-z0-9 ._-]{{1,{MAX_MODEL_CHARS - 1}}}")
_COUNT = re.compile(r"[0-9]{1,6}")
_NOT_A_NAME = {"nan", "inf", "infinity"}


def gpu_table() -> list:
    return package_data("gpus.yaml")["gpus"]


def vendor_classes() -> dict[str, list]:
    """vendor -> the GPU classes its cards fall in, in the order --gpu-vendor lists the vendors."""
    return package_data("gpus.yaml")["vendors"]


VENDORS = tuple(vendor_classes())


def _shown(spec: str) -> str:
    """The value for a message: quoted with control characters escaped, long values cut."""
    return repr(spec[:80]) + ("..." if len(spec) > 80 else "")


def parse_gpus(spec: str) -> dict:
    """``2xRTX4090`` -> {count: 2, model: RTX4090, vendor: nvidia, class: consumer, memory_gib: 24}.

    ``[COUNTx]MODEL``: COUNT a whole number 1..MAX_GPUS (``×`` and ``*`` work as the ``x``), MODEL a
    name (``_MODEL``). Anything else is a UsageError (exit 2) quoting the value escaped. A model not
    in the table is allowed (vendor, class and memory unknown): new cards come out all the time.
    """
    text = (spec or "").strip(" \t")
    usage = f"--gpus {_shown(spec or '')}: expected [COUNTx]MODEL, e.g. 2xRTX4090, 8xH100 or L40S"
    sep = _SEPARATOR.search(text)
    head = text[: sep.start()] if sep else ""
    # "2xH100", "-1xH100", "1.5xH100", "nanxH100": what comes before the x is meant as a count.
    if sep and head and (not head[0].isalpha() or head.lower() in _NOT_A_NAME):
        if not _COUNT.fullmatch(head) or not 1 <= int(head) <= MAX_GPUS:
            raise UsageError(f"--gpus {_shown(spec)}: the GPU count must be a whole number from 1 to {MAX_GPUS:,}")
        count, model = int(head), text[sep.end() :]
    else:
        count, model = 1, text
    if not _MODEL.fullmatch(model):
        raise UsageError(usage)
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
