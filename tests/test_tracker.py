"""RunTracker / StreamTracker / RunBook: outcomes of every transcript, pauses, TTLs, duplicates,
anomalies, and the invariant that every run that starts finishes exactly once."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runwatch import protocols
from runwatch._endpoints import classify
from runwatch._events import (
    APIS,
    CONSISTENCY_KINDS,
    Anomaly,
    FirstToken,
    PhaseEnded,
    PhaseStarted,
    Run,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    ToolCall,
    Transition,
)
from runwatch._replay import replay
from runwatch._sse import Frame, SSEDecoder
from runwatch._tracker import CLOSE_REASONS, DEFAULT_TTL, RequestFacts, RunBook, Skipper, StreamTracker
from runwatch.testing import split_frames

DATA = Path(__file__).resolve().parent / "data"
EXPECTED: dict[str, Any] = json.loads((DATA / "expected.json").read_text())


# ------------------------------------------------------------------------------------ helpers
@dataclass
class Collect:
    """A collecting emit: every transition, in order."""

    transitions: list[Transition] = field(default_factory=list)

    def __call__(self, t: Transition) -> None:
        self.transitions.append(t)

    def of(self, kind: type) -> list[Any]:
        return [t for t in self.transitions if isinstance(t, kind)]

    def finished(self) -> list[tuple[str | None, str, str]]:
        return [(t.run.run_id, t.outcome.status, t.outcome.reason) for t in self.of(RunFinished)]

    def anomalies(self) -> list[str]:
        return [a.kind for a in self.of(Anomaly)]

    def kinds(self, run: Run) -> list[str]:
        return [type(t).__name__ for t in self.transitions if getattr(t, "run", None) is run]


def frames_of(body: bytes) -> list[Frame]:
    d = SSEDecoder()
    return d.feed(body) + d.end()


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def play(
    book: RunBook,
    body: bytes,
    t: float = 0.0,
    api: Any = None,
    hint: str | None = None,
    reason: str = "stream_ended",
) -> StreamTracker:
    stream = book.stream(api, t, hint)
    for frame in frames_of(body):
        stream.frame(frame, t)
    stream.close(reason, t)
    return stream


def frame(event: str | None, data: object) -> Frame:
    return Frame(event, data if isinstance(data, str) else json.dumps(data, separators=(",", ":")))


def hints_for(case: dict[str, Any]) -> list[str | None]:
    hints: list[str | None] = []
    for request in case["requests"]:
        method, path = request.split(" ", 1)
        endpoint = classify(method, path)
        hints.append(endpoint.run_id if endpoint is not None else None)
    return hints


def reencode(body: bytes, ending: bytes) -> bytes:
    return body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", ending)


# ------------------------------------------------------------------------- transcript table
ENDINGS = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}


@pytest.mark.parametrize("ending", list(ENDINGS))
@pytest.mark.parametrize(("case"), [pytest.param(name, id=name) for name in EXPECTED])
def test_transcript_outcomes(case: str, ending: str) -> None:
    """Replaying each recorded case (re-encoded with LF, CRLF or CR line endings) yields exactly the
    runs expected.json lists, in order of start: api, id, model, status, reason and phase kinds."""
    spec = EXPECTED[case]
    bodies = [reencode(load(f), ENDINGS[ending]) for f in spec["files"]]
    started: list[Run] = []

    def sink(t: Transition) -> None:
        if isinstance(t, RunStarted):
            started.append(t.run)

    result = replay(bodies, sink=sink, run_id_hints=hints_for(spec))
    got = [
        {
            "api": r.api,
            "run_id": r.run_id,
            "model": r.model,
            "status": r.outcome.status if r.outcome else None,
            "reason": r.outcome.reason if r.outcome else None,
            "phases": result.phase_kinds(r),
        }
        for r in started
    ]
    assert got == spec["runs"]
    assert sorted(map(id, result.runs)) == sorted(map(id, started))  # each started run finished once


# ------------------------------------------------------------------- requires_action and TTL
def test_requires_action_pause_and_resume_across_two_streams() -> None:
    """A run paused at requires_action is ONE run across the tool-output continuation stream:
    RunPaused, then RunResumed, one RunStarted, one RunFinished with the true terminal."""
    c = Collect()
    book = RunBook(c)
    play(book, load("assistants_requires_action_part1.sse"), t=10.0)
    assert [type(t) for t in c.of(RunPaused)] == [RunPaused]
    assert not c.of(RunFinished)
    assert book.parked == 1
    play(book, load("assistants_requires_action_part2.sse"), t=20.0, hint="run_a100")
    assert len(c.of(RunStarted)) == 1
    assert c.finished() == [("run_a100", "completed", "none")]
    order = [type(t).__name__ for t in c.transitions if type(t) in (RunPaused, RunResumed, RunFinished)]
    assert order == ["RunPaused", "RunResumed", "RunFinished"]
    assert book.parked == 0


def test_requires_action_continuation_without_hint_is_a_new_run_with_an_anomaly() -> None:
    """Ids join streams only where the request says so: a stream naming a parked run's id without
    the continuation's URL (a server reusing ids) is a run of its own plus ``duplicate_id``; the
    parked run still ends once, at its TTL. A replay (no requests at all) joins by id instead."""
    c = Collect()
    book = RunBook(c)
    play(book, load("assistants_requires_action_part1.sse"), t=10.0)
    play(book, load("assistants_requires_action_part2.sse"), t=20.0)
    assert c.finished() == [("run_a100", "completed", "none")]
    assert len(c.of(RunStarted)) == 2
    assert "duplicate_id" in c.anomalies()
    book.flush(30.0)
    assert sorted(c.finished()) == [
        ("run_a100", "abandoned", "ttl_expired"),
        ("run_a100", "completed", "none"),
    ]

    c = Collect()
    book = RunBook(c)
    play(book, load("assistants_requires_action_part1.sse"), t=10.0)
    replayed = book.stream(None, 20.0, join_parked=True)
    for f in frames_of(load("assistants_requires_action_part2.sse")):
        replayed.frame(f, 20.0)
    replayed.close("stream_ended", 20.0)
    assert c.finished() == [("run_a100", "completed", "none")]
    assert len(c.of(RunStarted)) == 1


def test_paused_run_never_resumed_is_abandoned_after_ttl_not_before() -> None:
    """A requires_action run whose caller never comes back stays open until the TTL, then ends
    abandoned / ttl_expired exactly once."""
    c = Collect()
    book = RunBook(c, ttl=DEFAULT_TTL)
    play(book, load("assistants_requires_action_part1.sse"), t=100.0)
    assert book.sweep(100.0 + DEFAULT_TTL - 0.001) == 0
    assert not c.of(RunFinished)
    assert book.parked == 1
    assert book.sweep(100.0 + DEFAULT_TTL) == 1
    assert c.finished() == [("run_a100", "abandoned", "ttl_expired")]
    assert book.parked == 0
    assert book.sweep(1e12) == 0
    assert len(c.of(RunFinished)) == 1


def test_new_stream_after_ttl_sweeps_expired_runs_first() -> None:
    """Opening a stream settles runs whose TTL passed, so a late continuation cannot revive them."""
    c = Collect()
    book = RunBook(c, ttl=60.0)
    play(book, load("assistants_requires_action_part1.sse"), t=0.0)
    play(book, load("assistants_requires_action_part2.sse"), t=61.0)
    assert c.finished()[0] == ("run_a100", "abandoned", "ttl_expired")
    assert len(c.of(RunFinished)) == len(c.of(RunStarted))


# ---------------------------------------------------------------------------- duplicates
def test_two_streams_carrying_one_id_are_two_runs_and_an_anomaly() -> None:
    """Run identity is the stream, not the id: two create streams whose runs share an id (a cache
    replaying its answer, vLLM taking the client's request id) are two runs, each counted, the
    second with a ``duplicate_id`` anomaly."""
    c = Collect()
    book = RunBook(c)
    play(book, load("chat_stop.sse"))
    second = play(book, load("chat_stop.sse"), t=1.0)
    assert not second.passive
    assert len(c.of(RunStarted)) == len(c.of(RunFinished)) == 2
    assert c.anomalies() == ["duplicate_id"]


def test_interleaved_streams_with_one_id_are_two_runs() -> None:
    """Two open streams with the same id at once (no request says they are one run) each count
    their own run; neither goes passive (double observation is the adapters' to detect, by the
    HTTP exchange)."""
    c = Collect()
    book = RunBook(c)
    a = book.stream(None, 0.0)
    b = book.stream(None, 0.0)
    for f in frames_of(load("responses_completed.sse")):
        a.frame(f, 1.0)
        b.frame(f, 1.0)
    a.close("stream_ended", 2.0)
    b.close("stream_ended", 2.0)
    assert c.finished() == [("resp_r001", "completed", "none")] * 2
    assert len(c.of(FirstToken)) == 2
    assert not a.passive
    assert not b.passive


def test_ollama_style_ids_from_999_values_count_every_run() -> None:
    """Ollama's OpenAI layer draws chat ids from 999 values: 20,000 streams are 20,000 runs (the
    first release counted 999), each repeated id saying so once."""
    c = Collect()
    book = RunBook(c)
    template = load("chat_stop.sse")
    old_id = b"chatcmpl-" + template.split(b'"id":"chatcmpl-', 1)[1].split(b'"', 1)[0]
    for i in range(20_000):
        body = template.replace(old_id, b"chatcmpl-%d" % (i * 7919 % 999))
        play(book, body, t=float(i))
    assert len(c.of(RunStarted)) == len(c.of(RunFinished)) == 20_000
    assert c.anomalies().count("duplicate_id") == 20_000 - 999
    assert len(book._recent) == 999


@pytest.mark.parametrize("tap_first", [True, False], ids=["tap-first", "wrapper-first"])
def test_resume_with_and_without_its_url_hint(tap_first: bool) -> None:
    """A resume stream names its response only in its terminal event. The stream that knows its
    URL (the resume of ``resp_r100``) continues the parked run; a stream that does not know it
    starts a run of its own (its id is then a ``duplicate_id``). Nothing leaks, nothing is
    dropped: the parked run ends once, completed."""
    c = Collect()
    book = RunBook(c)
    play(book, load("responses_resume_part1.sse"), t=0.0, reason="transport_error")
    assert book.parked == 1
    tap = book.stream("responses", 1.0, "resp_r100")
    other = book.stream(None, 1.0)
    order = (tap, other) if tap_first else (other, tap)
    for f in frames_of(load("responses_resume_part2.sse")):
        for s in order:
            s.frame(f, 2.0)
    for s in order:
        s.close("stream_ended", 3.0)
    book.flush(1e9)
    assert c.finished() == [("resp_r100", "completed", "none")] * 2
    assert c.anomalies().count("duplicate_id") == 1
    assert len(c.of(RunStarted)) == 2
    assert book.parked == 0


# ------------------------------------------------------------------------------- anomalies
def test_events_after_terminal_are_anomalies_and_never_refinish() -> None:
    """Anything a stream says about a run after its terminal (a delta, a second terminal, a new
    status) is an event_after_terminal anomaly; RunFinished stays single and unchanged."""
    c = Collect()
    book = RunBook(c)
    stream = book.stream(None, 0.0)
    frames = frames_of(load("responses_completed.sse"))
    for f in frames:
        stream.frame(f, 1.0)
    terminal = next(f for f in frames if f.event == "response.completed")
    delta = next(f for f in frames if f.event == "response.output_text.delta")
    failed = json.loads(terminal.data)
    failed["type"] = "response.failed"
    failed["response"]["status"] = "failed"
    failed["response"]["error"] = {"code": "server_error", "message": "x"}
    for f in (delta, terminal, frame("response.failed", failed)):
        stream.frame(Frame(f.event, f.data), 2.0)
    stream.close("stream_ended", 3.0)
    assert c.finished() == [("resp_r001", "completed", "none")]
    assert c.anomalies().count("event_after_terminal") == 3


def test_unknown_events_are_anomalies_and_known_ones_still_count() -> None:
    """An unknown event name in a known protocol is an unknown_event anomaly, never fatal; the run
    still completes normally."""
    c = Collect()
    play(RunBook(c), load("responses_unknown_events.sse"))
    assert c.finished() == [("resp_h001", "completed", "none")]
    assert "unknown_event" in c.anomalies()


@pytest.mark.parametrize(
    ("filename", "run_id"),
    [
        pytest.param("responses_unknown_status.sse", None, id="responses"),
        pytest.param("assistants_unknown_status.sse", None, id="assistants"),
    ],
)
def test_unknown_status_ends_unknown_with_anomaly(filename: str, run_id: None) -> None:
    """A run whose last status nobody knows ends unknown / unknown_status with an anomaly."""
    c = Collect()
    play(RunBook(c), load(filename))
    assert [(s, r) for _, s, r in c.finished()] == [("unknown", "unknown_status")]
    assert "unknown_status" in c.anomalies()


def test_unknown_event_in_unknown_protocol_before_anything_is_an_anomaly() -> None:
    """A stream whose first events belong to no protocol records anomalies and starts no run."""
    c = Collect()
    stream = RunBook(c).stream(None, 0.0)
    stream.frame(frame("ping", {"x": 1}), 0.0)
    stream.frame(frame(None, {"no": "type"}), 0.0)
    stream.frame(frame("error", {"code": "server_error", "message": "x"}), 0.0)
    stream.close("stream_ended", 1.0)
    assert c.anomalies() == ["unknown_event", "unknown_event", "unknown_api"]
    assert not c.of(RunStarted)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("{broken", id="broken"),
        pytest.param("[1,2]", id="not-an-object"),
        pytest.param('{"type":"response.created","response":[]}', id="snapshot-not-an-object"),
    ],
)
def test_malformed_json_is_an_anomaly(data: str) -> None:
    """A lifecycle frame whose JSON is broken (or not the expected object) is a malformed_json
    anomaly; the stream goes on and its run still ends honestly."""
    c = Collect()
    book = RunBook(c)
    stream = book.stream(None, 0.0)
    frames = frames_of(load("responses_completed.sse"))
    stream.frame(frames[0], 0.0)
    stream.frame(Frame("response.in_progress", data), 0.0)
    for f in frames[1:]:
        stream.frame(f, 1.0)
    stream.close("stream_ended", 2.0)
    assert "malformed_json" in c.anomalies()
    assert c.finished() == [("resp_r001", "completed", "none")]


_READ_EVENTS = [
    (api, name)
    for api in ("responses", "chat", "assistants", "agents")
    for name, action in protocols.get(api).events.items()
    if action not in ("token", "ignore")  # the only actions that never read a payload
]


@pytest.mark.parametrize(("api", "name"), _READ_EVENTS, ids=[f"{a}-{n}" for a, n in _READ_EVENTS])
def test_every_event_read_with_broken_json_says_so(api: Any, name: str) -> None:
    """Whatever event runwatch reads the payload of, in every protocol's table, broken JSON there
    is a ``malformed_json`` anomaly: nothing read is dropped silently."""
    c = Collect()
    stream = RunBook(c).stream(api, 0.0)
    stream.frame(Frame(name, "{broken"), 0.0)
    stream.close("stream_ended", 1.0)
    assert "malformed_json" in c.anomalies()


_PARTS = {"item_start": "item", "item_end": "item", "agent_item": "item", "session": "session"}
_PART_EVENTS = [
    (api, name, _PARTS[action])
    for api in ("responses", "assistants", "agents")
    for name, action in protocols.get(api).events.items()
    if action in _PARTS
]


@pytest.mark.parametrize(
    ("api", "name", "key"), _PART_EVENTS, ids=[f"{a}-{n}" for a, n, _ in _PART_EVENTS]
)
@pytest.mark.parametrize("value", [None, "text", [1]], ids=["missing", "string", "list"])
def test_an_event_without_the_object_it_carries_says_so(api: Any, name: str, key: str, value: Any) -> None:
    """An output item or session event whose item (or session) is missing or not an object is
    valid JSON but not the event it names: a ``malformed_json`` anomaly, not silence."""
    c = Collect()
    stream = RunBook(c).stream(api, 0.0)
    payload: dict[str, Any] = {"type": name, "turn_id": "turn_1"}
    if value is not None:
        payload[key] = value
    stream.frame(frame(name, payload), 0.0)
    stream.close("stream_ended", 1.0)
    assert "malformed_json" in c.anomalies()


def test_an_agent_item_naming_no_turn_outside_any_turn_says_so() -> None:
    """An agent session's item event names its turn (``turn_id``); one that names none while no
    turn is going on cannot be attributed to any run: a ``malformed_json`` anomaly, not silence."""
    name = "agent.session.turn.item.added"
    item = {"type": "function_call", "id": "fc_1"}
    c = Collect()
    stream = RunBook(c).stream("agents", 0.0)
    stream.frame(frame(name, {"type": name, "item": item}), 0.0)
    stream.close("stream_ended", 1.0)
    assert c.anomalies() == ["malformed_json"]
    assert not c.of(RunStarted)


def test_truncated_frame_is_an_anomaly_and_the_run_aborts() -> None:
    """A stream cut mid-frame records truncated_frame and ends the run aborted / stream_ended."""
    c = Collect()
    play(RunBook(c), load("responses_truncated_mid_frame.sse"))
    assert "truncated_frame" in c.anomalies()
    assert [(s, r) for _, s, r in c.finished()] == [("aborted", "stream_ended")]


def test_stream_without_terminal_is_missing_terminal_and_close_reason_is_kept() -> None:
    """No terminal: the run ends aborted with the adapter's close reason (missing_terminal only for
    a stream that ended by itself)."""
    for reason in sorted(CLOSE_REASONS - {"poll"}):  # "poll" parks a polled run: not an ending
        c = Collect()
        play(RunBook(c), load("responses_no_terminal.sse"), reason=reason)
        assert [(s, r) for _, s, r in c.finished()] == [("aborted", reason)]
        assert ("missing_terminal" in c.anomalies()) == (reason == "stream_ended")


# ---------------------------------------------------------------------------------- errors
ERROR_CASES = [
    pytest.param(
        "responses", {"type": "error", "code": "server_error", "message": "m"}, "server_error", id="flat"
    ),
    pytest.param(
        "responses",
        {"type": "error", "error": {"type": "server_error", "code": "insufficient_quota", "message": "m"}},
        "insufficient_quota",
        id="nested",
    ),
    pytest.param(
        "responses",
        {"type": "error", "error": {"type": "invalid_request_error"}},
        "invalid_request_error",
        id="nested-type-only",
    ),
    pytest.param("responses", {"message": "m"}, "none", id="no-code"),
    # Proxies (OpenRouter) send HTTP-style int codes: the reason is the code's text.
    pytest.param(
        "responses", {"type": "error", "error": {"code": 400, "message": "m"}}, "400", id="nested-int"
    ),
    pytest.param("assistants", {"code": 502, "message": "m"}, "502", id="flat-int"),
    pytest.param(
        "responses", {"error": {"code": True, "type": "server_error"}}, "server_error", id="bool-code"
    ),
    pytest.param("responses", "{not json", "none", id="broken"),
    pytest.param(
        "assistants",
        {"code": "rate_limit_exceeded", "message": "m"},
        "rate_limit_exceeded",
        id="assistants-flat",
    ),
]


@pytest.mark.parametrize(("api", "payload", "code"), ERROR_CASES)
def test_error_event_fails_the_run_with_its_code(api: str, payload: object, code: str) -> None:
    """An ``error`` event (flat or nested) ends the current run failed with the error's code, even
    when the stream then just stops."""
    c = Collect()
    book = RunBook(c)
    stream = book.stream(None, 0.0)
    first = "responses_completed.sse" if api == "responses" else "assistants_completed.sse"
    stream.frame(frames_of(load(first))[0], 0.0)
    stream.frame(frame("error", payload), 1.0)
    stream.close("stream_ended", 2.0)
    assert [(s, r) for _, s, r in c.finished()] == [("failed", code)]


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        pytest.param("responses_error_event_flat.sse", "failed", id="responses-flat"),
        pytest.param("responses_nested_error_then_failed.sse", "failed", id="responses-nested-then-failed"),
        pytest.param("assistants_error_event.sse", "failed", id="assistants"),
    ],
)
def test_error_transcripts_fail_once(filename: str, expected: str) -> None:
    """Recorded error streams end failed exactly once, whatever follows the error event."""
    c = Collect()
    play(RunBook(c), load(filename))
    assert [s for _, s, _ in c.finished()] == [expected]
    assert len(c.of(RunStarted)) == 1


def test_error_before_any_run_starts_one_from_the_hint() -> None:
    """An error that arrives before any lifecycle event of a known protocol still fails a run (the
    one the request named), rather than vanishing."""
    c = Collect()
    stream = RunBook(c).stream("responses", 0.0, "resp_x")
    stream.frame(frame("error", {"type": "error", "error": {"code": "server_error"}}), 0.0)
    stream.close("stream_ended", 1.0)
    assert c.finished() == [("resp_x", "failed", "server_error")]


# ------------------------------------------------------------------------------ chat, agents
def test_chat_usage_chunk_after_finish_reason_gives_tokens() -> None:
    """The include_usage chunk arrives after finish_reason and before [DONE]; its tokens land on the
    run that RunFinished reports."""
    c = Collect()
    play(RunBook(c), load("chat_stop.sse"))
    (done,) = c.of(RunFinished)
    usage = json.loads(frames_of(load("chat_stop.sse"))[-2].data)["usage"]
    assert (done.run.usage.input, done.run.usage.output) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert (done.outcome.status, done.outcome.reason) == ("completed", "none")


def test_chat_without_usage_has_no_tokens_and_length_is_incomplete() -> None:
    """Without the usage chunk tokens stay unknown (None), and finish_reason length is incomplete."""
    c = Collect()
    play(RunBook(c), load("chat_length_no_usage.sse"))
    (done,) = c.of(RunFinished)
    assert done.run.usage.items() == []
    assert (done.outcome.status, done.outcome.reason) == ("incomplete", "length")


def test_chat_tool_calls_are_counted() -> None:
    """Each chat tool call (its first chunk carries its id) is one ToolCall."""
    c = Collect()
    play(RunBook(c), load("chat_tool_calls.sse"))
    body = load("chat_tool_calls.sse").decode()
    assert len(c.of(ToolCall)) == body.count('"type":"function"')
    assert len(c.of(ToolCall)) >= 1


def test_agents_session_with_several_turns() -> None:
    """One agent events stream carrying three turns gives three runs (turn ids), each with the
    session's model and its own outcome, and one first token each."""
    c = Collect()
    play(RunBook(c), load("agents_session_three_turns.sse"))
    expected = EXPECTED["agents_session_three_turns"]["runs"]
    assert sorted(c.finished()) == sorted((r["run_id"], r["status"], r["reason"]) for r in expected)
    assert len(expected) == 3
    assert {t.run.model for t in c.of(RunFinished)} == {expected[0]["model"]}
    assert len(c.of(FirstToken)) == 3
    assert all(t.run.session_id for t in c.of(RunFinished))


