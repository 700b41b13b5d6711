"""The same team's newer service: the OpenAI SDK pointed at Ollama's /v1 layer."""
from openai import OpenAI

client = OpenAI(base_url="http://localhost:11434/v1", api_key="ollama")


def answer(question: str) -> str:
    # tool_choice is ignored by Ollama's /v1 today; a real engine will enforce it.
    resp = client.chat.completions.create(
        model="gemma3:270m",
        messages=[{"role": "user", "content": question}],
        tool_choice="required",
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    )
    return resp.choices[0].message.content
