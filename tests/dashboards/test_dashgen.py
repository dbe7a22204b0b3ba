"""The generator: input validation, selector injection, the panel table, dashboard structure,
YAML output."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml
from dash_support import RAW_METRIC, REPO, dashboard_exprs, rule_exprs

from runwatch import _dashgen
from runwatch._dashgen import panels, selector
from runwatch._dashgen import panels as panels_module
from runwatch._dashgen.rules import BURN_WINDOWS, PENDING, WINDOWS, BadRuns, document
from runwatch._dashgen.selector import Scope
from runwatch._dashgen.yamltext import to_yaml

# Labels of each metric (DESIGN.md, Metrics table): which panel targets must use $api / $model.
HAS_API = {
    "runwatch_runs", "runwatch_runs_started", "runwatch_runs_in_progress", "runwatch_run_duration_seconds",
    "runwatch_phase_duration_seconds", "runwatch_time_to_first_token_seconds", "runwatch_tokens",
    "runwatch_tool_calls", "runwatch_stream_anomalies", "runwatch_request_errors",
}  # fmt: skip
HAS_MODEL = {
    "runwatch_runs", "runwatch_runs_started", "runwatch_run_duration_seconds",
    "runwatch_time_to_first_token_seconds", "runwatch_tokens",
}  # fmt: skip


def _family(sample_name: str) -> str:
    return re.sub(r"_(total|bucket|sum|count)$", "", sample_name)


@pytest.mark.parametrize(
    "objective",
    [
        pytest.param(0, id="zero"),
        pytest.param(1, id="one"),
        pytest.param(-0.05, id="negative"),
        pytest.param(1.5, id="above-one"),
        pytest.param(math.nan, id="nan"),
        pytest.param("0.05", id="string"),
        pytest.param(True, id="bool"),
        pytest.param(0.2, id="no-page-could-fire"),
    ],
)
def test_bad_objective_raises(objective: object) -> None:
    """Objectives outside (0, 1), or too large for a page alert to ever fire, are refused."""
    with pytest.raises(ValueError, match="objective"):
        _dashgen.build_rules(objective)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="failure_objective"):
        _dashgen.build_rules(0.05, failure_objective=objective)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "selector",
    [
        pytest.param('{job="api"}', id="braces"),
        pytest.param("job=api", id="unquoted"),
        pytest.param('job="api" namespace="x"', id="no-comma"),
        pytest.param('job="api', id="unterminated"),
        pytest.param('1job="x"', id="bad-name"),
        pytest.param('job=="x"', id="bad-operator"),
        pytest.param('job="a",,env="b"', id="empty-matcher"),
        pytest.param('job="x"} or vector(1) or {a="b"', id="injection"),
        pytest.param('api="chat"', id="reserved-label"),
        pytest.param('status!="failed"', id="reserved-status"),
        pytest.param('status_code="429"', id="reserved-status-code"),
        pytest.param('code=~"rate.*"', id="reserved-code"),
    ],
)
def test_bad_selector_raises(selector: str) -> None:
    """Anything but a list of label matchers on target labels is refused, by both builders."""
    with pytest.raises(ValueError, match="selector"):
        _dashgen.build_rules(selector=selector)
    with pytest.raises(ValueError, match="selector"):
        _dashgen.build_dashboard(selector)


def test_bad_min_runs_and_spike_ratio_raise() -> None:
    """The low-traffic minimum is a positive count; the spike ratio a share."""
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="min_runs"):
            _dashgen.build_rules(min_runs=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="spike_ratio"):
        _dashgen.build_rules(spike_ratio=1.0)


def test_write_with_bad_options_writes_nothing(tmp_path: Path) -> None:
    """A bad option (what the CLI turns into exit 2) leaves no half-written output behind."""
    with pytest.raises(ValueError, match="objective"):
        _dashgen.write(tmp_path / "out", objective=1.0, selector="")
    with pytest.raises(ValueError, match="selector"):
        _dashgen.write(tmp_path / "out", objective=0.05, selector="job")
    assert not (tmp_path / "out").exists()


def test_selector_is_normalized() -> None:
    """Spaces and a trailing comma are tolerated; escaped quotes survive."""
    rules = _dashgen.build_rules(selector=' job = "api" , env=~"prod-\\"x\\".*" ,')
    assert (
        'rate(runwatch_runs_total{job="api",env=~"prod-\\"x\\".*"}[5m])'
        in yaml.safe_load(rules)["groups"][0]["rules"][0]["expr"]
    )


def test_selector_is_injected_everywhere() -> None:
    """Every raw runwatch metric in every rule and panel carries the selector, first."""
    selector = 'job="api",namespace="prod"'
    exprs = [e for _, e in rule_exprs(_dashgen.build_rules(selector=selector))]
    exprs += [e for _, e in dashboard_exprs(_dashgen.build_dashboard(selector))]
    variables = _dashgen.build_dashboard(selector)["templating"]["list"]  # type: ignore[index]
    exprs += [v["definition"] for v in variables if v["type"] == "query"]
    found = 0
    for expr in exprs:
        for match in RAW_METRIC.finditer(expr):
            found += 1
            assert (match.group(2) or "").startswith("{" + selector), (match.group(0), expr)
    assert found > 50  # guards against the regex silently matching nothing


def test_no_selector_leaves_no_empty_braces() -> None:
    """Without a selector there is no stray `{}` or `{,` in any query."""
    exprs = [e for _, e in rule_exprs(_dashgen.build_rules())]
    exprs += [e for _, e in dashboard_exprs(_dashgen.build_dashboard())]
    for expr in exprs:
        assert "{}" not in expr
        assert "{," not in expr


def test_dashboard_variables() -> None:
    """A datasource variable (prometheus) and multi-value api/model variables with All."""
    dashboard = _dashgen.build_dashboard()
    assert dashboard["uid"] == "runwatch"
    assert dashboard["schemaVersion"] == 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}  # type: ignore[index]
    assert list(variables) == ["datasource", "api", "model"]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("api", "model"):
        var = variables[name]
        assert var["type"] == "query"
        assert var["multi"] is True
        assert var["includeAll"] is True
        assert var["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert var["definition"].startswith("label_values(runwatch_runs_total")
        assert var["definition"].endswith(f", {name})")
    # model choices follow the chosen api.
    assert 'api=~"$api"' in variables["model"]["definition"]


# A series the rules record (api:runwatch_runs:rate5m) and its matcher braces.
RECORDED = re.compile(r"(?<![:\w])([a-z_]+:[a-z0-9_]+:[a-z0-9_]+)(?![:\w])(\{[^}]*\})?")


def test_every_panel_uses_the_datasource_and_the_variables() -> None:
    """Every target uses ${datasource}; $api/$model wherever the metric has those labels (and
    $api on every recorded series that has an api label: all but the objectives); rates over
    $__rate_interval, or $__range for the totals of the time range."""
    dashboard = _dashgen.build_dashboard()
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]  # type: ignore[attr-defined]
    assert len(panels) == len([p for p in panels_module.PANELS if isinstance(p, panels_module.Panel)]) == 32
    ids = [p["id"] for p in dashboard["panels"]]  # type: ignore[attr-defined]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            expr = target["expr"]
            for match in RAW_METRIC.finditer(expr):
                family = _family(match.group(1))
                body = match.group(2) or ""
                assert ('api=~"$api"' in body) == (family in HAS_API), (panel["title"], expr)
                assert ('model=~"$model"' in body) == (family in HAS_MODEL), (panel["title"], expr)
            for match in RECORDED.finditer(expr):
                body = match.group(2) or ""
                objective = match.group(1) == "runwatch:slo_objective:ratio"
                assert ('api=~"$api"' in body) != objective, (panel["title"], expr)
            ranged = "$__rate_interval" in expr or "$__range" in expr
            assert ranged or "rate(" not in expr and "increase(" not in expr and "_over_time(" not in expr


def test_dashboard_has_the_promised_panels() -> None:
    """The panels of the design and of the SLO review, by title: the SLO row first (stats of runs,
    completed, incomplete and bad shares, budgets left; the alerts; where the budget goes; burn
    rates), then outcomes, per-model breakdowns, latency, usage and the observer's health."""
    shown = list(_dashgen.build_dashboard()["panels"])  # type: ignore[call-overload]
    titles = [p["title"] for p in shown]
    for wanted in (
        "Runs", "Completed", "Incomplete", "Bad (failure SLO)", "Incomplete budget left (30d)",
        "Failure budget left (30d)", "Alerts", "Where the budget goes", "Burn rate (1h)",
        "Error budget left (30d)",
        "Runs / s by status", "Incomplete ratio", "Incomplete ratio by reason", "Failure ratio",
        "Bad runs by status and reason", "Aborted and abandoned runs / s", "Run duration",
        "Time to first token", "Phase duration p95", "Tokens / s by type", "Tool calls / s by type",
        "Runs in progress", "Stream anomalies / s by kind", "runwatch internal errors by stage",
        "Request errors by status code and code", "Runs / s by model", "Incomplete ratio by model",
        "Bad-run ratio by model", "Run duration p95 by model", "Time to first token p95 by model",
        "Tokens per run by model", "Tokens / s by model",
    ):  # fmt: skip
        assert wanted in titles
    # The alert list sits at the top, in the SLO row.
    assert titles.index("Alerts") < titles.index("Outcomes")
    alerts = next(p for p in shown if p["title"] == "Alerts")
    assert alerts["targets"][0]["expr"].startswith('ALERTS{alertname=~"Runwatch.*"')
    assert [p["type"] for p in shown[1:7]] == ["stat"] * 6


