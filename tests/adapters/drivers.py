"""Drive the real openai SDK the way an application does, and record everything it sees.

Each driver runs one recorded case (one or two HTTP streams) through one SDK entry point in one
mode and returns a transcript: the events (type name + ``model_dump()``), handler callbacks, the
exception (type + message) and the final object. Pass-through means the transcript of every mode
equals the bare SDK's.

Modes: ``bare`` (no runwatch), ``instrument`` (transport tap), ``watch`` (``runwatch.watch`` /
``runwatch.handler`` on the SDK objects), ``both`` (tap and watch on the same stream).
"""

from __future__ import annotations

import re
from typing import Any

import openai
from openai import AssistantEventHandler, AsyncAssistantEventHandler

import runwatch

MODES = ("bare", "instrument", "watch", "both")
#: Assistants handler streams: ``watch`` wraps the stream manager, ``handler`` the user's handler.
HANDLER_MODES = ("bare", "instrument", "watch", "handler", "both")
HAS_AGENTS = hasattr(openai.OpenAI(api_key="x", base_url="http://x").beta, "agents")


def rec(obj: Any) -> Any:
    if obj is None:
        return None
    dump = getattr(obj, "model_dump", None)
    return (type(obj).__name__, dump(warnings=False) if dump is not None else repr(obj))


def err(exc: BaseException) -> tuple[str, str]:
    return (type(exc).__name__, str(exc))


def _sync_handler_cls() -> type:
    class Recorder(AssistantEventHandler):
        """A user handler recording its callbacks (and carrying attributes of its own)."""

        def __init__(self) -> None:
            super().__init__()
            self.log: list[Any] = []
            self.user_state = {"mine": True}

        def on_event(self, event: Any) -> None:
            self.log.append(("event", event.event))

        def on_run_step_created(self, run_step: Any) -> None:
            self.log.append(("step_created", run_step.id))

        def on_text_delta(self, delta: Any, snapshot: Any) -> None:
            self.log.append(("text_delta", delta.value, snapshot.value))

        def on_message_done(self, message: Any) -> None:
            self.log.append(("message_done", rec(message)))

        def on_tool_call_created(self, tool_call: Any) -> None:
            self.log.append(("tool_call_created", tool_call.id))

        def on_exception(self, exception: Exception) -> None:
            self.log.append(("exception", *err(exception)))

        def on_end(self) -> None:
            self.log.append(("end",))

    return Recorder


def _async_handler_cls() -> type:
    class AsyncRecorder(AsyncAssistantEventHandler):
        def __init__(self) -> None:
            super().__init__()
            self.log: list[Any] = []
            self.user_state = {"mine": True}

        async def on_event(self, event: Any) -> None:
            self.log.append(("event", event.event))

        async def on_run_step_created(self, run_step: Any) -> None:
            self.log.append(("step_created", run_step.id))

        async def on_text_delta(self, delta: Any, snapshot: Any) -> None:
            self.log.append(("text_delta", delta.value, snapshot.value))

        async def on_message_done(self, message: Any) -> None:
            self.log.append(("message_done", rec(message)))

        async def on_tool_call_created(self, tool_call: Any) -> None:
            self.log.append(("tool_call_created", tool_call.id))

        async def on_exception(self, exception: Exception) -> None:
            self.log.append(("exception", *err(exception)))

        async def on_end(self) -> None:
            self.log.append(("end",))

    return AsyncRecorder


Recorder = _sync_handler_cls()
AsyncRecorder = _async_handler_cls()


def setup(client: Any, mode: str, observer: runwatch.Observer) -> Any:
    if mode in ("instrument", "both"):
        assert runwatch.instrument(client, observer) is client
    return client


def wrap(obj: Any, mode: str, observer: runwatch.Observer) -> Any:
    return runwatch.watch(obj, observer) if mode in ("watch", "both") else obj


def wrap_handler(h: Any, mode: str, observer: runwatch.Observer) -> Any:
    if mode in ("handler", "both"):
        assert runwatch.handler(h, observer) is h
    return h


