"""`make demo`: the whole job end to end on local backends, no GPU, nothing from the network.

Starts a real llama.cpp engine with an Ollama-API test server in front of it (the "old" backend, as
an application sees Ollama today) and a real vLLM CPU server (the "new" backend; llama.cpp is the
fallback if the vLLM environment cannot be built here), then runs, as a platform engineer would:
probe -> send -> the application's traffic -> inventory -> plan -> generate -> compat -> canary.
Every step is a real `migrate` command; its output is printed as it comes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "demo-out"
MIGRATE = [sys.executable, "-m", "migrate"]
OLD_TAG = "gemma3:270m"
ALIAS = "support-assistant"


def banner(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def run(args: list[str], ok=(0,), **kw) -> int:
    """Run one command, echo it like a shell would, and stop the demo on an unexpected exit code."""
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    print(f"$ {shown.replace(' '.join(MIGRATE), 'migrate')}", flush=True)
    kw.setdefault("env", dict(os.environ))
    kw["env"].setdefault("COLUMNS", "150")  # rich tables: readable when not on a terminal
    rc = subprocess.run(args, cwd=OUT, **kw).returncode
    if rc not in ok:
        print(f"demo: step failed with exit code {rc}", file=sys.stderr)
        sys.exit(rc)
    return rc


def start_backends(stack: ExitStack):
    from migrate.testbed.llamacpp import LlamaCppServer
    from migrate.testbed.ollama_server import OllamaTestServer

    engine = stack.enter_context(LlamaCppServer(n_ctx=8192, n_parallel=2))
    ollama = OllamaTestServer(
        engine.url,
        num_ctx=2048,
        num_parallel=1,
        max_queue=512,
        engine_ctx_per_slot=engine.n_ctx_per_slot,
        gguf_path=engine.model_path,
        log_path=OUT / "ollama-server.log",
    )
    ollama.start()
    stack.callback(ollama.stop)
    print(f"old: Ollama-API test server {ollama.url} (over llama.cpp {engine.url})")

    try:
        from migrate.testbed.vllm_env import ensure_vllm_env
        from migrate.testbed.vllm_server import VllmServer

        env = ensure_vllm_env()
        vllm = stack.enter_context(VllmServer(env))
        print(f"new: vLLM {env.version} on the CPU at {vllm.url}")
        return ollama, ("vllm", vllm.url, "gemma-3-270m")
    except Exception as exc:  # noqa: BLE001 - any failure means: fall back, and say so
        print(
            f"new: vLLM could not be started here ({exc}); FALLING BACK to a second llama.cpp "
            "engine as the new backend",
            file=sys.stderr,
        )
        other = stack.enter_context(LlamaCppServer(n_ctx=4096, n_parallel=2))
        return ollama, ("llamacpp", other.url, "gemma3-270m")


def main() -> int:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    started = time.perf_counter()
    with ExitStack() as stack:
        banner("Start the local backends")
        ollama, (new_kind, new_url, new_model) = start_backends(stack)

        banner("What is behind each URL")
        run(MIGRATE + ["probe", ollama.url])
        run(MIGRATE + ["probe", new_url])

        banner("One request each way (stream and non-stream)")
        run(
            MIGRATE
            + [
                "send",
                "--url",
                ollama.url,
                "--protocol",
                "ollama",
                "--model",
                OLD_TAG,
                "--prompt",
                "Say hello.",
                "--max-tokens",
                "12",
                "--temperature",
                "0",
            ]
        )
        run(
            MIGRATE
            + [
                "send",
                "--url",
                new_url,
                "--protocol",
                "openai",
                "--model",
                new_model,
                "--prompt",
                "Say hello.",
                "--max-tokens",
                "12",
                "--temperature",
                "0",
                "--stream",
            ]
        )

        banner("The application runs against Ollama (its traffic lands in the server log)")
        run([sys.executable, str(REPO / "examples/app/assistant.py"), "--host", ollama.url, "--model", OLD_TAG])

        banner("1. Inventory: live server + its log + the application's code")
        run(
            MIGRATE
            + [
                "inventory",
                "--ollama",
                ollama.url,
                "--logs",
                "ollama-server.log",
                "--code",
                str(REPO / "examples/app"),
                "-o",
                "inventory.json",
            ]
        )

        banner("2. Plan (the hardware is the team's answer, not observable: one L4 here)")
        run(MIGRATE + ["plan", "--inventory", "inventory.json", "--gpus", "1xL4", "--format", "md", "-o", "plan.json"])

        banner("2b. Generate launch files and the gateway config")
        run(
            MIGRATE
            + [
                "generate",
                "--target",
                "vllm",
                "--inventory",
                "inventory.json",
                "--plan",
                "plan.json",
                "--alias",
                f"{ALIAS}={OLD_TAG}",
                "--ollama-url",
                ollama.url,
                "--engine-url",
                new_url,
                "--out",
                "generated",
            ]
        )
        gateway = OUT / "generated" / "gateway.yaml"
        run(MIGRATE + ["validate", str(gateway)])

        banner(f"3. Compat: the same cases against Ollama and {new_kind}")
        t0 = time.perf_counter()
        rc = run(
            MIGRATE
            + [
                "compat",
                "--from",
                "ollama",
                "--to",
                new_kind,
                "--from-url",
                ollama.url,
                "--to-url",
                new_url,
                "--model",
                f"{OLD_TAG}={new_model}",
                "--check-metrics",
                "--json",
                "report.json",
                "--markdown",
                "report.md",
                "--junit",
                "junit.xml",
            ],
            ok=(0, 1, 4),
        )
        print(
            f"compat finished in {time.perf_counter() - t0:.1f} s with exit code {rc} "
            "(1 = regressions found: the differences the report lists)"
        )

        banner("4. Canary: the weight the evidence supports, applied to the gateway config")
        config = yaml.safe_load(gateway.read_text())
        backends = config["models"][ALIAS]["backends"]
        candidate = next(b["name"] for b in backends if "ollama" not in b["name"])
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        run(
            ["bash", str(REPO / "examples/canary/demo_step.sh"), "report.json", str(gateway), ALIAS, candidate], env=env
        )
    print(f"\ndemo finished in {time.perf_counter() - started:.0f} s; files in {OUT.relative_to(REPO)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
