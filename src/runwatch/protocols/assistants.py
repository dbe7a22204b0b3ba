"""Assistants runs (``beta.threads.runs``): ``thread.run.*``, run steps, messages, flat ``error``.

``requires_action`` ends the HTTP stream; ``submit_tool_outputs_stream`` opens a new one for the
same run id, so the status is a pause, not an end. ``cancelling`` is not terminal.
"""

from __future__ import annotations

from . import Action, Protocol, StatusKind

_RUN: dict[str, Action] = {
    f"thread.run.{s}": "snapshot"
    for s in (
        "created",
        "queued",
        "in_progress",
        "requires_action",
        "completed",
        "incomplete",
        "failed",
        "cancelling",
        "cancelled",
        "expired",
    )
}
_STEP: dict[str, Action] = {
    f"thread.run.step.{s}": "step"
    for s in ("created", "in_progress", "completed", "failed", "cancelled", "expired")
}
_OTHER: dict[str, Action] = {
    "thread.run.step.delta": "ignore",
    "thread.message.delta": "token",
    "thread.created": "ignore",
    "thread.message.created": "ignore",
    "thread.message.in_progress": "ignore",
    "thread.message.completed": "ignore",
    "thread.message.incomplete": "ignore",
    "error": "error",
    "done": "ignore",
}

STATUSES: dict[str, tuple[StatusKind, str]] = {
    "queued": ("phase", "queued"),
    "in_progress": ("phase", "in_progress"),
    "cancelling": ("phase", "cancelling"),
    "requires_action": ("pause", "requires_action"),
    "completed": ("terminal", "completed"),
    "incomplete": ("terminal", "incomplete"),
    "failed": ("terminal", "failed"),
    "cancelled": ("terminal", "cancelled"),
    "expired": ("terminal", "expired"),
}

PROTOCOL = Protocol(
    api="assistants",
    events={**_RUN, **_STEP, **_OTHER},
    prefixes=("thread.",),
    statuses=STATUSES,
    reason_paths={"incomplete": ("incomplete_details", "reason"), "failed": ("last_error", "code")},
    tool_types={
        "function": "function",
        "code_interpreter": "code_interpreter",
        "file_search": "file_search",
    },
    required_tool_calls=("required_action", "submit_tool_outputs", "tool_calls"),
)

#: Step statuses that end a step's phase.
STEP_TERMINAL = frozenset({"completed", "failed", "cancelled", "expired"})