def test_agents_stream_joined_mid_turn_is_one_run_per_turn() -> None:
    """Regression: a session events stream joined mid-turn starts with a delta (no turn yet known).
    The run that delta started used to be replaced, never finished, when the turn's lifecycle event
    arrived; now it IS that turn: one run, one RunFinished, with the turn's id and outcome."""
    c = Collect()
    stream = RunBook(c).stream(None, 0.0)
    frames = frames_of(load("agents_completed.sse"))
    first_delta = next(i for i, f in enumerate(frames) if f.event == "agent.session.turn.output_text.delta")
    for f in frames[first_delta:]:
        stream.frame(f, 1.0)
    stream.close("stream_ended", 2.0)
    expected = EXPECTED["agents_completed"]["runs"][0]
    assert len(c.of(RunStarted)) == 1
    assert c.finished() == [(expected["run_id"], "completed", "none")]


def test_background_response_cut_and_resumed_with_hint_is_one_run() -> None:
    """A background response whose stream is cut is parked, not ended; the resume stream (which
    names the response only at its end) continues it by the URL's id: one run, completed."""
    c = Collect()
    book = RunBook(c)
    play(book, load("responses_resume_part1.sse"), t=0.0, reason="transport_error")
    assert not c.of(RunFinished)
    assert book.parked == 1
    play(book, load("responses_resume_part2.sse"), t=5.0, api="responses", hint="resp_r100")
    assert c.finished() == [("resp_r100", "completed", "none")]
    assert len(c.of(RunStarted)) == 1
    assert len(c.of(RunResumed)) == 1
    assert book.parked == 0


