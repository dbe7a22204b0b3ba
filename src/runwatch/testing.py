"""Build OpenAI streaming bodies for your own tests: no network, no API key.

Each builder returns the raw ``text/event-stream`` body (bytes) the OpenAI API sends for one
scenario, framed exactly as the live API frames it. Feed it to the real SDK through an
``httpx.MockTransport`` (or the demo server, :func:`demo_server`) and your code sees what it would
see in production, including the outcomes the SDK's own helpers mishandle (``incomplete`` runs,
``error`` events, streams that end without a terminal event).

Example::

    body = responses_stream("incomplete:max_output_tokens", response_id="resp_1", model="gpt-4o")
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    )

An *outcome* is ``"status"`` or ``"status:reason"``: ``"completed"``, ``"incomplete:max_output_tokens"``,
``"failed:server_error"``. Special outcomes, per builder: ``"requires_action"`` (Assistants: the
stream ends waiting for tool outputs), ``"error:<code>"`` (a flat ``error`` event ends the stream),
``"nested_error:<code>"`` (Responses: the nested ``error`` event, then ``response.failed``),
``"cancelling"`` (Assistants: the stream ends at ``thread.run.cancelling``), ``"aborted"`` (the stream
ends without a terminal event) and ``"unknown:<status>"`` (a future lifecycle event with a status
nobody has heard of yet).

Everything here is deterministic: ids, text, token counts and timestamps derive from the arguments
(``t0`` is the Unix time of the first event), so transcripts built twice are byte-identical.
This module uses the standard library only; it must be importable without the SDK.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runwatch.demo.server import DemoServer

__all__ = [
    "DEFAULT_T0",
    "agent_session_events",
    "agent_session_object",
    "assistants_continuation",
    "assistants_run",
    "chat_stream",
    "demo_server",
    "error_event",
    "parse_outcome",
    "response_object",
    "responses_error_event",
    "responses_resume",
    "responses_stream",
    "run_object",
    "split_frames",
    "sse_frame",
]

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

JSON = dict[str, Any]


# --------------------------------------------------------------------------------------- framing
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

    Only valid for LF-framed bodies produced by this module; the demo server uses it to pace
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


def _text(n: int, offset: int = 0) -> list[str]:
    return [_WORDS[(offset + i) % len(_WORDS)] for i in range(n)]


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


def responses_error_event(code: str, sequence_number: int, *, nested: bool = True) -> bytes:
    """The Responses ``error`` event, nested (as the live API sends it) or flat (as the SDK types it)."""
    data: JSON
    if nested:
        data = {
            "type": "error",
            "error": {
                "type": _error_type(code),
                "code": code,
                "message": _error_message(code),
                "param": None,
            },
            "sequence_number": sequence_number,
        }
    else:
        data = {
            "type": "error",
            "code": code,
            "message": _error_message(code),
            "param": None,
            "sequence_number": sequence_number,
        }
    return sse_frame(data, event="error")


# ------------------------------------------------------------------------------------ assistants
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
    words = _text(deltas)
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


# ------------------------------------------------------------------------------------- responses
def _usage_responses(input_tokens: int, output_tokens: int, cached: int = 0, reasoning: int = 0) -> JSON:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


def response_object(
    *,
    response_id: str,
    model: str,
    status: str,
    t0: int,
    background: bool,
    output: list[JSON] | None = None,
    error_code: str | None = None,
    incomplete_reason: str | None = None,
    usage: JSON | None = None,
    tools: list[JSON] | None = None,
    completed_at: int | None = None,
) -> JSON:
    """A ``response`` object (the ``response`` of lifecycle events and of ``GET /v1/responses/{id}``)."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": t0,
        "status": status,
        "background": background,
        "completed_at": completed_at,
        "error": (
            {"code": error_code, "message": _error_message(error_code)} if error_code is not None else None
        ),
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason is not None else None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output or [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": tools or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def _responses_frames(
    outcome: str,
    *,
    response_id: str,
    model: str,
    deltas: int,
    background: bool,
    tool: str | None,
    t0: int,
    input_tokens: int,
    cached_tokens: int,
) -> list[bytes]:
    """All frames of one response, numbered from 0 (the caller re-numbers or slices)."""
    status, reason = parse_outcome(outcome)
    frames: list[bytes] = []
    seq = 0
    suffix = response_id.removeprefix("resp_")
    tools: list[JSON] = []
    if tool == "function_call":
        tools = [{"type": "function", "name": "get_weather", "parameters": {}, "strict": True}]
    elif tool == "web_search_call":
        tools = [{"type": "web_search", "search_context_size": "medium"}]

    def emit(data: JSON) -> None:
        nonlocal seq
        data["sequence_number"] = seq
        seq += 1
        frames.append(sse_frame(data, event=str(data["type"])))

    def resp(st: str, **kw: Any) -> JSON:
        return response_object(
            response_id=response_id, model=model, status=st, t0=t0, background=background, tools=tools, **kw
        )

    emit({"type": "response.created", "response": resp("queued" if background else "in_progress")})
    if background:
        emit({"type": "response.queued", "response": resp("queued")})
    emit({"type": "response.in_progress", "response": resp("in_progress")})

    done_items: list[JSON] = []
    index = 0
    if tool == "function_call":
        fc_id, call_id, args = f"fc_{suffix}", f"call_{suffix}", '{"city":"Paris"}'
        item: JSON = {
            "id": fc_id,
            "type": "function_call",
            "status": "in_progress",
            "call_id": call_id,
            "name": "get_weather",
            "arguments": "",
        }
        emit({"type": "response.output_item.added", "output_index": index, "item": item})
        for piece in ('{"city":', '"Paris"}'):
            emit(
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": fc_id,
                    "output_index": index,
                    "delta": piece,
                }
            )
        emit(
            {
                "type": "response.function_call_arguments.done",
                "item_id": fc_id,
                "output_index": index,
                "name": "get_weather",
                "arguments": args,
            }
        )
        done = {**item, "status": "completed", "arguments": args}
        emit({"type": "response.output_item.done", "output_index": index, "item": done})
        done_items.append(done)
        index += 1
    elif tool == "web_search_call":
        ws_id = f"ws_{suffix}"
        item = {
            "id": ws_id,
            "type": "web_search_call",
            "status": "in_progress",
            "action": {"type": "search", "query": "weather in Paris"},
        }
        emit({"type": "response.output_item.added", "output_index": index, "item": item})
        for phase in ("in_progress", "searching", "completed"):
            emit({"type": f"response.web_search_call.{phase}", "item_id": ws_id, "output_index": index})
        done = {**item, "status": "completed"}
        emit({"type": "response.output_item.done", "output_index": index, "item": done})
        done_items.append(done)
        index += 1

    # A function call ends the response: the caller runs the tool and sends a new request.
    with_message = tool != "function_call"
    words = _text(deltas)
    text = "".join(words)
    msg_id = f"msg_{suffix}"
    if with_message:
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        emit(
            {
                "type": "response.output_item.added",
                "output_index": index,
                "item": {
                    "id": msg_id,
                    "type": "message",
                    "status": "in_progress",
                    "role": "assistant",
                    "content": [],
                },
            }
        )
        emit(
            {
                "type": "response.content_part.added",
                "item_id": msg_id,
                "output_index": index,
                "content_index": 0,
                "part": part,
            }
        )
        for word in words:
            emit(
                {
                    "type": "response.output_text.delta",
                    "item_id": msg_id,
                    "output_index": index,
                    "content_index": 0,
                    "delta": word,
                    "logprobs": [],
                }
            )

    usage = _usage_responses(input_tokens, deltas + (8 if tool else 0), cached_tokens, reasoning=0)
    end = t0 + 3

    def finish_message(item_status: str) -> None:
        if not with_message:
            return
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        emit(
            {
                "type": "response.output_text.done",
                "item_id": msg_id,
                "output_index": index,
                "content_index": 0,
                "text": text,
                "logprobs": [],
            }
        )
        emit(
            {
                "type": "response.content_part.done",
                "item_id": msg_id,
                "output_index": index,
                "content_index": 0,
                "part": part,
            }
        )
        item = {
            "id": msg_id,
            "type": "message",
            "status": item_status,
            "role": "assistant",
            "content": [part],
        }
        emit({"type": "response.output_item.done", "output_index": index, "item": item})
        done_items.append(item)

    if status == "completed":
        finish_message("completed")
        emit(
            {
                "type": "response.completed",
                "response": resp("completed", output=done_items, usage=usage, completed_at=end),
            }
        )
    elif status == "incomplete":
        finish_message("incomplete")
        emit(
            {
                "type": "response.incomplete",
                "response": resp(
                    "incomplete",
                    output=done_items,
                    usage=usage,
                    incomplete_reason=reason or "max_output_tokens",
                ),
            }
        )
    elif status == "failed":
        emit(
            {
                "type": "response.failed",
                "response": resp(
                    "failed", output=done_items, usage=usage, error_code=reason or "server_error"
                ),
            }
        )
    elif status == "nested_error":
        code = reason or "server_error"
        frames.append(responses_error_event(code, seq, nested=True))
        seq += 1
        emit(
            {
                "type": "response.failed",
                "response": resp("failed", output=done_items, usage=usage, error_code=code),
            }
        )
    elif status == "error":
        frames.append(responses_error_event(reason or "server_error", seq, nested=False))
    elif status == "aborted":
        finish_message("completed")
    elif status == "unknown":
        future = reason or "hibernating"
        emit({"type": f"response.{future}", "response": resp(future, output=done_items)})
    else:
        raise ValueError(f"unknown responses outcome {outcome!r}")
    return frames


