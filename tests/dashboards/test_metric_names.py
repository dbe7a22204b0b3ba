"""Every metric the dashboard and the rules query is one runwatch exports, with those labels."""

from __future__ import annotations

import re

from dash_support import RAW_METRIC, dashboard_exprs, rule_exprs
from prometheus_client import CollectorRegistry

from runwatch import _dashgen
from runwatch.sinks.prometheus import PrometheusSink

# The contract: DESIGN.md, "Metrics" table (name, type, labels).
DESIGN_METRICS: dict[str, tuple[str, frozenset[str]]] = {
    "runwatch_runs_total": ("counter", frozenset({"api", "model", "status", "reason"})),
    "runwatch_runs_started_total": ("counter", frozenset({"api", "model"})),
    "runwatch_runs_in_progress": ("gauge", frozenset({"api"})),
    "runwatch_run_duration_seconds": ("histogram", frozenset({"api", "model", "status"})),
    "runwatch_phase_duration_seconds": ("histogram", frozenset({"api", "phase"})),
    "runwatch_time_to_first_token_seconds": ("histogram", frozenset({"api", "model"})),
    "runwatch_tokens_total": ("counter", frozenset({"api", "model", "type"})),
    "runwatch_tool_calls_total": ("counter", frozenset({"api", "tool_type"})),
    "runwatch_stream_anomalies_total": ("counter", frozenset({"api", "kind"})),
    "runwatch_internal_errors_total": ("counter", frozenset({"stage"})),
    "runwatch_request_errors_total": ("counter", frozenset({"api", "status_code", "code"})),
}
# Labels Prometheus adds when scraping, and the ones the tests' selectors use.
TARGET_LABELS = frozenset({"job", "instance", "namespace", "env"})


def _exported() -> dict[str, str]:
    """Sample names (as scraped) of the real PrometheusSink -> metric type."""
    registry = CollectorRegistry()
    PrometheusSink(registry=registry)
    out: dict[str, str] = {}
    for family in registry.collect():
        if family.type == "counter":
            out[f"{family.name}_total"] = "counter"
        elif family.type == "histogram":
            for suffix in ("", "_bucket", "_sum", "_count"):
                out[f"{family.name}{suffix}"] = "histogram"
        else:
            out[family.name] = family.type
    return out


def _sink_labels() -> dict[str, frozenset[str]]:
    """Label names per family from the sink's metric objects (they have no samples yet)."""
    registry = CollectorRegistry()
    PrometheusSink(registry=registry)
    labels: dict[str, frozenset[str]] = {}
    # Private, but the only way to get label names before any child exists; fresh registry.
    for collector, names in registry._collector_to_names.items():
        for name in names:
            labels[name] = frozenset(getattr(collector, "_labelnames", ()))
    return labels


def test_sink_exports_the_design_table() -> None:
    """PrometheusSink exports exactly the metrics of the DESIGN table, with its types and labels."""
    exported = _exported()
    sink_labels = _sink_labels()
    for name, (kind, labels) in DESIGN_METRICS.items():
        assert name in exported, name
        assert exported[name] == kind, name
        assert sink_labels[name] == labels, name
    families = {re.sub(r"_(bucket|sum|count)$", "", n) for n in exported if n.startswith("runwatch_")}
    assert families == set(DESIGN_METRICS)


def _queries() -> list[tuple[str, str]]:
    selector = 'job="api",namespace="prod"'
    return [
        *rule_exprs(_dashgen.build_rules(selector=selector)),
        *dashboard_exprs(_dashgen.build_dashboard(selector)),
    ]


def test_every_queried_metric_is_exported() -> None:
    """No panel or rule queries a metric name runwatch does not export (typos return no data)."""
    exported = _exported()
    used = {m.group(1) for _, expr in _queries() for m in RAW_METRIC.finditer(expr)}
    assert used - exported.keys() == set()
    # Everything the DESIGN table promises is shown somewhere.
    families = {re.sub(r"_(bucket|sum|count)$", "", n) for n in used}
    assert families == set(DESIGN_METRICS)


def test_every_matcher_label_exists_on_its_metric() -> None:
    """A matcher on a label the metric does not have (api on internal errors) matches nothing."""
    sink_labels = _sink_labels()
    checked = 0
    for where, expr in _queries():
        for match in RAW_METRIC.finditer(expr):
            name, body = match.group(1), match.group(2) or "{}"
            family_labels = sink_labels.get(name) or sink_labels[re.sub(r"_(bucket|sum|count)$", "", name)]
            allowed = family_labels | TARGET_LABELS | ({"le"} if name.endswith("_bucket") else set())
            for label in re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", body):
                checked += 1
                assert label in allowed, (where, name, label)
    assert checked > 100
