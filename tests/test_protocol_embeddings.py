"""migrate.protocol.embeddings: request bodies and response decoding for Ollama /api/embed, the
legacy /api/embeddings and OpenAI /v1/embeddings, on real recordings and through the client."""

from __future__ import annotations

import asyncio
import base64
import json
import struct

import httpx
import pytest

from migrate.protocol import Backend, embed_async
from migrate.protocol.embeddings import decode, encode, path, prompt_tokens


def test_request_bodies_per_route():
    assert encode("ollama", "m", ["a", "b"]) == [("/api/embed", {"model": "m", "input": ["a", "b"]})]
    assert encode("openai", "m", ["a"]) == [("/v1/embeddings", {"model": "m", "input": ["a"]})]
    # the legacy route takes one prompt per request
    assert encode("ollama", "m", ["a", "b"], legacy=True) == [
        ("/api/embeddings", {"model": "m", "prompt": "a"}),
        ("/api/embeddings", {"model": "m", "prompt": "b"}),
    ]
    with pytest.raises(ValueError):
        path("openai", legacy=True)


def test_decoding_each_shape():
    assert decode("ollama", {"embeddings": [[1, 0.5], [0, 1]]}) == [[1.0, 0.5], [0.0, 1.0]]
    assert decode("ollama", {"embedding": [0.25, 2]}, legacy=True) == [[0.25, 2.0]]
    # OpenAI: input order comes from `index`, not from the order of `data`
    body = {"data": [{"index": 1, "embedding": [2.0]}, {"index": 0, "embedding": [1.0]}]}
    assert decode("openai", body) == [[1.0], [2.0]]
    packed = base64.b64encode(struct.pack("<3f", 0.5, -1.0, 2.0)).decode()
    assert decode("openai", {"data": [{"index": 0, "embedding": packed}]}) == [[0.5, -1.0, 2.0]]


@pytest.mark.parametrize(
    "protocol, body",
    [
        ("ollama", None),
        ("ollama", {"error": "model not found"}),
        ("ollama", {"embeddings": "x"}),
        ("ollama", {"embeddings": [[1.0, "a"]]}),
        ("ollama", {"embeddings": [[True, 1.0]]}),
        ("openai", {"data": "x"}),
        ("openai", {"data": [{"index": 0, "embedding": "not base64!"}]}),
        ("openai", {"data": [{"index": 0, "embedding": base64.b64encode(b"abc").decode()}]}),
    ],
)
def test_bodies_without_vectors_decode_to_none(protocol, body):
    assert decode(protocol, body) is None


def _load(name):
    from tests import realdata_loader

    (rec,) = realdata_loader.load(name)
    return rec


def test_real_recordings_decode():
    rec = _load("ollama_api_embed_nomic_2025-08.httprr")
    assert rec.path == path("ollama")
    (vec,) = decode("ollama", json.loads(rec.lines[0]))
    assert len(vec) == 768 and abs(sum(x * x for x in vec) - 1.0) < 1e-3  # /api/embed normalises
    assert prompt_tokens("ollama", json.loads(rec.lines[0])) > 0

    rec = _load("ollama_api_embeddings_legacy_2024-05_openllmetry.yaml")
    assert rec.path == path("ollama", legacy=True) and set(rec.request) >= {"model", "prompt"}
    (vec,) = decode("ollama", json.loads(rec.lines[0]), legacy=True)
    assert len(vec) > 100 and sum(x * x for x in vec) > 2  # legacy: not normalised

    rec = _load("ollama_v1embeddings_allminilm_2024-10.yaml")
    assert rec.path == path("openai")
    (vec,) = decode("openai", json.loads(rec.lines[0]))
    assert len(vec) == 384

    rec = _load("ollama_v1embeddings_error404_model_not_found_2024-10.yaml")
    assert rec.status == 404 and decode("openai", json.loads(rec.lines[0])) is None


def _serve(handler):
    return httpx.MockTransport(handler)


def test_embed_async_sends_through_the_client_with_the_key(monkeypatch):
    monkeypatch.setenv("EMB_KEY", "sk-test")
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, json.loads(request.content), request.headers.get("authorization")))
        return httpx.Response(
            200, json={"data": [{"index": 0, "embedding": [1.0, 0.0]}], "usage": {"prompt_tokens": 3}}
        )

    backend = Backend(url="http://x/v1", protocol="openai", api_key_env="EMB_KEY")
    got = asyncio.run(embed_async(backend, "m", ["hi"], transport=_serve(handler)))
    assert got.ok and got.vectors == [[1.0, 0.0]] and got.prompt_tokens == 3 and got.status == 200
    assert seen == [("/v1/embeddings", {"model": "m", "input": ["hi"]}, "Bearer sk-test")]


def test_embed_async_legacy_one_request_per_input_and_errors():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["prompt"]
        calls.append(prompt)
        if prompt == "bad":
            return httpx.Response(500, json={"error": "llama runner process has terminated"})
        return httpx.Response(200, json={"embedding": [float(len(prompt))]})

    backend = Backend(url="http://x", protocol="ollama")
    got = asyncio.run(embed_async(backend, "m", ["a", "bb"], legacy=True, transport=_serve(handler)))
    assert got.vectors == [[1.0], [2.0]] and calls == ["a", "bb"]
    got = asyncio.run(embed_async(backend, "m", ["a", "bad", "c"], legacy=True, transport=_serve(handler)))
    assert not got.ok and got.status == 500 and "terminated" in got.error.message
    assert calls[-1] == "bad"  # stops at the first failure