_TOOLS = [{"tool_call_id": "call_x", "output": "18C"}]


def _route(line: str) -> tuple[str, dict[str, str]]:
    method, _, target = line.partition(" ")
    path = target.split("?", 1)[0]
    for kind, pattern in (
        ("submit", r"^POST /v1/threads/(?P<tid>[^/]+)/runs/(?P<rid>[^/]+)/submit_tool_outputs$"),
        ("run", r"^POST /v1/threads/(?P<tid>[^/]+)/runs$"),
        ("resume", r"^GET /v1/responses/(?P<rid>[^/]+)$"),
        ("responses", r"^POST /v1/responses$"),
        ("chat", r"^POST /v1/chat/completions$"),
        ("agents", r"^GET /v1/agents/sessions/(?P<sid>[^/]+)/events$"),
    ):
        m = re.match(pattern, f"{method} {path}")
        if m:
            return kind, m.groupdict()
    raise AssertionError(line)


def _query(line: str) -> dict[str, str]:
    q = line.partition("?")[2]
    return dict(p.split("=", 1) for p in q.split("&")) if q else {}


# -- raw SDK streams: every transcript --------------------------------------------------------
def _raw_call(client: Any, line: str) -> Any:
    kind, a = _route(line)
    if kind == "run":
        return client.beta.threads.runs.create(thread_id=a["tid"], assistant_id="asst_x", stream=True)
    if kind == "submit":
        return client.beta.threads.runs.submit_tool_outputs(
            thread_id=a["tid"], run_id=a["rid"], tool_outputs=_TOOLS, stream=True
        )
    if kind == "responses":
        return client.responses.create(model="gpt-4o", input="hi", stream=True)
    if kind == "resume":
        return client.responses.retrieve(
            a["rid"], stream=True, starting_after=int(_query(line)["starting_after"])
        )
    if kind == "chat":
        return client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    return client.beta.agents.sessions.events.stream(a["sid"])


def raw_sync(client: Any, case: dict[str, Any], mode: str, observer: runwatch.Observer) -> list[Any]:
    out: list[Any] = []
    setup(client, mode, observer)
    for line in case["requests"]:
        events: list[Any] = []
        error = None
        stream = wrap(_raw_call(client, line), mode, observer)
        try:
            for e in stream:
                events.append(rec(e))
        except Exception as exc:
            error = err(exc)
            # openai 3.x closes the response when it raises mid-stream; 1.x leaves it to the caller.
            stream.close()
        out.append({"events": events, "error": error})
    return out


async def _araw_call(client: Any, line: str) -> Any:
    kind, a = _route(line)
    if kind == "run":
        return await client.beta.threads.runs.create(thread_id=a["tid"], assistant_id="asst_x", stream=True)
    if kind == "submit":
        return await client.beta.threads.runs.submit_tool_outputs(
            thread_id=a["tid"], run_id=a["rid"], tool_outputs=_TOOLS, stream=True
        )
    if kind == "responses":
        return await client.responses.create(model="gpt-4o", input="hi", stream=True)
    if kind == "resume":
        return await client.responses.retrieve(
            a["rid"], stream=True, starting_after=int(_query(line)["starting_after"])
        )
    if kind == "chat":
        return await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    return await client.beta.agents.sessions.events.stream(a["sid"])


async def raw_async(client: Any, case: dict[str, Any], mode: str, observer: runwatch.Observer) -> list[Any]:
    out: list[Any] = []
    setup(client, mode, observer)
    for line in case["requests"]:
        events: list[Any] = []
        error = None
        stream = wrap(await _araw_call(client, line), mode, observer)
        try:
            async for e in stream:
                events.append(rec(e))
        except Exception as exc:
            error = err(exc)
            await stream.close()  # as in raw_sync
        out.append({"events": events, "error": error})
    return out


