"""Chat chunks that are not plain deltas, through the real SDK: a legacy ``function_call`` after
content, and in-band errors (a chunk carrying an ``error`` object, as OpenRouter sends), observed by
the transport tap and by ``watch()`` alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.chat import ChatCompletionChunk

from runwatch.protocols import chat
from runwatch.sinks.prometheus import reason_label

from . import drivers
from .conftest import Obs, Reply, Wire, make_client


def _sse(*chunks: object) -> bytes:
    """An SSE body of compact JSON chunks (as the API sends them), then ``[DONE]``."""
    lines = [f"data: {json.dumps(c, separators=(',', ':'))}\n\n" for c in chunks]
    return ("".join(lines) + "data: [DONE]\n\n").encode()


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-e1",
        "object": "chat.completion.chunk",
        "created": 1735689600,
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


_CONTENT = [
    _chunk({"role": "assistant", "content": ""}),
    *(_chunk({"content": w}) for w in ("Let", " me", " see")),
]
_ERROR = {"code": 400, "message": "Provider returned error"}

#: Content first, then a legacy function call (name in its first chunk, arguments after).
FUNCTION_CALL_AFTER_CONTENT = _sse(
    *_CONTENT,
    _chunk({"function_call": {"name": "get_weather", "arguments": ""}}),
    _chunk({"function_call": {"arguments": '{"city":"Paris"}'}}),
    _chunk({}, "function_call"),
)

#: In-band errors after some content, each then ``[DONE]``.
IN_BAND_ERRORS = {
    "bare_error": _sse(*_CONTENT, {"error": _ERROR}),
    "finish_reason_error": _sse(*_CONTENT, _chunk({"content": ""}, "error", error=_ERROR)),
    "error_beside_null_finish": _sse(*_CONTENT, _chunk({"content": ""}, None, error=_ERROR)),
}


def _drive_sync(client: Any, mode: str, obs: Obs) -> tuple[list[Any], Any]:
    drivers.setup(client, mode, obs.observer)
    stream = drivers.wrap(
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        ),
        mode,
        obs.observer,
    )
    events, error = [], None
    try:
        for e in stream:
            events.append(drivers.rec(e))
    except Exception as exc:
        error = drivers.err(exc)
        stream.close()
    return events, error


async def _drive_async(client: Any, mode: str, obs: Obs) -> tuple[list[Any], Any]:
    drivers.setup(client, mode, obs.observer)
    stream = drivers.wrap(
        await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        ),
        mode,
        obs.observer,
    )
    events, error = [], None
    try:
        async for e in stream:
            events.append(drivers.rec(e))
    except Exception as exc:
        error = drivers.err(exc)
        await stream.close()
    return events, error


OBSERVED = ("instrument", "watch", "both")


# -- legacy function_call after content ------------------------------------------------------------
@pytest.mark.parametrize("mode", OBSERVED)
def test_function_call_after_content_is_counted(obs: Obs, mode: str) -> None:
    """A legacy ``function_call`` delta that follows content deltas is one tool call, whether the
    transport tap reads the bytes or ``watch()`` reads the SDK's chunk objects (where the
    function call used to pass for a plain delta and be skipped)."""
    events, error = _drive_sync(make_client(Wire([Reply(FUNCTION_CALL_AFTER_CONTENT)])), mode, obs)
    assert error is None
    assert len(events) == 7
    assert obs.value("runwatch_tool_calls_total", api="chat", tool_type="function") == 1
    assert obs.outcomes() == [("chat", "completed", "none", 1.0)]
    obs.settled()


@pytest.mark.anyio
@pytest.mark.parametrize("mode", OBSERVED)
async def test_function_call_after_content_is_counted_async(obs: Obs, mode: str) -> None:
    """The same through ``AsyncOpenAI``."""
    client = make_client(Wire([Reply(FUNCTION_CALL_AFTER_CONTENT)]), is_async=True)
    events, error = await _drive_async(client, mode, obs)
    assert error is None
    assert len(events) == 7
    assert obs.value("runwatch_tool_calls_total", api="chat", tool_type="function") == 1
    assert obs.outcomes() == [("chat", "completed", "none", 1.0)]
    obs.settled()


# -- in-band errors ---------------------------------------------------------------------------------
def _assert_failed_400(obs: Obs, error: Any) -> None:
    # The SDK raises on the error chunk in every mode: runwatch changes nothing for the caller.
    assert error == ("APIError", "Provider returned error")
    labels = {"api": "chat", "model": "gpt-4o", "status": "failed", "reason": reason_label("chat", "400")}
    assert obs.value("runwatch_runs_total", **labels) == 1
    assert obs.outcomes() == [("chat", "failed", labels["reason"], 1.0)]
    [span] = obs.spans()
    assert span.attributes["runwatch.run.status"] == "failed"
    assert span.attributes["runwatch.run.reason"] == "400"  # an int code becomes its text
    obs.settled()


@pytest.mark.parametrize("mode", OBSERVED)
@pytest.mark.parametrize("body", list(IN_BAND_ERRORS))
def test_in_band_chat_error_fails_the_run(obs: Obs, body: str, mode: str) -> None:
    """A chat chunk carrying an ``error`` object (alone, beside ``finish_reason: "error"``, or
    beside an unfinished choice, which looks like a plain delta on the wire) ends the run
    ``failed`` with the error's code as reason, under the tap and under ``watch()`` alike (not
    ``aborted`` because the SDK raised and closed the response)."""
    events, error = _drive_sync(make_client(Wire([Reply(IN_BAND_ERRORS[body])])), mode, obs)
    assert len(events) == 4
    _assert_failed_400(obs, error)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", OBSERVED)
@pytest.mark.parametrize("body", list(IN_BAND_ERRORS))
async def test_in_band_chat_error_fails_the_run_async(obs: Obs, body: str, mode: str) -> None:
    """The same through ``AsyncOpenAI``."""
    client = make_client(Wire([Reply(IN_BAND_ERRORS[body])]), is_async=True)
    events, error = await _drive_async(client, mode, obs)
    assert len(events) == 4
    _assert_failed_400(obs, error)


# -- the one place that says what a plain chunk is ---------------------------------------------------
_PLAIN_TABLE = [
    pytest.param(_chunk({"content": "a"}), True, id="content"),
    pytest.param(_chunk({"role": "assistant", "content": ""}), True, id="role"),
    pytest.param(_chunk({"function_call": {"name": "f", "arguments": ""}}), False, id="function_call"),
    pytest.param(_chunk({"function_call": {"arguments": "{}"}}), False, id="function_call_arguments"),
    pytest.param(
        _chunk({"tool_calls": [{"index": 0, "id": "c", "type": "function", "function": {"name": "f"}}]}),
        False,
        id="tool_calls",
    ),
    pytest.param(_chunk({}, "stop"), False, id="finished"),
    pytest.param(
        _chunk({"content": "a"}, usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}),
        False,
        id="usage",
    ),
    pytest.param(_chunk({"content": ""}, None, error=_ERROR), False, id="error"),
    pytest.param({**_chunk({}), "choices": []}, False, id="no_choices"),
]


@pytest.mark.parametrize(("chunk", "plain"), _PLAIN_TABLE)
def test_plain_chunk_on_dicts_and_sdk_objects(chunk: dict[str, Any], plain: bool) -> None:
    """``chat.plain_chunk`` answers the same for a parsed chunk dict and for the SDK's
    ``ChatCompletionChunk`` built from it: no tool call, no function call, no finish, no usage,
    no error, and at least one choice."""
    assert chat.plain_chunk(chunk) is plain
    assert chat.plain_chunk(ChatCompletionChunk.model_validate(chunk)) is plain


@pytest.mark.parametrize("body", list(IN_BAND_ERRORS))
def test_error_chunk_is_never_a_plain_delta_on_the_wire(body: str) -> None:
    """The byte test (``chat.plain_delta``, and its inlined copies) never takes a chunk with a
    top-level ``error`` for a plain delta, though an unfinished choice beside it has the delta mark."""
    frames = [f[6:] for f in IN_BAND_ERRORS[body].decode().split("\n\n") if f.startswith("data: {")]
    *content, error = frames
    assert all(map(chat.plain_delta, content))
    assert not chat.plain_delta(error)
    assert not chat.plain_deltas(frames, "".join(f"data: {f}\n\n" for f in frames))
