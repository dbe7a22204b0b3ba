"""Render the panel table (``panels.py``) with grafana-foundation-sdk: the build-time renderer.

Needs the ``dashboards`` extra (``pip install 'runwatch[dashboards]'``, pinned exactly: the SDK
numbers its builds ``<build timestamp>!<Grafana version>``, so an unpinned install picks the
newest *upload*, a Grafana 10.1 build with schemaVersion 36). ``dashboards/build.py`` writes the
result as the template ``runwatch.json`` beside this module; ``runwatch dashboards`` only reads
that template and scopes its queries, so the command never imports the SDK.

Example::

    from runwatch._dashgen.grafana import dashboard_text
    print(dashboard_text()[:40])
"""

from __future__ import annotations

import json

from grafana_foundation_sdk.builders import common, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as board
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as c
from grafana_foundation_sdk.models import dashboard as d
from grafana_foundation_sdk.models import prometheus as p

from .panels import DASHBOARD, PANELS, RUNBOOK, VARIABLES, Panel, Row

__all__ = ["dashboard_text", "render"]

_DS = d.DataSourceRef(type_val="prometheus", uid="${datasource}")


def _query(ref: str, expr: str, legend: str, spec: Panel) -> prometheus.Dataquery:
    query = (
        prometheus.Dataquery().datasource(_DS).editor_mode(p.QueryEditorMode.CODE)
        .expr(expr).legend_format(legend).ref_id(ref)
    )  # fmt: skip
    if spec.exemplar:
        query.exemplar(True)
    if spec.kind == "table":
        return query.instant().format(p.PromQueryFormat.TABLE)
    if spec.kind == "stat":
        return query.instant()
    return query.range()


def _link(title: str, anchor: str) -> board.DashboardLink:
    url = f"{RUNBOOK}#{anchor}" if anchor else RUNBOOK
    return board.DashboardLink(title).type(d.DashboardLinkType.LINK).url(url).target_blank(True)


def _timeseries(spec: Panel) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .draw_style(c.GraphDrawStyle.LINE).line_width(1).fill_opacity(20 if spec.stack else 10)
        .show_points(c.VisibilityMode.NEVER).span_nulls(False)
        .stacking(common.StackingConfig().group("A")
                  .mode(c.StackingMode.NORMAL if spec.stack else c.StackingMode.NONE))
        .legend(common.VizLegendOptions().display_mode(c.LegendDisplayMode.TABLE).show_legend(True)
                .placement(c.LegendPlacement.BOTTOM).calcs(["mean", "max", "lastNotNull"]))
        .tooltip(common.VizTooltipOptions().mode(c.TooltipDisplayMode.MULTI).sort(c.SortOrder.DESCENDING))
    )  # fmt: skip


def _table(spec: Panel) -> table.Panel:
    panel = table.Panel().show_header(True).cell_height(c.TableCellHeight.SM)
    # An instant table query has a Time column of one value: noise.
    hide_time = d.DataTransformerConfig(id_val="organize", options={"excludeByName": {"Time": True}})
    panel.with_transformation(hide_time)
    return panel.sort_by([common.TableSortByFieldState().display_name("Value").desc(True)])


def _stat(spec: Panel) -> stat.Panel:
    panel = (
        stat.Panel().graph_mode(c.BigValueGraphMode.NONE).color_mode(c.BigValueColorMode.VALUE)
        .text_mode(c.BigValueTextMode.AUTO)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )  # fmt: skip
    if spec.steps:
        steps = [d.Threshold(value=value, color=color) for value, color in spec.steps]
        panel.thresholds(board.ThresholdsConfig().mode(d.ThresholdsMode.ABSOLUTE).steps(steps))
        panel.color_scheme(board.FieldColor().mode(d.FieldColorModeId.THRESHOLDS))
    return panel


def _panel(pid: int, spec: Panel) -> timeseries.Panel | table.Panel | stat.Panel:
    panel: timeseries.Panel | table.Panel | stat.Panel
    if spec.kind == "table":
        panel = _table(spec)
    elif spec.kind == "stat":
        panel = _stat(spec)
    else:
        panel = _timeseries(spec)
    x, y, w, h = spec.grid
    panel.id(pid).title(spec.title).description(spec.description).datasource(_DS)
    panel.grid_pos(d.GridPos(x=x, y=y, w=w, h=h)).unit(spec.unit)
    for series, color in spec.lines:
        # Reference lines (objective, thresholds): dashed, one fixed color, no fill.
        panel.override_by_name(series, [
            d.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color}),
            d.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}),
            d.DynamicConfigValue(id_val="custom.fillOpacity", value=0),
        ])  # fmt: skip
    if spec.links:
        panel.links([_link(title, anchor) for title, anchor in spec.links])
    for i, (expr, legend) in enumerate(spec.queries):
        panel.with_target(_query(chr(ord("A") + i), expr, legend, spec))
    return panel


def render() -> dict[str, object]:
    """The dashboard of :data:`~runwatch._dashgen.panels.PANELS`, unscoped, as a JSON-ready dict."""
    dash = (
        board.Dashboard(DASHBOARD.title).uid(DASHBOARD.uid).description(DASHBOARD.description)
        .tags(list(DASHBOARD.tags)).editable().tooltip(d.DashboardCursorSync.CROSSHAIR)
        .time(DASHBOARD.time_from, "now").timezone("browser").refresh(DASHBOARD.refresh)
        .fiscal_year_start_month(0).live_now(False).week_start("").version(1)
        .timepicker(board.TimePicker()).links([_link("Runbook", "")])
        .annotation(
            board.AnnotationQuery().name("Annotations & Alerts").type("dashboard").built_in(1)
            .datasource(d.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .enable(True).hide(True).icon_color("rgba(0, 211, 255, 1)")
        )
        .with_variable(
            board.DatasourceVariable("datasource").label("Data source").type("prometheus").regex("")
            .hide(d.VariableHide.DONT_HIDE)
        )
    )  # fmt: skip
    for var in VARIABLES:
        dash.with_variable(
            board.QueryVariable(var.name).label(var.name).hide(d.VariableHide.DONT_HIDE).datasource(_DS)
            .query({"qryType": 1, "query": var.query, "refId": "PrometheusVariableQueryEditor-VariableQuery"})
            .refresh(d.VariableRefresh.ON_TIME_RANGE_CHANGED)  # new models show up without a reload
            .sort(d.VariableSort.ALPHABETICAL_ASC).multi(True).include_all(True)
            # ".*" rather than Grafana's default list of values: short queries, and it also
            # matches values that appeared after the variable was last refreshed.
            .all_value(".*").options([])
            .current(d.VariableOption(selected=True, text=["All"], value=["$__all"]))
        )  # fmt: skip
    for pid, spec in enumerate(PANELS, start=1):
        if isinstance(spec, Row):
            row = board.Row(spec.title).id(pid).collapsed(False)
            dash.with_row(row.grid_pos(d.GridPos(x=0, y=spec.y, w=24, h=1)))
        else:
            dash.with_panel(_panel(pid, spec))
    out: dict[str, object] = json.loads(json.dumps(dash.build(), cls=JSONEncoder))
    # The SDK's variable model has no "definition", the text Grafana's variable list shows for a
    # query given as an object (and what the UI writes itself on save): the one field added here.
    for var_json in out["templating"]["list"]:  # type: ignore[index]
        if var_json["type"] == "query":
            var_json["definition"] = var_json["query"]["query"]
    return out


def dashboard_text() -> str:
    """The template as the exact text of ``runwatch.json`` (indented, ending in a newline)."""
    return json.dumps(render(), indent=2) + "\n"