@pytest.mark.parametrize(
    ("selector", "want"),
    [
        pytest.param("", 'sum by (api, status_code, code) (rate(runwatch_request_errors_total{api=~"$api"}'
                     "[$__rate_interval]))", id="no-selector"),
        pytest.param('job="api"', "sum by (api, status_code, code) (rate(runwatch_request_errors_total"
                     '{job="api",api=~"$api"}[$__rate_interval]))', id="selector"),
    ],
)  # fmt: skip
def test_request_errors_panel(selector: str, want: str) -> None:
    """The request errors panel is the per-second rate of runwatch_request_errors_total summed by
    api, status code and code (the api variable applies; there is no model label), one series
    per combination in its legend."""
    panels = {p["title"]: p for p in _dashgen.build_dashboard(selector)["panels"]}  # type: ignore[attr-defined]
    (target,) = panels["Request errors by status code and code"]["targets"]
    assert target["expr"] == want
    assert target["legendFormat"] == "{{api}} {{status_code}} {{code}}"
    assert panels["Request errors by status code and code"]["fieldConfig"]["defaults"]["unit"] == "reqps"


def test_dashboard_json_is_stable_json() -> None:
    """The file text is indented JSON ending in a newline, and parses back to the dict."""
    text = _dashgen.dashboard_json('job="x"')
    assert text.endswith("}\n")
    assert json.loads(text) == _dashgen.build_dashboard('job="x"')


