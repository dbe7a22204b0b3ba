"""The demo server is accepted by the real openai SDK for every api x scenario, produces the
terminal status it was asked for, and its scenario mix parses and fails as documented."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from runwatch.demo.scenarios import SCENARIOS, Mix, expected_outcome, resolve, valid_names
from runwatch.demo.server import SCENARIO_HEADER, DemoServer
from runwatch.testing import demo_server

FAST = 500.0


@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    with demo_server(speed=FAST, seed=7) as srv:
        yield srv


@pytest.fixture
def client(server: DemoServer) -> Iterator[openai.OpenAI]:
    c = openai.OpenAI(base_url=server.url + "/v1", api_key="demo", max_retries=0, timeout=10)
    try:
        yield c
    finally:
        c.close()


def H(scenario: str) -> dict[str, str]:
    return {SCENARIO_HEADER: scenario}


def params(api: str) -> list[Any]:
    return [pytest.param(name, id=name) for name in SCENARIOS[api]]


# ----------------------------------------------------------------------------------- assistants
@pytest.mark.parametrize("scenario", params("assistants"))
def test_assistants_stream(client: openai.OpenAI, scenario: str) -> None:
    """runs.stream with an AssistantEventHandler parses every event; the last run snapshot (after the
    tool-output continuation for requires_action) has the scenario's status."""
    events: list[str] = []
    objects: list[Any] = []
    with client.beta.threads.runs.stream(
        thread_id="thread_t", assistant_id="asst_t", extra_headers=H(scenario)
    ) as stream:
        for event in stream:
            events.append(event.event)
            objects.append(event)
        run = stream.current_run
    assert run is not None
    if scenario == "requires_action":
        assert run.status == "requires_action"
        call = run.required_action.submit_tool_outputs.tool_calls[0]
        with client.beta.threads.runs.submit_tool_outputs_stream(
            thread_id="thread_t", run_id=run.id, tool_outputs=[{"tool_call_id": call.id, "output": "18C"}]
        ) as cont:
            cont.until_done()
            final = cont.get_final_run()
        assert final.id == run.id
        assert final.status == "completed"
        return
    status, reason = expected_outcome("assistants", scenario)
    if scenario.startswith("error:"):
        # The flat error object reaches the handler mis-typed (no `event` key is synthesized on this
        # path) and the run stays in_progress: the SDK never learns it failed (openai-python #2796).
        assert objects[-1].code == reason
        assert run.status == "in_progress"
    elif status == "aborted":
        assert run.status == "in_progress"
    else:
        assert run.status == status
        assert events[-1] == f"thread.run.{status}"
        if status == "incomplete":
            assert run.incomplete_details.reason == reason
        if status == "failed":
            assert run.last_error.code == reason


@pytest.mark.parametrize(
    "scenario",
    ["completed", "incomplete:max_prompt_tokens", "failed:rate_limit_exceeded", "cancelled", "expired"],
)
def test_assistants_create_and_poll(client: openai.OpenAI, scenario: str) -> None:
    """Non-streaming runs progress over time and the SDK poller stops at the scenario's terminal."""
    run = client.beta.threads.runs.create_and_poll(
        thread_id="thread_p", assistant_id="asst_p", extra_headers=H(scenario)
    )
    assert run.status == expected_outcome("assistants", scenario)[0]


def test_assistants_poll_requires_action_then_submit(client: openai.OpenAI) -> None:
    """Polling reaches requires_action; submitting outputs (polled) completes the same run."""
    run = client.beta.threads.create_and_run_poll(assistant_id="asst_p", extra_headers=H("requires_action"))
    assert run.status == "requires_action"
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=run.thread_id, run_id=run.id, tool_outputs=[{"tool_call_id": "c", "output": "x"}]
    )
    assert done.id == run.id
    assert done.status == "completed"


def test_assistants_unknown_run_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.retrieve(thread_id="thread_x", run_id="run_nope")


# ------------------------------------------------------------------------------------ responses
@pytest.mark.parametrize("scenario", params("responses"))
def test_responses_create_stream(client: openai.OpenAI, scenario: str) -> None:
    """responses.create(stream=True) yields parsed events whose terminal matches the scenario; the
    nested error event makes the SDK raise APIError (the live shape, see PROTOCOL.md)."""
    status, reason = expected_outcome("responses", scenario)
    stream = client.responses.create(model="gpt-4o", input="hi", stream=True, extra_headers=H(scenario))
    if scenario.startswith("error:"):
        with pytest.raises(openai.APIError) as info:
            list(stream)
        assert info.value.code == reason
        return
    events = list(stream)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    last = events[-1]
    if status == "aborted":
        assert not last.type.startswith(("response.completed", "response.incomplete", "response.failed"))
        return
    assert last.type == f"response.{status}"
    assert last.response.status == status
    if status == "incomplete":
        assert last.response.incomplete_details.reason == reason
    if status == "failed":
        assert last.response.error.code == reason


