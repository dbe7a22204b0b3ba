"""One run's lifecycle: its state, its phases, its one outcome.

A :class:`RunTracker` is told what the protocol said about its run (a snapshot, a status, a step,
an output item, the first token, an error) and turns it into transitions for the sinks. Its state
is ONE field, changed only here and only along :data:`TRANSITIONS`:

====================  ==========================================================================
``live``              being read, no first token yet (every event matters)
``streaming``         being read, first token seen: content deltas change nothing
``paused``            ``requires_action``: waits for tool outputs (a continuation stream)
``polled``            a run object read without streaming, waiting for the next poll
``cut``               a background response whose stream broke, waiting for a resume
``ended``             an outcome, exactly one (``errored``: ended by an error event)
====================  ==========================================================================

It never decides which stream or request a run belongs to (:mod:`._identity`,
:mod:`._stream`), never reads bytes, never keeps a clock: every method takes the time to use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, Protocol, TypeAlias

from ._events import (
    Anomaly,
    FirstToken,
    JSONObject,
    Outcome,
    Phase,
    PhaseEnded,
    PhaseStarted,
    Run,
    RunFinished,
    RunPaused,
    RunResumed,
    Status,
    ToolCall,
    Transition,
)
from ._payload import as_obj, get_int, get_path, get_str, read_usage
from .protocols import Protocol as ProtocolTable
from .protocols import chat
from .protocols.assistants import STEP_TERMINAL

Emit: TypeAlias = Callable[[Transition], None]

State: TypeAlias = Literal["live", "streaming", "paused", "polled", "cut", "ended", "errored"]
LIVE: Final = "live"
STREAMING: Final = "streaming"
PAUSED: Final = "paused"
POLLED: Final = "polled"
CUT: Final = "cut"
ENDED: Final = "ended"
ERRORED: Final = "errored"

#: Back to being read: ``streaming`` if the first token was seen, else ``live``.
_READING: Final = "reading"

#: state -> {what happened: next state}. Anything else leaves the state as it is.
TRANSITIONS: Final[dict[str, dict[str, str]]] = {
    LIVE: {"first_token": STREAMING, "pause": PAUSED, "wait_poll": POLLED, "wait_resume": CUT,
           "end": ENDED, "fail": ERRORED},
    STREAMING: {"pause": PAUSED, "wait_poll": POLLED, "wait_resume": CUT, "end": ENDED, "fail": ERRORED},
    PAUSED: {"resume": _READING, "end": ENDED, "fail": ERRORED},
    POLLED: {"resume": _READING, "pause": PAUSED, "wait_poll": POLLED, "end": ENDED, "fail": ERRORED},
    CUT: {"resume": _READING, "end": ENDED, "fail": ERRORED},
    ENDED: {},
    ERRORED: {},
}  # fmt: skip

#: Waiting states: the run outlives its stream, kept by the run book until resumed or expired.
WAITING: Final = frozenset({PAUSED, POLLED, CUT})


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the request asked that its run can be checked against; never its content.

    ``max_tokens``: the output limit (Chat ``max_completion_tokens`` or ``max_tokens``, Responses
    ``max_output_tokens``); ``include_usage``: a stream asked for a usage chunk
    (``stream_options.include_usage``); ``choices``: Chat ``n`` (usage then sums the choices).
    """

    max_tokens: int | None = None
    include_usage: bool = False
    choices: int = 1

    @classmethod
    def read(cls, params: JSONObject) -> RequestFacts | None:
        """The facts of a decoded request body (None when it asked for none of them).

        >>> RequestFacts.read({"max_tokens": 16, "stream": True, "stream_options": {"include_usage": True}})
        RequestFacts(max_tokens=16, include_usage=True, choices=1)
        """
        limit = None
        for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
            limit = get_int(params, key)
            if limit is not None:
                break
        options = as_obj(params.get("stream_options"))
        include = (
            params.get("stream") is True and options is not None and options.get("include_usage") is True
        )
        n = get_int(params, "n")
        choices = n if n is not None and n > 0 else 1
        if limit is None and not include and choices == 1:
            return None
        return cls(limit if limit is not None and limit > 0 else None, include, choices)


class Book(Protocol):
    """What a run needs of the run book (:class:`runwatch._identity.RunBook`)."""

    def park(self, rt: RunTracker, t: float, status: Status, reason: str) -> None: ...

    def finished(self, rt: RunTracker) -> None: ...