def test_rules_yaml_parses_to_the_rules_document() -> None:
    """The hand-rolled YAML emitter round-trips the whole rules document through PyYAML."""
    doc = document(
        objective=0.03, failure_objective=0.01, sel='job="a\\"b"', min_runs=7, spike_ratio=0.2,
        runbook_url="https://example.com/runbook.md",
    )  # fmt: skip
    assert yaml.safe_load(to_yaml(doc)) == doc


def test_yaml_scalars_round_trip() -> None:
    """Strings YAML would reinterpret (yes, on, 5, colons, quotes, tabs) stay strings."""
    doc = {
        "words": ["yes", "on", "No", "null", "~", "5", "0.5", "5m", "a: b", "#x", "it's", "- a"],
        "odd": "tab\there",
        "lead": " leading\nspace",
        "trail": "trailing \nspace",
        "multi": "a\n\nb",
        "n": 3,
        "f": 0.25,
    }
    assert yaml.safe_load(to_yaml(doc)) == doc


def _rules(text: str) -> list[dict[str, object]]:
    return [r for g in yaml.safe_load(text)["groups"] for r in g["rules"]]


def test_objectives_reach_the_thresholds() -> None:
    """The incomplete and failure objectives set their own alerts' thresholds (one rule per window
    pair), the recorded objectives, budgets and burn rates; the failure SLO's guard counts its
    outcomes (runs and failed requests)."""
    rules: dict[str, list[str]] = {}
    for r in _rules(_dashgen.build_rules(0.02, failure_objective=0.01)):
        rules.setdefault(str(r.get("alert") or r["record"]), []).append(str(r["expr"]))
    incomplete_page = "\n".join(rules["RunwatchIncompleteRatioBurnPage"])
    assert "> (14.4 * 0.02)" in incomplete_page
    assert "> (6 * 0.02)" in incomplete_page
    assert "> (1 * 0.02)" in "\n".join(rules["RunwatchIncompleteReasonBurnTicket"])
    failure_page = "\n".join(rules["RunwatchFailureRatioBurnPage"])
    assert "> (14.4 * 0.01)" in failure_page
    assert "0.02" not in failure_page
    assert "api:runwatch_outcomes:rate1h * 3600 >= 50" in failure_page
    assert rules["runwatch:slo_objective:ratio"] == ["vector(0.02)", "vector(0.01)"]
    burn = rules["api:runwatch_runs_incomplete:burn_rate1h"]
    assert burn == ["api:runwatch_runs_incomplete:ratio_rate1h / 0.02"]
    assert rules["api:runwatch_runs_bad:error_budget_remaining30d"] == [
        "1 - api:runwatch_runs_bad:ratio_rate30d / 0.01"
    ]


