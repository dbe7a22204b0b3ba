"""The Prometheus recording rules and alerts, as a document ready for the YAML emitter.

Two SLOs, each an error budget on a share of outcomes:

- **incomplete**: runs that ended ``incomplete`` (per api, and per reason), budget ``objective``;
- **failure** (bad runs): runs that ended in a bad status (``failed``, ``aborted``, ``expired``,
  ``unknown``, ``abandoned`` by default) except benign reasons (the caller closed or cancelled
  the stream), plus requests that failed before their first event, out of all runs and failed
  requests; budget ``failure_objective``. :class:`BadRuns` is its definition.

Alerts follow the multiwindow, multi-burn-rate recipe of the Google SRE workbook ("Alerting on
SLOs"): one rule per window pair, each with its own pending period (Pyrra's 2m/15m/1h/3h) and
``long``/``short`` labels. Queries are written without the user's selector or scope;
:func:`document` localizes every ``expr`` with :meth:`Scope.apply` at the end, and aggregations
keep the scope's labels so two rule sets in one Prometheus never read each other's series.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from .selector import Scope

__all__ = [
    "BURN_WINDOWS",
    "DEFAULT_BAD_STATUSES",
    "DEFAULT_BENIGN_REASONS",
    "DEFAULT_RUNBOOK_URL",
    "PENDING",
    "WINDOWS",
    "BadRuns",
    "check_ratio",
    "check_runbook_url",
    "document",
]

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

#: Pending period (``for:``) of each pair, by its long window (Pyrra's): a burn must hold that
#: long before it notifies, so a scrape's worth of bad luck never pages.
PENDING: Final[dict[str, str]] = {"1h": "2m", "6h": "15m", "1d": "1h", "3d": "3h"}

#: The period of the error budget (Sloth-style remaining budget and 30-day ratios).
BUDGET_PERIOD: Final = "30d"

DEFAULT_BAD_STATUSES: Final[tuple[str, ...]] = ("failed", "aborted", "expired", "unknown", "abandoned")
#: runwatch's own reasons for a stream the caller ended: the user left, the service did not fail.
DEFAULT_BENIGN_REASONS: Final[tuple[str, ...]] = ("client_closed", "cancelled")

#: Where runwatch publishes docs/runbook.md: alerts link ``<this>#<alert name in lower case>``.
DEFAULT_RUNBOOK_URL: Final = "https://github.com/runwatch/runwatch/blob/main/docs/runbook.md"

_RUNS: Final = "runwatch_runs_total"
_REQUEST_ERRORS: Final = "runwatch_request_errors_total"
_GAUGE: Final = "runwatch_runs_in_progress"
_TTFT: Final = "runwatch_time_to_first_token_seconds"
_ERRORS: Final = "runwatch_internal_errors_total"
_API: Final = "{{ $labels.api }}"  # in annotations: the api of the alerting series


def _closed_sets() -> tuple[tuple[str, ...], frozenset[str]]:
    from runwatch._events import STATUSES
    from runwatch._labels import REASONS

    return tuple(STATUSES), frozenset().union(*REASONS.values())


def _names(what: str, values: object, allowed: frozenset[str] | tuple[str, ...]) -> tuple[str, ...]:
    """A list of names from a closed set, in the given order, without repeats."""
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):  # type: ignore[attr-defined]
        raise ValueError(f"{what} must be a list of names, got {values!r}")
    out: list[str] = []
    for value in values:  # type: ignore[attr-defined]
        if value not in allowed:
            raise ValueError(f"{what}: {value!r} is not one of {', '.join(sorted(allowed))}")
        if value not in out:
            out.append(value)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class BadRuns:
    """What the failure SLO counts as bad: runs ending in one of ``statuses`` unless their reason
    is one of ``benign_reasons``, plus (``request_errors``) requests that failed before their first
    event, which then also count in the denominator. Build it with :meth:`of` (validates).

    Example::

        >>> BadRuns.of(["failed", "aborted"], ["client_closed"]).matchers
        'status=~"failed|aborted",reason!~"client_closed"'
    """

    statuses: tuple[str, ...] = DEFAULT_BAD_STATUSES
    benign_reasons: tuple[str, ...] = DEFAULT_BENIGN_REASONS
    request_errors: bool = True

    @classmethod
    def of(
        cls,
        statuses: Sequence[str] = DEFAULT_BAD_STATUSES,
        benign_reasons: Sequence[str] = DEFAULT_BENIGN_REASONS,
        request_errors: bool = True,
    ) -> BadRuns:
        all_statuses, all_reasons = _closed_sets()
        bad = _names("bad_statuses", statuses, tuple(s for s in all_statuses if s != "completed"))
        if not bad:
            raise ValueError("bad_statuses must name at least one status")
        benign = _names("benign_reasons", benign_reasons, all_reasons)
        if not isinstance(request_errors, bool):
            raise ValueError(f"request_errors must be true or false, got {request_errors!r}")
        return cls(bad, benign, request_errors)

    @property
    def matchers(self) -> str:
        """The label matchers of the bad runs of ``runwatch_runs_total``."""
        benign = f',reason!~"{"|".join(self.benign_reasons)}"' if self.benign_reasons else ""
        return f'status=~"{"|".join(self.statuses)}"{benign}'

    def describe(self) -> str:
        """In words, for alert descriptions and docs.

        Example::

            >>> BadRuns.of(["failed", "aborted"], ["client_closed"], request_errors=False).describe()
            'failed or aborted runs (except reasons client_closed)'
        """
        *head, last = self.statuses
        text = f"{', '.join(head)} or {last}" if head else last
        text += " runs"
        if self.benign_reasons:
            text += f" (except reasons {', '.join(self.benign_reasons)})"
        return text + (" and requests that failed before their first event" if self.request_errors else "")


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
    """An absolute http(s) URL of the runbook; each alert appends ``#<alert name in lower case>``.

    Absolute because the link is clicked from Alertmanager, a chat message or a pager, where a
    relative path resolves to nothing."""
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
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in {"http", "https"} or not rest.split("/", 1)[0]:
        raise ValueError(
            f"runbook_url {url!r} must be an absolute http:// or https:// URL: alerts are read in "
            "Alertmanager, chat and pagers, where a relative path cannot be clicked"
        )
    return url


@dataclass(frozen=True, slots=True)
class _Options:
    objective: float
    failure_objective: float
    scope: Scope
    bad: BadRuns
    min_runs: int
    spike_ratio: float
    runbook_url: str


def _record(name: str, expr: str, scope: Scope, **labels: str) -> dict[str, object]:
    """A recording rule. The explicit scope name is a static label: raw metrics do not carry it."""
    static = {**labels, **({"scope": scope.name} if scope.name else {})}
    return {"record": name, "expr": expr, **({"labels": static} if static else {})}


def _recording_rules(o: _Options) -> list[dict[str, object]]:
    s = o.scope
    raw_api, api = s.raw_by("api"), s.by("api")
    rules: list[dict[str, object]] = []
    for w in WINDOWS:
        rules.append(_record(f"api:runwatch_runs:rate{w}", f"sum by ({raw_api}) (rate({_RUNS}[{w}]))", s))
        for status in ("incomplete", "failed"):
            rules += [
                _record(
                    f"api_reason:runwatch_runs_{status}:rate{w}",
                    f'sum by ({s.raw_by("api", "reason")}) (rate({_RUNS}{{status="{status}"}}[{w}]))',
                    s,
                ),
                _record(
                    f"api_reason:runwatch_runs_{status}:ratio_rate{w}",
                    f"api_reason:runwatch_runs_{status}:rate{w}\n"
                    f"/ ignoring (reason) group_left\napi:runwatch_runs:rate{w}",
                    s,
                ),
                # "or 0 * total": an api without a single bad run has ratio 0, not no data,
                # so dashboards and absent() checks see a healthy api as healthy.
                _record(
                    f"api:runwatch_runs_{status}:ratio_rate{w}",
                    f"(\n  sum by ({api}) (api_reason:runwatch_runs_{status}:rate{w})\n"
                    f"  or\n  0 * api:runwatch_runs:rate{w}\n)\n/ api:runwatch_runs:rate{w}",
                    s,
                ),
            ]
        # The failure SLO: its events are finished runs plus (optionally) failed requests, its
        # bad events the bad runs plus those requests. A request error has status_code and no
        # status, a run the reverse: "or" of the two rates is their union, summed per api.
        errors = f"sum by ({raw_api}) (rate({_REQUEST_ERRORS}[{w}]))"
        rules.append(_record(f"api:runwatch_request_errors:rate{w}", errors, s))
        if o.bad.request_errors:
            outcomes = (
                f"api:runwatch_runs:rate{w} + api:runwatch_request_errors:rate{w}\n"
                f"or\napi:runwatch_runs:rate{w}\nor\napi:runwatch_request_errors:rate{w}"
            )
            bad = (
                f"sum by ({raw_api}) (\n  rate({_RUNS}{{{o.bad.matchers}}}[{w}])\n"
                f"  or\n  rate({_REQUEST_ERRORS}[{w}])\n)"
            )
        else:
            outcomes = f"api:runwatch_runs:rate{w}"
            bad = f"sum by ({raw_api}) (rate({_RUNS}{{{o.bad.matchers}}}[{w}]))"
        rules += [
            _record(f"api:runwatch_outcomes:rate{w}", outcomes, s),
            _record(f"api:runwatch_runs_bad:rate{w}", bad, s),
            _record(
                f"api:runwatch_runs_bad:ratio_rate{w}",
                f"(\n  api:runwatch_runs_bad:rate{w}\n  or\n  0 * api:runwatch_outcomes:rate{w}\n)\n"
                f"/ api:runwatch_outcomes:rate{w}",
                s,
            ),
        ]
    return rules + _budget_rules(o)


def _budget_rules(o: _Options) -> list[dict[str, object]]:
    """Sloth-style SLO series: the objectives, the ratios and remaining error budget over the budget
    period, and the current (1h) burn rate, per api and scope.

    The 30-day ratios sum the recorded 5m rates over the period rather than read 30 days of raw
    counters: every 5m rate is sampled at the same interval, so the ratio of the sums is the
    share of the period's runs (each run weighed once), at a fraction of the cost."""
    s, p = o.scope, BUDGET_PERIOD
    rules: list[dict[str, object]] = [
        # The dashboard draws its objective lines from these (with the scope's labels, which
        # vector() does not have).
        {"record": "runwatch:slo_objective:ratio", "expr": f"vector({objective!r})",
         "labels": {"slo": slo, **s.static_labels}}
        for slo, objective in (("incomplete", o.objective), ("failure", o.failure_objective))
    ]  # fmt: skip
    rules.append(
        _record(
            "api:runwatch_runs_incomplete:rate5m",
            f"sum by ({s.by('api')}) (api_reason:runwatch_runs_incomplete:rate5m)\n"
            "or\n0 * api:runwatch_runs:rate5m",
            s,
        )
    )
    for series, events, objective in (
        ("api:runwatch_runs_incomplete", "api:runwatch_runs", o.objective),
        ("api:runwatch_runs_bad", "api:runwatch_outcomes", o.failure_objective),
    ):
        rules += [
            _record(
                f"{series}:ratio_rate{p}",
                f"(\n  sum_over_time({series}:rate5m[{p}])\n  or\n"
                f"  0 * sum_over_time({events}:rate5m[{p}])\n)\n/ sum_over_time({events}:rate5m[{p}])",
                s,
            ),
            _record(f"{series}:error_budget_remaining{p}", f"1 - {series}:ratio_rate{p} / {objective!r}", s),
            _record(f"{series}:burn_rate1h", f"{series}:ratio_rate1h / {objective!r}", s),
        ]
    return rules


