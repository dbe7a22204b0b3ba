"""Chat Completions: the ``chat.completion.chunk`` stream."""

from __future__ import annotations

from .wire import DEFAULT_T0, JSON, sse_frame, text_deltas

__all__ = ["chat_stream"]


def chat_stream(
    finish_reason: str | None = "stop",
    *,
    id: str = "chatcmpl-demo0001",
    model: str = "gpt-4o-mini-2024-07-18",
    deltas: int = 5,
    include_usage: bool = True,
    tool_calls: int = 0,
    t0: int = DEFAULT_T0,
    prompt_tokens: int = 19,
    cached_tokens: int = 0,
    done: bool = True,
) -> bytes:
    """The body of ``POST /v1/chat/completions`` (``stream=true``).

    ``data:`` lines only; ``chat.completion.chunk`` objects; the last choice chunk carries
    ``finish_reason``; with ``include_usage`` (``stream_options={"include_usage": true}``) a chunk
    with ``choices: []`` and the usage follows; then ``data: [DONE]`` (unless ``done=False``).
    ``finish_reason=None`` cuts the stream before any finish reason (and before usage and
    ``[DONE]``). ``tool_calls`` > 0 streams that many function calls (use
    ``finish_reason="tool_calls"``); ``finish_reason="function_call"`` streams a legacy one.

    >>> chat_stream("length").endswith(b"data: [DONE]\\n\\n")
    True
    """
    frames: list[bytes] = []

    def chunk(choices: list[JSON], usage: JSON | None = None) -> None:
        data: JSON = {
            "id": id,
            "object": "chat.completion.chunk",
            "created": t0,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_demo",
            "choices": choices,
        }
        if include_usage:
            data["usage"] = usage
        frames.append(sse_frame(data))

    def choice(delta: JSON, finish: str | None = None) -> JSON:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    completion_tokens = deltas
    if finish_reason == "function_call":
        chunk(
            [
                choice(
                    {
                        "role": "assistant",
                        "content": None,
                        "function_call": {"name": "get_weather", "arguments": ""},
                    }
                )
            ]
        )
        chunk([choice({"function_call": {"arguments": '{"city":"Paris"}'}})])
        completion_tokens = 12
    elif tool_calls:
        chunk([choice({"role": "assistant", "content": None, "refusal": None})])
        for i in range(tool_calls):
            call = {
                "index": i,
                "id": f"call_{id[-8:]}_{i}",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
            chunk([choice({"tool_calls": [call]})])
            for piece in ('{"city":', '"Paris"}'):
                chunk([choice({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})])
        completion_tokens = 12 * tool_calls
    else:
        chunk([choice({"role": "assistant", "content": "", "refusal": None})])
        for word in text_deltas(deltas):
            chunk([choice({"content": word})])
    if finish_reason is None:
        return b"".join(frames)
    chunk([choice({}, finish_reason)])
    if include_usage:
        chunk(
            [],
            usage={
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
        )
    if done:
        frames.append(sse_frame("[DONE]"))
    return b"".join(frames)
