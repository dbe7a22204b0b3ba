"""LogSink: event names, levels and fields; the add_trace_ids processor."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sinks_support import T0, feed
from structlog.testing import capture_logs

from runwatch._events import (
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
from runwatch.sinks.logs import LOG_EVENTS, LogSink, add_trace_ids
from runwatch.sinks.otel import OtelSink


def life(
    *,
    api: str = "assistants",
    status: str = "completed",
    reason: str = "none",
    pause: bool = False,
    usage: Usage | None = None,
) -> Iterator[Transition]:
    """A run whose id and thread arrive after RunStarted, with a tool step, optional pause."""
    run = Run(api=api, started_at=T0, request_model="gpt-4o")
    yield RunStarted(run, T0)
    run.run_id, run.model, run.thread_id = "run_1", "gpt-4o-2024-08-06", "thread_1"
    tool = Phase("step", "execute_tool function", T0 + 0.5, key="step_1", tool_type="function")
    yield PhaseStarted(run, tool, T0 + 0.5)
    run.tool_calls += 1
    yield ToolCall(run, "function", T0 + 0.6)
    tool.ended_at, tool.status = T0 + 1.0, "completed"
    yield PhaseEnded(run, tool, T0 + 1.0)
    if pause:
        yield RunPaused(run, T0 + 1.0)
        yield RunResumed(run, T0 + 3.0)
    run.first_token_at = T0 + 3.5
    yield FirstToken(run, T0 + 3.5)
    run.usage = usage if usage is not None else Usage(input=100, output=20)
    run.outcome = Outcome(status, reason)  # type: ignore[arg-type]
    run.ended_at = T0 + 4.0
    yield RunFinished(run, run.outcome, T0 + 4.0)


def by_event(logs: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == event]


def test_event_sequence_and_fields() -> None:
    """A completed run logs run.started and run.phase (debug) and run.finished (info, the one
    info line of a run without a pause) with the documented fields; unknown values are omitted
    rather than logged as None."""
    with capture_logs() as logs:
        feed(LogSink(), life(pause=True))
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("run.started", "debug"),
        ("run.phase", "debug"),
        ("run.requires_action", "info"),
        ("run.resumed", "debug"),
        ("run.finished", "info"),
    ]
    assert logs[0] == {"event": "run.started", "log_level": "debug", "api": "assistants", "model": "gpt-4o"}
    phase = by_event(logs, "run.phase")[0]
    assert phase == {
        "event": "run.phase",
        "log_level": "debug",
        "api": "assistants",
        "run_id": "run_1",
        "phase": "step",
        "phase_name": "execute_tool function",
        "phase_key": "step_1",
        "tool_type": "function",
        "phase_status": "completed",
        "duration_s": 0.5,
    }
    assert by_event(logs, "run.requires_action")[0]["run_id"] == "run_1"
    finished = by_event(logs, "run.finished")[0]
    assert finished == {
        "event": "run.finished",
        "log_level": "info",
        "api": "assistants",
        "run_id": "run_1",
        "thread_id": "thread_1",
        "model": "gpt-4o-2024-08-06",
        "status": "completed",
        "reason": "none",
        "duration_s": 4.0,
        "ttft_s": 3.5,
        "input_tokens": 100,
        "output_tokens": 20,
        "tool_calls": 1,
    }
    assert all(None not in e.values() for e in logs)
    assert set(finished) - {"event", "log_level"} <= set(LOG_EVENTS["run.finished"])


@pytest.mark.parametrize(
    ("api", "status", "reason", "level", "response_id"),
    [
        pytest.param("responses", "completed", "none", "info", "run_1", id="responses-completed"),
        pytest.param("responses", "incomplete", "max_output_tokens", "warning", "run_1", id="incomplete"),
        pytest.param("chat", "incomplete", "length", "warning", "run_1", id="chat-length"),
        pytest.param("assistants", "failed", "server_error", "warning", None, id="failed"),
        pytest.param("assistants", "cancelled", "cancelled", "warning", None, id="cancelled"),
        pytest.param("agents", "aborted", "stream_ended", "warning", None, id="aborted"),
    ],
)
def test_finished_level_and_response_id(
    api: str, status: str, reason: str, level: str, response_id: str | None
) -> None:
    """run.finished is info only when completed, warning otherwise; response_id is the run id
    for Responses and Chat Completions only."""
    with capture_logs() as logs:
        feed(LogSink(), life(api=api, status=status, reason=reason))
    (finished,) = by_event(logs, "run.finished")
    assert finished["log_level"] == level
    assert (finished["status"], finished["reason"]) == (status, reason)
    assert finished.get("response_id") == response_id


@pytest.mark.parametrize(
    ("kind", "with_run", "level"),
    [
        pytest.param("missing_terminal", True, "warning", id="missing-terminal"),
        pytest.param("truncated_frame", False, "warning", id="truncated-no-run"),
        pytest.param("unknown_event", True, "debug", id="unknown-event"),
        pytest.param("malformed_json", False, "debug", id="malformed-no-run"),
    ],
)
def test_anomalies(kind: str, with_run: bool, level: str) -> None:
    """Anomalies that lose telemetry are warnings, the rest debug; kind and detail are logged,
    with the run's bound fields when there is a run and the api otherwise."""
    run = Run(api="responses", started_at=T0, run_id="resp_1")
    with capture_logs() as logs:
        LogSink()(Anomaly("responses", kind, run if with_run else None, T0, detail="response.sparkle"))
    (event,) = by_event(logs, "run.anomaly")
    assert event["log_level"] == level
    assert (event["kind"], event["detail"], event["api"]) == (kind, "response.sparkle", "responses")
    assert event.get("run_id") == ("resp_1" if with_run else None)