def test_responses_stream_helper_final_response(client: openai.OpenAI) -> None:
    """responses.stream(...).get_final_response() works on a completed response."""
    with client.responses.stream(model="gpt-4o", input="hi", extra_headers=H("completed")) as stream:
        final = stream.get_final_response()
    assert final.status == "completed"
    assert final.output_text
    assert final.usage.total_tokens > 0


def test_responses_stream_helper_raises_on_incomplete(client: openai.OpenAI) -> None:
    """The SDK bug runwatch exists for is reproduced by the server (openai-python PR #3538)."""
    with (
        client.responses.stream(
            model="gpt-4o", input="hi", extra_headers=H("incomplete:max_output_tokens")
        ) as s,
        pytest.raises(RuntimeError, match=r"response\.completed"),
    ):
        s.get_final_response()


def test_responses_background_resume(client: openai.OpenAI) -> None:
    """A background stream cut after sequence N resumes with GET ?stream=true&starting_after=N from
    N + 1, with no response.created; a plain GET reports the status."""
    stream = client.responses.create(
        model="gpt-4o", input="hi", stream=True, background=True, extra_headers=H("completed")
    )
    first = []
    for event in stream:
        first.append(event)
        if event.sequence_number == 4:
            break
    stream.close()
    assert [e.type for e in first[:3]] == ["response.created", "response.queued", "response.in_progress"]
    assert first[0].response.status == "queued"
    rid = first[0].response.id
    rest = list(client.responses.retrieve(rid, stream=True, starting_after=4))
    assert rest[0].sequence_number == 5
    assert all(e.type != "response.created" for e in rest)
    assert rest[-1].type == "response.completed"
    assert client.responses.retrieve(rid).status == "completed"


def test_responses_background_polling_progresses() -> None:
    """A background response polled with GET goes queued -> in_progress -> terminal."""
    with demo_server(speed=20, seed=3) as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="demo", max_retries=0)
        try:
            resp = c.responses.create(
                model="gpt-4o", input="hi", background=True, extra_headers=H("incomplete:content_filter")
            )
            seen = [resp.status]
            deadline = time.monotonic() + 10
            while seen[-1] in ("queued", "in_progress") and time.monotonic() < deadline:
                time.sleep(0.005)
                status = c.responses.retrieve(resp.id).status
                if status != seen[-1]:
                    seen.append(status)
        finally:
            c.close()
    assert seen[0] == "queued"
    assert seen[-1] == "incomplete"


def test_responses_unknown_id_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_nope")


# ----------------------------------------------------------------------------------------- chat
@pytest.mark.parametrize("include_usage", [True, False], ids=["usage", "no_usage"])
@pytest.mark.parametrize("scenario", params("chat"))
def test_chat_stream(client: openai.OpenAI, scenario: str, include_usage: bool) -> None:
    """chat.completions.create(stream=True) chunks parse; finish_reason and the usage chunk match."""
    status, reason = expected_outcome("chat", scenario)
    kwargs: dict[str, Any] = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            extra_headers=H(scenario),
            **kwargs,
        )
    )
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    if status == "aborted":
        assert finishes == []
        assert chunks[-1].usage is None
        return
    expected_finish = {"completed": "stop", "tool_calls": "tool_calls"}.get(scenario, reason)
    assert finishes == [expected_finish]
    if include_usage:
        assert chunks[-1].choices == []
        assert chunks[-1].usage.total_tokens > 0
    else:
        assert all(c.usage is None for c in chunks)


def test_chat_non_stream(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers=H("incomplete:length"),
    )
    assert completion.choices[0].finish_reason == "length"


# --------------------------------------------------------------------------------------- agents
@pytest.mark.parametrize("scenario", params("agents"))
def test_agents_session_stream(client: openai.OpenAI, scenario: str) -> None:
    """sessions.stream (retrieve, subscribe, submit input) ends at the idle after the turn; the turn
    status and error code match; an aborted turn makes the SDK raise, as it documents."""
    status, reason = expected_outcome("agents", scenario)
    session = client.beta.agents.sessions.create(environment={"type": "none"}, agent={"model": "gpt-5"})
    if status == "aborted":
        with (
            client.beta.agents.sessions.stream(session.id, input="hi", extra_headers=H(scenario)) as stream,
            pytest.raises(RuntimeError, match="ended before the turn"),
        ):
            list(stream)
        return
    with client.beta.agents.sessions.stream(session.id, input="hi", extra_headers=H(scenario)) as stream:
        events = list(stream)
    assert events[-1].type == "agent.session.idle"
    terminal = events[-2]
    assert terminal.type == f"agent.session.turn.{status}"
    assert terminal.turn.status == status
    if status == "failed":
        assert terminal.turn.error.code == reason


def test_agents_several_turns_one_session(client: openai.OpenAI) -> None:
    """Consecutive sessions.stream calls on one session each get their own turn (a subscriber that
    hung up does not swallow the next input)."""
    session = client.beta.agents.sessions.create(environment={"type": "none"}, agent={"model": "gpt-5"})
    turn_ids = []
    for scenario in ("completed", "failed:context_length_exceeded", "completed"):
        with client.beta.agents.sessions.stream(session.id, input="hi", extra_headers=H(scenario)) as stream:
            events = list(stream)
        turn_ids.append(events[-2].turn_id)
        assert events[-2].turn.status == expected_outcome("agents", scenario)[0]
    assert len(set(turn_ids)) == 3


