"""Guarantee 1 (pass-through) with the real openai SDK, over every recorded transcript.

For each case, entry point, sync/async and mode, the transcript (events, order, callbacks,
exception, final object) equals the bare SDK's, and the outcomes runwatch recorded equal
tests/data/expected.json, counted once even when tap and watch observe the same stream.
"""

from __future__ import annotations

from typing import Any

import pytest

from . import drivers
from .conftest import EXPECTED, Obs, Wire, case_replies, expected_outcomes, make_client, new_obs

AGENTS_SKIP = pytest.mark.skipif(
    not drivers.HAS_AGENTS, reason="client.beta.agents (agent sessions) exists only in openai 3.x"
)


def _api(name: str) -> str:
    return EXPECTED[name]["runs"][0]["api"]


def _cases(*apis: str, single: bool = False) -> list[Any]:
    out = []
    for name, case in EXPECTED.items():
        api = _api(name)
        if api not in apis or (single and len(case["files"]) != 1):
            continue
        marks = [AGENTS_SKIP] if api == "agents" else []
        out.append(pytest.param(name, id=name, marks=marks))
    return out


ALL = _cases("assistants", "responses", "chat", "agents")


def _run_sync(driver: Any, name: str, mode: str, **kw: Any) -> tuple[Any, Obs, Wire]:
    o = new_obs()
    wire = Wire(case_replies(name))
    client = make_client(wire)
    result = driver(client, EXPECTED[name], mode, o.observer, **kw)
    assert not wire.replies, "every recorded stream was requested"
    return result, o, wire


async def _run_async(driver: Any, name: str, mode: str, **kw: Any) -> tuple[Any, Obs, Wire]:
    o = new_obs()
    wire = Wire(case_replies(name))
    client = make_client(wire, is_async=True)
    result = await driver(client, EXPECTED[name], mode, o.observer, **kw)
    assert not wire.replies, "every recorded stream was requested"
    return result, o, wire


def _check_outcomes(name: str, mode: str, o: Obs) -> None:
    if mode == "bare":
        assert o.outcomes() == []
        return
    assert o.outcomes() == expected_outcomes(name), mode
    o.settled()
    started = o.registry.get_sample_value("runwatch_runs_started_total", {}) or sum(
        s.value for m in o.registry.collect() for s in m.samples if s.name == "runwatch_runs_started_total"
    )
    assert started == len(EXPECTED[name]["runs"]), "each run started once"


@pytest.mark.parametrize("name", ALL)
def test_raw_stream_sync(name: str) -> None:
    """``create(stream=True)`` (runs, submit_tool_outputs, responses + resume, chat, agent events):
    identical events/exception in every mode; outcomes as expected.json, each run counted once."""
    bare, _, _ = _run_sync(drivers.raw_sync, name, "bare")
    for mode in drivers.MODES[1:]:
        got, o, _ = _run_sync(drivers.raw_sync, name, mode)
        assert got == bare, mode
        _check_outcomes(name, mode, o)


@pytest.mark.anyio
@pytest.mark.parametrize("name", ALL)
async def test_raw_stream_async(name: str) -> None:
    """AsyncOpenAI twin of :func:`test_raw_stream_sync`."""
    bare, _, _ = await _run_async(drivers.raw_async, name, "bare")
    for mode in drivers.MODES[1:]:
        got, o, _ = await _run_async(drivers.raw_async, name, mode)
        assert got == bare, mode
        _check_outcomes(name, mode, o)


# A case whose stream the SDK's own responses.stream() helper refuses (an id changed mid-stream)
# is proven through the helper in tests/adapters/test_compatible.py.
RESPONSES = [p for p in _cases("responses", single=True) if "helper_error" not in EXPECTED[p.values[0]]]


LIFECYCLE = (
    "response.created",
    "response.queued",
    "response.in_progress",
    "response.completed",
    "response.incomplete",
    "response.failed",
)


