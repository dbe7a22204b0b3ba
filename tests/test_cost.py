"""What a run costs, proved without clocks: how much JSON is decoded, how much memory a read takes,
how many calls reach the telemetry libraries. (Timings are the benchmark's: benchmarks/run.py.)"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runwatch
from runwatch import _payload
from runwatch._events import RunFinished, Transition
from runwatch._payload import ELIDE_AT, ELIDED, OUTLINE_MIN, outline
from runwatch.builders import assistants_run, responses_stream
from runwatch.builders.responses import response_object


def terminal_data(body: bytes) -> str:
    """The data text of a stream's last frame (``response.completed``)."""
    last = body.rstrip(b"\n").rpartition(b"\n\n")[2]
    return last.split(b"data: ", 1)[1].decode()


class Decoded:
    """Counts the characters handed to ``_payload``'s JSON decoder (what :func:`outline` parses)."""

    def __init__(self) -> None:
        self.chars = 0
        self.calls = 0

    def __call__(self, text: str) -> Any:
        self.chars += len(text)
        self.calls += 1
        return json.loads(text)


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> Decoded:
    counter = Decoded()
    monkeypatch.setattr(_payload, "_decode", counter)
    return counter


def peak(fn: Callable[[], object]) -> int:
    """Bytes allocated at the peak of ``fn()``, above what was live before it."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


# -- the snapshot read does not grow with the answer ----------------------------------------------


@pytest.mark.parametrize(
    "tokens",
    [
        pytest.param(1_000, id="1k-tokens"),
        pytest.param(10_000, id="10k-tokens"),
        pytest.param(100_000, id="100k-tokens"),
    ],
)
def test_terminal_snapshot_read_does_not_grow_with_the_answer(tokens: int, decoded: Decoded) -> None:
    """Reading the terminal ``response.completed`` of a long answer decodes as many characters as
    reading a 10-token one (within the 10-token answer itself, short enough to keep, and the digits
    of the token counts), and its memory peak is no higher, while decoding it whole costs the
    answer's size in both; what runwatch reads of it (status, usage, ids, model) is the same."""
    small, big = terminal_data(responses_stream(deltas=10)), terminal_data(responses_stream(deltas=tokens))
    assert len(big) > len(small) + 4 * tokens  # the answer really is in the frame
    outline(small)
    small_chars = decoded.chars
    decoded.chars = 0
    outline(big)
    assert abs(decoded.chars - small_chars) <= 64
    # Memory: the outline's peak stays put (a constant ~3 KiB more than a whole decode of the small
    # frame: the pieces it joins); a whole decode's grows with the answer (the measure sees growth).
    assert peak(lambda: outline(big)) <= peak(lambda: outline(small)) + 4096
    assert peak(lambda: json.loads(big)) >= peak(lambda: json.loads(small)) + 4 * tokens
    full, read = json.loads(big)["response"], outline(big)
    assert read is not None
    snap = read["response"]
    for key in ("id", "object", "status", "model", "usage", "incomplete_details", "error", "background"):
        assert snap[key] == full[key], key
    assert snap["output"][0]["content"][0]["text"] == ELIDED  # the answer itself is not kept


def test_snapshot_read_in_the_tracker_is_flat_and_keeps_no_content(decoded: Decoded) -> None:
    """Through the tracker (bytes in, as the transport tap feeds them), a 10,000-token answer's
    stream is read with no more characters decoded than a 10-token one's: every JSON decode counts
    (run objects, and the events that carry the whole message, ``response.output_item.done``),
    the run ends the same (status, reason, usage, model), and the snapshot it keeps holds no
    answer text."""

    def track(tokens: int) -> tuple[int, RunFinished]:
        seen: list[Transition] = []
        observer = runwatch.Observer(metrics=False, traces=False, logs=False, sinks=[seen.append])
        session = observer.stream("responses", expect_run=True, request_model="gpt-4o")
        body = responses_stream(deltas=tokens)
        decoded.chars = 0
        for i in range(0, len(body), 2048):
            session.feed_bytes(body[i : i + 2048])
        session.close()
        (finished,) = [t for t in seen if isinstance(t, RunFinished)]
        return decoded.chars, finished

    small_chars, small = track(10)
    big_chars, big = track(10_000)
    assert big_chars <= small_chars + 64  # a few more digits at most; long strings are not decoded
    assert big_chars < 4 * len(terminal_data(responses_stream(deltas=10)))  # ~3 run objects and 2 items
    assert big.outcome == small.outcome
    assert (big.run.usage.input, big.run.model) == (small.run.usage.input, small.run.model)
    assert big.run.usage.output == 10_000
    assert "quick" not in json.dumps(big.run.snapshot)  # builders' answers are "The quick brown ..."


