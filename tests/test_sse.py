"""The SSE decoder: spec behaviour, chunk independence, bounded memory, lazy JSON."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runwatch._events import Transition
from runwatch._sse import Drop, Frame, SSEDecoder
from runwatch._tracker import RunBook

DATA = Path(__file__).resolve().parent / "data"
TRANSCRIPTS = sorted(DATA.glob("*.sse"))


def decode(body: bytes, max_frame_bytes: int | None = None) -> list[Frame]:
    d = SSEDecoder() if max_frame_bytes is None else SSEDecoder(max_frame_bytes)
    return d.feed(body) + d.end()


def decode_chunks(chunks: list[bytes], max_frame_bytes: int | None = None) -> tuple[list[Frame], int]:
    d = SSEDecoder() if max_frame_bytes is None else SSEDecoder(max_frame_bytes)
    frames: list[Frame] = []
    for chunk in chunks:
        frames += d.feed(chunk)
    frames += d.end()
    return frames, d.oversized


def as_tuples(frames: list[Frame]) -> list[tuple[str | None, str, str | None, int | None, bool]]:
    return [(f.event, f.data, f.id, f.retry, f.truncated) for f in frames]


def split_at(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(body)})
    edges = [0, *points, len(body)]
    return [body[a:b] for a, b in zip(edges, edges[1:], strict=False)]


# ----------------------------------------------------------------------------------- spec table
F = Frame  # keeps the table readable

SPEC_CASES = [
    pytest.param(b"data: a\n\n", [F(None, "a")], id="lf"),
    pytest.param(b"data: a\r\n\r\n", [F(None, "a")], id="crlf"),
    pytest.param(b"data: a\r\r", [F(None, "a")], id="cr"),
    pytest.param(
        b"data: a\r\n\ndata: b\r\rdata: c\n\r\n", [F(None, "a"), F(None, "b"), F(None, "c")], id="mixed"
    ),
    pytest.param(b"data: a\ndata: b\ndata:\n\n", [F(None, "a\nb\n")], id="multi-line-data"),
    pytest.param(b": comment\ndata: a\n: another\n\n", [F(None, "a")], id="comments-ignored"),
    pytest.param(b": only a comment\n\n", [], id="comment-only-frame-not-dispatched"),
    pytest.param(b"event: e\nid: 7\nretry: 3000\ndata: x\n\n", [F("e", "x", "7", 3000)], id="event-id-retry"),
    pytest.param(b"retry: 12a\ndata: x\n\n", [F(None, "x")], id="retry-not-digits-ignored"),
    pytest.param("retry: ²\ndata: x\n\n".encode(), [F(None, "x")], id="retry-unicode-digit-ignored"),
    pytest.param("retry: ١٢\ndata: x\n\n".encode(), [F(None, "x")], id="retry-arabic-digits-ignored"),
    pytest.param(
        b"id: 1\ndata: a\n\ndata: b\n\n", [F(None, "a", "1"), F(None, "b", "1")], id="last-id-persists"
    ),
    pytest.param(b"id: a\x00b\ndata: x\n\n", [F(None, "x")], id="id-with-nul-ignored"),
    pytest.param(b"foo: bar\ndata: x\nbaz\n\n", [F(None, "x")], id="unknown-fields-ignored"),
    pytest.param(b"data\n\n", [F(None, "")], id="field-with-no-colon-is-empty-value"),
    pytest.param(b"event\ndata: x\n\n", [F("", "x")], id="event-with-no-colon"),
    pytest.param(b"data:a\n\n", [F(None, "a")], id="no-space-after-colon"),
    pytest.param(b"data:  a\n\n", [F(None, " a")], id="only-one-leading-space-stripped"),
    pytest.param(b"data: a \n\n", [F(None, "a ")], id="trailing-space-kept"),
    pytest.param(b"event: e \ndata:  a \n\n", [F("e ", " a ")], id="spaces-kept-with-event"),
    pytest.param(b"event:  e\ndata: x\n\n", [F(" e", "x")], id="one-space-stripped-from-event"),
    pytest.param(b"data: [DONE]\n\n", [F(None, "[DONE]")], id="done"),
    pytest.param(b"event: done\ndata: [DONE]\n\n", [F("done", "[DONE]")], id="assistants-done"),
    pytest.param(b"event: ping\n\n", [F("ping", "")], id="event-with-no-data-stays-visible"),
    pytest.param(b"\n\n\ndata: a\n\n\n\n", [F(None, "a")], id="extra-blank-lines"),
    pytest.param(b"data: a\n\ndata: b", [F(None, "a"), F(None, "b", truncated=True)], id="cut-at-end"),
    pytest.param(b"data: a\n", [F(None, "a", truncated=True)], id="cut-before-blank-line"),
    pytest.param(b'event: x\ndata: {"a"', [F("x", '{"a"', truncated=True)], id="cut-mid-json"),
    pytest.param(b"data: caf\xc3\xa9 \xff\n\n", [F(None, "caf\u00e9 \ufffd")], id="invalid-utf8-replaced"),
    pytest.param(b"", [], id="empty"),
    # Whole regions of plain frames are cut in columns (name, data, blank): anything off-column
    # (a second data line, an id, a comment, a missing space) must fall back to the line rules.
    pytest.param(
        b"event: a\ndata: 1\n\nevent: b\ndata: 2\n\nevent: c\ndata: 3\n\n",
        [F("a", "1"), F("b", "2"), F("c", "3")],
        id="columns-named",
    ),
    pytest.param(b"data: 1\n\ndata: 2\n\n", [F(None, "1"), F(None, "2")], id="columns-unnamed"),
    pytest.param(
        b"event: a\ndata: 1\ndata: 2\nevent: b\ndata: 3\n\n", [F("b", "1\n2\n3")], id="columns-off-data"
    ),
    pytest.param(b"data: 1\nid: 7\ndata: 2\n\n", [F(None, "1\n2", "7")], id="columns-off-id"),
    pytest.param(
        b"event: a\ndata: 1\n: c\nevent: b\ndata: 2\n\n", [F("b", "1\n2")], id="columns-off-comment"
    ),
    pytest.param(b"event: a\ndata: 1\n\ndata: 2\n\n", [F("a", "1"), F(None, "2")], id="columns-mixed-shapes"),
    pytest.param(
        b"event: a\ndata: 1\n\nevent: b\ndata:2\n\n", [F("a", "1"), F("b", "2")], id="columns-no-space"
    ),
    pytest.param(b"data: 1\n\nevent: x\n\n", [F(None, "1"), F("x", "")], id="columns-event-without-data"),
]


@pytest.mark.parametrize(("body", "expected"), SPEC_CASES)
def test_spec(body: bytes, expected: list[Frame]) -> None:
    """Each event-stream rule gives the frames the WHATWG spec (plus our two departures) says."""
    assert as_tuples(decode(body)) == as_tuples(expected)


@pytest.mark.parametrize(("body", "expected"), SPEC_CASES)
def test_spec_byte_by_byte(body: bytes, expected: list[Frame]) -> None:
    """The same table fed one byte at a time: line endings split anywhere change nothing."""
    frames, _ = decode_chunks([body[i : i + 1] for i in range(len(body))])
    assert as_tuples(frames) == as_tuples(expected)


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([b"data: a\r", b"\n\r\n"], id="crlf-split-after-cr"),
        pytest.param([b"data: a\r", b"\n", b"\r", b"\n"], id="both-crlf-split"),
        pytest.param([b"data: a\r\n\r", b"\ndata: b\r\n\r\n"], id="blank-crlf-split"),
        pytest.param([b"data: a\r", b"", b"\n\r\n"], id="empty-chunk-between-cr-and-lf"),
    ],
)
def test_crlf_split_across_chunks_is_one_line_ending(chunks: list[bytes]) -> None:
    """A CR at the end of one chunk and LF at the start of the next are one line ending, not two
    (two would dispatch a frame early and turn the following blank line into nothing)."""
    frames, _ = decode_chunks(chunks)
    assert [f.data for f in frames if not f.truncated][:1] == ["a"]
    assert not any(f.truncated for f in frames)


def test_cr_then_cr_is_two_line_endings() -> None:
    """A pending CR followed by another CR is a line ending plus a blank line, which dispatches."""
    d = SSEDecoder()
    assert d.feed(b"data: a\r") == []
    assert [f.data for f in d.feed(b"\r")] == ["a"]


def test_end_resets_and_decoder_is_reusable() -> None:
    """end() returns a cut frame once, clears state, and a second end() returns nothing."""
    d = SSEDecoder()
    d.feed(b"event: x\ndata: 1")
    assert d.pending
    assert as_tuples(d.end()) == [("x", "1", None, None, True)]
    assert not d.pending
    assert d.end() == []
    assert [f.data for f in d.feed(b"data: 2\n\n")] == ["2"]


def test_frame_json_is_cached_and_malformed_is_flagged() -> None:
    """Frame.json() parses once, and non-object or broken data gives None with ``malformed``."""
    good = Frame("x", '{"a":1}')
    assert good.json() == {"a": 1}
    assert good.json() is good.json()
    assert not good.malformed
    for data in ("[1, 2]", "{broken", "", "1", '"s"', "[" * 100_000):
        frame = Frame("x", data)
        assert frame.json() is None, data[:20]
        assert frame.malformed


def test_is_done_matches_sdk_rule() -> None:
    """[DONE] is recognised the way the SDK does it: any data starting with ``[DONE]``."""
    assert Frame(None, "[DONE]").is_done
    assert Frame(None, "[DONE] trailing").is_done
    assert not Frame(None, " [DONE]").is_done
    assert not Frame(None, '{"x":"[DONE]"}').is_done


# ----------------------------------------------------------------------------------- oversized
LIMIT = 100


@pytest.mark.parametrize(
    ("body", "expected_data", "oversized"),
    [
        pytest.param(b"data: " + b"a" * 200 + b"\n\ndata: ok\n\n", ["ok"], 1, id="long-data-line"),
        pytest.param(
            b"event: x\ndata: " + b"a" * 200 + b"\n\ndata: ok\n\n", ["ok"], 1, id="event-not-left-empty"
        ),
        pytest.param(
            b"data: keep\ndata: " + b"a" * 200 + b"\n\ndata: ok\n\n", ["ok"], 1, id="earlier-line-dropped"
        ),
        pytest.param(
            b"data: " + b"a" * 200 + b"\ndata: tail\n\ndata: ok\n\n", ["ok"], 1, id="later-line-dropped"
        ),
        pytest.param(b"event: " + b"e" * 200 + b"\ndata: 1\n\ndata: ok\n\n", ["ok"], 1, id="long-event-line"),
        pytest.param(b": " + b"c" * 200 + b"\n\ndata: ok\n\n", ["ok"], 1, id="long-comment"),
        pytest.param(
            b"data: " + b"a" * 60 + b"\ndata: " + b"b" * 60 + b"\ndata: c\n\ndata: ok\n\n",
            ["ok"],
            1,
            id="multi-line-frame-over-limit",
        ),
        pytest.param(
            b"data: " + b"a" * 200 + b"\n\ndata: " + b"b" * 200 + b"\n\ndata: ok\n\n",
            ["ok"],
            2,
            id="two-frames-counted-twice",
        ),
        pytest.param(b"data: " + b"a" * 94 + b"\n\n", ["a" * 94], 0, id="exactly-at-limit-kept"),
        pytest.param(
            b"data: ok\n\ndata: " + b"a" * 200, ["ok"], 1, id="cut-oversized-not-returned-truncated"
        ),
    ],
)
@pytest.mark.parametrize("chunk", [0, 1, 7, 64, 4096], ids=lambda c: f"chunk{c}")
def test_oversized_frames_are_dropped_whole_and_counted(
    body: bytes, expected_data: list[str], oversized: int, chunk: int
) -> None:
    """A frame with a line over the limit, or whose data adds up to more, is dropped entirely (no
    partial frame is ever dispatched), counted once, and decoding resumes at the next frame, the same
    way for every chunking (0 = one piece)."""
    chunks = [body] if chunk == 0 else [body[i : i + chunk] for i in range(0, len(body), chunk)]
    frames, count = decode_chunks(chunks, max_frame_bytes=LIMIT)
    assert [f.data for f in frames] == expected_data
    assert count == oversized


def test_memory_stays_bounded_without_newlines() -> None:
    """50 MB with no newline never makes the buffer exceed max_frame_bytes; the stream recovers."""
    d = SSEDecoder()  # the default limit, 16 MiB
    block = b"x" * (1 << 20)
    d.feed(b"data: ")
    for _ in range(50):
        assert d.feed(block) == []
        assert len(d._buf) <= d.max_frame_bytes
    assert d.oversized == 1
    assert [f.data for f in d.feed(b"\n\ndata: ok\n\n")] == ["ok"]
    assert d.oversized == 1


def test_memory_stays_bounded_with_many_data_lines() -> None:
    """Many small data lines in one frame cannot grow it past the limit either."""
    d = SSEDecoder(max_frame_bytes=1 << 16)
    line = b"data: " + b"y" * 100 + b"\n"
    for _ in range(5_000):
        d.feed(line)
        assert d._data_size <= d.max_frame_bytes
        assert sum(map(len, d._data)) <= d.max_frame_bytes
    assert d.oversized == 1
    assert [f.data for f in d.feed(b"\ndata: ok\n\n")] == ["ok"]


# --------------------------------------------------------------------------------- lazy JSON
@contextmanager
def counting_json_loads() -> Iterator[mock.MagicMock]:
    with mock.patch("runwatch._payload._decode", wraps=json.loads) as loads:  # every JSON read
        yield loads


@pytest.mark.parametrize(
    ("filename", "is_delta"),
    [
        pytest.param(
            "responses_completed.sse", lambda f: f.event == "response.output_text.delta", id="responses"
        ),
        pytest.param(
            "assistants_completed.sse", lambda f: f.event == "thread.message.delta", id="assistants"
        ),
        pytest.param(
            "chat_stop.sse",
            lambda f: f.event is None and '"content":"' in f.data and '"finish_reason":null' in f.data,
            id="chat",
        ),
    ],
)
def test_delta_frames_never_parse_json(filename: str, is_delta: object) -> None:
    """Decoding a transcript calls json.loads zero times, and feeding its frames to a StreamTracker
    parses no delta frame after the first token: a delta costs a name look-up, not a parse."""
    body = (DATA / filename).read_bytes()
    transitions: list[Transition] = []
    book = RunBook(transitions.append)
    with counting_json_loads() as loads:
        frames = decode(body)
        assert loads.call_count == 0
        stream = book.stream(None, 0.0)
        deltas_after_first = 0
        first_token_seen = False
        for frame in frames:
            before = loads.call_count
            stream.frame(frame, 1.0)
            if is_delta(frame) and first_token_seen:  # type: ignore[operator]
                deltas_after_first += 1
                assert loads.call_count == before, frame
            first_token_seen = first_token_seen or any(type(t).__name__ == "FirstToken" for t in transitions)
        stream.close("stream_ended", 2.0)
        assert loads.call_count > 0  # the lifecycle frames were parsed: the counter works
    assert deltas_after_first >= 4


def test_chat_tool_call_chunks_are_still_parsed() -> None:
    """The chat fast path is not blind: chunks with tool calls are parsed so tool calls count."""
    from runwatch._events import ToolCall

    transitions: list[Transition] = []
    stream = RunBook(transitions.append).stream(None, 0.0)
    for frame in decode((DATA / "chat_tool_calls.sse").read_bytes()):
        stream.frame(frame, 1.0)
    stream.close("stream_ended", 2.0)
    assert any(isinstance(t, ToolCall) for t in transitions)


# ------------------------------------------------------------------------------ properties
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(TRANSCRIPTS),
    cuts=st.lists(st.integers(min_value=0, max_value=13_000), max_size=40),
    ending=st.sampled_from([b"\n", b"\r\n", b"\r"]),
)
def test_transcripts_rechunked_give_same_frames(path: Path, cuts: list[int], ending: bytes) -> None:
    """Any re-chunking of any transcript (re-encoded with LF, CRLF or CR) gives the frames of the
    whole body fed at once, and those are the frames of the LF original."""
    original = path.read_bytes()
    body = original.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", ending)
    whole = as_tuples(decode(body))
    assert whole == as_tuples(decode(original.replace(b"\r\n", b"\n").replace(b"\r", b"\n")))
    chunked, _ = decode_chunks(split_at(body, [c % (len(body) + 1) for c in cuts]))
    assert as_tuples(chunked) == whole


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_transcripts_byte_by_byte(path: Path) -> None:
    """Every transcript fed one byte at a time gives the same frames as in one piece."""
    body = path.read_bytes()
    frames, _ = decode_chunks([body[i : i + 1] for i in range(len(body))])
    assert as_tuples(frames) == as_tuples(decode(body))
    assert frames


_value = st.one_of(
    # A small alphabet makes edge cases (spaces at either end, colons, "[DONE]") likely.
    st.text(st.sampled_from(' :ab{}"\t\u00e9\u2028'), max_size=12),
    st.sampled_from(["[DONE]", " [DONE]", "", " "]),
    st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=30),
)
_line = st.one_of(
    st.tuples(
        st.sampled_from(["data", "event", "id", "retry", "foo", ""]),
        st.sampled_from([":", ": ", ":  "]),
        _value,
    ).map("".join),
    st.sampled_from(["data", "event", "id", "retry", "data: [DONE]", "retry: 1000", "retry: ²"]),
    _value.map(lambda v: ":" + v),
    st.just(""),
)
_sse = st.lists(st.tuples(_line, st.sampled_from(["\n", "\r\n", "\r"])), max_size=40).map(
    lambda lines: "".join(a + b for a, b in lines).encode()
)
# Mostly the shapes OpenAI sends (which take the decoder's whole-frame fast path), mixed with other
# fields, blank-line runs and invalid UTF-8.
_piece = st.one_of(
    st.builds(lambda e, d: f"event: {e}\ndata: {d}\n\n".encode(), _value, _value),
    st.builds(lambda d: f"data: {d}\n\n".encode(), _value),
    _line.map(lambda line: line.encode() + b"\n"),
    st.sampled_from([b"\n", b"\n\n\n", b"data: \xff\xfe\n\n", b"event: \xc3\ndata: x\n\n", b"\xe2\x82"]),
)
_openai_like = st.lists(_piece, max_size=40).map(b"".join)


def decode_byte_by_byte(body: bytes, limit: int | None) -> tuple[list[Frame], int]:
    """The line-by-line reference: one byte per feed never completes a whole frame in one call."""
    return decode_chunks([body[i : i + 1] for i in range(len(body))], limit)


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(_openai_like, _sse), limit=st.sampled_from([None, 24, 60]))
def test_fast_path_agrees_with_line_by_line(body: bytes, limit: int | None) -> None:
    """The whole-frame fast path (a body in one piece) gives exactly the frames and oversized count
    of the line-by-line path (the same body one byte at a time), invalid UTF-8 included."""
    whole, whole_over = decode_chunks([body], limit)
    reference, reference_over = decode_byte_by_byte(body, limit)
    assert as_tuples(whole) == as_tuples(reference)
    assert whole_over == reference_over


@settings(max_examples=300, deadline=None)
@given(
    body=st.one_of(_sse, _openai_like),
    cuts=st.lists(st.integers(min_value=0, max_value=2_000), max_size=30),
    limit=st.sampled_from([None, 24]),
)
def test_random_sse_rechunked_gives_same_frames(body: bytes, cuts: list[int], limit: int | None) -> None:
    """Random event streams (all field kinds, all line endings, tiny frame limits too) decode to the
    same frames and the same oversized count whatever the chunking."""
    whole, whole_over = decode_chunks([body], limit)
    chunked, chunked_over = decode_chunks(split_at(body, [c % (len(body) + 1) for c in cuts]), limit)
    assert as_tuples(chunked) == as_tuples(whole)
    assert chunked_over == whole_over
    reference, reference_over = decode_byte_by_byte(body, limit)
    assert as_tuples(reference) == as_tuples(whole)
    assert reference_over == whole_over


@settings(max_examples=300, deadline=None)
@given(
    chunks=st.lists(st.binary(max_size=200), max_size=20),
    limit=st.sampled_from([None, 16]),
)
def test_random_bytes_never_raise(chunks: list[bytes], limit: int | None) -> None:
    """Arbitrary bytes never raise, keep the buffer bounded, and any frame's JSON access is safe."""
    d = SSEDecoder() if limit is None else SSEDecoder(limit)
    frames: list[Frame] = []
    for chunk in chunks:
        frames += d.feed(chunk)
        assert len(d._buf) <= d.max_frame_bytes
    frames += d.end()
    for frame in frames:
        frame.json()
        _ = frame.is_done, repr(frame)


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(_openai_like, _sse), limit=st.sampled_from([None, 24, 60]))
def test_one_frame_per_chunk_agrees_with_line_by_line(body: bytes, limit: int | None) -> None:
    """A body delivered one frame per chunk (split after every blank line, as a server flushing per
    event sends it: the single-frame fast path) decodes to exactly the frames and oversized count of
    the same body fed one byte at a time."""
    pieces = [p + b"\n\n" for p in body.split(b"\n\n")]
    pieces[-1] = pieces[-1][:-2]
    per_frame, per_frame_over = decode_chunks([p for p in pieces if p], limit)
    reference, reference_over = decode_byte_by_byte(body, limit)
    assert as_tuples(per_frame) == as_tuples(reference)
    assert per_frame_over == reference_over