def test_recording_rules_cover_every_window() -> None:
    """Ratios per api and per api+reason, incomplete and failed, and run rates, for each window."""
    records = {r["record"] for g in yaml.safe_load(_dashgen.build_rules())["groups"] for r in g["rules"]
               if "record" in r}  # fmt: skip
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        assert f"api:runwatch_runs:rate{window}" in records
        for what in ("incomplete", "failed"):
            assert f"api:runwatch_runs_{what}:ratio_rate{window}" in records
            assert f"api_reason:runwatch_runs_{what}:ratio_rate{window}" in records


def test_runbook_has_a_section_per_alert() -> None:
    """Every alert's runbook_url anchor is a heading of docs/runbook.md."""
    runbook = (REPO / "docs" / "runbook.md").read_text(encoding="utf-8")
    anchors = {
        re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in runbook.splitlines()
        if line.startswith("#")
    }
    for group in yaml.safe_load(_dashgen.build_rules())["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                url = rule["annotations"]["runbook_url"]
                assert url.startswith(_dashgen.DEFAULT_RUNBOOK_URL + "#")
                assert url.startswith("https://")
                assert url.split("#", 1)[1] in anchors, rule["alert"]
                assert rule["labels"]["severity"] in {"page", "ticket"}
                assert rule["annotations"]["summary"]
                assert rule["annotations"]["description"]
                if "api_reason:" in rule["expr"]:
                    assert "{{ $labels.reason }}" in rule["annotations"]["description"]


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        pytest.param("rate(runwatch_runs_total[5m])", 'rate(runwatch_runs_total{job="a"}[5m])', id="bare"),
        pytest.param('runwatch_runs_total{api="chat"}', 'runwatch_runs_total{job="a",api="chat"}',
                     id="braces"),
        pytest.param("api:runwatch_runs:rate5m / api:runwatch_runs_failed:ratio_rate1h",
                     "api:runwatch_runs:rate5m / api:runwatch_runs_failed:ratio_rate1h", id="recorded"),
        pytest.param('ALERTS{alertname=~"runwatch_runs_total"}', 'ALERTS{alertname=~"runwatch_runs_total"}',
                     id="quoted-value"),
        pytest.param('x{a="q\\"runwatch_tokens_total"} + runwatch_tokens_total',
                     'x{a="q\\"runwatch_tokens_total"} + runwatch_tokens_total{job="a"}', id="escaped-quote"),
        pytest.param("runwatch_x_bucket offset 1d", 'runwatch_x_bucket{job="a"} offset 1d', id="offset"),
    ],
)  # fmt: skip
def test_scope_puts_the_selector_into_raw_metrics_only(expr: str, want: str) -> None:
    """scope() scopes raw runwatch metrics, selector first; recorded series and label values
    that merely look like metric names stay as they are; an empty selector changes nothing."""
    assert selector.scope(expr, 'job="a"') == want
    assert selector.scope(expr, "") == expr