class RunTracker:
    """One run's state machine. Created by a stream (:class:`runwatch._stream.StreamTracker`)."""

    __slots__ = (
        "book",
        "emit",
        "id_changed",
        "incomplete_item",
        "items",
        "last_status",
        "phase",
        "prompt_filtered",
        "proto",
        "request",
        "run",
        "state",
        "steps",
        "tool_call_ids",
    )

    def __init__(
        self, proto: ProtocolTable, run: Run, emit: Emit, book: Book, request: RequestFacts | None = None
    ) -> None:
        self.proto = proto
        self.run = run
        self.emit = emit
        self.book = book
        self.request = request  # what the create asked (a continuation asks nothing new)
        self.incomplete_item = False  # an output item ended ``incomplete``
        self.prompt_filtered = False  # Azure: a content filter blocked the prompt
        self.id_changed = False  # the stream renamed this run (said once)
        self.state: str = LIVE
        self.phase: Phase | None = None  # the status phase (queued, in_progress, ...)
        self.steps: dict[str, Phase] = {}  # open step / item phases, freed as they end
        self.items: dict[str, Phase] = {}
        self.last_status: str | None = None  # the protocol's own word (an open set)
        # Ids of the tool calls counted from a requires_action snapshot, so the tool step that
        # completes after the outputs are in does not count them again. Freed by finish().
        self.tool_call_ids: set[str] | None = None

    def _to(self, happened: str) -> None:
        target = TRANSITIONS[self.state].get(happened)
        if target is not None:
            if target == _READING:
                target = STREAMING if self.run.first_token_at is not None else LIVE
            self.state = target

    @property
    def terminal(self) -> bool:
        return self.run.outcome is not None

    def anomaly(self, kind: str, t: float, detail: str = "") -> None:
        self.emit(Anomaly(self.run.api, kind, self.run, t, detail))

    # -- identity and snapshots -------------------------------------------------------------
    def identify(self, snap: JSONObject) -> None:
        run = self.run
        if run.run_id is None:
            run.run_id = get_str(snap, "id")
        model = get_str(snap, "model")
        if model is not None:
            run.model = model
        if run.api == "assistants":
            run.thread_id = run.thread_id or get_str(snap, "thread_id")
            run.assistant_id = run.assistant_id or get_str(snap, "assistant_id")
        elif run.api == "agents":
            run.session_id = run.session_id or get_str(snap, "session_id")

    def apply_snapshot(self, snap: JSONObject, t: float, usage: JSONObject | None = None) -> None:
        self.run.snapshot = snap
        self.identify(snap)
        self.set_usage(as_obj(snap.get("usage")) or usage)
        status = snap.get("status")
        if isinstance(status, str):
            self.set_status(status, snap, t)

    def set_usage(self, usage: JSONObject | None) -> None:
        if usage is not None:
            read_usage(self.run.usage, usage)

    # -- statuses and phases ----------------------------------------------------------------
    def set_status(self, status: str, snap: JSONObject | None, t: float) -> None:
        if status == self.last_status:
            return
        self.last_status = status
        self.run.status = status
        entry = self.proto.statuses.get(status)
        if entry is None:
            self.anomaly("unknown_status", t, status)
            return
        kind, value = entry
        if kind == "terminal":
            path = self.proto.reason_paths.get(value)
            reason = get_path(snap, path) if path else None
            if not isinstance(reason, str) or not reason:
                reason = "none"
            if value == "completed" and snap is not None:
                output = snap.get("output")
                if isinstance(output, list) and any(
                    isinstance(item, dict) and item.get("status") == "incomplete" for item in output
                ):
                    self.incomplete_item = True
            self.check_ending(value, t, get_int(snap, "max_output_tokens") if snap is not None else None)
            self.finish(value, reason, t)  # type: ignore[arg-type]
            return
        if self.state == PAUSED:
            self.resume(t)
        self.enter(value, t)
        if kind == "pause":
            self._count_required_calls(snap, t)
            self._to("pause")
            self.emit(RunPaused(self.run, t))

    def _count_required_calls(self, snap: JSONObject | None, t: float) -> None:
        # The calls the run waits for are made now, whether or not it is ever resumed.
        path = self.proto.required_tool_calls
        calls = get_path(snap, path) if path else None
        for call in calls if isinstance(calls, list) else ():
            if not isinstance(call, dict):
                continue
            call_id = get_str(call, "id")
            if call_id is not None:
                if self.tool_call_ids is None:
                    self.tool_call_ids = set()
                elif call_id in self.tool_call_ids:
                    continue
                self.tool_call_ids.add(call_id)
            self.tool_call(self.proto.tool_types.get(str(call.get("type")), "_other"), t)

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
        """Waiting no more: read again (a continuation or a resume stream, the next poll)."""
        announce = self.state in (PAUSED, CUT)
        self._to("resume")
        if announce:
            self.emit(RunResumed(self.run, t))

    def unpark(self, t: float) -> None:
        """The run book hands this waiting run to a stream. A paused run resumes at its next
        status (the continuation's own), the others now."""
        if self.state != PAUSED:
            self.resume(t)

    # -- content ------------------------------------------------------------------------------
    def first_token(self, t: float) -> None:
        self.run.first_token_at = t
        self._to("first_token")
        self.emit(FirstToken(self.run, t))

    def tool_call(self, tool_type: str, t: float) -> None:
        self.run.tool_calls += 1
        self.emit(ToolCall(self.run, tool_type, t))

    def step(self, step: JSONObject, t: float) -> None:
        """An Assistants run step: a phase of its own; tool-call steps are ``execute_tool``."""
        key = get_str(step, "id") or f"step-{len(self.steps)}"
        status = get_str(step, "status")
        is_tools = step.get("type") == "tool_calls"
        calls = get_path(step, ("step_details", "tool_calls"))
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
                    if get_str(call, "id") not in counted:  # not already counted at requires_action
                        self.tool_call(tool, t)
            self.end_phase(phase, status or "completed", t)

    def item_start(self, item: JSONObject, t: float) -> None:
        kind = get_str(item, "type") or "unknown"
        key = get_str(item, "id") or f"item-{len(self.items)}"
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
        key = get_str(item, "id")
        phase = self.items.pop(key, None) if key is not None else None
        if phase is None:
            return
        status = get_str(item, "status")
        if status == "incomplete":
            self.incomplete_item = True
        self.end_phase(phase, status or "completed", t)

    # -- endings ------------------------------------------------------------------------------
    def fail(self, code: str, t: float) -> None:
        """An error event (or an in-band chat error) ends the run ``failed`` with its code: the
        SDK raises on it and may never read further. Whatever follows is expected, not news."""
        if self.terminal:
            return
        self._to("fail")
        self.finish("failed", code, t)

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
        self._to("end")
        self.tool_call_ids = None
        run.outcome = Outcome(status, reason)
        run.ended_at = t
        self.book.finished(self)
        self.emit(RunFinished(run, run.outcome, t))

    def check_ending(self, status: str, t: float, limit: int | None = None, *, clean: bool = False) -> None:
        """Does an ending agree with itself and with the request? Each disagreement is a named
        anomaly, emitted before the run finishes (so it lands on the run's span); the outcome
        stays what the server said. ``limit``: the output limit the response itself reports
        (Responses echo ``max_output_tokens``), when the request is not known; ``clean``: the
        stream ended where the server ended it (chat ``[DONE]``), so a usage chunk it was asked
        for should have come."""
        run, request = self.run, self.request
        if status == "completed":
            if self.incomplete_item:
                # vLLM marks the item it cut "incomplete" while the response says "completed".
                self.anomaly("completed_with_incomplete_item", t)
            if request is not None and request.max_tokens is not None:
                limit = request.max_tokens
            output = run.usage.output
            if (
                limit is not None
                and output is not None
                and output >= limit
                and (request is None or request.choices == 1)  # n > 1: usage sums the choices
            ):
                # Truncated by the token limit, reported as a natural stop (Ollama behind LiteLLM,
                # LocalAI; Responses servers that always say "completed").
                self.anomaly("stop_at_max_tokens", t, f"{output} of {limit} output tokens")
        if (
            clean
            and request is not None
            and request.include_usage
            and status in ("completed", "incomplete")  # an error may legitimately lose it
            and not run.usage.items()
        ):
            self.anomaly("usage_missing", t)

    def end_of_stream(self, reason: str, t: float, *, clean: bool = False) -> None:
        """The stream carrying this run ended (cleanly or not) before a terminal status.

        ``reason`` is why the stream stopped, or ``poll`` for a run object read without a stream.
        ``clean``: the server ended the stream itself (chat ``[DONE]``, a whole completion body,
        or the SDK's end of iteration after the server's last report); a chat that ends so
        without a finish reason completed, while one whose stream was cut is aborted.
        """
        if self.terminal:
            return
        if self.state == PAUSED:
            self.book.park(self, t, "abandoned", "ttl_expired")  # waiting for tool outputs
            return
        if reason == "poll":
            if self.last_status in self.proto.statuses:  # queued, in_progress: poll again
                self._to("wait_poll")
                self.book.park(self, t, "abandoned", "ttl_expired")
                return
            reason = "stream_ended"  # a run object without a status it could wait in
        if self.run.api == "chat":
            if self.run.finish_reasons or self.prompt_filtered:
                self._finish_chat(t, clean)
                return
            if clean:
                # The server ended the stream and never said why (Snowflake Cortex): the caller
                # saw a success; runwatch says so, and that the protocol was not kept.
                self.anomaly("missing_finish_reason", t)
                self.check_ending("completed", t, clean=clean)
                self.finish("completed", chat.NO_FINISH_REASON, t)
                return
        if self.last_status is not None and self.last_status not in self.proto.statuses:
            self.finish("unknown", "unknown_status", t)
            return
        snap = as_obj(self.run.snapshot)
        if snap is not None and snap.get("background") is True:
            # A background response keeps running server-side; a resume stream may pick it up.
            self._to("wait_resume")
            self.book.park(self, t, "aborted", reason)
            return
        if reason == "stream_ended":
            self.anomaly("missing_terminal", t)
        self.finish("aborted", reason, t)

    def _finish_chat(self, t: float, clean: bool) -> None:
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
        if self.prompt_filtered and status != "incomplete":
            # Azure's content filter blocked the prompt before generation: cut short by a filter.
            status, reason = "incomplete", "content_filter"
        self.check_ending(status, t, clean=clean)
        self.finish(status, reason, t)
