"""PrometheusSink: exact samples per outcome, bounded labels, odd orders, exemplars."""

from __future__ import annotations

import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from sinks_support import T0, feed, life

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
from runwatch.sinks.prometheus import (
    REASONS,
    REQUEST_ERROR_CODES,
    REQUEST_STATUS_CODES,
    TOOL_TYPES,
    PrometheusSink,
    phase_label,
    request_code_label,
    status_code_label,
)

# -- transition builders: each mutates the Run the way the tracker would, between transitions ---


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


# -- outcomes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "status", "reason", "want_status", "want_reason"),
    [
        pytest.param("assistants", "completed", "none", "completed", "none", id="completed"),
        pytest.param("assistants", "incomplete", "max_completion_tokens", "incomplete",
                     "max_completion_tokens", id="assistants-incomplete"),
        pytest.param("responses", "incomplete", "max_output_tokens", "incomplete", "max_output_tokens",
                     id="responses-incomplete"),
        pytest.param("responses", "failed", "server_error", "failed", "server_error", id="failed"),
        pytest.param("responses", "failed", "image_too_large", "failed", "image_too_large", id="image-code"),
        pytest.param("assistants", "cancelled", "cancelled", "cancelled", "cancelled", id="cancelled"),
        pytest.param("assistants", "expired", "none", "expired", "none", id="expired"),
        pytest.param("chat", "aborted", "stream_ended", "aborted", "stream_ended", id="aborted"),
        pytest.param("assistants", "abandoned", "ttl_expired", "abandoned", "ttl_expired", id="abandoned"),
        pytest.param("chat", "incomplete", "length", "incomplete", "length", id="chat-length"),
        pytest.param("agents", "failed", "context_length_exceeded", "failed", "context_length_exceeded",
                     id="agents-failed"),
        pytest.param("agents", "unknown", "unknown_status", "unknown", "unknown_status", id="unknown"),
        pytest.param("responses", "sparkling", "none", "unknown", "none", id="open-status-folds"),
        pytest.param("responses", "failed", "brand_new_code", "failed", "_other", id="open-reason-folds"),
        pytest.param("chat", "failed", "max_completion_tokens", "failed", "_other", id="reason-of-other-api"),
    ],
)  # fmt: skip
def test_terminal_samples(
    registry: CollectorRegistry, api: str, status: str, reason: str, want_status: str, want_reason: str
) -> None:
    """Each terminal outcome is counted once under its closed-set status and reason labels, the
    duration is observed under the same status, and the in-progress gauge returns to 0."""
    sink = PrometheusSink(registry)
    feed(sink, life(api=api, status=status, reason=reason))
    labels = {"api": api, "model": "gpt-4o"}
    assert value(registry, "runwatch_runs_started_total", **labels) == 1
    assert value(registry, "runwatch_runs_total", **labels, status=want_status, reason=want_reason) == 1
    assert value(registry, "runwatch_run_duration_seconds_count", **labels, status=want_status) == 1
    assert value(registry, "runwatch_run_duration_seconds_sum", **labels, status=want_status) == 4.0
    assert value(registry, "runwatch_runs_in_progress", api=api) == 0
    total = sum(
        s.value
        for m in registry.collect()
        if m.name == "runwatch_runs"
        for s in m.samples
        if s.name == "runwatch_runs_total"
    )
    assert total == 1


