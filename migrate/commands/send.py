"""`migrate send`: one request through the protocol layer, printed as the canonical result."""

from __future__ import annotations

import json

import click

from ..datafiles import load_user_json
from ..errors import EXIT_FAIL, EXIT_OK, EXIT_UNREACHABLE, FailedError, UnreachableError, UsageError
from ..exchange import ChatRequest, Exchange, Message
from ..protocol import Backend, Timeouts, check_seconds, parse_server_url, send
from ..redact import mask_data, mask_text, printable
from ._io import emit_json, json_mode

UNREACHABLE = ("connection_refused", "connect_timeout")


def request_from_options(
    model: str, prompt: str | None, request_file: str | None, endpoint: str, stream: bool
) -> ChatRequest:
    if (prompt is None) == (request_file is None):
        raise UsageError("give exactly one of --prompt or --request")
    if request_file is not None:
        body = load_user_json(request_file, "request")
        try:
            request = ChatRequest.from_openai(body)
        except (ValueError, TypeError, AttributeError) as exc:
            raise UsageError(f"{request_file}: not a chat-completions body: {exc}") from exc
        if model:
            request.model = model
    else:
        request = ChatRequest(model=model, messages=[Message(role="user", content=prompt)])
    if not request.model:
        raise UsageError("no model: pass --model or put 'model' in the request")
    request.endpoint = endpoint
    request.stream = stream
    return request


def exit_code_for(ex: Exchange) -> int:
    if ex.error is None:
        return EXIT_OK
    return EXIT_UNREACHABLE if ex.error.type in UNREACHABLE else EXIT_FAIL


def error_line(ex: Exchange) -> str:
    """The one ``error:`` line's text for a failed exchange (masked, terminal-safe)."""
    e = ex.error
    where = f" {ex.url}:" if e.type in UNREACHABLE else ""  # ex.url is masked
    text = f"{e.type}:{where} {mask_text(e.message)}" + (f" (HTTP {e.status})" if e.status else "")
    return printable(text)


def render_text(ex: Exchange) -> str:
    """The answer for a terminal. Everything here came from the server, so it goes through
    ``mask_text`` (a server may echo the key) and ``printable`` (newlines kept in content and
    reasoning, nowhere else); the error goes to stderr."""
    d = ex.result_dict()

    def shown(text: str, keep_newlines: bool = False) -> str:
        return printable(mask_text(text), keep_newlines=keep_newlines)

    lines = []
    if ex.reasoning:
        lines.append(shown(f"reasoning: {ex.reasoning}", keep_newlines=True))
    if ex.content:
        lines.append(shown(ex.content, keep_newlines=True))
    for tc in ex.tool_calls:
        lines.append(
            shown(
                f"tool_call {tc.name}({json.dumps(tc.arguments, ensure_ascii=False)})"
                f" id={tc.id} encoding={tc.arguments_encoding}"
            )
        )
    u, t = d["usage"], d["timings"]
    fmt = lambda v: "-" if v is None else f"{v * 1000:.1f} ms"  # noqa: E731
    lines.append(
        shown(
            f"-- status={ex.status} finish={ex.finish_reason} (raw {ex.finish_reason_raw})"
            f" prompt_tokens={u['prompt_tokens']} completion_tokens={u['completion_tokens']}"
            f" ttft={fmt(t['ttft_s'])} tpot={fmt(t['tpot_s'])} e2e={fmt(t['e2e_s'])}"
        )
    )
    if ex.truncated:
        lines.append(f"-- clipped: {', '.join(ex.truncated)} (see docs/send.md, caps)")
    return "\n".join(lines)


@click.command("send")
@click.option("--url", required=True, help="Server root, e.g. http://127.0.0.1:11434 (a trailing /v1 is accepted).")
@click.option("--protocol", type=click.Choice(["ollama", "openai"]), required=True)
@click.option("--model", default="", help="Model name (overrides 'model' in --request).")
@click.option("--prompt", default=None, help="A single user turn.")
@click.option(
    "--request",
    "request_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="An OpenAI chat-completions body (JSON); translated for Ollama's native API.",
)
@click.option("--endpoint", type=click.Choice(["chat", "generate"]), default="chat", show_default=True)
@click.option("--stream/--no-stream", default=False, show_default=True)
@click.option("--max-tokens", type=int, default=None, help="Cap the output (base models may never stop).")
@click.option("--temperature", type=float, default=None)
@click.option("--seed", type=int, default=None)
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Total seconds.")
@click.option(
    "--stall",
    type=float,
    default=30.0,
    show_default=True,
    help="Longest silence allowed once the answer has started (seconds).",
)
@click.option("--api-key-env", default=None, help="Name of an env var holding the API key.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def send_command(
    url,
    protocol,
    model,
    prompt,
    request_file,
    endpoint,
    stream,
    max_tokens,
    temperature,
    seed,
    timeout,
    stall,
    api_key_env,
    as_json,
):
    """Send one request and print the canonical result with its timings."""
    if as_json:
        json_mode()
    check_seconds(timeout, "--timeout")
    check_seconds(stall, "--stall")
    parse_server_url(url, strip_v1=protocol == "openai", what="--url")  # exit 2 before anything else
    request = request_from_options(model, prompt, request_file, endpoint, stream)
    for name, value in (("max_tokens", max_tokens), ("temperature", temperature), ("seed", seed)):
        if value is not None:
            setattr(request.sampling, name, value)
    backend = Backend(
        url=url,
        protocol=protocol,
        api_key_env=api_key_env,
        timeouts=Timeouts(read=min(60.0, timeout), stall=min(stall, timeout), total=timeout),
    )
    ex = send(backend, request)
    if as_json:
        emit_json(mask_data(ex.result_dict()))
    elif ex.status is not None:  # nothing answered: the error line on stderr says all there is
        click.echo(render_text(ex))
    code = exit_code_for(ex)
    if code == EXIT_UNREACHABLE:
        raise UnreachableError(error_line(ex))
    if code == EXIT_FAIL:
        raise FailedError(error_line(ex))
