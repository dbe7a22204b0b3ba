"""The Grafana dashboard as data: one row of this table per panel, in reading order.

Queries are plain PromQL on the default metric names without the user's selector
(``selector.Scope.apply`` localizes them) and use the dashboard's ``$api`` / ``$model`` variables
wherever the series has those labels. Grid positions are ``(x, y, w, h)`` on Grafana's 24-column
grid; panel ids follow the order of :data:`PANELS`. Stdlib only: ``grafana.py`` renders this
table with grafana-foundation-sdk.

What reads what: the SLO panels (ratios, burn rates, budgets) show the series the rules record
and the alerts read, so a panel and an alert never disagree (they need the rules loaded); the
breakdowns (by reason, model, status) read the raw metrics over ``$__rate_interval`` and follow
the ``model`` variable too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from .rules import BURN_WINDOWS, DEFAULT_RUNBOOK_URL, BadRuns

__all__ = ["BAD", "DASHBOARD", "PANELS", "RUNBOOK", "VARIABLES", "Dashboard", "Panel", "Row", "Variable"]

#: (PromQL, legend format): one query of a panel.
Query = tuple[str, str]

#: Where the template's runbook links point; ``build_dashboard`` swaps in the user's base URL.
RUNBOOK: Final = DEFAULT_RUNBOOK_URL

#: The bad-run matchers the template is rendered with; ``build_dashboard`` swaps in the user's.
BAD: Final = BadRuns().matchers


@dataclass(frozen=True, slots=True)
class Row:
    """A row header across the whole width, at line ``y`` of the grid."""

    title: str
    y: int


@dataclass(frozen=True, slots=True)
class Panel:
    """A panel: ``timeseries`` of range queries, ``table`` or ``stat`` of instant queries."""

    title: str
    unit: str
    grid: tuple[int, int, int, int]
    queries: tuple[Query, ...]
    description: str
    kind: Literal["timeseries", "table", "stat"] = "timeseries"
    stack: bool = False
    #: Ask Prometheus for exemplars (the trace_id of a run, on the histograms that carry them).
    exemplar: bool = False
    #: Series (by legend) drawn as dashed reference lines of a fixed color: objectives, thresholds.
    lines: tuple[tuple[str, str], ...] = ()
    #: Color steps (from value, color) of a stat; the first step's value is None (from -inf).
    steps: tuple[tuple[float | None, str], ...] = ()
    #: Links (title, runbook anchor) shown on the panel.
    links: tuple[tuple[str, str], ...] = ()


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
    description="SLOs of OpenAI runs observed by runwatch (incomplete runs, bad runs and failed "
    "requests), where the budget goes by api, model and reason, latency, tokens and tools.",
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
RANGE: Final = "$__range"
AM: Final = 'api=~"$api",model=~"$model"'  # metrics with api and model labels
A: Final = '{api=~"$api"}'  # series with an api label only
RUNS: Final = f"runwatch_runs_total{{{AM}}}"
INCOMPLETE: Final = f'runwatch_runs_total{{{AM},status="incomplete"}}'
BAD_RUNS: Final = f"runwatch_runs_total{{{AM},{BAD}}}"
GONE: Final = f'runwatch_runs_total{{{AM},status=~"aborted|abandoned"}}'

_PAGES: Final = tuple((f, long_w, short_w) for sev, f, long_w, short_w in BURN_WINDOWS if sev == "page")
_PAGE_COLORS: Final = ("red", "orange")


def _objective_lines(slo: str) -> tuple[tuple[Query, ...], tuple[tuple[str, str], ...]]:
    """Queries and line styles of an SLO's objective and page thresholds (recorded by the rules)."""
    objective = f'max(runwatch:slo_objective:ratio{{slo="{slo}"}})'
    queries = [(objective, "objective")]
    lines = [("objective", "yellow")]
    for (factor, long_w, short_w), color in zip(_PAGES, _PAGE_COLORS, strict=True):
        legend = f"page: {factor:g}x ({long_w} and {short_w})"
        queries.append((f"{factor:g} * {objective}", legend))
        lines.append((legend, color))
    return tuple(queries), tuple(lines)


def _ratio(slo: str, series: str) -> tuple[tuple[Query, ...], tuple[tuple[str, str], ...]]:
    lines_q, lines = _objective_lines(slo)
    queries = tuple((f"{series}:ratio_rate{w}{A}", f"{{{{api}}}} {w}") for w in ("5m", "1h"))
    return queries + lines_q, lines