def test_panel_table_is_a_valid_grid() -> None:
    """The table's panels fit the 24-column grid without overlapping, rows span the width at the
    line after the panels above them, titles are unique, and every panel has queries."""
    taken: set[tuple[int, int]] = set()
    bottom = 0
    titles = []
    for item in panels.PANELS:
        titles.append(item.title)
        if isinstance(item, panels.Row):
            assert item.y == bottom, item.title
            cells = {(x, item.y) for x in range(24)}
        else:
            x, y, w, h = item.grid
            assert min(x, y) >= 0, item.title
            assert w > 0, item.title
            assert h > 0, item.title
            assert x + w <= 24, item.title
            assert item.queries, item.title
            cells = {(i, j) for i in range(x, x + w) for j in range(y, y + h)}
        assert not cells & taken, item.title
        taken |= cells
        bottom = max(j for _, j in taken) + 1
    assert len(titles) == len(set(titles))


def test_exemplars_on_the_histograms_that_carry_them() -> None:
    """The run duration and time-to-first-token panels (per api, and p95 per model) ask for
    exemplars (trace_id links, see docs/dashboards.md); targets of other panels do not."""
    for panel in _dashgen.build_dashboard()["panels"]:  # type: ignore[attr-defined]
        wanted = panel["title"] in {
            "Run duration", "Time to first token", "Run duration p95 by model",
            "Time to first token p95 by model",
        }  # fmt: skip
        for target in panel.get("targets", []):
            assert target.get("exemplar", False) is wanted, panel["title"]


def test_dashboard_template_lists_every_panel_of_the_table() -> None:
    """The shipped template has the table's panels in order: ids, titles, types, units, grid
    positions, queries and legends (the template is the table rendered, not a second source)."""
    shipped = _dashgen.build_dashboard()["panels"]  # type: ignore[index]
    assert [p["id"] for p in shipped] == list(range(1, len(panels.PANELS) + 1))
    for panel, spec in zip(shipped, panels.PANELS, strict=True):
        assert panel["title"] == spec.title
        if isinstance(spec, panels.Row):
            assert (panel["type"], panel["gridPos"]) == ("row", {"x": 0, "y": spec.y, "w": 24, "h": 1})
            continue
        assert panel["type"] == spec.kind
        assert panel["fieldConfig"]["defaults"]["unit"] == spec.unit
        assert tuple(panel["gridPos"][k] for k in "xywh") == spec.grid
        assert [(t["expr"], t["legendFormat"]) for t in panel["targets"]] == list(spec.queries)


# --------------------------------------------------------------------------- scope, namespace


