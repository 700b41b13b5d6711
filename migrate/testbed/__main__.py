"""``python -m migrate.testbed``: start the llama.cpp engine and the Ollama-API test server,
print their URLs as ONE JSON line on stdout, run until SIGTERM/SIGINT, then stop both."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .llamacpp import EngineStartError, LlamaCppServer
from .ollama_server import OllamaTestServer


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m migrate.testbed", description=__doc__)
    ap.add_argument("--n-ctx", type=int, default=8192, help="engine total context (split across slots)")
    ap.add_argument("--n-parallel", type=int, default=2, help="engine slots")
    ap.add_argument("--num-ctx", type=int, default=2048, help="Ollama default context (OLLAMA_CONTEXT_LENGTH)")
    ap.add_argument("--num-parallel", type=int, default=1, help="OLLAMA_NUM_PARALLEL")
    ap.add_argument("--max-queue", type=int, default=512, help="OLLAMA_MAX_QUEUE")
    ap.add_argument("--log", default=None, help="Ollama-format server log path")
    args = ap.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    engine = LlamaCppServer(n_ctx=args.n_ctx, n_parallel=args.n_parallel)
    try:
        engine.start()
    except EngineStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    try:
        ollama = OllamaTestServer(
            engine.url,
            num_ctx=args.num_ctx,
            num_parallel=args.num_parallel,
            max_queue=args.max_queue,
            engine_ctx_per_slot=engine.n_ctx_per_slot,
            gguf_path=engine.model_path,
            log_path=args.log,
        ).start()
        try:
            print(
                json.dumps(
                    {
                        "llamacpp": engine.url,
                        "ollama": ollama.url,
                        "model": ollama.model,
                        "engine_model": engine.model_alias,
                        "ollama_log": str(ollama.log_path),
                        "engine_log": str(engine.log_path),
                        "engine_start_s": round(engine.start_seconds or 0, 3),
                    }
                ),
                flush=True,
            )
            stop.wait()
        finally:
            ollama.stop()
    finally:
        engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
