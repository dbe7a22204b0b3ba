"""Chat Completions chunks: ``data:`` lines only, ``finish_reason`` per choice, ``[DONE]``.

There is no status: a chunk's ``finish_reason`` decides the outcome, and the usage chunk (with
``stream_options.include_usage``) arrives after it, so the run ends at ``[DONE]`` or end of stream.
Compatible servers bend this: no finish reason at all before ``[DONE]`` (Snowflake Cortex: the run
completed, :data:`NO_FINISH_REASON`), a first chunk that is only the prompt's content-filter
results (Azure: :func:`is_chunk`, :func:`prompt_filtered`), errors inside ordinary chunks
(OpenRouter, vLLM: :data:`ERROR_MARK`).
"""

from __future__ import annotations

from itertools import repeat
from operator import contains
from typing import Final

from .._events import JSONObject
from . import Protocol, StatusKind

#: finish_reason -> terminal status. ``length`` and ``content_filter`` are the incomplete outcomes.
FINISH_REASONS: Final[dict[str, str]] = {
    "stop": "completed",
    "tool_calls": "completed",
    "function_call": "completed",
    "length": "incomplete",
    "content_filter": "incomplete",
    # A proxy's in-band error (OpenRouter); its error object, when there is one, names the code.
    "error": "failed",
}

#: The reason of a chat that ended cleanly (``[DONE]``) without any finish reason: Snowflake
#: Cortex streams carry no ``finish_reason`` key at all, then usage, then ``[DONE]``; the SDK sees
#: a success. Completed, with anomaly ``missing_finish_reason``.
NO_FINISH_REASON: Final = "no_finish_reason"


def is_chunk(payload: JSONObject) -> bool:
    """True if an unnamed frame's ``payload`` is a chat completion chunk: its ``object`` says so,
    or it has the ``choices`` list only chunks have. Azure's first chunk has ``"object": ""``,
    ``"id": ""`` and ``"choices": []`` beside the prompt's content-filter results.

    >>> is_chunk({"object": "", "id": "", "choices": [], "prompt_filter_results": []})
    True
    """
    return payload.get("object") == "chat.completion.chunk" or (
        isinstance(payload.get("choices"), list) and "type" not in payload
    )


def prompt_filtered(payload: JSONObject) -> bool:
    """True if Azure's ``prompt_filter_results`` (first chunk, or a whole completion) say a
    content filter blocked the prompt (``filtered: true`` in any category); annotations that
    blocked nothing are not an outcome.

    >>> prompt_filtered({"prompt_filter_results": [{"content_filter_results": {"hate": {"filtered": True}}}]})
    True
    """
    results = payload.get("prompt_filter_results")
    if not isinstance(results, list):
        return False
    for result in results:
        categories = result.get("content_filter_results") if isinstance(result, dict) else None
        if isinstance(categories, dict) and any(
            isinstance(c, dict) and c.get("filtered") is True for c in categories.values()
        ):
            return True
    return False


#: A compact chunk whose choices have not finished and carry no tool call is a plain delta.
DELTA_MARK: Final = '"finish_reason":null'
# One scan covers both "tool_calls" and "function_call"; text that merely contains "_call" only
# costs a parse, never a wrong answer.
NEEDS_LOOK: Final = "_call"
#: A finished choice beside an unfinished one (n > 1 in one chunk) needs a look too. Model text
#: cannot forge any mark: inside a JSON string its quotes are escaped.
FINISHED: Final = '"finish_reason":"'
#: So does an in-band error: OpenRouter sends ``"error": {...}`` beside an unfinished choice (the
#: delta mark) as well as beside ``"finish_reason":"error"``. An ``"error"`` anywhere else only
#: costs a parse.
ERROR_MARK: Final = '"error"'


def plain_delta(data: str) -> bool:
    """True if the compact chunk ``data`` is a plain content delta (nothing to learn from it)."""
    return DELTA_MARK in data and NEEDS_LOOK not in data and FINISHED not in data and ERROR_MARK not in data


def plain_deltas(values: list[str], text: str) -> bool:
    """True if every chunk in ``values`` is a plain content delta (:func:`plain_delta`). ``text``
    holds them all (and nothing else but SSE syntax), so the two marks no chunk may have are
    looked for in one scan each; the mark each chunk needs, in each."""
    return (
        all(map(contains, values, repeat(DELTA_MARK)))
        and NEEDS_LOOK not in text
        and FINISHED not in text
        and ERROR_MARK not in text
    )


def _get(obj: object, key: str) -> object:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def plain_chunk(chunk: object) -> bool:
    """True if the parsed chunk ``chunk`` (the SDK's ``ChatCompletionChunk``, or a dict) is a plain
    content delta, the parsed twin of :func:`plain_delta`: it has choices, none of them finished or
    carries a tool call or a legacy function call, and it has no usage and no error.

    >>> plain_chunk({"choices": [{"delta": {"content": "Hi"}, "finish_reason": None}]})
    True
    >>> plain_chunk({"choices": [{"delta": {"function_call": {"name": "f"}}, "finish_reason": None}]})
    False
    """
    if isinstance(chunk, dict):
        choices, usage, error = chunk.get("choices"), chunk.get("usage"), chunk.get("error")
    else:
        choices, usage = getattr(chunk, "choices", None), getattr(chunk, "usage", None)
        # A parsed model keeps the keys it does not declare (a proxy's ``error``) as extras.
        extra = getattr(chunk, "model_extra", None)
        error = extra.get("error") if isinstance(extra, dict) else None
    if not isinstance(choices, list) or not choices or usage is not None or error:
        return False
    for choice in choices:
        if _get(choice, "finish_reason") is not None:
            return False
        delta = _get(choice, "delta")
        if delta is not None and (_get(delta, "tool_calls") or _get(delta, "function_call")):
            return False
    return True


_STATUSES: dict[str, tuple[StatusKind, str]] = {"in_progress": ("phase", "in_progress")}

PROTOCOL = Protocol(
    api="chat",
    events={
        "chat.completion.chunk": "chat_chunk",
        "chat.completion.chunk.delta": "chat_delta",
        "error": "error",
    },
    prefixes=("chat.completion",),
    statuses=_STATUSES,
    reason_paths={},
    # Held: a chunk that finishes a choice or carries an in-band error reads the held ones (compact
    # JSON, as DELTA_MARK assumes; spaced JSON is read a batch later, never missed); the usage
    # chunk follows a finish. Responses and Assistants streams are not held: their deltas are
    # cheap to skip as they come (named frames), and holding them measured no faster.
    hold_marks=(FINISHED.encode(), ERROR_MARK.encode()),
)