@pytest.mark.parametrize(
    ("selector", "name", "labels", "matchers"),
    [
        pytest.param("", "", (), "", id="none"),
        pytest.param('job="api"', "", ("job",), 'job="api"', id="equality"),
        pytest.param('job="api",namespace=~"prod-.*"', "", ("job",), 'job="api"', id="equality-and-regex"),
        pytest.param('namespace=~"prod-.*"', "prod", ("scope",), 'scope="prod"', id="regex-and-name"),
        pytest.param('job="a",env="b"', "x", ("job", "env", "scope"), 'job="a",env="b",scope="x"', id="all"),
        pytest.param('job!="a"', "", (), "", id="negative-matcher-is-no-label"),
    ],
)
def test_scope_labels_come_from_equality_matchers_and_the_name(
    selector: str, name: str, labels: tuple[str, ...], matchers: str
) -> None:
    """A scope's labels are its selector's equality matchers, then `scope` when named: only those
    identify a set's series (a regex or negative matcher has no single value to carry)."""
    where = Scope.of(selector, name=name)
    assert where.labels == labels
    assert where.matchers == matchers


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        pytest.param("sum(rate(runwatch_runs_total[5m]))",
                     'sum(rate(llm_runs_total{job="a",env=~"p.*"}[5m]))', id="raw-renamed-and-selected"),
        pytest.param("api:runwatch_runs:rate5m", 'api:runwatch_runs:rate5m{job="a",scope="s"}',
                     id="recorded"),
        pytest.param('api:runwatch_runs_bad:ratio_rate1h{api=~"$api"}',
                     'api:runwatch_runs_bad:ratio_rate1h{job="a",scope="s",api=~"$api"}',
                     id="recorded-braces"),
        pytest.param('ALERTS{alertname=~"Runwatch.*"}', 'ALERTS{job="a",scope="s",alertname=~"Runwatch.*"}',
                     id="alerts"),
        pytest.param('x{a="api:runwatch_runs:rate5m"}', 'x{a="api:runwatch_runs:rate5m"}', id="quoted"),
        pytest.param("vector(14.4)", "vector(14.4)", id="constant"),
        pytest.param("histogram_quantile(0.5, rate(x[5m:1m]))", "histogram_quantile(0.5, rate(x[5m:1m]))",
                     id="subquery-is-no-series"),
    ],
)  # fmt: skip
def test_scope_apply_localizes_raw_and_recorded_series(expr: str, want: str) -> None:
    """Scope.apply renames raw metrics to the namespace and puts the selector into them, and puts
    the scope's matchers into recorded series and ALERTS; it leaves strings and constants alone."""
    assert Scope.of('job="a",env=~"p.*"', namespace="llm", name="s").apply(expr) == want


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"namespace": ""}, "namespace", id="empty-namespace"),
        pytest.param({"namespace": "9x"}, "namespace", id="digit-namespace"),
        pytest.param({"namespace": "a:b"}, "namespace", id="colon-namespace"),
        pytest.param({"scope": 'a"b'}, "scope", id="quote-in-scope"),
        pytest.param({"scope": "a\nb"}, "scope", id="newline-in-scope"),
        pytest.param({"scope": "x", "selector": 'scope="y"'}, "already sets the label", id="scope-twice"),
        pytest.param({"selector": 'job="a",job="b"'}, "twice", id="label-twice"),
        pytest.param({"selector": 'severity="page"'}, "set by runwatch", id="alert-label"),
        pytest.param({"bad_statuses": ["completed"]}, "bad_statuses", id="completed-is-not-bad"),
        pytest.param({"bad_statuses": []}, "at least one", id="no-bad-status"),
        pytest.param({"bad_statuses": "failed"}, "list of names", id="not-a-list"),
        pytest.param({"benign_reasons": ["bogus"]}, "benign_reasons", id="unknown-reason"),
        pytest.param({"request_errors": "yes"}, "request_errors", id="not-a-bool"),
        pytest.param({"runbook_url": "docs/runbook.md"}, "absolute", id="relative-runbook"),
        pytest.param({"runbook_url": "ftp://host/runbook"}, "absolute", id="ftp-runbook"),
        pytest.param({"runbook_url": "https:///runbook"}, "absolute", id="no-host"),
    ],
)
def test_bad_scope_and_slo_options_raise(kwargs: dict[str, object], message: str) -> None:
    """Namespace, scope name, bad-run definition and runbook URL are validated by the rules and, for
    those it takes, by the dashboard; nothing is generated from a bad value."""
    with pytest.raises(ValueError, match=message):
        _dashgen.build_rules(**kwargs)  # type: ignore[arg-type]
    dash_options = {k: v for k, v in kwargs.items() if k != "request_errors"}
    if dash_options:
        with pytest.raises(ValueError, match=message):
            _dashgen.build_dashboard(**dash_options)  # type: ignore[arg-type]