def responses_stream(
    outcome: str = "completed",
    *,
    response_id: str = "resp_demo0001",
    model: str = "gpt-4o-2024-08-06",
    deltas: int = 5,
    background: bool = False,
    tool: str | None = None,
    sequence_start: int = 0,
    t0: int = DEFAULT_T0,
    input_tokens: int = 36,
    cached_tokens: int = 0,
) -> bytes:
    """The body of ``POST /v1/responses`` (``stream=true``) for one response.

    Every frame has an ``event:`` line equal to ``data.type`` and a ``sequence_number``; there is
    no ``[DONE]``. Outcomes: ``completed``, ``incomplete:<max_output_tokens|max_messages|
    content_filter|steered>``, ``failed:<code>``, ``nested_error:<code>`` (nested ``error`` event
    then ``response.failed``), ``error:<code>`` (flat ``error`` event, stream ends), ``aborted``
    (no terminal), ``unknown:<status>`` (``response.<status>``). ``tool``: ``"function_call"`` or
    ``"web_search_call"`` adds that output item. ``sequence_start`` skips the first frames, as a
    resumed stream does (see :func:`responses_resume`).

    >>> b"event: response.incomplete" in responses_stream("incomplete:content_filter")
    True
    """
    frames = _responses_frames(
        outcome,
        response_id=response_id,
        model=model,
        deltas=deltas,
        background=background,
        tool=tool,
        t0=t0,
        input_tokens=input_tokens,
        cached_tokens=cached_tokens,
    )
    return b"".join(frames[sequence_start:])