@pytest.mark.parametrize(
    ("held", "chunk", "expected"),
    [
        (b"event: foo\n", b"data: x\n\n", Frame("foo", "x")),  # an open frame (a field seen)
        (b"data: a", b"data: x\n\n", Frame(None, "adata: x")),  # an unfinished line
        (b"data: a\r", b"data: x\n\n", Frame(None, "a\nx")),  # a CR that may start CRLF
    ],
)
def test_one_frame_chunk_after_held_bytes_is_not_cut_out_alone(
    held: bytes, chunk: bytes, expected: Frame
) -> None:
    """A chunk shaped like one whole frame continues what the decoder holds: the one-frame fast
    path is taken only while the decoder is idle."""
    decoder = SSEDecoder()
    assert decoder.feed(held) == []
    assert not decoder.idle
    assert as_tuples(decoder.feed(chunk)) == as_tuples([expected])
    assert decoder.idle


# -- Drop: regions of frames the consumer does not need ------------------------------------------
_DROP_NAMES = frozenset({"d.delta", "d.other"})


def _drop_data(values: list[str], text: str) -> bool:
    # The contract: ``text`` is the region the values came from.
    assert text == "".join(f"data: {v}\n\n" for v in values)
    return all(v.startswith("ok") for v in values)


_droppable = st.one_of(
    st.builds(
        lambda e, d: f"event: {e}\ndata: {d}\n\n".encode(), st.sampled_from(sorted(_DROP_NAMES)), _value
    ),
    st.builds(lambda d: f"data: ok{d}\n\n".encode(), _value),
)
_mostly_droppable = st.lists(st.one_of(_droppable, _droppable, _droppable, _piece), max_size=40).map(b"".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=_mostly_droppable,
    cuts=st.lists(st.integers(min_value=0, max_value=3_000), max_size=30),
    limit=st.sampled_from([None, 24, 60]),
)
def test_drop_leaves_out_only_whole_regions_of_unneeded_frames(
    body: bytes, cuts: list[int], limit: int | None
) -> None:
    """Two decoders in lockstep, one given a ``Drop``: each call returns the same items as the
    other's, or nothing where all of the other's items are frames the consumer said it does not
    need (named in ``names``, or unnamed and accepted by ``data``). The state after every call is
    the same, so the end and the oversized count agree too."""
    drop = Drop(_DROP_NAMES, _drop_data)
    plain = SSEDecoder() if limit is None else SSEDecoder(limit)
    dropping = SSEDecoder() if limit is None else SSEDecoder(limit)
    dropped = 0
    for chunk in split_at(body, [c % (len(body) + 1) for c in cuts]):
        want = [Frame(*i) if type(i) is tuple else i for i in plain.feed_items(chunk)]
        got = [Frame(*i) if type(i) is tuple else i for i in dropping.feed_items(chunk, drop)]
        if got != want:
            assert got == []
            assert want
            assert all(f.event in _DROP_NAMES for f in want) or all(
                f.event is None and f.data.startswith("ok") for f in want
            )
            dropped += len(want)
    assert as_tuples(dropping.end()) == as_tuples(plain.end())
    assert dropping.oversized == plain.oversized


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        # A region of nothing but droppable frames, named or not, is left out.
        (b"event: d.delta\ndata: 1\n\nevent: d.other\ndata: 2\n\n", 0),
        (b"data: ok1\n\ndata: ok2\n\n", 0),
        # One frame the consumer needs keeps the whole region, in order.
        (b"event: d.delta\ndata: 1\n\nevent: life\ndata: 2\n\nevent: d.delta\ndata: 3\n\n", 3),
        (b"data: ok1\n\ndata: no\n\n", 2),
        # A droppable name with a line that is not its data line (an id) is not a plain frame.
        (b"event: d.delta\nid: 7\n\nevent: d.delta\ndata: 1\n\n", 2),
        (b"event: d.delta\ndata: 1\ndata: 2\n\n", 1),
    ],
)
def test_drop_examples(body: bytes, kept: int) -> None:
    d = SSEDecoder()
    assert len(d.feed_items(body, Drop(_DROP_NAMES, _drop_data))) == kept
    assert d.feed(body) == decode(body)  # and the state left behind is the same


@settings(max_examples=300, deadline=None)
@given(
    body=st.one_of(_sse, _openai_like),
    cuts=st.lists(st.integers(min_value=0, max_value=2_000), max_size=30),
    limit=st.sampled_from([None, 24]),
)
def test_idle_after_every_call(body: bytes, cuts: list[int], limit: int | None) -> None:
    """``idle`` (what the tracker's one-frame skip reads) is false while anything is buffered or a
    frame is open, and when it is true a chunk of whole frames decodes exactly as on a fresh
    decoder (only the last id carries over); ``end()`` makes it true again."""
    d = SSEDecoder() if limit is None else SSEDecoder(limit)
    probe = b"event: e\ndata: x\n\ndata: y\n\n"
    assert d.idle
    for chunk in split_at(body, [c % (len(body) + 1) for c in cuts]):
        d.feed_items(chunk)
        if d.pending:
            assert not d.idle
        if d.idle:
            last_id = d._last_id
            assert copy.deepcopy(d).feed(probe) == [Frame("e", "x", last_id), Frame(None, "y", last_id)]
    d.end()
    assert d.idle
