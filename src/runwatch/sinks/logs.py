"""structlog events for runs: ``run.started``, ``run.phase``, ``run.requires_action``,
``run.resumed``, ``run.anomaly``, ``run.finished``; and ``request.failed`` for a request that
failed before its first event (not a run, so no run logger).

The library never configures structlog or logging: events go to whatever the application set up
(structlog's defaults print them). Each run gets one bound logger, kept in
``run.scratch["log.logger"]``; fields whose value is unknown (None) are left out.

One line per run at info: ``run.finished`` (a warning when the run did not complete), which
carries every fact of the run; ``run.started`` and ``run.phase`` are debug. When the run's logger
says debug is off (``is_enabled_for``, as structlog's filtering and stdlib bound loggers do), the
debug events' fields are not even built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import Any, Final

import structlog
from opentelemetry import trace

from runwatch._events import (
    Anomaly,
    PhaseEnded,
    RequestFailed,
    Run,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
)

#: Anomaly kinds that mean telemetry was lost, logged as warnings (the rest at debug).
LOUD_ANOMALIES: Final = frozenset({"missing_terminal", "truncated_frame"})

# Apis whose run id *is* the response id users search for.
_RESPONSE_APIS: Final = frozenset({"responses", "chat"})

#: Event names and the fields each may carry (besides the bound ones), for the reference doc.
LOG_EVENTS: Final[dict[str, tuple[str, ...]]] = {
    "run.started": ("api", "run_id", "thread_id", "session_id", "model", "trace_id", "span_id"),
    "run.phase": ("phase", "phase_name", "phase_key", "tool_type", "phase_status", "duration_s"),
    "run.requires_action": (),
    "run.resumed": (),
    "run.anomaly": ("api", "kind", "detail"),
    "run.finished": (
        "api", "run_id", "thread_id", "response_id", "session_id", "model", "status", "reason",
        "duration_s", "ttft_s", "input_tokens", "output_tokens", "cached_input_tokens",
        "reasoning_tokens", "tool_calls", "trace_id", "span_id",
    ),
    "request.failed": (
        "api", "status_code", "code", "attempt", "duration_s", "model", "error_type", "trace_id",
        "span_id",
    ),
}  # fmt: skip


def _current_ids() -> tuple[str | None, str | None]:
    """The hex trace and span ids of the current OTel span, or ``(None, None)``."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def add_trace_ids(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: adds ``trace_id`` / ``span_id`` of the current OTel span, when there
    is a valid one and the event does not carry its own.

    Example::

        structlog.configure(processors=[runwatch.add_trace_ids, structlog.processors.JSONRenderer()])
    """
    trace_id, span_id = _current_ids()
    if trace_id is not None:
        event_dict.setdefault("trace_id", trace_id)
        event_dict.setdefault("span_id", span_id)
    return event_dict


def _debug_enabled(log: Any) -> bool:
    """False only when ``log`` says it drops debug events (structlog's filtering bound loggers
    and its stdlib ``BoundLogger`` have ``is_enabled_for``); a logger that cannot say gets them."""
    check = getattr(log, "is_enabled_for", None)
    if check is None:
        return True
    try:
        return bool(check(logging.DEBUG))
    except Exception:  # a logger of the application's own making: assume it wants them
        return True


def _present(**fields: object) -> dict[str, object]:
    return {k: v for k, v in fields.items() if v is not None}


class LogSink:
    """Turns transitions into structlog events.

    Example::

        observer = runwatch.Observer(sinks=[LogSink(structlog.get_logger("myapp.openai"))])
    """

    def __init__(self, logger: Any | None = None) -> None:
        self._logger: Any = logger if logger is not None else structlog.get_logger("runwatch")
        self._dispatch: dict[type, Callable[[Any], None]] = {
            RunStarted: self._on_started,
            PhaseEnded: self._on_phase_ended,
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

    def _log(self, run: Run) -> Any:
        scratch = run.scratch
        log: Any = scratch.get("log.logger")
        if log is None:
            return self._start(run)
        if run.run_id is not None and scratch.get("log.run_id") != run.run_id:
            # The id often arrives with the first event, after run.started: bind it once known.
            scratch["log.run_id"] = run.run_id
            log = scratch["log.logger"] = log.bind(run_id=run.run_id)
        return log

    def _start(self, run: Run) -> Any:
        scratch = run.scratch
        bound = _present(
            api=run.api,
            run_id=run.run_id,
            thread_id=run.thread_id,
            session_id=run.session_id,
            trace_id=scratch.get("trace_id"),
            span_id=scratch.get("span_id"),
        )
        log = self._logger.bind(**bound)
        scratch["log.logger"] = log
        scratch["log.run_id"] = run.run_id
        debug = scratch["log.debug"] = _debug_enabled(log)
        if debug:
            log.debug("run.started", **_present(model=run.model or run.request_model))
        return log

    def _on_started(self, t: RunStarted) -> None:
        if "log.logger" not in t.run.scratch:
            self._start(t.run)

    def _debug_log(self, run: Run) -> Any | None:
        """The run's logger if it takes debug events, else None (nothing to build)."""
        scratch = run.scratch
        if "log.logger" not in scratch:
            self._start(run)
        return self._log(run) if scratch["log.debug"] else None

    def _on_phase_ended(self, t: PhaseEnded) -> None:
        log = self._debug_log(t.run)
        if log is None:
            return
        phase = t.phase
        ended = phase.ended_at if phase.ended_at is not None else t.time
        log.debug(
            "run.phase",
            **_present(
                phase=phase.kind,
                phase_name=phase.name,
                phase_key=phase.key,
                tool_type=phase.tool_type,
                phase_status=phase.status,
                duration_s=max(0.0, ended - phase.started_at),
            ),
        )

    def _on_paused(self, t: RunPaused) -> None:
        self._log(t.run).info("run.requires_action")

    def _on_resumed(self, t: RunResumed) -> None:
        log = self._debug_log(t.run)
        if log is not None:
            log.debug("run.resumed")

    def _on_anomaly(self, t: Anomaly) -> None:
        if t.run is not None:
            log = self._log(t.run)
            fields = _present(kind=t.kind, detail=t.detail or None)
        else:
            log = self._logger
            fields = _present(api=t.api, kind=t.kind, detail=t.detail or None)
        if t.kind in LOUD_ANOMALIES:
            log.warning("run.anomaly", **fields)
        else:
            log.debug("run.anomaly", **fields)

    def _on_request_failed(self, t: RequestFailed) -> None:
        # No run span to take ids from: the request's own context (the caller's span), if any.
        trace_id, span_id = _current_ids()
        self._logger.warning(
            "request.failed",
            **_present(
                api=t.api,
                status_code=t.status_code,
                code=t.code,
                attempt=t.attempt,
                duration_s=t.duration,
                model=t.model,
                error_type=t.error_type or None,
                trace_id=trace_id,
                span_id=span_id,
            ),
        )

    def _on_finished(self, t: RunFinished) -> None:
        run = t.run
        scratch = run.scratch
        if scratch.get("log.finished"):
            return
        # The run's logger as it is (its fields below name every id; no re-binding for them).
        log: Any = scratch.get("log.logger")
        if log is None:
            log = self._start(run)
        scratch["log.finished"] = True
        duration = run.duration
        if duration is None:
            duration = max(0.0, t.time - run.started_at)
        ttft = None if run.first_token_at is None else max(0.0, run.first_token_at - run.started_at)
        usage = run.usage
        fields = _present(
            api=run.api,
            run_id=run.run_id,
            thread_id=run.thread_id,
            response_id=run.run_id if run.api in _RESPONSE_APIS else None,
            session_id=run.session_id,
            model=run.model or run.request_model,
            status=t.outcome.status,
            reason=t.outcome.reason,
            duration_s=duration,
            ttft_s=ttft,
            input_tokens=usage.input,
            output_tokens=usage.output,
            cached_input_tokens=usage.cached_input,
            reasoning_tokens=usage.reasoning,
            tool_calls=run.tool_calls,
            trace_id=scratch.get("trace_id"),
            span_id=scratch.get("span_id"),
        )
        if t.outcome.status == "completed":
            log.info("run.finished", **fields)
        else:
            log.warning("run.finished", **fields)


__all__ = ["LOG_EVENTS", "LOUD_ANOMALIES", "LogSink", "add_trace_ids"]
