"""Generate the Grafana dashboard and the Prometheus rules from one place.

This module is the single source of truth for ``dashboards/runwatch.json`` and
``dashboards/rules.yml``; ``dashboards/build.py`` and ``runwatch dashboards`` both call
:func:`write`, and a test checks the checked-in files equal what it produces.

Why not grafana-foundation-sdk: the dashboard must also be generated at run time by the
``runwatch dashboards`` command (with the user's selector), and runwatch must not depend on a
large alpha SDK for that. Keeping a dev-time SDK builder beside this module would make two
sources of truth. So the JSON is built here from plain dicts, stdlib only, and follows the
model of the newest SDK build ("next", schemaVersion 41). Note that ``pip download
grafana-foundation-sdk`` resolves to a *Grafana 10.1* build (schemaVersion 36): the SDK encodes
its target Grafana version with a version epoch, so the newest upload wins, not the newest
Grafana.

The rules follow the multiwindow, multi-burn-rate recipe of the Google SRE workbook ("Alerting
on SLOs"). The error budget is the *objective*: the tolerated share of runs that end
incomplete (or failed). A burn rate of 1 spends exactly that share.

Example::

    from pathlib import Path
    from runwatch._dashgen import write
    write(Path("out"), objective=0.05, selector='job="api"')
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final

__all__ = ["build_dashboard", "build_rules", "write"]

#: Grafana dashboard schema of the newest grafana-foundation-sdk ("next") build. Newer Grafana
#: versions migrate it on load; v42/v43 only touch features this dashboard does not use.
SCHEMA_VERSION: Final = 41

#: Windows of the recorded ratios: the pairs used by the burn-rate alerts below.
WINDOWS: Final[tuple[str, ...]] = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
_WINDOW_SECONDS: Final[dict[str, int]] = {
    "5m": 300, "30m": 1800, "1h": 3600, "2h": 7200, "6h": 21600, "1d": 86400, "3d": 259200,
}  # fmt: skip

#: (severity, burn factor, long window, short window): the SRE workbook's table for a 30-day
#: budget, which runwatch applies as-is to "share of runs".
BURN_WINDOWS: Final[tuple[tuple[str, float, str, str], ...]] = (
    ("page", 14.4, "1h", "5m"),
    ("page", 6.0, "6h", "30m"),
    ("ticket", 3.0, "1d", "2h"),
    ("ticket", 1.0, "3d", "6h"),
)

DEFAULT_OBJECTIVE: Final = 0.05
DEFAULT_MIN_RUNS: Final = 50
DEFAULT_SPIKE_RATIO: Final = 0.1
DEFAULT_RUNBOOK_URL: Final = "docs/runbook.md"

#: Labels runwatch sets itself: a selector on them would silently empty the ratios.
_RESERVED_LABELS: Final = frozenset(
    {
        "__name__", "api", "model", "status", "reason", "phase", "type", "tool_type", "kind", "stage",
        "status_code", "code", "le",
    }
)  # fmt: skip

_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')


# --------------------------------------------------------------------------- validation


def _check_ratio(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    # The slowest page pair burns 6x the budget; at 6 * objective >= 1 it would need more than
    # 100% of runs to go bad, so no page could ever fire. Refuse rather than ship dead alerts.
    slowest_page = min(f for sev, f, _, _ in BURN_WINDOWS if sev == "page")
    if value * slowest_page >= 1:
        raise ValueError(
            f"{name} {value!r} is too large: page alerts fire at {slowest_page:g}x the objective, "
            f"which must stay below a ratio of 1 (use a value below {1 / slowest_page:.4f})"
        )
    return float(value)


def _check_runbook_url(url: object) -> str:
    """A base URL (or path) for the runbook; each alert appends ``#<alert name in lower case>``."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"runbook_url must be a non-empty string, got {url!r}")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError(f"runbook_url {url!r} must not contain whitespace or control characters")
    if "#" in url:
        raise ValueError(
            f"runbook_url {url!r} must not contain '#': each alert appends its own anchor "
            "(#runwatchincompleteratioburnpage, ...)"
        )
    if "{{" in url or "}}" in url:
        raise ValueError(f"runbook_url {url!r} must not contain '{{{{' or '}}}}' (Prometheus templates)")
    return url