def test_every_rule_keeps_and_matches_the_scope() -> None:
    """With a selector and a scope name: every aggregation keeps the scope's labels, every read of
    a recorded series matches them, every recording rule and alert carries the scope name, and the
    objectives carry every scope label (vector() has none of its own)."""
    text = _dashgen.build_rules(selector='job="api",env=~"prod-.*"', scope="prod", namespace="llm")
    by_clauses = 0
    for rule in _rules(text):
        expr = str(rule["expr"])
        assert not RAW_METRIC.search(expr), expr  # every raw metric renamed to the namespace
        for clause in re.findall(r"\b(?:by|on) \(([^)]*)\)", expr):
            by_clauses += 1
            assert clause.startswith("job"), (rule, clause)
        for match in RECORDED.finditer(expr):
            assert (match.group(2) or "").startswith('{job="api",scope="prod"'), (rule, match.group(0))
        labels = rule.get("labels") or {}
        assert labels.get("scope") == "prod", rule  # type: ignore[union-attr]
        if rule.get("record") == "runwatch:slo_objective:ratio":
            assert labels == {"slo": labels["slo"], "job": "api", "scope": "prod"}  # type: ignore[index]
        for match in re.finditer(r"(?<![:\w])(llm_[a-z_]+)\{", expr):
            assert expr[match.end() :].startswith('job="api",env=~"prod-.*"'), expr
    assert by_clauses > 70


def test_recorded_families_have_every_window_and_use_their_own() -> None:
    """Each windowed family is recorded for the 7 windows, and a window's rule reads only that
    window (its raw range or its inputs recorded for the same window)."""
    records = [r for r in _rules(_dashgen.build_rules()) if "record" in r]
    families: dict[str, set[str]] = {}
    for rule in records:
        name = str(rule["record"])
        match = re.fullmatch(r"(.+:(?:rate|ratio_rate))(5m|30m|1h|2h|6h|1d|3d)", name)
        if match is None:
            continue
        family, window = match.groups()
        families.setdefault(family, set()).add(window)
        expr = str(rule["expr"])
        assert set(re.findall(r"\[(\w+)\]", expr)) <= {window}, name
        assert set(re.findall(r":(?:rate|ratio_rate)(\w+)\b", expr)) <= {window}, name
    # The 5m incomplete rate per api only feeds the 30-day ratio.
    assert families.pop("api:runwatch_runs_incomplete:rate") == {"5m"}
    assert len(families) == 11
    assert all(windows == set(WINDOWS) for windows in families.values()), families


def test_burn_alerts_have_a_rule_per_window_pair_with_its_pending_period() -> None:
    """Every burn alert is four rules, one per window pair, labelled long/short with the SLO, and
    held for the pair's pending period (Pyrra's 2m/15m/1h/3h); no alert fires without a
    `for` except those whose expression holds a window already (stuck runs, internal errors)."""
    pairs = {(long_w, short_w) for _, _, long_w, short_w in BURN_WINDOWS}
    seen: dict[str, set[tuple[str, str]]] = {}
    for rule in _rules(_dashgen.build_rules()):
        if "alert" not in rule:
            continue
        labels = rule["labels"]
        assert isinstance(labels, dict)
        name = str(rule["alert"])
        if "Burn" in name:
            pair = (labels["long"], labels["short"])
            seen.setdefault(name, set()).add(pair)
            assert rule["for"] == PENDING[labels["long"]], name
            assert labels["slo"] == ("failure" if "Failure" in name else "incomplete")
            severity = "page" if name.endswith("Page") else "ticket"
            assert labels["severity"] == severity
            assert all(sev == severity for sev, _, lw, sw in BURN_WINDOWS if (lw, sw) == pair)
        elif name not in {"RunwatchRunsStuckInProgress", "RunwatchInternalErrors"}:
            assert rule.get("for"), name
    assert len(seen) == 6
    assert set().union(*seen.values()) == pairs
    assert PENDING == {"1h": "2m", "6h": "15m", "1d": "1h", "3d": "3h"}


