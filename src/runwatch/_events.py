"""The normalized vocabulary shared by adapters, the tracker and sinks.

Data flows one way::

    adapter --frames or events--> StreamTracker --> RunTracker --Transition--> sinks

What an adapter saw reaches the tracker in one of two shapes: a decoded SSE
:class:`~runwatch._sse.Frame` (the bytes path, through :class:`runwatch._skip.Skipper`), or a named
event with a lazily loaded payload (SDK objects, replays: ``StreamTracker.feed(name, time,
payload, raw)``, whose fields :class:`Event` names; the tracker takes them unpacked, as building
an object per event costs more than the rest of that path). A :class:`Transition` is what the
tracker concluded: a run started, a phase began
or ended, the first token arrived, the run finished with an :class:`Outcome`. Sinks only ever see
transitions and the :class:`Run` they refer to; they never see raw bytes.

Times are wall-clock seconds (``time.time()``) passed in by the adapter, so the tracker stays free
of clocks and replays of recorded transcripts are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

#: Which OpenAI protocol a run speaks.
Api: TypeAlias = Literal["assistants", "responses", "chat", "agents"]
APIS: Final[tuple[Api, ...]] = ("assistants", "responses", "chat", "agents")

#: Terminal statuses: the closed set used as the ``status`` label.
Status: TypeAlias = Literal[
    "completed", "incomplete", "failed", "cancelled", "expired", "aborted", "abandoned", "unknown"
]
STATUSES: Final[tuple[Status, ...]] = (
    "completed",
    "incomplete",
    "failed",
    "cancelled",
    "expired",
    "aborted",
    "abandoned",
    "unknown",
)

#: A JSON object as decoded from a frame (or dumped from an SDK model).
JSONObject: TypeAlias = Mapping[str, object]

#: Loads an event's payload on demand; returns None when there is none or it is not an object.
PayloadLoader: TypeAlias = Callable[[], "JSONObject | None"]


def _no_payload() -> JSONObject | None:
    return None


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a stream, as an adapter saw it.

    ``name`` is the SSE ``event:`` name or the SDK event's ``type`` (``"response.completed"``,
    ``"thread.run.step.created"``, ``"error"``); Chat Completions chunks are
    ``"chat.completion.chunk"``. ``raw`` is the undecoded data text when the event came from bytes
    (protocols use it to classify deltas without ``json.loads``); ``payload`` decodes it lazily.
    """

    name: str
    time: float
    payload: PayloadLoader = _no_payload
    raw: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run ended: exactly one per run."""

    status: Status
    reason: str = "none"


@dataclass(slots=True)
class Usage:
    """Token counts; ``None`` until the protocol reports them."""

    input: int | None = None
    output: int | None = None
    cached_input: int | None = None
    reasoning: int | None = None

    def items(self) -> list[tuple[str, int]]:
        """The known counts as ``(type, value)`` pairs, in label order."""
        pairs = (
            ("input", self.input),
            ("output", self.output),
            ("cached_input", self.cached_input),
            ("reasoning", self.reasoning),
        )
        return [(k, v) for k, v in pairs if v is not None]


@dataclass(slots=True, eq=False)
class Phase:
    """A span of a run's life: ``queued``, ``in_progress``, ``requires_action``, ``cancelling``,
    ``step`` (an Assistants run step) or ``output_item`` (a Responses output item).

    ``name`` is the span name (``"execute_tool function"`` for tool-call steps); ``key`` identifies
    steps and items within the run; ``tool_type`` is set for tool calls.
    """

    kind: str
    name: str
    started_at: float
    key: str | None = None
    tool_type: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    status: str | None = None  # set when the phase ends
    ended_at: float | None = None


@dataclass(slots=True, eq=False)
class Run:
    """Everything known about one run. Owned by its tracker; sinks read it and may keep their own
    per-run state in ``scratch`` (freed with the run, so nothing global grows)."""

    api: Api
    started_at: float
    run_id: str | None = None
    model: str | None = None
    thread_id: str | None = None
    assistant_id: str | None = None
    session_id: str | None = None
    request_model: str | None = None
    status: str | None = None  # the last status the protocol reported (open set)
    first_token_at: float | None = None
    usage: Usage = field(default_factory=Usage)
    tool_calls: int = 0
    finish_reasons: list[str] = field(default_factory=list)
    outcome: Outcome | None = None
    ended_at: float | None = None
    #: The last run / response / turn snapshot (SDK object or decoded dict): the "final run".
    snapshot: object | None = None
    scratch: dict[str, object] = field(default_factory=dict)

    @property
    def model_label(self) -> str | None:
        """The one model this run is counted under for its whole life: the request's model when
        the request named one, else the first one the protocol reported."""
        return self.request_model or self.model

    @property
    def duration(self) -> float | None:
        if self.ended_at is None:
            return None
        return max(0.0, self.ended_at - self.started_at)


@dataclass(frozen=True, slots=True)
class RunStarted:
    run: Run
    time: float


@dataclass(frozen=True, slots=True)
class PhaseStarted:
    run: Run
    phase: Phase
    time: float


@dataclass(frozen=True, slots=True)
class PhaseEnded:
    run: Run
    phase: Phase
    time: float


@dataclass(frozen=True, slots=True)
class FirstToken:
    run: Run
    time: float


@dataclass(frozen=True, slots=True)
class ToolCall:
    run: Run
    tool_type: str
    time: float


@dataclass(frozen=True, slots=True)
class RunPaused:
    """The run is waiting for tool outputs: its stream ended, a continuation stream may resume it."""

    run: Run
    time: float


@dataclass(frozen=True, slots=True)
class RunResumed:
    run: Run
    time: float


@dataclass(frozen=True, slots=True)
class RunFinished:
    run: Run
    outcome: Outcome
    time: float


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Something the protocol did not promise: an unknown event or status, an event after the
    terminal, a stream without a terminal, malformed JSON, an oversized frame. ``kind`` is from a
    closed set (see ``ANOMALY_KINDS``); ``detail`` is for logs only, never a label."""

    api: Api | None
    kind: str
    run: Run | None
    time: float
    detail: str = ""


