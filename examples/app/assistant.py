"""A small support assistant as teams write them against Ollama: the demo's "application".

It is the input of `migrate inventory --code examples/app` and, run against an Ollama server, the
source of the traffic in the server log that `migrate inventory --logs` reads.

    python examples/app/assistant.py --host http://127.0.0.1:11434 --model gemma3:270m
"""
from __future__ import annotations

import argparse
import os

import httpx

OLLAMA_HOST = os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434")

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]},
    },
}


def ask(client: httpx.Client, host: str, model: str, question: str) -> str:
    # num_ctx and keep_alive are Ollama-only knobs: the inventory must flag them.
    r = client.post(f"{host}/api/chat", json={
        "model": model, "stream": False, "keep_alive": "30m",
        "messages": [{"role": "system", "content": "You are a terse support assistant."},
                     {"role": "user", "content": question}],
        "options": {"num_ctx": 2048, "num_predict": 16, "temperature": 0.2},
    })
    r.raise_for_status()
    return r.json()["message"]["content"]


def classify(client: httpx.Client, host: str, model: str, ticket: str) -> str:
    r = client.post(f"{host}/api/generate", json={
        "model": model, "prompt": f"Classify this ticket as JSON: {ticket}", "format": "json",
        "stream": False, "options": {"num_predict": 16},
    })
    r.raise_for_status()
    return r.json()["response"]


def weather(client: httpx.Client, host: str, model: str) -> dict:
    r = client.post(f"{host}/api/chat", json={
        "model": model, "stream": False, "tools": [WEATHER_TOOL],
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "options": {"num_predict": 24},
    })
    r.raise_for_status()
    return r.json()["message"]


def summarise(client: httpx.Client, host: str, model: str, document: str) -> str:
    # Long documents: Ollama silently cuts the front of the prompt at num_ctx.
    r = client.post(f"{host}/api/chat", json={
        "model": model, "stream": False,
        "messages": [{"role": "user", "content": f"Summarise:\n{document}"}],
        "options": {"num_predict": 8},
    })
    r.raise_for_status()
    return r.json()["message"]["content"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default=OLLAMA_HOST)
    ap.add_argument("--model", default="gemma3:270m")
    args = ap.parse_args()
    with httpx.Client(timeout=120) as client:
        print("ask:", ask(client, args.host, args.model, "How do I reset my password?")[:60])
        print("classify:", classify(client, args.host, args.model, "printer on fire")[:60])
        print("weather:", str(weather(client, args.host, args.model))[:80])
        document = " ".join(f"Paragraph {i}: the quarterly report lists revenue and costs."
                            for i in range(400))
        print("summarise:", summarise(client, args.host, args.model, document)[:60])


if __name__ == "__main__":
    main()