def test_tokens_phases_ttft_tools(registry: CollectorRegistry) -> None:
    """A completed Assistants run yields exact token counts per type, one phase observation per
    phase label with its exact duration, the TTFT, and the tool call."""
    sink = PrometheusSink(registry)
    feed(sink, life())
    api, model = "assistants", "gpt-4o"
    for token_type, n in [("input", 100), ("output", 20), ("cached_input", 10), ("reasoning", 5)]:
        assert value(registry, "runwatch_tokens_total", api=api, model=model, type=token_type) == n
    for phase, seconds in [("queued", 0.5), ("in_progress", 3.5), ("tool_call", 0.4),
                           ("message_creation", 0.4)]:  # fmt: skip
        assert value(registry, "runwatch_phase_duration_seconds_count", api=api, phase=phase) == 1
        got = value(registry, "runwatch_phase_duration_seconds_sum", api=api, phase=phase)
        assert got == pytest.approx(seconds)
    assert value(registry, "runwatch_time_to_first_token_seconds_count", api=api, model=model) == 1
    assert value(registry, "runwatch_time_to_first_token_seconds_sum", api=api, model=model) == 1.25
    assert value(registry, "runwatch_time_to_first_token_seconds_bucket", api=api, model=model,
                 le="1.28") == 1  # fmt: skip
    assert value(registry, "runwatch_time_to_first_token_seconds_bucket", api=api, model=model,
                 le="0.64") == 0  # fmt: skip
    assert value(registry, "runwatch_tool_calls_total", api=api, tool_type="function") == 1


def test_missing_usage_counts_no_tokens(registry: CollectorRegistry) -> None:
    """Unknown token counts (None) and zero counts create no token samples at all."""
    feed(PrometheusSink(registry), life(usage=Usage(input=7, output=0)))
    assert value(registry, "runwatch_tokens_total", api="assistants", model="gpt-4o", type="input") == 7
    for token_type in ("output", "cached_input", "reasoning"):
        got = value(registry, "runwatch_tokens_total", api="assistants", model="gpt-4o", type=token_type)
        assert got is None


@pytest.mark.parametrize(
    ("kind", "tool_type", "want"),
    [
        pytest.param("queued", None, "queued", id="queued"),
        pytest.param("requires_action", None, "requires_action", id="requires_action"),
        pytest.param("cancelling", None, "cancelling", id="cancelling"),
        pytest.param("step", "code_interpreter", "tool_call", id="tool-step"),
        pytest.param("step", None, "message_creation", id="message-step"),
        pytest.param("output_item", "function", "output_item", id="output-item"),
        pytest.param("x" * 500, None, "_other", id="hostile-kind"),
    ],
)
def test_phase_label(kind: str, tool_type: str | None, want: str) -> None:
    """Phase kinds map onto the closed ``phase`` label set."""
    assert phase_label(kind, tool_type) == want


def test_hostile_tool_types_and_anomalies(registry: CollectorRegistry) -> None:
    """Unknown tool types and anomaly kinds fold into ``_other``; an anomaly without an api is
    counted under ``unknown``; the sink's own caches stay bounded by the closed sets."""
    sink = PrometheusSink(registry)
    run = Run(api="responses", started_at=T0)
    sink(RunStarted(run, T0))
    for i in range(1000):
        sink(ToolCall(run, f"evil_tool_{i}", T0))
        sink(Anomaly(None, f"evil_kind_{i}", None, T0))
    sink(ToolCall(run, "web_search", T0))
    sink(Anomaly("responses", "unknown_event", run, T0, detail="response.sparkle"))
    assert value(registry, "runwatch_tool_calls_total", api="responses", tool_type="_other") == 1000
    assert value(registry, "runwatch_tool_calls_total", api="responses", tool_type="web_search") == 1
    assert value(registry, "runwatch_stream_anomalies_total", api="unknown", kind="_other") == 1000
    assert value(registry, "runwatch_stream_anomalies_total", api="responses", kind="unknown_event") == 1
    assert len(sink._tool_children) <= len(TOOL_TYPES) + 1
    assert len(sink._anomaly_children) <= 2


