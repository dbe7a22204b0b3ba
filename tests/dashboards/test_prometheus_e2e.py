"""End to end: a real Prometheus scrapes ``runwatch demo --serve`` (the real openai SDK against the
embedded server, observed by runwatch), evaluates the generated rules, and answers every panel
and variable query of the generated dashboard.

The demo runs as its own process with a seeded mix whose incomplete share is known (20% of the
runs of each api); Prometheus scrapes it and evaluates the rules every second. The module's demo
tests share one demo + Prometheus pair and run in file order: the last one stops the demo to
freeze the counters before it compares the recorded ratio with the raw samples.

A second, in-test exporter with a whole number of "ticks" per scrape checks exact ratio values
(no sampling noise) and feeds the one panel the demo cannot (internal errors).

Marked ``prometheus``: the prometheus binary must be installed (a missing binary fails).
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from typing import Any

import pytest
from dash_support import binary, dashboard_exprs
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from runwatch import _dashgen
from runwatch.demo.scenarios import Mix, expected_outcome

pytestmark = pytest.mark.prometheus

JOB = "runwatch-e2e"
SELECTOR = f'job="{JOB}"'
DEADLINE_S = 40.0  # for all panels of the demo to have data (typically ~10 s)

# Per api 20% incomplete. Responses: 65 completed, 20 max_output_tokens, 10 failed, 5 aborted.
# Chat has no `failed`: 55 completed + 15 completed with a tool call, 20 length, 10 aborted.
# aborted feeds the "Aborted and abandoned" and anomalies panels, tool_calls the tools panel.
DEMO_MIX = (
    "responses/completed=65,responses/incomplete:max_output_tokens=20,responses/failed:server_error=10,"
    "responses/aborted=5,chat/completed=55,chat/tool_calls=15,chat/incomplete:length=20,chat/aborted=10"
)
DEMO_SEED = 7
DEMO_SPEED = 50  # ~45 runs/s on 8 threads once warm
DEMO_CONCURRENCY = 8
# Scraped runs to wait for before the ratio is compared with the mix (binomial sd ~0.02 at 400).
MIN_SCRAPED_RUNS = 400
# Generated with a 1% objective: 20% incomplete burns 20x > 14.4x, so the fast page alert must fire
# (and the Alerts panel has rows). The default 5% objective would need > 72% incomplete.
DEMO_OBJECTIVE = 0.01

# Panels the demo cannot give data to, and why. Their queries must still be valid (status success).
NO_DATA_WITH_DEMO = {
    "runwatch internal errors by stage": (
        "runwatch_internal_errors_total only gets a series when runwatch swallows an internal error; "
        "a healthy demo has none (the empty result is asserted, so a real internal error shows up)"
    ),
    "Request errors by status code and code": (
        "runwatch_request_errors_total only gets a series when a request fails before its first event; "
        "the demo server answers every create with a stream (the empty result is asserted)"
    ),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Signal ``proc`` and reap it; SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _http_ok(url: str) -> bool:
    """True if ``url`` answers 200 now (False while the server is not up yet)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError):
        return False


def _poll(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.25) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


