"""What every builder shares: SSE framing, the outcome grammar, the sample text, error bodies.

Standard library only, like the whole of :mod:`runwatch.builders`.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["DEFAULT_T0", "JSON", "parse_outcome", "split_frames", "sse_frame", "text_deltas"]

#: 2025-01-01T00:00:00Z: a fixed default so transcripts do not depend on the clock.
DEFAULT_T0 = 1735689600

_WORDS = (
    "The",
    " quick",
    " brown",
    " fox",
    " jumps",
    " over",
    " the",
    " lazy",
    " dog",
    ".",
    " It",
    " was",
    " a",
    " bright",
    " cold",
    " day",
    " in",
    " April",
    ",",
    " and",
)

#: A decoded JSON object, as the builders produce it.
JSON = dict[str, Any]


def sse_frame(data: JSON | str, event: str | None = None) -> bytes:
    """One SSE frame: an optional ``event:`` line, one ``data:`` line, a blank line.

    ``data`` given as a dict is encoded as compact JSON (what the API sends); a str goes out as is.

    >>> sse_frame({"a": 1}, event="x")
    b'event: x\\ndata: {"a":1}\\n\\n'
    """
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event is not None else ""
    return f"{head}data: {text}\n\n".encode()


def split_frames(body: bytes) -> list[bytes]:
    """Split a body built here back into its frames (each still ending with a blank line).

    Only valid for the LF-framed bodies these builders produce; the demo server uses it to pace
    frames. A trailing partial frame (a truncated body) is returned as the last element.
    """
    parts = body.split(b"\n\n")
    frames = [p + b"\n\n" for p in parts[:-1]]
    if parts[-1]:
        frames.append(parts[-1])
    return frames


def parse_outcome(outcome: str) -> tuple[str, str | None]:
    """Split an outcome: ``"failed:server_error"`` -> ``("failed", "server_error")``.

    ``"completed"`` -> ``("completed", None)``.
    """
    status, sep, reason = outcome.partition(":")
    if not status:
        raise ValueError(f"empty outcome {outcome!r}")
    return status, (reason if sep and reason else None)


def text_deltas(n: int, offset: int = 0) -> list[str]:
    """The text every builder streams: ``n`` word deltas of one fixed passage, from word ``offset``.

    The demo server answers non-streaming requests with the same words.

    >>> "".join(text_deltas(4))
    'The quick brown fox'
    """
    return [_WORDS[(offset + i) % len(_WORDS)] for i in range(n)]


# The error bodies, usage and text below are shared by the per-API modules; users see them only
# inside the objects and streams those build.
def _error_message(code: str) -> str:
    messages = {
        "server_error": "The server had an error while processing your request. Sorry about that!",
        "rate_limit_exceeded": "Rate limit reached for requests. Please try again in 2s.",
        "invalid_prompt": (
            "Invalid prompt: your prompt was flagged as potentially violating our usage policy."
        ),
        "insufficient_quota": "You exceeded your current quota, please check your plan and billing details.",
        "vector_store_timeout": "The vector store search timed out.",
        "max_output_tokens": "The model reached its output token limit before finishing the response.",
        "context_length_exceeded": "The request exceeds the model's context window.",
        "usage_limit_exceeded": "The organization has reached a usage, plan, or billing limit.",
        "session_budget_exceeded": "The session has exhausted its token budget.",
    }
    return messages.get(code, f"The request failed with code {code}.")


def _error_type(code: str) -> str:
    if code in ("rate_limit_exceeded", "insufficient_quota", "usage_limit_exceeded"):
        return "rate_limit_error" if code == "rate_limit_exceeded" else "insufficient_quota"
    if code in ("invalid_prompt", "context_length_exceeded"):
        return "invalid_request_error"
    return "server_error"


def _usage_responses(input_tokens: int, output_tokens: int, cached: int = 0, reasoning: int = 0) -> JSON:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }
