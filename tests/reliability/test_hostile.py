"""Hostile and malformed input, fed three ways: through the instrumented client (the real SDK over
httpx2.MockTransport), straight into a StreamSession (the tap's own path), and through
``runwatch._replay.replay``.

Containment is proven with ``Observer(raise_errors=False)`` (nothing raises into the caller) AND
with the default observer, which re-raises internal errors in runwatch's own suite (tests/conftest.py
sets ``RUNWATCH_RAISE_INTERNAL_ERRORS=1``): passing with the default proves there was no internal
error at all on that input.
"""

from __future__ import annotations

import json
import random
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from reliability_support import (
    SSE,
    consume_sync,
    make_rig,
    sync_client,
)

import runwatch
from runwatch._replay import ReplayError, replay
from runwatch._sse import DEFAULT_MAX_FRAME_BYTES, SSEDecoder
from runwatch.testing import (
    assistants_continuation,
    responses_stream,
    split_frames,
    sse_frame,
)

MiB = 1024 * 1024


def _resp_frames(outcome: str = "completed") -> list[bytes]:
    return split_frames(responses_stream(outcome, deltas=3))


def _random_bytes() -> bytes:
    return random.Random(1234).randbytes(256 * 1024)


def _frame_10mb() -> bytes:
    # A syntactically valid delta event whose data line is 10 MB (under the default 16 MiB cap).
    delta = {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
             "content_index": 0, "delta": "x" * (10 * MiB), "sequence_number": 3}  # fmt: skip
    frames = _resp_frames()
    return b"".join(frames[:4]) + sse_frame(delta, event="response.output_text.delta") + b"".join(frames[4:])


def _frame_over_cap() -> bytes:
    # One frame larger than the decoder's cap, between two valid halves of a stream.
    frames = _resp_frames()
    huge = b"event: response.output_text.delta\ndata: " + b"y" * (DEFAULT_MAX_FRAME_BYTES + 1) + b"\n\n"
    return b"".join(frames[:4]) + huge + b"".join(frames[4:])


def _no_newline_5mb() -> bytes:
    return b"data: " + b"z" * (5 * MiB)


def _invalid_utf8() -> bytes:
    frames = _resp_frames()
    bad = [f.replace(b"The", b"\xff\xfe\xc3(") for f in frames]
    return b"".join(bad[:3]) + b"event: \x80\x81\ndata: \xed\xa0\x80{\n\n" + b"".join(bad[3:])


def _nested_json() -> bytes:
    frames = _resp_frames()
    deep = "[" * 100_000 + "]" * 100_000
    nested_obj = '{"type":"response.in_progress","response":' + deep + "}"
    return (
        b"".join(frames[:2])
        + sse_frame(deep, event="response.output_text.delta")
        + sse_frame(nested_obj)
        + b"".join(frames[2:])
    )


def _unknown_events_and_statuses() -> bytes:
    frames = _resp_frames()
    created = json.loads(frames[0].split(b"data: ", 1)[1])
    paused = {**created, "type": "response.paused", "response": {**created["response"], "status": "paused"}}
    return (
        b"".join(frames[:2])
        + sse_frame({"type": "response.telepathy.delta", "delta": "?"}, event="response.telepathy.delta")
        + sse_frame(paused, event="response.paused")
        + sse_frame({"type": "no.such.api", "x": 1})
        + sse_frame("not json at all")
        + b"".join(frames[2:])
    )


def _duplicated_terminals() -> bytes:
    frames = _resp_frames()
    return b"".join(frames) + frames[-1] + frames[-1]


def _reordered_terminal() -> bytes:
    frames = _resp_frames()
    # The terminal first, then everything that should have come before it.
    return frames[-1] + b"".join(frames[:-1])


INPUTS: dict[str, Any] = {
    "random_bytes": _random_bytes,
    "frame_10mb": _frame_10mb,
    "frame_over_cap": _frame_over_cap,
    "no_newline_5mb": _no_newline_5mb,
    "invalid_utf8": _invalid_utf8,
    "nested_json_100k": _nested_json,
    "unknown_events_and_statuses": _unknown_events_and_statuses,
    "duplicated_terminals": _duplicated_terminals,
    "reordered_terminal": _reordered_terminal,
}