# -- responses.stream() helper -------------------------------------------------------------------
def responses_helper_sync(client: Any, case: dict[str, Any], mode: str, observer: runwatch.Observer) -> Any:
    setup(client, mode, observer)
    events: list[Any] = []
    error = final = None
    with wrap(client.responses.stream(model="gpt-4o", input="hi"), mode, observer) as stream:
        try:
            for e in stream:
                events.append(rec(e))
            final = rec(stream.get_final_response())
        except Exception as exc:
            error = err(exc)
        watched_final = rec(getattr(stream, "final", None)) if mode in ("watch", "both") else None
    return {"events": events, "error": error, "final": final, "watched_final": watched_final}


async def responses_helper_async(
    client: Any, case: dict[str, Any], mode: str, observer: runwatch.Observer
) -> Any:
    setup(client, mode, observer)
    events: list[Any] = []
    error = final = None
    async with wrap(client.responses.stream(model="gpt-4o", input="hi"), mode, observer) as stream:
        try:
            async for e in stream:
                events.append(rec(e))
            final = rec(await stream.get_final_response())
        except Exception as exc:
            error = err(exc)
        watched_final = rec(getattr(stream, "final", None)) if mode in ("watch", "both") else None
    return {"events": events, "error": error, "final": final, "watched_final": watched_final}


# -- assistants with an event handler --------------------------------------------------------------
def _handler_result(h: Any, error: Any) -> dict[str, Any]:
    try:
        final: Any = rec(h.get_final_run())
    except Exception as exc:
        final = err(exc)
    return {"log": h.log, "error": error, "final": final, "current": rec(h.current_run)}


async def _ahandler_result(h: Any, error: Any) -> dict[str, Any]:
    try:
        final: Any = rec(await h.get_final_run())
    except Exception as exc:
        final = err(exc)
    return {"log": h.log, "error": error, "final": final, "current": rec(h.current_run)}


def assistants_sync(
    client: Any, case: dict[str, Any], mode: str, observer: runwatch.Observer, *, entry: str = "stream"
) -> list[Any]:
    setup(client, mode, observer)
    out: list[Any] = []
    for line in case["requests"]:
        kind, a = _route(line)
        h = wrap_handler(Recorder(), mode, observer)
        if kind == "submit":
            manager = client.beta.threads.runs.submit_tool_outputs_stream(
                thread_id=a["tid"], run_id=a["rid"], tool_outputs=_TOOLS, event_handler=h
            )
        elif entry == "create_and_run_stream":
            manager = client.beta.threads.create_and_run_stream(assistant_id="asst_x", event_handler=h)
        else:
            manager = client.beta.threads.runs.stream(
                thread_id=a["tid"], assistant_id="asst_x", event_handler=h
            )
        if mode == "watch":
            manager = runwatch.watch(manager, observer)
        error = None
        try:
            with manager as stream:
                assert stream is h
                stream.until_done()
        except Exception as exc:
            error = err(exc)
        out.append(_handler_result(h, error))
    return out


async def assistants_async(
    client: Any, case: dict[str, Any], mode: str, observer: runwatch.Observer, *, entry: str = "stream"
) -> list[Any]:
    setup(client, mode, observer)
    out: list[Any] = []
    for line in case["requests"]:
        kind, a = _route(line)
        h = wrap_handler(AsyncRecorder(), mode, observer)
        if kind == "submit":
            manager = client.beta.threads.runs.submit_tool_outputs_stream(
                thread_id=a["tid"], run_id=a["rid"], tool_outputs=_TOOLS, event_handler=h
            )
        elif entry == "create_and_run_stream":
            manager = client.beta.threads.create_and_run_stream(assistant_id="asst_x", event_handler=h)
        else:
            manager = client.beta.threads.runs.stream(
                thread_id=a["tid"], assistant_id="asst_x", event_handler=h
            )
        if mode == "watch":
            manager = runwatch.watch(manager, observer)
        error = None
        try:
            async with manager as stream:
                assert stream is h
                await stream.until_done()
        except Exception as exc:
            error = err(exc)
        out.append(await _ahandler_result(h, error))
    return out
