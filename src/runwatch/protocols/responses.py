"""Responses API (``client.responses``): ``response.*`` events, nested and flat ``error``.

Every event's ``event:`` line equals its ``type``; there is no ``[DONE]``. A background response
may be resumed on a new HTTP stream (``GET /responses/{id}?stream=true&starting_after=N``).
"""

from __future__ import annotations

import re
from typing import Final

from . import TOOL_ITEM_TYPES, Action, Protocol, StatusKind

_SEQUENCE_KEY: Final = '"sequence_number":'
_SEQUENCE: Final = re.compile(r'"sequence_number":[ \t\r\n]*([0-9]+)[ \t\r\n]*[,}]')


def sequence_number(raw: str) -> int | None:
    """The ``sequence_number`` of an event's undecoded data, read without ``json.loads`` (most
    events runwatch reads it from are otherwise never parsed). The key is the last one OpenAI
    writes and no nested object of the protocol has one; model text cannot forge it (inside a JSON
    string its quotes are escaped). None when absent or not a whole non-negative number.

    >>> sequence_number('{"type":"response.output_text.done","text":"a","sequence_number":12}')
    12
    >>> sequence_number('{"sequence_number": 1.5}') is None
    True
    """
    at = raw.rfind(_SEQUENCE_KEY)
    if at < 0:
        return None
    match = _SEQUENCE.match(raw, at)
    return int(match.group(1)) if match is not None else None


_LIFECYCLE: dict[str, Action] = {
    f"response.{s}": "snapshot"
    for s in ("created", "queued", "in_progress", "completed", "incomplete", "failed", "cancelled")
}
_TOKENS: dict[str, Action] = dict.fromkeys(
    (
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
        "response.reasoning_text.delta",
        "response.reasoning_summary_text.delta",
        "response.audio.delta",
        "response.audio.transcript.delta",
        "response.code_interpreter_call_code.delta",
        "response.mcp_call_arguments.delta",
    ),
    "token",
)
# Known events that change nothing runwatch tracks (the full 3.x set of 59 event types).
_IGNORED: dict[str, Action] = dict.fromkeys(
    (
        "response.output_text.done",
        "response.output_text.annotation.added",
        "response.refusal.done",
        "response.function_call_arguments.done",
        "response.custom_tool_call_input.done",
        "response.content_part.added",
        "response.content_part.done",
        "response.reasoning_text.done",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_part.done",
        "response.audio.done",
        "response.audio.transcript.done",
        "response.code_interpreter_call_code.done",
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.file_search_call.completed",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
        "response.image_generation_call.in_progress",
        "response.image_generation_call.generating",
        "response.image_generation_call.partial_image",
        "response.image_generation_call.completed",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.mcp_call.failed",
        "response.mcp_call_arguments.done",
        "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed",
        "response.mcp_list_tools.failed",
        "response.shell_call.in_progress",
        "response.shell_call.completed",
        "response.shell_call_command.added",
        "response.shell_call_command.delta",
        "response.shell_call_command.done",
        "response.apply_patch_call_operation_diff.delta",
        "response.apply_patch_call_operation_diff.done",
        "response.compaction.compacting",
        "response.shell_call_output_content.delta",
        "response.shell_call_output_content.done",
        "response.steer.pending",
        "response.steer.accepted",
        "response.steer.failed",
    ),
    "ignore",
)

STATUSES: dict[str, tuple[StatusKind, str]] = {
    "queued": ("phase", "queued"),
    "in_progress": ("phase", "in_progress"),
    "completed": ("terminal", "completed"),
    "incomplete": ("terminal", "incomplete"),
    "failed": ("terminal", "failed"),
    "cancelled": ("terminal", "cancelled"),
}

PROTOCOL = Protocol(
    api="responses",
    events={
        **_LIFECYCLE,
        **_TOKENS,
        **_IGNORED,
        "response.output_item.added": "item_start",
        "response.output_item.done": "item_end",
        "error": "error",
    },
    prefixes=("response.",),
    statuses=STATUSES,
    reason_paths={"incomplete": ("incomplete_details", "reason"), "failed": ("error", "code")},
    snapshot_key=("response",),
    tool_types=TOOL_ITEM_TYPES,
)
