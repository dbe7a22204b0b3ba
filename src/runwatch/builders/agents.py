"""Agent sessions: ``agent.session`` objects and the turns of a session's event stream."""

from __future__ import annotations

from collections.abc import Sequence

from .wire import DEFAULT_T0, JSON, _error_message, _usage_responses, parse_outcome, sse_frame, text_deltas

__all__ = ["agent_session_events", "agent_session_object"]


def agent_session_object(
    *, session_id: str, model: str, status: str, t0: int, agent_id: str = "agent_demo0001"
) -> JSON:
    """An ``agent.session`` object (the ``session`` of ``agent.session.*`` events and of
    ``GET /v1/agents/sessions/{id}``)."""
    return {
        "id": session_id,
        "object": "agent.session",
        "agent": {
            "id": agent_id,
            "instructions": None,
            "model": model,
            "multi_agent": {"enabled": False, "max_concurrent_subagents": None},
            "name": "demo",
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "auto",
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tools": [],
        },
        "created_at": t0,
        "environment": {"type": "none"},
        "error": None,
        "last_active_at": t0,
        "metadata": {},
        "required_actions": [],
        "status": status,
        "usage": None,
        "vault_ids": [],
    }


def agent_session_events(
    turns: Sequence[str] = ("completed",),
    *,
    session_id: str = "sess_demo0001",
    model: str = "gpt-5",
    agent_id: str = "agent_demo0001",
    turn_ids: Sequence[str] | None = None,
    deltas: int = 5,
    t0: int = DEFAULT_T0,
    input_tokens: int = 120,
    session_created: bool = False,
    first_event: int = 0,
) -> bytes:
    """The body of ``GET /v1/agents/sessions/{id}/events`` covering one or more turns.

    Per turn: ``agent.session.in_progress``, ``agent.session.turn.created`` (turn ``queued``),
    ``agent.session.turn.in_progress``, ``agent.session.turn.output_text.delta`` x ``deltas``,
    the turn terminal (``completed``, ``failed:<code>``, ``cancelled``; ``aborted`` stops the
    stream mid-turn) and ``agent.session.idle``. Frames carry an ``event:`` line equal to
    ``data.type`` (the SDK reads only ``data``, in its "events" stream mode) and no ``[DONE]``: the
    live stream stays open and the SDK closes it after the idle that follows its turn.
    Turn failures arrive as ``turn.failed`` with ``turn.error.code`` (there is no
    ``incomplete``): ``max_output_tokens``, ``context_length_exceeded``, ``usage_limit_exceeded``...
    ``first_event`` numbers the ``event_id`` values (the SDK drops repeated ids on one connection).

    >>> b"agent.session.turn.failed" in agent_session_events(["failed:max_output_tokens"])
    True
    """
    frames: list[bytes] = []
    n_event = first_event
    suffix = session_id.removeprefix("sess_")

    def emit(data: JSON) -> None:
        nonlocal n_event
        data = {"event_id": f"evt_{suffix}_{n_event:04d}", **data}
        n_event += 1
        frames.append(sse_frame(data, event=str(data["type"])))

    def session(status: str, at: int) -> JSON:
        obj = agent_session_object(
            session_id=session_id, model=model, status=status, t0=t0, agent_id=agent_id
        )
        obj["last_active_at"] = at
        return obj

    if session_created:
        emit({"type": "agent.session.created", "session": session("idle", t0)})
    for n, outcome in enumerate(turns):
        status, reason = parse_outcome(outcome)
        turn_id = turn_ids[n] if turn_ids is not None else f"turn_{suffix}_{n + 1}"
        start = t0 + 10 * n

        def turn(
            st: str,
            *,
            error: str | None = None,
            usage: JSON | None = None,
            _s: int = start,
            _id: str = turn_id,
        ) -> JSON:
            ended = st in ("completed", "failed", "cancelled")
            return {
                "id": _id,
                "object": "agent.session.turn",
                "agent_id": agent_id,
                "session_id": session_id,
                "created_at": _s,
                "started_at": _s + 1 if st != "queued" else None,
                "completed_at": _s + 5 if ended else None,
                "status": st,
                "error": {"code": error, "message": _error_message(error)} if error else None,
                "subagent_id": None,
                "usage": usage,
            }

        emit({"type": "agent.session.in_progress", "session": session("in_progress", start)})
        emit(
            {
                "type": "agent.session.turn.created",
                "session_id": session_id,
                "turn_id": turn_id,
                "turn": turn("queued"),
            }
        )
        emit(
            {
                "type": "agent.session.turn.in_progress",
                "session_id": session_id,
                "turn_id": turn_id,
                "turn": turn("in_progress"),
            }
        )
        item_id = f"msg_{suffix}_{n + 1}"
        for word in text_deltas(deltas, offset=n):
            emit(
                {
                    "type": "agent.session.turn.output_text.delta",
                    "session_id": session_id,
                    "turn_id": turn_id,
                    "item_id": item_id,
                    "output_index": 0,
                    "content_index": 0,
                    "delta": word,
                }
            )
        if status == "aborted":
            return b"".join(frames)
        if status not in ("completed", "failed", "cancelled"):
            raise ValueError(f"unknown agents outcome {outcome!r}")
        usage = _usage_responses(input_tokens, deltas)
        error = (reason or "server_error") if status == "failed" else None
        emit(
            {
                "type": f"agent.session.turn.{status}",
                "session_id": session_id,
                "turn_id": turn_id,
                "turn": turn(status, error=error, usage=usage),
                "usage": usage,
            }
        )
        emit({"type": "agent.session.idle", "session": session("idle", start + 5)})
    return b"".join(frames)
