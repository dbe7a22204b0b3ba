"""Prometheus metrics for runs: counts of terminal statuses by reason, durations, tokens, tools.

Every label value comes from a closed set (declared once, in :mod:`runwatch._labels`, and
re-exported here: :data:`REASONS`, :data:`TOOL_TYPES`, :data:`PHASES`, :data:`REQUEST_STATUS_CODES`,
:data:`REQUEST_ERROR_CODES`) or from a capped set of model names, so a hostile or buggy server
cannot blow up the series count. Ids never become labels; the trace id rides along as an exemplar
instead.

One model label per run: the run's ``model_label`` (the request's model, else the first one
reported), pinned the first time it is known -- or ``unknown`` at the latest at ``RunFinished`` --
and never changed afterwards, so ``runs_started_total`` and ``runs_total`` of a model always match.

Per-run state (the pinned model and its label children) lives in ``run.scratch["prom.state"]``
and goes away with the run. The only sink-level dicts are keyed by closed label sets (and the
capped model label): label children are bound once per ``(api, model)`` and reused by every run
of that pair, so a run costs its samples, not a ``labels()`` look-up per sample.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Final

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from runwatch._events import (
    ANOMALY_KINDS,
    Anomaly,
    FirstToken,
    PhaseEnded,
    PhaseStarted,
    RequestFailed,
    Run,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    ToolCall,
)
from runwatch._labels import (
    API_SET,
    OTHER,
    PHASES,
    REASONS,
    REQUEST_ERROR_CODES,
    REQUEST_STATUS_CODES,
    STAGE_SET,
    STATUS_SET,
    TOOL_TYPES,
    TRANSPORT,
    UNKNOWN,
    ModelLabels,
    phase_label,
    reason_label,
    request_code_label,
    status_code_label,
)

#: GenAI semantic-convention buckets for durations in seconds (also used for TTFT and phases).
DURATION_BUCKETS: Final[tuple[float, ...]] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip



class _Metrics:
    """The metric objects of one namespace in one registry (created once, shared by sinks)."""

    def __init__(self, registry: CollectorRegistry, namespace: str) -> None:
        kw: dict[str, Any] = {"namespace": namespace, "registry": registry}
        self.runs = Counter(
            "runs", "Runs that ended, by terminal status and reason.",
            ("api", "model", "status", "reason"), **kw,
        )  # fmt: skip
        self.runs_started = Counter("runs_started", "Runs that started.", ("api", "model"), **kw)
        self.in_progress = Gauge(
            "runs_in_progress", "Runs started and not yet ended.", ("api",),
            multiprocess_mode="livesum", **kw,
        )  # fmt: skip
        self.run_duration = Histogram(
            "run_duration_seconds", "Wall-clock duration of a run, start to terminal.",
            ("api", "model", "status"), buckets=DURATION_BUCKETS, **kw,
        )  # fmt: skip
        self.phase_duration = Histogram(
            "phase_duration_seconds", "Duration of a phase of a run.",
            ("api", "phase"), buckets=DURATION_BUCKETS, **kw,
        )  # fmt: skip
        self.ttft = Histogram(
            "time_to_first_token_seconds", "Time from run start to the first output token.",
            ("api", "model"), buckets=DURATION_BUCKETS, **kw,
        )  # fmt: skip
        self.tokens = Counter("tokens", "Tokens used by ended runs.", ("api", "model", "type"), **kw)
        self.tool_calls = Counter("tool_calls", "Tool calls made by runs.", ("api", "tool_type"), **kw)
        self.anomalies = Counter(
            "stream_anomalies", "Things the protocol did not promise.", ("api", "kind"), **kw
        )
        self.internal_errors = Counter(
            "internal_errors", "runwatch's own failures, swallowed.", ("stage",), **kw
        )
        self.request_errors = Counter(
            "request_errors", "HTTP attempts that failed before their first event (not runs).",
            ("api", "status_code", "code"), **kw,
        )  # fmt: skip


# Bounded by the number of registries, not runs: lets two sinks (or a re-built default observer)
# share one registry without "Duplicated timeseries" errors.
_METRICS: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, _Metrics]] = weakref.WeakKeyDictionary()
_METRICS_LOCK: Final = threading.Lock()


def _metrics_for(registry: CollectorRegistry, namespace: str) -> _Metrics:
    with _METRICS_LOCK:
        per_namespace = _METRICS.setdefault(registry, {})
        metrics = per_namespace.get(namespace)
        if metrics is None:
            metrics = per_namespace[namespace] = _Metrics(registry, namespace)
        return metrics


def _multiprocess() -> bool:
    return "PROMETHEUS_MULTIPROC_DIR" in os.environ or "prometheus_multiproc_dir" in os.environ


class _ModelChildren:
    """The label children of one ``(api, model)`` pair, bound on first use and kept by the sink
    (bounded: apis x capped model labels x closed sets of status, reason and token type)."""

    __slots__ = ("api", "duration", "m", "model", "runs", "runs_started", "tokens", "ttft")

    def __init__(self, m: _Metrics, api: str, model: str) -> None:
        self.m, self.api, self.model = m, api, model
        self.runs_started = m.runs_started.labels(api, model)
        self.ttft = m.ttft.labels(api, model)
        self.runs: dict[tuple[str, str], Any] = {}
        self.duration: dict[str, Any] = {}
        self.tokens: dict[str, Any] = {}

    def runs_child(self, status: str, reason: str) -> Any:
        child = self.runs.get((status, reason))
        if child is None:
            child = self.runs[status, reason] = self.m.runs.labels(self.api, self.model, status, reason)
        return child

    def duration_child(self, status: str) -> Any:
        child = self.duration.get(status)
        if child is None:
            child = self.duration[status] = self.m.run_duration.labels(self.api, self.model, status)
        return child

    def tokens_child(self, token_type: str) -> Any:
        child = self.tokens.get(token_type)
        if child is None:
            child = self.tokens[token_type] = self.m.tokens.labels(self.api, self.model, token_type)
        return child


class _RunState:
    """A run's pinned model label (its bound children) and what it has counted so far.

    ``children`` is None until the model is pinned; ``runs_started_total`` is counted when it is
    (a TTFT seen before that waits in ``ttft_pending``)."""

    __slots__ = ("api", "children", "exemplar", "finished", "in_progress", "ttft_done", "ttft_pending")

    def __init__(self, api: str, in_progress: Any) -> None:
        self.api = api
        self.children: _ModelChildren | None = None
        self.in_progress = in_progress
        self.exemplar: dict[str, str] | None = None
        self.ttft_done = False
        self.ttft_pending: float | None = None
        self.finished = False

    @property
    def model(self) -> str | None:
        return self.children.model if self.children is not None else None


class PrometheusSink:
    """Turns transitions into ``runwatch_*`` Prometheus metrics.

    Example::

        registry = CollectorRegistry()
        sink = PrometheusSink(registry, max_models=20)
        observer = runwatch.Observer(sinks=[sink])
        registry.get_sample_value("runwatch_runs_total", {...})
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        max_models: int = 50,
        namespace: str = "runwatch",
    ) -> None:
        self._m = _metrics_for(REGISTRY if registry is None else registry, namespace)
        self._models = ModelLabels(max_models)
        # Multiprocess values silently drop exemplars; skip building them at all.
        self._exemplars = not _multiprocess()
        # Keyed by closed label sets only (bounded), never by run.
        self._in_progress: dict[str, Any] = {}
        self._model_children: dict[tuple[str, str], _ModelChildren] = {}
        self._tool_children: dict[tuple[str, str], Any] = {}
        self._phase_children: dict[tuple[str, str], Any] = {}
        self._anomaly_children: dict[tuple[str, str], Any] = {}
        self._request_children: dict[tuple[str, str, str], Any] = {}
        self._dispatch: dict[type, Callable[[Any], None]] = {
            RunStarted: self._on_started,
            FirstToken: self._on_first_token,
            ToolCall: self._on_tool_call,
            PhaseStarted: self._on_run_transition,
            PhaseEnded: self._on_phase_ended,
            RunPaused: self._on_run_transition,
            RunResumed: self._on_run_transition,
            RunFinished: self._on_finished,
            Anomaly: self._on_anomaly,
            RequestFailed: self._on_request_failed,
        }

    def __call__(self, transition: object, /) -> None:
        handler = self._dispatch.get(type(transition))
        if handler is not None:
            handler(transition)

    def count_internal_error(self, stage: str) -> None:
        """Counts one swallowed internal error (registered with ``Safety.add_counter``)."""
        self._m.internal_errors.labels(stage if stage in STAGE_SET else OTHER).inc()

    # -- per-run -----------------------------------------------------------------------------

    def _exemplar(self, run: Run) -> dict[str, str] | None:
        if not self._exemplars:
            return None
        trace_id = run.scratch.get("trace_id")
        return {"trace_id": trace_id} if isinstance(trace_id, str) else None

    def _state(self, run: Run) -> _RunState:
        state = run.scratch.get("prom.state")
        if isinstance(state, _RunState):
            return state
        return self._start(run)

    def _start(self, run: Run) -> _RunState:
        api = run.api
        in_progress = self._in_progress.get(api)
        if in_progress is None:
            in_progress = self._in_progress[api] = self._m.in_progress.labels(api)
        state = _RunState(api, in_progress)
        run.scratch["prom.state"] = state
        in_progress.inc()
        self._pin(run, state)
        return state

    def _pin(self, run: Run, state: _RunState, *, final: bool = False) -> None:
        """Fix the run's model label once it is known (``final``: now, ``unknown`` if it is not):
        the run is counted as started under it, and every later sample of the run carries it."""
        if state.children is not None or not (final or run.model_label):
            return
        key = (state.api, self._models(run.model_label))
        children = self._model_children.get(key)
        if children is None:
            children = self._model_children[key] = _ModelChildren(self._m, *key)
        state.children = children
        if state.exemplar is None:
            state.exemplar = self._exemplar(run)
        children.runs_started.inc(exemplar=state.exemplar)
        if state.ttft_pending is not None:
            children.ttft.observe(state.ttft_pending, exemplar=state.exemplar)
            state.ttft_pending = None

    def _pin_if_known(self, run: Run) -> None:
        # Any transition of a started run may be the first moment its model is known.
        state = run.scratch.get("prom.state")
        if isinstance(state, _RunState) and state.children is None:
            self._pin(run, state)

    def _on_run_transition(self, t: PhaseStarted | RunPaused | RunResumed) -> None:
        self._pin_if_known(t.run)

    def _on_started(self, t: RunStarted) -> None:
        if not isinstance(t.run.scratch.get("prom.state"), _RunState):
            self._start(t.run)

    def _on_first_token(self, t: FirstToken) -> None:
        run = t.run
        state = self._state(run)
        if state.ttft_done or state.finished:
            return
        state.ttft_done = True
        at = run.first_token_at if run.first_token_at is not None else t.time
        seconds = max(0.0, at - run.started_at)
        self._pin(run, state)
        if state.children is None:
            state.ttft_pending = seconds  # observed under the model once it is pinned
        else:
            state.children.ttft.observe(seconds, exemplar=state.exemplar)

    def _on_tool_call(self, t: ToolCall) -> None:
        self._pin_if_known(t.run)
        tool_type = t.tool_type if t.tool_type in TOOL_TYPES else OTHER
        key = (t.run.api, tool_type)
        child = self._tool_children.get(key)
        if child is None:
            child = self._tool_children[key] = self._m.tool_calls.labels(*key)
        child.inc()

    def _on_phase_ended(self, t: PhaseEnded) -> None:
        self._pin_if_known(t.run)
        phase = t.phase
        key = (t.run.api, phase_label(phase.kind, phase.tool_type))
        child = self._phase_children.get(key)
        if child is None:
            child = self._phase_children[key] = self._m.phase_duration.labels(*key)
        ended = phase.ended_at if phase.ended_at is not None else t.time
        child.observe(max(0.0, ended - phase.started_at))

    def _on_finished(self, t: RunFinished) -> None:
        run = t.run
        state = self._state(run)
        if state.finished:
            return
        state.finished = True
        self._pin(run, state, final=True)
        if state.exemplar is None:
            state.exemplar = self._exemplar(run)
        children, exemplar = state.children, state.exemplar
        assert children is not None  # pinned (final) above
        status = t.outcome.status if t.outcome.status in STATUS_SET else UNKNOWN
        children.runs_child(status, reason_label(state.api, t.outcome.reason)).inc(exemplar=exemplar)
        duration = run.duration
        if duration is None:
            duration = max(0.0, t.time - run.started_at)
        children.duration_child(status).observe(duration, exemplar=exemplar)
        for token_type, count in run.usage.items():
            if count > 0:
                children.tokens_child(token_type).inc(count, exemplar=exemplar)
        state.in_progress.dec()

    def _on_anomaly(self, t: Anomaly) -> None:
        if t.run is not None:
            self._pin_if_known(t.run)
        api = t.api if t.api is not None else (t.run.api if t.run is not None else UNKNOWN)
        key = (api, t.kind if t.kind in ANOMALY_KINDS else OTHER)
        child = self._anomaly_children.get(key)
        if child is None:
            child = self._anomaly_children[key] = self._m.anomalies.labels(*key)
        child.inc()

    def _on_request_failed(self, t: RequestFailed) -> None:
        # No run, so no run span and no exemplar: the request error has no trace id of its own.
        api = t.api if t.api in API_SET else UNKNOWN
        key = (api, status_code_label(t.status_code), request_code_label(t.code))
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self._m.request_errors.labels(*key)
        child.inc()


__all__ = [
    "DURATION_BUCKETS",
    "PHASES",
    "REASONS",
    "REQUEST_ERROR_CODES",
    "REQUEST_STATUS_CODES",
    "TOOL_TYPES",
    "TRANSPORT",
    "ModelLabels",
    "PrometheusSink",
    "phase_label",
    "reason_label",
    "request_code_label",
    "status_code_label",
]