def test_hostile_model_names_are_capped(registry: CollectorRegistry) -> None:
    """10,000 distinct (long, odd) model names produce at most max_models + 1 model label values,
    each at most 100 characters; runs are all still counted."""
    sink = PrometheusSink(registry, max_models=50)
    hostile = ["m" * 300 + str(i) for i in range(5000)] + [f"model\n{i}" for i in range(2500)]
    hostile += [f"ok-{i}" for i in range(2500)]
    for i, name in enumerate(hostile):
        feed(sink, life(model=name, run_id=f"run_{i}"))
    models = {
        s.labels["model"]
        for m in registry.collect()
        if m.name == "runwatch_runs"
        for s in m.samples
        if s.name == "runwatch_runs_total"
    }
    assert len(models) <= 51
    assert "_other" in models
    assert all(len(m) <= 100 for m in models)
    total = sum(
        s.value for m in registry.collect() if m.name == "runwatch_runs_started" for s in m.samples
        if s.name == "runwatch_runs_started_total"
    )  # fmt: skip
    assert total == 10_000


# -- one model label per run --------------------------------------------------------------------

RUN_SAMPLES = (
    "runwatch_runs_started_total",
    "runwatch_runs_total",
    "runwatch_run_duration_seconds_count",
    "runwatch_time_to_first_token_seconds_count",
    "runwatch_tokens_total",
)


def model_labels(registry: CollectorRegistry) -> dict[str, set[str]]:
    """Sample name -> the model label values it has (for the samples a run carries)."""
    out: dict[str, set[str]] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name in RUN_SAMPLES:
                out.setdefault(sample.name, set()).add(sample.labels["model"])
    return out


def step(run: Run, name: str, at: float) -> Transition:
    """The transition ``name`` of ``run`` at ``at``, after the run changed the way the tracker
    would change it just before (first token time, usage, end time)."""
    if name == "RunStarted":
        return RunStarted(run, at)
    if name == "PhaseStarted":
        return PhaseStarted(run, Phase("in_progress", "in_progress", at), at)
    if name == "PhaseEnded":
        phase = Phase("queued", "queued", at - 0.1)
        phase.ended_at = at
        return PhaseEnded(run, phase, at)
    if name == "ToolCall":
        return ToolCall(run, "function", at)
    if name == "RunPaused":
        return RunPaused(run, at)
    if name == "RunResumed":
        return RunResumed(run, at)
    if name == "Anomaly":
        return Anomaly(run.api, "unknown_event", run, at)
    if name == "FirstToken":
        run.first_token_at = at
        return FirstToken(run, at)
    assert name == "RunFinished"
    run.usage = Usage(input=10, output=2)
    run.ended_at = at
    return RunFinished(run, Outcome("completed", "none"), at)


