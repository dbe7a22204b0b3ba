"""End to end over real loopback HTTP: the embedded demo server, the real openai SDK with its own
default transport, ``runwatch.instrument``; scenarios forced with the ``x-runwatch-scenario``
header. Proves the tap on a real socket stream (chunking by the kernel, keep-alive, chunked
transfer encoding) and the tool-output continuation across two real HTTP streams."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

import runwatch
from runwatch.demo.scenarios import expected_outcome
from runwatch.demo.server import SCENARIO_HEADER, DemoServer
from runwatch.testing import demo_server

from .conftest import Obs, new_obs


@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    with demo_server(speed=500.0, seed=3) as srv:
        yield srv


@pytest.fixture
def wired(server: DemoServer) -> Iterator[tuple[Any, Obs]]:
    o = new_obs()
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="demo", max_retries=0, timeout=10)
    assert runwatch.instrument(client, o.observer) is client
    try:
        yield client, o
    finally:
        client.close()


def H(scenario: str) -> dict[str, str]:
    return {SCENARIO_HEADER: scenario}


@pytest.mark.parametrize(
    "scenario",
    ["completed", "incomplete:max_output_tokens", "failed:server_error", "error:rate_limit_exceeded"],
)
def test_responses(wired: tuple[Any, Obs], scenario: str) -> None:
    """responses.create(stream=True) and responses.stream(): the outcome runwatch records is the
    scenario's; the SDK's behaviour (APIError on a nested error) is unchanged."""
    client, o = wired
    status, reason = expected_outcome("responses", scenario)
    stream = client.responses.create(model="gpt-4o", input="hi", stream=True, extra_headers=H(scenario))
    if scenario.startswith("error:"):
        with pytest.raises(openai.APIError) as info:
            list(stream)
        assert info.value.code == reason
        # openai 3.x closes the response when it raises; 1.x leaves that to the caller, and the
        # run (failed, from the error event) is settled when the response is closed.
        stream.close()
    else:
        list(stream)
    with runwatch.watch(
        client.responses.stream(model="gpt-4o", input="hi", extra_headers=H(scenario)), o.observer
    ) as s:
        try:
            list(s)
        except openai.APIError:
            assert scenario.startswith("error:")
    assert o.outcomes() == [("responses", status, reason, 2.0)], "tap + watch count each run once"
    o.settled()


@pytest.mark.parametrize(
    "scenario", ["completed", "tool_calls", "incomplete:length", "incomplete:content_filter"]
)
def test_chat(wired: tuple[Any, Obs], scenario: str) -> None:
    """chat.completions.create(stream=True) over the wire: outcome by finish_reason."""
    client, o = wired
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            extra_headers=H(scenario),
        )
    )
    assert chunks
    status, reason = expected_outcome("chat", scenario)
    assert o.outcomes() == [("chat", status, reason, 1.0)]
    o.settled()


def test_assistants_tool_outputs(wired: tuple[Any, Obs]) -> None:
    """runs.stream pauses at requires_action; submit_tool_outputs_stream (a second HTTP stream)
    completes the same run: one run, one run span with a requires_action child."""
    client, o = wired
    h1 = runwatch.handler(openai.AssistantEventHandler(), o.observer)
    with client.beta.threads.runs.stream(
        thread_id="thread_e2e", assistant_id="asst_e2e", event_handler=h1, extra_headers=H("requires_action")
    ) as s:
        s.until_done()
    run = h1.current_run
    assert run is not None
    assert run.status == "requires_action"
    assert o.outcomes() == []
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    h2 = runwatch.handler(openai.AssistantEventHandler(), o.observer)
    with client.beta.threads.runs.submit_tool_outputs_stream(
        thread_id="thread_e2e",
        run_id=run.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "18C"}],
        event_handler=h2,
    ) as s:
        s.until_done()
    assert h2.get_final_run().status == "completed"
    assert o.outcomes() == [("assistants", "completed", "none", 1.0)]
    o.settled()
    roots = [sp for sp in o.spans() if sp.parent is None]
    assert len(roots) == 1
    assert roots[0].attributes["runwatch.run.id"] == run.id
    assert any(
        "requires_action" in sp.name and sp.parent.span_id == roots[0].context.span_id for sp in o.spans()
    )


@pytest.mark.parametrize(
    "scenario", ["completed", "incomplete:max_prompt_tokens", "failed:rate_limit_exceeded"]
)
def test_assistants_create_and_poll(wired: tuple[Any, Obs], scenario: str) -> None:
    """create_and_poll over the wire: the polled JSON run objects are observed as one run."""
    client, o = wired
    run = client.beta.threads.runs.create_and_poll(
        thread_id="thread_p", assistant_id="asst_p", extra_headers=H(scenario), poll_interval_ms=5
    )
    status, reason = expected_outcome("assistants", scenario)
    assert run.status == status
    assert o.outcomes() == [("assistants", status, reason, 1.0)]
    o.settled()


@pytest.mark.skipif(
    not hasattr(openai.OpenAI(api_key="x", base_url="http://x").beta, "agents"),
    reason="client.beta.agents (agent sessions) exists only in openai 3.x",
)
def test_agents(wired: tuple[Any, Obs]) -> None:
    """An agent session turn streamed over the wire ends with the forced outcome."""
    client, o = wired
    session = client.beta.agents.sessions.create(environment={"type": "none"}, agent={"model": "gpt-5"})
    with client.beta.agents.sessions.stream(
        session.id, input="hi", extra_headers=H("failed:max_output_tokens")
    ) as s:
        list(s)
    assert o.outcomes() == [("agents", "failed", "max_output_tokens", 1.0)]
    o.settled()