def _parse_selector(selector: str) -> str:
    """Validate a label-matcher body (``job="api",namespace=~"prod-.*"``); return it normalized."""
    if not isinstance(selector, str):
        raise ValueError(f"selector must be a string, got {selector!r}")
    text = selector.strip()
    if text.startswith("{"):
        raise ValueError(f"selector {selector!r}: give the matchers without braces, e.g. 'job=\"api\"'")
    if not text:
        return ""
    matchers: list[str] = []
    pos = 0
    while pos < len(text):
        m = _MATCHER.match(text, pos)
        if m is None:
            raise ValueError(
                f"selector {selector!r} is not a list of PromQL label matchers "
                f'(expected name="value", name!="value", name=~"regex" or name!~"regex", '
                f"separated by commas) near {text[pos:]!r}"
            )
        name, op, value = m.groups()
        if name in _RESERVED_LABELS:
            raise ValueError(
                f"selector {selector!r}: label {name!r} is set by runwatch itself; the selector is "
                f"for target labels such as job, namespace or instance"
            )
        matchers.append(f'{name}{op}"{value}"')
        pos = m.end()
        if pos < len(text):
            if text[pos] != ",":
                raise ValueError(f"selector {selector!r}: expected ',' between matchers at {text[pos:]!r}")
            pos += 1
    return ",".join(matchers)


def _sel(selector: str, *matchers: str) -> str:
    """``{selector,matchers...}`` (or nothing): the selector goes first so it reads like a scope."""
    body = ",".join(p for p in (selector, *matchers) if p)
    return "{" + body + "}" if body else ""


# --------------------------------------------------------------------------- dashboard

_DS: Final = {"type": "prometheus", "uid": "${datasource}"}
_API: Final = 'api=~"$api"'
_MODEL: Final = 'model=~"$model"'
_RI: Final = "$__rate_interval"


def _target(expr: str, legend: str, ref: str, *, instant: bool = False) -> dict[str, object]:
    target: dict[str, object] = {
        "datasource": dict(_DS),
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "range": not instant,
        "instant": instant,
        "refId": ref,
    }
    if instant:
        target["format"] = "table"
    return target


def _panel(
    pid: int,
    title: str,
    description: str,
    targets: Sequence[tuple[str, str]],
    grid: tuple[int, int, int, int],
    *,
    unit: str = "short",
    kind: str = "timeseries",
    overrides: Sequence[Mapping[str, object]] = (),
    instant: bool = False,
    stack: bool = False,
) -> dict[str, object]:
    x, y, w, h = grid
    custom: dict[str, object] = {}
    if kind == "timeseries":
        custom = {
            "drawStyle": "line",
            "fillOpacity": 20 if stack else 10,
            "lineWidth": 1,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "normal" if stack else "none"},
        }
    options: dict[str, object]
    if kind == "table":
        options = {"showHeader": True, "cellHeight": "sm"}
    else:
        options = {
            "legend": {"displayMode": "table", "placement": "bottom", "showLegend": True,
                       "calcs": ["mean", "max", "lastNotNull"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }  # fmt: skip
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": dict(_DS),
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {
            "defaults": {"unit": unit, "custom": custom} if custom else {"unit": unit},
            "overrides": [dict(o) for o in overrides],
        },
        "options": options,
        "targets": [
            _target(expr, legend, chr(ord("A") + i), instant=instant)
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def _row(pid: int, title: str, y: int) -> dict[str, object]:
    return {
        "id": pid, "type": "row", "title": title, "collapsed": False, "panels": [],
        "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
    }  # fmt: skip


def _rename(series: str, name: str) -> dict[str, object]:
    return {
        "matcher": {"id": "byName", "options": series},
        "properties": [{"id": "displayName", "value": name}],
    }


def _quantiles(metric: str, matchers: str, by: str = "") -> list[tuple[str, str]]:
    group = f"le{', ' + by if by else ''}"
    return [
        (
            f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{matchers}[{_RI}])))",
            f"p{round(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    ]


def _variables(selector: str) -> list[dict[str, object]]:
    def query_var(name: str, label: str, matchers: str) -> dict[str, object]:
        query = f"label_values(runwatch_runs_total{matchers}, {label})"
        return {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": dict(_DS),
            "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "definition": query,
            "refresh": 2,  # on time range change: new models show up without a reload
            "sort": 1,
            "multi": True,
            "includeAll": True,
            # ".*" rather than Grafana's default list of values: short queries, and it also
            # matches values that appeared after the variable was last refreshed.
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": [],
            "hide": 0,
        }

    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "options": [],
            "refresh": 1,
            "regex": "",
            "hide": 0,
        },
        query_var("api", "api", _sel(selector)),
        query_var("model", "model", _sel(selector, _API)),
    ]


