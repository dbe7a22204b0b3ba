"""Assistants runs: ``thread.run`` objects and the streams of ``POST .../runs`` and
``POST .../submit_tool_outputs``."""

from __future__ import annotations

from typing import Any

from .wire import DEFAULT_T0, JSON, _error_message, _error_type, parse_outcome, sse_frame, text_deltas

__all__ = ["assistants_continuation", "assistants_run", "error_event", "run_object"]


def error_event(code: str, message: str | None = None, *, type: str | None = None) -> bytes:
    """The flat ``error`` event of Assistants streams: ``event: error`` + an ErrorObject.

    >>> error_event("server_error").startswith(b"event: error\\ndata: {")
    True
    """
    return sse_frame(
        {
            "code": code,
            "message": message or _error_message(code),
            "param": None,
            "type": type or _error_type(code),
        },
        event="error",
    )


_ASSISTANTS_DONE = sse_frame("[DONE]", event="done")


def run_object(
    *,
    run_id: str,
    thread_id: str,
    assistant_id: str,
    model: str,
    status: str,
    t0: int,
    started: bool = False,
    ended_at: int | None = None,
    incomplete_reason: str | None = None,
    error_code: str | None = None,
    required_action: JSON | None = None,
    usage: JSON | None = None,
    cancelled: bool = False,
    failed: bool = False,
) -> JSON:
    """A ``thread.run`` object (the data of ``thread.run.*`` events and of ``GET .../runs/{id}``)."""
    return {
        "id": run_id,
        "object": "thread.run",
        "created_at": t0,
        "assistant_id": assistant_id,
        "thread_id": thread_id,
        "status": status,
        "started_at": t0 + 1 if started else None,
        "expires_at": None if ended_at is not None else t0 + 600,
        "cancelled_at": ended_at if cancelled else None,
        "failed_at": ended_at if failed else None,
        "completed_at": ended_at if status == "completed" else None,
        "required_action": required_action,
        "last_error": (
            {"code": error_code, "message": _error_message(error_code)} if error_code is not None else None
        ),
        "model": model,
        "instructions": "You are a helpful assistant.",
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
        "tool_resources": {},
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "max_completion_tokens": None,
        "max_prompt_tokens": None,
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason is not None else None,
        "usage": usage,
        "response_format": "auto",
        "tool_choice": "auto",
        "parallel_tool_calls": True,
    }