def test_assistants_run_object_read_is_flat(decoded: Decoded) -> None:
    """Assistants run objects carry the assistant's instructions (a system prompt of any length):
    the run's snapshots are read at the same cost whatever their length, and the instructions are
    not kept."""

    def track(instructions: str) -> int:
        given = f'"instructions":{json.dumps(instructions)}'.encode()
        body = assistants_run(deltas=5).replace(b'"instructions":"You are a helpful assistant."', given)
        assert instructions.encode() in body
        observer = runwatch.Observer(metrics=False, traces=False, logs=False)
        session = observer.stream("assistants", expect_run=True)
        decoded.chars = 0
        session.feed_bytes(body)
        session.close()
        return decoded.chars

    short = track("Be brief.")
    long = track("You are a careful assistant. " * 2_000)
    assert long - short <= 8 * 64  # a stand-in per snapshot instead of ~58 KB each


# -- outline: the long strings left out, nothing else changed ---------------------------------------

_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.text(alphabet='ab"\\\n\u00e9\U0001f600 ', min_size=ELIDE_AT - 8, max_size=ELIDE_AT + 400),
    st.lists(st.integers(0, 10**6), min_size=0, max_size=400),  # long quote-free structure
)
_DOCS = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _walk(full: object, read: object, path: str = "$") -> Iterator[tuple[str, object, object]]:
    yield path, full, read
    if isinstance(full, dict) and isinstance(read, dict):
        assert list(full) == list(read), path
        for key in full:
            yield from _walk(full[key], read[key], f"{path}.{key}")
    elif isinstance(full, list) and isinstance(read, list):
        assert len(full) == len(read), path
        for i, (a, b) in enumerate(zip(full, read, strict=True)):
            yield from _walk(a, b, f"{path}[{i}]")


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(st.text(max_size=8), _DOCS, min_size=1, max_size=6), pad=st.booleans())
def test_outline_changes_only_long_strings(doc: dict[str, object], pad: bool) -> None:
    """Whatever the document (escapes, quotes and backslashes in long strings, non-ASCII, long
    runs of numbers between strings, compact or spaced): the outline has the same keys, lengths
    and types; every number, literal and string shorter than the cut is equal; a long string is
    either equal or shortened around the stand-in, never longer."""
    text = json.dumps(doc, separators=(",", ":") if pad else (", ", ": "), ensure_ascii=pad)
    if len(text) < OUTLINE_MIN:
        text += " " * (OUTLINE_MIN - len(text))  # past the size below which it decodes whole
    full, read = json.loads(text), outline(text)
    assert read is not None
    for path, a, b in _walk(full, read):
        assert type(a) is type(b), path
        if isinstance(a, str):
            assert isinstance(b, str)
            if len(a) < ELIDE_AT:
                assert a == b, path
            elif a != b:
                assert ELIDED in b, path
                assert len(b) < len(a), path
        elif not isinstance(a, dict | list):
            assert a == b, path


@pytest.mark.parametrize(
    ("text", "want"),
    [
        pytest.param('{"a":1}', {"a": 1}, id="small"),
        pytest.param("[1,2]", None, id="not-an-object"),
        pytest.param('{"a":', None, id="malformed"),
        pytest.param('{"a":"' + "x" * 5000, None, id="cut-short-long-string"),
        pytest.param('{"a":"' + "x" * 5000 + '"}', {"a": ELIDED}, id="one-long-string"),
        pytest.param('{"a":"' + "x" * 5000 + '\\\\"}', {"a": ELIDED + "\\"}, id="escaped-backslash-kept"),
        pytest.param('{"a":"' + "x" * 5000 + '\\"q"}', {"a": ELIDED + '"q'}, id="escaped-quote-kept"),
        pytest.param('{"a":[' + "1," * 3000 + '1],"b":"c"}', {"a": [1] * 3001, "b": "c"}, id="long-numbers"),
        pytest.param('{"a":"' + "é" * 5000 + '"}', {"a": ELIDED}, id="non-ascii"),
    ],
)
def test_outline_cases(text: str, want: object) -> None:
    """The edges: not an object or not JSON is None (as a whole decode says); an escape right
    before the closing quote survives the cut; a long run of structure (numbers) is decoded whole."""
    assert outline(text) == want


def test_outline_of_a_non_streaming_response_keeps_what_runwatch_reads() -> None:
    """A whole response object (a non-streaming body) with a long answer and long instructions:
    everything runwatch reads of it is unchanged."""
    call = {"type": "function_call", "id": "fc_1", "call_id": "c", "name": "f", "arguments": "{}" * 3000}
    obj = response_object(
        response_id="resp_1",
        model="gpt-4o",
        status="incomplete",
        t0=0,
        background=False,
        output=[call],
        usage={"input_tokens": 5, "output_tokens": 7, "total_tokens": 12},
    )
    obj["instructions"] = "Be careful. " * 1000
    obj["incomplete_details"] = {"reason": "max_output_tokens"}
    read = outline(json.dumps(obj, separators=(",", ":")))
    assert read is not None
    for key in ("id", "model", "status", "usage", "incomplete_details", "background", "error"):
        assert read[key] == obj[key], key
    assert read["output"][0] == {**call, "arguments": ELIDED}
    assert read["instructions"] == ELIDED