def build_dashboard(selector: str = "") -> dict[str, object]:
    """The Grafana dashboard (uid ``runwatch``) as a JSON-ready dict.

    ``selector`` is a PromQL matcher body injected into every runwatch metric selector.

    Example::

        >>> build_dashboard('job="api"')["uid"]
        'runwatch'
    """
    sel = _parse_selector(selector)
    am = _sel(sel, _API, _MODEL)  # metrics with api and model labels
    a = _sel(sel, _API)  # metrics with an api label only

    def runs(*extra: str) -> str:
        return "runwatch_runs_total" + _sel(sel, _API, _MODEL, *extra)

    all_runs = f"sum(rate({runs()}[{_RI}]))"
    incomplete = runs('status="incomplete"')
    failed = runs('status="failed"')
    gone = runs('status=~"aborted|abandoned"')
    panels: list[dict[str, object]] = []
    y = 0

    def add_row(title: str) -> None:
        nonlocal y
        panels.append(_row(len(panels) + 1, title, y))
        y += 1

    def add(
        title: str,
        description: str,
        targets: Sequence[tuple[str, str]],
        *,
        w: int = 12,
        h: int = 8,
        x: int = 0,
        newline: bool = False,
        unit: str = "short",
        kind: str = "timeseries",
        overrides: Sequence[Mapping[str, object]] = (),
        instant: bool = False,
        stack: bool = False,
    ) -> None:
        nonlocal y
        panels.append(
            _panel(
                len(panels) + 1,
                title,
                description,
                targets,
                (x, y, w, h),
                unit=unit,
                kind=kind,
                overrides=overrides,
                instant=instant,
                stack=stack,
            )
        )
        if newline:  # the next panel starts a new line of the grid
            y += h

    add_row("Outcomes")
    add(
        "Runs / s by status",
        "Finished runs per second by terminal status, and runs started per second.",
        [
            (f"sum by (status) (rate({runs()}[{_RI}]))", "{{status}}"),
            (f"sum(rate(runwatch_runs_started_total{am}[{_RI}]))", "started"),
        ],
        unit="reqps",
        stack=False,
    )
    add(
        "Incomplete ratio",
        "Share of finished runs that ended incomplete (Responses/Assistants incomplete, Chat length or "
        "content_filter), per api. Compare with the objective of the burn-rate alerts.",
        [
            (
                f"sum by (api) (rate({incomplete}[{_RI}])) / sum by (api) (rate({runs()}[{_RI}]))",
                "{{api}}",
            )
        ],
        unit="percentunit",
        x=12,
        newline=True,
    )
    add(
        "Incomplete ratio by reason",
        "Share of all finished runs that ended incomplete, split by incomplete reason "
        "(max_output_tokens, content_filter, length, ...).",
        [
            (
                f"sum by (reason) (rate({incomplete}[{_RI}])) / ignoring (reason) group_left {all_runs}",
                "{{reason}}",
            )
        ],
        unit="percentunit",
        stack=True,
    )
    add(
        "Failure ratio by reason (error code)",
        "Share of all finished runs that failed, split by error code (server_error, "
        "rate_limit_exceeded, ...).",
        [
            (
                f"sum by (reason) (rate({failed}[{_RI}])) / ignoring (reason) group_left {all_runs}",
                "{{reason}}",
            )
        ],
        unit="percentunit",
        stack=True,
        x=12,
        newline=True,
    )
    add(
        "Aborted and abandoned runs / s",
        "aborted: the stream ended without a terminal event (cut connection, client closed). "
        "abandoned: a run waited for tool outputs (requires_action) and nobody came back.",
        [(f'sum by (status, reason) (rate({gone}[{_RI}]))',
          "{{status}} ({{reason}})")],
        unit="reqps",
    )  # fmt: skip
    add(
        "Runs in progress",
        "Runs started and not yet finished, summed over all instances.",
        [(f"sum by (api) (runwatch_runs_in_progress{a})", "{{api}}")],
        x=12,
        newline=True,
    )
    add(
        "Request errors by status code and code",
        "Requests that failed before their first event, per attempt (SDK retries count): an HTTP "
        "error status with the error body's code (429 rate_limit_exceeded, 500 server_error, ...), or "
        "transport when there was no response (timeout, connect_error, ...). Not runs: they are in "
        "none of the run panels. No model label: the api variable applies, the model one cannot.",
        [(f"sum by (api, status_code, code) (rate(runwatch_request_errors_total{a}[{_RI}]))",
          "{{api}} {{status_code}} {{code}}")],
        unit="reqps",
        w=24,
        newline=True,
    )  # fmt: skip

    add_row("Latency")
    add(
        "Run duration",
        "Quantiles of the run duration, start to terminal status.",
        _quantiles("runwatch_run_duration_seconds", am),
        unit="s",
    )
    add(
        "Time to first token",
        "Quantiles of the time from request to the first output token.",
        _quantiles("runwatch_time_to_first_token_seconds", am),
        unit="s",
        x=12,
        newline=True,
    )
    phase_p95 = (
        "histogram_quantile(0.95, sum by (le, phase) "
        f"(rate(runwatch_phase_duration_seconds_bucket{a}[{_RI}])))"
    )
    add(
        "Phase duration p95",
        "p95 time spent in each phase: queued, in progress, waiting for tool outputs "
        "(requires_action), tool steps and output items.",
        [(phase_p95, "{{phase}}")],
        unit="s",
        w=24,
        newline=True,
        overrides=[
            _rename("in_progress", "in progress"),
            _rename("requires_action", "waiting for tool outputs (requires_action)"),
            _rename("tool_call", "tool steps (tool_call)"),
            _rename("message_creation", "message steps (message_creation)"),
            _rename("output_item", "output items"),
        ],
    )

    add_row("Usage")
    add(
        "Tokens / s by type",
        "Tokens reported by finished runs: input, output, cached_input, reasoning.",
        [(f"sum by (type) (rate(runwatch_tokens_total{am}[{_RI}]))", "{{type}}")],
    )
    add(
        "Tool calls / s by type",
        "Tool calls made by runs, by tool type (function, code_interpreter, file_search, ...).",
        [(f"sum by (tool_type) (rate(runwatch_tool_calls_total{a}[{_RI}]))", "{{tool_type}}")],
        x=12,
        newline=True,
    )

    add_row("Health of the observer")
    add(
        "Stream anomalies / s by kind",
        "Things the protocol did not promise: unknown events, events after a terminal, streams "
        "that end without one.",
        [(f"sum by (kind) (rate(runwatch_stream_anomalies_total{a}[{_RI}]))", "{{kind}}")],
        w=8,
    )
    add(
        "runwatch internal errors by stage",
        "Failures inside runwatch itself, swallowed and counted (user code never sees them).",
        # No api label on this metric: the api/model variables cannot apply.
        [(f"sum by (stage) (increase(runwatch_internal_errors_total{_sel(sel)}[{_RI}]))", "{{stage}}")],
        w=8,
        x=8,
    )
    add(
        "Alerts",
        "runwatch alerts now pending or firing. Alerts without an api label (internal errors) always show.",
        # ALERTS carries the rule labels, not the scrape labels: the selector does not apply.
        [('ALERTS{alertname=~"Runwatch.*",api=~"$api|"}', "")],
        kind="table",
        instant=True,
        w=8,
        x=16,
        newline=True,
    )

    return {
        "uid": "runwatch",
        "title": "runwatch: OpenAI runs",
        "description": "Terminal statuses by incomplete reason, latency, tokens and tools of OpenAI "
        "streaming runs, observed by runwatch.",
        "tags": ["runwatch", "openai", "llm"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "refresh": "1m",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "links": [],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": {"list": _variables(sel)},
        "panels": panels,
    }


# --------------------------------------------------------------------------- rules


def _anchor(alert: str) -> str:
    # GitHub's heading slug of "## RunwatchFooBar" is "runwatchfoobar".
    return alert.lower()


def _recording_rules(sel: str) -> list[dict[str, object]]:
    rules: list[dict[str, object]] = []
    for w in WINDOWS:
        runs = f"runwatch_runs_total{_sel(sel)}"
        rules.append({"record": f"api:runwatch_runs:rate{w}", "expr": f"sum by (api) (rate({runs}[{w}]))"})
        for status, name in (("incomplete", "incomplete"), ("failed", "failed")):
            bad = "runwatch_runs_total" + _sel(sel, f'status="{status}"')
            rules += [
                {
                    "record": f"api_reason:runwatch_runs_{name}:rate{w}",
                    "expr": f"sum by (api, reason) (rate({bad}[{w}]))",
                },
                {
                    "record": f"api_reason:runwatch_runs_{name}:ratio_rate{w}",
                    "expr": f"api_reason:runwatch_runs_{name}:rate{w}\n"
                    f"/ ignoring (reason) group_left\napi:runwatch_runs:rate{w}",
                },
                {
                    # "or 0 * total": an api without a single bad run has ratio 0, not no data,
                    # so dashboards and absent() checks see a healthy api as healthy.
                    "record": f"api:runwatch_runs_{name}:ratio_rate{w}",
                    "expr": f"(\n  sum by (api) (api_reason:runwatch_runs_{name}:rate{w})\n"
                    f"  or\n  0 * api:runwatch_runs:rate{w}\n)\n/ api:runwatch_runs:rate{w}",
                },
            ]
    return rules


def _burn_alerts(
    *,
    prefix: str,
    what: str,
    ratio: str,
    per_reason: bool,
    objective: float,
    min_runs: int,
    runbook_url: str,
) -> list[dict[str, object]]:
    alerts: list[dict[str, object]] = []
    for severity in ("page", "ticket"):
        name = f"{prefix}Burn{severity.title()}"
        clauses = []
        for sev, factor, long_w, short_w in BURN_WINDOWS:
            if sev != severity:
                continue
            threshold = f"({factor:g} * {objective!r})"
            # The guard counts finished runs over the long window: a burn rate computed from
            # a handful of runs is noise (3 of 4 runs incomplete is not an outage).
            clauses.append(
                f"(\n  {ratio}:ratio_rate{long_w} > {threshold}\n"
                f"  and\n  {ratio}:ratio_rate{short_w} > {threshold}\n"
                f"  and on (api)\n"
                f"  api:runwatch_runs:rate{long_w} * {_WINDOW_SECONDS[long_w]} >= {min_runs}\n)"
            )
        reason = " with reason {{ $labels.reason }}" if per_reason else ""
        slowest = min(f for sev, f, _, _ in BURN_WINDOWS if sev == severity)
        pace = "fast" if severity == "page" else "steadily"
        alerts.append(
            {
                "alert": name,
                "expr": "\nor\n".join(clauses),
                "labels": {"severity": severity},
                "annotations": {
                    "summary": (
                        f"{{{{ $labels.api }}}} runs that {what}{reason} are burning the error budget {pace}"
                    ),
                    "description": (
                        f"{{{{ $value | humanizePercentage }}}} of {{{{ $labels.api }}}} runs {what}{reason} "
                        f"over the long window: at least {slowest:g}x the tolerated "
                        f"{objective * 100:.4g}% (objective {objective!r}), confirmed by the short window."
                    ),
                    "runbook_url": f"{runbook_url}#{_anchor(name)}",
                },
            }
        )
    return alerts


def _rules_doc(
    *,
    objective: float,
    failure_objective: float,
    sel: str,
    min_runs: int,
    spike_ratio: float,
    runbook_url: str,
) -> dict[str, object]:
    runs = f"runwatch_runs_total{_sel(sel)}"

    def spike(status: str, name: str, meaning: str) -> dict[str, object]:
        bad = "runwatch_runs_total" + _sel(sel, f'status="{status}"')
        return {
            "alert": name,
            "expr": f"(\n  sum by (api) (rate({bad}[15m]))\n  / sum by (api) (rate({runs}[15m]))\n)"
            f" > {spike_ratio!r}\nand on (api)\nsum by (api) (increase({runs}[15m])) >= {min_runs}",
            "for": "5m",
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": f"Many {{{{ $labels.api }}}} runs end {status}",
                "description": f"{{{{ $value | humanizePercentage }}}} of {{{{ $labels.api }}}} runs "
                f"over the last 15 minutes ended {status} ({meaning}); the threshold is {spike_ratio:.4g}.",
                "runbook_url": f"{runbook_url}#{_anchor(name)}",
            },
        }

    gauge = f"runwatch_runs_in_progress{_sel(sel)}"
    ttft = "runwatch_time_to_first_token_seconds"
    ttft_p95 = "histogram_quantile(0.95, sum by (api, le) (rate({m}_bucket{s}[30m]{o})))"
    errors = f"runwatch_internal_errors_total{_sel(sel)}"
    burn_alerts: list[dict[str, object]] = [
        *_burn_alerts(
            prefix="RunwatchIncompleteRatio",
            what="ended incomplete",
            ratio="api:runwatch_runs_incomplete",
            per_reason=False,
            objective=objective,
            min_runs=min_runs,
            runbook_url=runbook_url,
        ),
        *_burn_alerts(
            prefix="RunwatchIncompleteReason",
            what="ended incomplete",
            ratio="api_reason:runwatch_runs_incomplete",
            per_reason=True,
            objective=objective,
            min_runs=min_runs,
            runbook_url=runbook_url,
        ),
        *_burn_alerts(
            prefix="RunwatchFailureRatio",
            what="failed",
            ratio="api:runwatch_runs_failed",
            per_reason=False,
            objective=failure_objective,
            min_runs=min_runs,
            runbook_url=runbook_url,
        ),
    ]
    alerts: list[dict[str, object]] = [
        spike("aborted", "RunwatchAbortedStreamsSpike", "the stream ended without a terminal event"),
        spike("abandoned", "RunwatchAbandonedRunsSpike", "nobody submitted the tool outputs in time"),
        {
            "alert": "RunwatchRunsStuckInProgress",
            # Per instance: runs in progress 15 minutes ago (so a series born a minute ago, with
            # its first run still going, does not count) and never back to 0 since then.
            "expr": f"sum by (api) (\n  min_over_time({gauge}[15m])\n  and\n  ({gauge} offset 15m) > 0\n)"
            f" > 0\nunless on (api)\nsum by (api) (increase({runs}[15m])) > 0",
            "labels": {"severity": "page"},
            "annotations": {
                "summary": "{{ $labels.api }} runs are in progress but none has finished for 15 minutes",
                "description": "{{ $value }} {{ $labels.api }} runs have been in progress for 15 minutes "
                "while no run finished: the API, the network or the observer is stuck.",
                "runbook_url": f"{runbook_url}#{_anchor('RunwatchRunsStuckInProgress')}",
            },
        },
        {
            "alert": "RunwatchTimeToFirstTokenRegression",
            # Raw "offset 1d" rather than a recorded p95: works on the first day after deploying.
            "expr": ttft_p95.format(m=ttft, s=_sel(sel), o="")
            + "\n> 2 *\n"
            + ttft_p95.format(m=ttft, s=_sel(sel), o=" offset 1d")
            + f"\nand on (api)\nsum by (api) (increase({ttft}_count{_sel(sel)}[30m])) >= {min_runs}",
            "for": "10m",
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": "{{ $labels.api }} time to first token doubled since yesterday",
                "description": "p95 time to first token of {{ $labels.api }} runs over 30 minutes is "
                "{{ $value | humanizeDuration }}, more than twice the p95 at the same time yesterday.",
                "runbook_url": f"{runbook_url}#{_anchor('RunwatchTimeToFirstTokenRegression')}",
            },
        },
        {
            "alert": "RunwatchInternalErrors",
            # increase() cannot see the first error of a series that did not exist before (a label
            # child created by that error): the second branch catches series new in the window.
            "expr": f"sum by (stage) (increase({errors}[10m])) > 0\nor\n"
            f"sum by (stage) ({errors} unless {errors} offset 10m) > 0",
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": "runwatch had internal errors in stage {{ $labels.stage }}",
                "description": "runwatch swallowed internal errors in stage {{ $labels.stage }} in the "
                "last 10 minutes. User code is unaffected but telemetry may be incomplete.",
                "runbook_url": f"{runbook_url}#{_anchor('RunwatchInternalErrors')}",
            },
        },
    ]
    return {
        "groups": [
            # Burn alerts share the group of the ratios they read: rules of a group run in order
            # at one timestamp, so an alert sees this evaluation's ratios. Across groups the order
            # is not defined and an alert would read a ratio one interval old, or a fresh one.
            {"name": "runwatch-slo", "rules": [*_recording_rules(sel), *burn_alerts]},
            {"name": "runwatch-alerts", "rules": alerts},
        ]
    }