def _alert(
    name: str,
    expr: str,
    *,
    o: _Options,
    severity: str,
    summary: str,
    about: str,
    wait: str = "",
    **labels: str,
) -> dict[str, object]:
    """One alert rule; ``about`` is its description, ``wait`` its ``for`` duration."""
    timing = {"for": wait} if wait else {}
    scope = {"scope": o.scope.name} if o.scope.name else {}
    return {
        "alert": name,
        "expr": expr,
        **timing,
        "labels": {"severity": severity, **labels, **scope},
        # GitHub's heading slug of "## RunwatchFooBar" is "runwatchfoobar": the runbook's anchor.
        "annotations": {
            "summary": summary,
            "description": about,
            "runbook_url": f"{o.runbook_url}#{name.lower()}",
        },
    }


def _burn_alerts(o: _Options) -> list[dict[str, object]]:
    # (name prefix, recorded ratio, events that make the low-traffic guard, per reason, slo,
    # objective, what the bad events did)
    families = (
        ("RunwatchIncompleteRatio", "api:runwatch_runs_incomplete", "api:runwatch_runs", False,
         "incomplete", o.objective, "runs ended incomplete"),
        ("RunwatchIncompleteReason", "api_reason:runwatch_runs_incomplete", "api:runwatch_runs", True,
         "incomplete", o.objective, "runs ended incomplete"),
        ("RunwatchFailureRatio", "api:runwatch_runs_bad", "api:runwatch_outcomes", False,
         "failure", o.failure_objective, "requests went bad"),
    )  # fmt: skip
    alerts: list[dict[str, object]] = []
    api = o.scope.by("api")
    for prefix, ratio, events, per_reason, slo, objective, what in families:
        reason = " with reason {{ $labels.reason }}" if per_reason else ""
        which = f" Bad: {o.bad.describe()}." if slo == "failure" else ""
        short_what = "runs that went bad" if slo == "failure" else "runs that ended incomplete"
        for severity, factor, long_w, short_w in BURN_WINDOWS:
            pace = "fast" if severity == "page" else "steadily"
            # The guard counts events over the long window: a burn rate computed from a handful
            # of runs is noise (3 of 4 runs incomplete is not an outage).
            expr = (
                f"{ratio}:ratio_rate{long_w} > ({factor:g} * {objective!r})\nand\n"
                f"{ratio}:ratio_rate{short_w} > ({factor:g} * {objective!r})\nand on ({api})\n"
                f"{events}:rate{long_w} * {_WINDOW_SECONDS[long_w]} >= {o.min_runs}"
            )
            alerts.append(
                _alert(
                    f"{prefix}Burn{severity.title()}",
                    expr,
                    o=o,
                    severity=severity,
                    summary=f"{_API} {short_what}{reason} are burning the error budget {pace}",
                    about=f"{{{{ $value | humanizePercentage }}}} of {_API} {what}{reason} over the last "
                    f"{long_w}, and over the last {short_w} too: above {factor:g}x the tolerated "
                    f"{objective * 100:.4g}% (objective {objective!r}).{which}",
                    wait=PENDING[long_w],
                    slo=slo,
                    long=long_w,
                    short=short_w,
                )
            )
    return alerts


