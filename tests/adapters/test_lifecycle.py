"""Runs that pause, break off, fail in user code, lose their connection, get cancelled or dropped;
and sinks that raise. The caller always sees what it sees without runwatch; every run ends once
with an honest outcome; every span ends; nothing stays in progress."""

from __future__ import annotations

import gc
import time
from typing import Any

import anyio
import pytest

import runwatch
from runwatch.builders import assistants_run, chat_stream, responses_stream
from runwatch.events import Transition

from . import drivers
from .conftest import DATA, EXPECTED, Reply, Wire, case_replies, http, make_client, new_obs

MODES = ("bare", "instrument", "watch", "both")


# -- requires_action ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["instrument", "handler", "both"])
def test_requires_action_continuation_joins_run(mode: str) -> None:
    """The submit_tool_outputs stream continues the same run: one runs_total increment, one run
    span, with a requires_action child span."""
    o = new_obs()
    drivers.assistants_sync(
        make_client(Wire(case_replies("assistants_requires_action"))),
        EXPECTED["assistants_requires_action"],
        mode,
        o.observer,
    )
    assert o.outcomes() == [("assistants", "completed", "none", 1.0)]
    o.settled()
    spans = o.spans()
    runs = [s for s in spans if s.parent is None]
    assert len(runs) == 1, [s.name for s in spans]
    run = runs[0]
    assert run.attributes["runwatch.run.id"] == "run_a100"
    waits = [s for s in spans if "requires_action" in s.name]
    assert len(waits) == 1
    assert waits[0].parent.span_id == run.context.span_id


@pytest.mark.parametrize("mode", ["instrument", "handler"])
def test_requires_action_never_resumed_is_abandoned(mode: str) -> None:
    """A run paused for tool outputs and never resumed ends ``abandoned`` after the TTL (and not
    before); its span ends."""
    o = new_obs(requires_action_ttl=30.0)
    case = {**EXPECTED["assistants_requires_action"]}
    case["requests"] = case["requests"][:1]
    drivers.assistants_sync(
        make_client(Wire(case_replies("assistants_requires_action")[:1])), case, mode, o.observer
    )
    assert o.outcomes() == []
    assert o.observer.sweep(now=time.time() + 5) == 0
    assert o.observer.sweep(now=time.time() + 31) == 1
    [(api, status, _reason, n)] = o.outcomes()
    assert (api, status, n) == ("assistants", "abandoned", 1.0)
    o.settled()


# -- breaking off -------------------------------------------------------------------------------
def _break_close(client: Any, mode: str, observer: Any) -> Any:
    s = drivers.wrap(client.responses.create(model="m", input="hi", stream=True), mode, observer)
    seen = []
    for e in s:
        seen.append(drivers.rec(e))
        if len(seen) == 3:
            break
    s.close()
    return seen


def _cm_exit(client: Any, mode: str, observer: Any) -> Any:
    seen = []
    with drivers.wrap(client.responses.stream(model="m", input="hi"), mode, observer) as s:
        for e in s:
            seen.append(drivers.rec(e))
            if len(seen) == 3:
                break
    return seen


def _raise_in_handler(client: Any, mode: str, observer: Any) -> Any:
    class Boom(drivers.Recorder):
        def on_text_delta(self, delta: Any, snapshot: Any) -> None:
            super().on_text_delta(delta, snapshot)
            raise ValueError("user handler failed")

    h = drivers.wrap_handler(Boom(), "handler" if mode in ("watch", "both") else mode, observer)
    try:
        with client.beta.threads.runs.stream(thread_id="t", assistant_id="a", event_handler=h) as s:
            s.until_done()
    except ValueError as exc:
        return h.log, drivers.err(exc)
    raise AssertionError("no exception")


@pytest.mark.parametrize(
    ("action", "case", "reasons"),
    [
        pytest.param(_break_close, "responses_completed", {"client_closed"}, id="break+close"),
        pytest.param(_cm_exit, "responses_completed", {"client_closed"}, id="context-exit"),
        # The tap alone cannot tell a handler's exception from the SDK closing the response.
        pytest.param(
            _raise_in_handler, "assistants_completed", {"handler_error", "client_closed"}, id="handler-raises"
        ),
    ],
)
def test_break_off(action: Any, case: str, reasons: set[str]) -> None:
    """The caller sees the same events (and exception) as without runwatch; the run ends
    ``aborted`` with a close reason; spans end; nothing stays in progress."""
    bare = action(make_client(Wire(case_replies(case))), "bare", None)
    for mode in MODES[1:]:
        o = new_obs()
        client = drivers.setup(make_client(Wire(case_replies(case))), mode, o.observer)
        got = action(client, mode, o.observer)
        assert got == bare, mode
        outcomes = o.outcomes()
        assert len(outcomes) == 1, (mode, outcomes)
        [(_, status, reason, n)] = outcomes
        assert (status, n) == ("aborted", 1.0), mode
        assert reason in reasons, (mode, reason)
        o.settled()


