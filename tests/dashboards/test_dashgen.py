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
from runwatch._dashgen.rules import document
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


def test_every_panel_uses_the_datasource_and_the_variables() -> None:
    """Every target uses ${datasource}; $api/$model wherever the metric has those labels."""
    dashboard = _dashgen.build_dashboard()
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]  # type: ignore[attr-defined]
    assert len(panels) == 15
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
            assert "$__rate_interval" in expr or "rate(" not in expr and "increase(" not in expr


def test_dashboard_has_the_promised_panels() -> None:
    """The panels listed in the design, by title."""
    titles = [p["title"] for p in _dashgen.build_dashboard()["panels"]]  # type: ignore[attr-defined]
    for wanted in (
        "Runs / s by status", "Incomplete ratio", "Incomplete ratio by reason",
        "Failure ratio by reason (error code)", "Aborted and abandoned runs / s", "Run duration",
        "Time to first token", "Phase duration p95", "Tokens / s by type", "Tool calls / s by type",
        "Runs in progress", "Stream anomalies / s by kind", "runwatch internal errors by stage", "Alerts",
        "Request errors by status code and code",
    ):  # fmt: skip
        assert wanted in titles
    alerts = next(p for p in _dashgen.build_dashboard()["panels"] if p["title"] == "Alerts")  # type: ignore[attr-defined]
    assert alerts["targets"][0]["expr"].startswith('ALERTS{alertname=~"Runwatch.*"')


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


def test_objectives_reach_the_thresholds() -> None:
    """The incomplete and failure objectives set their own alerts' thresholds."""
    rules = {r.get("alert"): r for g in yaml.safe_load(_dashgen.build_rules(0.02, failure_objective=0.01))[
        "groups"] for r in g["rules"]}  # fmt: skip
    assert "> (14.4 * 0.02)" in rules["RunwatchIncompleteRatioBurnPage"]["expr"]
    assert "> (1 * 0.02)" in rules["RunwatchIncompleteReasonBurnTicket"]["expr"]
    assert "> (14.4 * 0.01)" in rules["RunwatchFailureRatioBurnPage"]["expr"]
    assert "* 3600 >= 50" in rules["RunwatchFailureRatioBurnPage"]["expr"]


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
                assert url.startswith("docs/runbook.md#")
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
    """The run duration and time-to-first-token panels ask for exemplars (trace_id links, see
    docs/runbook.md); targets of other panels do not."""
    for panel in _dashgen.build_dashboard()["panels"]:  # type: ignore[attr-defined]
        wanted = panel["title"] in {"Run duration", "Time to first token"}
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