def quantiles(histogram: str, by: str = "api") -> tuple[Query, ...]:
    return tuple(
        (
            f"histogram_quantile({q}, sum by ({by}, le) (rate({histogram}_bucket{{{AM}}}[{RI}])))",
            f"{{{{{by}}}}} p{round(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    )


def p95_by_model(histogram: str) -> tuple[Query, ...]:
    return (
        (
            f"histogram_quantile(0.95, sum by (api, model, le) (rate({histogram}_bucket{{{AM}}}[{RI}])))",
            "{{api}} {{model}}",
        ),
    )


_INCOMPLETE_RATIO: Final = _ratio("incomplete", "api:runwatch_runs_incomplete")
_FAILURE_RATIO: Final = _ratio("failure", "api:runwatch_runs_bad")
_BUDGET_STEPS: Final = ((None, "red"), (0.0, "orange"), (0.25, "green"))

PANELS: Final[tuple[Row | Panel, ...]] = (
    Row("SLO", y=0),
    Panel(
        "Runs", "short", (0, 1, 4, 4),
        ((f"sum(increase({RUNS}[{RANGE}]))", "runs"),),
        "Runs that finished in the dashboard's time range.",
        kind="stat",
    ),
    Panel(
        "Completed", "percentunit", (4, 1, 4, 4),
        ((f'sum(increase(runwatch_runs_total{{{AM},status="completed"}}[{RANGE}]))'
          f" / sum(increase({RUNS}[{RANGE}]))", "completed"),),
        "Share of the runs finished in the time range that completed.",
        kind="stat",
    ),
    Panel(
        "Incomplete", "percentunit", (8, 1, 4, 4),
        ((f"sum(increase({INCOMPLETE}[{RANGE}])) / sum(increase({RUNS}[{RANGE}]))", "incomplete"),),
        "Share of the runs finished in the time range that ended incomplete (the incomplete SLO).",
        kind="stat",
    ),
    Panel(
        "Bad (failure SLO)", "percentunit", (12, 1, 4, 4),
        ((f"sum(sum_over_time(api:runwatch_runs_bad:rate5m{A}[{RANGE}])) / "
          f"sum(sum_over_time(api:runwatch_outcomes:rate5m{A}[{RANGE}]))", "bad"),),
        "Share of bad runs (and failed requests) in the time range, as the failure SLO counts them "
        "(recorded by the rules; the model variable does not apply: failed requests have no model).",
        kind="stat",
    ),
    Panel(
        "Incomplete budget left (30d)", "percentunit", (16, 1, 4, 4),
        ((f"api:runwatch_runs_incomplete:error_budget_remaining30d{A}", "{{api}}"),),
        "Error budget of the incomplete SLO left over the last 30 days, per api: 100% untouched, "
        "0% spent, below 0 overspent.",
        kind="stat", steps=_BUDGET_STEPS,
    ),
    Panel(
        "Failure budget left (30d)", "percentunit", (20, 1, 4, 4),
        ((f"api:runwatch_runs_bad:error_budget_remaining30d{A}", "{{api}}"),),
        "Error budget of the failure SLO (bad runs and failed requests) left over the last 30 days, "
        "per api.",
        kind="stat", steps=_BUDGET_STEPS,
    ),
    Panel(
        # ALERTS carries the rule labels, not the scrape labels: the scope's labels apply.
        "Alerts", "short", (0, 5, 12, 8),
        (('ALERTS{alertname=~"Runwatch.*",api=~"$api|"}', ""),),
        "runwatch alerts now pending or firing. Alerts without an api label (internal errors, "
        "metrics absent) always show. Each alert links its runbook section (runbook_url).",
        kind="table",
        links=(("Runbook", ""),),
    ),
    Panel(
        "Where the budget goes", "percentunit", (12, 5, 12, 8),
        ((f"sort_desc(sum by (api, model, status, reason) "
          f'(increase(runwatch_runs_total{{{AM},status!="completed"}}[{RANGE}]))'
          f" / on (api) group_left sum by (api) (increase({RUNS}[{RANGE}])))", ""),),
        "Every outcome other than completed in the time range, as a share of its api's runs, by "
        "model, status and reason, largest first: which api, model and reason spend the budget.",
        kind="table",
    ),
    Panel(
        "Burn rate (1h)", "x", (0, 13, 12, 8),
        ((f"api:runwatch_runs_incomplete:burn_rate1h{A}", "{{api}} incomplete"),
         (f"api:runwatch_runs_bad:burn_rate1h{A}", "{{api}} failure"),
         *((f"vector({f:g})", f"page: {f:g}x ({lw} and {sw})") for f, lw, sw in _PAGES),
         ("vector(1)", "budget pace (1x)")),
        "How fast each SLO spends its budget over the last hour: 1x spends exactly the 30-day "
        "budget in 30 days. Pages fire at 14.4x (1h and 5m) and 6x (6h and 30m), after their "
        "pending period.",
        lines=(*_objective_lines("incomplete")[1][1:], ("budget pace (1x)", "yellow")),
    ),
    Panel(
        "Error budget left (30d)", "percentunit", (12, 13, 12, 8),
        ((f"api:runwatch_runs_incomplete:error_budget_remaining30d{A}", "{{api}} incomplete"),
         (f"api:runwatch_runs_bad:error_budget_remaining30d{A}", "{{api}} failure")),
        "Error budget left over the last 30 days per api and SLO (1 = untouched, 0 = spent).",
    ),
    Row("Outcomes", y=21),
    Panel(
        "Runs / s by status", "reqps", (0, 22, 12, 8),
        ((f"sum by (status) (rate({RUNS}[{RI}]))", "{{status}}"),
         (f"sum(rate(runwatch_runs_started_total{{{AM}}}[{RI}]))", "started")),
        "Finished runs per second by terminal status, and runs started per second.",
    ),
    Panel(
        "Incomplete ratio", "percentunit", (12, 22, 12, 8),
        _INCOMPLETE_RATIO[0],
        "Share of runs that ended incomplete per api over 5m and 1h: the series the incomplete "
        "burn-rate alerts read (recorded by the rules), with the objective and the page thresholds. "
        "Follows the api variable only; the by-model panels below break it down.",
        lines=_INCOMPLETE_RATIO[1],
        links=(("Runbook: incomplete ratio", "runwatchincompleteratioburnpage"),),
    ),
    Panel(
        "Incomplete ratio by reason", "percentunit", (0, 30, 12, 8),
        ((f"sum by (api, reason) (rate({INCOMPLETE}[{RI}])) / ignoring (reason) group_left "
          f"sum by (api) (rate({RUNS}[{RI}]))", "{{api}} {{reason}}"),),
        "Share of each api's runs that ended incomplete, per incomplete reason (max_output_tokens, "
        "content_filter, length, ...): what RunwatchIncompleteReasonBurn* compares with the objective.",
        links=(("Runbook: likely causes by reason", "likely-causes-by-reason"),),
    ),
    Panel(
        "Failure ratio", "percentunit", (12, 30, 12, 8),
        _FAILURE_RATIO[0],
        "Share of bad runs and failed requests per api over 5m and 1h: the series the failure "
        "burn-rate alerts read (recorded by the rules), with the objective and the page thresholds.",
        lines=_FAILURE_RATIO[1],
        links=(("Runbook: failure ratio", "runwatchfailureratioburnpage"),),
    ),
    Panel(
        "Bad runs by status and reason", "percentunit", (0, 38, 12, 8),
        ((f"sum by (api, status, reason) (rate({BAD_RUNS}[{RI}])) / on (api) group_left "
          f"sum by (api) (rate({RUNS}[{RI}]))", "{{api}} {{status}} {{reason}}"),),
        "Share of each api's runs that ended bad (as the failure SLO counts them), by status and "
        "reason (the error code of failed runs: server_error, rate_limit_exceeded, ...).",
    ),
    Panel(
        "Request errors by status code and code", "reqps", (12, 38, 12, 8),
        ((f"sum by (api, status_code, code) (rate(runwatch_request_errors_total{A}[{RI}]))",
          "{{api}} {{status_code}} {{code}}"),),
        "Requests that failed before their first event, per attempt (SDK retries count): an HTTP "
        "error status with the error body's code (429 rate_limit_exceeded, 500 server_error, ...), or "
        "transport when there was no response (timeout, connect_error, ...). Not runs, but bad "
        "outcomes of the failure SLO. No model label: the api variable applies, the model one cannot.",
    ),
    Panel(
        "Aborted and abandoned runs / s", "reqps", (0, 46, 12, 8),
        ((f"sum by (status, reason) (rate({GONE}[{RI}]))", "{{status}} ({{reason}})"),),
        "aborted: the stream ended without a terminal event (cut connection, client closed). "
        "abandoned: a run waited for tool outputs (requires_action) and nobody came back.",
    ),
    Panel(
        "Runs in progress", "short", (12, 46, 12, 8),
        ((f"sum by (api) (runwatch_runs_in_progress{A})", "{{api}}"),),
        "Runs started and not yet finished, summed over all instances.",
        links=(("Runbook: runs stuck in progress", "runwatchrunsstuckinprogress"),),
    ),
    Row("By model", y=54),
    Panel(
        "Runs / s by model", "reqps", (0, 55, 8, 8),
        ((f"sum by (api, model) (rate({RUNS}[{RI}]))", "{{api}} {{model}}"),),
        "Finished runs per second per api and model.",
    ),
    Panel(
        "Incomplete ratio by model", "percentunit", (8, 55, 8, 8),
        ((f"(sum by (api, model) (rate({INCOMPLETE}[{RI}])) or 0 * sum by (api, model) (rate({RUNS}[{RI}])))"
          f" / sum by (api, model) (rate({RUNS}[{RI}]))", "{{api}} {{model}}"),),
        "Share of each model's runs that ended incomplete (0 for a model without any).",
    ),
    Panel(
        "Bad-run ratio by model", "percentunit", (16, 55, 8, 8),
        ((f"(sum by (api, model) (rate({BAD_RUNS}[{RI}])) or 0 * sum by (api, model) (rate({RUNS}[{RI}])))"
          f" / sum by (api, model) (rate({RUNS}[{RI}]))", "{{api}} {{model}}"),),
        "Share of each model's runs that ended bad, as the failure SLO counts them. Failed requests "
        "have no model label and are not in this panel (see Request errors).",
    ),
    Panel(
        "Run duration p95 by model", "s", (0, 63, 8, 8),
        p95_by_model("runwatch_run_duration_seconds"),
        "p95 run duration per api and model; exemplars link to the trace of a run.",
        exemplar=True,
    ),
    Panel(
        "Time to first token p95 by model", "s", (8, 63, 8, 8),
        p95_by_model("runwatch_time_to_first_token_seconds"),
        "p95 time from request to the first output token per api and model; exemplars link to traces.",
        exemplar=True,
    ),
    Panel(
        "Tokens per run by model", "short", (16, 63, 8, 8),
        ((f"sum by (api, model, type) (rate(runwatch_tokens_total{{{AM}}}[{RI}])) / on (api, model) "
          f"group_left sum by (api, model) (rate({RUNS}[{RI}]))", "{{api}} {{model}} {{type}}"),),
        "Tokens per finished run, by api, model and type (input, output, cached_input, reasoning).",
    ),
    Row("Latency", y=71),
    Panel(
        "Run duration", "s", (0, 72, 12, 8),
        quantiles("runwatch_run_duration_seconds"),
        "Quantiles of the run duration per api, start to terminal status.",
        exemplar=True,
    ),
    Panel(
        "Time to first token", "s", (12, 72, 12, 8),
        quantiles("runwatch_time_to_first_token_seconds"),
        "Quantiles of the time from request to the first output token, per api.",
        exemplar=True,
        links=(("Runbook: time to first token", "runwatchtimetofirsttokenregression"),),
    ),
    Panel(
        "Phase duration p95", "s", (0, 80, 24, 8),
        ((f"histogram_quantile(0.95, sum by (api, phase, le) (rate(runwatch_phase_duration_seconds_bucket{A}"
          f"[{RI}])))", "{{api}} {{phase}}"),),
        "p95 time spent in each phase per api: queued, in_progress, requires_action (waiting for "
        "tool outputs), tool_call and message_creation (Assistants run steps), output_item.",
    ),
    Row("Usage", y=88),
    Panel(
        "Tokens / s by type", "short", (0, 89, 8, 8),
        ((f"sum by (type) (rate(runwatch_tokens_total{{{AM}}}[{RI}]))", "{{type}}"),),
        "Tokens reported by finished runs: input, output, cached_input, reasoning.",
    ),
    Panel(
        "Tokens / s by model", "short", (8, 89, 8, 8),
        ((f"sum by (model, type) (rate(runwatch_tokens_total{{{AM}}}[{RI}]))", "{{model}} {{type}}"),),
        "Tokens reported by finished runs per model and type.",
    ),
    Panel(
        "Tool calls / s by type", "short", (16, 89, 8, 8),
        ((f"sum by (tool_type) (rate(runwatch_tool_calls_total{A}[{RI}]))", "{{tool_type}}"),),
        "Tool calls made by runs, by tool type (function, code_interpreter, file_search, ...).",
    ),
    Row("Health of the observer", y=97),
    Panel(
        "Stream anomalies / s by kind", "short", (0, 98, 12, 8),
        ((f"sum by (kind) (rate(runwatch_stream_anomalies_total{A}[{RI}]))", "{{kind}}"),),
        "Things the protocol did not promise: unknown events, events after a terminal, streams "
        "that end without one.",
    ),
    Panel(
        # No api label on this metric: the api/model variables cannot apply.
        "runwatch internal errors by stage", "short", (12, 98, 12, 8),
        # increase() needs two samples: a series created by its first error (prometheus-client
        # makes a label child on first use) would show nothing; the second branch shows a series
        # that is new in the interval with its whole count.
        (("sum by (stage) (increase(runwatch_internal_errors_total[$__rate_interval]) or "
          "(runwatch_internal_errors_total unless runwatch_internal_errors_total offset $__rate_interval))",
          "{{stage}}"),),
        "Failures inside runwatch itself, swallowed and counted (user code never sees them), per "
        "interval; a stage's first error shows too.",
        links=(("Runbook: internal errors", "runwatchinternalerrors"),),
    ),
)  # fmt: skip
