"""RunTracker: the sans-IO state machine that turns stream events into run transitions.

Theory of operation
-------------------
Three objects, no I/O, no clock (every method takes the time it should use):

- :class:`RunBook` belongs to an observer. It knows runs that outlive one HTTP stream: runs paused
  in ``requires_action`` (waiting for a ``submit_tool_outputs`` continuation) and background
  responses whose stream was cut (waiting for a ``starting_after`` resume). It also remembers which
  run ids are being observed right now, so a run watched twice (transport tap + ``watch()``) is
  counted once. Everything in it is bounded: parked runs expire after a TTL (``abandoned``), and
  the memory of recently finished ids is a fixed-size ring.
- :class:`StreamTracker` belongs to one stream (one HTTP response or one SDK stream object). It
  detects the protocol, routes each event to the run it belongs to (agent sessions carry many
  turns in one stream) and, when the stream ends, settles every run it was carrying.
- :class:`RunTracker` belongs to one run. It interprets the protocol tables in
  :mod:`runwatch.protocols`: a status enters a phase, pauses the run or ends it; steps and output
  items are phases of their own; the first content delta is the first token.

Unlike h11, nothing here raises on unexpected input. An unknown event or status, an event after the
terminal, a stream that ends without one, malformed JSON: each becomes an :class:`Anomaly` and,
where a run must end, an honest outcome (``aborted``, ``unknown``). Every run that starts finishes
exactly once (``RunTracker.finish`` is idempotent).

Cost: a content delta after the first token costs a set look-up on its name (or, for chat, three
substring scans of its text); a chunk that is one whole delta frame is dropped on its bytes without
being decoded (:meth:`StreamTracker.feed_chunk`). JSON is parsed only for events whose action needs
the payload (lifecycle, steps, items, and chat chunks that are not plain deltas).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from . import protocols
from ._events import (
    Anomaly,
    Api,
    FirstToken,
    JSONObject,
    Outcome,
    PayloadLoader,
    Phase,
    PhaseEnded,
    PhaseStarted,
    Run,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    Status,
    ToolCall,
    Transition,
)
from ._sse import Drop, Frame, Item, SSEDecoder
from .protocols import Protocol, chat
from .protocols.assistants import STEP_TERMINAL
from .protocols.chat import DELTA_MARK, ERROR_MARK, FINISHED, NEEDS_LOOK

Emit = Callable[[Transition], None]

#: Actions of events that change nothing once the run has its first token (StreamTracker.skippable).
_SKIPPABLE: Final = frozenset({"token", "chat_delta"})


_CHAT_DROP: Final = Drop(frozenset(), chat.plain_deltas)


@functools.cache
def _skippable_names(proto: Protocol | None) -> tuple[frozenset[str], frozenset[bytes], Drop | None]:
    """Names of ``proto``'s content deltas; how each starts on the wire as a named frame,
    ``event: E\ndata: `` (StreamTracker.feed_chunk; chat chunks are unnamed ``data:`` frames, the
    ``.delta`` name is an adapter's); and what the decoder may leave out while deltas are skipped."""
    if proto is None:
        return frozenset(), frozenset(), None
    names = frozenset(name for name, action in proto.events.items() if action in _SKIPPABLE)
    if proto.api == "chat":
        return names, frozenset(), _CHAT_DROP
    return names, frozenset(b"event: " + n.encode() + b"\ndata: " for n in names), Drop(names)


_PRUNE_AT: Final = 16  # open + finished runs kept per stream before finished ones are dropped
_FINISHED_KEYS_MAX: Final = 1024
DEFAULT_TTL: Final = 600.0  # the API's own requires_action expiry
RECENT_MAX: Final = 4096

#: Close reasons adapters pass to :meth:`StreamTracker.close`.
_SNAPSHOT_OBJECTS: Final = frozenset({"thread.run", "response", "agent.session.turn"})

CLOSE_REASONS: Final = frozenset(
    {"stream_ended", "client_closed", "transport_error", "cancelled", "handler_error", "poll"}
)


def _obj(value: object) -> JSONObject | None:
    return value if isinstance(value, dict) else None


def _str(d: JSONObject, key: str) -> str | None:
    value = d.get(key)
    return value if isinstance(value, str) and value else None


def _int(d: JSONObject, key: str) -> int | None:
    value = d.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _path(d: JSONObject | None, path: tuple[str, ...]) -> object:
    cur: object = d
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur


def error_code(payload: JSONObject) -> str:
    """The code of an ``error`` event, flat (``{code, message}``) or nested (``{error: {...}}``)."""
    nested = _obj(payload.get("error"))
    err = nested if nested is not None else payload
    code = _str(err, "code")
    if code is not None:
        return code
    number = _int(err, "code")  # proxies send HTTP statuses (OpenRouter: 400): the reason is its text
    if number is not None:
        return str(number)
    kind = _str(err, "type")
    return kind if kind is not None and kind != "error" else "none"


class RunTracker:
    """State machine for one run. Created by a :class:`StreamTracker`; emits transitions."""

    __slots__ = (
        "book",
        "emit",
        "items",
        "last_status",
        "parked_until",
        "paused",
        "pending_error",
        "phase",
        "polled",
        "proto",
        "run",
        "steps",
        "streaming",
        "tool_call_ids",
        "unknown_status",
    )

    def __init__(self, proto: Protocol, run: Run, emit: Emit, book: RunBook) -> None:
        self.proto = proto
        self.run = run
        self.emit = emit
        self.book = book
        self.phase: Phase | None = None  # the status phase (queued, in_progress, ...)
        self.steps: dict[str, Phase] = {}  # open step / item phases, freed as they end
        self.items: dict[str, Phase] = {}
        self.last_status: str | None = None
        self.paused = False
        self.pending_error: str | None = None
        self.unknown_status = False
        self.parked_until: float | None = None
        self.polled = False
        # First token seen, no outcome yet: content deltas change nothing (StreamTracker skips
        # them). Kept by first_token() and finish(), the only places that set either.
        self.streaming = False
        # Ids of the tool calls counted from a requires_action snapshot, so the tool step that
        # completes after the outputs are in does not count them again. Freed by finish().
        self.tool_call_ids: set[str] | None = None

    @property
    def terminal(self) -> bool:
        return self.run.outcome is not None

    def anomaly(self, kind: str, t: float, detail: str = "") -> None:
        self.emit(Anomaly(self.run.api, kind, self.run, t, detail))

    # -- identity and snapshots -------------------------------------------------------------
    def identify(self, snap: JSONObject) -> None:
        run = self.run
        if run.run_id is None:
            run.run_id = _str(snap, "id")
        model = _str(snap, "model")
        if model is not None:
            run.model = model
        if run.api == "assistants":
            run.thread_id = run.thread_id or _str(snap, "thread_id")
            run.assistant_id = run.assistant_id or _str(snap, "assistant_id")
        elif run.api == "agents":
            run.session_id = run.session_id or _str(snap, "session_id")

    def apply_snapshot(self, snap: JSONObject, t: float, usage: JSONObject | None = None) -> None:
        self.run.snapshot = snap
        self.identify(snap)
        self.set_usage(_obj(snap.get("usage")) or usage)
        status = snap.get("status")
        if isinstance(status, str):
            self.set_status(status, snap, t)

    def set_usage(self, usage: JSONObject | None) -> None:
        if usage is None:
            return
        u = self.run.usage
        # Assistants and Chat say prompt/completion; Responses and agents say input/output.
        u.input = _int(usage, "input_tokens") if "input_tokens" in usage else _int(usage, "prompt_tokens")
        u.output = (
            _int(usage, "output_tokens") if "output_tokens" in usage else _int(usage, "completion_tokens")
        )
        cached = _path(usage, ("input_tokens_details", "cached_tokens"))
        if cached is None:
            cached = _path(usage, ("prompt_tokens_details", "cached_tokens"))
        u.cached_input = cached if isinstance(cached, int) else None
        reasoning = _path(usage, ("output_tokens_details", "reasoning_tokens"))
        if reasoning is None:
            reasoning = _path(usage, ("completion_tokens_details", "reasoning_tokens"))
        u.reasoning = reasoning if isinstance(reasoning, int) else None

    # -- statuses and phases ----------------------------------------------------------------
    def set_status(self, status: str, snap: JSONObject | None, t: float) -> None:
        if status == self.last_status:
            return
        self.last_status = status
        self.run.status = status
        entry = self.proto.statuses.get(status)
        if entry is None:
            self.unknown_status = True
            self.anomaly("unknown_status", t, status)
            return
        self.unknown_status = False
        kind, value = entry
        if kind == "terminal":
            path = self.proto.reason_paths.get(value)
            reason = _path(snap, path) if path else None
            if not isinstance(reason, str) or not reason:
                reason = "none"
            self.finish(value, reason, t)  # type: ignore[arg-type]
            return
        if self.paused:
            self.resume(t)
        self.enter(value, t)
        if kind == "pause":
            # The calls the run waits for are made now, whether or not it is ever resumed.
            path = self.proto.required_tool_calls
            calls = _path(snap, path) if path else None
            for call in calls if isinstance(calls, list) else ():
                if not isinstance(call, dict):
                    continue
                call_id = _str(call, "id")
                if call_id is not None:
                    if self.tool_call_ids is None:
                        self.tool_call_ids = set()
                    elif call_id in self.tool_call_ids:
                        continue
                    self.tool_call_ids.add(call_id)
                self.tool_call(self.proto.tool_types.get(str(call.get("type")), "_other"), t)
            self.paused = True
            self.emit(RunPaused(self.run, t))

    def enter(self, name: str, t: float) -> None:
        if self.phase is not None:
            if self.phase.kind == name:
                return
            self.end_phase(self.phase, "completed", t)
        self.phase = Phase(name, name, t)
        self.emit(PhaseStarted(self.run, self.phase, t))

    def end_phase(self, phase: Phase, status: str, t: float) -> None:
        phase.status = status
        phase.ended_at = t
        self.emit(PhaseEnded(self.run, phase, t))

    def resume(self, t: float) -> None:
        self.paused = False
        self.parked_until = None
        self.emit(RunResumed(self.run, t))

    # -- content ------------------------------------------------------------------------------
    def first_token(self, t: float) -> None:
        self.run.first_token_at = t
        self.streaming = self.run.outcome is None
        self.emit(FirstToken(self.run, t))

    def tool_call(self, tool_type: str, t: float) -> None:
        self.run.tool_calls += 1
        self.emit(ToolCall(self.run, tool_type, t))

    def step(self, step: JSONObject, t: float) -> None:
        """An Assistants run step: a phase of its own; tool-call steps are ``execute_tool``."""
        key = _str(step, "id") or f"step-{len(self.steps)}"
        status = _str(step, "status")
        is_tools = step.get("type") == "tool_calls"
        calls = _path(step, ("step_details", "tool_calls"))
        call_dicts = [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
        tools = [self.proto.tool_types.get(str(c.get("type")), "_other") for c in call_dicts]
        phase = self.steps.get(key)
        if phase is None:
            name = "message_creation"
            if is_tools:
                name = f"execute_tool {tools[0]}" if tools else "execute_tool"
            phase = Phase(
                "step", name, t, key=key, tool_type=(tools[0] if tools else None) if is_tools else None
            )
            phase.attributes["openai.step.type"] = "tool_calls" if is_tools else "message_creation"
            self.steps[key] = phase
            self.emit(PhaseStarted(self.run, phase, t))
        if status in STEP_TERMINAL:
            del self.steps[key]
            if is_tools and tools:
                # Tool types are often only known once the step is done; sinks may rename the span.
                phase.tool_type = tools[0]
                phase.name = f"execute_tool {tools[0]}"
                counted = self.tool_call_ids or ()
                for call, tool in zip(call_dicts, tools, strict=True):
                    if _str(call, "id") not in counted:  # not already counted at requires_action
                        self.tool_call(tool, t)
            self.end_phase(phase, status or "completed", t)

    def item_start(self, item: JSONObject, t: float) -> None:
        kind = _str(item, "type") or "unknown"
        key = _str(item, "id") or f"item-{len(self.items)}"
        if key in self.items:
            return  # a repeated ``added`` for an open item: replacing it would leave its phase open
        tool = self.proto.tool_types.get(kind)
        phase = Phase(
            "output_item",
            f"execute_tool {tool}" if tool else f"output_item {kind}",
            t,
            key=key,
            tool_type=tool,
        )
        phase.attributes["openai.item.type"] = kind
        self.items[key] = phase
        self.emit(PhaseStarted(self.run, phase, t))
        if tool is not None:
            self.tool_call(tool, t)

    def item_end(self, item: JSONObject, t: float) -> None:
        key = _str(item, "id")
        phase = self.items.pop(key, None) if key is not None else None
        if phase is None:
            return
        self.end_phase(phase, _str(item, "status") or "completed", t)

    # -- endings ------------------------------------------------------------------------------
    def finish(self, status: Status, reason: str, t: float) -> None:
        """End the run with ``(status, reason)``. Idempotent: only the first call counts."""
        run = self.run
        if run.outcome is not None:
            return
        phase_status = "completed" if status == "completed" else status
        for phase in (*self.steps.values(), *self.items.values()):
            self.end_phase(phase, phase_status, t)
        self.steps.clear()
        self.items.clear()
        if self.phase is not None:
            self.end_phase(self.phase, "completed" if status != "abandoned" else "abandoned", t)
            self.phase = None
        self.paused = False
        self.streaming = False
        self.tool_call_ids = None
        run.outcome = Outcome(status, reason)
        run.ended_at = t
        self.book.finished(self)
        self.emit(RunFinished(run, run.outcome, t))

    def end_of_stream(self, reason: str, t: float) -> None:
        """The stream carrying this run ended (cleanly or not) before a terminal status."""
        if self.terminal:
            return
        if self.paused or (reason == "poll" and self.last_status in self.proto.statuses):
            # Waiting for tool outputs, or a polled run between two polls: not over yet.
            self.polled = reason == "poll"
            self.book.park(self, t, "abandoned", "ttl_expired")
            return
        if reason == "poll":
            reason = "stream_ended"  # a run object without a status it could wait in
        if self.pending_error is not None:
            self.finish("failed", self.pending_error, t)
            return
        if self.run.api == "chat" and self.run.finish_reasons:
            self._finish_chat(t)
            return
        if self.unknown_status:
            self.finish("unknown", "unknown_status", t)
            return
        snap = _obj(self.run.snapshot)
        if snap is not None and snap.get("background") is True:
            # A background response keeps running server-side; a resume stream may pick it up.
            self.book.park(self, t, "aborted", reason)
            return
        if reason == "stream_ended":
            self.anomaly("missing_terminal", t)
        self.finish("aborted", reason, t)

    def _finish_chat(self, t: float) -> None:
        if any(chat.FINISH_REASONS.get(fr) == "failed" for fr in self.run.finish_reasons):
            # finish_reason "error" with no error object to name a code (one would have ended the
            # run already, see StreamTracker._chat_chunk); it outweighs any other choice's.
            self.finish("failed", "none", t)
            return
        status: Status = "completed"
        reason = "none"
        for fr in self.run.finish_reasons:
            mapped = chat.FINISH_REASONS.get(fr)
            if mapped is None:
                self.anomaly("unknown_status", t, fr)
                status, reason = "unknown", "unknown_status"
            elif mapped == "incomplete":
                status, reason = "incomplete", fr
                break
        self.finish(status, reason, t)


class StreamTracker:
    """Follows one stream: detects the protocol, routes events to runs, settles them at the end.

    Adapters call :meth:`frame` (bytes path) or :meth:`feed` (SDK objects), then :meth:`close`.
    """

    __slots__ = (
        "_drop",
        "_handlers",
        "_heads",
        "_lone_cut",
        "_lone_head",
        "_skip_names",
        "api",
        "book",
        "closed",
        "current",
        "done_seen",
        "expect_run",
        "finished_keys",
        "join_parked",
        "passive",
        "proto",
        "request_model",
        "run_id_hint",
        "runs",
        "session",
        "started_at",
    )

    def __init__(
        self,
        book: RunBook,
        api: Api | None,
        started_at: float,
        run_id_hint: str | None = None,
        *,
        request_model: str | None = None,
        expect_run: bool = False,
        join_parked: bool = False,
    ) -> None:
        self.book = book
        self.api = api
        self.proto: Protocol | None = protocols.get(api) if api is not None else None
        self._skip_names, self._heads, self._drop = _skippable_names(self.proto)
        # The head of the last lone delta chunk skipped the long way ("event: E\ndata: ", or for
        # chat the bytes up to the choices) and its length: the next deltas most likely start the
        # same way (see feed_chunk).
        self._lone_head = b""
        self._lone_cut = 0
        self.started_at = started_at
        # The run the request continues (its id is in the URL): the only id this stream may take
        # over from a parked run. Every other id starts a run of its own (see _ensure).
        self.run_id_hint = run_id_hint
        self.request_model = request_model
        # No request to say which run a stream continues (replays of recorded bodies): a run
        # waiting here under the same id is the one it continues.
        self.join_parked = join_parked
        # The request created (or continued) a run: a body that ends before its first event is
        # still that run, ended aborted (see close).
        self.expect_run = expect_run and api is not None
        self.current: RunTracker | None = None
        self.runs: dict[str, RunTracker] = {}  # multi-run streams (agent turns), pruned as they end
        self.finished_keys: OrderedDict[str, None] = OrderedDict()  # dropped finished turns
        self.closed = False
        self.done_seen = False
        self.passive = False  # another stream is already observing this run
        self.session: JSONObject | None = None  # agent session facts shared by its turns
        self._handlers: dict[str, Callable[[str, float, PayloadLoader, str | None], None]] = {
            "snapshot": self._snapshot,
            "step": self._step,
            "item_start": self._item_start,
            "item_end": self._item_end,
            "agent_item": self._agent_item,
            "chat_chunk": self._chat_chunk,
            "chat_delta": self._chat_delta,
            "error": self._error,
            "session": self._session,
        }

    # -- input ------------------------------------------------------------------------------
    def frame(self, frame: Frame, t: float) -> None:
        """Feed one decoded SSE frame."""
        if self.passive:
            return
        name = frame.event
        if not frame.truncated and frame.data[:6] != "[DONE]" and self.skippable(name, frame.data):
            return
        if frame.truncated:
            self._anomaly("truncated_frame", t, name or "")
            return
        if name is None or name == "message":
            if frame.is_done:
                self.done(t)
                return
            if self.api == "chat" or (self.api is None and frame.data.startswith('{"id":"chatcmpl')):
                name = "chat.completion.chunk"
            else:
                payload = frame.json()
                kind = payload.get("type") if payload is not None else None
                if isinstance(kind, str):
                    name = kind
                elif payload is not None and payload.get("object") == "chat.completion.chunk":
                    name = "chat.completion.chunk"
                else:
                    # The detail goes to logs: say how big the data was, never what it said
                    # (an unknown event's payload may be model output or tool arguments).
                    self._anomaly(
                        "malformed_json" if payload is None else "unknown_event",
                        t,
                        f"unnamed event, {len(frame.data)} chars",
                    )
                    return
        elif frame.is_done:
            # ``event: done`` / ``data: [DONE]`` (Assistants) ends the stream cleanly.
            self.done(t)
            return
        self.dispatch(name, t, frame.json, frame.data)

    def feed_chunk(self, decoder: SSEDecoder, chunk: bytes, now: Callable[[], float]) -> None:
        """Feed raw stream bytes through ``decoder``: the production path (StreamSession).

        While deltas change nothing (the run has its first token and no outcome): a chunk that is
        exactly one plain frame :meth:`skippable` would skip is dropped before any item is built
        (a named one on its bytes alone, a chat chunk on its decoded text; no clock either), as a
        server that flushes once per event sends every delta as a chunk of its own. A chunk that
        starts with the head of the last one dropped is judged on the rest of its bytes only.
        The decoder is told to leave out regions of nothing but deltas (:class:`~runwatch._sse.Drop`).
        What the decoder returns goes to :meth:`frames` at time ``now()``.
        """
        rt = self.current
        if rt is not None and rt.streaming:  # _skipping(), inlined: a call costs ~10 % of this path
            cut = self._lone_cut
            if (  # a chunk that starts as the last lone delta did: only the rest need be read
                cut
                and chunk[:cut] == self._lone_head
                and chunk[-1] == 0x0A == chunk[-2]
                and decoder.idle
                and len(chunk) <= decoder.max_frame_bytes
            ):
                # The head has no CR and ends the way no mark or line can run on across ("data: "
                # or "["), so the chunk is one frame if the body (between the head and the final
                # blank line) has no line break. A named head names a delta (only chat learns
                # heads of unnamed frames); a chat body must have the marks of a plain delta
                # (chat.plain_delta(), inlined).
                body = chunk[cut:-2]
                if 0x0A not in body and 0x0D not in body:
                    if self.api != "chat":
                        return
                    try:
                        text = body.decode()
                    except UnicodeDecodeError:
                        text = ""
                    if (
                        DELTA_MARK in text
                        and NEEDS_LOOK not in text
                        and FINISHED not in text
                        and ERROR_MARK not in text
                    ):
                        return
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
                        chunk[:6] == b"data: "
                        and self.api == "chat"
                        and chat.plain_delta(chunk.decode("utf-8", "replace"))
                    ):
                        # The next chunks of this completion start the same way up to their
                        # choices: learn that head (one of this line's: no mark, no break).
                        cut = chunk.find(b'"choices":[') + 11
                        if cut > 10:
                            self._lone_head = chunk[:cut]
                            self._lone_cut = cut
                        return
                elif chunk[: nl + 7] in self._heads and chunk.find(b"\n", nl + 1) == end:
                    # The first line and the next 7 bytes are a head ("event: E\ndata: "), and the
                    # next newline ends the data line, right before the final blank line. (A set
                    # look-up: bytes.startswith with a tuple of heads costs a buffer request per head.)
                    # The next deltas will most likely have the same head: learn it.
                    self._lone_head = chunk[: nl + 7]
                    self._lone_cut = nl + 7
                    return
            # Deltas change nothing now: regions of nothing but deltas need not be decoded.
            items = decoder.feed_items(chunk, self._drop)
        else:
            items = decoder.feed_items(chunk)
        if items:
            self.frames(items, now())

    def frames(self, items: list[Item], t: float) -> None:
        """Feed what :meth:`SSEDecoder.feed_items` returned: the hot path.

        A plain delta after the first token changes nothing, so it is skipped on its name (or, for
        chat, on its text) without building a Frame; everything else goes through :meth:`frame`.
        Only :meth:`frame` changes what is skippable, so the test is set up again after each one.
        """
        names = self._skipping()
        chat_api = self.api == "chat"
        for item in items:
            if names is not None and type(item) is tuple:
                # skippable(), inlined: this loop runs once per event and a call costs ~15 % here.
                name = item[0]
                if name is None:
                    data = item[1]
                    if (  # chat.plain_delta(), inlined
                        chat_api
                        and chat.DELTA_MARK in data
                        and chat.NEEDS_LOOK not in data
                        and chat.FINISHED not in data
                        and chat.ERROR_MARK not in data
                    ):
                        continue
                elif name in names:
                    continue
            self.frame(Frame(*item) if type(item) is tuple else item, t)  # type: ignore[arg-type,misc]
            names = self._skipping()
            chat_api = self.api == "chat"

    def _skipping(self) -> frozenset[str] | None:
        """The protocol's content-delta names while deltas change nothing (the run has its first
        token and no outcome yet), else None."""
        rt = self.current
        if rt is None or not rt.streaming:
            return None
        return self._skip_names

    def skippable(self, name: str | None, data: str) -> bool:
        """True for an event that changes nothing now: a content delta once the run has its first
        token and no outcome yet (named deltas by their action; chat chunks by their text)."""
        names = self._skipping()
        if names is None:
            return False
        if name is None:
            return self.api == "chat" and chat.plain_delta(data)
        return name in names

    def feed(self, name: str, t: float, payload: PayloadLoader, raw: str | None = None) -> None:
        """Feed one event by name with a lazy payload (SDK objects, replays)."""
        if not self.passive:
            self.dispatch(name, t, payload, raw)

    def body(self, obj: JSONObject, t: float, *, cancel: bool = False) -> None:
        """A whole run object answering a non-streaming call (a create, a poll, a cancel).

        The same outcome contract as a stream: a terminal status ends the run, a waiting one
        (queued, in_progress, requires_action) leaves it for the next poll or continuation
        (:meth:`close` with ``"poll"`` parks it), anything else is an anomaly and an honest end.
        A cancel the server accepted (``cancelling``) ends the run ``cancelled``.
        """
        proto = self.proto
        if self.passive or proto is None:
            return
        kind = obj.get("object")
        expected = {"responses": "response", "chat": "chat.completion", "assistants": "thread.run"}
        if kind != expected.get(proto.api):
            self._anomaly("malformed_json" if kind is None else "unknown_event", t, f"{kind} body")
            self._ensure(self.run_id_hint, t)
            return
        rt = self._run_for(obj, t, obj)
        if rt is None:
            return
        rt.identify(obj)
        if proto.api == "chat":
            self._chat_completion(rt, obj, t)
            return
        if proto.api == "responses" and rt.run.tool_calls == 0 and not rt.items:
            # The output items a stream would have announced one by one (tool calls count here).
            output = obj.get("output")
            for item in output if isinstance(output, list) else ():
                tool = proto.tool_types.get(_str(item, "type") or "") if isinstance(item, dict) else None
                if tool is not None:
                    rt.tool_call(tool, t)
        rt.apply_snapshot(obj, t)
        if cancel and not rt.terminal:
            rt.finish("cancelled", "none", t)

    def _chat_completion(self, rt: RunTracker, obj: JSONObject, t: float) -> None:
        """A non-streaming chat completion: its choices' finish reasons, tool calls and usage."""
        choices = obj.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict):
                continue
            message = _obj(choice.get("message"))
            calls = message.get("tool_calls") if message is not None else None
            if isinstance(calls, list):
                for call in calls:
                    if isinstance(call, dict):
                        rt.tool_call("function", t)
            elif message is not None and _obj(message.get("function_call")):
                rt.tool_call("function", t)
            finish = choice.get("finish_reason")
            if isinstance(finish, str) and finish:
                rt.run.finish_reasons.append(finish)
        rt.set_usage(_obj(obj.get("usage")))
        rt.end_of_stream("stream_ended", t)

    def dispatch(self, name: str, t: float, load: PayloadLoader, raw: str | None) -> None:
        proto = self.proto
        if proto is None:
            api = protocols.for_event(name)
            if api is None:
                if name == "error":
                    self._error(name, t, load, raw)
                    return
                self._anomaly("unknown_event", t, name)
                return
            self.api = api
            proto = self.proto = protocols.get(api)
            self._skip_names, self._heads, self._drop = _skippable_names(proto)
        action = proto.events.get(name)
        if action == "token":
            rt = self.current
            if rt is None:
                rt = self._ensure(self.run_id_hint, t)
                if rt is None:
                    return
            if rt.run.first_token_at is None and rt.run.outcome is None:
                rt.first_token(t)
            elif rt.run.outcome is not None:
                rt.anomaly("event_after_terminal", t, name)
            return
        if action == "ignore":
            return
        if action is None:
            self._anomaly("unknown_event", t, name)
            if name.startswith(proto.prefixes):
                # A future lifecycle event (``thread.run.paused``) still carries the run's status.
                self._unknown_lifecycle(name, t, load)
            return
        self._handlers[action](name, t, load, raw)

    def done(self, t: float) -> None:
        """``[DONE]``: the server says the stream is complete, and the SDK stops reading there
        (whatever follows, if it reads it at all while draining, never reaches the caller). The
        stream's runs are settled now, as the caller saw them: the same outcome whatever the
        chunking and however much of the rest a drain happens to read."""
        self.done_seen = True
        for rt in (*self.runs.values(), self.current):
            if rt is not None:
                rt.end_of_stream("stream_ended", t)

    def close(self, reason: str, t: float) -> None:
        """The stream is over. ``reason``: stream_ended, client_closed, transport_error, cancelled.

        Runs without a terminal are settled: paused ones are parked for their continuation,
        the rest end ``aborted`` (or ``failed`` after an error event). Idempotent.
        """
        if self.closed:
            return
        self.closed = True
        # A passive stream still settles the runs it started before it went passive.
        if self.done_seen:
            reason = "stream_ended"
        if self.expect_run and not self.passive and self.current is None and not self.runs:
            # Accepted (a 2xx) and then lost before the first event: a run that ended aborted.
            self._ensure(self.run_id_hint, t)
        trackers = list(self.runs.values())
        if self.current is not None and self.current not in trackers:
            trackers.append(self.current)
        for rt in trackers:
            rt.end_of_stream(reason, t)
        self.runs.clear()
        self.current = None

    # -- routing ----------------------------------------------------------------------------
    def _anomaly(self, kind: str, t: float, detail: str = "") -> None:
        rt = self.current
        run = rt.run if rt is not None else None
        self.book.emit(Anomaly(self.api, kind, run, t, detail))

    def _ensure(self, run_id: str | None, t: float, key: str | None = None) -> RunTracker | None:
        """The tracker for ``run_id`` (or the stream's current run), starting or resuming it."""
        proto = self.proto
        if proto is None:
            return None
        if key is not None:
            rt = self.runs.get(key)
            if rt is not None:
                self.current = rt
                return rt
            rt = self.current
            if rt is not None and rt.run.run_id is None and not rt.terminal:
                # A delta arrived before the turn's first lifecycle event (a stream joined mid-turn):
                # the run it started is this turn.
                rt.run.run_id = key
                self.book.saw_id(rt, t)
                self.runs[key] = rt
                return rt
        else:
            rt = self.current
            if rt is not None and (
                run_id is None or rt.run.run_id == run_id or (rt.run.run_id is None and not rt.terminal)
            ):
                # (An anonymous run that already ended is not named later: the id starts a new run.)
                if rt.run.run_id is None and run_id is not None:
                    rt.run.run_id = run_id
                    self.book.saw_id(rt, t)
                return rt
        if run_id is not None:
            for other in self.runs.values():
                # A run this stream already carries (interleaved with another run's events).
                if other.run.run_id == run_id and not other.terminal:
                    self._adopt(other, key)
                    return other
            if run_id == self.run_id_hint or self.join_parked:
                # The request names this run (submit_tool_outputs, a resume, a poll): the same
                # run if it waits here. Any other id, even one seen before, is a new run.
                resumed = self.book.resume(proto.api, run_id, t)
                if resumed is not None:
                    self._adopt(resumed, key)
                    return resumed
        started = t if key is not None else self.started_at
        run = Run(api=proto.api, started_at=min(started, t), run_id=run_id, request_model=self.request_model)
        if self.session is not None:
            run.session_id = _str(self.session, "id")
            agent = _obj(self.session.get("agent"))
            run.model = _str(agent, "model") if agent is not None else None
        rt = RunTracker(proto, run, self.book.emit, self.book)
        self.book.emit(RunStarted(run, run.started_at))
        if run_id is not None:
            self.book.saw_id(rt, t)
        self._adopt(rt, key)
        return rt

    def _adopt(self, rt: RunTracker, key: str | None) -> None:
        old = self.current
        if old is not None and old is not rt and not old.terminal and old not in self.runs.values():
            self.runs[str(id(old))] = old  # keep it so close() settles it
        if key is not None:
            if len(self.runs) >= _PRUNE_AT:
                self._prune()
            self.runs[key] = rt
        self.current = rt

    def _prune(self) -> None:
        # A session stream may carry turns for hours: drop finished turns, remember their keys
        # (bounded) so a late event for one is still an anomaly rather than a new run.
        for key in [k for k, rt in self.runs.items() if rt.terminal]:
            del self.runs[key]
            self.finished_keys[key] = None
        while len(self.finished_keys) > _FINISHED_KEYS_MAX:
            self.finished_keys.popitem(last=False)

    def _run_for(self, payload: JSONObject, t: float, snap: JSONObject | None) -> RunTracker | None:
        proto = self.proto
        assert proto is not None
        if proto.run_key is not None:
            key = _str(payload, proto.run_key) or (_str(snap, "id") if snap is not None else None)
            if key is None:
                return self.current
            rt = self.runs.get(key)
            if rt is not None and rt.terminal:
                if rt.pending_error is None:  # a terminal after an error event is expected
                    rt.anomaly("event_after_terminal", t)
                return None
            if rt is None and key in self.finished_keys:
                self._anomaly("event_after_terminal", t)
                return None
            return self._ensure(key, t, key=key)
        run_id = _str(snap, "id") if snap is not None else None
        rt = self.current
        if rt is not None and rt.terminal and (run_id is None or run_id == rt.run.run_id):
            if rt.pending_error is None:  # a terminal after an error event is expected
                rt.anomaly("event_after_terminal", t)
            return None
        return self._ensure(run_id or self.run_id_hint, t)

    # -- actions ----------------------------------------------------------------------------
    def _payload(self, load: PayloadLoader, t: float) -> JSONObject | None:
        payload = load()
        if payload is None:
            self._anomaly("malformed_json", t)
        return payload

    def _snapshot(self, name: str, t: float, load: PayloadLoader, raw: str | None) -> None:
        payload = self._payload(load, t)
        if payload is None:
            return
        proto = self.proto
        assert proto is not None
        snap = _obj(_path(payload, proto.snapshot_key)) if proto.snapshot_key else payload
        if snap is None:
            self._anomaly("malformed_json", t, name)
            return
        rt = self._run_for(payload, t, snap)
        if rt is not None:
            rt.apply_snapshot(snap, t, _obj(payload.get("usage")))

    def _unknown_lifecycle(self, name: str, t: float, load: PayloadLoader) -> None:
        proto = self.proto
        assert proto is not None
        payload = load()
        if payload is None:
            return
        snap = _obj(_path(payload, proto.snapshot_key)) if proto.snapshot_key else payload
        if (
            snap is None
            or snap.get("object") not in _SNAPSHOT_OBJECTS
            or not isinstance(snap.get("status"), str)
        ):
            return
        rt = self._run_for(payload, t, snap)
        if rt is not None:
            rt.apply_snapshot(snap, t)

    def _session(self, name: str, t: float, load: PayloadLoader, raw: str | None) -> None:
        payload = load()
        session = _obj(payload.get("session")) if payload is not None else None
        if session is not None:
            self.session = session

    def _step(self, name: str, t: float, load: PayloadLoader, raw: str | None) -> None:
        payload = self._payload(load, t)
        if payload is None:
            return
        rt = self._run_for(
            payload, t, {"id": payload["run_id"]} if isinstance(payload.get("run_id"), str) else None
        )
        if rt is not None:
            rt.step(payload, t)

    def _item_start(self, name: str, t: float, load: PayloadLoader, raw: str | None) -> None:
        payload = self._payload(load, t)
        item = _obj(payload.get("item")) if payload is not None else None
        rt = self._run_for(payload, t, None) if payload is not None else None
        if rt is not None and item is not None:
            rt.item_start(item, t)

    def _item_end(self, name: str, t: float, load: PayloadLoader, raw: str | None) -> None:
        payload = self._payload(load, t)
        item = _obj(payload.get("item")) if payload is not None else None
        rt = self._run_for(payload, t, None) if payload is not None else None
        if rt is not None and item is not None:
            rt.item_end(item, t)

    def _agent_item(self, name: str, t: float, load: PayloadLoader, raw: str | None) -> None:
        payload = self._payload(load, t)
        if payload is None:
            return
        rt = self._run_for(payload, t, None)
        item = _obj(payload.get("item"))
        if rt is None or item is None:
            return
        tool = protocols.TOOL_ITEM_TYPES.get(_str(item, "type") or "")
        if tool is not None:
            rt.tool_call(tool, t)

    def _chat_delta(self, name: str, t: float, load: PayloadLoader, raw: str | None) -> None:
        rt = self.current
        if rt is None or rt.run.first_token_at is None:
            # The first chunks say which run this is and carry the first token: look at them.
            self._chat_chunk(name, t, load, raw)

    def _chat_chunk(self, name: str, t: float, load: PayloadLoader, raw: str | None) -> None:
        rt = self.current
        if rt is not None and raw is not None and rt.run.first_token_at is not None and chat.plain_delta(raw):
            return  # a plain content delta: nothing to learn from it
        payload = self._payload(load, t)
        if payload is None:
            return
        if rt is None or rt.terminal:
            rt = self._run_for(payload, t, payload)
            if rt is None:
                return
            rt.identify(payload)
        elif rt.run.model is None:
            rt.identify(payload)
        choices = payload.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                if isinstance(choice, dict):
                    self._chat_choice(rt, choice, t)
        usage = _obj(payload.get("usage"))
        if usage is not None:
            rt.set_usage(usage)
        if payload.get("error"):
            # An in-band error (a proxy's: OpenRouter) ends the run as an error event does. The
            # SDK raises on it and closes the stream, so it is the last chunk anyone reads.
            rt.pending_error = code = error_code(payload)
            rt.finish("failed", code, t)

    def _chat_choice(self, rt: RunTracker, choice: JSONObject, t: float) -> None:
        delta = _obj(choice.get("delta"))
        if delta is not None:
            calls = delta.get("tool_calls")
            if rt.run.first_token_at is None and (
                delta.get("content") or delta.get("refusal") or calls or delta.get("function_call")
            ):
                rt.first_token(t)
            if isinstance(calls, list):
                for call in calls:
                    # A tool call's first chunk carries its id; later chunks only arguments.
                    if isinstance(call, dict) and call.get("id"):
                        rt.tool_call("function", t)
            elif (
                isinstance(delta.get("function_call"), dict)
                and _obj(delta.get("function_call"))
                and _str(_obj(delta.get("function_call")) or {}, "name")
            ):
                rt.tool_call("function", t)
        finish = choice.get("finish_reason")
        if isinstance(finish, str) and finish:
            rt.run.finish_reasons.append(finish)

    def _error(self, name: str, t: float, load: PayloadLoader, raw: str | None) -> None:
        payload = self._payload(load, t)
        code = error_code(payload) if payload is not None else "none"
        rt = self.current
        if rt is None or rt.terminal:
            if self.proto is None:
                # An error before anything identified the protocol: nothing to attribute it to.
                self._anomaly("unknown_api", t, code)
                return
            rt = self._ensure(self.run_id_hint, t)
            if rt is None:
                return
        if rt.terminal:
            return
        # An error event ends the run (the SDK raises on it and may never read further).
        rt.pending_error = code
        rt.paused = False
        rt.finish("failed", code, t)