@pytest.mark.parametrize(
    ("failed", "want"),
    [
        pytest.param(
            RequestFailed("responses", 429, "rate_limit_exceeded", 1, T0, T0 + 0.25, model="gpt-4o",
                          error_type="429"),
            {"api": "responses", "status_code": 429, "code": "rate_limit_exceeded", "attempt": 1,
             "duration_s": 0.25, "model": "gpt-4o", "error_type": "429"},
            id="http-429",
        ),
        pytest.param(
            RequestFailed("chat", None, "timeout", 0, T0, T0 + 30, error_type="ReadTimeout"),
            {"api": "chat", "code": "timeout", "attempt": 0, "duration_s": 30.0, "error_type": "ReadTimeout"},
            id="transport-no-status-no-model",
        ),
        pytest.param(
            RequestFailed("assistants", 500, "none", 2, T0 + 1, T0),
            {"api": "assistants", "status_code": 500, "code": "none", "attempt": 2, "duration_s": 0.0},
            id="no-error-type-clock-step",
        ),
    ],
)  # fmt: skip
def test_request_failed(failed: RequestFailed, want: dict[str, object]) -> None:
    """A failed request is one ``request.failed`` warning with its api, status code, raw code,
    attempt, duration, model and error type (unknown ones omitted); it is not a run, so there is
    no run.started or run.finished."""
    with capture_logs() as logs:
        LogSink()(failed)
    assert logs == [{"event": "request.failed", "log_level": "warning", **want}]
    assert set(want) <= set(LOG_EVENTS["request.failed"])


def test_request_failed_carries_the_current_trace() -> None:
    """Inside an application span, request.failed carries that span's trace and span ids (there
    is no run span to take them from); outside any span it carries none."""
    provider = TracerProvider()
    sink = LogSink()
    with capture_logs() as logs:
        with provider.get_tracer("app").start_as_current_span("handle_request") as span:
            sink(RequestFailed("chat", 503, "server_error", 0, T0, T0 + 1))
        sink(RequestFailed("chat", 503, "server_error", 1, T0, T0 + 1))
    ctx = span.get_span_context()
    assert (logs[0]["trace_id"], logs[0]["span_id"]) == (
        format(ctx.trace_id, "032x"),
        format(ctx.span_id, "016x"),
    )
    assert "trace_id" not in logs[1]
    assert "span_id" not in logs[1]


def test_odd_orders() -> None:
    """RunFinished without RunStarted logs run.started first; a duplicate RunFinished logs
    nothing; a PhaseEnded without PhaseStarted is still logged."""
    run = Run(api="chat", started_at=T0, model="gpt-4o")
    phase = Phase("output_item", "output_item message", T0)
    finished = RunFinished(run, Outcome("completed", "stop"), T0 + 1)
    sink = LogSink()
    with capture_logs() as logs:
        sink(PhaseEnded(run, phase, T0 + 0.5))
        sink(finished)
        sink(finished)
    assert [e["event"] for e in logs] == ["run.started", "run.phase", "run.finished"]
    assert logs[1]["duration_s"] == 0.5
    assert all(k.startswith("log.") for k in run.scratch)