def _check_helper(name: str, bare: Any, got: Any, mode: str) -> None:
    watched = got.pop("watched_final")
    assert got == bare, mode
    if mode in ("watch", "both"):
        # .final is the SDK's own last snapshot, also where get_final_response() raises.
        # Without a terminal event it is the last snapshot the stream carried.
        snaps = [e for e in bare["events"] if e[1]["type"] in LIFECYCLE]
        assert watched[1] == snaps[-1][1]["response"], name


@pytest.mark.parametrize("name", RESPONSES)
def test_responses_stream_helper_sync(name: str) -> None:
    """``responses.stream()``: same events and the same ``get_final_response()`` result or the same
    exception (RuntimeError on incomplete/failed); ``watch().final`` is the terminal response."""
    bare, _, _ = _run_sync(drivers.responses_helper_sync, name, "bare")
    bare.pop("watched_final")
    for mode in drivers.MODES[1:]:
        got, o, _ = _run_sync(drivers.responses_helper_sync, name, mode)
        _check_helper(name, bare, got, mode)
        _check_outcomes(name, mode, o)


@pytest.mark.anyio
@pytest.mark.parametrize("name", RESPONSES)
async def test_responses_stream_helper_async(name: str) -> None:
    """AsyncOpenAI twin of :func:`test_responses_stream_helper_sync`."""
    bare, _, _ = await _run_async(drivers.responses_helper_async, name, "bare")
    bare.pop("watched_final")
    for mode in drivers.MODES[1:]:
        got, o, _ = await _run_async(drivers.responses_helper_async, name, mode)
        _check_helper(name, bare, got, mode)
        _check_outcomes(name, mode, o)


ASSISTANTS = _cases("assistants")
ASSISTANTS_SINGLE = _cases("assistants", single=True)


@pytest.mark.parametrize("name", ASSISTANTS)
def test_assistants_handler_sync(name: str) -> None:
    """``runs.stream`` (+ ``submit_tool_outputs_stream`` for the requires_action pair) with a user
    AssistantEventHandler: identical callback log, ``current_run`` and ``get_final_run()``."""
    bare, _, _ = _run_sync(drivers.assistants_sync, name, "bare")
    for mode in drivers.HANDLER_MODES[1:]:
        got, o, _ = _run_sync(drivers.assistants_sync, name, mode)
        assert got == bare, mode
        _check_outcomes(name, mode, o)


@pytest.mark.anyio
@pytest.mark.parametrize("name", ASSISTANTS)
async def test_assistants_handler_async(name: str) -> None:
    """AsyncAssistantEventHandler twin of :func:`test_assistants_handler_sync`."""
    bare, _, _ = await _run_async(drivers.assistants_async, name, "bare")
    for mode in drivers.HANDLER_MODES[1:]:
        got, o, _ = await _run_async(drivers.assistants_async, name, mode)
        assert got == bare, mode
        _check_outcomes(name, mode, o)


@pytest.mark.parametrize("name", ASSISTANTS_SINGLE)
def test_create_and_run_stream_sync(name: str) -> None:
    """``beta.threads.create_and_run_stream`` (POST /threads/runs, no run id in the URL)."""
    bare, _, _ = _run_sync(drivers.assistants_sync, name, "bare", entry="create_and_run_stream")
    for mode in drivers.HANDLER_MODES[1:]:
        got, o, wire = _run_sync(drivers.assistants_sync, name, mode, entry="create_and_run_stream")
        assert wire.seen == ["POST /v1/threads/runs"]
        assert got == bare, mode
        _check_outcomes(name, mode, o)


@pytest.mark.anyio
@pytest.mark.parametrize("name", ASSISTANTS_SINGLE)
async def test_create_and_run_stream_async(name: str) -> None:
    """AsyncOpenAI twin of :func:`test_create_and_run_stream_sync`."""
    bare, _, _ = await _run_async(drivers.assistants_async, name, "bare", entry="create_and_run_stream")
    for mode in drivers.HANDLER_MODES[1:]:
        got, o, _ = await _run_async(drivers.assistants_async, name, mode, entry="create_and_run_stream")
        assert got == bare, mode
        _check_outcomes(name, mode, o)
