"""Prometheus metrics for runs: counts of terminal statuses by reason, durations, tokens, tools.

Every label value comes from a closed set (see :data:`REASONS`, :data:`TOOL_TYPES`,
:data:`PHASES`) or from a capped set of model names, so a hostile or buggy server cannot blow up
the series count. Ids never become labels; the trace id rides along as an exemplar instead.

Per-run state (the label children bound at ``RunStarted``) lives in ``run.scratch["prom.state"]``
and goes away with the run. The only sink-level dicts are keyed by closed label sets.
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
    STATUSES,
    Anomaly,
    FirstToken,
    PhaseEnded,
    Run,
    RunFinished,
    RunStarted,
    ToolCall,
)
from runwatch._safety import STAGES

OTHER: Final = "_other"
UNKNOWN: Final = "unknown"

#: GenAI semantic-convention buckets for durations in seconds (also used for TTFT and phases).
DURATION_BUCKETS: Final[tuple[float, ...]] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip

# Outcomes the tracker itself produces, whatever the protocol said (or failed to say).
_COMMON_REASONS: Final = frozenset(
    {
        "none",
        "stream_ended",
        "client_closed",
        "transport_error",
        "cancelled",
        "handler_error",
        "ttl_expired",
        "http_error",
        "unknown_status",
    }
)

# openai/types/responses/response_error.py (openai 3.57): the image_* family and friends.
_RESPONSES_IMAGE_CODES: Final = frozenset(
    {
        "invalid_image",
        "invalid_image_format",
        "invalid_base64_image",
        "invalid_image_url",
        "image_too_large",
        "image_too_small",
        "image_parse_error",
        "image_content_policy_violation",
        "invalid_image_mode",
        "image_file_too_large",
        "unsupported_image_media_type",
        "empty_image_file",
        "failed_to_download_image",
        "image_file_not_found",
    }
)

#: The closed set of ``reason`` label values per api (anything else becomes ``_other``).
REASONS: Final[dict[str, frozenset[str]]] = {
    "assistants": _COMMON_REASONS
    | {
        "max_completion_tokens",
        "max_prompt_tokens",
        "server_error",
        "rate_limit_exceeded",
        "invalid_prompt",
    },
    "responses": _COMMON_REASONS
    | _RESPONSES_IMAGE_CODES
    | {
        "max_output_tokens",
        "max_messages",
        "content_filter",
        "steered",
        "server_error",
        "rate_limit_exceeded",
        "invalid_prompt",
        "data_residency_mismatch",
        "bio_policy",
        "misalignment_policy_violation",
        "vector_store_timeout",
        "insufficient_quota",
    },
    "chat": _COMMON_REASONS | {"length", "content_filter", "stop", "tool_calls", "function_call"},
    "agents": _COMMON_REASONS
    | {
        "max_output_tokens",
        "context_length_exceeded",
        "session_budget_exceeded",
        "usage_limit_exceeded",
        "server_error",
        "rate_limit_exceeded",
    },
}

#: The closed set of ``tool_type`` label values (anything else becomes ``_other``).
TOOL_TYPES: Final = frozenset(
    {
        "function",
        "code_interpreter",
        "file_search",
        "web_search",
        "image_generation",
        "mcp",
        "shell",
        "computer",
        "custom",
        "local_shell",
        "apply_patch",
    }
)

#: ``Phase.kind`` -> ``phase`` label value; ``step`` is split by :func:`phase_label`.
PHASES: Final[dict[str, str]] = {
    "queued": "queued",
    "in_progress": "in_progress",
    "requires_action": "requires_action",
    "cancelling": "cancelling",
    "output_item": "output_item",
}

_STATUS_SET: Final = frozenset(STATUSES)
_STAGE_SET: Final = frozenset(STAGES)
_MAX_MODEL_LEN: Final = 100


def phase_label(kind: str, tool_type: str | None) -> str:
    """The ``phase`` label of a phase: its kind, with Assistants steps split by what they did.

    >>> phase_label("step", "function"), phase_label("step", None), phase_label("weird", None)
    ('tool_call', 'message_creation', '_other')
    """
    if kind == "step":
        return "tool_call" if tool_type else "message_creation"
    return PHASES.get(kind, OTHER)


def reason_label(api: str, reason: str) -> str:
    """``reason`` if it is in the api's closed set, else ``_other``."""
    return reason if reason in REASONS.get(api, _COMMON_REASONS) else OTHER