@pytest.mark.parametrize(
    ("request_model", "steps", "want_model", "counted_at"),
    [
        pytest.param("gpt-4o", [("RunStarted", None), ("FirstToken", "gpt-4o-2024-08-06"),
                                ("RunFinished", None)], "gpt-4o", 0, id="request-model-at-start"),
        pytest.param(None, [("RunStarted", None), ("FirstToken", "gpt-4o-mini"), ("RunFinished", None)],
                     "gpt-4o-mini", 1, id="model-with-the-first-token"),
        pytest.param(None, [("RunStarted", None), ("PhaseStarted", "gpt-4o"), ("FirstToken", None),
                            ("RunFinished", None)], "gpt-4o", 1, id="model-at-phase-started"),
        pytest.param(None, [("RunStarted", None), ("PhaseEnded", "gpt-4o"), ("RunFinished", None)],
                     "gpt-4o", 1, id="model-at-phase-ended"),
        pytest.param(None, [("RunStarted", None), ("ToolCall", "gpt-4o"), ("RunFinished", None)],
                     "gpt-4o", 1, id="model-at-tool-call"),
        pytest.param(None, [("RunStarted", None), ("RunPaused", None), ("RunResumed", "gpt-4o"),
                            ("RunFinished", None)], "gpt-4o", 2, id="model-at-resume"),
        pytest.param(None, [("RunStarted", None), ("Anomaly", "gpt-4o"), ("RunFinished", None)],
                     "gpt-4o", 1, id="model-at-anomaly"),
        pytest.param(None, [("RunStarted", None), ("FirstToken", None), ("PhaseEnded", "gpt-5"),
                            ("RunFinished", None)], "gpt-5", 2, id="ttft-waits-for-the-model"),
        pytest.param(None, [("RunStarted", None), ("FirstToken", None), ("RunFinished", "gpt-5")],
                     "gpt-5", 2, id="model-only-at-finish"),
        pytest.param(None, [("RunStarted", None), ("FirstToken", None), ("RunFinished", None)],
                     "unknown", 2, id="never-known"),
        pytest.param(None, [("RunStarted", None), ("FirstToken", "gpt-4o"), ("PhaseEnded", "gpt-5"),
                            ("RunFinished", "gpt-6")], "gpt-4o", 1, id="pinned-never-changes"),
        pytest.param(None, [("FirstToken", "gpt-4o"), ("RunFinished", None)], "gpt-4o", 0,
                     id="no-run-started"),
    ],
)  # fmt: skip
def test_one_model_label_per_run(
    registry: CollectorRegistry,
    request_model: str | None,
    steps: list[tuple[str, str | None]],
    want_model: str,
    counted_at: int,
) -> None:
    """A run is counted started exactly once, under the first model label it has (the request's
    model when it names one), at the first transition where that label is known or at the
    latest at RunFinished (then ``unknown``); started, TTFT, tokens, runs_total and durations all
    carry that one label, whatever model shows up later; runs_in_progress moves at RunStarted."""
    sink = PrometheusSink(registry)
    run = Run(api="chat", started_at=T0, request_model=request_model)
    for i, (name, model) in enumerate(steps):
        if model is not None:
            run.model = model
        sink(step(run, name, T0 + 0.5 * (i + 1)))
        started = value(registry, "runwatch_runs_started_total", api="chat", model=want_model)
        assert started == (1 if i >= counted_at else None), (i, name)
        if name == "RunStarted":
            assert value(registry, "runwatch_runs_in_progress", api="chat") == 1
    assert value(registry, "runwatch_runs_in_progress", api="chat") == 0
    labels = model_labels(registry)
    # The TTFT child is bound with the pinned model even when no first token came (count 0).
    assert labels == {name: {want_model} for name in RUN_SAMPLES}
    ttft = value(registry, "runwatch_time_to_first_token_seconds_count", api="chat", model=want_model)
    assert ttft == (1 if any(name == "FirstToken" for name, _ in steps) else 0)
    assert value(registry, "runwatch_runs_total", api="chat", model=want_model, status="completed",
                 reason="none") == 1  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(
    plans=st.lists(
        st.tuples(
            st.sampled_from([None, "gpt-4o", "gpt-5"]),  # request model
            st.sampled_from([None, "gpt-4o", "gpt-4o-mini", "o3"]),  # first reported model
            st.integers(0, 4),  # the transition at which the reported model shows up
        ),
        min_size=1,
        max_size=8,
    ),
    max_models=st.integers(1, 4),
)
def test_started_minus_finished_is_consistent_per_model(
    plans: list[tuple[str | None, str | None, int]], max_models: int
) -> None:
    """Interleaved runs whose model shows up at any point (or never), under a model cap: at every
    moment runs_started_total - runs_total of each model is >= 0, and once all runs ended it is 0
    for every model label."""
    registry = CollectorRegistry()
    sink = PrometheusSink(registry, max_models=max_models)
    names = ["RunStarted", "PhaseStarted", "FirstToken", "ToolCall", "PhaseEnded", "RunFinished"]
    runs = [Run(api="responses", started_at=T0, request_model=req) for req, _, _ in plans]

    def per_model(sample: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for family in registry.collect():
            for s in family.samples:
                if s.name == sample:
                    out[s.labels["model"]] = out.get(s.labels["model"], 0) + s.value
        return out

    for i, name in enumerate(names):  # run by run, step by step: the runs overlap
        for run, (_, reported, at) in zip(runs, plans, strict=True):
            if i == at and reported is not None:
                run.model = reported
            sink(step(run, name, T0 + i))
        started, finished = per_model("runwatch_runs_started_total"), per_model("runwatch_runs_total")
        assert all(started.get(m, 0) >= n for m, n in finished.items()), (started, finished)
    assert per_model("runwatch_runs_started_total") == per_model("runwatch_runs_total")
    assert sum(per_model("runwatch_runs_total").values()) == len(plans)
    assert value(registry, "runwatch_runs_in_progress", api="responses") == 0


# -- request errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "status_code", "code", "want_status", "want_code"),
    [
        pytest.param("responses", 429, "rate_limit_exceeded", "429", "rate_limit_exceeded", id="429"),
        pytest.param("chat", 429, "insufficient_quota", "429", "insufficient_quota", id="quota"),
        pytest.param("chat", 401, "invalid_api_key", "401", "invalid_api_key", id="401"),
        pytest.param("responses", 400, "context_length_exceeded", "400", "context_length_exceeded",
                     id="400-context"),
        pytest.param("assistants", 404, "not_found_error", "404", "not_found_error", id="404-type"),
        pytest.param("agents", 500, "server_error", "500", "server_error", id="500"),
        pytest.param("chat", 503, "none", "503", "none", id="503-no-code"),
        pytest.param("chat", 502, "", "502", "none", id="empty-code-is-none"),
        pytest.param("chat", None, "timeout", "transport", "timeout", id="timeout"),
        pytest.param("responses", None, "connect_error", "transport", "connect_error", id="connect"),
        pytest.param("responses", None, "cancelled", "transport", "cancelled", id="cancelled"),
        pytest.param("chat", 418, "teapot", "_other", "_other", id="open-status-and-code-fold"),
        pytest.param("chat", 200, "x" * 500, "_other", "_other", id="hostile-code"),
        pytest.param("sparkle", 429, "rate_limit_exceeded", "429", "rate_limit_exceeded",
                     id="unknown-api"),
    ],
)  # fmt: skip
def test_request_errors(
    registry: CollectorRegistry,
    api: str,
    status_code: int | None,
    code: str,
    want_status: str,
    want_code: str,
) -> None:
    """A failed request is counted once per attempt in runwatch_request_errors_total under
    closed-set status_code and code labels (``transport`` when there was no response), and it is
    not a run: no runs_started, runs_total or in-progress sample moves."""
    sink = PrometheusSink(registry)
    for attempt in range(2):
        sink(RequestFailed(api, status_code, code, attempt, T0, T0 + 1, model="gpt-4o"))  # type: ignore[arg-type]
    want_api = api if api in REASONS else "unknown"
    labels = {"api": want_api, "status_code": want_status, "code": want_code}
    assert value(registry, "runwatch_request_errors_total", **labels) == 2
    run_families = {"runwatch_runs", "runwatch_runs_started", "runwatch_runs_in_progress",
                    "runwatch_run_duration_seconds"}  # fmt: skip
    assert [s for m in registry.collect() if m.name in run_families for s in m.samples] == []
    assert all(s.exemplar is None for m in registry.collect() for s in m.samples)


