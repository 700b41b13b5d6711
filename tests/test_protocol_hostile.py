"""The wire layer against hostile bytes, without a network: the one guarded JSON decode, the bounded
inflater, line splitting (SSE's three line ends, pieces split anywhere) and decoders fed fields of
every wrong type. The end-to-end cases (real sockets, the CLI) are in tests/faults/test_network2_faults.py."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib

import httpx
import pytest

import migrate.protocol.client as client
from migrate.protocol import ollama, openai, serverjson
from migrate.protocol.serverjson import MAX_DEPTH, InvalidServerJSON, too_deep

# -- the guarded decode ---------------------------------------------------------------------------


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def test_nesting_up_to_the_limit_decodes_and_past_it_is_refused():
    assert serverjson.loads(nested(MAX_DEPTH)) is not None
    assert serverjson.loads('{"a":' * (MAX_DEPTH - 1) + "[]" + "}" * (MAX_DEPTH - 1)) is not None
    for text in (nested(MAX_DEPTH + 1), nested(100_000), '{"a":' * 5000 + "1" + "}" * 5000):
        with pytest.raises(InvalidServerJSON, match="nested deeper than 64 levels"):
            serverjson.loads(text)


def test_brackets_in_strings_neither_count_nor_hide_depth():
    # Brackets and quotes inside strings (escaped quotes too) are text, not structure...
    shallow = json.dumps({"a": ["[" * 500, '"]]]"', "\\[[", "{" * 200]})
    assert not too_deep(shallow) and serverjson.loads(shallow)["a"][0] == "[" * 500
    # ...so a "]" in a string cannot close a level and pass a deep document off as a shallow one.
    hidden = '["]",' * 5000 + "1" + "]" * 5000
    assert too_deep(hidden)
    with pytest.raises(InvalidServerJSON):
        serverjson.loads(hidden)


def test_invalid_json_is_a_value_error_as_before():
    for text in ("{oops", "[1,", '"\x1b raw control"', nested(10)[:-1]):
        with pytest.raises(ValueError):
            serverjson.loads(text)


@pytest.mark.parametrize(
    "text, value",
    [
        ("NaN", None),
        ("[Infinity, -Infinity]", [None, None]),
        ('{"size": 1e999, "small": -1e-999}', {"size": None, "small": -0.0}),
        ("1" + "0" * 400 + ".5", None),  # a float literal past the float range
        ("1" + "0" * 30, None),  # wider than 64 bits: no server's integer
        ("-18446744073709551615", -18446744073709551615),
        ("9" * 5000, None),  # (Python refuses to convert more than 4,300 digits)
        ('{"x": [1.5, 2, true, null]}', {"x": [1.5, 2, True, None]}),
    ],
)
def test_numbers_that_json_cannot_carry_become_null(text, value):
    assert serverjson.loads(text) == value


# -- the inflater ---------------------------------------------------------------------------------


class Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]):
        self.chunks = chunks

    async def __aiter__(self):
        for chunk in self.chunks:
            yield chunk


def response(chunks: list[bytes], **headers: str) -> httpx.Response:
    return httpx.Response(200, headers={k.replace("_", "-"): v for k, v in headers.items()}, stream=Chunks(chunks))


def pieces(resp: httpx.Response, limit: int = 1 << 30) -> list[bytes]:
    async def collect():
        return [chunk async for chunk in client._chunks(resp, 5.0, limit)]

    return asyncio.run(collect())


def test_a_bomb_is_inflated_in_bounded_steps_and_stopped_at_the_cap():
    bomb = gzip.compress(b"\0" * (8 << 20))  # 8 MiB from ~8 KB: one raw chunk
    got = pieces(response([bomb], content_encoding="gzip"))
    assert max(map(len, got)) <= client.INFLATE_STEP and sum(map(len, got)) == 8 << 20
    with pytest.raises(client._TooLarge):
        pieces(response([bomb], content_encoding="gzip"), limit=1 << 20)


def test_bytes_after_the_compressed_stream_are_ignored():
    body = gzip.compress(b'{"ok": true}') + b"\0" * (4 << 20)
    assert b"".join(pieces(response([body[:10], body[10:]], content_encoding="gzip"))) == b'{"ok": true}'


@pytest.mark.parametrize(
    "encoding, body",
    [
        ("gzip", gzip.compress(b"hello")),
        ("x-gzip", gzip.compress(b"hello")),
        ("deflate", zlib.compress(b"hello")),
        ("deflate", zlib.compress(b"hello")[2:-4]),  # raw deflate, as some servers send it
        ("gzip, identity", gzip.compress(b"hello")),
        ("deflate, gzip", gzip.compress(zlib.compress(b"hello"))),  # applied in order, undone in reverse
        ("", b"hello"),
    ],
)
def test_every_encoding_asked_for_decodes_in_any_pieces(encoding, body):
    split = [body[i : i + 1] for i in range(len(body))]  # one byte at a time: the worst split
    assert b"".join(pieces(response(split, content_encoding=encoding))) == b"hello"


@pytest.mark.parametrize("encoding, body", [("br", b"\x1b\x00"), ("zstd", b"("), ("gzip", b"not gzip at all")])
def test_other_or_broken_encodings_are_decoding_errors(encoding, body):
    with pytest.raises(httpx.DecodingError):
        pieces(response([body], content_encoding=encoding))


# -- lines ----------------------------------------------------------------------------------------


def lines(chunks: list[bytes], ctype: str) -> list[str]:
    async def collect():
        return [line async for line in client._lines(response(chunks, content_type=ctype), 5.0, 1 << 20)]

    return asyncio.run(collect())


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_sse_lines_end_at_cr_lf_or_crlf_however_the_bytes_are_split(size):
    body = b"data: a\r\ndata: b\rdata: c\n\r\n: x\r\r"
    split = [body[i : i + size] for i in range(0, len(body), size)]
    assert lines(split, "text/event-stream") == ["data: a", "data: b", "data: c", "", ": x", ""]


def test_ndjson_lines_end_at_lf_only():
    body = b'{"a": 1}\r\n{"b":\r2}\n'
    assert lines([body[:9], body[9:]], "application/x-ndjson") == ['{"a": 1}', '{"b":\r2}']


# -- decoders fed the wrong type in every field ---------------------------------------------------

_ODD = [None, 1, 1.5, True, "s", [], [1], {}, {"x": 1}, ["s"], [{}]]


def _variants(base):
    """``base`` with each value (recursively) replaced by each odd value in turn."""

    def paths(value, prefix=()):
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, child in children:
            yield prefix + (key,)
            yield from paths(child, prefix + (key,))

    for path in list(paths(base)):
        for odd in _ODD:
            copy = json.loads(json.dumps(base))
            holder = copy
            for key in path[:-1]:
                holder = holder[key]
            holder[path[-1]] = odd
            yield copy
    yield from _ODD


_OLLAMA = {
    "model": "m",
    "message": {"role": "assistant", "content": "x", "thinking": "t",
                "tool_calls": [{"id": "a", "function": {"index": 0, "name": "f", "arguments": {"a": 1}}}]},
    "done": True, "done_reason": "stop", "prompt_eval_count": 1, "eval_count": 2, "total_duration": 3, "context": [1],
}  # fmt: skip
_OPENAI_CHUNK = {
    "model": "m", "system_fingerprint": "f", "usage": {"prompt_tokens": 1, "completion_tokens": 2},
    "choices": [{"index": 0, "finish_reason": "stop",
                 "delta": {"role": "assistant", "content": "x", "reasoning_content": "r",
                           "tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{}"}}]}}],
}  # fmt: skip
_OPENAI_BODY = {
    "model": "m", "usage": {"prompt_tokens": 1, "completion_tokens": 2},
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "x", "reasoning": "r",
                             "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]}}],
}  # fmt: skip


def _check(ex) -> None:
    json.dumps(ex.result_dict(), allow_nan=False)
    ex.timings.summary()
    assert ex.content is None or isinstance(ex.content, str)
    assert ex.usage.completion_tokens is None or isinstance(ex.usage.completion_tokens, int)


@pytest.mark.parametrize(
    "decode, base, framing",
    [
        (ollama.decode_lines, _OLLAMA, "ndjson"),
        (openai.decode_lines, _OPENAI_CHUNK, "sse"),
        (openai.decode_lines, _OPENAI_BODY, "body"),
    ],
    ids=["ollama", "openai-stream", "openai-body"],
)
def test_a_field_of_the_wrong_type_is_absent_not_a_crash(decode, base, framing):
    for variant in _variants(base):
        line = json.dumps(variant)
        if framing == "sse":
            _check(decode([f"data: {line}", "", "data: [DONE]", ""]))
        else:
            _check(decode([line], stream=framing == "ndjson"))
            _check(decode([line], stream=False))
        _check(decode([line], status=400))