def test_background_response_never_resumed_ends_aborted_with_its_close_reason() -> None:
    """A cut background response nobody resumes ends aborted with the reason its stream ended."""
    c = Collect()
    book = RunBook(c)
    play(book, load("responses_resume_part1.sse"), t=0.0, reason="transport_error")
    book.flush(1.0)
    assert c.finished() == [("resp_r100", "aborted", "transport_error")]


def test_repeated_output_item_added_leaves_no_phase_open() -> None:
    """Regression: a duplicated ``response.output_item.added`` (same item id) replaced the open
    phase, so the first one never ended (a span that never ends). Now every phase started ends."""
    c = Collect()
    stream = RunBook(c).stream(None, 0.0)
    frames = frames_of(load("responses_completed.sse"))
    added = next(f for f in frames if f.event == "response.output_item.added")
    for f in frames:
        stream.frame(f, 1.0)
        if f is added:
            stream.frame(Frame(f.event, f.data), 1.0)
    stream.close("stream_ended", 2.0)
    started = [t.phase for t in c.of(PhaseStarted)]
    assert Counter(map(id, started)) == Counter(id(t.phase) for t in c.of(PhaseEnded))
    assert [p.kind for p in started].count("output_item") == 1


def test_run_state_is_freed_when_runs_end() -> None:
    """After a run ends, nothing about it stays in the book but the bounded recent-id ring."""
    book = RunBook(Collect(), recent_max=3)
    for name in ("chat_stop.sse", "responses_completed.sse", "assistants_completed.sse", "chat_length.sse"):
        play(book, load(name))
    assert book.parked == 0
    assert len(book._recent) == 3
    assert not book._sighted


# ------------------------------------------------------------------------------ properties
def _all_frames() -> list[Frame]:
    out: list[Frame] = []
    for path in sorted(DATA.glob("*.sse")):
        out += frames_of(path.read_bytes())
    return out


POOL = _all_frames()
PAYLOADS = sorted({f.data for f in POOL})
BROKEN = ["{", '{"type":', "[DONE]", "", "null", "[]", '{"response":null}', '{"turn":{"status":7}}']
KNOWN_NAMES = sorted({name for api in APIS for name in protocols.get(api).events})
UNKNOWN_NAMES = [
    "thread.run.paused",
    "response.hibernating",
    "response.telepathy.delta",
    "agent.session.turn.zzz",
    "chat.completion.weird",
    "ping",
    "message",
    "done",
]
RUN_IDS = sorted({r["run_id"] for c in EXPECTED.values() for r in c["runs"] if r["run_id"]})