def test_request_error_labels_are_closed_sets() -> None:
    """Every member of each closed set labels as itself; no response is ``transport``; anything
    else (including the 2xx a failure never has) is ``_other``."""
    assert {status_code_label(int(c)) for c in REQUEST_STATUS_CODES} == REQUEST_STATUS_CODES
    assert {request_code_label(c) for c in REQUEST_ERROR_CODES} == REQUEST_ERROR_CODES
    assert status_code_label(None) == "transport"
    assert {status_code_label(c) for c in (100, 200, 302, 418, 451, 599, -1, 10**6)} == {"_other"}
    assert {request_code_label(c) for c in ("Timeout", "RATE_LIMIT_EXCEEDED", "_other", "transport")} == {
        "_other"
    }
    assert "none" in REQUEST_ERROR_CODES


def test_hostile_request_errors_stay_bounded(registry: CollectorRegistry) -> None:
    """10,000 distinct status codes and error codes create at most one series per combination of
    closed-set values, and every attempt is still counted."""
    sink = PrometheusSink(registry)
    for i in range(10_000):
        sink(RequestFailed("chat", 100 + i, f"code_{i}", 0, T0, T0 + 1))
    series = [s for m in registry.collect() if m.name == "runwatch_request_errors" for s in m.samples
              if s.name == "runwatch_request_errors_total"]  # fmt: skip
    assert sum(s.value for s in series) == 10_000
    assert len(series) <= len(REQUEST_STATUS_CODES) + 1
    assert len(sink._request_children) <= (len(REQUEST_STATUS_CODES) + 2) * (len(REQUEST_ERROR_CODES) + 1)


