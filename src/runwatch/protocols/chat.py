"""Chat Completions chunks: ``data:`` lines only, ``finish_reason`` per choice, ``[DONE]``.

There is no status: a chunk's ``finish_reason`` decides the outcome, and the usage chunk (with
``stream_options.include_usage``) arrives after it, so the run ends at ``[DONE]`` or end of stream.
"""

from __future__ import annotations

from itertools import repeat
from operator import contains
from typing import Final

from . import Protocol, StatusKind

#: finish_reason -> terminal status. ``length`` and ``content_filter`` are the incomplete outcomes.
FINISH_REASONS: Final[dict[str, str]] = {
    "stop": "completed",
    "tool_calls": "completed",
    "function_call": "completed",
    "length": "incomplete",
    "content_filter": "incomplete",
}

#: A compact chunk whose choices have not finished and carry no tool call is a plain delta.
DELTA_MARK: Final = '"finish_reason":null'
# One scan covers both "tool_calls" and "function_call"; text that merely contains "_call" only
# costs a parse, never a wrong answer.
NEEDS_LOOK: Final = "_call"
#: A finished choice beside an unfinished one (n > 1 in one chunk) needs a look too. Model text
#: cannot forge either mark: inside a JSON string its quotes are escaped.
FINISHED: Final = '"finish_reason":"'


def plain_delta(data: str) -> bool:
    """True if the compact chunk ``data`` is a plain content delta (nothing to learn from it)."""
    return DELTA_MARK in data and NEEDS_LOOK not in data and FINISHED not in data


def plain_deltas(values: list[str], text: str) -> bool:
    """True if every chunk in ``values`` is a plain content delta (:func:`plain_delta`). ``text``
    holds them all (and nothing else but SSE syntax), so the two marks no chunk may have are
    looked for in one scan each; the mark each chunk needs, in each."""
    return all(map(contains, values, repeat(DELTA_MARK))) and NEEDS_LOOK not in text and FINISHED not in text


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
)