def _get(url: str, path: str, params: list[tuple[str, str]]) -> Any:
    with urllib.request.urlopen(f"{url}{path}?{urllib.parse.urlencode(params)}", timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def _query(url: str, expr: str, at: float | None = None) -> list[dict[str, Any]]:
    params = [("query", expr)] + ([("time", f"{at:.3f}")] if at is not None else [])
    data = _get(url, "/api/v1/query", params)
    return data["result"]  # type: ignore[no-any-return]


def _by_api(result: list[dict[str, Any]]) -> dict[str, float]:
    return {r["metric"]["api"]: float(r["value"][1]) for r in result}


def _grafana_to_promql(expr: str) -> str:
    """What Grafana sends for "All" and a 1s scrape interval."""
    return expr.replace("$api", ".*").replace("$model", ".*").replace("$__rate_interval", "1m")


@contextlib.contextmanager
def _prometheus(target: str, rules: str, tmp: Path) -> Iterator[str]:
    """A real Prometheus on loopback with ``rules``, scraping ``target`` and evaluating every second."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "rules.yml").write_text(rules, encoding="utf-8")
    config = tmp / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML: no need for a YAML writer here
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(tmp / "rules.yml")],
                "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
            }
        ),
        encoding="utf-8",
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp / "prometheus.log").open("w") as log:
        proc = subprocess.Popen(
            [
                binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:

            def ready() -> bool:
                if proc.poll() is not None:
                    pytest.fail(
                        f"prometheus exited {proc.returncode}: {(tmp / 'prometheus.log').read_text()}"
                    )
                return _http_ok(f"{url}/-/ready")

            _poll("prometheus ready", ready, 20, 0.1)
            yield url
        finally:
            _stop(proc)


# --------------------------------------------------------------------------- the real demo


@dataclass
class DemoStack:
    """``runwatch demo --serve`` and the Prometheus scraping it."""

    proc: subprocess.Popen[str]
    prometheus: str
    stdout: Path
    stderr: Path
    summary: dict[str, Any] = field(default_factory=dict)

    def require_live(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"the demo is not running (exit {self.proc.returncode}): {self.stderr.read_text()}")

    def stop_demo(self) -> dict[str, Any]:
        """SIGTERM the demo (it finishes in-flight runs, prints its --json summary, exits 0)."""
        if not self.summary:
            _stop(self.proc)
            assert self.proc.returncode == 0, self.stderr.read_text()
            self.summary = json.loads(self.stdout.read_text(encoding="utf-8"))
        return self.summary


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """The demo (seeded mix, fast speed) on a free loopback port, scraped by Prometheus with the
    generated rules; both processes are stopped whatever happens."""
    tmp = tmp_path_factory.mktemp("demo-e2e")
    metrics_port = _free_port()
    stdout, stderr = tmp / "demo.out", tmp / "demo.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runwatch",
                "demo",
                "--serve",
                "--json",
                "--metrics-port",
                str(metrics_port),
                "--mix",
                DEMO_MIX,
                "--seed",
                str(DEMO_SEED),
                "--speed",
                str(DEMO_SPEED),
                "--concurrency",
                str(DEMO_CONCURRENCY),
            ],  # fmt: skip
            stdout=out,
            stderr=err,
            text=True,
        )
    try:
        rules = _dashgen.build_rules(DEMO_OBJECTIVE, SELECTOR)
        with _prometheus(f"127.0.0.1:{metrics_port}", rules, tmp / "prometheus") as url:
            stack = DemoStack(proc, url, stdout, stderr)

            def metrics_up() -> bool:
                stack.require_live()
                return _http_ok(f"http://127.0.0.1:{metrics_port}/metrics")

            _poll("demo /metrics up", metrics_up, 20, 0.1)
            yield stack
    finally:
        _stop(proc)


def test_every_panel_query_returns_data_from_the_demo(demo: DemoStack) -> None:
    """Every panel query of the dashboard returns data from the live demo, except the panels of
    NO_DATA_WITH_DEMO, whose queries are valid and empty. The Alerts panel has rows because the
    fast incomplete-ratio page alert fires for both apis (20% incomplete against a 1% objective,
    over more than the 50-run guard): the rules really evaluate the demo's traffic."""
    dashboard = _dashgen.build_dashboard(SELECTOR)
    exprs = list(dashboard_exprs(dashboard))
    titles = {title for title, _ in exprs}
    assert set(NO_DATA_WITH_DEMO) <= titles, "NO_DATA_WITH_DEMO names a panel that no longer exists"
    pending = {
        f"panel {title!r}: {expr}": _grafana_to_promql(expr)
        for title, expr in exprs
        if title not in NO_DATA_WITH_DEMO
    }

    def all_have_data() -> bool:
        demo.require_live()
        for key, expr in list(pending.items()):
            if _query(demo.prometheus, expr):
                del pending[key]
        return not pending

    deadline = time.monotonic() + DEADLINE_S
    while not all_have_data() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not pending, f"no data within {DEADLINE_S:.0f} s for: {sorted(pending)}"

    for title, expr in exprs:
        if title in NO_DATA_WITH_DEMO:
            # _query asserts status "success": the query parses and evaluates.
            assert _query(demo.prometheus, _grafana_to_promql(expr)) == [], title

    page = 'ALERTS{alertname="RunwatchIncompleteRatioBurnPage",alertstate="firing"}'

    def both_firing() -> bool:
        demo.require_live()
        return sorted(r["metric"]["api"] for r in _query(demo.prometheus, page)) == ["chat", "responses"]

    _poll("the incomplete page alert firing for chat and responses", both_firing, 20)


def test_variable_queries_list_the_demo_apis_and_models(demo: DemoStack) -> None:
    """The api and model variables (label_values on runwatch_runs_total) list exactly the apis of
    the mix and the models the demo's driver requests for them."""
    demo.require_live()
    variables = {v["name"]: v for v in _dashgen.build_dashboard(SELECTOR)["templating"]["list"]}  # type: ignore[index]
    expected = {"api": ["chat", "responses"], "model": ["gpt-4o-2024-08-06", "gpt-4o-mini"]}
    for name, values in expected.items():
        definition = variables[name]["definition"]
        match, label = definition.removeprefix("label_values(").removesuffix(")").rsplit(", ", 1)
        params = [("match[]", _grafana_to_promql(match))]

        def found(label: str = label, params: list[tuple[str, str]] = params) -> list[str]:
            return sorted(_get(demo.prometheus, f"/api/v1/label/{label}/values", params))

        assert _poll(f"variable {name}", lambda: found() == values and found(), DEADLINE_S) == values


def _expected_incomplete_share() -> dict[str, float]:
    share: dict[str, float] = {}
    totals: dict[str, float] = {}
    for (api, scenario), p in Mix.parse(DEMO_MIX).share().items():
        totals[api] = totals.get(api, 0.0) + p
        if expected_outcome(api, scenario)[0] == "incomplete":
            share[api] = share.get(api, 0.0) + p
    return {api: share.get(api, 0.0) / total for api, total in totals.items()}


def test_recorded_incomplete_ratio_matches_the_scraped_counters_and_the_mix(demo: DemoStack) -> None:
    """api:runwatch_runs_incomplete:ratio_rate5m, as recorded by Prometheus from the generated
    rules, (1) equals the same ratio computed directly from the scraped runwatch_runs_total
    samples at the same evaluation timestamp, and (2) it and the plain count ratio of those samples
    are both the mix's 20% incomplete share within 4 binomial standard deviations of the number of
    runs scraped (sd = sqrt(0.2 * 0.8 / n), ~0.027 per api at the n ~ 200-240 reached here; 4 sd:
    a false failure about once in 16,000 runs of the test). The recorded ratio is not compared
    with the count ratio directly: over a few scrapes rate() extrapolates each series by up to a
    scrape interval at each end and skips what a series counted before its first scrape, which
    moves the ratio of rates by about 0.01 here. The scraped outcomes are exactly those the mix
    asks for, and never more than the demo's own final count.

    The demo is stopped first so the counters are frozen: a rule evaluated then cannot race an
    in-flight scrape, and equality in (1) is exact."""
    expected_share = _expected_incomplete_share()
    assert expected_share == pytest.approx({"chat": 0.2, "responses": 0.2})
    prom = demo.prometheus
    total_runs = f"sum(runwatch_runs_total{{{SELECTOR}}})"

    def enough_runs() -> bool:
        demo.require_live()
        result = _query(prom, total_runs)
        return bool(result) and float(result[0]["value"][1]) >= MIN_SCRAPED_RUNS

    _poll(f"{MIN_SCRAPED_RUNS} runs scraped", enough_runs, DEADLINE_S)
    summary = demo.stop_demo()
    _poll("target seen down", lambda: _query(prom, f"up{{{SELECTOR}}} == 0"), 10)
    last_scrape = float(
        _query(prom, f"max(timestamp(last_over_time(runwatch_runs_total{{{SELECTOR}}}[5m])))")[0]["value"][1]
    )
    # rate() stops moving once the window end is > 1.1 scrape intervals past the last sample.
    settled = last_scrape + 2.5
    record = "api:runwatch_runs_incomplete:ratio_rate5m"

    def recorded_after_settled() -> tuple[float, dict[str, float]] | None:
        series = _query(prom, f"{record}[10s]")
        points = {r["metric"]["api"]: r["values"][-1] for r in series}
        times = {float(t) for t, _ in points.values()}
        if set(points) == {"chat", "responses"} and len(times) == 1 and min(times) >= settled:
            return times.pop(), {api: float(v) for api, (_, v) in points.items()}
        return None

    at, recorded = _poll("a rule evaluation after the last scrape", recorded_after_settled, 10)

    # (1) The same definition written out on raw counters, evaluated at the rule's timestamp.
    raw = _by_api(
        _query(
            prom,
            f'sum by (api) (rate(runwatch_runs_total{{{SELECTOR},status="incomplete"}}[5m]))'
            f" / sum by (api) (rate(runwatch_runs_total{{{SELECTOR}}}[5m]))",
            at,
        )
    )
    assert recorded == pytest.approx(raw, rel=1e-12, abs=0)

    # (2) Plain counts of the last scraped samples (no rate, no extrapolation).
    counts: dict[tuple[str, str, str], int] = {}
    for r in _query(prom, f"last_over_time(runwatch_runs_total{{{SELECTOR}}}[5m])", at):
        m = r["metric"]
        key = (m["api"], m["status"], m["reason"])
        counts[key] = counts.get(key, 0) + int(float(r["value"][1]))
    mix_outcomes = {(api, *expected_outcome(api, sc)) for api, sc in Mix.parse(DEMO_MIX).share()}
    assert set(counts) == mix_outcomes
    final = {(o["api"], o["status"], o["reason"]): o["count"] for o in summary["outcomes"]}
    assert all(n <= final[key] for key, n in counts.items()), (counts, final)

    report = []
    for api, share in expected_share.items():
        n = sum(v for (a, _, _), v in counts.items() if a == api)
        incomplete = sum(v for (a, s, _), v in counts.items() if a == api and s == "incomplete")
        counted = incomplete / n
        sigma = math.sqrt(share * (1 - share) / n)
        assert abs(counted - share) <= 4 * sigma, (api, counted, share, n)
        assert abs(recorded[api] - share) <= 4 * sigma, (api, recorded[api], share, n)
        report.append(
            f"{api}: {incomplete}/{n} = {counted:.4f}, recorded {recorded[api]:.4f}, mix {share:.2f}"
        )
    print("; ".join(report))


# --------------------------------------------------------------------------- synthetic exporter

# One "tick" of traffic per scrape: 20 runs, 12 completed, 4 incomplete (max_output_tokens),
# 2 failed (server_error), 1 aborted, 1 abandoned.
RUNS_PER_TICK = {
    ("completed", "none"): 12,
    ("incomplete", "max_output_tokens"): 4,
    ("failed", "server_error"): 2,
    ("aborted", "stream_ended"): 1,
    ("abandoned", "ttl_expired"): 1,
}
EXACT = {
    "api:runwatch_runs_incomplete:ratio_rate5m": 4 / 20,
    "api:runwatch_runs_failed:ratio_rate5m": 2 / 20,
    "api_reason:runwatch_runs_incomplete:ratio_rate5m": 4 / 20,
    "api_reason:runwatch_runs_failed:ratio_rate5m": 2 / 20,
}


class _FakeRunwatch:
    """runwatch-named metrics that grow by one whole tick per scrape, so ratios of rates are exact.

    It also exposes what the demo cannot produce: an internal error, an abandoned run and
    request errors.
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
        in_progress = GaugeMetricFamily("runwatch_runs_in_progress", "In progress.", labels=["api"])
        in_progress.add_metric(["responses"], 1)
        yield in_progress
        phases = HistogramMetricFamily("runwatch_phase_duration_seconds", "Phases.", labels=["api", "phase"])
        phases.add_metric(
            ["responses", "requires_action"], buckets=[("1", n), ("+Inf", n)], sum_value=0.2 * n
        )
        yield phases
        errors = CounterMetricFamily("runwatch_internal_errors", "Internal errors.", labels=["stage"])
        errors.add_metric(["sink"], n)
        yield errors
        requests = CounterMetricFamily(
            "runwatch_request_errors", "Request errors.", labels=["api", "status_code", "code"]
        )
        requests.add_metric(["responses", "429", "rate_limit_exceeded"], 2 * n)
        requests.add_metric(["responses", "transport", "timeout"], n)
        yield requests


@pytest.fixture
def synthetic(tmp_path: Path) -> Iterator[str]:
    """Prometheus (default generated rules) scraping the synthetic exporter."""
    registry = CollectorRegistry()
    registry.register(_FakeRunwatch())  # type: ignore[arg-type]
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        target = f"127.0.0.1:{server.server_port}"
        with _prometheus(target, _dashgen.build_rules(selector=SELECTOR), tmp_path) as url:
            yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_synthetic_exact_ratios_and_the_panels_the_demo_cannot_feed(synthetic: str) -> None:
    """With a whole tick per scrape, the recorded incomplete and failure ratios (per api and per
    reason) are exactly 4/20 and 2/20, and the panels the demo leaves empty (internal errors;
    request errors; abandoned runs; the requires_action phase) return data from the same queries."""
    panels = dict(dashboard_exprs(_dashgen.build_dashboard(SELECTOR)))
    Check = Callable[[list[dict[str, Any]]], bool]
    has_data: Check = bool
    pending: dict[str, tuple[str, Check]] = {
        f"panel {t!r}": (_grafana_to_promql(panels[t]), has_data) for t in NO_DATA_WITH_DEMO
    }
    pending["abandoned runs in 'Aborted and abandoned runs / s'"] = (
        _grafana_to_promql(panels["Aborted and abandoned runs / s"]),
        lambda result: any(r["metric"].get("status") == "abandoned" for r in result),
    )
    pending["requires_action in 'Phase duration p95'"] = (
        _grafana_to_promql(panels["Phase duration p95"]),
        lambda result: any(r["metric"].get("phase") == "requires_action" for r in result),
    )
    pending.update({f"rule {name}": (f'{name}{{api="responses"}}', has_data) for name in EXACT})
    values: dict[str, float] = {}

    def all_have_data() -> bool:
        for key, (expr, ok) in list(pending.items()):
            result = _query(synthetic, expr)
            if ok(result):
                del pending[key]
                if key.startswith("rule "):
                    values[key.removeprefix("rule ")] = float(result[0]["value"][1])
        return not pending

    deadline = time.monotonic() + DEADLINE_S
    while not all_have_data() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not pending, f"no data within {DEADLINE_S:.0f} s for: {sorted(pending)}"
    for name, exact in EXACT.items():
        assert values[name] == pytest.approx(exact, abs=1e-9), name
