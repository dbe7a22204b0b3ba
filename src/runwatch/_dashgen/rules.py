"""The Prometheus recording rules and alerts, as a document ready for the YAML emitter.

The rules follow the multiwindow, multi-burn-rate recipe of the Google SRE workbook ("Alerting
on SLOs"). The error budget is the *objective*: the tolerated share of runs that end
incomplete (or failed). A burn rate of 1 spends exactly that share. Queries are written
without the user's selector; :func:`document` scopes every ``expr`` at the end.
"""

from __future__ import annotations

from typing import Final

from .selector import scope

__all__ = ["BURN_WINDOWS", "WINDOWS", "check_ratio", "check_runbook_url", "document"]

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

#: Burn-rate alert families: (name prefix, what the runs did, recorded ratio, one alert per
#: reason, whose objective: the incomplete one or the failure one).
_BURNS: Final = (
    ("RunwatchIncompleteRatio", "ended incomplete", "api:runwatch_runs_incomplete", False, "incomplete"),
    ("RunwatchIncompleteReason", "ended incomplete", "api_reason:runwatch_runs_incomplete", True,
     "incomplete"),
    ("RunwatchFailureRatio", "failed", "api:runwatch_runs_failed", False, "failed"),
)  # fmt: skip

#: Spike alerts on a status over 15 minutes: (status, alert, what that status means).
_SPIKES: Final = (
    ("aborted", "RunwatchAbortedStreamsSpike", "the stream ended without a terminal event"),
    ("abandoned", "RunwatchAbandonedRunsSpike", "nobody submitted the tool outputs in time"),
)

_RUNS: Final = "runwatch_runs_total"
_GAUGE: Final = "runwatch_runs_in_progress"
_TTFT: Final = "runwatch_time_to_first_token_seconds"
_ERRORS: Final = "runwatch_internal_errors_total"
_API: Final = "{{ $labels.api }}"  # in annotations: the api of the alerting series


def check_ratio(name: str, value: object) -> float:
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


def check_runbook_url(url: object) -> str:
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


def _recording_rules() -> list[dict[str, object]]:
    rules: list[dict[str, object]] = []
    for w in WINDOWS:
        rules.append({"record": f"api:runwatch_runs:rate{w}", "expr": f"sum by (api) (rate({_RUNS}[{w}]))"})
        for status in ("incomplete", "failed"):
            rules += [
                {
                    "record": f"api_reason:runwatch_runs_{status}:rate{w}",
                    "expr": f'sum by (api, reason) (rate({_RUNS}{{status="{status}"}}[{w}]))',
                },
                {
                    "record": f"api_reason:runwatch_runs_{status}:ratio_rate{w}",
                    "expr": f"api_reason:runwatch_runs_{status}:rate{w}\n"
                    f"/ ignoring (reason) group_left\napi:runwatch_runs:rate{w}",
                },
                {
                    # "or 0 * total": an api without a single bad run has ratio 0, not no data,
                    # so dashboards and absent() checks see a healthy api as healthy.
                    "record": f"api:runwatch_runs_{status}:ratio_rate{w}",
                    "expr": f"(\n  sum by (api) (api_reason:runwatch_runs_{status}:rate{w})\n"
                    f"  or\n  0 * api:runwatch_runs:rate{w}\n)\n/ api:runwatch_runs:rate{w}",
                },
            ]
    return rules


def _alert(
    name: str, expr: str, *, severity: str, summary: str, about: str, runbook: str, wait: str = ""
) -> dict[str, object]:
    """One alert rule; ``about`` is its description, ``wait`` its ``for`` duration."""
    timing = {"for": wait} if wait else {}
    return {
        "alert": name,
        "expr": expr,
        **timing,
        "labels": {"severity": severity},
        # GitHub's heading slug of "## RunwatchFooBar" is "runwatchfoobar": the runbook's anchor.
        "annotations": {"summary": summary, "description": about, "runbook_url": f"{runbook}#{name.lower()}"},
    }


def _burn_alerts(objectives: dict[str, float], min_runs: int, runbook_url: str) -> list[dict[str, object]]:
    alerts: list[dict[str, object]] = []
    for prefix, what, ratio, per_reason, whose in _BURNS:
        objective = objectives[whose]
        reason = " with reason {{ $labels.reason }}" if per_reason else ""
        for severity, pace in (("page", "fast"), ("ticket", "steadily")):
            # The guard counts finished runs over the long window: a burn rate computed from
            # a handful of runs is noise (3 of 4 runs incomplete is not an outage).
            clauses = [
                f"(\n  {ratio}:ratio_rate{long_w} > ({factor:g} * {objective!r})\n"
                f"  and\n  {ratio}:ratio_rate{short_w} > ({factor:g} * {objective!r})\n"
                f"  and on (api)\n"
                f"  api:runwatch_runs:rate{long_w} * {_WINDOW_SECONDS[long_w]} >= {min_runs}\n)"
                for sev, factor, long_w, short_w in BURN_WINDOWS
                if sev == severity
            ]
            slowest = min(f for sev, f, _, _ in BURN_WINDOWS if sev == severity)
            alerts.append(
                _alert(
                    f"{prefix}Burn{severity.title()}",
                    "\nor\n".join(clauses),
                    severity=severity,
                    summary=f"{_API} runs that {what}{reason} are burning the error budget {pace}",
                    about=f"{{{{ $value | humanizePercentage }}}} of {_API} runs {what}{reason} "
                    f"over the long window: at least {slowest:g}x the tolerated "
                    f"{objective * 100:.4g}% (objective {objective!r}), confirmed by the short window.",
                    runbook=runbook_url,
                )
            )
    return alerts