def test_agents_create_stream(client: openai.OpenAI) -> None:
    """sessions.create(stream=True, input=...) streams agent.session.created and the first turn."""
    stream = client.beta.agents.sessions.create(
        environment={"type": "none"},
        agent={"model": "gpt-5"},
        input="hi",
        stream=True,
        extra_headers=H("failed:usage_limit_exceeded"),
    )
    types = [e.type for e in stream]
    assert types[0] == "agent.session.created"
    assert "agent.session.turn.failed" in types


# ---------------------------------------------------------------------------------- server misc
def test_unknown_scenario_header_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="valid scenarios"):
        client.chat.completions.create(
            model="m", messages=[], stream=True, extra_headers=H("incomplete:max_output_tokens")
        )


def test_mix_drives_scenarios_without_header() -> None:
    """Without the header, requests follow the server's seeded mix."""
    with demo_server(mix="chat/incomplete:length=1", speed=FAST) as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="demo", max_retries=0)
        try:
            chunks = list(c.chat.completions.create(model="m", messages=[], stream=True))
        finally:
            c.close()
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "length"


def test_concurrent_streams_and_stop_does_not_hang() -> None:
    """Many concurrent slow streams; stop() returns promptly and ends them."""
    srv = DemoServer(speed=0.5, seed=1).start()
    errors: list[BaseException] = []

    def consume() -> None:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="demo", max_retries=0, timeout=5)
        try:
            for _ in c.responses.create(model="m", input="x", stream=True, extra_headers=H("completed")):
                pass
        except (openai.APIError, openai.APIConnectionError):
            pass  # cut by stop(): expected
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)
        finally:
            c.close()

    threads = [threading.Thread(target=consume) for _ in range(8)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.3)
    finally:
        started = time.monotonic()
        srv.stop()
        elapsed = time.monotonic() - started
        for t in threads:
            t.join(timeout=10)
    assert elapsed < 3
    assert not any(t.is_alive() for t in threads)
    assert errors == []


def test_busy_port_raises_oserror() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(OSError):
            DemoServer(port=port).start()


def test_server_is_a_context_manager_and_stop_is_idempotent() -> None:
    with DemoServer(speed=FAST) as srv:
        assert srv.url.startswith("http://127.0.0.1:")
    srv.stop()


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError, match="speed"):
        DemoServer(speed=0)


# ------------------------------------------------------------------------------------------ mix
def test_mix_parse_expands_unqualified_names_to_every_api() -> None:
    mix = Mix.parse("completed=70, incomplete:max_output_tokens=20,failed:server_error=10")
    entries = {(a, s): w for a, s, w in mix.entries}
    assert entries[("chat", "completed")] == 70
    assert entries[("agents", "completed")] == 70
    assert entries[("responses", "incomplete:max_output_tokens")] == 20
    assert ("chat", "failed:server_error") not in entries
    assert {a for a, s in entries if s == "failed:server_error"} == {"assistants", "responses", "agents"}


def test_mix_pick_is_seeded_and_follows_weights() -> None:
    mix = Mix.parse("responses/completed=3,responses/incomplete:steered=1")
    picks = [mix.pick(random.Random(5)) for _ in range(3)]
    assert len(set(picks)) == 1  # same seed, same pick
    rng = random.Random(1)
    counts = Counter(mix.pick(rng)[1] for _ in range(4000))
    assert 0.70 < counts["completed"] / 4000 < 0.80


def test_mix_pick_for_api_without_entries_defaults_to_completed() -> None:
    assert Mix.parse("responses/completed=1").pick(random.Random(0), "chat") == ("chat", "completed")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param(
            "completed=1,bogus=2", "unknown scenario 'bogus'.*valid scenarios: .*completed", id="unknown"
        ),
        pytest.param(
            "chat/failed:server_error=1", "unknown scenario 'failed:server_error' for api 'chat'", id="api"
        ),
        pytest.param("nope/completed=1", "unknown api 'nope'", id="bad-api"),
        pytest.param("completed", "NAME=WEIGHT", id="no-weight"),
        pytest.param("completed=x", "not a number", id="nan-text"),
        pytest.param("completed=-1", ">= 0", id="negative"),
        pytest.param("completed=nan", ">= 0", id="nan"),
        pytest.param("completed=0", "positive weight", id="all-zero"),
        pytest.param("", "positive weight", id="empty"),
    ],
)
def test_mix_parse_errors(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Mix.parse(text)


def test_resolve_checks_the_api_prefix() -> None:
    assert resolve("chat", "chat/incomplete:length") == "incomplete:length"
    with pytest.raises(ValueError, match="is for api 'responses'"):
        resolve("chat", "responses/completed")


def test_valid_names_lists_every_scenario() -> None:
    names = valid_names()
    assert "incomplete:max_output_tokens" in names
    assert "agents/failed:session_budget_exceeded" in names