# -- odd orders ------------------------------------------------------------------------------------


def test_duplicate_run_finished_counts_once(registry: CollectorRegistry) -> None:
    """A second RunFinished (and a second FirstToken) for the same run changes nothing."""
    sink = PrometheusSink(registry)
    done = feed(sink, life(status="failed", reason="server_error"))
    finished = done[-1]
    assert isinstance(finished, RunFinished)
    sink(finished)
    sink(FirstToken(finished.run, T0 + 9))
    sink(RunStarted(finished.run, T0 + 9))
    labels = {"api": "assistants", "model": "gpt-4o"}
    assert value(registry, "runwatch_runs_total", **labels, status="failed", reason="server_error") == 1
    assert value(registry, "runwatch_runs_started_total", **labels) == 1
    assert value(registry, "runwatch_time_to_first_token_seconds_count", **labels) == 1
    assert value(registry, "runwatch_runs_in_progress", api="assistants") == 0


def test_finished_without_started(registry: CollectorRegistry) -> None:
    """RunFinished for a run never announced counts as started and ended; gauge returns to 0;
    a PhaseEnded without PhaseStarted is still observed."""
    sink = PrometheusSink(registry)
    run = Run(api="responses", started_at=T0, model="gpt-4o")
    phase = Phase("output_item", "output_item message", T0, key="msg_1")
    phase.ended_at = T0 + 0.25
    sink(PhaseEnded(run, phase, T0 + 0.25))
    run.ended_at = T0 + 1
    sink(RunFinished(run, Outcome("aborted", "stream_ended"), T0 + 1))
    labels = {"api": "responses", "model": "gpt-4o"}
    assert value(registry, "runwatch_runs_started_total", **labels) == 1
    assert value(registry, "runwatch_runs_total", **labels, status="aborted", reason="stream_ended") == 1
    assert value(registry, "runwatch_runs_in_progress", api="responses") == 0
    assert value(registry, "runwatch_phase_duration_seconds_sum", api="responses",
                 phase="output_item") == 0.25  # fmt: skip


def test_in_progress_gauge_tracks_open_runs(registry: CollectorRegistry) -> None:
    """The gauge counts runs between RunStarted and RunFinished, per api."""
    sink = PrometheusSink(registry)
    runs = [Run(api="chat", started_at=T0) for _ in range(3)]
    for run in runs:
        sink(RunStarted(run, T0))
    assert value(registry, "runwatch_runs_in_progress", api="chat") == 3
    sink(RunFinished(runs[0], Outcome("completed", "stop"), T0 + 1))
    assert value(registry, "runwatch_runs_in_progress", api="chat") == 2
    for run in runs:
        sink(RunFinished(run, Outcome("completed", "stop"), T0 + 1))
    assert value(registry, "runwatch_runs_in_progress", api="chat") == 0