def _other_alerts(min_runs: int, spike_ratio: float, runbook_url: str) -> list[dict[str, object]]:
    spikes = [
        _alert(
            name,
            f'(\n  sum by (api) (rate({_RUNS}{{status="{status}"}}[15m]))\n'
            f"  / sum by (api) (rate({_RUNS}[15m]))\n) > {spike_ratio!r}\n"
            f"and on (api)\nsum by (api) (increase({_RUNS}[15m])) >= {min_runs}",
            severity="ticket",
            summary=f"Many {_API} runs end {status}",
            about=f"{{{{ $value | humanizePercentage }}}} of {_API} runs over the last 15 minutes "
            f"ended {status} ({meaning}); the threshold is {spike_ratio:.4g}.",
            runbook=runbook_url,
            wait="5m",
        )
        for status, name, meaning in _SPIKES
    ]

    def ttft_p95(offset: str = "") -> str:
        return f"histogram_quantile(0.95, sum by (api, le) (rate({_TTFT}_bucket[30m]{offset})))"

    return [
        *spikes,
        _alert(
            "RunwatchRunsStuckInProgress",
            # Per instance: runs in progress 15 minutes ago (so a series born a minute ago, with
            # its first run still going, does not count) and never back to 0 since then.
            f"sum by (api) (\n  min_over_time({_GAUGE}[15m])\n  and\n  ({_GAUGE} offset 15m) > 0\n)"
            f" > 0\nunless on (api)\nsum by (api) (increase({_RUNS}[15m])) > 0",
            severity="page",
            summary="{{ $labels.api }} runs are in progress but none has finished for 15 minutes",
            about="{{ $value }} {{ $labels.api }} runs have been in progress for 15 minutes "
            "while no run finished: the API, the network or the observer is stuck.",
            runbook=runbook_url,
        ),
        _alert(
            "RunwatchTimeToFirstTokenRegression",
            # Raw "offset 1d" rather than a recorded p95: works on the first day after deploying.
            f"{ttft_p95()}\n> 2 *\n{ttft_p95(' offset 1d')}"
            f"\nand on (api)\nsum by (api) (increase({_TTFT}_count[30m])) >= {min_runs}",
            severity="ticket",
            summary="{{ $labels.api }} time to first token doubled since yesterday",
            about="p95 time to first token of {{ $labels.api }} runs over 30 minutes is "
            "{{ $value | humanizeDuration }}, more than twice the p95 at the same time yesterday.",
            runbook=runbook_url,
            wait="10m",
        ),
        _alert(
            "RunwatchInternalErrors",
            # increase() cannot see the first error of a series that did not exist before (a label
            # child created by that error): the second branch catches series new in the window.
            f"sum by (stage) (increase({_ERRORS}[10m])) > 0\nor\n"
            f"sum by (stage) ({_ERRORS} unless {_ERRORS} offset 10m) > 0",
            severity="ticket",
            summary="runwatch had internal errors in stage {{ $labels.stage }}",
            about="runwatch swallowed internal errors in stage {{ $labels.stage }} in the "
            "last 10 minutes. User code is unaffected but telemetry may be incomplete.",
            runbook=runbook_url,
        ),
    ]


def document(
    *,
    objective: float,
    failure_objective: float,
    sel: str,
    min_runs: int,
    spike_ratio: float,
    runbook_url: str,
) -> dict[str, object]:
    """The rules file as a document (validated options; ``sel`` a parsed selector)."""
    objectives = {"incomplete": objective, "failed": failure_objective}
    slo = [*_recording_rules(), *_burn_alerts(objectives, min_runs, runbook_url)]
    groups: list[dict[str, object]] = [
        # Burn alerts share the group of the ratios they read: rules of a group run in order
        # at one timestamp, so an alert sees this evaluation's ratios. Across groups the order
        # is not defined and an alert would read a ratio one interval old, or a fresh one.
        {"name": "runwatch-slo", "rules": slo},
        {"name": "runwatch-alerts", "rules": _other_alerts(min_runs, spike_ratio, runbook_url)},
    ]
    for group in groups:
        for rule in group["rules"]:  # type: ignore[attr-defined]
            rule["expr"] = scope(rule["expr"], sel)
    return {"groups": groups}