_payload = st.one_of(
    st.sampled_from(PAYLOADS),
    st.sampled_from(BROKEN),
    st.sampled_from(PAYLOADS).map(lambda s: s[: len(s) // 2]),
)
_name = st.one_of(st.none(), st.sampled_from(KNOWN_NAMES), st.sampled_from(UNKNOWN_NAMES))
# An input: how to deliver it, the event name, the data.
_random_input = st.tuples(st.sampled_from(["frame", "feed", "truncated"]), _name, _payload)


@st.composite
def _stream_inputs(draw: st.DrawFn) -> list[tuple[str, str | None, str]]:
    """A transcript's frames shuffled, duplicated and truncated (an index list does all three),
    interleaved with random names, payloads and broken JSON."""
    source = frames_of(draw(st.sampled_from(sorted(DATA.glob("*.sse")))).read_bytes())
    picks = draw(st.lists(st.integers(0, len(source) - 1), max_size=40))
    if draw(st.booleans()):
        picks = sorted(picks)  # in order, with gaps and repeats: closer to a real damaged stream
    inputs: list[tuple[str, str | None, str]] = [("frame", source[i].event, source[i].data) for i in picks]
    for _ in range(draw(st.integers(0, 8))):
        inputs.insert(draw(st.integers(0, len(inputs))), draw(_random_input))
    return inputs


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    streams=st.lists(
        st.tuples(
            _stream_inputs(),
            st.sampled_from([None, *APIS]),
            st.one_of(st.none(), st.sampled_from(RUN_IDS)),
            st.sampled_from(sorted(CLOSE_REASONS)),
        ),
        min_size=1,
        max_size=3,
    ),
    schedule=st.lists(st.integers(0, 2), max_size=200),
    gaps=st.lists(st.sampled_from([0.0, 1.0, 5.0, DEFAULT_TTL + 1]), min_size=1, max_size=10),
)
def test_every_started_run_finishes_exactly_once(
    streams: list[tuple[list[tuple[str, str | None, str]], Any, str | None, str]],
    schedule: list[int],
    gaps: list[float],
) -> None:
    """Random damaged streams (shuffled, duplicated, truncated transcripts, unknown names, broken
    JSON), several at once on one book, interleaved, closed for random reasons, then flushed: nothing
    raises, every RunStarted has exactly one RunFinished and nothing happens to a run after it, and
    the book holds nothing (parked, active or owned) afterwards."""
    c = Collect()
    book = RunBook(c)
    now = 0.0
    trackers: list[StreamTracker] = []
    cursors = [0] * len(streams)

    def tick() -> float:
        nonlocal now
        now += gaps[int(now) % len(gaps)]
        return now

    for _, api, hint, _ in streams:
        trackers.append(book.stream(api, tick(), hint))
    # Interleave per the schedule, then drain what is left in order.
    order = [i % len(streams) for i in schedule] + [i for i, s in enumerate(streams) for _ in s[0]]
    for i in order:
        inputs = streams[i][0]
        if cursors[i] >= len(inputs):
            continue
        how, name, data = inputs[cursors[i]]
        cursors[i] += 1
        t = tick()
        if how == "feed":
            f = Frame(name, data)
            trackers[i].feed(name or "message", t, f.json, data)
        else:
            trackers[i].frame(Frame(name, data, truncated=how == "truncated"), t)
    for tracker, (_, _, _, reason) in zip(trackers, streams, strict=True):
        tracker.close(reason, tick())
    book.flush(tick())

    started = Counter(id(t.run) for t in c.of(RunStarted))
    finished = Counter(id(t.run) for t in c.of(RunFinished))
    assert all(n == 1 for n in started.values())
    assert finished == started
    # Nothing but anomalies happens to a run after its RunFinished.
    ended: set[int] = set()
    for t in c.transitions:
        run = getattr(t, "run", None)
        if run is None:
            continue
        if id(run) in ended:
            assert isinstance(t, Anomaly), t
        if isinstance(t, RunFinished):
            ended.add(id(run))
    # Phases that start also end.
    assert Counter(id(t.phase) for t in c.of(PhaseStarted)) == Counter(id(t.phase) for t in c.of(PhaseEnded))
    assert book.parked == 0
    assert book.parked == 0


def test_long_agent_session_keeps_bounded_state() -> None:
    """A session stream with 500 turns holds a bounded number of run trackers (finished turns are
    dropped), every turn is counted once, and a late event for a dropped turn is an anomaly, not a
    new run."""
    from runwatch import testing
    from runwatch._events import RunFinished, RunStarted
    from runwatch._sse import SSEDecoder
    from runwatch._tracker import RunBook

    seen: list[object] = []
    book = RunBook(seen.append)
    stream = book.stream("agents", 0.0)
    decoder = SSEDecoder()
    turns = ["completed"] * 500
    body = testing.agent_session_events(turns, session_id="sess_long")
    max_runs = 0
    for chunk_start in range(0, len(body), 4096):
        for frame in decoder.feed(body[chunk_start : chunk_start + 4096]):
            stream.frame(frame, 1.0)
            max_runs = max(max_runs, len(stream.runs))
    assert max_runs <= 17
    started = sum(isinstance(t, RunStarted) for t in seen)
    finished = sum(isinstance(t, RunFinished) for t in seen)
    assert started == finished == 500
    # Replaying the first turn's terminal again is late, not a new run.
    first = next(t for t in seen if isinstance(t, RunFinished))
    late = {
        "type": "agent.session.turn.completed",
        "turn_id": first.run.run_id,
        "turn": {"id": first.run.run_id, "status": "completed", "object": "agent.session.turn"},
    }
    import json

    for frame in decoder.feed(f"event: agent.session.turn.completed\ndata: {json.dumps(late)}\n\n".encode()):
        stream.frame(frame, 2.0)
    stream.close("stream_ended", 3.0)
    assert sum(isinstance(t, RunStarted) for t in seen) == 500
    assert any(getattr(t, "kind", None) == "event_after_terminal" for t in seen)


def _summary(transitions: list[Transition]) -> list[tuple[object, ...]]:
    """What two equivalent paths must agree on: every transition, its run, phase, outcome, kind,
    tool type and time, and what the run knew when it finished (what the sinks report)."""
    out: list[tuple[object, ...]] = []
    for tr in transitions:
        run = getattr(tr, "run", None)
        facts: tuple[object, ...] = ()
        if type(tr).__name__ == "RunFinished":
            facts = (
                run.model,
                run.usage,
                run.tool_calls,
                run.first_token_at,
                list(run.finish_reasons),
                run.status,
            )
        out.append(
            (
                type(tr).__name__,
                getattr(run, "run_id", None),
                getattr(getattr(tr, "phase", None), "name", None),
                getattr(tr, "outcome", None),
                getattr(tr, "kind", None),
                getattr(tr, "tool_type", None),
                getattr(tr, "detail", None),
                tr.time,
                facts,
            )
        )
    return out


def _both_paths(
    chunks: list[bytes], api: Any = None, max_frame_bytes: int = 16 * 1024 * 1024
) -> tuple[list[Transition], list[Transition]]:
    """Transitions of the plain path (``SSEDecoder.feed`` + ``frame`` per frame) and of the
    production path (``runwatch._skip.Skipper.feed``), chunk ``n`` arriving at time ``n``."""
    results = []
    for hot in (False, True):
        c = Collect()
        book = RunBook(c)
        stream = book.stream(api, 0.0)
        decoder = SSEDecoder(max_frame_bytes)
        skipper = Skipper(stream, decoder)
        for n, chunk in enumerate(chunks):
            t = float(n)
            if hot:
                skipper.feed(chunk, lambda t=t: t)  # type: ignore[misc]
            else:
                for frame in decoder.feed(chunk):
                    stream.frame(frame, t)
        for frame in decoder.end():
            stream.frame(frame, 1e6)
        # As StreamSession.close does: frames dropped for their size are reported.
        c.transitions.append(Anomaly(stream.api, "oversized_frame", None, 1e6, str(decoder.oversized)))
        stream.close("stream_ended", 1e6)
        book.flush(1e6)
        results.append(c.transitions)
    return results[0], results[1]


def _transcripts_in_chunks(chunk_size: int) -> Iterator[tuple[str, list[bytes]]]:
    """Every recorded transcript's name and body in ``chunk_size``-byte chunks (0: one frame per
    chunk, as a server that flushes per event sends them)."""
    for path in sorted(DATA.glob("*.sse")):
        body = path.read_bytes()
        if chunk_size:
            yield path.name, [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
        else:
            yield path.name, split_frames(body)


@pytest.mark.parametrize("chunk_size", [0, 1, 7, 4096, 1 << 20])
def test_hot_path_matches_frame_path_on_every_transcript(chunk_size: int) -> None:
    """The production hot path (`Skipper.feed`: whole delta frames skipped on their
    bytes, then `SSEDecoder.feed_items` + `Skipper.frames`, which skips deltas after the first
    token without building Frames) emits exactly the transitions of the plain path (`feed` +
    `frame`) for every recorded transcript, whatever the chunking (0: one frame per chunk, as a
    server that flushes per event sends them)."""
    for name, chunks in _transcripts_in_chunks(chunk_size):
        plain, hot = _both_paths(chunks)
        assert _summary(plain) == _summary(hot), name


_TRANSCRIPTS = sorted(DATA.glob("*.sse"))
_FAILED = next(
    f
    for f in (DATA / "responses_failed_server_error.sse").read_bytes().split(b"\n\n")
    if b"response.failed" in f
).split(b"data: ", 1)[1]
# Frames that look like skippable deltas but are not one plain frame, or follow damage.
_ODD_FRAMES = [
    b": keep-alive\n\n",
    b"id: 7\n\n",
    b"event: response.output_text.delta\ndata: {}\ndata: {}\n\n",
    b"event: response.output_text.delta\r\ndata: {}\r\n\r\n",
    b"event: response.output_text.delta\ndata: {}\r\rdata: " + _FAILED + b"\n\n",  # CR CR: two frames
    b'event: thread.message.delta\ndata: {"x":1}\n',
    b'data: {"id":"chatcmpl-x","choices":[{"index":0,"delta":{"content":"\xff"},"finish_reason":null}]}\n\n',
    b'data: {"id":"chatcmpl-x","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}\n\n'
    b"data: [DONE]\n\n",
    b'data: {"id":"chatcmpl-x","choices":[{"index":1,"delta":{},"finish_reason":"length"},'
    b'{"index":0,"delta":{"content":"a"},"finish_reason":null}]}\n\n',
    b"event: response.output_text.delta\ndata: " + b"x" * 300 + b"\n\n",
]


@st.composite
def _wire_frames(draw: st.DrawFn) -> list[bytes]:
    """One transcript's frames, as sent, picked in order or shuffled, with gaps and repeats (so
    deltas arrive before the first token and after the terminal), plus odd frames here and there."""
    body = draw(st.sampled_from(_TRANSCRIPTS)).read_bytes()
    source = [f + b"\n\n" for f in body.split(b"\n\n")[:-1]] or [body]
    picks = draw(st.lists(st.integers(0, len(source) - 1), max_size=40))
    if draw(st.booleans()):
        picks = sorted(picks)
    frames = [source[i] for i in picks]
    for _ in range(draw(st.integers(0, 4))):
        frames.insert(draw(st.integers(0, len(frames))), draw(st.sampled_from(_ODD_FRAMES)))
    return frames


def _until_first_token(name: str) -> list[bytes]:
    """The transcript's frames up to its first token, so that deltas after them are skippable."""
    frames = split_frames((DATA / name).read_bytes())
    first = next(i for i, f in enumerate(frames) if b".delta" in f or re.search(rb'"content":"[^"]', f))
    head = frames[: first + 1]
    c = Collect()
    stream = RunBook(c).stream(None, 0.0)
    for frame in SSEDecoder().feed(b"".join(head)):
        stream.frame(frame, 0.0)
    assert stream.current is not None, name
    assert stream.current.run.first_token_at is not None, name
    return head


_RESPONSES_DELTA = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta"}\n\n'
_CHAT_DELTA = (
    b'data: {"id":"chatcmpl-x","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}\n\n'
)
_CHAT_USAGE = b'data: {"id":"chatcmpl-x","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5}}\n\n'
_CHAT_HEAD = b'data: {"id":"chatcmpl-x","choices":['
_CHAT_LENGTH = b'{"index":1,"delta":{},"finish_reason":"length"}'
_CHAT_TOOL_CALL = (
    b'"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]'
)


@pytest.mark.parametrize(
    ("transcript", "tail"),
    [
        # A delta and the terminal in one chunk: the chunk is not one frame.
        ("responses_completed.sse", [_RESPONSES_DELTA + b"data: " + _FAILED + b"\n\n"]),
        # A delta whose blank line has not come yet: the next line still belongs to its frame.
        ("responses_completed.sse", [_RESPONSES_DELTA[:-1] + b"e", b"vent: response.failed\n\n"]),
        ("responses_completed.sse", [_RESPONSES_DELTA[:-1], b"\n"]),
        # A chat delta and [DONE], or a delta and a finished choice, in one chunk.
        ("chat_stop.sse", [_CHAT_DELTA + b"data: [DONE]\n\n"]),
        ("chat_length.sse", [_CHAT_DELTA[:-2] + b"\r\r" + _CHAT_DELTA.replace(b"null", b'"length"')]),
        # A CR CR inside what looks like one delta frame ends it and starts another.
        ("responses_completed.sse", [_RESPONSES_DELTA[:-2] + b"\r\rdata: " + _FAILED + b"\n\n"]),
        # A delta that completes a line the previous chunk left open is part of that frame.
        ("responses_completed.sse", [b'data: {"type"', _RESPONSES_DELTA]),
        # A one-line chunk with the delta mark that is not a data line (an event with no data).
        ("chat_stop.sse", [b'event: chat.completion.chunk {"finish_reason":null}\n\n']),
        # Chat deltas and the usage chunk (no choices) in one region: the usage is not lost.
        ("chat_stop.sse", [_CHAT_DELTA + _CHAT_DELTA + _CHAT_USAGE]),
        ("chat_stop.sse", [_CHAT_DELTA, _CHAT_USAGE, _CHAT_DELTA]),
        # After a plain chat delta the tracker reads only what follows a known head ("...[");
        # a chunk with that head must still be one plain delta frame to be skipped.
        ("chat_stop.sse", [_CHAT_DELTA, _CHAT_DELTA + _CHAT_USAGE]),
        ("chat_stop.sse", [_CHAT_DELTA, _CHAT_DELTA[:-2] + b"\r\n\r\n", _CHAT_USAGE]),
        ("chat_stop.sse", [_CHAT_DELTA, _CHAT_DELTA[:-2] + b"\r\r" + _CHAT_USAGE]),
        ("chat_stop.sse", [_CHAT_DELTA, b"event: error\n", _CHAT_DELTA, _CHAT_USAGE]),
        ("chat_stop.sse", [_CHAT_DELTA, _CHAT_DELTA[:-1], _CHAT_USAGE]),
        ("chat_stop.sse", [_CHAT_DELTA, _CHAT_HEAD, b"\n", _CHAT_USAGE]),
        ("chat_stop.sse", [_CHAT_DELTA, _CHAT_HEAD + b"\n\n", _CHAT_USAGE]),
        ("chat_length.sse", [_CHAT_DELTA, _CHAT_DELTA.replace(b"null", b'"length"')]),
        ("chat_length.sse", [_CHAT_DELTA, _CHAT_DELTA.replace(b"}]", b"}," + _CHAT_LENGTH + b"]")]),
        ("chat_stop.sse", [_CHAT_DELTA, _CHAT_DELTA.replace(b'"content":"a"', _CHAT_TOOL_CALL)]),
        ("chat_stop.sse", [_CHAT_DELTA, _CHAT_DELTA.replace(b'"a"', b'"\xff"') + _CHAT_USAGE[:-2] + b"\n\n"]),
        ("chat_stop.sse", [_CHAT_DELTA, _CHAT_DELTA[:-2] + b"\ndata: {}\n\n", _CHAT_USAGE]),
        # The same after a named delta: the head ("event: E\ndata: ") is known, the rest is read.
        ("responses_completed.sse", [_RESPONSES_DELTA, _RESPONSES_DELTA + b"data: " + _FAILED + b"\n\n"]),
        (
            "responses_completed.sse",
            [_RESPONSES_DELTA, _RESPONSES_DELTA[:-2] + b"\r\rdata: " + _FAILED + b"\n\n"],
        ),
        ("responses_completed.sse", [_RESPONSES_DELTA, _RESPONSES_DELTA[:-1], b"event: response.failed\n\n"]),
        ("responses_completed.sse", [_RESPONSES_DELTA, b"event: error\n", _RESPONSES_DELTA, b"data: {}\n\n"]),
        # A head that differs (another completion's id) is read the long way, then learned.
        ("chat_stop.sse", [_CHAT_DELTA, _CHAT_DELTA.replace(b"-x", b"-y"), _CHAT_USAGE, _CHAT_DELTA]),
        # A delta after the terminal is an anomaly, never skipped.
        ("responses_completed.sse", [b"data: " + _FAILED + b"\n\n", _RESPONSES_DELTA]),
    ],
)
def test_hot_path_never_skips_a_chunk_that_is_not_one_plain_delta(transcript: str, tail: list[bytes]) -> None:
    plain, hot = _both_paths(_until_first_token(transcript) + tail)
    assert _summary(plain) == _summary(hot)


def test_hot_path_drops_an_oversized_chat_delta_as_the_decoder_does() -> None:
    """A chunk with a known chat head but over the frame limit is dropped and counted, not skipped."""
    big = _CHAT_DELTA.replace(b'"a"', b'"' + b"a" * 200 + b'"')
    chunks = [_CHAT_DELTA, _CHAT_DELTA, big, _CHAT_USAGE]
    plain, hot = _both_paths(chunks, "chat", max_frame_bytes=len(_CHAT_DELTA) + 10)
    assert _summary(plain) == _summary(hot)
    assert [t.detail for t in plain if getattr(t, "kind", None) == "oversized_frame"] == ["1"]  # type: ignore[attr-defined]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frames=_wire_frames(),
    cuts=st.lists(st.one_of(st.none(), st.none(), st.integers(0, 400)), max_size=40),
    api=st.sampled_from([None, *APIS]),
    max_frame=st.sampled_from([16 * 1024 * 1024, 200]),
)
def test_hot_path_matches_frame_path_on_random_byte_streams(
    frames: list[bytes], cuts: list[int | None], api: Any, max_frame: int
) -> None:
    """Transcript frames in and out of order plus odd ones (comments, ids, two data lines, CRLF,
    CR CR hiding a second frame, a missing blank line, invalid UTF-8, a chat delta and [DONE] in
    one chunk, two chat choices, a frame over the size limit), delivered one frame per chunk,
    merged or cut at random points: the production path agrees with the plain one, transition for
    transition."""
    chunks: list[bytes] = []
    for i, frame in enumerate(frames):
        cut = cuts[i] if i < len(cuts) else None
        if cut is None or not chunks:
            chunks.append(frame)  # one frame per chunk
        elif cut % 2:
            chunks[-1] += frame  # merged with the previous chunk
        else:
            joined = chunks.pop() + frame  # cut anywhere
            chunks += [joined[:cut], joined[cut:]]
    chunks = [c for c in chunks if c]
    plain, hot = _both_paths(chunks, api, max_frame)
    assert _summary(plain) == _summary(hot)


def test_run_id_seen_again_after_another_run_is_the_same_run() -> None:
    """Regression (found by the property test): a background response, then a lifecycle event of
    another response, then the first response again, on one stream that is then cut. The first
    response is one run (not two trackers for one id, one of which was parked over and never
    ended): every started run finishes exactly once after the TTL."""
    import json

    from runwatch._events import RunFinished, RunStarted
    from runwatch._sse import Frame
    from runwatch._tracker import RunBook

    def created(rid: str, status: str, background: bool, name: str = "response.created") -> Frame:
        snap = {"id": rid, "object": "response", "status": status, "background": background, "model": "m"}
        return Frame(name, json.dumps({"type": name, "response": snap}))

    seen: list[object] = []
    book = RunBook(seen.append)
    stream = book.stream(None, 0.0)
    stream.frame(created("resp_a", "queued", True), 1.0)
    stream.frame(created("resp_b", "hibernating", False, "response.hibernating"), 2.0)
    stream.frame(created("resp_a", "queued", True), 3.0)
    stream.close("cancelled", 4.0)
    book.flush(5.0)
    started = [t.run for t in seen if isinstance(t, RunStarted)]
    finished = [t.run for t in seen if isinstance(t, RunFinished)]
    assert [r.run_id for r in started].count("resp_a") == 1
    assert sorted(map(id, started)) == sorted(map(id, finished))
    assert book.parked == 0


def test_anonymous_run_ended_by_an_error_then_a_late_created_event() -> None:
    """Regression (found by the property test): an output item opens an anonymous run, an error
    event ends it, then ``response.created`` names a run. The ended run is not renamed or reopened
    (no phase after its RunFinished); the named one is a run of its own that ends with the stream,
    and the book holds nothing afterwards."""
    c = Collect()
    book = RunBook(c)
    stream = book.stream(None, 0.0)
    item = {
        "type": "response.output_item.added",
        "output_index": 0,
        "item": {"id": "msg_1", "type": "message"},
    }
    error = {"type": "error", "code": "rate_limit_exceeded", "message": "x", "param": None}
    snap = {"id": "resp_late", "object": "response", "status": "in_progress", "model": "m"}
    stream.frame(Frame("response.output_item.added", json.dumps(item)), 1.0)
    stream.frame(Frame("error", json.dumps(error)), 2.0)
    stream.frame(Frame("response.created", json.dumps({"type": "response.created", "response": snap})), 3.0)
    stream.close("stream_ended", 4.0)
    book.flush(5.0)
    assert c.finished() == [(None, "failed", "rate_limit_exceeded"), ("resp_late", "aborted", "stream_ended")]
    first = c.of(RunFinished)[0].run
    after = c.transitions[c.transitions.index(c.of(RunFinished)[0]) + 1 :]
    assert all(isinstance(t, Anomaly) for t in after if getattr(t, "run", None) is first), after
    assert book.parked == 0


@pytest.mark.parametrize("api", ["responses", "assistants", "chat"])
@pytest.mark.parametrize("chunk_size", [0, 4096])
def test_deltas_after_the_first_token_never_reach_frames(
    api: str, chunk_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hot path's point, guarded without a clock: once a run has its first token, deltas are
    left out before any item is built (a chunk of one delta on its bytes, a region of deltas by the
    decoder), so `frames()` sees only the few deltas that share a region with a lifecycle event."""
    from runwatch.testing import assistants_run, chat_stream, responses_stream

    body = {
        "responses": lambda: responses_stream(deltas=500),
        "assistants": lambda: assistants_run(deltas=500),
        "chat": lambda: chat_stream(deltas=500),
    }[api]()
    seen: list[object] = []
    original = Skipper.frames

    def spy(self: Skipper, items: list[Any], t: float) -> None:
        seen.extend(items)
        original(self, items, t)

    monkeypatch.setattr(Skipper, "frames", spy)
    stream = RunBook(Collect()).stream(None, 0.0)
    skipper = Skipper(stream)
    chunks = (
        split_frames(body)
        if not chunk_size
        else [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
    )
    for chunk in chunks:
        skipper.feed(chunk, lambda: 1.0)
    stream.close("stream_ended", 2.0)

    def is_delta(item: Any) -> bool:
        name, data = (item[0], item[1]) if type(item) is tuple else (item.event, item.data)
        return (name or "").endswith(".delta") or (name is None and '"content":"' in data)

    deltas = sum(map(is_delta, seen))
    assert body.count(b"\n\n") > 500
    assert deltas <= 40, f"{deltas} deltas reached frames()"


# ------------------------------------------------------------------- chat in-band errors
_CHAT_ERROR = {"code": 400, "message": "Provider returned error"}
_CHAT_ERROR_CHUNKS = {
    # The delta mark ("finish_reason":null) beside a top-level error: never a plain delta.
    "beside_null_finish": b'data: {"id":"chatcmpl-x","choices":[{"index":0,"delta":{"content":""},'
    b'"finish_reason":null}],"error":' + json.dumps(_CHAT_ERROR, separators=(",", ":")).encode() + b"}\n\n",
    "finish_reason_error": b'data: {"id":"chatcmpl-x","choices":[{"index":0,"delta":{"content":""},'
    b'"finish_reason":"error"}],"error":'
    + json.dumps(_CHAT_ERROR, separators=(",", ":")).encode()
    + b"}\n\n",
    "bare": b"data: " + json.dumps({"error": _CHAT_ERROR}, separators=(",", ":")).encode() + b"\n\n",
}


@pytest.mark.parametrize("error", list(_CHAT_ERROR_CHUNKS))
@pytest.mark.parametrize(
    "arrange",
    [
        pytest.param(lambda d, e: [d, d, e], id="own-chunk-after-learned-head"),
        pytest.param(lambda d, e: [d, e], id="own-chunk"),
        pytest.param(lambda d, e: [d, d + e + d], id="amid-deltas"),
        pytest.param(lambda d, e: [d, d + d + e], id="after-deltas"),
        pytest.param(lambda d, e: [d, (d + e)[:40], (d + e)[40:]], id="cut"),
    ],
)
def test_chat_error_chunk_fails_the_run_on_both_paths(error: str, arrange: Any) -> None:
    """A chat chunk with a top-level ``error`` after the first token ends the run ``failed`` with
    the error's code (an int code as its text), on the plain path and on the production byte path
    alike: its own chunk (with the learned head of the deltas before it), inside a region of
    deltas the decoder could drop, or cut anywhere. ``[DONE]`` after it changes nothing."""
    tail = [*arrange(_CHAT_DELTA, _CHAT_ERROR_CHUNKS[error]), b"data: [DONE]\n\n"]
    plain, hot = _both_paths(_until_first_token("chat_stop.sse") + tail)
    assert _summary(plain) == _summary(hot)
    finished = [t.outcome for t in hot if isinstance(t, RunFinished)]
    assert [(o.status, o.reason) for o in finished] == [("failed", "400")]


@pytest.mark.parametrize(
    ("finish_reasons", "outcome"),
    [
        pytest.param(["error"], ("failed", "none"), id="error"),
        pytest.param(["length", "error"], ("failed", "none"), id="error-beats-length"),
        pytest.param(["error", "length"], ("failed", "none"), id="error-before-length"),
        pytest.param(["stop", "length"], ("incomplete", "length"), id="length"),
    ],
)
def test_chat_finish_reason_error_without_an_error_object_fails(
    finish_reasons: list[str], outcome: tuple[str, str]
) -> None:
    """``finish_reason: "error"`` (no error object to name a code) ends the chat ``failed``, over
    any incomplete choice beside it."""
    c = Collect()
    stream = RunBook(c).stream("chat", 0.0)
    choices = [
        {"index": i, "delta": {"content": "a"}, "finish_reason": fr} for i, fr in enumerate(finish_reasons)
    ]
    stream.frame(
        frame(None, {"id": "chatcmpl-x", "object": "chat.completion.chunk", "choices": choices}), 1.0
    )
    stream.frame(Frame(None, "[DONE]"), 2.0)
    stream.close("stream_ended", 3.0)
    assert [(s, r) for _, s, r in c.finished()] == [outcome]


# ------------------------------------------------------------- assistants required tool calls
def _step_completed(step: str, calls: list[str]) -> bytes:
    payload = {
        "id": step,
        "object": "thread.run.step",
        "run_id": "run_a100",
        "type": "tool_calls",
        "status": "completed",
        "step_details": {
            "type": "tool_calls",
            "tool_calls": [
                {
                    "id": c,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}", "output": "18C"},
                }
                for c in calls
            ],
        },
    }
    return b"event: thread.run.step.completed\ndata: " + json.dumps(payload).encode() + b"\n\n"


def _with_calls(body: bytes, calls: list[str]) -> bytes:
    """``body`` whose requires_action snapshot asks for the tool calls ``calls``."""
    one = (
        b'{"id":"call_a100_1","type":"function",'
        b'"function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}}'
    )
    assert body.count(one) == 1
    return body.replace(one, b",".join(one.replace(b"call_a100_1", c.encode()) for c in calls))


def _part2_with_step(calls: list[str]) -> bytes:
    """The continuation stream, opening with the tool step's completion (as the API sends it)."""
    return _step_completed("step_a100_0", calls) + load("assistants_requires_action_part2.sse")


@pytest.mark.parametrize(
    ("bodies", "expected"),
    [
        pytest.param(
            lambda: [
                load("assistants_requires_action_part1.sse"),
                load("assistants_requires_action_part2.sse"),
            ],
            (1, "completed"),
            id="transcripts",
        ),
        pytest.param(
            lambda: [load("assistants_requires_action_part1.sse"), _part2_with_step(["call_a100_1"])],
            (1, "completed"),
            id="step-completes-with-the-same-call",
        ),
        pytest.param(
            lambda: [
                _with_calls(load("assistants_requires_action_part1.sse"), ["call_1", "call_2"]),
                _part2_with_step(["call_1", "call_2"]),
            ],
            (2, "completed"),
            id="two-calls",
        ),
        pytest.param(
            lambda: [
                _with_calls(load("assistants_requires_action_part1.sse"), ["call_1"]),
                _part2_with_step(["call_1", "call_2"]),
            ],
            (2, "completed"),
            id="step-adds-a-call",
        ),
        pytest.param(
            lambda: [load("assistants_requires_action_part1.sse")],
            (1, "abandoned"),
            id="abandoned",
        ),
    ],
)
def test_required_tool_calls_are_counted_once(bodies: Any, expected: tuple[int, str]) -> None:
    """The function calls a ``requires_action`` run waits for are counted from its snapshot
    (``required_action.submit_tool_outputs.tool_calls``), once each: the tool step completing with
    the same call ids in the continuation adds only calls not counted yet, and a run never resumed
    (abandoned after the TTL) still counts the calls it asked for."""
    c = Collect()
    book = RunBook(c)
    hints = [None, "run_a100"]
    for n, body in enumerate(bodies()):
        play(book, body, t=10.0 * n, api="assistants", hint=hints[n])
    book.flush(1e6)
    [finished] = c.of(RunFinished)
    calls = c.of(ToolCall)
    assert (len(calls), finished.outcome.status) == expected
    assert finished.run.tool_calls == expected[0]
    assert {t.tool_type for t in calls} == {"function"}


# ------------------------------------------------------------ OpenAI-compatible servers (issue 16)
COMPATIBLE = [pytest.param(name, id=name) for name, case in EXPECTED.items() if "anomalies" in case]


def _anomaly_counts(transitions: list[Any]) -> dict[str, int]:
    return dict(Counter(t.kind for t in transitions if isinstance(t, Anomaly)))


@pytest.mark.parametrize("name", COMPATIBLE)
def test_compatible_transcripts_replay_with_exact_samples(name: str) -> None:
    """``runwatch replay`` of each compatible server's transcript gives the exact Prometheus samples
    expected.json names: one run under the model the stream reported, its status and reason (a
    label value, never ``_other``), and the anomalies a replay can see without the request
    (``replay_anomalies``: a request's max_tokens and include_usage are not in a recording)."""
    from prometheus_client import CollectorRegistry

    from runwatch.sinks.prometheus import PrometheusSink

    spec = EXPECTED[name]
    registry = CollectorRegistry()
    replay([load(f) for f in spec["files"]], sink=PrometheusSink(registry), run_id_hints=hints_for(spec))
    (run,) = spec["runs"]

    def samples(metric: str, *labels: str) -> dict[tuple[str, ...], float]:
        return {
            tuple(s.labels[k] for k in labels): s.value
            for m in registry.collect()
            for s in m.samples
            if s.name == metric and s.value
        }

    model = run["model"] or "unknown"
    assert samples("runwatch_runs_total", "api", "model", "status", "reason") == {
        (run["api"], model, run["status"], run["reason"]): 1.0
    }
    anomalies = spec.get("replay_anomalies", spec["anomalies"])
    assert samples("runwatch_stream_anomalies_total", "api", "kind") == {
        (run["api"], kind): float(n) for kind, n in anomalies.items()
    }


def _responses_with(sequences: list[int | None]) -> list[Frame]:
    """responses_completed.sse's frames with these sequence numbers (None: the key left out)."""
    frames = frames_of(load("responses_completed.sse"))
    out = []
    for f, seq in zip(frames, sequences, strict=True):
        obj = json.loads(f.data)
        if seq is None:
            obj.pop("sequence_number", None)
        else:
            obj["sequence_number"] = seq
        out.append(frame(f.event, obj))
    return out


# responses_completed.sse: created 0, in_progress 1, item added 2, part added 3, deltas 4-8 (the
# first token at 4: the others are skipped unread), text done 9, part done 10, item done 11,
# completed 12.
_SEQ = list(range(13))


@pytest.mark.parametrize(
    ("sequences", "gap"),
    [
        pytest.param(_SEQ, False, id="contiguous"),
        pytest.param([0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], True, id="gap-before-first-token"),
        pytest.param([0, 1, 2, 3, 4, 5, 6, 7, 8, 19, 20, 21, 22], True, id="jump-after-skipped-deltas"),
        pytest.param([0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13], True, id="gap-among-skipped-deltas"),
        pytest.param([0, 1, 2, 3, 4, 5, 6, 6, 7, 8, 9, 10, 11], True, id="repeated-among-skipped-deltas"),
        pytest.param([0, 1, 2, 3, 4, None, None, None, None, 9, 10, 11, 12], False, id="unnumbered-deltas"),
        pytest.param([0, 1, 2, 3, *[None] * 5, 4, 5, 6, 7], False, id="only-lifecycle-numbered"),
        pytest.param([0, 1, 2, 3, *[None] * 5, 4, 5, 5, 6], True, id="only-lifecycle-repeated"),
        pytest.param([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 10, 11], True, id="repeated"),
        pytest.param([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0], True, id="zeros-after-first-token"),
        pytest.param([0, 2, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], True, id="backwards"),
        pytest.param([None] * 13, False, id="no-sequence-numbers"),
        pytest.param([5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17], False, id="starts-anywhere"),
        pytest.param([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24], True, id="every-other"),
    ],
)
def test_sequence_numbers_must_rise_by_one_per_event_skipped_deltas_included(
    sequences: list[int | None], gap: bool
) -> None:
    """A Responses stream's ``sequence_number`` must rise by exactly one per event. Deltas after
    the first token are skipped unread, but counted: an event read must be numbered one more than
    the last one read plus the deltas skipped since, so a delta lost (or numbered twice) among
    them is a gap too. Any break is one ``sequence_gap`` per stream, whatever the number of
    breaks; the outcome never changes."""
    c = Collect()
    stream = RunBook(c).stream("responses", 0.0)
    for f in _responses_with(sequences):
        stream.frame(f, 1.0)
    stream.close("stream_ended", 2.0)
    assert c.finished() == [("resp_r001", "completed", "none")]
    assert c.anomalies() == (["sequence_gap"] if gap else [])


def _lose_delta(body: bytes, seq: int) -> bytes:
    """``body`` without the frame numbered ``seq`` (a gateway that dropped one event)."""
    kept = [f for f in split_frames(body) if f'"sequence_number":{seq}}}'.encode() not in f]
    assert len(kept) == len(split_frames(body)) - 1
    return b"".join(kept)


@pytest.mark.parametrize("chunk_size", [0, 7, 2048, 16384, 1 << 20])
@pytest.mark.parametrize("lost", [None, 5, 250, 498])
def test_a_delta_lost_among_skipped_deltas_is_one_sequence_gap(chunk_size: int, lost: int | None) -> None:
    """Deltas after the first token are left out unread by every layer of the byte path (a chunk
    of one delta on its bytes, a region of deltas by the decoder, a delta by name before a Frame
    is built) and by the SDK path, and each layer counts what it leaves out: one delta lost among
    500 is one ``sequence_gap`` whatever the chunking, and the stream intact raises none."""
    from runwatch.testing import responses_stream

    body = responses_stream(deltas=500)
    if lost is not None:
        body = _lose_delta(body, lost)
    chunks = (
        split_frames(body)
        if not chunk_size
        else [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
    )
    c = Collect()
    stream = RunBook(c).stream("responses", 0.0)
    skipper = Skipper(stream)
    for chunk in chunks:
        skipper.feed(chunk, lambda: 1.0)
    skipper.end(2.0)
    stream.close("stream_ended", 2.0)
    assert [r[1:] for r in c.finished()] == [("completed", "none")]
    assert c.anomalies() == ([] if lost is None else ["sequence_gap"])
    assert stream.skipped == 0  # every count was checked against the next number read
    c = Collect()
    _feed_like_the_sdk(RunBook(c), body, api="responses")
    assert c.anomalies() == ([] if lost is None else ["sequence_gap"])


def _snap(event: str, rid: str, status: str = "in_progress", **extra: Any) -> Frame:
    body = {"id": rid, "object": "response", "status": status, "model": "m", **extra}
    return frame(event, {"type": event, "response": body})


def test_an_id_changed_mid_stream_is_the_same_run_said_once() -> None:
    """One create, one run: a proxy that renames the response at every lifecycle event does not
    split the stream into runs. The run keeps its first id (what ``duplicate_id`` and resumes go
    by), the change is one ``id_changed`` anomaly whose detail (logs only) names both ids, and a
    later create that reuses a rotated id is not a duplicate."""
    c = Collect()
    book = RunBook(c)
    stream = book.stream("responses", 0.0)
    for f in (
        _snap("response.created", "resp_a"),
        _snap("response.in_progress", "resp_b"),
        _snap("response.completed", "resp_c", "completed"),
    ):
        stream.frame(f, 1.0)
    stream.close("stream_ended", 2.0)
    assert c.finished() == [("resp_a", "completed", "none")]
    [anomaly] = c.of(Anomaly)
    assert (anomaly.kind, anomaly.detail, anomaly.run.run_id) == ("id_changed", "resp_a -> resp_b", "resp_a")
    play(book, load("responses_completed.sse").replace(b"resp_r001", b"resp_b"), t=3.0)
    assert "duplicate_id" not in c.anomalies()


def test_a_new_id_after_the_terminal_is_still_a_run_of_its_own() -> None:
    """What id rotation does not cover: a second response after the first one ended, on the same
    stream, is a run of its own (the run book's rules, unchanged)."""
    c = Collect()
    stream = RunBook(c).stream("responses", 0.0)
    for f in (
        _snap("response.created", "resp_a"),
        _snap("response.completed", "resp_a", "completed"),
        _snap("response.created", "resp_b"),
    ):
        stream.frame(f, 1.0)
    stream.close("stream_ended", 2.0)
    assert c.finished() == [("resp_a", "completed", "none"), ("resp_b", "aborted", "stream_ended")]
    assert "id_changed" not in c.anomalies()


@pytest.mark.parametrize(
    ("event", "status", "outcome", "mismatch"),
    [
        pytest.param("response.completed", "completed", ("completed", "none"), False, id="agree"),
        pytest.param("response.completed", "incomplete", ("incomplete", "max_output_tokens"), True,
                     id="vllm"),
        pytest.param("response.incomplete", "completed", ("completed", "none"), True, id="reverse"),
        pytest.param("response.in_progress", "queued", ("aborted", "stream_ended"), False, id="not-terminal"),
        pytest.param("response.failed", "failed", ("failed", "server_error"), False, id="failed"),
    ],
)  # fmt: skip
def test_a_terminal_event_whose_run_says_otherwise(
    event: str, status: str, outcome: tuple[str, str], mismatch: bool
) -> None:
    """The run's own ``status`` decides its outcome (what the SDK's final response says); a
    terminal event named for another status is ``status_mismatch``, before the run ends."""
    c = Collect()
    stream = RunBook(c).stream("responses", 0.0)
    extra = {"incomplete_details": {"reason": "max_output_tokens"}, "error": {"code": "server_error"}}
    stream.frame(_snap("response.created", "resp_m"), 1.0)
    stream.frame(_snap(event, "resp_m", status, **extra), 2.0)
    stream.close("stream_ended", 3.0)
    assert [(s, r) for _, s, r in c.finished()] == [outcome]
    assert ("status_mismatch" in c.anomalies()) is mismatch
    if mismatch:
        assert c.transitions.index(c.of(Anomaly)[0]) < c.transitions.index(c.of(RunFinished)[0])


def _chat_body(*, finish: str | None, usage: bool, done: bool, finish_key: bool = True) -> bytes:
    def chunk(choices: list[Any], **extra: Any) -> bytes:
        data = {
            "id": "chatcmpl-q",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": choices,
            **extra,
        }
        return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"

    def choice(delta: dict[str, Any], fr: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, **({"finish_reason": fr} if finish_key or fr else {})}

    parts = [chunk([choice({"role": "assistant", "content": ""})])]
    parts += [chunk([choice({"content": w})]) for w in ("a", "b", "c")]
    if finish is not None:
        parts.append(chunk([choice({}, finish)]))
    if usage:
        parts.append(chunk([], usage={"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}))
    if done:
        parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


@pytest.mark.parametrize(
    ("body", "outcome", "anomalies"),
    [
        pytest.param({"finish": "stop", "usage": True, "done": True}, ("completed", "none"), [], id="openai"),
        pytest.param({"finish": None, "usage": True, "done": True, "finish_key": False},
                     ("completed", "no_finish_reason"), ["missing_finish_reason"], id="cortex"),
        pytest.param({"finish": None, "usage": False, "done": True, "finish_key": False},
                     ("completed", "no_finish_reason"), ["missing_finish_reason"], id="cortex-no-usage"),
        pytest.param({"finish": None, "usage": False, "done": True}, ("completed", "no_finish_reason"),
                     ["missing_finish_reason"], id="null-finish-then-done"),
        pytest.param({"finish": None, "usage": True, "done": False, "finish_key": False},
                     ("aborted", "stream_ended"), ["missing_terminal"], id="cortex-cut-before-done"),
        pytest.param({"finish": None, "usage": False, "done": False}, ("aborted", "stream_ended"),
                     ["missing_terminal"], id="cut"),
        pytest.param({"finish": "length", "usage": False, "done": False}, ("incomplete", "length"), [],
                     id="finish-then-cut"),
    ],
)  # fmt: skip
def test_only_a_chat_cut_before_done_is_aborted(
    body: dict[str, Any], outcome: tuple[str, str], anomalies: list[str]
) -> None:
    """The bytes path sees ``[DONE]``: a chat that ends with it and no finish reason completed
    (``no_finish_reason`` plus ``missing_finish_reason``: the caller saw a success); one that ends
    without it and without a finish reason was cut (aborted, ``missing_terminal``). The same on
    the plain and the production byte path, whatever the chunking."""
    raw = _chat_body(**body)
    for chunks in (split_frames(raw), [raw[i : i + 5] for i in range(0, len(raw), 5)]):
        plain, hot = _both_paths(chunks, "chat")
        assert _summary(plain) == _summary(hot)
        finished = [t.outcome for t in hot if isinstance(t, RunFinished)]
        assert [(o.status, o.reason) for o in finished] == [outcome]
        assert [t.kind for t in hot if isinstance(t, Anomaly) and t.kind != "oversized_frame"] == anomalies


def _feed_like_the_sdk(book: RunBook, body: bytes, request: Any = None, api: Any = "chat") -> StreamTracker:
    """What ``watch()`` on an un-instrumented client feeds: the SDK's chunk objects up to its
    ``[DONE]`` (never the sentinel itself: the SDK stops there), deltas after the first token left
    out as the Observation leaves them out, then the end of the SDK's iteration."""
    stream = book.stream(api, 0.0, request=request)
    for f in frames_of(body):
        if f.is_done:
            break
        payload = f.json()
        if f.event is not None:
            name = f.event
        else:
            name = (
                "chat.completion.chunk.delta"
                if protocols.chat.plain_chunk(payload)
                else "chat.completion.chunk"
            )
        if stream.skip(name, ""):
            continue
        stream.feed(name, 1.0, lambda p=payload: p)
    stream.close("stream_ended", 2.0)
    return stream


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        pytest.param({"finish": "stop", "usage": True, "done": True}, ("completed", "none"), id="openai"),
        pytest.param({"finish": None, "usage": True, "done": True, "finish_key": False},
                     ("completed", "no_finish_reason"), id="cortex-with-usage"),
        pytest.param({"finish": None, "usage": True, "done": False, "finish_key": False},
                     ("completed", "no_finish_reason"), id="cut-after-usage-looks-the-same"),
        pytest.param({"finish": None, "usage": False, "done": True, "finish_key": False},
                     ("aborted", "stream_ended"), id="cortex-without-usage-looks-cut"),
        pytest.param({"finish": None, "usage": False, "done": False}, ("aborted", "stream_ended"), id="cut"),
    ],
)  # fmt: skip
def test_without_done_the_sdk_path_goes_by_the_servers_last_report(
    body: dict[str, Any], outcome: tuple[str, str]
) -> None:
    """SDK objects never show ``[DONE]`` (the SDK stops at it, or at the end of the body, alike).
    There a chat without a finish reason counts as ended by the server once the server made its
    last report (the usage chunk that follows the finish reason), else as cut: the two rows that
    differ from the bytes path are the documented limits of ``watch()`` without ``instrument()``."""
    c = Collect()
    _feed_like_the_sdk(RunBook(c), _chat_body(**body))
    assert [(s, r) for _, s, r in c.finished()] == [outcome]


@pytest.mark.parametrize(
    ("params", "facts"),
    [
        pytest.param({"model": "m", "messages": []}, None, id="nothing"),
        pytest.param({"max_tokens": 16}, RequestFacts(16), id="max_tokens"),
        pytest.param({"max_completion_tokens": 8, "max_tokens": 16}, RequestFacts(8), id="completion-first"),
        pytest.param({"max_output_tokens": 5}, RequestFacts(5), id="responses"),
        pytest.param({"stream": True, "stream_options": {"include_usage": True}}, RequestFacts(None, True),
                     id="include_usage"),
        pytest.param({"stream_options": {"include_usage": True}}, None, id="usage-without-stream"),
        pytest.param({"stream": True, "stream_options": {"include_usage": "yes"}}, None, id="not-a-bool"),
        pytest.param({"n": 3, "max_tokens": True}, RequestFacts(None, False, 3), id="n-and-a-bool-limit"),
        pytest.param({"max_tokens": 0}, RequestFacts(None), id="zero-limit"),
    ],
)  # fmt: skip
def test_request_facts_read_only_what_they_name(params: dict[str, Any], facts: RequestFacts | None) -> None:
    """The request facts runwatch checks runs against: the output limit (Chat's newer name first),
    whether a stream asked for usage, and ``n``; anything malformed reads as not asked."""
    assert RequestFacts.read(params) == facts


@pytest.mark.parametrize(
    ("finish", "output", "facts", "anomalies"),
    [
        pytest.param("stop", 16, RequestFacts(16), ["stop_at_max_tokens"], id="at-limit"),
        pytest.param("stop", 17, RequestFacts(16), ["stop_at_max_tokens"], id="over-limit"),
        pytest.param("stop", 15, RequestFacts(16), [], id="under-limit"),
        pytest.param("length", 16, RequestFacts(16), [], id="length-says-so"),
        pytest.param("stop", 16, RequestFacts(16, False, 2), [], id="n2"),
        pytest.param("stop", 16, None, [], id="no-request"),
        pytest.param("tool_calls", 16, RequestFacts(16), ["stop_at_max_tokens"], id="tool-calls-at-limit"),
        pytest.param("stop", None, RequestFacts(16, True), ["usage_missing"], id="usage-asked-none-came"),
        pytest.param("length", None, RequestFacts(None, True), ["usage_missing"],
                     id="usage-missing-incomplete"),
        pytest.param("stop", None, RequestFacts(16), [], id="no-usage-no-check"),
    ],
)  # fmt: skip
def test_a_chat_ending_is_checked_against_its_request(
    finish: str, output: int | None, facts: RequestFacts | None, anomalies: list[str]
) -> None:
    """``stop_at_max_tokens``: a chat that completed having produced every token its request
    allowed (its usage says so; ``n`` > 1 sums the choices, so it is not compared);
    ``usage_missing``: the stream asked for a usage chunk and ended cleanly without one. Each is
    emitted before the run finishes (so it is on the run's span) and changes no outcome."""
    body = _chat_body(finish=finish, usage=False, done=False)
    if output is not None:
        usage = {"prompt_tokens": 4, "completion_tokens": output, "total_tokens": 4 + output}
        body += b"data: " + json.dumps({"id": "chatcmpl-q", "choices": [], "usage": usage}).encode() + b"\n\n"
    body += b"data: [DONE]\n\n"
    c = Collect()
    stream = RunBook(c).stream("chat", 0.0, request=facts)
    for f in frames_of(body):
        stream.frame(f, 1.0)
    stream.close("stream_ended", 2.0)
    assert c.anomalies() == anomalies
    [finished] = c.of(RunFinished)
    assert finished.outcome.status == ("incomplete" if finish == "length" else "completed")
    assert all(c.transitions.index(a) < c.transitions.index(finished) for a in c.of(Anomaly))


def test_usage_missing_is_not_said_of_a_failed_or_cut_stream() -> None:
    """OpenAI itself may skip the usage chunk after an error, a cut stream never got to it, and a
    finish reason nobody knows says nothing of what should follow: none is ``usage_missing``."""
    facts = RequestFacts(None, True)
    for body, outcome in (
        (_chat_body(finish=None, usage=False, done=False), ("aborted", "stream_ended")),
        (_chat_body(finish="stop", usage=False, done=False), ("completed", "none")),
        (_chat_body(finish="eos", usage=False, done=True), ("unknown", "unknown_status")),
        (_chat_body(finish="error", usage=False, done=True), ("failed", "none")),
        (_chat_body(finish=None, usage=False, done=False) + b'data: {"error":{"code":"server_error"}}\n\n',
         ("failed", "server_error")),
    ):  # fmt: skip
        c = Collect()
        stream = RunBook(c).stream("chat", 0.0, request=facts)
        for f in frames_of(body):
            stream.frame(f, 1.0)
        stream.close("stream_ended", 2.0)
        assert [(s, r) for _, s, r in c.finished()] == [outcome]
        assert "usage_missing" not in c.anomalies()


@pytest.mark.parametrize(
    ("code", "label"),
    [
        pytest.param({"code": "tool_use_failed"}, "tool_use_failed", id="groq"),
        pytest.param({"code": "json_validate_failed"}, "json_validate_failed", id="groq-json"),
        pytest.param({"code": 502}, "502", id="openrouter-int"),
        pytest.param({"code": "429"}, "429", id="litellm-text"),
        pytest.param({"type": "server_error", "code": None}, "server_error", id="openai-type"),
        pytest.param({"code": "made_up_by_a_vendor"}, "_other", id="unknown-folds"),
        pytest.param({"code": 418}, "_other", id="unlisted-status"),
    ],
)
def test_provider_error_codes_are_label_values_and_stay_raw(code: dict[str, Any], label: str) -> None:
    """An in-band error's code ends the chat ``failed`` with that code as its reason, raw (spans
    and logs keep it); the ``reason`` label is the code when a compatible server documents it, else
    ``_other``: the set stays closed."""
    from runwatch._labels import reason_label

    c = Collect()
    stream = RunBook(c).stream("chat", 0.0)
    body = _chat_body(finish=None, usage=False, done=False)
    body += b"data: " + json.dumps({"error": {"message": "x", **code}}).encode() + b"\n\n"
    for f in frames_of(body):
        stream.frame(f, 1.0)
    stream.close("stream_ended", 2.0)
    [(_, status, reason)] = c.finished()
    raw = code.get("code") if code.get("code") is not None else code["type"]
    assert (status, reason) == ("failed", str(raw))
    assert reason_label("chat", reason) == label


@pytest.mark.parametrize("api", [None, "chat"])
def test_azure_first_chunk_belongs_to_the_run(api: Any) -> None:
    """Azure's first chunk (``choices: []``, empty ``id``, ``model`` and ``object``, the prompt's
    content-filter results) is a chunk of the run, whether the api is known (tap) or detected
    (replay): no ``unknown_event``; the run takes its id and model from the next chunk, once."""
    c = Collect()
    play(RunBook(c), load("chat_azure_prompt_filter_results.sse"), api=api)
    assert c.finished() == [("chatcmpl-az201", "completed", "none")]
    assert c.anomalies() == []
    assert len(c.of(RunStarted)) == 1


# -- no false positives --------------------------------------------------------------------------
def _consistent_cases() -> list[str]:
    """Every case whose streams keep the protocol (all but those written to break it)."""
    return sorted(
        name for name, case in EXPECTED.items() if not set(case.get("anomalies", {})) & CONSISTENCY_KINDS
    )


def _what_runs_report(name: str) -> tuple[int, bool]:
    """The most output tokens any run of the case reported, and whether a request may have asked
    for usage: what a request consistent with the case may ask (a limit above the former; usage
    unless a chat run ended cleanly, at ``[DONE]``, completed or incomplete, without any)."""
    spec = EXPECTED[name]
    bodies = [load(f) for f in spec["files"]]
    result = replay(bodies, run_id_hints=hints_for(spec))
    most = max((r.usage.output or 0 for r in result.runs), default=0)
    done = any(b"data: [DONE]" in body for body in bodies)
    usage = not any(
        r.api == "chat"
        and done
        and r.outcome is not None
        and r.outcome.status in ("completed", "incomplete")
        and not r.usage.items()
        for r in result.runs
    )
    return most, usage


REPORTED = {name: _what_runs_report(name) for name in _consistent_cases()}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(_consistent_cases()),
    sizes=st.lists(st.integers(1, 600), min_size=1, max_size=8),
    slack=st.one_of(st.none(), st.integers(1, 2), st.integers(3, 100_000)),  # the boundary, often
    ask_usage=st.booleans(),
    choices=st.sampled_from([1, 1, 2]),
)
def test_a_consistent_stream_never_raises_a_consistency_anomaly(
    name: str, sizes: list[int], slack: int | None, ask_usage: bool, choices: int
) -> None:
    """No false positives: every transcript that keeps the protocol (every case not written to
    break it), under any request consistent with it (a token limit above what its runs produced,
    usage asked for only where the server sends it, any ``n``), read through the production byte
    path cut at random places and through an emulation of the SDK path, raises none of the
    protocol-consistency anomalies."""
    spec = EXPECTED[name]
    most, usage = REPORTED[name]
    facts = RequestFacts(most + slack if slack is not None else None, ask_usage and usage, choices)
    hints = hints_for(spec)
    c = Collect()
    book = RunBook(c)
    for n, f in enumerate(spec["files"]):
        body = load(f)
        stream = book.stream(None, float(n), hints[n], request=facts)
        skipper = Skipper(stream)
        i = k = 0
        while i < len(body):
            step = sizes[k % len(sizes)]
            skipper.feed(body[i : i + step], lambda n=n: float(n))
            i, k = i + step, k + 1
        for fr in skipper.decoder.end():
            stream.frame(fr, float(n))
        stream.close("stream_ended", float(n) + 0.5)
    book.flush(1e6)
    assert not set(c.anomalies()) & CONSISTENCY_KINDS, c.anomalies()
    api = spec["runs"][0]["api"]
    if api in ("chat", "responses") and len(spec["files"]) == 1:
        c = Collect()
        _feed_like_the_sdk(RunBook(c), load(spec["files"][0]), facts, api)
        assert not set(c.anomalies()) & CONSISTENCY_KINDS, c.anomalies()


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=60),
    seq=st.one_of(st.integers(0, 10**12), st.floats(allow_nan=False), st.text(max_size=5), st.none()),
    compact=st.booleans(),
)
def test_sequence_numbers_read_from_bytes_are_those_json_reads(text: str, seq: object, compact: bool) -> None:
    """The bytes path reads ``sequence_number`` without decoding; it reads what ``json.loads``
    reads for every transcript's Responses events and for events whose text (model output, which
    may spell the key itself) and number are random: a whole non-negative integer, else None."""
    from runwatch.protocols.responses import sequence_number

    for f in POOL:
        decoded = f.json() if f.event and f.event.startswith("response.") else None
        if decoded is not None:  # (a frame cut mid-way is never dispatched: it is no JSON)
            assert sequence_number(f.data) == decoded.get("sequence_number")
    event = {
        "type": "response.output_text.delta",
        "delta": text + '"sequence_number":7',
        "sequence_number": seq,
    }
    data = json.dumps(event, separators=(",", ":") if compact else (", ", ": "))
    want = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    assert sequence_number(data) == want


class _Clock:
    """Stands in for the ``time`` module of :mod:`runwatch._observer`: says what the test sets."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def __getattr__(self, name: str) -> Any:  # sleep, monotonic: the real ones
        import time

        return getattr(time, name)


def _session_path(
    chunks: list[bytes], monkeypatch: pytest.MonkeyPatch, hold: int, marks: str
) -> list[Transition]:
    """Transitions of the production session (``StreamSession.feed_bytes``, which holds chunks
    once deltas change nothing, ``hold`` bytes at a time), chunk ``n`` arriving at time ``n``.
    ``marks``: ``own`` (each protocol's; only chat is held) or ``never`` (every protocol held
    until a batch is full or the stream closes: what a missed mark does)."""
    import dataclasses

    import runwatch
    from runwatch import _observer

    clock = _Clock()
    monkeypatch.setattr(_observer, "time", clock)
    monkeypatch.setattr(_observer, "HOLD_BYTES", hold)
    if marks == "never":
        real = protocols.deltas
        filters = {
            api: dataclasses.replace(real(api), hold_marks=(b"\x00never",))
            for api in ("responses", "chat", "assistants", "agents")
        }
        monkeypatch.setattr(protocols, "deltas", filters.__getitem__)
    c = Collect()
    observer = runwatch.Observer(metrics=False, traces=False, logs=False, sinks=[c])
    session = observer.stream(None, started_at=0.0)
    most = 0
    for n, chunk in enumerate(chunks):
        clock.now = float(n)
        session.feed_bytes(chunk)
        held = session._held or []
        most = max(most, sum(len(b) for b, _ in held))
    # Never more than the limit held, plus the chunk that reached it (read at once).
    assert most < hold + max(map(len, chunks), default=0) or hold <= 0
    clock.now = 1e6
    session.close("stream_ended")
    observer.book.flush(1e6)
    monkeypatch.undo()
    return c.transitions


@pytest.mark.parametrize("marks", ["own", "never"])
@pytest.mark.parametrize("hold", [1, 300, 4096, 32 * 1024])
@pytest.mark.parametrize("chunk_size", [0, 7, 512, 4096])
def test_held_chunks_give_the_transitions_of_reading_each_at_once(
    chunk_size: int, hold: int, marks: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session that holds a stream's chunks once its deltas change nothing, and reads them a
    batch later (or at close), emits exactly the transitions, times included, that reading each
    chunk as it arrives does (the plain path), on every transcript and chunking: every event
    keeps the time its chunk arrived."""
    for name, chunks in _transcripts_in_chunks(chunk_size):
        plain, _ = _both_paths(chunks)
        plain = [t for t in plain if not (isinstance(t, Anomaly) and t.kind == "oversized_frame")]
        held = _session_path(chunks, monkeypatch, hold, marks)
        assert _summary(held) == _summary(plain), name
