"""instrument / uninstrument on every client kind, identity of what runwatch hands back, ``.final``,
plain-bytes bodies, a plain ``httpx`` client under openai 3.x, and create_and_poll."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

import runwatch

from . import drivers
from .conftest import (
    EXPECTED,
    HAS_HTTPX2,
    Obs,
    Reply,
    Wire,
    case_replies,
    expected_outcomes,
    http,
    make_client,
)


def _http(client: Any) -> Any:
    return client._client


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_instrument_same_object_idempotent_uninstrument_restores(obs: Obs, is_async: bool) -> None:
    """instrument returns the client itself, taps once however often it is called, and
    uninstrument puts the very transport object back."""
    client = make_client(Wire(), is_async=is_async)
    original = _http(client)._transport
    assert runwatch.instrument(client, obs.observer) is client
    tapped = _http(client)._transport
    assert tapped is not original
    assert runwatch.instrument(client, obs.observer) is client
    assert _http(client)._transport is tapped, "no tap on a tap"
    assert runwatch.uninstrument(client) is client
    assert _http(client)._transport is original
    assert runwatch.uninstrument(client) is client  # idempotent too


def test_instrument_azure(obs: Obs) -> None:
    """AzureOpenAI (api_version, azure_endpoint, api_key, a mock http_client) is tapped the same
    way, and its deployment-prefixed URLs are still classified (the run is observed)."""
    wire = Wire(case_replies("chat_length"))
    hc = http.Client(transport=http.MockTransport(wire.handler))
    client = openai.AzureOpenAI(
        api_version="2024-10-21",
        azure_endpoint="https://example.openai.azure.com",
        api_key="k",
        http_client=hc,
    )
    original = client._client._transport
    assert runwatch.instrument(client, obs.observer) is client
    events = list(
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert events
    assert wire.seen[0].startswith("POST /openai/deployments/gpt-4o/chat/completions")
    assert obs.outcomes() == expected_outcomes("chat_length")
    runwatch.uninstrument(client)
    assert client._client._transport is original


@pytest.mark.parametrize(
    "name", ["responses_incomplete_max_output_tokens", "chat_length", "assistants_failed_server_error"]
)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_plain_httpx_client(name: str, is_async: bool) -> None:
    """A plain ``httpx.Client`` / ``AsyncClient`` passed as ``http_client`` (accepted by openai 3.x;
    the native client of 1.x/2.x) streams through the tap unchanged and is observed."""
    from .conftest import new_obs

    results = {}
    for mode in ("bare", "instrument"):
        o = new_obs()
        wire = Wire(case_replies(name))
        client = make_client(wire, is_async=is_async, plain_httpx=True)
        assert isinstance(client._client, httpx.AsyncClient if is_async else httpx.Client)
        if is_async:
            import asyncio

            results[mode] = asyncio.run(drivers.raw_async(client, EXPECTED[name], mode, o.observer))
        else:
            results[mode] = drivers.raw_sync(client, EXPECTED[name], mode, o.observer)
        assert wire.bodies, "body streamed, not pre-read"
    assert results["instrument"] == results["bare"]
    assert o.outcomes() == expected_outcomes(name)
    o.settled()


@pytest.mark.parametrize(
    "name", ["responses_incomplete_content_filter", "assistants_requires_action", "chat_cut_mid_stream"]
)
def test_preread_bodies(name: str) -> None:
    """A body the transport hands over already read (plain bytes) is observed too, unchanged."""
    from .conftest import new_obs

    results = {}
    for mode in ("bare", "instrument"):
        o = new_obs()
        replies = case_replies(name)
        for r in replies:
            r.preread = True
        wire = Wire(replies)
        results[mode] = drivers.raw_sync(make_client(wire), EXPECTED[name], mode, o.observer)
        assert not wire.bodies
    assert results["instrument"] == results["bare"]
    assert o.outcomes() == expected_outcomes(name)
    o.settled()


# -- identity ---------------------------------------------------------------------------------
def test_handler_is_the_same_object(obs: Obs) -> None:
    """handler() returns the user's own handler: identity, type, user attributes and
    ``current_run`` intact; every callback still reaches it."""
    wire = Wire(case_replies("assistants_completed"))
    client = make_client(wire)
    h = drivers.Recorder()
    h.extra = 42
    keys = set(vars(h))
    same = runwatch.handler(h, obs.observer)
    assert same is h
    assert type(same) is drivers.Recorder
    assert keys <= set(vars(h))
    assert h.extra == 42
    assert h.user_state == {"mine": True}
    assert runwatch.handler(h, obs.observer) is h
    with client.beta.threads.runs.stream(thread_id="thread_a001", assistant_id="a", event_handler=h) as s:
        assert s is h
        s.until_done()
    assert h.current_run is not None
    assert h.current_run.status == "completed"
    assert h.get_final_run().id == "run_a001"
    assert ("end",) in h.log
    assert obs.outcomes() == expected_outcomes("assistants_completed")


def test_handler_rejects_non_handler(obs: Obs) -> None:
    """A wrong argument is a caller error, raised at once (not swallowed)."""
    with pytest.raises(TypeError):
        runwatch.handler(object(), obs.observer)


def test_watch_isinstance(obs: Obs) -> None:
    """watch() results pass the SDK's isinstance checks: Stream, and ResponseStream inside a
    watched ``responses.stream()`` manager."""
    from openai.lib.streaming.responses import ResponseStream

    client = make_client(Wire(case_replies("responses_completed") * 2))
    w = runwatch.watch(client.responses.create(model="m", input="hi", stream=True), obs.observer)
    assert isinstance(w, openai.Stream)
    list(w)
    with runwatch.watch(client.responses.stream(model="m", input="hi"), obs.observer) as s:
        assert isinstance(s, ResponseStream)
        list(s)


class _Nameless:
    """An item of a type nobody knows (no ``type``, ``object`` or ``event``)."""


def test_watch_counts_an_item_that_names_no_event(obs: Obs) -> None:
    """watch() over any iterable hands every item back unchanged; one that names no event is not
    fed, and counted as an ``unknown_event`` (its type's name in the log, never its content),
    rather than dropped silently."""
    client = make_client(Wire(case_replies("responses_completed")))
    items = list(client.responses.create(model="m", input="hi", stream=True))
    odd = [_Nameless(), {"no": "name"}]
    seen = list(runwatch.watch(iter([items[0], *odd, *items[1:]]), obs.observer))
    assert seen == [items[0], *odd, *items[1:]]
    assert seen[1] is odd[0]
    assert obs.value("runwatch_stream_anomalies_total", api="responses", kind="unknown_event") == 2
    assert obs.outcomes() == [("responses", "completed", "none", 1.0)]


@pytest.mark.anyio
async def test_watch_isinstance_async(obs: Obs) -> None:
    """The async twin: AsyncStream and AsyncResponseStream."""
    from openai.lib.streaming.responses import AsyncResponseStream

    client = make_client(Wire(case_replies("responses_completed") * 2), is_async=True)
    w = runwatch.watch(await client.responses.create(model="m", input="hi", stream=True), obs.observer)
    assert isinstance(w, openai.AsyncStream)
    [e async for e in w]
    async with runwatch.watch(client.responses.stream(model="m", input="hi"), obs.observer) as s:
        assert isinstance(s, AsyncResponseStream)
        [e async for e in s]


RESPONSES_TERMINAL = [
    pytest.param(n, id=n)
    for n, c in EXPECTED.items()
    if c["runs"][0]["api"] == "responses"
    and c["runs"][0]["status"] in ("completed", "incomplete", "failed")
    and len(c["files"]) == 1
    and "error" not in n
    # Streams that break the protocol so that the SDK's helper itself behaves otherwise (an id
    # changed: it raises; a terminal event named for another status: get_final_response follows
    # the name) are tested in test_compatible.py and test_passthrough.py.
    and not {"id_changed", "status_mismatch"} & set(c.get("anomalies", {}))
]


@pytest.mark.parametrize("name", RESPONSES_TERMINAL)
def test_final_for_every_terminal_status(obs: Obs, name: str) -> None:
    """``.final`` is the SDK's own terminal Response object for every terminal status, including
    ``response.incomplete`` / ``response.failed`` where ``get_final_response()`` raises."""
    client = make_client(Wire(case_replies(name)))
    status = EXPECTED[name]["runs"][0]["status"]
    with runwatch.watch(client.responses.stream(model="m", input="hi"), obs.observer) as s:
        events = list(s)
        if status == "completed":
            assert s.get_final_response().status == "completed"
        else:
            with pytest.raises(RuntimeError):
                s.get_final_response()
    assert s.final is events[-1].response
    assert s.final.status == status


@pytest.mark.parametrize(
    "name",
    [
        n
        for n, c in EXPECTED.items()
        if c["runs"][0]["api"] == "assistants"
        and len(c["files"]) == 1
        and c["runs"][0]["status"] in ("completed", "incomplete", "failed", "cancelled", "expired")
        and "error" not in n
    ],
)
def test_final_assistants(obs: Obs, name: str) -> None:
    """``.final`` of a watched assistants stream is the last run snapshot the SDK parsed."""
    client = make_client(Wire(case_replies(name)))
    w = runwatch.watch(
        client.beta.threads.runs.create(thread_id="t", assistant_id="a", stream=True), obs.observer
    )
    events = list(w)
    runs = [
        e.data
        for e in events
        if e.event.startswith("thread.run.") and not e.event.startswith("thread.run.step.")
    ]
    assert w.final is runs[-1]
    assert w.final.status == EXPECTED[name]["runs"][0]["status"]


# -- create_and_poll: JSON run objects through the tap ----------------------------------------------
def _poll_route(statuses: list[str]) -> Any:
    from runwatch import testing

    left = list(statuses)

    def route(request: Any) -> Reply:
        status = left.pop(0) if len(left) > 1 else left[0]
        run = testing.run_object(
            run_id="run_p1",
            thread_id="thread_p1",
            assistant_id="asst_p1",
            model="gpt-4o",
            status=status,
            t0=1_700_000_000,
            started=status != "queued",
            ended_at=1_700_000_010 if status == "completed" else None,
        )
        if request.method == "POST":
            assert request.url.path.endswith("/threads/thread_p1/runs")
        else:
            assert request.method == "GET"
            assert request.url.path.endswith("/runs/run_p1")
        return Reply(json=run)

    return route


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_create_and_poll(is_async: bool) -> None:
    """``create_and_poll``: POST answers queued, GETs in_progress then completed. Same final run
    with and without runwatch; the tap observes it as one completed run."""
    from .conftest import new_obs

    results = {}
    for mode in ("bare", "instrument"):
        o = new_obs()
        wire = Wire(route=_poll_route(["queued", "in_progress", "completed"]))
        client = make_client(wire, is_async=is_async)
        drivers.setup(client, mode, o.observer)
        kw = {"thread_id": "thread_p1", "assistant_id": "a", "poll_interval_ms": 1}
        if is_async:
            import asyncio

            run = asyncio.run(client.beta.threads.runs.create_and_poll(**kw))
        else:
            run = client.beta.threads.runs.create_and_poll(**kw)
        results[mode] = (drivers.rec(run), wire.seen)
        if mode == "instrument":
            assert o.outcomes() == [("assistants", "completed", "none", 1.0)]
            o.settled()
    assert results["instrument"] == results["bare"]
    assert [s.split()[0] for s in results["bare"][1]] == ["POST", "GET", "GET"]


def test_httpx2_is_the_native_client() -> None:
    """Documents which wire library this run exercised (httpx2 under openai 3.x)."""
    client = openai.OpenAI(api_key="k")
    from runwatch.adapters.transport import http_module

    assert http_module(client._client).__name__ == ("httpx2" if HAS_HTTPX2 else "httpx")


def _closing_async_client(module: Any) -> type:
    class ClosingAsyncClient(module.AsyncClient):  # type: ignore[misc,name-defined]
        """An async client that also offers a sync ``close()`` (as some wrappers do)."""

        def close(self) -> None:
            pass

    return ClosingAsyncClient


def _aclosing_sync_client(module: Any) -> type:
    class AClosingClient(module.Client):  # type: ignore[misc,name-defined]
        """A sync client that also offers an ``aclose()``."""

        async def aclose(self) -> None:
            pass

    return AClosingClient


@pytest.mark.anyio
@pytest.mark.parametrize(
    "module", [pytest.param(http, id=http.__name__), pytest.param(httpx, id="plain_httpx")]
)
async def test_async_client_subclass_with_close_gets_the_async_tap(obs: Obs, module: Any) -> None:
    """Whether a client is async is decided by its class (``AsyncClient`` of httpx or httpx2), not
    by which methods it has: an ``AsyncClient`` subclass that defines ``close()`` is tapped with
    the async tap, streams unchanged and is observed."""
    if module is httpx and not HAS_HTTPX2:
        pytest.skip("httpx is the native client here: the first case covers it")
    wire = Wire(case_replies("chat_length"), module=module)
    hc = _closing_async_client(module)(transport=module.MockTransport(wire.async_handler))
    client = openai.AsyncOpenAI(
        api_key="sk-test", base_url="http://api.test/v1", max_retries=0, http_client=hc
    )
    assert runwatch.instrument(client, obs.observer) is client
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert [e async for e in stream]
    assert obs.outcomes() == expected_outcomes("chat_length")
    obs.settled()


@pytest.mark.parametrize(
    "module", [pytest.param(http, id=http.__name__), pytest.param(httpx, id="plain_httpx")]
)
def test_sync_client_subclass_with_aclose_gets_the_sync_tap(obs: Obs, module: Any) -> None:
    """The twin: a sync ``Client`` subclass that defines ``aclose()`` keeps the sync tap."""
    if module is httpx and not HAS_HTTPX2:
        pytest.skip("httpx is the native client here: the first case covers it")
    wire = Wire(case_replies("chat_length"), module=module)
    hc = _aclosing_sync_client(module)(transport=module.MockTransport(wire.handler))
    client = openai.OpenAI(api_key="sk-test", base_url="http://api.test/v1", max_retries=0, http_client=hc)
    assert runwatch.instrument(client, obs.observer) is client
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert list(stream)
    assert obs.outcomes() == expected_outcomes("chat_length")
    obs.settled()