#: Anomalies that say a stream contradicts itself or the request it answers (a consistent stream
#: never raises one): each is reported where the outcome alone would hide it.
CONSISTENCY_KINDS: Final[frozenset[str]] = frozenset(
    {
        "missing_finish_reason",
        "id_changed",
        "sequence_gap",
        "status_mismatch",
        "completed_with_incomplete_item",
        "stop_at_max_tokens",
        "usage_missing",
    }
)

#: Every anomaly kind (a closed set: the ``kind`` label's values).
ANOMALY_KINDS: Final[frozenset[str]] = (
    frozenset(
        {
            "unknown_event",
            "unknown_status",
            "event_after_terminal",
            "missing_terminal",
            "malformed_json",
            "truncated_frame",
            "oversized_frame",
            # Reserved, produced by nothing since run identity is the HTTP exchange (kept: label
            # values stay stable): a second observer of one exchange is recognised, not counted.
            "unknown_run",
            "duplicate_observation",
            "unknown_api",
            "duplicate_id",
        }
    )
    # The server broke the protocol's consistency (docs/reference.md, "Protocol-consistency
    # anomalies").
    | CONSISTENCY_KINDS
)


@dataclass(frozen=True, slots=True)
class RequestFailed:
    """One HTTP attempt that failed before its first event: an error status (``status_code``) or
    no response at all (``status_code`` None: a transport error, a timeout, a cancellation).
    Not a run: the server never accepted the work. ``code`` is the error body's ``code`` (or its
    ``type``), or for a transport failure its kind (``timeout``, ``connect_error``, ...), or
    ``none``; sinks map it onto a closed set. ``attempt`` is the SDK's retry count (0: first try).
    """

    api: Api
    status_code: int | None
    code: str
    attempt: int
    started_at: float
    time: float
    model: str | None = None
    error_type: str = ""  # the status code as text, or the exception's class name

    @property
    def duration(self) -> float:
        return max(0.0, self.time - self.started_at)

Transition: TypeAlias = (
    RunStarted
    | PhaseStarted
    | PhaseEnded
    | FirstToken
    | ToolCall
    | RunPaused
    | RunResumed
    | RunFinished
    | Anomaly
    | RequestFailed
)
