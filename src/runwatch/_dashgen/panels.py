"""The Grafana dashboard as data: one row of this table per panel, in reading order.

Queries are plain PromQL without the user's selector (``selector.scope`` adds it) and use the
dashboard's ``$api`` / ``$model`` variables wherever the metric has those labels. Grid positions
are ``(x, y, w, h)`` on Grafana's 24-column grid; panel ids follow the order of :data:`PANELS`.
Stdlib only: ``grafana.py`` renders this table with grafana-foundation-sdk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["DASHBOARD", "PANELS", "VARIABLES", "Dashboard", "Panel", "Row", "Variable"]

#: (PromQL, legend format): one query of a panel.
Query = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Row:
    """A row header across the whole width, at line ``y`` of the grid."""

    title: str
    y: int


@dataclass(frozen=True, slots=True)
class Panel:
    """A panel: ``timeseries`` of range queries, or ``table`` of instant queries."""

    title: str
    unit: str
    grid: tuple[int, int, int, int]
    queries: tuple[Query, ...]
    description: str
    kind: Literal["timeseries", "table"] = "timeseries"
    stack: bool = False
    #: Series display names (series name, shown name) when the label value alone is cryptic.
    rename: tuple[tuple[str, str], ...] = ()
    #: Ask Prometheus for exemplars (the trace_id of a run, on the histograms that carry them).
    exemplar: bool = False


@dataclass(frozen=True, slots=True)
class Variable:
    """A multi-value query variable with *All*, read from a ``label_values(...)`` query."""

    name: str
    query: str


@dataclass(frozen=True, slots=True)
class Dashboard:
    uid: str
    title: str
    description: str
    tags: tuple[str, ...]
    time_from: str
    refresh: str


DASHBOARD: Final = Dashboard(
    uid="runwatch",
    title="runwatch: OpenAI runs",
    description="Terminal statuses by incomplete reason, latency, tokens and tools of OpenAI "
    "streaming runs, observed by runwatch.",
    tags=("runwatch", "openai", "llm"),
    time_from="now-6h",
    refresh="1m",
)

#: After the ``datasource`` variable (any Prometheus data source); model choices follow the api.
VARIABLES: Final = (
    Variable("api", "label_values(runwatch_runs_total, api)"),
    Variable("model", 'label_values(runwatch_runs_total{api=~"$api"}, model)'),
)

RI: Final = "$__rate_interval"
AM: Final = '{api=~"$api",model=~"$model"}'  # metrics with api and model labels
A: Final = '{api=~"$api"}'  # metrics with an api label only
RUNS: Final = f"runwatch_runs_total{AM}"
ALL_RUNS: Final = f"sum(rate({RUNS}[{RI}]))"


INCOMPLETE: Final = 'runwatch_runs_total{api=~"$api",model=~"$model",status="incomplete"}'
FAILED: Final = 'runwatch_runs_total{api=~"$api",model=~"$model",status="failed"}'
GONE: Final = 'runwatch_runs_total{api=~"$api",model=~"$model",status=~"aborted|abandoned"}'


def quantiles(histogram: str) -> tuple[Query, ...]:
    return tuple(
        (f"histogram_quantile({q}, sum by (le) (rate({histogram}_bucket{AM}[{RI}])))", f"p{round(q * 100)}")
        for q in (0.5, 0.95, 0.99)
    )


PANELS: Final[tuple[Row | Panel, ...]] = (
    Row("Outcomes", y=0),
    Panel(
        "Runs / s by status", "reqps", (0, 1, 12, 8),
        ((f"sum by (status) (rate({RUNS}[{RI}]))", "{{status}}"),
         (f"sum(rate(runwatch_runs_started_total{AM}[{RI}]))", "started")),
        "Finished runs per second by terminal status, and runs started per second.",
    ),
    Panel(
        "Incomplete ratio", "percentunit", (12, 1, 12, 8),
        ((f"sum by (api) (rate({INCOMPLETE}[{RI}])) / sum by (api) (rate({RUNS}[{RI}]))", "{{api}}"),),
        "Share of finished runs that ended incomplete (Responses/Assistants incomplete, Chat length or "
        "content_filter), per api. Compare with the objective of the burn-rate alerts.",
    ),
    Panel(
        "Incomplete ratio by reason", "percentunit", (0, 9, 12, 8),
        ((f"sum by (reason) (rate({INCOMPLETE}[{RI}])) / ignoring (reason) group_left {ALL_RUNS}",
          "{{reason}}"),),
        "Share of all finished runs that ended incomplete, split by incomplete reason "
        "(max_output_tokens, content_filter, length, ...).",
        stack=True,
    ),
    Panel(
        "Failure ratio by reason (error code)", "percentunit", (12, 9, 12, 8),
        ((f"sum by (reason) (rate({FAILED}[{RI}])) / ignoring (reason) group_left {ALL_RUNS}",
          "{{reason}}"),),
        "Share of all finished runs that failed, split by error code (server_error, "
        "rate_limit_exceeded, ...).",
        stack=True,
    ),
    Panel(
        "Aborted and abandoned runs / s", "reqps", (0, 17, 12, 8),
        ((f"sum by (status, reason) (rate({GONE}[{RI}]))",
          "{{status}} ({{reason}})"),),
        "aborted: the stream ended without a terminal event (cut connection, client closed). "
        "abandoned: a run waited for tool outputs (requires_action) and nobody came back.",
    ),
    Panel(
        "Runs in progress", "short", (12, 17, 12, 8),
        ((f"sum by (api) (runwatch_runs_in_progress{A})", "{{api}}"),),
        "Runs started and not yet finished, summed over all instances.",
    ),
    Panel(
        "Request errors by status code and code", "reqps", (0, 25, 24, 8),
        ((f"sum by (api, status_code, code) (rate(runwatch_request_errors_total{A}[{RI}]))",
          "{{api}} {{status_code}} {{code}}"),),
        "Requests that failed before their first event, per attempt (SDK retries count): an HTTP "
        "error status with the error body's code (429 rate_limit_exceeded, 500 server_error, ...), or "
        "transport when there was no response (timeout, connect_error, ...). Not runs: they are in "
        "none of the run panels. No model label: the api variable applies, the model one cannot.",
    ),
    Row("Latency", y=33),
    Panel(
        "Run duration", "s", (0, 34, 12, 8),
        quantiles("runwatch_run_duration_seconds"),
        "Quantiles of the run duration, start to terminal status.",
        exemplar=True,
    ),
    Panel(
        "Time to first token", "s", (12, 34, 12, 8),
        quantiles("runwatch_time_to_first_token_seconds"),
        "Quantiles of the time from request to the first output token.",
        exemplar=True,
    ),
    Panel(
        "Phase duration p95", "s", (0, 42, 24, 8),
        ((f"histogram_quantile(0.95, sum by (le, phase) (rate(runwatch_phase_duration_seconds_bucket{A}"
          f"[{RI}])))", "{{phase}}"),),
        "p95 time spent in each phase: queued, in progress, waiting for tool outputs "
        "(requires_action), tool steps and output items.",
        rename=(
            ("in_progress", "in progress"),
            ("requires_action", "waiting for tool outputs (requires_action)"),
            ("tool_call", "tool steps (tool_call)"),
            ("message_creation", "message steps (message_creation)"),
            ("output_item", "output items"),
        ),
    ),
    Row("Usage", y=50),
    Panel(
        "Tokens / s by type", "short", (0, 51, 12, 8),
        ((f"sum by (type) (rate(runwatch_tokens_total{AM}[{RI}]))", "{{type}}"),),
        "Tokens reported by finished runs: input, output, cached_input, reasoning.",
    ),
    Panel(
        "Tool calls / s by type", "short", (12, 51, 12, 8),
        ((f"sum by (tool_type) (rate(runwatch_tool_calls_total{A}[{RI}]))", "{{tool_type}}"),),
        "Tool calls made by runs, by tool type (function, code_interpreter, file_search, ...).",
    ),
    Row("Health of the observer", y=59),
    Panel(
        "Stream anomalies / s by kind", "short", (0, 60, 8, 8),
        ((f"sum by (kind) (rate(runwatch_stream_anomalies_total{A}[{RI}]))", "{{kind}}"),),
        "Things the protocol did not promise: unknown events, events after a terminal, streams "
        "that end without one.",
    ),
    Panel(
        # No api label on this metric: the api/model variables cannot apply.
        "runwatch internal errors by stage", "short", (8, 60, 8, 8),
        ((f"sum by (stage) (increase(runwatch_internal_errors_total[{RI}]))", "{{stage}}"),),
        "Failures inside runwatch itself, swallowed and counted (user code never sees them).",
    ),
    Panel(
        # ALERTS carries the rule labels, not the scrape labels: the selector does not apply.
        "Alerts", "short", (16, 60, 8, 8),
        (('ALERTS{alertname=~"Runwatch.*",api=~"$api|"}', ""),),
        "runwatch alerts now pending or firing. Alerts without an api label (internal errors) always "
        "show.",
        kind="table",
    ),
)  # fmt: skip