def _assistants_frames(
    outcome: str,
    *,
    run_id: str,
    thread_id: str,
    assistant_id: str,
    model: str,
    deltas: int,
    tool: str | None,
    t0: int,
    prompt_tokens: int,
    continuation: bool,
    step_index: int,
) -> list[bytes]:
    status, reason = parse_outcome(outcome)
    frames: list[bytes] = []

    def run(st: str, **kw: Any) -> JSON:
        return run_object(
            status=st, t0=t0, run_id=run_id, thread_id=thread_id, assistant_id=assistant_id, model=model, **kw
        )

    def emit(event: str, data: JSON) -> None:
        frames.append(sse_frame(data, event=event))

    if not continuation:
        emit("thread.run.created", run("queued"))
    emit("thread.run.queued", run("queued", started=continuation))
    emit("thread.run.in_progress", run("in_progress", started=True))

    if status == "expired":
        # The run sat waiting past expires_at; no step ever started.
        emit("thread.run.expired", run("expired", started=True, ended_at=t0 + 600))
        frames.append(_ASSISTANTS_DONE)
        return frames

    step_no = step_index
    msg_id = f"msg_{run_id[4:]}_{step_no}"

    def step_object(sid: str, st: str, stype: str, details: JSON, *, ended: bool = False) -> JSON:
        return {
            "id": sid,
            "object": "thread.run.step",
            "created_at": t0 + 1,
            "run_id": run_id,
            "assistant_id": assistant_id,
            "thread_id": thread_id,
            "type": stype,
            "status": st,
            "cancelled_at": t0 + 3 if st == "cancelled" else None,
            "completed_at": t0 + 3 if st == "completed" else None,
            "expired_at": None,
            "failed_at": t0 + 3 if st == "failed" else None,
            "last_error": (
                {"code": reason or "server_error", "message": _error_message(reason or "server_error")}
                if st == "failed"
                else None
            ),
            "step_details": details,
            "usage": (
                {"prompt_tokens": prompt_tokens, "completion_tokens": 5, "total_tokens": prompt_tokens + 5}
                if ended
                else None
            ),
            "metadata": {},
        }

    # A tool step first (hosted tools run inside the run; a function call needs the caller).
    tool_type = "function" if status == "requires_action" else tool
    if tool_type is not None:
        sid = f"step_{run_id[4:]}_{step_no}"
        step_no += 1
        call_id = f"call_{run_id[4:]}_{step_no}"
        call: JSON
        if tool_type == "function":
            call = {
                "id": call_id,
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}', "output": None},
            }
        elif tool_type == "code_interpreter":
            call = {
                "id": call_id,
                "type": "code_interpreter",
                "code_interpreter": {"input": "print(6*7)", "outputs": [{"type": "logs", "logs": "42"}]},
            }
        else:
            call = {
                "id": call_id,
                "type": "file_search",
                "file_search": {"ranking_options": None, "results": []},
            }
        empty = {"type": "tool_calls", "tool_calls": []}
        full = {"type": "tool_calls", "tool_calls": [call]}
        emit("thread.run.step.created", step_object(sid, "in_progress", "tool_calls", empty))
        emit("thread.run.step.in_progress", step_object(sid, "in_progress", "tool_calls", empty))
        emit(
            "thread.run.step.delta",
            {
                "id": sid,
                "object": "thread.run.step.delta",
                "delta": {"step_details": {"type": "tool_calls", "tool_calls": [{"index": 0, **call}]}},
            },
        )
        if status == "requires_action":
            required = {
                "type": "submit_tool_outputs",
                "submit_tool_outputs": {
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ]
                },
            }
            # requires_action ENDS the HTTP stream; the step stays in_progress until outputs arrive.
            emit("thread.run.requires_action", run("requires_action", started=True, required_action=required))
            frames.append(_ASSISTANTS_DONE)
            return frames
        emit("thread.run.step.completed", step_object(sid, "completed", "tool_calls", full, ended=True))

    # The message-creation step, with its message and text deltas.
    sid = f"step_{run_id[4:]}_{step_no}"
    details = {"type": "message_creation", "message_creation": {"message_id": msg_id}}
    emit("thread.run.step.created", step_object(sid, "in_progress", "message_creation", details))
    emit("thread.run.step.in_progress", step_object(sid, "in_progress", "message_creation", details))

    def message(st: str, text: str, incomplete: str | None = None) -> JSON:
        return {
            "id": msg_id,
            "object": "thread.message",
            "created_at": t0 + 2,
            "assistant_id": assistant_id,
            "thread_id": thread_id,
            "run_id": run_id,
            "status": st,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "incomplete_at": t0 + 3 if st == "incomplete" else None,
            "completed_at": t0 + 3 if st == "completed" else None,
            "role": "assistant",
            "content": (
                [{"type": "text", "text": {"value": text, "annotations": []}}]
                if text or st != "in_progress"
                else []
            ),
            "attachments": [],
            "metadata": {},
        }

    emit("thread.message.created", message("in_progress", ""))
    emit("thread.message.in_progress", message("in_progress", ""))
    words = text_deltas(deltas)
    for word in words:
        emit(
            "thread.message.delta",
            {
                "id": msg_id,
                "object": "thread.message.delta",
                "delta": {
                    "content": [{"index": 0, "type": "text", "text": {"value": word, "annotations": []}}]
                },
            },
        )
    text = "".join(words)
    completion_tokens = deltas + (5 if tool_type else 0)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    end = t0 + 4

    if status == "completed":
        emit("thread.message.completed", message("completed", text))
        emit(
            "thread.run.step.completed",
            step_object(sid, "completed", "message_creation", details, ended=True),
        )
        emit("thread.run.completed", run("completed", started=True, ended_at=end, usage=usage))
    elif status == "incomplete":
        why = reason or "max_completion_tokens"
        emit("thread.message.incomplete", message("incomplete", text, "max_tokens"))
        emit(
            "thread.run.step.completed",
            step_object(sid, "completed", "message_creation", details, ended=True),
        )
        emit(
            "thread.run.incomplete",
            run("incomplete", started=True, ended_at=end, incomplete_reason=why, usage=usage),
        )
    elif status == "failed":
        code = reason or "server_error"
        emit("thread.message.incomplete", message("incomplete", text, "run_failed"))
        emit("thread.run.step.failed", step_object(sid, "failed", "message_creation", details, ended=True))
        emit(
            "thread.run.failed",
            run("failed", started=True, ended_at=end, error_code=code, failed=True, usage=usage),
        )
    elif status in ("cancelled", "cancelling"):
        emit("thread.run.cancelling", run("cancelling", started=True))
        if status == "cancelling":
            # The stream is cut while the run is still cancelling: no terminal ever arrives.
            return frames
        emit("thread.message.incomplete", message("incomplete", text, "run_cancelled"))
        emit("thread.run.step.cancelled", step_object(sid, "cancelled", "message_creation", details))
        emit(
            "thread.run.cancelled", run("cancelled", started=True, ended_at=end, cancelled=True, usage=usage)
        )
    elif status == "error":
        # A flat error event; the API closes the stream after it.
        frames.append(error_event(reason or "server_error"))
        return frames
    elif status == "aborted":
        return frames
    elif status == "unknown":
        future = reason or "paused"
        emit(f"thread.run.{future}", run(future, started=True))
    else:
        raise ValueError(f"unknown assistants outcome {outcome!r}")
    frames.append(_ASSISTANTS_DONE)
    return frames


