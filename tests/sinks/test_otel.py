"""OtelSink: the span tree, statuses, odd orders, GenAI metrics; all three sinks under hypothesis."""

from __future__ import annotations

import typing

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry
from sinks_support import T0, feed, life

from runwatch._events import (
    STATUSES,
    Anomaly,
    FirstToken,
    Outcome,
    Phase,
    PhaseEnded,
    PhaseStarted,
    RequestFailed,
    Run,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    ToolCall,
    Transition,
)
from runwatch.sinks.logs import LogSink
from runwatch.sinks.otel import OtelSink
from runwatch.sinks.prometheus import PrometheusSink

NS = 1_000_000_000


class Recorder:
    """A TracerProvider wired to an in-memory exporter, counting started spans too."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.started = 0
        recorder = self

        class Count(SpanProcessor):
            def on_start(self, span: object, parent_context: object = None) -> None:
                recorder.started += 1

        self.provider.add_span_processor(Count())

    def spans(self) -> dict[str, ReadableSpan]:
        return {s.name: s for s in self.exporter.get_finished_spans()}


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def test_span_tree(rec: Recorder) -> None:
    """A completed Assistants run is one CLIENT span with a child per phase (steps nested under
    the run span, not attached to any context), exact times and GenAI attributes."""
    sink = OtelSink(rec.provider)
    done = feed(sink, life())
    spans = rec.spans()
    assert set(spans) == {"invoke_agent asst_1", "queued", "in_progress", "execute_tool function",
                          "message_creation"}  # fmt: skip
    root = spans["invoke_agent asst_1"]
    assert root.kind is SpanKind.CLIENT
    assert root.parent is None
    assert root.start_time == T0 * NS
    assert root.end_time == (T0 + 4.0) * NS
    assert root.status.status_code is StatusCode.UNSET
    assert dict(root.attributes or {}) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": "openai",
        "openai.api.type": "assistants",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.response.id": "run_1",
        "runwatch.run.id": "run_1",
        "gen_ai.conversation.id": "thread_1",
        "gen_ai.agent.id": "asst_1",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
        "gen_ai.usage.cache_read.input_tokens": 10,
        "gen_ai.usage.reasoning.output_tokens": 5,
        "gen_ai.response.time_to_first_chunk": 1.25,
        "runwatch.run.status": "completed",
        "runwatch.run.reason": "none",
        "runwatch.run.tool_calls": 1,
    }
    for name in ("queued", "in_progress", "execute_tool function", "message_creation"):
        child = spans[name]
        assert child.parent is not None
        assert child.parent.span_id == root.context.span_id
        assert child.context.trace_id == root.context.trace_id
    tool = spans["execute_tool function"]
    assert (tool.start_time, tool.end_time) == ((T0 + 0.6) * NS, (T0 + 1.0) * NS)
    assert dict(tool.attributes or {}) == {
        "runwatch.phase.kind": "step",
        "runwatch.phase.key": "step_1",
        "runwatch.phase.status": "completed",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.name": "get_weather",
    }
    run = done[0].run  # type: ignore[union-attr]
    assert run is not None
    assert run.scratch["trace_id"] == format(root.context.trace_id, "032x")
    assert run.scratch["span_id"] == format(root.context.span_id, "016x")
    assert all(k.startswith("otel.") or k in ("trace_id", "span_id") for k in run.scratch)
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert rec.started == len(rec.exporter.get_finished_spans())


@pytest.mark.parametrize(
    ("status", "reason", "incomplete_is_error", "code", "error_type", "description"),
    [
        pytest.param("completed", "none", False, StatusCode.UNSET, None, None, id="completed"),
        pytest.param("incomplete", "max_output_tokens", False, StatusCode.UNSET, None, None,
                     id="incomplete"),
        pytest.param("incomplete", "max_output_tokens", True, StatusCode.ERROR, "max_output_tokens",
                     "max_output_tokens", id="incomplete-as-error"),
        pytest.param("failed", "server_error", False, StatusCode.ERROR, "server_error", "server_error",
                     id="failed"),
        pytest.param("expired", "none", False, StatusCode.ERROR, "expired", "expired", id="expired"),
        pytest.param("aborted", "stream_ended", False, StatusCode.ERROR, "stream_ended", "stream_ended",
                     id="aborted"),
        pytest.param("abandoned", "ttl_expired", False, StatusCode.ERROR, "ttl_expired", "ttl_expired",
                     id="abandoned"),
        pytest.param("unknown", "unknown_status", False, StatusCode.ERROR, "unknown_status",
                     "unknown_status", id="unknown"),
        pytest.param("cancelled", "cancelled", False, StatusCode.UNSET, None, None, id="cancelled"),
        pytest.param("sparkling", "none", False, StatusCode.ERROR, "sparkling", "sparkling",
                     id="open-status"),
    ],
)  # fmt: skip
def test_run_status(
    rec: Recorder,
    status: str,
    reason: str,
    incomplete_is_error: bool,
    code: StatusCode,
    error_type: str | None,
    description: str | None,
) -> None:
    """Each terminal status maps to the documented span status, ``error.type`` and reason
    attributes; incomplete records its reason either way."""
    feed(OtelSink(rec.provider, incomplete_is_error=incomplete_is_error),
         life(api="responses", status=status, reason=reason))  # fmt: skip
    root = rec.spans()["chat gpt-4o"]
    attrs = dict(root.attributes or {})
    assert root.status.status_code is code
    assert root.status.description == description
    assert attrs.get("error.type") == error_type
    assert attrs["runwatch.run.status"] == status
    assert attrs["runwatch.run.reason"] == reason
    assert attrs.get("runwatch.run.incomplete_reason") == (reason if status == "incomplete" else None)


@pytest.mark.parametrize(
    ("api", "model", "assistant", "want"),
    [
        pytest.param("responses", "gpt-4o", None, "chat gpt-4o", id="responses"),
        pytest.param("chat", "gpt-4o-mini", None, "chat gpt-4o-mini", id="chat"),
        pytest.param("chat", None, None, "chat", id="chat-no-model"),
        pytest.param("assistants", None, "asst_9", "invoke_agent asst_9", id="assistants"),
        pytest.param("assistants", None, None, "invoke_agent", id="assistants-no-id"),
        pytest.param("agents", "gpt-5", "asst_9", "invoke_agent", id="agents"),
    ],
)
def test_span_names(rec: Recorder, api: str, model: str | None, assistant: str | None, want: str) -> None:
    """The run span is named per the GenAI conventions, with a bare operation name when the
    model or assistant is unknown; agent-like apis use ``invoke_agent``."""
    sink = OtelSink(rec.provider)
    run = Run(api=api, started_at=T0, request_model=model, assistant_id=assistant)  # type: ignore[arg-type]
    sink(RunStarted(run, T0))
    sink(RunFinished(run, Outcome("completed"), T0 + 1))
    (span,) = rec.exporter.get_finished_spans()
    assert span.name == want
    assert dict(span.attributes or {})["gen_ai.operation.name"] == want.split(maxsplit=1)[0]


def test_ids_learned_late(rec: Recorder) -> None:
    """Ids and the response model unknown at RunStarted are set on the span once known (at the
    next PhaseStarted), and the span is renamed when the model arrives."""
    sink = OtelSink(rec.provider)
    run = Run(api="chat", started_at=T0)
    sink(RunStarted(run, T0))
    run.run_id, run.model = "chatcmpl-1", "gpt-4o-2024-08-06"
    phase = Phase("output_item", "output_item message", T0)
    sink(PhaseStarted(run, phase, T0))
    span = run.scratch["otel.span"]
    attrs = span.attributes  # type: ignore[attr-defined]
    assert attrs["gen_ai.response.id"] == "chatcmpl-1"
    assert attrs["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert span.name == "chat gpt-4o-2024-08-06"  # type: ignore[attr-defined]
    run.session_id = "sess_1"
    sink(RunFinished(run, Outcome("completed", "stop"), T0 + 1))
    spans = rec.spans()
    assert dict(spans["chat gpt-4o-2024-08-06"].attributes or {})["gen_ai.conversation.id"] == "sess_1"
    assert spans["output_item message"].end_time == (T0 + 1) * NS  # open phase ended with the run


def test_pause_resume_and_anomaly_events(rec: Recorder) -> None:
    """Pause, resume and anomalies become span events at their times; an anomaly without a run,
    or after the run span ended, records nothing and does not raise."""
    sink = OtelSink(rec.provider)
    done = feed(sink, (t for t in life(pause=True) if not isinstance(t, RunFinished)))
    run = done[0].run  # type: ignore[union-attr]
    assert run is not None
    sink(Anomaly("assistants", "unknown_event", run, T0 + 3.5, detail="thread.run.sparkle"))
    sink(Anomaly(None, "malformed_json", None, T0 + 3.6))
    sink(RunFinished(run, Outcome("completed"), T0 + 4))
    sink(Anomaly("assistants", "event_after_terminal", run, T0 + 5))
    sink(RunPaused(run, T0 + 6))
    root = rec.spans()["invoke_agent asst_1"]
    events = [(e.name, e.timestamp, dict(e.attributes or {})) for e in root.events]
    assert events == [
        ("runwatch.run.paused", (T0 + 1.0) * NS, {}),
        ("runwatch.run.resumed", (T0 + 3.0) * NS, {}),
        ("runwatch.anomaly", (T0 + 3.5) * NS, {"runwatch.anomaly.kind": "unknown_event"}),
    ]


def test_failed_phase_is_error(rec: Recorder) -> None:
    """A phase that ends failed or expired has span status ERROR; cancelled does not."""
    sink = OtelSink(rec.provider)
    run = Run(api="assistants", started_at=T0)
    sink(RunStarted(run, T0))
    for i, status in enumerate(("failed", "expired", "cancelled")):
        phase = Phase("step", f"step {status}", T0, key=f"step_{i}")
        sink(PhaseStarted(run, phase, T0))
        phase.status, phase.ended_at = status, T0 + 1
        sink(PhaseEnded(run, phase, T0 + 1))
    sink(RunFinished(run, Outcome("failed", "server_error"), T0 + 2))
    spans = rec.spans()
    assert spans["step failed"].status.status_code is StatusCode.ERROR
    assert spans["step expired"].status.status_code is StatusCode.ERROR
    assert spans["step cancelled"].status.status_code is StatusCode.UNSET


@pytest.mark.parametrize(
    "odd",
    [
        pytest.param("finished-twice", id="finished-twice"),
        pytest.param("finished-without-started", id="finished-without-started"),
        pytest.param("phase-ended-without-started", id="phase-ended-without-started"),
        pytest.param("phase-after-finish", id="phase-after-finish"),
        pytest.param("phase-started-twice", id="phase-started-twice"),
        pytest.param("phase-ended-twice", id="phase-ended-twice"),
    ],
)
def test_odd_orders(rec: Recorder, odd: str) -> None:
    """Odd transition orders never raise, and every span that starts ends exactly once."""
    sink = OtelSink(rec.provider)
    run = Run(api="responses", started_at=T0, request_model="gpt-4o")
    phase = Phase("output_item", "output_item message", T0, key="msg_1")
    finished = RunFinished(run, Outcome("completed"), T0 + 2)
    if odd != "finished-without-started":
        sink(RunStarted(run, T0))
    if odd == "phase-ended-without-started":
        sink(PhaseEnded(run, phase, T0 + 1))
    if odd in ("phase-started-twice", "phase-ended-twice"):
        sink(PhaseStarted(run, phase, T0))
        sink(PhaseStarted(run, phase, T0))
        sink(PhaseEnded(run, phase, T0 + 1))
        sink(PhaseEnded(run, phase, T0 + 1))
    sink(finished)
    if odd == "finished-twice":
        sink(finished)
    if odd == "phase-after-finish":
        sink(PhaseStarted(run, phase, T0 + 3))
        sink(PhaseEnded(run, phase, T0 + 4))
    names = sorted(s.name for s in rec.exporter.get_finished_spans())
    want = ["chat gpt-4o"] + (["output_item message"] if "twice" in odd and "phase" in odd else [])
    assert names == sorted(want)
    assert rec.started == len(names)


def test_run_span_joins_the_current_trace(rec: Recorder) -> None:
    """A run started while the application has a span open becomes its child (same trace)."""
    sink = OtelSink(rec.provider)
    tracer = rec.provider.get_tracer("app")
    run = Run(api="chat", started_at=T0, request_model="gpt-4o")
    with tracer.start_as_current_span("handle_request") as outer:
        sink(RunStarted(run, T0))
    sink(RunFinished(run, Outcome("completed", "stop"), T0 + 1))
    root = rec.spans()["chat gpt-4o"]
    assert root.parent is not None
    assert root.parent.span_id == outer.get_span_context().span_id


def test_global_provider_is_untouched() -> None:
    """Without a provider the sink uses the global (no-op by default) tracer: nothing is
    recorded, no trace id is invented, nothing raises."""
    sink = OtelSink()
    done = [sink(t) or t for t in life()]
    run = done[0].run  # type: ignore[union-attr]
    assert run is not None
    assert "trace_id" not in run.scratch


def test_genai_metrics(rec: Recorder) -> None:
    """With a meter provider, the GenAI client histograms get one duration (with error.type on
    failure), input/output token usage and one time-to-first-chunk per run."""
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    sink = OtelSink(rec.provider, meters)
    feed(sink, life(api="responses"))
    feed(sink, life(api="responses", status="failed", reason="not_a_known_code"))
    data = reader.get_metrics_data()
    assert data is not None
    points: dict[str, list[tuple[dict[str, object], int, float]]] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                points[metric.name] = [
                    (dict(p.attributes or {}), p.count, p.sum)  # type: ignore[union-attr]
                    for p in metric.data.data_points
                ]
    base = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            "openai.api.type": "responses", "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o"}  # fmt: skip
    assert sorted(points["gen_ai.client.operation.duration"], key=str) == sorted(
        [(base, 1, 4.0), ({**base, "error.type": "_other"}, 1, 4.0)], key=str
    )
    assert sorted(points["gen_ai.client.token.usage"], key=str) == sorted(
        [({**base, "gen_ai.token.type": "input"}, 2, 200), ({**base, "gen_ai.token.type": "output"}, 2, 40)],
        key=str,
    )
    assert points["gen_ai.client.operation.time_to_first_chunk"] == [(base, 2, 2.5)]
    meters.shutdown()


# -- request errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "status_code", "code", "model", "error_type", "name", "extra"),
    [
        pytest.param("chat", 429, "rate_limit_exceeded", "gpt-4o", "429", "chat gpt-4o",
                     {"gen_ai.request.model": "gpt-4o", "http.response.status_code": 429},
                     id="chat-429"),
        pytest.param("responses", None, "timeout", "gpt-5", "ReadTimeout", "chat gpt-5",
                     {"gen_ai.request.model": "gpt-5"}, id="responses-timeout"),
        pytest.param("responses", 500, "server_error", None, "500", "chat",
                     {"http.response.status_code": 500}, id="no-model"),
        pytest.param("assistants", 404, "not_found_error", "gpt-4o", "404", "invoke_agent",
                     {"gen_ai.request.model": "gpt-4o", "http.response.status_code": 404},
                     id="assistants"),
        pytest.param("agents", None, "cancelled", None, "CancelledError", "invoke_agent", {},
                     id="agents-cancelled"),
        pytest.param("chat", 418, "none", None, "", "chat", {"http.response.status_code": 418},
                     id="no-error-type-falls-back-to-status"),
        pytest.param("chat", None, "transport_error", None, "", "chat", {}, id="no-error-type-no-status"),
    ],
)  # fmt: skip
def test_request_error_span(
    rec: Recorder,
    api: str,
    status_code: int | None,
    code: str,
    model: str | None,
    error_type: str,
    name: str,
    extra: dict[str, object],
) -> None:
    """A request that failed before its first event is one CLIENT span (named like a run span of
    its api), from when it was sent to the failure, status ERROR, with error.type, the HTTP
    status when there was a response, the attempt and the raw error code -- and no run span."""
    sink = OtelSink(rec.provider)
    sink(RequestFailed(api, status_code, code, 2, T0, T0 + 1.5, model=model, error_type=error_type))  # type: ignore[arg-type]
    (span,) = rec.exporter.get_finished_spans()
    want_error = error_type or (str(status_code) if status_code is not None else "_OTHER")
    assert span.name == name
    assert span.kind is SpanKind.CLIENT
    assert (span.start_time, span.end_time) == (T0 * NS, (T0 + 1.5) * NS)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == want_error
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": name.split(maxsplit=1)[0],
        "gen_ai.provider.name": "openai",
        "openai.api.type": api,
        "error.type": want_error,
        "runwatch.request.attempt": 2,
        "runwatch.request.error_code": code,
        **extra,
    }
    assert rec.started == 1
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_request_error_span_details(rec: Recorder) -> None:
    """The raw error code is cut to 100 characters; the span joins the trace current when the
    request failed; an end before the start (a clock step) never gives a negative span."""
    sink = OtelSink(rec.provider)
    tracer = rec.provider.get_tracer("app")
    with tracer.start_as_current_span("handle_request") as outer:
        sink(RequestFailed("chat", 400, "c" * 500, 0, T0, T0 + 1, error_type="400"))
    sink(RequestFailed("chat", 400, "invalid_value", 0, T0 + 5, T0 + 4, error_type="400"))
    first, second = [s for s in rec.exporter.get_finished_spans() if s.name == "chat"]
    assert dict(first.attributes or {})["runwatch.request.error_code"] == "c" * 100
    assert first.parent is not None
    assert first.parent.span_id == outer.get_span_context().span_id
    assert second.parent is None
    assert second.end_time is not None
    assert second.start_time is not None
    assert second.end_time >= second.start_time


def test_request_error_metrics(rec: Recorder) -> None:
    """With a meter provider, each failed request records one gen_ai.client.operation.duration
    with a bounded error.type: the status code's label, or the transport kind without a response."""
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    sink = OtelSink(rec.provider, meters)
    sink(RequestFailed("chat", 429, "rate_limit_exceeded", 0, T0, T0 + 0.5, model="gpt-4o", error_type="429"))
    sink(RequestFailed("chat", 429, "rate_limit_exceeded", 1, T0, T0 + 1.5, model="gpt-4o", error_type="429"))
    sink(RequestFailed("responses", None, "timeout", 0, T0, T0 + 30, error_type="ReadTimeout"))
    sink(RequestFailed("responses", 418, "teapot", 0, T0, T0 + 1, error_type="418"))
    sink(RequestFailed("responses", None, "SomethingNew", 0, T0, T0 + 1, error_type="SomethingNewError"))
    data = reader.get_metrics_data()
    assert data is not None
    points = [
        (dict(p.attributes or {}), p.count, p.sum)  # type: ignore[union-attr]
        for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
        if m.name == "gen_ai.client.operation.duration" for p in m.data.data_points
    ]  # fmt: skip

    def attrs(api: str, model: str, error_type: str) -> dict[str, object]:
        return {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "openai.api.type": api,
                "gen_ai.request.model": model, "error.type": error_type}  # fmt: skip

    assert sorted(points, key=str) == sorted(
        [
            (attrs("chat", "gpt-4o", "429"), 2, 2.0),
            (attrs("responses", "unknown", "timeout"), 1, 30.0),
            (attrs("responses", "unknown", "_other"), 2, 2.0),
        ],
        key=str,
    )
    meters.shutdown()