@pytest.mark.parametrize(
    ("options", "bad_selector", "errors_in_outcomes"),
    [
        pytest.param({}, 'status=~"failed|aborted|expired|unknown|abandoned",'
                     'reason!~"client_closed|cancelled"', True, id="defaults"),
        pytest.param({"bad_statuses": ["failed", "expired"], "benign_reasons": [], "request_errors": False},
                     'status=~"failed|expired"', False, id="custom"),
    ],
)  # fmt: skip
def test_bad_runs_definition_reaches_the_rules_and_the_dashboard(
    options: dict[str, object], bad_selector: str, errors_in_outcomes: bool
) -> None:
    """The failure SLO counts the configured bad statuses except the benign reasons, and failed
    requests in its outcomes only when asked; the dashboard's bad-run breakdowns use the same
    selector (the template's default swapped for the configured one)."""
    rules = {str(r.get("record")): str(r["expr"]) for r in _rules(_dashgen.build_rules(**options))}  # type: ignore[arg-type]
    assert f"rate(runwatch_runs_total{{{bad_selector}}}[5m])" in rules["api:runwatch_runs_bad:rate5m"]
    bad, outcomes = rules["api:runwatch_runs_bad:rate5m"], rules["api:runwatch_outcomes:rate5m"]
    assert ("runwatch_request_errors_total" in bad) == errors_in_outcomes
    assert ("api:runwatch_request_errors:rate5m" in outcomes) == errors_in_outcomes
    dash_options = {k: v for k, v in options.items() if k != "request_errors"}
    exprs = [e for _, e in dashboard_exprs(_dashgen.build_dashboard(**dash_options))]  # type: ignore[arg-type]
    with_bad = [e for e in exprs if bad_selector in e]
    assert len(with_bad) == 2, with_bad  # "Bad runs by status and reason", "Bad-run ratio by model"
    if options:
        assert not any(panels.BAD in e for e in exprs)


def test_bad_runs_describe_the_configuration() -> None:
    """The failure alerts' descriptions say what is counted as bad."""
    bad = BadRuns.of(["failed"], [], request_errors=True)
    assert bad.describe() == "failed runs and requests that failed before their first event"
    assert bad.matchers == 'status=~"failed"'


def test_dashboard_links_point_at_the_runbook_given() -> None:
    """The dashboard's and the panels' runbook links start with the runbook URL given (each
    panel's anchor kept), and every anchor is a heading of docs/runbook.md."""
    base = "https://wiki.example.com/ops/runwatch"
    dashboard = _dashgen.build_dashboard(runbook_url=base)
    links = list(dashboard["links"]) + [  # type: ignore[call-overload]
        link
        for p in dashboard["panels"]
        for link in p.get("links", [])  # type: ignore[attr-defined]
    ]
    assert len(links) >= 7
    runbook = (REPO / "docs" / "runbook.md").read_text(encoding="utf-8")
    anchors = {
        re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in runbook.splitlines()
        if line.startswith("#")
    }
    for link in links:
        assert link["url"] == base or link["url"].startswith(base + "#"), link
        assert link["targetBlank"] is True
        if "#" in link["url"]:
            assert link["url"].split("#", 1)[1] in anchors, link
    assert _dashgen.DEFAULT_RUNBOOK_URL not in json.dumps(dashboard)


def test_dashboard_namespace_and_scope_reach_variables_and_recorded_series() -> None:
    """With a namespace and a scope, the variables read the renamed metric and the SLO panels the
    set's own recorded series, and the objective lines its objectives."""
    dashboard = _dashgen.build_dashboard('env=~"p.*"', namespace="llm", scope="prod")
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}  # type: ignore[index]
    assert variables["api"]["definition"] == 'label_values(llm_runs_total{env=~"p.*"}, api)'
    exprs = dict(dashboard_exprs(dashboard))
    assert exprs["Incomplete budget left (30d)"] == (
        'api:runwatch_runs_incomplete:error_budget_remaining30d{scope="prod",api=~"$api"}'
    )
    objective_lines = [e for _, e in dashboard_exprs(dashboard) if "slo_objective" in e]
    assert objective_lines
    assert all('runwatch:slo_objective:ratio{scope="prod",slo=' in e for e in objective_lines)