def assistants_run(
    outcome: str = "completed",
    *,
    run_id: str = "run_demo0001",
    thread_id: str = "thread_demo0001",
    assistant_id: str = "asst_demo0001",
    model: str = "gpt-4o",
    tool_call: bool | str = False,
    deltas: int = 5,
    t0: int = DEFAULT_T0,
    prompt_tokens: int = 42,
) -> bytes:
    """The body of ``POST /v1/threads/{thread_id}/runs`` (``stream=true``) for one run.

    Outcomes: ``completed``, ``incomplete:<max_completion_tokens|max_prompt_tokens>``,
    ``failed:<server_error|rate_limit_exceeded|invalid_prompt>``, ``cancelled`` (through
    ``thread.run.cancelling``), ``expired``, ``requires_action`` (ends with
    ``thread.run.requires_action``; continue with :func:`assistants_continuation`),
    ``error:<code>`` (flat error event), ``cancelling`` (stream ends while cancelling),
    ``aborted`` (stream ends mid-run), ``unknown:<status>`` (``thread.run.<status>``).
    ``tool_call``: ``True`` (code_interpreter) or a tool type adds a tool-calls step first.

    >>> b"thread.run.incomplete" in assistants_run("incomplete:max_prompt_tokens")
    True
    """
    tool = ("code_interpreter" if tool_call is True else tool_call) or None
    return b"".join(
        _assistants_frames(
            outcome,
            run_id=run_id,
            thread_id=thread_id,
            assistant_id=assistant_id,
            model=model,
            deltas=deltas,
            tool=tool if isinstance(tool, str) else None,
            t0=t0,
            prompt_tokens=prompt_tokens,
            continuation=False,
            step_index=0,
        )
    )


def assistants_continuation(
    outcome: str = "completed",
    *,
    run_id: str = "run_demo0001",
    thread_id: str = "thread_demo0001",
    assistant_id: str = "asst_demo0001",
    model: str = "gpt-4o",
    deltas: int = 5,
    t0: int = DEFAULT_T0,
    prompt_tokens: int = 42,
) -> bytes:
    """The body of ``POST .../runs/{run_id}/submit_tool_outputs`` (``stream=true``).

    The same run continues: ``thread.run.queued`` and ``thread.run.in_progress`` for the SAME
    ``run_id`` (no ``thread.run.created``), a new message step, then the terminal.
    """
    return b"".join(
        _assistants_frames(
            outcome,
            run_id=run_id,
            thread_id=thread_id,
            assistant_id=assistant_id,
            model=model,
            deltas=deltas,
            tool=None,
            t0=t0,
            prompt_tokens=prompt_tokens,
            continuation=True,
            step_index=1,
        )
    )