class RunBook:
    """Runs that outlive one HTTP exchange, and the ids recently started. One per observer.

    What is one run is decided here and in :meth:`StreamTracker._ensure`: a create starts a run
    whatever id it carries (an id seen again is a new run plus a ``duplicate_id`` anomaly: Ollama
    draws chat ids from 999 values, vLLM takes the client's request id, caches replay theirs);
    only a request naming a run in its URL joins that run (:meth:`resume`); a poll follows a run
    this process created or saw unfinished (:meth:`admit_body`). Double observation of one HTTP
    exchange is the adapters' to detect (by the exchange, never by the id).

    Thread-safe: many streams on many threads share one book. The lock is re-entrant, and no
    finalizer runs inside it (see :func:`runwatch._observer.close_later`). Bounded: parked runs
    expire after the TTL; recent and sighted ids are fixed-size rings.
    """

    def __init__(self, emit: Emit, ttl: float = DEFAULT_TTL, recent_max: int = RECENT_MAX) -> None:
        self.emit = emit
        self.ttl = ttl
        self.recent_max = recent_max
        self._lock = threading.RLock()
        self._parked: dict[tuple[str, str], tuple[RunTracker, Status, str]] = {}
        #: Ids of runs started here, most recent last (duplicate_id; polls of our own runs).
        self._recent: OrderedDict[tuple[str, str], None] = OrderedDict()
        #: Runs first seen unfinished by a poll of someone else's run: when (followed if finished).
        self._sighted: OrderedDict[tuple[str, str], float] = OrderedDict()

    def stream(
        self,
        api: Api | None,
        t: float,
        run_id_hint: str | None = None,
        *,
        request_model: str | None = None,
        expect_run: bool = False,
        join_parked: bool = False,
    ) -> StreamTracker:
        """A tracker for a new stream starting at ``t``. Expired parked runs are settled first."""
        if self._parked:
            self.sweep(t)
        return StreamTracker(
            self,
            api,
            t,
            run_id_hint,
            request_model=request_model,
            expect_run=expect_run,
            join_parked=join_parked,
        )

    def is_parked(self, api: str, run_id: str) -> bool:
        return (api, run_id) in self._parked

    @property
    def parked(self) -> int:
        return len(self._parked)

    def saw_id(self, rt: RunTracker, t: float) -> None:
        """``rt`` (a new run) carries its id: remember it; an id seen before is an anomaly."""
        run_id = rt.run.run_id
        if run_id is None:
            return
        key = (rt.run.api, run_id)
        with self._lock:
            seen = key in self._recent
            if seen:
                self._recent.move_to_end(key)
            else:
                self._recent[key] = None
                if len(self._recent) > self.recent_max:
                    self._recent.popitem(last=False)
            self._sighted.pop(key, None)
        if seen:
            rt.anomaly("duplicate_id", t, run_id)

    def admit_body(self, kind: str, api: Api, run_id: str | None, snap: JSONObject, t: float) -> bool:
        """Whether a whole run object (a non-streaming answer) is a run to follow here.

        ``kind`` is what the request did (:data:`runwatch._endpoints.Kind`). A create or a
        continuation always is. A poll or a cancel is when the run waits here (parked); a poll of
        a run not started here is followed only once seen unfinished and then finished (it then
        starts at its first sighting, see :meth:`sighted_at`); of a run started here and not
        parked (still streaming, or over) it is a read. Anything else is a read, not a run.
        """
        if kind in ("create", "continue"):
            return True
        if run_id is None or kind not in ("poll", "cancel"):
            return False
        key = (api, run_id)
        terminal = _is_terminal(api, snap)
        with self._lock:
            if key in self._parked:
                return True
            if kind == "cancel" or key in self._recent:
                return False
            first = self._sighted.get(key)
            if not terminal:
                if first is None:
                    self._sighted[key] = t
                    if len(self._sighted) > self.recent_max:
                        self._sighted.popitem(last=False)
                return False
            return first is not None

    def sighted_at(self, api: str, run_id: str) -> float | None:
        """When a poll first saw ``run_id`` unfinished (a run not started here), and forget it."""
        with self._lock:
            return self._sighted.pop((api, run_id), None)

    def finished(self, rt: RunTracker) -> None:
        run_id = rt.run.run_id
        if run_id is None or not self._parked:
            return
        key = (rt.run.api, run_id)
        with self._lock:
            entry = self._parked.get(key)
            if entry is not None and entry[0] is rt:
                del self._parked[key]

    def park(self, rt: RunTracker, t: float, status: Status, reason: str) -> None:
        """Keep ``rt`` for a continuation stream; it ends ``(status, reason)`` after the TTL."""
        if rt.run.run_id is None:
            rt.finish(status if status != "abandoned" else "aborted", "stream_ended", t)
            return
        key = (rt.run.api, rt.run.run_id)
        rt.parked_until = t + self.ttl
        with self._lock:
            previous = self._parked.pop(key, None)
            self._parked[key] = (rt, status, reason)
        if previous is not None and previous[0] is not rt:
            # Two runs wait under one id (a server reusing ids): only one can be continued by
            # it. The older one ends now with its expiry outcome (it would never end otherwise).
            previous[0].finish(previous[1], previous[2], t)

    def resume(self, api: Api, run_id: str, t: float) -> RunTracker | None:
        """The parked run ``run_id``, now continued by a stream; None if nothing is parked."""
        with self._lock:
            entry = self._parked.pop((api, run_id), None)
        if entry is None:
            return None
        rt = entry[0]
        rt.parked_until = None
        if not rt.paused and not rt.polled:
            rt.emit(RunResumed(rt.run, t))
        return rt

    def sweep(self, now: float) -> int:
        """End parked runs whose TTL has passed (``abandoned`` for requires_action). Returns count."""
        with self._lock:
            # A copy first (one C-level step): a collection starting while we iterate could run a
            # finalizer that parks or resumes a run on this thread (the lock is re-entrant).
            expired = [
                (key, entry)
                for key, entry in self._parked.copy().items()
                if entry[0].parked_until is not None and entry[0].parked_until <= now
            ]
            for key, _ in expired:
                del self._parked[key]
        for _, (rt, status, reason) in expired:
            rt.finish(status, reason, now)
        return len(expired)

    def flush(self, now: float) -> int:
        """End every parked run now, as if its TTL had passed (replays, shutdown)."""
        with self._lock:
            for rt, _, _ in self._parked.copy().values():
                rt.parked_until = now
        return self.sweep(now)


def _is_terminal(api: Api, snap: JSONObject) -> bool:
    """True if the run object ``snap`` of ``api`` says its run is over."""
    status = snap.get("status")
    entry = protocols.get(api).statuses.get(status) if isinstance(status, str) else None
    if entry is not None:
        return entry[0] == "terminal"
    return api == "chat"  # a chat completion object is only ever returned whole
