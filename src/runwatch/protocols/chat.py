"""Chat Completions chunks: ``data:`` lines only, ``finish_reason`` per choice, ``[DONE]``.

There is no status: a chunk's ``finish_reason`` decides the outcome, and the usage chunk (with
``stream_options.include_usage``) arrives after it, so the run ends at ``[DONE]`` or end of stream.
"""

from __future__ import annotations

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

#: A compact chunk whose choice has not finished and carries no tool call is a plain delta.
DELTA_MARK: Final = '"finish_reason":null'
# One scan covers both "tool_calls" and "function_call"; text that merely contains "_call" only
# costs a parse, never a wrong answer.
NEEDS_LOOK: Final = "_call"

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