def test_binds_once_per_run_with_trace_ids() -> None:
    """Behind OtelSink, every event of a run carries the run span's trace and span ids, and the
    bound logger is created once and kept in run.scratch."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel, sink = OtelSink(provider), LogSink()
    with capture_logs() as logs:
        done = feed(lambda t: (otel(t), sink(t)), life())
    run = done[0].run  # type: ignore[union-attr]
    assert run is not None
    (root,) = [s for s in exporter.get_finished_spans() if s.parent is None]
    trace_id, span_id = format(root.context.trace_id, "032x"), format(root.context.span_id, "016x")
    assert all((e["trace_id"], e["span_id"]) == (trace_id, span_id) for e in logs)
    assert run.scratch["log.logger"] is not None


def test_explicit_logger() -> None:
    """A logger passed in is used (with its own bound context) instead of the default one."""
    with capture_logs() as logs:
        feed(LogSink(structlog.get_logger("mine").bind(service="billing")), life())
    assert logs
    assert all(e["service"] == "billing" for e in logs)


def test_add_trace_ids() -> None:
    """add_trace_ids adds the current span's ids, keeps ids already present, and adds nothing
    outside a valid span."""
    provider = TracerProvider()
    tracer = provider.get_tracer("test")
    assert add_trace_ids(None, "info", {"event": "x"}) == {"event": "x"}
    with tracer.start_as_current_span("outer") as span:
        ctx = span.get_span_context()
        got = add_trace_ids(None, "info", {"event": "x"})
        kept = add_trace_ids(None, "info", {"event": "x", "trace_id": "mine"})
    assert got == {
        "event": "x",
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
    }
    assert kept["trace_id"] == "mine"
    assert kept["span_id"] == format(ctx.span_id, "016x")


def test_add_trace_ids_in_a_structlog_chain() -> None:
    """The processor works as a structlog processor in a real chain."""
    provider = TracerProvider()
    log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[add_trace_ids])
    with provider.get_tracer("t").start_as_current_span("s") as span:
        _, event_dict = log.info("hello")
    assert event_dict["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert event_dict["event"] == "hello"


# -- cost per run --------------------------------------------------------------------------------


class NoIsEnabled:
    """A logger of an application's own making: no ``is_enabled_for``, every level goes through."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def bind(self, **_: object) -> NoIsEnabled:
        return self

    def __getattr__(self, level: str) -> Any:
        if level not in ("debug", "info", "warning"):
            raise AttributeError(level)
        return lambda event, **_: self.calls.append((level, event))


EVERY_LINE = [("debug", "run.started"), ("debug", "run.phase"), ("info", "run.finished")]


@pytest.mark.parametrize(
    ("make", "pause", "want"),
    [
        pytest.param("info", False, [("info", "run.finished")], id="info-one-line-per-run"),
        pytest.param("info", True, [("info", "run.requires_action"), ("info", "run.finished")],
                     id="info-with-pause"),
        pytest.param("debug", False, EVERY_LINE, id="debug-everything"),
        pytest.param("own", False, EVERY_LINE, id="logger-that-cannot-say"),
    ],
)  # fmt: skip
def test_one_info_line_per_run(make: str, pause: bool, want: list[tuple[str, str]]) -> None:
    """At info a completed run writes one line, ``run.finished`` (plus ``run.requires_action`` when it
    paused); debug events reach only a logger that takes debug, or one that cannot say whether
    it does -- and are not even handed to a logger that drops them."""
    if make == "own":
        own = NoIsEnabled()
        feed(LogSink(own), life(pause=pause))
        assert own.calls == want
        return
    capture = structlog.testing.CapturingLogger()
    level = logging.INFO if make == "info" else logging.DEBUG
    wrapper = structlog.make_filtering_bound_logger(level)
    logger = structlog.wrap_logger(capture, processors=[], wrapper_class=wrapper)
    feed(LogSink(logger), life(pause=pause))
    got = [(c.method_name, c.args[0] if c.args else c.kwargs.get("event")) for c in capture.calls]
    assert [g for g in got if g[1] != "run.resumed"] == want