def _other_alerts(o: _Options) -> list[dict[str, object]]:
    by_api = o.scope.raw_by("api")
    spikes = [
        _alert(
            name,
            f'(\n  sum by ({by_api}) (rate({_RUNS}{{status="{status}"}}[15m]))\n'
            f"  / sum by ({by_api}) (rate({_RUNS}[15m]))\n) > {o.spike_ratio!r}\n"
            f"and on ({by_api})\nsum by ({by_api}) (increase({_RUNS}[15m])) >= {o.min_runs}",
            o=o,
            severity="ticket",
            summary=f"Many {_API} runs end {status}",
            about=f"{{{{ $value | humanizePercentage }}}} of {_API} runs over the last 15 minutes "
            f"ended {status} ({meaning}); the threshold is {o.spike_ratio:.4g}.",
            wait="5m",
        )
        for status, name, meaning in _SPIKES
    ]

    def ttft_p95(offset: str = "") -> str:
        return (
            f"histogram_quantile(0.95, sum by ({o.scope.raw_by('api', 'le')}) "
            f"(rate({_TTFT}_bucket[30m]{offset})))"
        )

    return [
        *spikes,
        _alert(
            "RunwatchRunsStuckInProgress",
            # Per instance: runs in progress 15 minutes ago (so a series born a minute ago, with
            # its first run still going, does not count) and never back to 0 since then; no run
            # of the api finished since; and the api had traffic before (min_runs runs finished
            # in the hour before): one long reasoning run on an idle api is not an outage.
            f"(\n  sum by ({by_api}) (\n    min_over_time({_GAUGE}[15m])\n    and\n"
            f"    ({_GAUGE} offset 15m) > 0\n  ) > 0\n  unless on ({by_api})\n"
            f"  sum by ({by_api}) (increase({_RUNS}[15m])) > 0\n)\nand on ({by_api})\n"
            f"sum by ({by_api}) (increase({_RUNS}[1h] offset 15m)) >= {o.min_runs}",
            o=o,
            severity="page",
            summary="{{ $labels.api }} runs are in progress but none has finished for 15 minutes",
            about="{{ $value }} {{ $labels.api }} runs have been in progress for 15 minutes while no "
            f"run finished, after at least {o.min_runs} runs finished in the hour before: the API, "
            "the network or the observer is stuck.",
        ),
        _alert(
            "RunwatchTimeToFirstTokenRegression",
            # Raw "offset 1d" rather than a recorded p95: works on the first day after deploying.
            f"{ttft_p95()}\n> 2 *\n{ttft_p95(' offset 1d')}"
            f"\nand on ({by_api})\nsum by ({by_api}) (increase({_TTFT}_count[30m])) >= {o.min_runs}",
            o=o,
            severity="ticket",
            summary="{{ $labels.api }} time to first token doubled since yesterday",
            about="p95 time to first token of {{ $labels.api }} runs over 30 minutes is "
            "{{ $value | humanizeDuration }}, more than twice the p95 at the same time yesterday.",
            wait="10m",
        ),
        _alert(
            "RunwatchInternalErrors",
            # increase() cannot see the first error of a series that did not exist before (a label
            # child created by that error): the second branch catches series new in the window.
            f"sum by ({o.scope.raw_by('stage')}) (increase({_ERRORS}[10m])) > 0\nor\n"
            f"sum by ({o.scope.raw_by('stage')}) ({_ERRORS} unless {_ERRORS} offset 10m) > 0",
            o=o,
            severity="ticket",
            summary="runwatch had internal errors in stage {{ $labels.stage }}",
            about="runwatch swallowed internal errors in stage {{ $labels.stage }} in the "
            "last 10 minutes. User code is unaffected but telemetry may be incomplete.",
        ),
        _alert(
            "RunwatchMetricsAbsent",
            # Neither a finished run nor a failed request matches the selector: every other alert
            # is silent. absent() keeps the selector's equality matchers as labels.
            f"absent({_RUNS})\nand\nabsent({_REQUEST_ERRORS})",
            o=o,
            severity="ticket",
            summary="no runwatch metrics match the rules' selector",
            about=f"No {o.scope.namespace}_runs_total or {o.scope.namespace}_request_errors_total series "
            f"{'matches {' + o.scope.selector + '}' if o.scope.selector else 'exists'} for 15 minutes: "
            "the exporter is down or gone, the "
            "selector or the namespace is wrong, or nothing ran since the last restart. Every other "
            "runwatch alert is blind meanwhile.",
            wait="15m",
        ),
    ]


