"""docs/reference.md lists exactly what the sinks emit: metrics, labels, span attributes, events."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from runwatch._events import (
    ANOMALY_KINDS,
    CONSISTENCY_KINDS,
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
    Usage,
)
from runwatch._safety import STAGES
from runwatch.sinks.logs import LOG_EVENTS, LogSink
from runwatch.sinks.otel import (
    PHASE_SPAN_ATTRIBUTES,
    REQUEST_SPAN_ATTRIBUTES,
    RUN_SPAN_ATTRIBUTES,
    SPAN_EVENTS,
    OtelSink,
)
from runwatch.sinks.prometheus import (
    PHASES,
    REASONS,
    REQUEST_ERROR_CODES,
    REQUEST_STATUS_CODES,
    TOOL_TYPES,
    TRANSPORT,
    PrometheusSink,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference.md"
T0 = 1_700_000_000.0
TICK = re.compile(r"`([^`]+)`")


def tables() -> dict[str, list[list[str]]]:
    """Each heading's table body rows (header and separator dropped), cells stripped."""
    out: dict[str, list[list[str]]] = {}
    heading = ""
    for line in DOC.read_text().splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out.setdefault(heading, []).append(cells)
    return {h: rows[2:] for h, rows in out.items()}


def first_ticks(heading: str) -> list[str]:
    """The backticked name in the first cell of each row of a heading's table."""
    return [TICK.findall(row[0])[0] for row in tables()[heading]]


def scenario(*, api: str, status: str, reason: str, phase_status: str = "completed") -> Iterator[Transition]:
    """A run that exercises every field: ids, tools, pause, anomaly, tokens, TTFT."""
    run = Run(api=api, started_at=T0, request_model="gpt-4o", thread_id="thread_1", assistant_id="asst_1")
    yield RunStarted(run, T0)
    run.run_id, run.model = "run_1", "gpt-4o"
    step = Phase("step", "execute_tool function", T0, key="step_1", tool_type="function")
    yield PhaseStarted(run, step, T0)
    yield ToolCall(run, "function", T0)
    step.status, step.ended_at = phase_status, T0 + 1
    yield PhaseEnded(run, step, T0 + 1)
    yield RunPaused(run, T0 + 1)
    yield RunResumed(run, T0 + 2)
    yield Anomaly(api, "unknown_event", run, T0 + 2, detail="x")  # type: ignore[arg-type]
    run.first_token_at = T0 + 2.5
    yield FirstToken(run, T0 + 2.5)
    run.usage = Usage(input=1, output=2, cached_input=3, reasoning=4)
    run.finish_reasons = ["stop"]
    run.ended_at = T0 + 3
    yield RunFinished(run, Outcome(status, reason), T0 + 3)  # type: ignore[arg-type]


def request_errors() -> list[RequestFailed]:
    """Failed requests that exercise every field: with and without a response, a model, an
    error type."""
    return [
        RequestFailed(
            "responses", 429, "rate_limit_exceeded", 1, T0, T0 + 1, model="gpt-4o", error_type="429"
        ),
        RequestFailed("chat", None, "timeout", 0, T0, T0 + 30, error_type="ReadTimeout"),
        RequestFailed("assistants", 500, "none", 0, T0, T0 + 1),
    ]


SCENARIOS = [
    {"api": "assistants", "status": "completed", "reason": "none"},
    {"api": "responses", "status": "incomplete", "reason": "max_output_tokens"},
    {"api": "responses", "status": "failed", "reason": "server_error", "phase_status": "failed"},
]


def test_metrics_table_matches_registry() -> None:
    """The metrics table lists exactly the metric names, types and label names the Prometheus
    sink registers (after a run that touches every metric)."""
    registry = CollectorRegistry()
    sink = PrometheusSink(registry)
    for kw in SCENARIOS:
        for t in scenario(**kw):
            sink(t)
    sink.count_internal_error("sink")
    for failed in request_errors():
        sink(failed)
    found = {}
    for family in registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = {k for s in family.samples for k in s.labels if k != "le"}
        found[name] = (family.type, labels)
    documented = {
        TICK.findall(row[0])[0]: (row[1], {x.strip() for x in row[2].split(",")})
        for row in tables()["Prometheus metrics"]
    }
    assert documented == found


def test_label_values_match_code() -> None:
    """The label value table lists exactly the closed sets the code uses."""
    rows = {row[0]: set(TICK.findall(row[1])) for row in tables()["Label values"]}
    other = {"_other"}
    assert rows["`status`"] == set(STATUSES)
    common = rows["`reason` (every api)"]
    for api, reasons in REASONS.items():
        assert common | rows[f"`reason` ({api})"] == reasons | other, api
    assert rows["`tool_type`"] == TOOL_TYPES | other
    assert rows["`kind`"] == ANOMALY_KINDS | other
    assert rows["`stage`"] == set(STAGES) | other
    assert rows["`status_code`"] == REQUEST_STATUS_CODES | {TRANSPORT} | other
    assert rows["`code`"] == REQUEST_ERROR_CODES | other
    assert rows["`phase`"] == set(PHASES.values()) | {"tool_call", "message_creation"} | other
    assert rows["`type`"] == {k for k, _ in Usage(1, 1, 1, 1).items()}
    assert rows["`api`"] >= {"assistants", "responses", "chat", "agents", "unknown"}