# -- what a request and a non-streaming answer cost to read does not grow with them ----------------

try:
    import httpx2 as http  # openai 3.x
except ImportError:  # pragma: no cover - openai 1.x runs tests/adapters only
    import httpx as http  # type: ignore[no-redef]


@pytest.fixture
def tap_decoded(decoded: Decoded, monkeypatch: pytest.MonkeyPatch) -> Decoded:
    """``decoded``, also counting what the transport tap hands to ``json.loads`` itself."""
    import types

    from runwatch.adapters import transport

    monkeypatch.setattr(transport, "json", types.SimpleNamespace(loads=decoded))
    return decoded


def _prompt(chars: int, quotes: bool = False) -> str:
    """Prose with escapes (newlines) and non-ASCII text, as prompts and answers have: the slow
    path of a JSON decoder. ``quotes``: a quote every few words (code, JSON, dialogue), where no
    long quote-free stretch exists and the text is decoded whole (never wrong, no cheaper)."""
    line = 'say "hi" \\ to é and ☃\n' if quotes else "The quick brown fox — é ☃ — jumps over the lazy dog.\n"
    return (line * (chars // len(line) + 1))[:chars]


def test_a_long_prompt_is_not_decoded_to_read_its_request(tap_decoded: Decoded) -> None:
    """The tap reads a request for its model, stream flag and limits: a 200,000-character prompt
    costs the characters a 10-character one does, and the same facts come out."""
    from runwatch._run import RequestFacts
    from runwatch.adapters.transport import read_request

    chars = {}
    for size, quotes in ((10, False), (200_000, False), (200_000, True)):
        request = http.Request(
            "POST",
            "http://api.test/v1/chat/completions",
            json={
                "model": "gpt-4o",
                "messages": [
                    {"role": "system", "content": _prompt(size, quotes)},
                    {"role": "user", "content": "hi"},
                ],
                "stream": True,
                "stream_options": {"include_usage": True},
                "max_tokens": 64,
            },
        )
        tap_decoded.chars = 0
        assert read_request(request) == ("gpt-4o", True, 0, RequestFacts(64, True, 1))
        if not quotes:
            chars[size] = tap_decoded.chars
    assert chars[200_000] <= chars[10] + 64
    assert chars[10] < 400


def test_a_long_non_streaming_answer_is_not_decoded_to_count_its_run(tap_decoded: Decoded) -> None:
    """A non-streaming chat completion through the real SDK: a 200,000-character answer is
    counted (status, reason, tokens, tool calls) reading as many characters as a 10-character
    one, and the caller gets the whole answer."""
    import openai

    def run(size: int) -> tuple[int, RunFinished]:
        answer = _prompt(size)
        completion = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-2024-08-06",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": answer,
                        "tool_calls": [
                            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                        ],
                    },
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        }
        client = openai.OpenAI(
            api_key="sk-test",
            base_url="http://api.test/v1",
            max_retries=0,
            http_client=http.Client(
                transport=http.MockTransport(lambda r: http.Response(200, json=completion))
            ),
        )
        seen: list[Transition] = []
        observer = runwatch.Observer(metrics=False, traces=False, logs=False, sinks=[seen.append])
        runwatch.instrument(client, observer)
        tap_decoded.chars = 0
        got = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        assert got.choices[0].message.content == answer
        (finished,) = [t for t in seen if isinstance(t, RunFinished)]
        return tap_decoded.chars, finished

    small_chars, small = run(10)
    big_chars, big = run(200_000)
    assert big_chars <= small_chars + 64
    for f in (small, big):
        assert (f.outcome.status, f.outcome.reason) == ("completed", "none")  # as streamed
        assert (f.run.usage.input, f.run.usage.output, f.run.tool_calls) == (5, 7, 1)


@pytest.mark.parametrize(
    ("body", "want"),
    [
        (b'{"model":"m"}', {"model": "m"}),
        (b'\xef\xbb\xbf{"model":"m"}', {"model": "m"}),  # a byte order mark, as json.loads reads it
        ('{"model":"m"}'.encode("utf-16"), {"model": "m"}),
        (b'{"a":"\xed\xa0\x80"}', {"a": "\ud800"}),  # a lone surrogate (json.loads: surrogatepass)
        (b"[1]", None),
        (b"<html>", None),
        (b'{"a":' * 100_000, None),
    ],
)
def test_the_tap_reads_json_bodies_as_json_loads_does(body: bytes, want: object) -> None:
    from runwatch.adapters.transport import json_object

    assert json_object(body) == want