def build_rules(
    objective: float = DEFAULT_OBJECTIVE,
    selector: str = "",
    failure_objective: float | None = None,
    *,
    min_runs: int = DEFAULT_MIN_RUNS,
    spike_ratio: float = DEFAULT_SPIKE_RATIO,
    runbook_url: str = DEFAULT_RUNBOOK_URL,
) -> str:
    """Prometheus recording and alerting rules as YAML text.

    ``objective`` is the tolerated share of incomplete runs (the error budget);
    ``failure_objective`` the tolerated share of failed runs (defaults to ``objective``).
    Burn-rate alerts stay quiet until ``min_runs`` runs finished in their long window.
    ``runbook_url`` is the base of every alert's ``runbook_url`` annotation (``<base>#<alert>``).

    Example::

        >>> "RunwatchIncompleteReasonBurnPage" in build_rules(0.02, 'job="api"')
        True
    """
    obj = _check_ratio("objective", objective)
    fobj = obj if failure_objective is None else _check_ratio("failure_objective", failure_objective)
    if isinstance(min_runs, bool) or not isinstance(min_runs, int) or min_runs < 1:
        raise ValueError(f"min_runs must be a positive integer, got {min_runs!r}")
    if isinstance(spike_ratio, bool) or not isinstance(spike_ratio, int | float) or not 0 < spike_ratio < 1:
        raise ValueError(f"spike_ratio must be a number strictly between 0 and 1, got {spike_ratio!r}")
    runbook_url = _check_runbook_url(runbook_url)
    doc = _rules_doc(
        objective=obj,
        failure_objective=fobj,
        sel=_parse_selector(selector),
        min_runs=min_runs,
        spike_ratio=float(spike_ratio),
        runbook_url=runbook_url,
    )
    header = (
        "# Generated by runwatch._dashgen (runwatch dashboards); do not edit by hand.\n"
        f"# objective={obj!r} failure_objective={fobj!r} min_runs={min_runs}\n"
    )
    return header + _yaml(doc)