def test_handler_error_reason_when_handler_observed() -> None:
    """With ``runwatch.handler`` (no tap) an exception from the user's callback is ``handler_error``."""
    o = new_obs()
    _raise_in_handler(make_client(Wire(case_replies("assistants_completed"))), "handler", o.observer)
    assert o.outcomes() == [("assistants", "aborted", "handler_error", 1.0)]
    o.settled()


def _cut(name: str) -> list[Reply]:
    body = (DATA / EXPECTED[name]["files"][0]).read_bytes()
    return [Reply(body[: len(body) // 2], fail=http.ReadError("connection reset by peer"))]


@pytest.mark.parametrize("name", ["responses_completed", "chat_stop", "assistants_completed"])
def test_connection_cut_sync(name: str) -> None:
    """The body stream raises ReadError halfway: same events, same exception type and message as
    bare; the run ends aborted / transport_error."""
    bare = drivers.raw_sync(make_client(Wire(_cut(name))), EXPECTED[name], "bare", None)
    assert bare[0]["error"] is not None
    for mode in MODES[1:]:
        o = new_obs()
        got = drivers.raw_sync(make_client(Wire(_cut(name))), EXPECTED[name], mode, o.observer)
        assert got == bare, mode
        assert o.outcomes() == [(EXPECTED[name]["runs"][0]["api"], "aborted", "transport_error", 1.0)], mode
        o.settled()


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["responses_completed", "chat_stop"])
async def test_connection_cut_async(name: str) -> None:
    """Async twin of :func:`test_connection_cut_sync`."""
    bare = await drivers.raw_async(make_client(Wire(_cut(name)), is_async=True), EXPECTED[name], "bare", None)
    for mode in MODES[1:]:
        o = new_obs()
        got = await drivers.raw_async(
            make_client(Wire(_cut(name)), is_async=True), EXPECTED[name], mode, o.observer
        )
        assert got == bare, mode
        assert o.outcomes() == [(EXPECTED[name]["runs"][0]["api"], "aborted", "transport_error", 1.0)], mode
        o.settled()


class _Stall(http.AsyncByteStream):  # type: ignore[misc,name-defined]
    """Sends some chunks, then waits forever (a model that stops talking)."""

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    async def __aiter__(self) -> Any:
        for p in self.parts:
            yield p
        await anyio.sleep_forever()

    async def aclose(self) -> None:
        pass


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_task_cancellation(mode: str) -> None:
    """A task cancelled mid-stream: the caller's task sees the cancellation exactly as without
    runwatch (same events before it); the run ends aborted / cancelled; spans end."""
    body = (DATA / "responses_completed.sse").read_bytes()
    head = body[: body.index(b"event: response.output_text.delta")]

    async def handler(request: Any) -> Any:
        return http.Response(
            200, headers={"content-type": "text/event-stream"}, stream=_Stall([head[:50], head[50:]])
        )

    o = new_obs()
    client = drivers.setup(
        __import__("openai").AsyncOpenAI(
            api_key="k",
            base_url="http://api.test/v1",
            max_retries=0,
            http_client=http.AsyncClient(transport=http.MockTransport(handler)),
        ),
        mode,
        o.observer,
    )
    seen: list[Any] = []
    cancelled = False
    with anyio.move_on_after(5):
        async with anyio.create_task_group() as tg:

            async def consume() -> None:
                nonlocal cancelled
                s = drivers.wrap(
                    await client.responses.create(model="m", input="hi", stream=True), mode, o.observer
                )
                try:
                    async for e in s:
                        seen.append(e.type)
                        if len(seen) == 2:
                            tg.cancel_scope.cancel()
                except anyio.get_cancelled_exc_class():
                    cancelled = True
                    raise

            tg.start_soon(consume)
    # Events already buffered are delivered before the next checkpoint: all of `head`, in order.
    assert cancelled
    assert seen == [ln[7:] for ln in head.decode().splitlines() if ln.startswith("event: ")]
    gc.collect()
    runwatch._observer.wait_finalized()  # finalizers queue; the reaper closes
    if mode == "bare":
        assert o.outcomes() == []
        return
    assert o.outcomes() == [("responses", "aborted", "cancelled", 1.0)]
    o.settled()


@pytest.mark.parametrize("mode", MODES[1:])
def test_dropped_stream_is_client_closed(mode: str) -> None:
    """A stream read partly and dropped without close() ends aborted / client_closed on GC."""
    o = new_obs()
    client = drivers.setup(make_client(Wire(case_replies("responses_completed"))), mode, o.observer)
    s = drivers.wrap(client.responses.create(model="m", input="hi", stream=True), mode, o.observer)
    it = iter(s)
    next(it), next(it)
    del s, it
    gc.collect()
    runwatch._observer.wait_finalized()  # finalizers queue; the reaper closes
    assert o.outcomes() == [("responses", "aborted", "client_closed", 1.0)]
    o.settled()


@pytest.mark.parametrize("mode", MODES[1:])
@pytest.mark.parametrize("ending", ["read to the end", "closed early"])
def test_a_stream_closed_in_time_leaves_nothing_for_the_reaper(mode: str, ending: str) -> None:
    """Only a stream dropped unclosed is queued for the reaper thread: one read to its end or
    closed by the caller was settled already, and waking a thread for it cost more CPU per run
    (two thread switches) than everything else runwatch does for a short stream."""
    o = new_obs()
    client = drivers.setup(make_client(Wire(case_replies("responses_completed") * 20)), mode, o.observer)
    gc.collect()
    runwatch._observer.wait_finalized()
    queued = runwatch._observer._counts[0]
    for _ in range(20):
        s = drivers.wrap(client.responses.create(model="m", input="hi", stream=True), mode, o.observer)
        if ending == "read to the end":
            for _ in s:
                pass
        else:
            it = iter(s)
            next(it)
            s.close()
        del s
        gc.collect()
    runwatch._observer.wait_finalized()
    assert runwatch._observer._counts[0] == queued
    status = "completed" if ending == "read to the end" else "aborted"
    assert [(api, st, n) for api, st, _, n in o.outcomes()] == [("responses", status, 20.0)]
    o.settled()


def _stop_at_the_end(api: str, stream: Any) -> None:
    """Read ``stream`` up to the event that ends its run, then stop (no close, no more reads)."""
    for event in stream:
        if (event.event if api == "assistants" else event.type) == f"{ANY_API_END[api]}":
            return
    raise AssertionError("the stream ended before its run did")


ANY_API_END = {"responses": "response.completed", "assistants": "thread.run.completed"}


# (A chat run ends at ``[DONE]``, which the SDK reads on to by itself; see test_outcomes.)
@pytest.mark.parametrize("size", [7, 31, 2048])
@pytest.mark.parametrize("api", ["responses", "assistants"])
def test_a_run_ends_when_its_last_event_arrives_though_the_caller_stops_there(api: str, size: int) -> None:
    """A caller may stop reading at the event that ends its run and keep the stream open. The
    run is counted then, not when the stream is closed or collected, whatever the chunking.
    Responses and Assistants streams are read as they come (only chat deltas are held, see the
    chat test below); this keeps any holding of them to the same promise."""
    body = responses_stream(deltas=400) if api == "responses" else assistants_run(deltas=400)
    o = new_obs()
    client = drivers.setup(make_client(Wire([Reply(body, sizes=(size,))])), "instrument", o.observer)
    if api == "responses":
        stream = client.responses.create(model="m", input="hi", stream=True)
    else:
        stream = client.beta.threads.runs.create("thread_1", assistant_id="asst_1", stream=True)
    _stop_at_the_end(api, stream)
    assert [(a, st, n) for a, st, _, n in o.outcomes()] == [(api, "completed", 1.0)]
    stream.close()


RESPONSES_ENDS = {
    "completed": ("response.completed", ("completed", "none")),
    "incomplete:max_output_tokens": ("response.incomplete", ("incomplete", "max_output_tokens")),
    "failed:server_error": ("response.failed", ("failed", "server_error")),
    "unknown:cancelled": ("response.cancelled", ("cancelled", "none")),
}


@pytest.mark.parametrize("event_lines", [True, False], ids=["event-lines", "data-only"])
@pytest.mark.parametrize("size", [7, 2048])
@pytest.mark.parametrize("outcome", list(RESPONSES_ENDS))
def test_a_responses_run_ends_when_its_last_event_arrives_whatever_its_status(
    outcome: str, size: int, event_lines: bool
) -> None:
    """Whatever status ends a Responses run, also with no ``event:`` lines and with its event cut
    across chunks, a caller who stops at that event, the stream still open, has the run counted
    with its reason. (Responses streams are read as they come; this holds any holding of them,
    as chat's, to reading the held chunks at the run's end: a version that held them until a
    terminal event failed it when its marks missed one.)"""
    body = responses_stream(outcome, deltas=400)
    if not event_lines:
        body = b"\n".join(line for line in body.split(b"\n") if not line.startswith(b"event: "))
    end, (status, reason) = RESPONSES_ENDS[outcome]
    o = new_obs()
    client = drivers.setup(make_client(Wire([Reply(body, sizes=(size,))])), "instrument", o.observer)
    stream = client.responses.create(model="m", input="hi", stream=True)
    for event in stream:
        if event.type == end:
            break
    else:
        raise AssertionError("the stream ended before its run did")
    assert o.outcomes() == [("responses", status, reason, 1.0)]
    stream.close()


@pytest.mark.parametrize("cut", [0, 6], ids=["mark-whole", "mark-cut-across-chunks"])
def test_a_chat_run_ends_when_its_last_chunk_arrives_though_the_caller_stops_there(cut: int) -> None:
    """Chat deltas are held unread once they change nothing; a chunk with a finish reason reads
    them (here with ``[DONE]`` right behind it, as servers send it), so a caller who stops at
    the finish and keeps the stream open still has the run counted, also when the finish reason's
    mark is cut across two chunks."""
    body = chat_stream(deltas=400, include_usage=False)
    at = body.index(b'"finish_reason":"') + cut
    o = new_obs()
    wire = Wire([Reply(body, sizes=(1000, at - 1000, len(body) - at))])
    client = drivers.setup(make_client(wire), "instrument", o.observer)
    messages = [{"role": "user", "content": "hi"}]
    stream = client.chat.completions.create(model="m", messages=messages, stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].finish_reason:
            break
    assert [(a, st, n) for a, st, _, n in o.outcomes()] == [("chat", "completed", 1.0)]
    stream.close()


# -- sinks that raise -----------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES[1:])
def test_raising_sink_never_reaches_caller(mode: str) -> None:
    """A sink that raises is swallowed (raise_errors=False), counted under stage="sink", and the
    other sinks (built-in and user) still receive every transition."""
    got: list[str] = []

    def boom(t: Transition) -> None:
        raise RuntimeError("sink down")

    def good(t: Transition) -> None:
        got.append(type(t).__name__)

    name = "responses_incomplete_max_output_tokens"
    bare = drivers.raw_sync(make_client(Wire(case_replies(name))), EXPECTED[name], "bare", None)
    o = new_obs(sinks=[boom, good], raise_errors=False)
    assert drivers.raw_sync(make_client(Wire(case_replies(name))), EXPECTED[name], mode, o.observer) == bare
    assert o.outcomes() == [("responses", "incomplete", "max_output_tokens", 1.0)]
    # boom raised on every transition; each was counted, and `good` still got each one.
    assert o.value("runwatch_internal_errors_total", stage="sink") == len(got)
    assert got[0] == "RunStarted"
    assert got[-1] == "RunFinished"
    o.settled()


@pytest.mark.parametrize("mode", MODES[1:])
def test_stream_collected_while_its_thread_holds_the_run_book_lock_does_not_deadlock(mode: str) -> None:
    """A finalizer runs wherever the collector does: here while the very thread that drops the
    stream is inside the run book's lock (where a collection can start). Ending the dropped run
    takes that lock again: it must be re-entrant (the first release's was not: a deadlock)."""
    import threading

    o = new_obs()
    lock = o.observer.book._lock
    client = drivers.setup(make_client(Wire(case_replies("responses_completed"))), mode, o.observer)
    s = drivers.wrap(client.responses.create(model="m", input="hi", stream=True), mode, o.observer)
    it = iter(s)
    next(it), next(it)
    done = threading.Event()

    def drop() -> None:
        nonlocal s, it
        with lock:
            del s, it
            gc.collect()
        done.set()

    worker = threading.Thread(target=drop, daemon=True)
    worker.start()
    assert done.wait(5), "dropping a stream inside the run book lock deadlocked"
    runwatch._observer.wait_finalized()
    assert o.outcomes() == [("responses", "aborted", "client_closed", 1.0)]
    o.settled()
