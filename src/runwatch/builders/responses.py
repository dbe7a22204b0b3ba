"""The Responses API: ``response`` objects, streams, resumed streams and ``error`` events."""

from __future__ import annotations

from typing import Any

from .wire import (
    DEFAULT_T0,
    JSON,
    _error_message,
    _error_type,
    _usage_responses,
    parse_outcome,
    split_frames,
    sse_frame,
    text_deltas,
)

__all__ = ["response_object", "responses_error_event", "responses_resume", "responses_stream"]


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
    words = text_deltas(deltas)
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
