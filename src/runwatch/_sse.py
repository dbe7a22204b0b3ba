"""Server-sent events: bytes in, frames out. No I/O (sans-IO, like h11's readers).

The decoder follows the WHATWG event-stream rules: LF, CRLF and CR line endings (a CRLF split
across two chunks is one line ending), ``field: value`` lines with one optional space after the
colon, multi-line ``data:`` joined by ``\\n``, ``:`` comments, ``event:``/``id:``/``retry:``, and a
blank line that dispatches the frame. Output never depends on how the bytes were chunked.

Two departures, both in the observer's interest:
- a frame cut off by the end of the stream is returned by :meth:`SSEDecoder.end` marked
  ``truncated`` instead of being dropped silently;
- a line longer than ``max_frame_bytes`` (or a frame whose data lines add up to more) drops the
  whole frame it belongs to, up to the next blank line, and is counted in ``oversized``; memory stays
  bounded on hostile input, and no frame is ever dispatched with part of its data missing.

JSON is never parsed here. :meth:`Frame.json` parses on demand (without long strings) and caches,
so classifying a delta frame by its event name costs a dict look-up, not a ``json.loads``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from itertools import repeat
from typing import Final, TypeAlias

from ._events import JSONObject
from ._payload import outline

DEFAULT_MAX_FRAME_BYTES: Final = 16 * 1024 * 1024

_UNPARSED: Final = object()


class Frame:
    """One dispatched event: ``event`` name (None when absent), ``data`` text, ``id``."""

    __slots__ = ("_json", "data", "event", "id", "malformed", "retry", "truncated")

    def __init__(
        self,
        event: str | None,
        data: str,
        id: str | None = None,
        retry: int | None = None,
        truncated: bool = False,
    ) -> None:
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry
        self.truncated = truncated
        self.malformed = False
        self._json: object = _UNPARSED

    @property
    def is_done(self) -> bool:
        """True for the ``data: [DONE]`` sentinel (the SDK stops at any data starting so)."""
        return self.data.startswith("[DONE]")

    def json(self) -> JSONObject | None:
        """The data decoded as a JSON object, or None (and ``malformed`` set) if it is not one.
        Decoded without its long strings (:func:`runwatch._payload.outline`: nothing runwatch
        reads is one), so what reading an event costs does not grow with the answer it carries
        (``response.output_item.done`` holds the whole message)."""
        cached = self._json
        if cached is _UNPARSED:
            cached = outline(self.data)
            if cached is None:
                self.malformed = True
            self._json = cached
        return cached  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"Frame(event={self.event!r}, data={self.data[:60]!r}, truncated={self.truncated})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return (self.event, self.data, self.id, self.retry, self.truncated) == (
            other.event,
            other.data,
            other.id,
            other.retry,
            other.truncated,
        )

    __hash__ = None  # type: ignore[assignment]


#: What :meth:`SSEDecoder.feed_items` returns: a Frame, or ``(event, data, id)`` for a plain one.
Item: TypeAlias = "Frame | tuple[str | None, str, str | None]"


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


_EVENT_NAME: Final = operator.itemgetter(slice(7, None))  # "event: E" -> "E"
_DATA_VALUE: Final = operator.itemgetter(slice(6, None))  # "data: D" -> "D"


def _uniform(text: str, last_id: str | None, drop: Drop | None) -> list[Item] | int | None:
    """The frames of ``text`` (whole frames, the last one ending with a blank line) when all of them
    have one plain shape, ``event: E`` + ``data: D`` or ``data: D`` alone; otherwise None. With
    ``drop``, how many frames were left out (an int) when the caller needs none of them (see
    :class:`Drop`).

    A region of a long stream nearly always is such a run of deltas. Its lines then fall into
    columns (name, data, blank), so one ``split`` and a few C-level passes over the columns check
    and cut every frame, where a loop per frame costs several times more.
    """
    if text[:7] == "event: ":
        lines = text[:-2].split("\n")
        if len(lines) % 3 == 2 and not any(lines[2::3]):
            heads = lines[0::3]
            if (
                drop is not None
                and drop.lines.issuperset(heads)
                # The event lines are known and the blank ones empty, so a line starting with
                # "data: " after a newline can only be a data line: one each means all of them.
                and text.count("\ndata: ") == len(heads)
            ):
                return len(heads)
            datas = lines[1::3]
            if all(map(str.startswith, heads, repeat("event: "))) and all(
                map(str.startswith, datas, repeat("data: "))
            ):
                return list(zip(map(_EVENT_NAME, heads), map(_DATA_VALUE, datas), repeat(last_id)))
    elif text[:6] == "data: ":
        # "data: D1\n\ndata: D2\n\n...": the separators hold two newlines each and the end two
        # more, so the values are newline-free (one data line per frame) iff that is all of them.
        datas = text[6:-2].split("\n\ndata: ")
        if text.count("\n") == 2 * len(datas):
            if drop is not None and drop.data is not None and drop.data(datas, text):
                return len(datas)
            return list(zip(repeat(None), datas, repeat(last_id)))
    return None


class Drop:
    """Frames a consumer does not need right now, so :meth:`SSEDecoder.feed_items` need not build
    them: a region of plain frames (see :func:`_uniform`) is dropped whole when every frame in it
    is named in ``names``, or, for unnamed frames, when ``data(values, text)`` says so for all of
    them at once (``text`` is the region, ``data: `` prefixes and blank lines included). A region
    that mixes in anything else is returned whole, so the consumer sees every frame after the
    first one it needs, in order. A chunk of one frame is always returned: a consumer that skips
    frames judges those before decoding (as :meth:`runwatch._skip.Skipper.feed` does)."""

    __slots__ = ("data", "lines", "names")

    def __init__(self, names: frozenset[str], data: Callable[[list[str], str], bool] | None = None) -> None:
        self.names = names
        self.lines = frozenset("event: " + name for name in names)
        self.data = data


class SSEDecoder:
    """Incremental event-stream decoder.

    >>> d = SSEDecoder()
    >>> [f.data for f in d.feed(b"event: a\\ndata: 1\\n\\nda") + d.feed(b"ta: 2\\n\\n")]
    ['1', '2']
    """

    __slots__ = (
        "_buf",
        "_cr_pending",
        "_data",
        "_data_size",
        "_discarding",
        "_dropping",
        "_event",
        "_id",
        "_last_id",
        "_retry",
        "_seen_field",
        "dropped",
        "idle",
        "max_frame_bytes",
        "oversized",
    )

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.oversized = 0  # frames dropped for exceeding max_frame_bytes
        self.dropped = 0  # frames left out whole as a consumer asked (see Drop); it resets it
        self._buf = bytearray()  # the unfinished line after the last newline
        self._cr_pending = False
        self._discarding = False  # skipping the rest of an oversized line
        self._dropping = False  # skipping the rest of a frame that had an oversized line
        self._event: str | None = None
        self._data: list[str] = []
        self._data_size = 0
        self._id: str | None = None
        self._last_id: str | None = None
        self._retry: int | None = None
        self._seen_field = False
        #: True while nothing is buffered or open, kept after every feed and end (an attribute,
        #: for consumers that test it once per chunk): a chunk that holds whole frames (within the
        #: size limit) is then decoded on its own, whatever came before.
        self.idle = True

    def feed(self, chunk: bytes) -> list[Frame]:
        """Consume ``chunk``; return the frames it completed (possibly none)."""
        return [Frame(*item) if type(item) is tuple else item for item in self.feed_items(chunk)]  # type: ignore[misc]

    def feed_items(self, chunk: bytes, drop: Drop | None = None) -> list[Item]:
        """Like :meth:`feed`, but frames of the two common shapes come as ``(event, data, id)``
        tuples: a consumer that only needs the name of most frames (a delta) skips building them.
        With ``drop``, whole regions of frames the consumer does not need are left out.
        """
        items = self._feed_items(chunk, drop)
        self.idle = not (
            self._buf or self._seen_field or self._dropping or self._discarding or self._cr_pending
        )
        return items

    def _feed_items(self, chunk: bytes, drop: Drop | None) -> list[Item]:
        if chunk[-2:] == b"\n\n" and 0x0D not in chunk and self.idle and len(chunk) <= self.max_frame_bytes:
            # A server that flushes per event sends one plain frame per chunk: cut it out directly
            # (operators here, as bytes methods cost ~0.2 us a call).
            try:
                if chunk[:6] == b"data: ":
                    data = chunk[6:-2].decode()
                    if "\n" not in data:
                        return [(None, data, self._last_id)]
                elif chunk[:7] == b"event: ":
                    event, sep, data = chunk[7:-2].decode().partition("\ndata: ")
                    if sep and "\n" not in event and "\n" not in data:
                        return [(event, data, self._last_id)]
            except UnicodeDecodeError:
                pass  # the general path replaces invalid bytes line by line
        if not chunk:
            return []
        if self._cr_pending:
            self._cr_pending = False
            if chunk[0] == 0x0A:  # the LF of a CRLF split across chunks
                chunk = chunk[1:]
                if not chunk:
                    return []
        if 0x0D in chunk:  # an int probe is a memchr; a bytes needle costs 10x more here
            # A trailing CR may be the first half of a CRLF; remember it so the LF is skipped.
            self._cr_pending = chunk[-1] == 0x0D
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if self._discarding:
            # Drop the rest of an oversized line, up to its end (nothing is buffered meanwhile).
            nl = chunk.find(b"\n")
            if nl < 0:
                return []
            self._discarding = False
            chunk = chunk[nl + 1 :]
        if not (self._seen_field or self._dropping):
            # No frame is open (the buffer holds raw bytes of the next one): everything up to the
            # chunk's last blank line is whole frames, and what follows is held raw in its turn.
            cut = chunk.rfind(b"\n\n") + 2
            if cut > 1 and len(chunk) - cut <= self.max_frame_bytes:
                if self._buf:
                    region = bytes(self._buf) + chunk[:cut]
                elif cut == len(chunk):
                    region = chunk
                else:
                    region = chunk[:cut]
                self._buf = bytearray(chunk[cut:])
                return self._region(region, drop)
        end = chunk.rfind(b"\n")
        if end < 0:
            # Only the new chunk is scanned and appended: a long line arriving in many small chunks
            # costs linear time, not a re-copy and re-scan of everything buffered so far.
            if len(self._buf) + len(chunk) > self.max_frame_bytes:
                self._flush_held()  # the limit is per line: parse held lines before judging
            if len(self._buf) + len(chunk) > self.max_frame_bytes:
                self._overflow()
            else:
                self._buf += chunk
            return []
        if end + 1 == len(chunk):
            region, rest = chunk, b""
        else:
            region, rest = chunk[: end + 1], chunk[end + 1 :]
        if self._buf:
            self._buf += region
            region = bytes(self._buf)
            self._buf = bytearray()
        if region[-2:] != b"\n\n" and not (self._seen_field or self._dropping):
            # Hold the complete lines of the frame still open as raw bytes, so the next region
            # starts at a frame boundary and every frame in it takes the fast path.
            cut = region.rfind(b"\n\n")
            cut = cut + 2 if cut >= 0 else 0
            if len(region) - cut + len(rest) <= self.max_frame_bytes:
                region, rest = region[:cut], region[cut:] + rest
        frames = self._region(region, drop) if region else []
        if rest:
            # The unfinished line after the last newline belongs to the frame left open above.
            if len(rest) > self.max_frame_bytes:
                self._overflow()
            else:
                self._buf += rest
        return frames

    def end(self) -> list[Frame]:
        """Signal end of stream. Returns a frame marked ``truncated`` if one was cut off."""
        if self._buf and not self._discarding and not self._dropping:
            # Raw lines of the open frame (held back by feed_items), the last one maybe partial.
            for line in bytes(self._buf).split(b"\n"):
                if line:
                    self._line(line)
        self._buf = bytearray()
        self._discarding = False
        self._dropping = False
        self._cr_pending = False
        self.idle = True
        if self._seen_field:
            frame = Frame(
                self._event, "\n".join(self._data), self._id or self._last_id, self._retry, truncated=True
            )
            self._reset()
            return [frame]
        return []

    @property
    def pending(self) -> bool:
        """True while part of a frame is buffered."""
        return bool(self._buf) or self._seen_field

    def _flush_held(self) -> None:
        """Parse the complete lines held raw in the buffer (they open a frame; none is blank)."""
        nl = self._buf.rfind(b"\n")
        if nl >= 0:
            lines = bytes(self._buf[:nl]).split(b"\n")
            del self._buf[: nl + 1]
            self._lines(lines)

    def _overflow(self) -> None:
        """The buffered line outgrew the limit: skip the rest of it, and drop its frame."""
        self._buf = bytearray()
        self._discarding = True
        self._drop()

    def _drop(self) -> None:
        if not self._dropping:
            self.oversized += 1
            self._dropping = True
        self._reset()

    def _reset(self) -> None:
        self._event = None
        self._data = []
        self._data_size = 0
        self._retry = None
        self._id = None
        self._seen_field = False

    def _region(self, region: bytes, drop: Drop | None = None) -> list[Item]:
        """Decode ``region``: complete lines, each ending with ``\\n``.

        Whole frames of the two shapes OpenAI sends (``data: D`` and ``event: E`` + ``data: D``) are
        cut out of the decoded region with a few C-level string calls; anything else (comments, ids,
        several data lines, the end of a frame left open by the previous chunk) goes line by line.
        Both paths give the same frames (the tests feed byte by byte, which never takes this one).
        """
        if len(region) > self.max_frame_bytes:
            return self._lines(region[:-1].split(b"\n"))  # let the per-line limits decide
        try:
            text = region.decode("utf-8")
        except UnicodeDecodeError:
            return self._lines(region[:-1].split(b"\n"))  # invalid bytes are replaced line by line
        tail = ""
        if text[-2:] == "\n\n":
            if not (self._seen_field or self._dropping):
                uniform = _uniform(text, self._last_id, drop)
                if isinstance(uniform, int):  # left out whole
                    self.dropped += uniform
                    return []
                if uniform is not None:
                    return uniform
            blocks = text[:-2].split("\n\n")
        else:
            last = text.rfind("\n\n")
            if last < 0:
                return self._lines(region[:-1].split(b"\n"))  # no blank line: all in the open frame
            blocks = text[:last].split("\n\n")
            tail = text[last + 2 : -1]  # lines after the last blank line open the next frame
        out: list[Item] = []
        if self._seen_field or self._dropping:
            out += self._block(blocks[0])  # finishes the frame the previous chunk left open
            blocks[0] = ""
        last_id = self._last_id
        for block in blocks:
            if block[:7] == "event: ":
                event, sep, data = block.partition("\ndata: ")
                if sep and "\n" not in data and "\n" not in event:
                    out.append((event[7:], data, last_id))
                    continue
            elif block[:6] == "data: " and "\n" not in block:
                out.append((None, block[6:], last_id))
                continue
            if block:
                out += self._block(block)
                last_id = self._last_id
        if tail:
            out += self._lines(tail.encode().split(b"\n"))
        return out

    def _block(self, block: str) -> list[Item]:
        """One frame's lines (valid UTF-8, so re-encoding gives the original bytes), then its end."""
        lines = block.encode().split(b"\n")
        lines.append(b"")
        return self._lines(lines)

    def _lines(self, lines: list[bytes]) -> list[Item]:
        out: list[Item] = []
        limit = self.max_frame_bytes
        for line in lines:
            if line:
                if self._dropping:
                    continue
                if len(line) > limit:
                    self._drop()
                    continue
                self._line(line)
            elif self._dropping:
                self._dropping = False
            elif self._seen_field:
                if self._data:
                    out.append(
                        Frame(self._event, "\n".join(self._data), self._id or self._last_id, self._retry)
                    )
                elif self._event is not None:
                    # An event with no data is not dispatched by the spec; keep it visible.
                    out.append(Frame(self._event, "", self._id or self._last_id, self._retry))
                self._reset()
        return out

    def _line(self, line: bytes) -> None:
        # Fast paths for the two fields that make up nearly every OpenAI frame.
        if line[:6] == b"data: ":
            self._add_data(_decode(line[6:]), len(line) - 6)
            return
        if line[:7] == b"event: ":
            self._event = _decode(line[7:])
            self._seen_field = True
            return
        if line[0] == 0x3A:  # ':' comment
            return
        colon = line.find(b":")
        if colon < 0:
            name, value = _decode(line), ""
        else:
            name = _decode(line[:colon])
            raw = line[colon + 1 :]
            if raw[:1] == b" ":
                raw = raw[1:]
            value = _decode(raw)
        if name == "data":
            self._add_data(value, 0 if colon < 0 else len(raw))
        elif name == "event":
            self._event = value
            self._seen_field = True
        elif name == "id":
            if "\x00" not in value:
                self._id = self._last_id = value
            self._seen_field = True
        elif name == "retry":
            if value.isascii() and value.isdigit():  # isdigit() alone accepts "²"; int() does not
                self._retry = int(value)
            self._seen_field = True
        # Unknown fields are ignored, as the spec says.

    def _add_data(self, value: str, size: int) -> None:
        self._data_size += size  # in bytes, like the line limit, so chunking cannot change the verdict
        if self._data_size > self.max_frame_bytes:
            # A frame of many data lines can grow without any single long line; cap it too.
            self._drop()
            return
        self._data.append(value)
        self._seen_field = True
