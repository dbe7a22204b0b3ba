"""OpenTelemetry spans (and optionally GenAI metrics) for runs, with opentelemetry-api only.

One CLIENT span per run, named after the GenAI semantic conventions, and one child span per phase
(queued, in_progress, requires_action, each run step, each output item). The run span is parented
on whatever span is current when the run starts; phase spans are parented explicitly on the run
span (``context=``) -- the sink never attaches a context, because transitions arrive from inside
the user's iteration and an attached context would leak across their ``yield``.

A request that failed before its first event (:class:`~runwatch._events.RequestFailed`) is not a
run: it becomes one CLIENT span of its own, status ERROR, from when it was sent to the failure.

Per-run state lives in ``run.scratch``: ``otel.span``, ``otel.name``, ``otel.ids``, ``otel.phases``
and ``otel.parent`` (the run span as a parent context, built once), ``otel.done``, ``otel.ttft``;
the hex ``trace_id`` / ``span_id`` are left there for the Prometheus (exemplars) and log sinks.

Cost per run (``benchmarks/run.py``, section "per run"): a run's attributes go to its span in two
calls, at start and at the end (time to first chunk included), not one call per fact. A run span that
does not record -- no OpenTelemetry SDK configured (the API's no-op tracer), or a sampler that
dropped the trace -- gets no phase spans and no attributes (``otel.off``): nothing would be
recorded, so nothing is built; its trace id (a dropped trace still has one) still reaches the
other sinks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeAlias, cast

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from runwatch._events import (
    Anomaly,
    FirstToken,
    Phase,
    PhaseEnded,
    PhaseStarted,
    RequestFailed,
    Run,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
)

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider


SCOPE: Final = "runwatch"

# An open phase span: (the phase, its span, the name and tool type it started with).
_OpenPhase: TypeAlias = "tuple[Phase, Span, str, str | None]"

#: Every attribute key the sink may set on a run span.
RUN_SPAN_ATTRIBUTES: Final = frozenset(
    {
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "openai.api.type",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.response.id",
        "gen_ai.conversation.id",
        "gen_ai.agent.id",
        "gen_ai.response.finish_reasons",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.response.time_to_first_chunk",
        "runwatch.run.id",
        "runwatch.run.status",
        "runwatch.run.reason",
        "runwatch.run.incomplete_reason",
        "runwatch.run.tool_calls",
        "error.type",
    }
)
#: Every attribute key the sink itself sets on a phase span (``Phase.attributes`` are added too).
PHASE_SPAN_ATTRIBUTES: Final = frozenset(
    {
        "runwatch.phase.kind",
        "runwatch.phase.key",
        "runwatch.phase.status",
        "gen_ai.operation.name",
        "gen_ai.tool.type",
        "error.type",
    }
)
#: Every attribute key the sink may set on a request-error span (a request that failed before its
#: first event).
REQUEST_SPAN_ATTRIBUTES: Final = frozenset(
    {
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "openai.api.type",
        "gen_ai.request.model",
        "error.type",
        "http.response.status_code",
        "runwatch.request.attempt",
        "runwatch.request.error_code",
    }
)
_MAX_ERROR_CODE_LEN: Final = 100
#: Span event names and their attribute keys.
SPAN_EVENTS: Final[dict[str, frozenset[str]]] = {
    "runwatch.anomaly": frozenset({"runwatch.anomaly.kind"}),
    "runwatch.run.paused": frozenset(),
    "runwatch.run.resumed": frozenset(),
}

#: GenAI semantic-convention bucket boundaries.
DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip

_ERROR_STATUSES: Final = frozenset({"failed", "expired", "aborted", "abandoned", "unknown"})
_KNOWN_STATUSES: Final = _ERROR_STATUSES | {"completed", "incomplete", "cancelled"}
_FAILED_PHASES: Final = frozenset({"failed", "expired"})
_AGENT_APIS: Final = frozenset({"assistants", "agents"})


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("runwatch")
    except Exception:  # a missing dist (a vendored copy) must not break telemetry
        return "0"


def span_name(run: Run) -> str:
    """The run span's name per the GenAI conventions.

    >>> span_name(Run(api="responses", started_at=0, request_model="gpt-4o"))
    'chat gpt-4o'
    """
    return _span_name(run.api, run.model_label, run.assistant_id)


def _span_name(api: str, model: str | None, assistant_id: str | None = None) -> str:
    # One naming rule for run spans and request-error spans.
    if api == "assistants":
        return f"invoke_agent {assistant_id}" if assistant_id else "invoke_agent"
    if api == "agents":
        return "invoke_agent"
    return f"chat {model}" if model else "chat"


def _operation(api: str) -> str:
    return "invoke_agent" if api in _AGENT_APIS else "chat"


def request_error_type(t: RequestFailed) -> str:
    """``error.type`` of a failed request: the adapter's (status code as text, or the exception's
    class name), else the status code, else ``_OTHER`` (the semantic conventions' fallback).

    >>> request_error_type(RequestFailed("chat", 429, "rate_limit_exceeded", 0, 0.0, 1.0))
    '429'
    """
    if t.error_type:
        return t.error_type
    return str(t.status_code) if t.status_code is not None else "_OTHER"


def _ids(run: Run) -> tuple[str | None, str | None, str | None, str | None]:
    return (run.run_id, run.thread_id or run.session_id, run.assistant_id, run.model)


def _id_attributes(ids: tuple[str | None, str | None, str | None, str | None]) -> dict[str, Any]:
    """The run span's identity attributes (run id, conversation, agent, response model)."""
    run_id, conversation, agent, model = ids
    attrs: dict[str, Any] = {}
    if run_id:
        attrs["gen_ai.response.id"] = attrs["runwatch.run.id"] = run_id
    if conversation:
        attrs["gen_ai.conversation.id"] = conversation
    if agent:
        attrs["gen_ai.agent.id"] = agent
    if model:
        attrs["gen_ai.response.model"] = model
    return attrs


class OtelSink:
    """Turns transitions into OpenTelemetry spans (and GenAI histograms if given a meter provider).

    Never sets global providers: ``tracer_provider=None`` uses the global one as configured by
    the application. ``capture_content`` is accepted for forward compatibility; transitions carry
    no prompts, outputs or tool arguments, so nothing content-like is ever recorded.

    Example::

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        observer = runwatch.Observer(sinks=[OtelSink(provider, incomplete_is_error=True)])
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        *,
        incomplete_is_error: bool = False,
        capture_content: bool = False,
    ) -> None:
        version = _version()
        self._tracer = trace.get_tracer(SCOPE, version, tracer_provider)
        self.incomplete_is_error = incomplete_is_error
        self.capture_content = capture_content
        self._metrics: _GenAIMetrics | None = None
        if meter_provider is not None:
            self._metrics = _GenAIMetrics(meter_provider, version)
        self._dispatch: dict[type, Callable[[Any], None]] = {
            RunStarted: self._on_started,
            PhaseStarted: self._on_phase_started,
            PhaseEnded: self._on_phase_ended,
            FirstToken: self._on_first_token,
            RunPaused: self._on_paused,
            RunResumed: self._on_resumed,
            RunFinished: self._on_finished,
            Anomaly: self._on_anomaly,
            RequestFailed: self._on_request_failed,
        }

    def __call__(self, transition: object, /) -> None:
        handler = self._dispatch.get(type(transition))
        if handler is not None:
            handler(transition)

    # -- the run span ------------------------------------------------------------------------

    def _run_span(self, run: Run, start: float) -> Span | None:
        """The open, recording run span, started now if the RunStarted was missed; None once
        ended or when it records nothing (``otel.off``)."""
        scratch = run.scratch
        if "otel.done" in scratch or "otel.off" in scratch:
            return None
        span = scratch.get("otel.span")
        if span is None:
            span = self._start(run, start)
            return None if "otel.off" in scratch else span
        return cast("Span", span)

    def _start(self, run: Run, start: float) -> Span:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": _operation(run.api),
            "gen_ai.provider.name": "openai",
            "openai.api.type": run.api,
        }
        if run.request_model:
            attrs["gen_ai.request.model"] = run.request_model
        ids = _ids(run)
        attrs.update(_id_attributes(ids))
        name = span_name(run)
        span = self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs, start_time=_ns(start))
        scratch = run.scratch
        scratch["otel.span"] = span
        ctx = span.get_span_context()
        if ctx.is_valid:
            scratch["trace_id"] = format(ctx.trace_id, "032x")
            scratch["span_id"] = format(ctx.span_id, "016x")
        if not span.is_recording():
            # No SDK (the API's no-op tracer) or sampled out: nothing set on this span or its
            # children would be recorded, so nothing is built for them.
            scratch["otel.off"] = True
            return span
        scratch["otel.name"] = name
        scratch["otel.phases"] = {}
        scratch["otel.ids"] = ids
        return span

    def _refresh_ids(self, run: Run, span: Span, into: dict[str, Any] | None = None) -> None:
        # Ids and the response model usually arrive with the first event, after RunStarted.
        # ``into``: attributes about to be set anyway (at the end), to set them in that one call.
        ids = _ids(run)
        scratch = run.scratch
        if scratch.get("otel.ids") == ids:
            return
        scratch["otel.ids"] = ids
        attrs = _id_attributes(ids)
        if into is not None:
            into.update(attrs)
        elif attrs:
            span.set_attributes(attrs)  # one lock and one check of the span, not one per key
        name = span_name(run)
        if name != scratch.get("otel.name"):
            scratch["otel.name"] = name
            span.update_name(name)

    def _on_started(self, t: RunStarted) -> None:
        if "otel.span" not in t.run.scratch:
            self._start(t.run, t.time)

    def _on_finished(self, t: RunFinished) -> None:
        run = t.run
        scratch = run.scratch
        if "otel.done" in scratch:
            return  # a duplicated RunFinished
        span = self._run_span(run, run.started_at)
        scratch["otel.done"] = True
        if span is None:  # a span that records nothing: only the GenAI metrics are left to do
            if self._metrics is not None:
                self._metrics.finished(run, t, self.error_type(t.outcome.status, t.outcome.reason))
            return
        end = _ns(run.ended_at if run.ended_at is not None else t.time)
        # Children first, so no phase outlives its run.
        phases = cast("dict[int, _OpenPhase]", scratch.get("otel.phases") or {})
        for entry in phases.values():
            entry[1].end(end_time=end)
        phases.clear()

        status, reason = t.outcome.status, t.outcome.reason
        attrs: dict[str, Any] = {
            "runwatch.run.status": status,
            "runwatch.run.reason": reason,
            "runwatch.run.tool_calls": run.tool_calls,
        }
        self._refresh_ids(run, span, attrs)
        if run.finish_reasons:
            attrs["gen_ai.response.finish_reasons"] = tuple(run.finish_reasons)
        usage = run.usage
        if usage.input is not None:
            attrs["gen_ai.usage.input_tokens"] = usage.input
        if usage.output is not None:
            attrs["gen_ai.usage.output_tokens"] = usage.output
        if usage.cached_input is not None:
            attrs["gen_ai.usage.cache_read.input_tokens"] = usage.cached_input
        if usage.reasoning is not None:
            attrs["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning
        if run.first_token_at is not None:
            # Set here, with the rest (no span is exported before it ends).
            attrs["gen_ai.response.time_to_first_chunk"] = max(0.0, run.first_token_at - run.started_at)
        if status == "incomplete":
            attrs["runwatch.run.incomplete_reason"] = reason
        error_type = self.error_type(status, reason)
        if error_type is not None:
            attrs["error.type"] = error_type
            span.set_status(Status(StatusCode.ERROR, reason if reason != "none" else status))
        span.set_attributes(attrs)
        span.end(end_time=end)
        if self._metrics is not None:
            self._metrics.finished(run, t, error_type)

    def error_type(self, status: str, reason: str) -> str | None:
        """``error.type`` for a terminal outcome, or None when the run did not fail.

        >>> OtelSink().error_type("failed", "server_error"), OtelSink().error_type("completed", "none")
        ('server_error', None)
        """
        failed = status in _ERROR_STATUSES or status not in _KNOWN_STATUSES
        if not failed and not (status == "incomplete" and self.incomplete_is_error):
            return None
        return reason if reason and reason != "none" else status

    # -- request errors ----------------------------------------------------------------------------

    def _on_request_failed(self, t: RequestFailed) -> None:
        # Parented on the current span like a run span; started and ended here, so never attached.
        error_type = request_error_type(t)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": _operation(t.api),
            "gen_ai.provider.name": "openai",
            "openai.api.type": t.api,
            "error.type": error_type,
            "runwatch.request.attempt": t.attempt,
            "runwatch.request.error_code": t.code[:_MAX_ERROR_CODE_LEN],
        }
        if t.model:
            attrs["gen_ai.request.model"] = t.model
        if t.status_code is not None:
            attrs["http.response.status_code"] = t.status_code
        span = self._tracer.start_span(
            _span_name(t.api, t.model),
            kind=SpanKind.CLIENT,
            attributes=attrs,
            start_time=_ns(t.started_at),
        )
        span.set_status(Status(StatusCode.ERROR, error_type))
        span.end(end_time=_ns(max(t.time, t.started_at)))
        if self._metrics is not None:
            self._metrics.request_failed(t)

    # -- events on the run span ----------------------------------------------------------------

    def _open_span(self, run: Run | None) -> Span | None:
        if run is None:
            return None
        scratch = run.scratch
        if "otel.done" in scratch or "otel.off" in scratch:
            return None
        return cast("Span | None", scratch.get("otel.span"))

    def _on_first_token(self, t: FirstToken) -> None:
        # The span attribute is set with the others when the run finishes (run.first_token_at);
        # only the GenAI metric is recorded now, once per run.
        run = t.run
        scratch = run.scratch
        if self._metrics is None or "otel.ttft" in scratch or "otel.done" in scratch:
            return
        scratch["otel.ttft"] = True
        at = run.first_token_at if run.first_token_at is not None else t.time
        self._metrics.first_chunk(run, max(0.0, at - run.started_at))

    def _on_paused(self, t: RunPaused) -> None:
        span = self._open_span(t.run)
        if span is not None:
            span.add_event("runwatch.run.paused", timestamp=_ns(t.time))

    def _on_resumed(self, t: RunResumed) -> None:
        span = self._open_span(t.run)
        if span is not None:
            span.add_event("runwatch.run.resumed", timestamp=_ns(t.time))

    def _on_anomaly(self, t: Anomaly) -> None:
        span = self._open_span(t.run)
        if span is not None:
            span.add_event("runwatch.anomaly", {"runwatch.anomaly.kind": t.kind}, timestamp=_ns(t.time))

    # -- phase spans -----------------------------------------------------------------------------

    def _on_phase_started(self, t: PhaseStarted) -> None:
        run, phase = t.run, t.phase
        span = self._run_span(run, run.started_at)
        if span is None:
            return  # a phase after the terminal would never be ended
        phases = cast("dict[int, _OpenPhase]", run.scratch["otel.phases"])
        if id(phase) in phases:
            return
        self._refresh_ids(run, span)
        attrs: dict[str, Any] = {"runwatch.phase.kind": phase.kind}
        if phase.key:
            attrs["runwatch.phase.key"] = phase.key
        if phase.tool_type:
            attrs["gen_ai.operation.name"] = "execute_tool"
            attrs["gen_ai.tool.type"] = phase.tool_type
        for key, value in phase.attributes.items():
            if isinstance(value, str) and key not in attrs:
                attrs[key] = value
        scratch = run.scratch
        parent = scratch.get("otel.parent")
        if parent is None:
            parent = scratch["otel.parent"] = trace.set_span_in_context(span)
        child = self._tracer.start_span(
            phase.name, context=cast("Context", parent), attributes=attrs, start_time=_ns(phase.started_at)
        )
        # Keeping the phase alive keeps its id() from being reused while the span is open.
        phases[id(phase)] = (phase, child, phase.name, phase.tool_type)

    def _on_phase_ended(self, t: PhaseEnded) -> None:
        phase = t.phase
        phases = cast("dict[int, _OpenPhase] | None", t.run.scratch.get("otel.phases"))
        entry = phases.pop(id(phase), None) if phases else None
        if entry is None:
            return  # never started (or already ended with the run): nothing to close
        _, child, name, tool_type = entry
        # Assistants tool steps often say which tool only when they complete.
        if phase.name != name:
            child.update_name(phase.name)
        if phase.tool_type and phase.tool_type != tool_type:
            child.set_attribute("gen_ai.operation.name", "execute_tool")
            child.set_attribute("gen_ai.tool.type", phase.tool_type)
        if phase.status:
            child.set_attribute("runwatch.phase.status", phase.status)
            if phase.status in _FAILED_PHASES:
                child.set_attribute("error.type", phase.status)
                child.set_status(Status(StatusCode.ERROR, phase.status))
        child.end(end_time=_ns(phase.ended_at if phase.ended_at is not None else t.time))


class _GenAIMetrics:
    """The GenAI client histograms, recorded only when a meter provider is passed explicitly."""

    def __init__(self, meter_provider: MeterProvider, version: str) -> None:
        # Lazy: only users of OTel metrics pay for importing the shared label helpers.
        from runwatch._labels import ModelLabels, reason_label, request_code_label, status_code_label

        self._reason_label = reason_label
        self._status_code_label = status_code_label
        self._request_code_label = request_code_label
        meter = meter_provider.get_meter(SCOPE, version)
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.ttfc = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        # Metric attributes must stay bounded like Prometheus labels (the same cap).
        self._models = ModelLabels()

    def _attributes(self, run: Run) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": _operation(run.api),
            "gen_ai.provider.name": "openai",
            "openai.api.type": run.api,
            "gen_ai.request.model": self._models(run.request_model),
        }
        if run.model:
            attrs["gen_ai.response.model"] = self._models(run.model)
        return attrs

    def first_chunk(self, run: Run, seconds: float) -> None:
        self.ttfc.record(seconds, self._attributes(run))

    def finished(self, run: Run, t: RunFinished, error_type: str | None) -> None:
        attrs = self._attributes(run)
        duration = run.duration
        if duration is None:
            duration = max(0.0, t.time - run.started_at)
        if error_type is not None:
            # Reasons are an open set on the wire; fold them like the Prometheus label.
            error_type = (
                error_type if error_type in _KNOWN_STATUSES else self._reason_label(run.api, error_type)
            )
            self.duration.record(duration, {**attrs, "error.type": error_type})
        else:
            self.duration.record(duration, attrs)
        if run.usage.input is not None:
            self.tokens.record(run.usage.input, {**attrs, "gen_ai.token.type": "input"})
        if run.usage.output is not None:
            self.tokens.record(run.usage.output, {**attrs, "gen_ai.token.type": "output"})

    def request_failed(self, t: RequestFailed) -> None:
        # error.type must stay bounded like a label: the status code's label, or for a request
        # without a response the transport kind's (``timeout``), not the exception's class name.
        if t.status_code is not None:
            error_type = self._status_code_label(t.status_code)
        else:
            error_type = self._request_code_label(t.code)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": _operation(t.api),
            "gen_ai.provider.name": "openai",
            "openai.api.type": t.api,
            "gen_ai.request.model": self._models(t.model),
            "error.type": error_type,
        }
        self.duration.record(t.duration, attrs)


__all__ = [
    "PHASE_SPAN_ATTRIBUTES",
    "REQUEST_SPAN_ATTRIBUTES",
    "RUN_SPAN_ATTRIBUTES",
    "SPAN_EVENTS",
    "OtelSink",
    "request_error_type",
    "span_name",
]
