"""End to end: a real Prometheus scrapes runwatch metrics, evaluates the generated rules, and
answers every panel query of the generated dashboard.

The metrics source is one fixture (``metrics_target``); today an in-test exporter, later
``runwatch demo --serve``. Marked ``prometheus``: the prometheus binary must be installed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from threading import Lock

import pytest
from dash_support import binary, dashboard_exprs
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from runwatch import _dashgen

pytestmark = pytest.mark.prometheus

JOB = "runwatch-e2e"
SELECTOR = f'job="{JOB}"'
DEADLINE_S = 45.0

# One "tick" of traffic per scrape: 20 runs, 12 completed, 4 incomplete (max_output_tokens),
# 2 failed (server_error), 1 aborted, 1 abandoned.
RUNS_PER_TICK = {
    ("completed", "none"): 12,
    ("incomplete", "max_output_tokens"): 4,
    ("failed", "server_error"): 2,
    ("aborted", "stream_ended"): 1,
    ("abandoned", "ttl_expired"): 1,
}
EXPECTED = {
    "api:runwatch_runs_incomplete:ratio_rate5m": 4 / 20,
    "api:runwatch_runs_failed:ratio_rate5m": 2 / 20,
}


class _FakeRunwatch:
    """Exposes runwatch-named metrics that grow by one tick per scrape.

    A collector (rather than Counter objects updated by a thread) so every scrape sees a whole
    number of ticks: ratios of rates are then exact, not "about right".
    """

    def __init__(self) -> None:
        self._ticks = 0
        self._lock = Lock()

    def collect(self) -> Iterator[object]:
        with self._lock:
            self._ticks += 1
            n = self._ticks
        base = {"api": "responses", "model": "gpt-e2e"}
        runs = CounterMetricFamily("runwatch_runs", "Runs that ended.", labels=[*base, "status", "reason"])
        for (status, reason), per_tick in RUNS_PER_TICK.items():
            runs.add_metric([*base.values(), status, reason], n * per_tick)
        yield runs
        started = CounterMetricFamily("runwatch_runs_started", "Runs started.", labels=list(base))
        started.add_metric(list(base.values()), n * 21)
        yield started
        in_progress = GaugeMetricFamily("runwatch_runs_in_progress", "In progress.", labels=["api"])
        in_progress.add_metric(["responses"], 1)
        yield in_progress

        def histogram(name: str, labels: dict[str, str], per_tick: int) -> HistogramMetricFamily:
            family = HistogramMetricFamily(name, name, labels=list(labels))
            count = n * per_tick
            family.add_metric(
                list(labels.values()),
                buckets=[("0.5", count // 2), ("1", count), ("2.56", count), ("+Inf", count)],
                sum_value=0.6 * count,
            )
            return family

        yield histogram("runwatch_run_duration_seconds", {**base, "status": "completed"}, 12)
        yield histogram("runwatch_time_to_first_token_seconds", base, 20)
        phases = HistogramMetricFamily("runwatch_phase_duration_seconds", "Phases.", labels=["api", "phase"])
        for phase in ("queued", "in_progress", "requires_action", "tool_call"):
            count = n * 3
            phases.add_metric(
                ["responses", phase], buckets=[("1", count), ("+Inf", count)], sum_value=0.2 * count
            )
        yield phases
        tokens = CounterMetricFamily("runwatch_tokens", "Tokens.", labels=[*base, "type"])
        for kind, per_tick in (("input", 500), ("output", 200), ("cached_input", 100), ("reasoning", 50)):
            tokens.add_metric([*base.values(), kind], n * per_tick)
        yield tokens
        tools = CounterMetricFamily("runwatch_tool_calls", "Tool calls.", labels=["api", "tool_type"])
        tools.add_metric(["responses", "function"], n * 3)
        yield tools
        anomalies = CounterMetricFamily("runwatch_stream_anomalies", "Anomalies.", labels=["api", "kind"])
        anomalies.add_metric(["responses", "missing_terminal"], n)
        yield anomalies
        errors = CounterMetricFamily("runwatch_internal_errors", "Internal errors.", labels=["stage"])
        errors.add_metric(["sink"], n)
        yield errors


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def metrics_target() -> Iterator[str]:
    """host:port of a runwatch /metrics endpoint (the one thing to swap for `runwatch demo`)."""
    registry = CollectorRegistry()
    registry.register(_FakeRunwatch())  # type: ignore[arg-type]
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def prometheus(metrics_target: str, tmp_path: Path) -> Iterator[str]:
    """A real Prometheus with the generated rules, scraping the target every second."""
    rules = tmp_path / "rules.yml"
    rules.write_text(_dashgen.build_rules(selector=SELECTOR), encoding="utf-8")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML: no need for a YAML writer here
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [metrics_target]}]}],
            }
        ),
        encoding="utf-8",
    )
    port = _free_port()
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                output = (tmp_path / "prometheus.log").read_text()
                pytest.fail(f"prometheus exited {proc.returncode}: {output}")
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("prometheus did not become ready in 20 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _get(url: str, path: str, params: list[tuple[str, str]]) -> object:
    with urllib.request.urlopen(f"{url}{path}?{urllib.parse.urlencode(params)}", timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def _query(url: str, expr: str) -> list[dict[str, object]]:
    data = _get(url, "/api/v1/query", [("query", expr)])
    assert isinstance(data, dict)
    return data["result"]  # type: ignore[no-any-return]


def _grafana_to_promql(expr: str) -> str:
    """What Grafana sends for "All" and a 1s scrape interval."""
    return expr.replace("$api", ".*").replace("$model", ".*").replace("$__rate_interval", "1m")


def test_every_panel_query_and_the_recording_rules(prometheus: str) -> None:
    """Every panel query returns data, and the recorded ratios equal the known mix (4/20, 2/20)."""
    dashboard = _dashgen.build_dashboard(SELECTOR)
    pending = {
        f"panel {title!r}: {expr}": _grafana_to_promql(expr) for title, expr in dashboard_exprs(dashboard)
    }
    pending.update({f"rule {name}": f'{name}{{api="responses"}}' for name in EXPECTED})
    deadline = time.monotonic() + DEADLINE_S
    values: dict[str, float] = {}
    while pending and time.monotonic() < deadline:
        for key, expr in list(pending.items()):
            result = _query(prometheus, expr)
            if result:
                del pending[key]
                if key.startswith("rule "):
                    values[key.removeprefix("rule ")] = float(result[0]["value"][1])  # type: ignore[index]
        if pending:
            time.sleep(0.5)
    assert not pending, f"no data within {DEADLINE_S:.0f} s for: {sorted(pending)}"
    for name, expected in EXPECTED.items():
        assert values[name] == pytest.approx(expected, abs=1e-9), name


def test_variable_queries_find_the_labels(prometheus: str) -> None:
    """The api and model variables (label_values on runwatch_runs_total) list the exported values."""
    variables = {v["name"]: v for v in _dashgen.build_dashboard(SELECTOR)["templating"]["list"]}  # type: ignore[index]
    deadline = time.monotonic() + DEADLINE_S
    for name, expected in (("api", "responses"), ("model", "gpt-e2e")):
        definition = variables[name]["definition"]
        match, label = definition.removeprefix("label_values(").removesuffix(")").rsplit(", ", 1)
        while True:
            params = [("match[]", _grafana_to_promql(match))]
            found = _get(prometheus, f"/api/v1/label/{label}/values", params)
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert found == [expected], name
