"""Agent sessions (``client.beta.agents.sessions``): one events stream, many turns.

Each turn is a run (keyed by ``turn_id``). There is no ``incomplete`` status: token limits and
budgets arrive as ``agent.session.turn.failed`` with ``turn.error.code``. ``waiting`` means the turn
waits for external input (tool results, approvals) while the stream stays open.
"""

from __future__ import annotations

from . import TOOL_ITEM_TYPES, Action, Protocol, StatusKind

_TURN: dict[str, Action] = {
    f"agent.session.turn.{s}": "snapshot"
    for s in ("created", "queued", "in_progress", "waiting", "completed", "failed", "cancelled")
}
_TOKENS: dict[str, Action] = dict.fromkeys(
    ("agent.session.turn.output_text.delta", "agent.session.turn.reasoning_summary_text.delta"), "token"
)
_IGNORED: dict[str, Action] = dict.fromkeys(
    (
        "agent.session.turn.output_text.done",
        "agent.session.turn.content_part.added",
        "agent.session.turn.content_part.done",
        "agent.session.turn.reasoning_summary_text.done",
        "agent.session.turn.reasoning_summary_part.added",
        "agent.session.turn.reasoning_summary_part.done",
        "agent.session.turn.item.done",
        "agent.output.command_execution_output.delta",
        "agent.session.idle",
        "agent.session.failed",
        "agent.session.requires_action",
        "agent.session.subagent.created",
        "agent.session.subagent.active",
        "agent.session.subagent.closed",
        "agent.session.environment.pending",
        "agent.session.environment.ready",
        "agent.session.environment.connected",
        "agent.session.environment.disconnected",
        "agent.session.environment.suspended",
        "agent.session.environment.expired",
        "agent.session.environment.failed",
        "agent.session.environment.reset",
    ),
    "ignore",
)

STATUSES: dict[str, tuple[StatusKind, str]] = {
    "queued": ("phase", "queued"),
    "in_progress": ("phase", "in_progress"),
    "waiting": ("phase", "requires_action"),
    "completed": ("terminal", "completed"),
    "failed": ("terminal", "failed"),
    "cancelled": ("terminal", "cancelled"),
}

PROTOCOL = Protocol(
    api="agents",
    events={
        **_TURN,
        **_TOKENS,
        **_IGNORED,
        "agent.session.turn.item.added": "agent_item",
        "agent.session.created": "session",
        "agent.session.in_progress": "session",
        "error": "error",
    },
    prefixes=("agent.",),
    statuses=STATUSES,
    reason_paths={"failed": ("error", "code")},
    snapshot_key=("turn",),
    run_key="turn_id",
    tool_types=TOOL_ITEM_TYPES,
)