#: Anomalies each input must produce (beyond "nothing raised, everything settled").
EXPECTED_ANOMALIES: dict[str, set[str]] = {
    "random_bytes": set(),
    "frame_10mb": set(),
    "frame_over_cap": {"oversized_frame"},
    "no_newline_5mb": {"truncated_frame"},
    "invalid_utf8": set(),
    "nested_json_100k": {"malformed_json"},
    "unknown_events_and_statuses": {"unknown_event", "unknown_status"},
    "duplicated_terminals": {"event_after_terminal"},
    "reordered_terminal": {"event_after_terminal"},
}

#: The run outcomes each input must end with (in order).
EXPECTED_OUTCOMES: dict[str, list[tuple[str, str]] | None] = {
    "random_bytes": None,  # whatever it is, it must be settled; no run is promised
    "frame_10mb": [("completed", "none")],
    "frame_over_cap": [("completed", "none")],
    "no_newline_5mb": [],
    "invalid_utf8": [("completed", "none")],
    "nested_json_100k": [("completed", "none")],
    "unknown_events_and_statuses": [("completed", "none")],
    "duplicated_terminals": [("completed", "none")],
    "reordered_terminal": [("completed", "none")],
}

_CACHE: dict[str, bytes] = {}


def hostile(name: str) -> bytes:
    if name not in _CACHE:
        _CACHE[name] = INPUTS[name]()
    return _CACHE[name]


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


#: Through the client a request created a run: a body with no event at all is that run, aborted.
EXPECTED_THROUGH_CLIENT: dict[str, list[tuple[str, str]]] = {"no_newline_5mb": [("aborted", "stream_ended")]}


def _check(rig: Any, name: str, through_client: bool = False) -> None:
    kinds = set(rig.recorder.anomalies)
    assert EXPECTED_ANOMALIES[name] <= kinds, kinds
    expected = EXPECTED_OUTCOMES[name]
    if through_client:
        expected = EXPECTED_THROUGH_CLIENT.get(name, expected)
    if expected is not None:
        assert rig.recorder.outcomes() == expected
    assert rig.total("runwatch_internal_errors_total") == 0
    rig.settled()


@pytest.mark.parametrize("raise_errors", [None, False], ids=["default", "contained"])
@pytest.mark.parametrize("name", list(INPUTS))
def test_hostile_session_feed(name: str, raise_errors: bool | None) -> None:
    """Fed straight into a StreamSession (the tap's path) in 64 KiB chunks: nothing raises, no
    internal error, the listed anomalies are recorded, the runs end as listed, all spans end."""
    rig = make_rig(raise_errors=raise_errors)
    session = rig.observer.stream("responses")
    for chunk in _chunks(hostile(name), 64 * 1024):
        session.feed_bytes(chunk)
    session.close()
    _check(rig, name)
    assert session.decoder is not None
    assert not session.decoder.pending


@pytest.mark.parametrize("name", list(INPUTS))
def test_hostile_replay(name: str) -> None:
    """``replay`` either concludes (settled runs, the listed anomalies) or refuses the recording
    with its own ReplayError; it never raises anything else."""
    from reliability_support import Recorder

    rec = Recorder()
    try:
        result = replay([hostile(name)], sink=rec)
    except ReplayError:
        assert name in ("random_bytes", "no_newline_5mb"), "a stream-like input was refused"
        return
    assert EXPECTED_ANOMALIES[name] <= {a.kind for a in result.anomalies}
    assert len(rec.started) == len(rec.finished) == len(result.runs)
    expected = EXPECTED_OUTCOMES[name]
    if expected is not None:
        assert [(r.outcome.status, r.outcome.reason) for r in result.runs if r.outcome] == expected


