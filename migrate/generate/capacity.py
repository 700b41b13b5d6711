"""Memory per replica with its arithmetic, so the plan's hardware claim can be checked by hand."""

from __future__ import annotations

import math
from typing import Optional

GIB = 1024**3
# Bits per weight of each format (block scales included), used for the weight term.
BITS_PER_WEIGHT = {
    "bf16": 16.0,
    "fp16": 16.0,
    "fp8": 8.0,
    "int8": 8.0,
    "awq-int4": 4.25,  # 4-bit + group-128 scales/zeros
    "gptq-int4": 4.25,
    "mxfp4": 4.25,  # gpt-oss experts; attention stays bf16 (small share)
    "ov-int4": 4.25,
    "q4f16_1": 4.5,  # MLC 4-bit, group 32 fp16 scales
    "exl3-4.5bpw": 4.5,
    "Q4_0": 4.5,
    "Q4_K_M": 4.85,
    "Q4_K_S": 4.58,
    "Q5_K_M": 5.69,
    "Q6_K": 6.56,
    "Q8_0": 8.5,
    "F16": 16.0,
    "BF16": 16.0,
}
RUNTIME_RESERVE = 0.10  # activations, CUDA graphs, fragmentation: a share of weights + KV
GPU_UTILISATION = 0.90  # what an engine is allowed to take of each card


def estimate(
    *,
    params: Optional[int],
    fmt: str,
    arch: dict,
    context: int,
    concurrency: int,
    gpu_memory_gib: Optional[float],
    tp: int,
    kv_bytes: int = 2,
) -> dict:
    lines: list[str] = []
    bits = BITS_PER_WEIGHT.get(fmt)
    if not params or bits is None:
        return {
            "complete": False,
            "lines": [f"weights: unknown ({'no parameter count' if not params else 'format ' + fmt})"],
            "total_gib": None,
            "gpus_needed": None,
        }
    weights = params * bits / 8
    lines.append(f"weights  = {params:,} params x {bits} bits / 8 ({fmt}) = {weights / GIB:.2f} GiB")
    layers, kvh = arch.get("layers"), arch.get("kv_heads")
    hd = arch.get("head_dim") or arch.get("head_dim_fallback")
    if layers and kvh and hd:
        per_token = layers * kvh * hd * 2 * kv_bytes
        kv = per_token * context * concurrency
        lines.append(
            f"kv/token = {layers} layers x {kvh} KV heads x {hd} head dim x 2 (K,V) x {kv_bytes} bytes = {per_token:,} bytes"
        )
        lines.append(
            f"kv cache = {per_token:,} x {context:,} tokens x {concurrency} concurrent = {kv / GIB:.2f} GiB (worst case: every sequence at full context)"
        )
    else:
        kv = 0
        lines.append("kv cache = unknown (layer/KV-head counts missing from /api/show and the catalog)")
    reserve = (weights + kv) * RUNTIME_RESERVE
    total = weights + kv + reserve
    lines.append(f"reserve  = {RUNTIME_RESERVE:.0%} of (weights + kv) = {reserve / GIB:.2f} GiB")
    lines.append(f"replica  = {total / GIB:.2f} GiB")
    gpus_needed = None
    if gpu_memory_gib:
        usable = gpu_memory_gib * GPU_UTILISATION
        gpus_needed = max(1, math.ceil(total / GIB / usable))
        lines.append(
            f"gpus     = ceil({total / GIB:.2f} / ({gpu_memory_gib} GiB x {GPU_UTILISATION})) = {gpus_needed}"
            f" (tensor parallel {tp} {'fits' if gpus_needed <= tp else 'does NOT fit: lower context/concurrency or add GPUs'})"
        )
    else:
        lines.append("gpus     = unknown (GPU memory not known: pass --gpus with a known model)")
    return {
        "complete": bool(kv),
        "lines": lines,
        "weights_gib": round(weights / GIB, 2),
        "kv_gib": round(kv / GIB, 2),
        "total_gib": round(total / GIB, 2),
        "gpus_needed": gpus_needed,
    }


# Tensor parallel beyond this spans more GPUs than one scale-up (NVLink) domain holds (NVL72: 72 GPUs);
# more GPUs than that serve a model as replicas or pipeline stages, not as a wider TP.
MAX_TP = 64


def tensor_parallel(gpu_count: int, arch: dict) -> int:
    """Largest TP <= GPU count (and <= MAX_TP) that divides the attention and KV head counts (engines
    require it). The search is bounded by MAX_TP, whatever the count: a plan file may say anything."""
    heads, kvh = arch.get("heads"), arch.get("kv_heads")
    for tp in range(max(1, min(gpu_count, MAX_TP)), 0, -1):
        if (not heads or heads % tp == 0) and (not kvh or kvh % tp == 0 or tp % kvh == 0):
            return tp
    return 1