def test_every_anomaly_kind_is_explained() -> None:
    """The two anomaly tables together explain each kind the code can count, once, the
    protocol-consistency ones in theirs."""
    rows = tables()["Anomalies: what runwatch could not read or count"]
    other = [kind for row in rows for kind in TICK.findall(row[0])]
    consistency = first_ticks("Protocol-consistency anomalies")
    assert set(consistency) == CONSISTENCY_KINDS
    assert sorted(other + consistency) == sorted(ANOMALY_KINDS)


def spans_of_scenarios() -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for sink in (OtelSink(provider), OtelSink(provider, incomplete_is_error=True)):
        for kw in SCENARIOS:
            for t in scenario(**kw):
                sink(t)
    return list(exporter.get_finished_spans())


def test_request_span_attributes_table_matches_code() -> None:
    """The request error span attribute table equals the keys the code declares, and those are
    exactly the keys it sets across failed requests with and without a response."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = OtelSink(provider)
    for failed in request_errors():
        sink(failed)
    keys = {k for s in exporter.get_finished_spans() for k in (s.attributes or {})}
    assert set(first_ticks("Request error span attributes")) == REQUEST_SPAN_ATTRIBUTES == keys


def test_span_attributes_table_matches_code() -> None:
    """The run and phase span attribute tables equal the keys the code declares, and those are
    exactly the keys it sets across scenarios covering every outcome class."""
    spans = spans_of_scenarios()
    run_keys = {k for s in spans if s.parent is None for k in (s.attributes or {})}
    phase_keys = {k for s in spans if s.parent is not None for k in (s.attributes or {})}
    assert set(first_ticks("Run span attributes")) == RUN_SPAN_ATTRIBUTES == run_keys
    assert set(first_ticks("Phase span attributes")) == PHASE_SPAN_ATTRIBUTES == phase_keys


def test_span_events_table_matches_code() -> None:
    """The span events table lists exactly the events (and their attribute keys) recorded."""
    seen: dict[str, set[str]] = {}
    for span in spans_of_scenarios():
        for event in span.events:
            seen.setdefault(event.name, set()).update(event.attributes or {})
    documented = {TICK.findall(r[0])[0]: set(TICK.findall(r[2])) for r in tables()["Span events"]}
    assert documented == {k: set(v) for k, v in SPAN_EVENTS.items()} == seen


def test_genai_metrics_table_matches_code() -> None:
    """The OTel GenAI metrics table lists exactly the instruments recorded, with their units."""
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    sink = OtelSink(TracerProvider(), meters)
    for kw in SCENARIOS:
        for t in scenario(**kw):
            sink(t)
    for failed in request_errors():
        sink(failed)
    data = reader.get_metrics_data()
    assert data is not None
    found = {m.name: m.unit for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    documented = {TICK.findall(r[0])[0]: r[2] for r in tables()["OTel GenAI metrics"]}
    assert documented == found
    meters.shutdown()


@pytest.mark.parametrize("kw", [pytest.param(kw, id=kw["status"]) for kw in SCENARIOS])
def test_log_events_table_matches_code(kw: dict[str, str]) -> None:
    """The log events table lists exactly the events LogSink declares, every field an emitted
    event carries (beyond the bound ones) is documented for that event, and failed requests
    (inside an application span) carry every documented request.failed field."""
    documented = {TICK.findall(r[0])[0]: set(TICK.findall(r[2])) for r in tables()["Log events"]}
    assert set(documented) == set(LOG_EVENTS)
    for name, fields in LOG_EVENTS.items():
        assert documented[name] == set(fields), name
    bound = {"api", "run_id", "thread_id", "session_id", "trace_id", "span_id"}
    tracer = TracerProvider().get_tracer("app")
    with structlog.testing.capture_logs() as logs, tracer.start_as_current_span("app"):
        sink = LogSink()
        for t in scenario(**kw):
            sink(t)
        for failed in request_errors():
            sink(failed)
    assert {e["event"] for e in logs} <= set(LOG_EVENTS)
    failed_fields = {k for e in logs if e["event"] == "request.failed" for k in e} - {"event", "log_level"}
    assert failed_fields == set(LOG_EVENTS["request.failed"])
    for e in logs:
        extra = set(e) - {"event", "log_level"} - bound
        assert extra <= set(LOG_EVENTS[e["event"]]), e["event"]
