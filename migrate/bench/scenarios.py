"""Scenarios: what each request of a bench asks for.

Today there is one, the ad-hoc streaming chat scenario that runs when no plan or scenario is named: a
short prompt, at most ``--max-tokens`` output tokens, on ``/api/chat`` (Ollama) or
``/v1/chat/completions`` (everything else). OpenAI requests ask for ``stream_options.include_usage``
so the server reports its own output-token count, which TPOT divides by; Ollama reports ``eval_count``
on its last line without being asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..exchange import ChatRequest, Message

ADHOC_NAME = "adhoc-chat"
ADHOC_PROMPT = (
    "Describe how a lighthouse keeper spent an ordinary day in the nineteenth century, "
    "from lighting the lamp at dusk to the morning log entry."
)


@dataclass(frozen=True)
class Scenario:
    name: str
    prompt: str
    max_tokens: int

    def request(self, model: str, index: int) -> ChatRequest:
        """The request number ``index`` of this scenario for ``model`` (the same text on both sides)."""
        request = ChatRequest(model=model, messages=[Message(role="user", content=self.prompt)], stream=True)
        request.include_usage = True  # the server's own token count, never a client re-tokenisation
        request.sampling.max_tokens = self.max_tokens
        return request

    def echo(self) -> dict:
        return {
            "name": self.name,
            "endpoint": "chat",
            "stream": True,
            "max_tokens": self.max_tokens,
            "prompt": self.prompt,
        }


def adhoc(max_tokens: int) -> Scenario:
    return Scenario(ADHOC_NAME, ADHOC_PROMPT, max_tokens)
