"""Stream routing: one stream's events to the runs they belong to.

A :class:`StreamTracker` follows one stream (an HTTP response, an SDK stream object, a recorded
body, or one non-streaming answer): it detects the protocol, sends each event to its run's
:class:`~runwatch._run.RunTracker` (agent session streams carry many turns), and when the stream
ends settles every run it carried. Which id is which run is asked of the run book
(:mod:`runwatch._identity`); what a delta is, of the protocol's delta filter.

It takes decoded frames (:meth:`StreamTracker.frame`) or named events with a lazy payload
(:meth:`StreamTracker.feed`), never bytes: the byte-level fast path is :mod:`runwatch._skip`'s.
Nothing here raises on unexpected input: it becomes an anomaly and, where a run must end, an
honest outcome.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from . import protocols
from ._events import Anomaly, Api, JSONObject, PayloadLoader, Run, RunStarted
from ._payload import as_obj, error_code, get_int, get_path, get_str, outline
from ._run import ERRORED, STREAMING, RequestFacts, RunTracker
from ._sse import Frame
from .protocols import DeltaFilter, Protocol, chat, responses

if TYPE_CHECKING:
    from ._identity import RunBook

_PRUNE_AT: Final = 16  # open + finished runs kept per stream before finished ones are dropped
_FINISHED_KEYS_MAX: Final = 1024
_SNAPSHOT_OBJECTS: Final = frozenset({"thread.run", "response", "agent.session.turn"})

#: Close reasons adapters pass to :meth:`StreamTracker.close` (``poll``: a run object read
#: without a stream, which waits for the next poll).
CLOSE_REASONS: Final = frozenset(
    {"stream_ended", "client_closed", "transport_error", "cancelled", "handler_error", "poll"}
)


class StreamTracker:
    """Follows one stream: detects the protocol, routes events to runs, settles them at the end.

    Adapters call :meth:`frame` (bytes path) or :meth:`feed` (SDK objects), then :meth:`close`.
    """

    __slots__ = (
        "api",
        "book",
        "closed",
        "current",
        "deltas",
        "deltas_numbered",
        "done_seen",
        "expect_run",
        "fed",
        "finished_keys",
        "join_parked",
        "passive",
        "proto",
        "request",
        "request_model",
        "run_id_hint",
        "runs",
        "seq",
        "seq_gapped",
        "session",
        "skipped",
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
        request: RequestFacts | None = None,
    ) -> None:
        self.book = book
        self.api = api
        self.proto: Protocol | None = protocols.get(api) if api is not None else None
        # What changes nothing once a run has its first token (None until the protocol is known).
        self.deltas: DeltaFilter | None = protocols.deltas(api) if api is not None else None
        self.started_at = started_at
        # The run the request continues (its id is in the URL): the only id this stream may take
        # over from a parked run. Every other id starts a run of its own (see _ensure).
        self.run_id_hint = run_id_hint
        self.request_model = request_model
        # What the request asked that its run can be checked against (max tokens, usage).
        self.request = request
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
        self.fed = False  # fed SDK objects (feed), which never show a ``[DONE]``
        # Responses sequence numbers: the last one read, and whether a gap was already reported
        # (once a stream).
        self.seq: int | None = None
        self.seq_gapped = False
        # Deltas left out unread since the last event read (by :meth:`frame`, by the byte-level
        # fast path in :mod:`runwatch._skip`, or by an adapter asking :meth:`skip`): the sequence
        # numbers they took. Only named (Responses) deltas are numbered; the byte path's chat-only
        # shortcuts do not count. A stream whose deltas read carry no number (a server that numbers
        # only lifecycle events) skipped none that took one.
        self.skipped = 0
        self.deltas_numbered = True
        self.session: JSONObject | None = None  # agent session facts shared by its turns

    # -- input ------------------------------------------------------------------------------
    def frame(self, frame: Frame, t: float) -> None:
        """Feed one decoded SSE frame."""
        if self.passive:
            return
        name = frame.event
        if not frame.truncated and frame.data[:6] != "[DONE]" and self.skip(name, frame.data):
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
                elif payload is not None and chat.is_chunk(payload):
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

    @property
    def skipping(self) -> DeltaFilter | None:
        """The protocol's delta filter while deltas change nothing (the current run has its first
        token and no outcome yet), else None."""
        rt = self.current
        return self.deltas if rt is not None and rt.state == STREAMING else None

    def skip(self, name: str | None, data: str) -> bool:
        """True for an event that changes nothing now (see :attr:`skipping`), which the caller
        then leaves out: it is counted in :attr:`skipped`."""
        deltas = self.skipping
        if deltas is not None and deltas.frame(name, data):
            self.skipped += 1
            return True
        return False

    def feed(self, name: str, t: float, payload: PayloadLoader, raw: str | None = None) -> None:
        """Feed one event by name with a lazy payload (SDK objects)."""
        if not self.passive:
            self.fed = True
            self.dispatch(name, t, payload, raw)

    def unknown(self, detail: str, t: float) -> None:
        """Something that names no event (an SDK item of a type nobody knows): an
        ``unknown_event`` anomaly, ``detail`` saying what it was (never its content)."""
        if not self.passive:
            self._anomaly("unknown_event", t, detail)

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
                tool = proto.tool_types.get(get_str(item, "type") or "") if isinstance(item, dict) else None
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
            message = as_obj(choice.get("message"))
            calls = message.get("tool_calls") if message is not None else None
            if isinstance(calls, list):
                for call in calls:
                    if isinstance(call, dict):
                        rt.tool_call("function", t)
            elif message is not None and as_obj(message.get("function_call")):
                rt.tool_call("function", t)
            finish = choice.get("finish_reason")
            if isinstance(finish, str) and finish:
                rt.run.finish_reasons.append(finish)
        rt.set_usage(as_obj(obj.get("usage")))
        if chat.prompt_filtered(obj):
            rt.prompt_filtered = True
        rt.end_of_stream("stream_ended", t, clean=True)  # a whole body: the server's own end

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
            self.deltas = protocols.deltas(api)
        if proto.api == "responses":
            load = self._sequence(name, t, load, raw)
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
        _HANDLERS[action](self, name, t, load, raw)

    def done(self, t: float) -> None:
        """``[DONE]``: the server says the stream is complete, and the SDK stops reading there
        (whatever follows, if it reads it at all while draining, never reaches the caller). The
        stream's runs are settled now, as the caller saw them: the same outcome whatever the
        chunking and however much of the rest a drain happens to read."""
        self.done_seen = True
        for rt in (*self.runs.values(), self.current):
            if rt is not None:
                rt.end_of_stream("stream_ended", t, clean=True)

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
            # Accepted (a 2xx) and then lost before the first event: a run that ended aborted
            # (or, a chat body of nothing but ``[DONE]``, one that completed saying nothing).
            rt = self._ensure(self.run_id_hint, t)
            if rt is not None and self.done_seen:
                rt.end_of_stream(reason, t, clean=True)
        trackers = list(self.runs.values())
        if self.current is not None and self.current not in trackers:
            trackers.append(self.current)
        for rt in trackers:
            # SDK objects show no ``[DONE]``: the SDK stops at it or at the end of the body alike.
            # Its end of iteration counts as the server's end once the server made its last
            # report (a finish reason, or the usage that follows it); before that, as a cut.
            clean = (
                self.fed and reason == "stream_ended" and bool(rt.run.finish_reasons or rt.run.usage.items())
            )
            rt.end_of_stream(reason, t, clean=clean)
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
            if rt is not None and (run_id is None or rt.run.run_id == run_id or not rt.terminal):
                # One create, one run: an unfinished run keeps whatever id the stream names next
                # (an anonymous run that already ended is not named later: the id starts a new run).
                self._rename(rt, run_id, t)
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
            run.session_id = get_str(self.session, "id")
            agent = as_obj(self.session.get("agent"))
            run.model = get_str(agent, "model") if agent is not None else None
        rt = RunTracker(proto, run, self.book.emit, self.book, self.request)
        self.book.emit(RunStarted(run, run.started_at))
        if run_id is not None:
            self.book.saw_id(rt, t)
        self._adopt(rt, key)
        return rt

    def _rename(self, rt: RunTracker, run_id: str | None, t: float) -> None:
        """The stream names ``rt`` (an unfinished run of a single-run stream) ``run_id``: an
        anonymous run takes it; a run with another id keeps its first one, and the change is an
        anomaly (a proxy rotating the response id mid-stream), said once per run."""
        if run_id is None or run_id == rt.run.run_id:
            return
        if rt.run.run_id is None:
            rt.run.run_id = run_id
            self.book.saw_id(rt, t)
        elif not rt.id_changed:
            rt.id_changed = True
            rt.anomaly("id_changed", t, f"{rt.run.run_id} -> {run_id}")

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
            key = get_str(payload, proto.run_key) or (get_str(snap, "id") if snap is not None else None)
            if key is None:
                if self.current is None:  # no turn named, none going on: nothing to attribute it to
                    self._anomaly("malformed_json", t, f"an event without its {proto.run_key}")
                return self.current
            rt = self.runs.get(key)
            if rt is not None and rt.terminal:
                if rt.state != ERRORED:  # a terminal after an error event is expected
                    rt.anomaly("event_after_terminal", t)
                return None
            if rt is None and key in self.finished_keys:
                self._anomaly("event_after_terminal", t)
                return None
            return self._ensure(key, t, key=key)
        run_id = get_str(snap, "id") if snap is not None else None
        rt = self.current
        if rt is not None and rt.terminal and (run_id is None or run_id == rt.run.run_id):
            if rt.state != ERRORED:  # a terminal after an error event is expected
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
        # Read from bytes, a run object is decoded without its long strings (the answer): what
        # reading it costs does not grow with the answer (see _payload.outline).
        payload = self._payload(load if raw is None else lambda: outline(raw), t)
        if payload is None:
            return
        proto = self.proto
        assert proto is not None
        snap = as_obj(get_path(payload, proto.snapshot_key)) if proto.snapshot_key else payload
        if snap is None:
            self._anomaly("malformed_json", t, name)
            return
        rt = self._run_for(payload, t, snap)
        if rt is None:
            return
        status = snap.get("status")
        said = name.rpartition(".")[2]
        if isinstance(status, str) and status != said and proto.statuses.get(said, ("",))[0] == "terminal":
            # A terminal event whose run says otherwise (vLLM: ``response.completed`` carrying an
            # ``incomplete`` response). The run's own status decides, as the SDK's final run does.
            rt.anomaly("status_mismatch", t, f"{name} with status {status}")
        rt.apply_snapshot(snap, t, as_obj(payload.get("usage")))

    def _unknown_lifecycle(self, name: str, t: float, load: PayloadLoader) -> None:
        proto = self.proto
        assert proto is not None
        payload = load()
        if payload is None:
            return
        snap = as_obj(get_path(payload, proto.snapshot_key)) if proto.snapshot_key else payload
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
        payload = self._payload(load, t)
        session = self._part(payload, "session", name, t) if payload is not None else None
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

    def _part(self, payload: JSONObject, key: str, name: str, t: float) -> JSONObject | None:
        """The object an event carries under ``key`` (its item, its session); an event without
        one is malformed, and says so."""
        part = as_obj(payload.get(key))
        if part is None:
            self._anomaly("malformed_json", t, f"{name} without its {key}")
        return part

    def _item_start(self, name: str, t: float, load: PayloadLoader, raw: str | None) -> None:
        payload = self._payload(load, t)
        if payload is None:
            return
        rt = self._run_for(payload, t, None)
        item = self._part(payload, "item", name, t) if rt is not None else None
        if rt is not None and item is not None:
            rt.item_start(item, t)

    def _item_end(self, name: str, t: float, load: PayloadLoader, raw: str | None) -> None:
        payload = self._payload(load, t)
        if payload is None:
            return
        rt = self._run_for(payload, t, None)
        item = self._part(payload, "item", name, t) if rt is not None else None
        if rt is not None and item is not None:
            rt.item_end(item, t)

    def _agent_item(self, name: str, t: float, load: PayloadLoader, raw: str | None) -> None:
        payload = self._payload(load, t)
        if payload is None:
            return
        rt = self._run_for(payload, t, None)
        item = self._part(payload, "item", name, t) if rt is not None else None
        if rt is None or item is None:
            return
        tool = protocols.TOOL_ITEM_TYPES.get(get_str(item, "type") or "")
        if tool is not None:
            rt.tool_call(tool, t)

    def _chat_delta(self, name: str, t: float, load: PayloadLoader, raw: str | None) -> None:
        rt = self.current
        if rt is None or rt.run.first_token_at is None:
            # The first chunks say which run this is and carry the first token: look at them.
            self._chat_chunk(name, t, load, raw)

    def _chat_chunk(self, name: str, t: float, load: PayloadLoader, raw: str | None) -> None:
        rt = self.current
        deltas = self.deltas
        if (
            rt is not None
            and raw is not None
            and rt.run.first_token_at is not None
            and deltas is not None
            and deltas.frame(None, raw)
        ):
            return  # a plain content delta: nothing to learn from it
        payload = self._payload(load, t)
        if payload is None:
            return
        if rt is None or rt.terminal:
            rt = self._run_for(payload, t, payload)
            if rt is None:
                return
            rt.identify(payload)
        else:
            self._rename(rt, get_str(payload, "id"), t)
            if rt.run.model is None:
                rt.identify(payload)
        if chat.prompt_filtered(payload):
            rt.prompt_filtered = True
        choices = payload.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                if isinstance(choice, dict):
                    self._chat_choice(rt, choice, t)
        usage = as_obj(payload.get("usage"))
        if usage is not None:
            rt.set_usage(usage)
        if payload.get("error"):
            # An in-band error (a proxy's: OpenRouter) ends the run as an error event does. The
            # SDK raises on it and closes the stream, so it is the last chunk anyone reads.
            rt.fail(error_code(payload), t)

    def _chat_choice(self, rt: RunTracker, choice: JSONObject, t: float) -> None:
        delta = as_obj(choice.get("delta"))
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
                and as_obj(delta.get("function_call"))
                and get_str(as_obj(delta.get("function_call")) or {}, "name")
            ):
                rt.tool_call("function", t)
        finish = choice.get("finish_reason")
        if isinstance(finish, str) and finish:
            rt.run.finish_reasons.append(finish)

    def _sequence(self, name: str, t: float, load: PayloadLoader, raw: str | None) -> PayloadLoader:
        """Check a Responses event's ``sequence_number`` against the one before it on this stream
        (returns the loader to use from now on). Numbers must rise by exactly one per event: one
        more than the last event read plus the deltas left out unread since it (:attr:`skipped`,
        counted wherever they are skipped). A stream that breaks the rule is reported once:
        ``sequence_gap``. Bytes are read for the number without parsing; an SDK object's payload
        is dumped once, here, for whoever reads it next."""
        if raw is not None:
            seq = responses.sequence_number(raw)
        else:
            payload = load()
            seq = get_int(payload, "sequence_number") if payload is not None else None
            load = lambda: payload  # noqa: E731 - dumped once
        if seq is None:
            # Unnumbered (a server of its own): if a delta, the skipped ones took no number either.
            if self.proto is not None and self.proto.events.get(name) == "token":
                self.deltas_numbered = False
            return load
        last = self.seq
        skipped = self.skipped if self.deltas_numbered else 0
        self.skipped = 0
        if last is None or seq == last + 1 + skipped:
            self.seq = seq
            return load
        if not self.seq_gapped:
            # A gateway that dropped events (GoModel's guardrails), among deltas or not, or
            # numbered several events alike (LiteLLM's default of 0).
            self.seq_gapped = True
            self._anomaly("sequence_gap", t, f"{name}: {last} + {skipped} skipped -> {seq}")
        self.seq = max(last + skipped, seq)
        return load

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
        rt.fail(code, t)


#: What each protocol action runs (one table for every tracker, not nine bound methods each).
_HANDLERS: Final[dict[str, Callable[[StreamTracker, str, float, PayloadLoader, str | None], None]]] = {
    "snapshot": StreamTracker._snapshot,
    "step": StreamTracker._step,
    "item_start": StreamTracker._item_start,
    "item_end": StreamTracker._item_end,
    "agent_item": StreamTracker._agent_item,
    "chat_chunk": StreamTracker._chat_chunk,
    "chat_delta": StreamTracker._chat_delta,
    "error": StreamTracker._error,
    "session": StreamTracker._session,
}