def test_per_run_state_lives_in_scratch(registry: CollectorRegistry) -> None:
    """The sink keeps per-run state only under ``prom.`` keys of run.scratch, not in itself."""
    sink = PrometheusSink(registry)
    done = feed(sink, life())
    run = done[0].run  # type: ignore[union-attr]
    assert run is not None
    assert all(k.startswith("prom.") for k in run.scratch)
    before = {k: len(v) for k, v in vars(sink).items() if isinstance(v, dict | set)}
    for i in range(200):
        feed(sink, life(run_id=f"run_{i}"))
    after = {k: len(v) for k, v in vars(sink).items() if isinstance(v, dict | set)}
    assert before == after


def test_two_sinks_share_one_registry(registry: CollectorRegistry) -> None:
    """Creating a second sink on the same registry reuses the metrics instead of raising
    ``Duplicated timeseries``; both sinks count into the same series."""
    a, b = PrometheusSink(registry), PrometheusSink(registry)
    feed(a, life())
    feed(b, life(run_id="run_2"))
    assert value(registry, "runwatch_runs_total", api="assistants", model="gpt-4o", status="completed",
                 reason="none") == 2  # fmt: skip


def test_namespace(registry: CollectorRegistry) -> None:
    """The namespace prefixes every metric name, request errors included."""
    sink = PrometheusSink(registry, namespace="acme")
    feed(sink, life())
    sink(RequestFailed("chat", 429, "rate_limit_exceeded", 0, T0, T0 + 1))
    assert value(registry, "acme_runs_total", api="assistants", model="gpt-4o", status="completed",
                 reason="none") == 1  # fmt: skip
    assert value(registry, "acme_request_errors_total", api="chat", status_code="429",
                 code="rate_limit_exceeded") == 1  # fmt: skip
    assert not [m for m in registry.collect() if m.name.startswith("runwatch_")]
    assert value(registry, "runwatch_runs_total", api="assistants", model="gpt-4o", status="completed",
                 reason="none") is None  # fmt: skip


def test_exemplars_carry_trace_id(registry: CollectorRegistry) -> None:
    """When the OTel sink left a trace id in run.scratch, counters and histogram buckets carry it
    as an exemplar."""
    sink = PrometheusSink(registry)
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    for t in life():
        if isinstance(t, RunStarted):
            t.run.scratch["trace_id"] = trace_id
        sink(t)
    exemplars = {s.name: s.exemplar for m in registry.collect() for s in m.samples if s.exemplar is not None}
    assert exemplars["runwatch_runs_total"].labels == {"trace_id": trace_id}
    assert exemplars["runwatch_runs_started_total"].labels == {"trace_id": trace_id}
    assert exemplars["runwatch_run_duration_seconds_bucket"].labels == {"trace_id": trace_id}
    assert exemplars["runwatch_time_to_first_token_seconds_bucket"].labels == {"trace_id": trace_id}


def test_no_exemplar_without_trace_id(registry: CollectorRegistry) -> None:
    """Without a trace id (no OTel sink), no sample has an exemplar."""
    feed(PrometheusSink(registry), life())
    assert all(s.exemplar is None for m in registry.collect() for s in m.samples)


@pytest.mark.parametrize(
    ("stage", "want"),
    [
        pytest.param("sink", "sink", id="known"),
        pytest.param("decode", "decode", id="decode"),
        pytest.param("made-up", "_other", id="unknown-stage"),
    ],
)
def test_count_internal_error(registry: CollectorRegistry, stage: str, want: str) -> None:
    """count_internal_error increments runwatch_internal_errors_total with a closed-set stage."""
    sink = PrometheusSink(registry)
    sink.count_internal_error(stage)
    sink.count_internal_error(stage)
    assert value(registry, "runwatch_internal_errors_total", stage=want) == 2