# --------------------------------------------------------------------------- YAML

# Identifiers and PromQL durations ("5m") are unambiguous YAML strings without quotes.
# YAML 1.1 readers (PyYAML) turn these bare words into booleans or null.
_YAML_WORDS: Final = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"})
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z|[0-9]+[smhdwy]\Z")


def _yaml_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    # Plain identifiers stay bare; PromQL (full of double quotes) reads best single-quoted; a
    # JSON string, also a valid YAML double-quoted scalar, covers anything else.
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return json.dumps(text)


def _block_ok(text: str) -> bool:
    # A leading space would need an indentation indicator, trailing spaces are invisible: JSON.
    lines = text.split("\n")
    return (
        len(lines) > 1
        and not text[:1].isspace()
        and all(line.isprintable() and line == line.rstrip() for line in lines)
    )


def _yaml_lines(value: object, indent: int) -> Iterable[str]:
    pad = " " * indent
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, Mapping | list):
                yield f"{pad}{key}:"
                yield from _yaml_lines(item, indent + 2)
            elif isinstance(item, str) and _block_ok(item):
                # Block scalar: multi-line PromQL stays readable in the checked-in file.
                yield f"{pad}{key}: |-"
                yield from (f"{pad}  {line}" if line else "" for line in item.split("\n"))
            else:
                yield f"{pad}{key}: {_yaml_scalar(item)}"
    elif isinstance(value, list):
        for item in value:
            lines = list(_yaml_lines(item, indent + 2))
            if isinstance(item, Mapping | list) and lines:
                yield f"{pad}- {lines[0][indent + 2 :]}"
                yield from lines[1:]
            else:
                yield f"{pad}- {_yaml_scalar(item)}"
    else:
        yield f"{pad}{_yaml_scalar(value)}"