class ModelLabels:
    """Caps the distinct model label values: the first ``max_models`` names are kept, the rest
    share ``_other``. Names are cut to 100 characters; unprintable ones become ``_other``.

    >>> labels = ModelLabels(max_models=1)
    >>> labels("gpt-4o"), labels("gpt-4o"), labels("gpt-5"), labels(None)
    ('gpt-4o', 'gpt-4o', '_other', 'unknown')
    """

    __slots__ = ("_lock", "_max", "_seen")

    def __init__(self, max_models: int = 50) -> None:
        self._max = max(0, max_models)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, model: str | None) -> str:
        if not model:
            return UNKNOWN
        if model in self._seen:
            return model
        model = model[:_MAX_MODEL_LEN]
        if not model.isprintable() or model in (UNKNOWN, OTHER):
            return OTHER
        with self._lock:
            if model in self._seen:
                return model
            if len(self._seen) >= self._max:
                return OTHER
            self._seen.add(model)
        return model


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


class _RunState:
    """Label children bound once per run, so hot transitions do no label look-ups."""

    __slots__ = ("api", "exemplar", "finished", "in_progress", "model", "ttft", "ttft_done")

    def __init__(self, api: str, model: str, in_progress: Any, ttft: Any) -> None:
        self.api = api
        self.model = model
        self.in_progress = in_progress
        self.ttft = ttft
        self.exemplar: dict[str, str] | None = None
        self.ttft_done = False
        self.finished = False


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
        self._tool_children: dict[tuple[str, str], Any] = {}
        self._phase_children: dict[tuple[str, str], Any] = {}
        self._anomaly_children: dict[tuple[str, str], Any] = {}
        self._dispatch: dict[type, Callable[[Any], None]] = {
            RunStarted: self._on_started,
            FirstToken: self._on_first_token,
            ToolCall: self._on_tool_call,
            PhaseEnded: self._on_phase_ended,
            RunFinished: self._on_finished,
            Anomaly: self._on_anomaly,
        }

    def __call__(self, transition: object, /) -> None:
        handler = self._dispatch.get(type(transition))
        if handler is not None:
            handler(transition)

    def count_internal_error(self, stage: str) -> None:
        """Counts one swallowed internal error (registered with ``Safety.add_counter``)."""
        self._m.internal_errors.labels(stage if stage in _STAGE_SET else OTHER).inc()

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
        m = self._m
        api = run.api
        model = self._models(run.model or run.request_model)
        state = _RunState(api, model, m.in_progress.labels(api), m.ttft.labels(api, model))
        state.exemplar = self._exemplar(run)
        run.scratch["prom.state"] = state
        m.runs_started.labels(api, model).inc(exemplar=state.exemplar)
        state.in_progress.inc()
        return state

    def _refresh_model(self, run: Run, state: _RunState) -> None:
        # The model is often only known from the first event; upgrade "unknown" once it is.
        if state.model == UNKNOWN and (run.model or run.request_model):
            state.model = self._models(run.model or run.request_model)
            state.ttft = self._m.ttft.labels(state.api, state.model)

    def _on_started(self, t: RunStarted) -> None:
        if not isinstance(t.run.scratch.get("prom.state"), _RunState):
            self._start(t.run)

    def _on_first_token(self, t: FirstToken) -> None:
        run = t.run
        state = self._state(run)
        if state.ttft_done or state.finished:
            return
        state.ttft_done = True
        self._refresh_model(run, state)
        at = run.first_token_at if run.first_token_at is not None else t.time
        state.ttft.observe(max(0.0, at - run.started_at), exemplar=state.exemplar)

    def _on_tool_call(self, t: ToolCall) -> None:
        tool_type = t.tool_type if t.tool_type in TOOL_TYPES else OTHER
        key = (t.run.api, tool_type)
        child = self._tool_children.get(key)
        if child is None:
            child = self._tool_children[key] = self._m.tool_calls.labels(*key)
        child.inc()

    def _on_phase_ended(self, t: PhaseEnded) -> None:
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
        self._refresh_model(run, state)
        if state.exemplar is None:
            state.exemplar = self._exemplar(run)
        m, api, model, exemplar = self._m, state.api, state.model, state.exemplar
        status = t.outcome.status if t.outcome.status in _STATUS_SET else UNKNOWN
        reason = reason_label(api, t.outcome.reason)
        m.runs.labels(api, model, status, reason).inc(exemplar=exemplar)
        duration = run.duration
        if duration is None:
            duration = max(0.0, t.time - run.started_at)
        m.run_duration.labels(api, model, status).observe(duration, exemplar=exemplar)
        for token_type, count in run.usage.items():
            if count > 0:
                m.tokens.labels(api, model, token_type).inc(count, exemplar=exemplar)
        state.in_progress.dec()

    def _on_anomaly(self, t: Anomaly) -> None:
        api = t.api if t.api is not None else (t.run.api if t.run is not None else UNKNOWN)
        key = (api, t.kind if t.kind in ANOMALY_KINDS else OTHER)
        child = self._anomaly_children.get(key)
        if child is None:
            child = self._anomaly_children[key] = self._m.anomalies.labels(*key)
        child.inc()


__all__ = [
    "DURATION_BUCKETS",
    "PHASES",
    "REASONS",
    "TOOL_TYPES",
    "ModelLabels",
    "PrometheusSink",
    "phase_label",
    "reason_label",
]