#: Spike alerts on a status over 15 minutes: (status, alert, what that status means).
_SPIKES: Final = (
    ("aborted", "RunwatchAbortedStreamsSpike", "the stream ended without a terminal event"),
    ("abandoned", "RunwatchAbandonedRunsSpike", "nobody submitted the tool outputs in time"),
)


def document(
    *,
    objective: float,
    failure_objective: float,
    sel: str | Scope,
    min_runs: int,
    spike_ratio: float,
    runbook_url: str,
    bad: BadRuns | None = None,
) -> dict[str, object]:
    """The rules file as a document (validated options; ``sel`` a :class:`Scope` or a parsed
    selector)."""
    scope = sel if isinstance(sel, Scope) else Scope.of(sel)
    o = _Options(
        objective=objective,
        failure_objective=failure_objective,
        scope=scope,
        bad=bad or BadRuns(),
        min_runs=min_runs,
        spike_ratio=spike_ratio,
        runbook_url=runbook_url,
    )
    slo = [*_recording_rules(o), *_burn_alerts(o)]
    groups: list[dict[str, object]] = [
        # Burn alerts share the group of the ratios they read: rules of a group run in order
        # at one timestamp, so an alert sees this evaluation's ratios. Across groups the order
        # is not defined and an alert would read a ratio one interval old, or a fresh one.
        {"name": "runwatch-slo", "rules": slo},
        {"name": "runwatch-alerts", "rules": _other_alerts(o)},
    ]
    for group in groups:
        for rule in group["rules"]:  # type: ignore[attr-defined]
            rule["expr"] = scope.apply(rule["expr"])
    return {"groups": groups}


def spike_statuses() -> tuple[str, ...]:
    """The statuses that have a spike alert (``RunwatchAbortedStreamsSpike``, ...)."""
    return tuple(status for status, _, _ in _SPIKES)


def spike_alert(status: str) -> str:
    return next(name for s, name, _ in _SPIKES if s == status)
