"""The delta fast path: bytes in, only the frames that matter out. The one place with byte tricks.

Once a run has its first token and no outcome, its content deltas change nothing: most of a
stream is frames nobody needs to build. A :class:`Skipper` sits between the wire and a
:class:`~runwatch._stream.StreamTracker` and leaves those out as early as it safely can:

1. a chunk that is exactly one delta frame (a server that flushes every event: the common case
   at token rate) is dropped on its bytes, without decoding or a clock read; once one was judged
   the long way, the next chunk starting with the same head is judged on the rest of its bytes;
2. the decoder is told to drop whole regions of nothing but deltas (:class:`runwatch._sse.Drop`);
3. what the decoder returns is filtered by name (or chat text) before a Frame is built.

The contract, proved by tests (``tests/test_tracker.py``) on every transcript and chunking: the
tracker ends up knowing exactly what it knows when fed every frame by :meth:`StreamTracker.frame`
(which skips the same deltas the slow way), including how many deltas were left out between the
frames it read (:attr:`StreamTracker.skipped`: Responses sequence numbers are checked against
it). What a delta is comes from the protocol's :class:`~runwatch.protocols.DeltaFilter`; this
module only decides how cheaply to apply it.
"""

from __future__ import annotations

from collections.abc import Callable

from ._run import STREAMING
from ._sse import Frame, Item, SSEDecoder
from ._stream import StreamTracker


class Skipper:
    """Feeds one stream's bytes to its tracker through a decoder, skipping deltas cheaply."""

    __slots__ = ("_cut", "_head", "decoder", "tracker")

    def __init__(self, tracker: StreamTracker, decoder: SSEDecoder | None = None) -> None:
        self.tracker = tracker
        self.decoder = decoder if decoder is not None else SSEDecoder()
        # The head of the last lone delta chunk judged the long way ("event: E\ndata: ", or for
        # chat the bytes up to the choices) and its length: the next deltas most likely start
        # the same way.
        self._head = b""
        self._cut = 0

    def feed(self, chunk: bytes, now: Callable[[], float]) -> None:
        """Feed raw stream bytes; what is left goes to the tracker at time ``now()``."""
        tracker = self.tracker
        decoder = self.decoder
        rt = tracker.current
        if rt is not None and rt.state == STREAMING:  # tracker.skipping, inlined (per chunk)
            deltas = tracker.deltas
            assert deltas is not None  # a run exists, so the protocol is known
            text_judge = deltas.text
            cut = self._cut
            if (  # a chunk that starts as the last lone delta did: only the rest need be read
                cut
                and chunk[:cut] == self._head
                and chunk[-1] == 0x0A == chunk[-2]
                and decoder.idle
                and len(chunk) <= decoder.max_frame_bytes
            ):
                # The head has no CR and ends the way no mark or line can run on across ("data: "
                # or "["), so the chunk is one frame if the body (between the head and the final
                # blank line) has no line break. A named head names a delta (only chat learns
                # heads of unnamed frames); a chat body must pass the text judge.
                body = chunk[cut:-2]
                if 0x0A not in body and 0x0D not in body:
                    if text_judge is None:
                        tracker.skipped += 1
                        return
                    try:
                        text = body.decode()
                    except UnicodeDecodeError:
                        text = ""
                    if text_judge(text):
                        return  # a chat chunk: unnumbered, so not counted
            nl = chunk.find(b"\n")
            end = len(chunk) - 2
            if (  # one whole frame, nothing held before it (end + 2 == len(chunk) <= the limit)
                nl >= 0  # (an empty chunk has no last byte)
                and chunk[-1] == 0x0A
                and 0x0D not in chunk
                and decoder.idle
                and end < decoder.max_frame_bytes - 1
            ):
                if nl == end:
                    # One line, then the blank one: a chat chunk ("data: D"). The marks are ASCII,
                    # so replacing invalid bytes cannot make or break one.
                    if (
                        text_judge is not None
                        and chunk[:6] == b"data: "
                        and text_judge(chunk.decode("utf-8", "replace"))
                    ):
                        # The next chunks of this completion start the same way up to their
                        # choices: learn that head (one of this line's: no mark, no break).
                        cut = chunk.find(b'"choices":[') + 11
                        if cut > 10:
                            self._head = chunk[:cut]
                            self._cut = cut
                        return  # unnumbered, so not counted (see StreamTracker.skipped)
                elif chunk[: nl + 7] in deltas.heads and chunk.find(b"\n", nl + 1) == end:
                    # The first line and the next 7 bytes are a head ("event: E\ndata: "), and the
                    # next newline ends the data line, right before the final blank line. (A set
                    # look-up: bytes.startswith with a tuple of heads costs a buffer request per
                    # head.) The next deltas will most likely have the same head: learn it.
                    self._head = chunk[: nl + 7]
                    self._cut = nl + 7
                    tracker.skipped += 1
                    return
            # Deltas change nothing now: regions of nothing but deltas need not be decoded.
            items = decoder.feed_items(chunk, deltas.drop)
            if decoder.dropped:  # a region of nothing but deltas, left out whole
                tracker.skipped += decoder.dropped
                decoder.dropped = 0
        else:
            items = decoder.feed_items(chunk)
        if items:
            self.frames(items, now())

    def frames(self, items: list[Item], t: float) -> None:
        """Feed what :meth:`SSEDecoder.feed_items` returned. A delta that changes nothing is
        skipped on its name (or chat text) before a Frame is built; only the tracker's
        :meth:`~StreamTracker.frame` changes what is skippable, so the filter is looked up
        again after each frame it gets."""
        tracker = self.tracker
        deltas = tracker.skipping
        for item in items:
            if deltas is not None and type(item) is tuple and deltas.frame(item[0], item[1]):
                tracker.skipped += 1
                continue
            tracker.frame(Frame(*item) if type(item) is tuple else item, t)  # type: ignore[arg-type,misc]
            deltas = tracker.skipping

    def end(self, t: float) -> int:
        """The bytes are over: frames still held go to the tracker (a cut one marked truncated).
        Returns how many frames the decoder dropped for size."""
        for frame in self.decoder.end():
            self.tracker.frame(frame, t)
        return self.decoder.oversized