def responses_resume(
    outcome: str = "completed",
    *,
    starting_after: int,
    response_id: str = "resp_demo0001",
    model: str = "gpt-4o-2024-08-06",
    deltas: int = 5,
    background: bool = True,
    tool: str | None = None,
    t0: int = DEFAULT_T0,
    input_tokens: int = 36,
    cached_tokens: int = 0,
) -> tuple[bytes, bytes]:
    """A response split over two HTTP streams: the original, cut after ``starting_after``, and the
    body of ``GET /v1/responses/{id}?stream=true&starting_after=N``, which replays from sequence
    ``N + 1`` with no ``response.created`` (the resumed stream is a suffix of the original)."""
    body = responses_stream(
        outcome,
        response_id=response_id,
        model=model,
        deltas=deltas,
        background=background,
        tool=tool,
        t0=t0,
        input_tokens=input_tokens,
        cached_tokens=cached_tokens,
    )
    frames = split_frames(body)
    return b"".join(frames[: starting_after + 1]), b"".join(frames[starting_after + 1 :])


# ------------------------------------------------------------------------------------------ chat
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
        for word in _text(deltas):
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


# ---------------------------------------------------------------------------------------- agents
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
        for word in _text(deltas, offset=n):
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
        usage = _usage_responses(input_tokens, deltas)
        if status == "completed":
            emit(
                {
                    "type": "agent.session.turn.completed",
                    "session_id": session_id,
                    "turn_id": turn_id,
                    "turn": turn("completed", usage=usage),
                    "usage": usage,
                }
            )
        elif status == "failed":
            emit(
                {
                    "type": "agent.session.turn.failed",
                    "session_id": session_id,
                    "turn_id": turn_id,
                    "turn": turn("failed", error=reason or "server_error", usage=usage),
                    "usage": usage,
                }
            )
        elif status == "cancelled":
            emit(
                {
                    "type": "agent.session.turn.cancelled",
                    "session_id": session_id,
                    "turn_id": turn_id,
                    "turn": turn("cancelled", usage=usage),
                    "usage": usage,
                }
            )
        elif status == "aborted":
            return b"".join(frames)
        else:
            raise ValueError(f"unknown agents outcome {outcome!r}")
        emit({"type": "agent.session.idle", "session": session("idle", start + 5)})
    return b"".join(frames)


# ----------------------------------------------------------------------------------- demo server
@contextmanager
def demo_server(
    *, mix: str | None = None, seed: int = 0, speed: float = 50.0, port: int = 0
) -> Iterator[DemoServer]:
    """Run the embedded OpenAI-compatible demo server on loopback for the duration of a block.

    Example::

        with demo_server(speed=100) as server:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="test")
            ...

    Force a scenario per request with the header ``x-runwatch-scenario: incomplete:max_output_tokens``.
    """
    from runwatch.demo.server import DemoServer

    server = DemoServer(mix=mix, seed=seed, speed=speed, port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