@pytest.mark.parametrize("raise_errors", [None, False], ids=["default", "contained"])
@pytest.mark.parametrize("name", list(INPUTS))
def test_hostile_through_client(name: str, raise_errors: bool | None) -> None:
    """Through the real SDK: the caller sees exactly what a plain client sees (events, or the
    SDK's own exception with the same message), and runwatch settles everything without error."""
    body = hostile(name)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers=SSE, content=_chunks(body, MiB))

    rig = make_rig(raise_errors=raise_errors)
    plain = consume_sync(sync_client(handler), "responses")
    watched = consume_sync(runwatch.instrument(sync_client(handler), rig.observer), "responses")
    assert watched == plain
    _check(rig, name, through_client=True)


def test_continuation_for_unknown_run() -> None:
    """A submit_tool_outputs stream for a run id never seen (nothing parked) is observed as a run
    of its own, ends completed, and is counted once; the caller's events are untouched."""
    body = assistants_continuation("completed", run_id="run_neverseen")

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers=SSE, content=_chunks(body, 256))

    def call(client: Any) -> list[Any]:
        with client.beta.threads.runs.submit_tool_outputs(
            "run_neverseen", thread_id="thread_demo0001", tool_outputs=[], stream=True
        ) as stream:
            return [e.model_dump(mode="json") for e in stream]

    for raise_errors in (None, False):
        rig = make_rig(raise_errors=raise_errors)
        plain = call(sync_client(handler))
        watched = call(runwatch.instrument(sync_client(handler), rig.observer))
        assert watched == plain
        assert rig.recorder.outcomes() == [("completed", "none")]
        assert rig.recorder.finished[0].run.run_id == "run_neverseen"
        assert rig.total("runwatch_internal_errors_total") == 0
        rig.settled()
    result = replay([body], run_id_hints=["run_neverseen"])
    assert [(r.run_id, r.outcome.status if r.outcome else None) for r in result.runs] == [
        ("run_neverseen", "completed")
    ]


# ------------------------------------------------------------------------------- decoder bounds
def test_decoder_memory_is_capped() -> None:
    """5 MB with no newline, fed in 64 KiB chunks to a decoder capped at 1 MiB: peak memory growth
    stays around the cap (< 1.5 MiB, a third of the input) and nothing is retained afterwards; the
    dropped frame is counted as oversized."""
    data = _no_newline_5mb()
    chunks = list(_chunks(data, 64 * 1024))
    decoder = SSEDecoder(max_frame_bytes=MiB)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for c in chunks:
            assert decoder.feed(c) == []
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base < 1.5 * MiB < len(data) / 3
    assert current - base < 64 * 1024
    assert decoder.oversized == 1
    assert decoder.end() == []


def test_decoder_default_cap_holds_at_most_one_copy() -> None:
    """With the default 16 MiB cap a 5 MB partial line is kept (it may still become a valid frame),
    but only once: peak growth < 1.3x the input (no copy of the buffer per chunk)."""
    data = _no_newline_5mb()
    chunks = list(_chunks(data, 64 * 1024))
    decoder = SSEDecoder()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for c in chunks:
            decoder.feed(c)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base < 1.3 * len(data)


def test_long_line_in_small_chunks_is_linear() -> None:
    """Regression: a 10 MB data line arriving in 4 KiB chunks used to be re-copied and re-scanned
    on every chunk (quadratic: ~8.5 s of the caller's CPU); now it is appended once (~0.1 s)."""
    data = b"data: " + b"x" * (10 * MiB) + b"\n\n"
    chunks = list(_chunks(data, 4096))
    decoder = SSEDecoder()
    t0 = time.perf_counter()
    frames = [f for c in chunks for f in decoder.feed(c)]
    elapsed = time.perf_counter() - t0
    assert len(frames) == 1
    assert len(frames[0].data) == 10 * MiB
    assert elapsed < 2.0, f"{elapsed:.2f}s for a 10 MB line"


def test_hostile_table_size() -> None:
    """Keeps the figures quoted in docs/reliability.md honest."""
    assert len(INPUTS) == 9
    assert sum(len(hostile(n)) for n in INPUTS) > 30 * MiB