def test_reasons_cover_the_installed_sdk() -> None:
    """Every Responses error code the installed openai SDK knows is a ``reason`` label value."""
    from openai.types.responses.response_error import ResponseError

    codes = typing.get_args(ResponseError.model_fields["code"].annotation)
    assert codes
    assert set(codes) <= REASONS["responses"]
    for api in ("assistants", "responses", "chat", "agents"):
        assert {"none", "stream_ended", "client_closed", "transport_error", "cancelled", "handler_error",
                "ttl_expired", "http_error", "unknown_status"} <= REASONS[api]  # fmt: skip


def test_ignores_transitions_it_does_not_measure(registry: CollectorRegistry) -> None:
    """Pause/resume and PhaseStarted change no sample; unrelated objects are ignored."""
    sink = PrometheusSink(registry)
    run = Run(api="assistants", started_at=T0)
    sink(RunStarted(run, T0))
    before = [(s.name, s.labels, s.value) for m in registry.collect() for s in m.samples
              if not s.name.endswith("_created")]  # fmt: skip
    sink(RunPaused(run, T0 + 1))
    sink(RunResumed(run, T0 + 2))
    sink(PhaseStarted(run, Phase("queued", "queued", T0), T0))
    sink("not a transition")  # type: ignore[arg-type]
    after = [(s.name, s.labels, s.value) for m in registry.collect() for s in m.samples
             if not s.name.endswith("_created")]  # fmt: skip
    assert before == after


def test_default_registry_reused_by_a_second_sink() -> None:
    """Two sinks on the default REGISTRY (as two default observers would build) do not raise
    ``Duplicated timeseries`` and count into the same series. Runs in a fresh interpreter so
    this test never touches the global registry of the test process."""
    import subprocess
    import sys

    script = (
        "from prometheus_client import REGISTRY\n"
        "from runwatch._events import Run, RunStarted\n"
        "from runwatch.sinks.prometheus import PrometheusSink\n"
        "a, b = PrometheusSink(), PrometheusSink()\n"
        "a(RunStarted(Run(api='chat', started_at=1.0, request_model='gpt-4o'), 1.0))\n"
        "b(RunStarted(Run(api='chat', started_at=1.0, request_model='gpt-4o'), 1.0))\n"
        "labels = {'api': 'chat', 'model': 'gpt-4o'}\n"
        "print(REGISTRY.get_sample_value('runwatch_runs_started_total', labels))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2.0"


# -- cost per run --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "want_calls"),
    [
        pytest.param("gpt-4o", "gpt-4o", 0, id="same-model-binds-nothing-more"),
        pytest.param("gpt-4o", "gpt-5", 4, id="new-model-binds-its-children"),
    ],
)
def test_label_children_bound_once_per_model(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch, first: str, second: str, want_calls: int
) -> None:
    """Label children are bound once per (api, model) and reused by later runs: a second run of the
    same pair with the same outcome makes no ``labels()`` call at all; a run of a new model binds
    its own (started, TTFT, runs, duration; tokens were counted by neither), and both are counted
    right."""
    from prometheus_client.metrics import MetricWrapperBase

    sink = PrometheusSink(registry)
    feed(sink, life(model=first, usage=Usage()))
    calls = 0
    original = MetricWrapperBase.labels

    def counting(self: typing.Any, *args: object, **kwargs: object) -> typing.Any:
        nonlocal calls
        calls += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MetricWrapperBase, "labels", counting)
    feed(sink, life(model=second, usage=Usage()))
    assert calls == want_calls
    for model in {first, second}:
        want = 2.0 if first == second else 1.0
        runs = value(registry, "runwatch_runs_total", api="assistants", model=model, status="completed",
                     reason="none")  # fmt: skip
        assert runs == want
        assert value(registry, "runwatch_runs_started_total", api="assistants", model=model) == want
        ttft = value(registry, "runwatch_time_to_first_token_seconds_count", api="assistants", model=model)
        assert ttft == want