# -- all three sinks, random orders ------------------------------------------------------------

KINDS = ["queued", "in_progress", "requires_action", "step", "output_item", "weird\x00kind"]
OPS = st.one_of(
    st.tuples(st.just("start"), st.integers(0, 2)),
    st.tuples(st.just("phase_start"), st.integers(0, 2), st.integers(0, 3)),
    st.tuples(st.just("phase_end"), st.integers(0, 2), st.integers(0, 3)),
    st.tuples(st.just("first"), st.integers(0, 2)),
    st.tuples(st.just("tool"), st.integers(0, 2), st.sampled_from(["function", "mcp", "bogus"])),
    st.tuples(st.just("pause"), st.integers(0, 2)),
    st.tuples(st.just("resume"), st.integers(0, 2)),
    st.tuples(st.just("anomaly"), st.integers(-1, 2), st.sampled_from(["unknown_event", "x" * 300])),
    st.tuples(st.just("model"), st.integers(0, 2), st.sampled_from(["gpt-4o", "gpt-5", "o3", "m\n"])),
    st.tuples(st.just("request"), st.integers(0, 2), st.sampled_from([None, 429, 503, 999])),
    st.tuples(
        st.just("finish"),
        st.integers(0, 2),
        st.sampled_from([*STATUSES, "weird"]),
        st.sampled_from(["none", "max_output_tokens", "server_error", "???"]),
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(OPS, max_size=40),
    apis=st.lists(st.sampled_from(["assistants", "responses", "chat", "agents"]), min_size=3, max_size=3),
    models=st.lists(st.one_of(st.none(), st.text(max_size=120)), min_size=3, max_size=3),
)
def test_random_orders_never_break_the_sinks(
    ops: list[tuple[object, ...]], apis: list[str], models: list[str | None]
) -> None:
    """Random valid-ish transition sequences (missing starts, duplicate finishes, phases out of
    order, anomalies anywhere, models reported at any point, failed requests in between) fed
    through OtelSink, PrometheusSink and LogSink never raise; every span that starts ends;
    runs_in_progress returns to 0; runs_total equals runs started, per model label too."""
    rec = Recorder()
    registry = CollectorRegistry()
    sinks = [OtelSink(rec.provider), PrometheusSink(registry, max_models=2), LogSink()]
    runs = [Run(api=api, started_at=T0, request_model=m) for api, m in zip(apis, models, strict=True)]  # type: ignore[arg-type]
    phases = [
        [Phase(KINDS[(r + p) % len(KINDS)], f"phase {r}.{p}", T0 + p, key=f"k{p}",
               tool_type="function" if p % 2 else None) for p in range(4)]
        for r in range(3)
    ]  # fmt: skip
    touched: set[int] = set()
    clock = T0

    def emit(t: Transition) -> None:
        for sink in sinks:
            sink(t)

    with structlog.testing.capture_logs():
        for op in ops:
            clock += 0.1
            name, r = op[0], op[1]
            assert isinstance(r, int)
            run = runs[r] if r >= 0 else None
            if run is not None and name not in ("anomaly", "model", "request"):
                touched.add(r)
            if name == "start":
                emit(RunStarted(runs[r], clock))
            elif name == "phase_start":
                emit(PhaseStarted(runs[r], phases[r][op[2]], clock))  # type: ignore[index]
            elif name == "phase_end":
                phase = phases[r][op[2]]  # type: ignore[index]
                phase.ended_at = clock
                emit(PhaseEnded(runs[r], phase, clock))
            elif name == "first":
                runs[r].first_token_at = clock
                emit(FirstToken(runs[r], clock))
            elif name == "tool":
                emit(ToolCall(runs[r], str(op[2]), clock))
            elif name == "pause":
                emit(RunPaused(runs[r], clock))
            elif name == "resume":
                emit(RunResumed(runs[r], clock))
            elif name == "anomaly":
                emit(Anomaly(run.api if run else None, str(op[2]), run, clock))
            elif name == "model":
                runs[r].model = str(op[2])
            elif name == "request":
                status = op[2] if isinstance(op[2], int) else None
                emit(RequestFailed(runs[r].api, status, "timeout", 0, clock - 0.05, clock))
            else:
                runs[r].ended_at = clock
                emit(RunFinished(runs[r], Outcome(op[2], op[3]), clock))  # type: ignore[arg-type]
        # The tracker guarantees a terminal for every run it touched.
        for r in touched:
            runs[r].ended_at = clock + 1
            emit(RunFinished(runs[r], Outcome("aborted", "stream_ended"), clock + 1))

    assert rec.started == len(rec.exporter.get_finished_spans())
    assert all(s.end_time is not None for s in rec.exporter.get_finished_spans())

    def total(family: str, sample: str) -> float:
        return sum(s.value for m in registry.collect() if m.name == family for s in m.samples
                   if s.name == sample)  # fmt: skip

    assert total("runwatch_runs_in_progress", "runwatch_runs_in_progress") == 0
    assert total("runwatch_runs", "runwatch_runs_total") == len(touched)
    assert total("runwatch_runs_started", "runwatch_runs_started_total") == len(touched)

    def per_model(family: str, sample: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for m in registry.collect():
            for s in m.samples:
                if m.name == family and s.name == sample:
                    out[s.labels["model"]] = out.get(s.labels["model"], 0) + s.value
        return out

    assert per_model("runwatch_runs", "runwatch_runs_total") == per_model(
        "runwatch_runs_started", "runwatch_runs_started_total"
    )
    models_seen = {
        s.labels["model"] for m in registry.collect() if m.name == "runwatch_runs" for s in m.samples
    }
    assert len(models_seen - {"unknown", "_other"}) <= 2


def test_tool_step_renamed_when_tool_known_at_end(rec: Recorder) -> None:
    """An Assistants tool step that only names its tool when it completes gets the final span
    name and gen_ai.tool.type at PhaseEnded."""
    sink = OtelSink(rec.provider)
    run = Run(api="assistants", started_at=T0)
    sink(RunStarted(run, T0))
    step = Phase("step", "execute_tool", T0, key="step_1", attributes={"openai.step.type": "tool_calls"})
    sink(PhaseStarted(run, step, T0))
    step.name, step.tool_type, step.status, step.ended_at = (
        "execute_tool code_interpreter",
        "code_interpreter",
        "completed",
        T0 + 1,
    )
    sink(PhaseEnded(run, step, T0 + 1))
    sink(RunFinished(run, Outcome("completed"), T0 + 2))
    span = rec.spans()["execute_tool code_interpreter"]
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.tool.type"] == "code_interpreter"
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["openai.step.type"] == "tool_calls"


# -- cost per run --------------------------------------------------------------------------------


def test_run_span_attributes_set_in_two_calls(rec: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's span gets its attributes in as few calls as the facts allow: at start, once when the
    ids arrive (the first phase), once at the end -- time to first chunk included, not a call of
    its own; a phase span gets one call at its end (its status). Every attribute still arrives."""
    from opentelemetry.sdk.trace import Span

    by_id: dict[int, int] = {}

    def count(name: str) -> typing.Callable[..., None]:
        original = getattr(Span, name)

        def counted(self: Span, *args: object, **kwargs: object) -> None:
            span_id = self.get_span_context().span_id
            by_id[span_id] = by_id.get(span_id, 0) + 1
            original(self, *args, **kwargs)

        return counted

    monkeypatch.setattr(Span, "set_attributes", count("set_attributes"))
    monkeypatch.setattr(Span, "set_attribute", count("set_attribute"))
    feed(OtelSink(rec.provider), life())
    calls = {s.name: by_id.get(s.context.span_id, 0) for s in rec.exporter.get_finished_spans()}
    assert calls == {"invoke_agent asst_1": 2, "queued": 1, "in_progress": 1, "execute_tool function": 1,
                     "message_creation": 1}  # fmt: skip
    root = rec.spans()["invoke_agent asst_1"]
    assert dict(root.attributes or {})["gen_ai.response.time_to_first_chunk"] == 1.25


@pytest.mark.parametrize(
    ("sampler", "want_trace_id"),
    [
        pytest.param("always_off", True, id="sampled-out"),
        pytest.param("no-sdk", False, id="api-no-op-tracer"),
    ],
)
def test_span_that_records_nothing_builds_nothing(sampler: str, want_trace_id: bool) -> None:
    """A run span that does not record (a sampler dropped the trace, or there is no SDK and the
    API's no-op tracer answers) gets no phase spans and no attributes: one ``start_span`` per run,
    nothing exported, nothing raised. A dropped trace still has an id, which the other sinks
    (exemplars, logs) still get; the GenAI metrics are still recorded."""
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    rec = Recorder()
    if sampler == "always_off":
        rec.provider = TracerProvider(sampler=ALWAYS_OFF)
        rec.provider.add_span_processor(SimpleSpanProcessor(rec.exporter))
        sink = OtelSink(rec.provider, meters)
    else:
        sink = OtelSink(trace.NoOpTracerProvider(), meters)
    started = 0
    start_span = sink._tracer.start_span

    def counting(*args: typing.Any, **kwargs: typing.Any) -> typing.Any:
        nonlocal started
        started += 1
        return start_span(*args, **kwargs)

    sink._tracer.start_span = counting  # type: ignore[method-assign]
    done = feed(sink, life(api="responses"))
    run = done[0].run  # type: ignore[union-attr]
    assert run is not None
    assert started == 1
    assert rec.exporter.get_finished_spans() == ()
    assert ("trace_id" in run.scratch) is want_trace_id
    data = reader.get_metrics_data()
    assert data is not None
    names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert names == {
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.time_to_first_chunk",
    }
    meters.shutdown()