def _yaml(doc: object) -> str:
    return "\n".join(_yaml_lines(doc, 0)) + "\n"


# --------------------------------------------------------------------------- files


def dashboard_json(selector: str = "") -> str:
    """The dashboard as the exact text written to ``runwatch.json``."""
    return json.dumps(build_dashboard(selector), indent=2) + "\n"


def write(
    out_dir: Path,
    *,
    objective: float = DEFAULT_OBJECTIVE,
    selector: str = "",
    failure_objective: float | None = None,
    min_runs: int = DEFAULT_MIN_RUNS,
    runbook_url: str = DEFAULT_RUNBOOK_URL,
) -> list[Path]:
    """Write ``runwatch.json`` and ``rules.yml`` into ``out_dir`` (created if missing).

    The options are those of :func:`build_rules` (``runbook_url`` is the base of every alert's
    ``runbook_url`` annotation; each alert appends ``#<its name in lower case>``). Everything is
    generated before anything is written, so a bad option leaves no half output.

    Example::

        write(Path("deploy/runwatch"), objective=0.05, selector='job="api"')
    """
    dashboard = dashboard_json(selector)
    rules = build_rules(objective, selector, failure_objective, min_runs=min_runs, runbook_url=runbook_url)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "runwatch.json", out_dir / "rules.yml"]
    for path, text in zip(paths, (dashboard, rules), strict=True):
        path.write_text(text, encoding="utf-8")
    return paths
