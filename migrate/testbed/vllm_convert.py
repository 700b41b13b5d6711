"""Convert the test-bed GGUF into a Hugging Face safetensors folder that vLLM can load.

Runs INSIDE the vLLM venv (``<venv>/bin/python vllm_convert.py --gguf G --out DIR``): torch and
transformers live there, not in the project venv. It therefore imports nothing from ``migrate``.

Why each step (see the test-bed reference, "A real vLLM on this CPU"):
- vLLM 0.32 has no GGUF loader in core, so the weights must become an HF folder once.
- transformers dequantizes a GGUF on load, but refuses to ``save_pretrained`` a model that still
  carries the GGUF quantization config; a fresh model built from the same config without it, with
  the dequantized state dict loaded into it, saves normally.
- The tokenizer converted from GGUF does not add BOS; Gemma degenerates without it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def convert(gguf: Path, out: Path) -> dict:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    started = time.monotonic()
    src_dir, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=name)
    # Loading with gguf_file dequantizes every tensor to float32.
    quantized = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=name, dtype=torch.float32)
    state = quantized.state_dict()

    config = AutoConfig.from_pretrained(src_dir, gguf_file=name)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.torch_dtype = torch.bfloat16
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(state, strict=False)
    # Tied weights (lm_head = embeddings) may legitimately be absent from one side; anything
    # else means the conversion silently dropped weights, which must not pass.
    tied = {"lm_head.weight"}
    bad_missing = [k for k in missing if k not in tied]
    if bad_missing or unexpected:
        raise RuntimeError(f"state dict mismatch: missing={bad_missing[:5]} unexpected={list(unexpected)[:5]}")
    del quantized, state
    fresh = fresh.to(torch.bfloat16)
    fresh.tie_weights()

    out.mkdir(parents=True, exist_ok=True)
    fresh.save_pretrained(str(out), safe_serialization=True)
    tokenizer.add_bos_token = True
    tokenizer.save_pretrained(str(out))
    # Check what vLLM will see: the saved tokenizer must start every prompt with BOS.
    ids = AutoTokenizer.from_pretrained(str(out))("hi").input_ids
    if not ids or ids[0] != tokenizer.bos_token_id:
        raise RuntimeError(f"saved tokenizer does not add BOS (ids {ids[:3]}, bos {tokenizer.bos_token_id})")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "out": str(out),
        "seconds": round(time.monotonic() - started, 1),
        "bytes": size,
        "architecture": (config.architectures or ["?"])[0],
        "parameters": sum(p.numel() for p in fresh.parameters()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        result = convert(args.gguf, args.out)
    except Exception as exc:  # the caller shows our last line; make it the cause
        print(f"conversion failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
