"""End to end: a real Prometheus scrapes ``runwatch demo --serve`` (the real openai SDK against the
embedded server, observed by runwatch), evaluates the generated rules, answers every panel and
variable query of the generated dashboard, and sends its alerts to a real Alertmanager (the
generated fragment), which posts its notifications to a webhook in the test.

The demo runs as its own process with a seeded mix whose incomplete share is known (30% of the
runs of each api) and a tracer provider (so its histograms carry trace_id exemplars); Prometheus
scrapes it and evaluates the rules every second. The module's demo tests share one demo +
Prometheus + Alertmanager stack and run in file order: the last one stops the demo to freeze the
counters before it compares the recorded ratio with the raw samples.

Synthetic exporters with a whole number of "ticks" per scrape check exact ratio values (no
sampling noise), feed the panels the demo cannot, and load several rule sets into one Prometheus
to show that scoped sets never read each other's series.

Marked ``prometheus``: the prometheus and alertmanager binaries must be installed (a missing
binary fails).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from typing import Any

import pytest
from dash_support import (
    Webhook,
    alertmanager,
    dashboard_exprs,
    free_port,
    get_json,
    http_ok,
    poll,
    prometheus,
    query,
    stop,
    webhook,
    with_webhook,
)
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from runwatch import _dashgen
from runwatch.demo.scenarios import Mix, expected_outcome

pytestmark = pytest.mark.prometheus

JOB = "runwatch-e2e"
SELECTOR = f'job="{JOB}"'
DEADLINE_S = 90.0  # for all panels of the demo to have data (typically ~10 s)

# Per api 30% incomplete. Responses: 55 completed, 30 max_output_tokens, 10 failed, 5 aborted.
# Chat has no `failed`: 50 completed + 15 completed with a tool call, 30 length, 5 aborted.
# aborted feeds the "Aborted and abandoned" and anomalies panels, tool_calls the tools panel.
DEMO_MIX = (
    "responses/completed=55,responses/incomplete:max_output_tokens=30,responses/failed:server_error=10,"
    "responses/aborted=5,chat/completed=50,chat/tool_calls=15,chat/incomplete:length=30,chat/aborted=5"
)
DEMO_SEED = 7
DEMO_SPEED = 20
DEMO_CONCURRENCY = 4
# Scraped runs to wait for before the ratio is compared with the mix (binomial sd ~0.023 at 400).
MIN_SCRAPED_RUNS = 400
# Generated with a 1% incomplete objective: 30% incomplete burns 30x > 14.4x, so the fast page
# pair (1h and 5m) holds and fires after its 2 minutes. The failure objective stays at 5%: the
# demo's 15% (responses) and 5% (chat) bad runs are far below its 30% and 72% page thresholds.
DEMO_OBJECTIVE = 0.01
DEMO_FAILURE_OBJECTIVE = 0.05
# The fast page's pending period (2m), Alertmanager's group_wait (30s, as shipped), the time the
# ratios need to settle above the threshold, and a loaded machine.
ALERT_DEADLINE_S = 600.0
# After the pages arrived, how long nothing else may arrive (an inhibited alert would have been
# sent with them: the same group_wait).
QUIET_S = 15.0

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

# Runs the demo like `runwatch demo`, with an SDK tracer provider that exports nowhere: runs get
# real trace ids, which the Prometheus sink puts on its histograms as exemplars.
DEMO_MAIN = (
    "import sys\n"
    "from opentelemetry.sdk.trace import TracerProvider\n"
    "from runwatch.cli import build_parser\n"
    "from runwatch.demo import cli\n"
    "args = build_parser().parse_args(['demo', *sys.argv[1:]])\n"
    "sys.exit(cli.run(args, tracer_provider=TracerProvider()))\n"
)


def _by_api(result: list[dict[str, Any]]) -> dict[str, float]:
    return {r["metric"]["api"]: float(r["value"][1]) for r in result}


def _grafana_to_promql(expr: str) -> str:
    """What Grafana sends for "All", a 1s scrape interval and a 5 minute time range."""
    return (
        expr.replace("$api", ".*").replace("$model", ".*").replace("$__rate_interval", "1m")
        .replace("$__range", "5m")
    )  # fmt: skip


# --------------------------------------------------------------------------- the real demo


@dataclass
class DemoStack:
    """``runwatch demo --serve``, the Prometheus scraping it, the Alertmanager it sends to and the
    webhook that receives Alertmanager's notifications."""

    proc: subprocess.Popen[str]
    prometheus: str
    alertmanager: str
    hook: Webhook
    stdout: Path
    stderr: Path
    started: float
    summary: dict[str, Any] = field(default_factory=dict)

    def require_live(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"the demo is not running (exit {self.proc.returncode}): {self.stderr.read_text()}")

    def stop_demo(self) -> dict[str, Any]:
        """SIGTERM the demo (it finishes in-flight runs, prints its --json summary, exits 0)."""
        if not self.summary:
            stop(self.proc)
            assert self.proc.returncode == 0, self.stderr.read_text()
            self.summary = json.loads(self.stdout.read_text(encoding="utf-8"))
        return self.summary


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """The demo (seeded mix) on a free loopback port, scraped by Prometheus with the generated
    rules, alerting to Alertmanager with the generated fragment; all processes are stopped
    whatever happens."""
    tmp = tmp_path_factory.mktemp("demo-e2e")
    metrics_port = free_port()
    stdout, stderr = tmp / "demo.out", tmp / "demo.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                DEMO_MAIN,
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
    started = time.monotonic()
    try:
        rules = _dashgen.build_rules(DEMO_OBJECTIVE, SELECTOR, DEMO_FAILURE_OBJECTIVE)
        with (
            webhook() as hook,
            alertmanager(with_webhook(_dashgen.build_alertmanager(SELECTOR), hook), tmp / "am") as am,
            prometheus(
                {JOB: f"127.0.0.1:{metrics_port}"}, {"rules.yml": rules}, tmp / "prometheus",
                alertmanager=am, exemplars=True,
            ) as url,
        ):  # fmt: skip
            stack = DemoStack(proc, url, am, hook, stdout, stderr, started)

            def metrics_up() -> bool:
                stack.require_live()
                return http_ok(f"http://127.0.0.1:{metrics_port}/metrics")

            poll("demo /metrics up", metrics_up, 60, 0.1)
            yield stack
    finally:
        stop(proc)


def test_every_panel_query_returns_data_from_the_demo(demo: DemoStack) -> None:
    """Every panel query of the dashboard returns data from the live demo, except the panels of
    NO_DATA_WITH_DEMO, whose queries are valid and empty. That includes the SLO panels, which read
    the series the rules record (ratios, burn rates, budgets, objectives), and the Alerts panel,
    which has rows because the incomplete page alerts are pending or firing for both apis (30%
    incomplete against a 1% objective, over more than the 50-run guard): the rules really evaluate
    the demo's traffic."""
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
            if query(demo.prometheus, expr):
                del pending[key]
        return not pending

    deadline = time.monotonic() + DEADLINE_S
    while not all_have_data() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not pending, f"no data within {DEADLINE_S:.0f} s for: {sorted(pending)}"

    for title, expr in exprs:
        if title in NO_DATA_WITH_DEMO:
            # query() asserts status "success": the query parses and evaluates.
            assert query(demo.prometheus, _grafana_to_promql(expr)) == [], title

    page = 'ALERTS{alertname="RunwatchIncompleteRatioBurnPage",long="1h"}'

    def both_active() -> bool:
        demo.require_live()
        return sorted(r["metric"]["api"] for r in query(demo.prometheus, page)) == ["chat", "responses"]

    poll("the incomplete page alert pending or firing for chat and responses", both_active, DEADLINE_S)


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
            return sorted(get_json(demo.prometheus, f"/api/v1/label/{label}/values", params))

        assert poll(f"variable {name}", lambda: found() == values and found(), DEADLINE_S) == values


def test_exemplars_of_the_latency_panels_link_to_traces(demo: DemoStack) -> None:
    """With Prometheus' exemplar storage on (--enable-feature=exemplar-storage, as docs/dashboards.md
    says), every panel that asks for exemplars gets some from the demo through the exemplar API
    Grafana calls, each carrying the 32-hex trace_id of a run span: the data source's trace link
    has something to open."""
    panels = [p for p in _dashgen.build_dashboard(SELECTOR)["panels"] if p.get("targets")]  # type: ignore[attr-defined]
    with_exemplars = [p for p in panels if any(t.get("exemplar") for t in p["targets"])]
    assert len(with_exemplars) == 4, [p["title"] for p in with_exemplars]
    for panel in with_exemplars:
        expr = _grafana_to_promql(panel["targets"][0]["expr"])

        def trace_ids(expr: str = expr) -> list[str]:
            demo.require_live()
            end = time.time()
            params = [("query", expr), ("start", f"{end - 300:.3f}"), ("end", f"{end:.3f}")]
            data = get_json(demo.prometheus, "/api/v1/query_exemplars", params)
            return [e["labels"].get("trace_id", "") for series in data for e in series["exemplars"]]

        ids = poll(f"exemplars of {panel['title']!r}", trace_ids, DEADLINE_S)
        assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), (panel["title"], ids[:5])


def test_alertmanager_gets_one_page_per_incident(demo: DemoStack) -> None:
    """Prometheus evaluates the generated rules over the demo's traffic and sends to Alertmanager
    (the generated fragment, as shipped but for the webhook receivers). Each api burning its
    incomplete budget is one incident: within the deadline exactly one notification arrives per
    api, at the page receiver, grouped by alertname, scope and api, holding the per-reason page of
    the 1h/5m pair with the right labels and an absolute runbook URL with the alert's anchor; for
    QUIET_S more seconds nothing else arrives. The ratio page fires too (Prometheus says so) but
    Alertmanager holds it back, inhibited by the reason page; the tickets are still pending (1h
    and 3h), the 6h/30m page pair too (15m)."""
    demo.require_live()

    def two_notifications() -> bool:
        demo.require_live()
        return len(demo.hook.notifications()) >= 2

    poll("one page notification per api", two_notifications, ALERT_DEADLINE_S, 0.5)
    first = time.monotonic()
    # A fixed quiet period, not a synchronisation: whatever Alertmanager would also send (an
    # inhibited alert, another group) would come with the pages, after the same group_wait.
    while time.monotonic() - first < QUIET_S:
        assert len(demo.hook.notifications()) == 2, demo.hook.notifications()
        time.sleep(0.5)
    took = first - demo.started
    # The pending period is real: no page before the 1h/5m pair's 2 minutes.
    assert took >= 120, f"paged after {took:.0f} s, before the 2 minute pending period"
    print(f"pages arrived {took:.0f} s after the demo started")

    by_api = {}
    for path, payload in demo.hook.notifications():
        assert path == "/runwatch-page", path
        assert payload["receiver"] == "runwatch-page"
        assert payload["status"] == "firing"
        assert set(payload["groupLabels"]) == {"alertname", "job", "api"}, payload["groupLabels"]
        (alert,) = payload["alerts"]
        by_api[alert["labels"]["api"]] = alert
    assert sorted(by_api) == ["chat", "responses"]
    for api, reason in (("chat", "length"), ("responses", "max_output_tokens")):
        alert = by_api[api]
        assert alert["labels"] == {
            "alertname": "RunwatchIncompleteReasonBurnPage", "api": api, "reason": reason, "job": JOB,
            "severity": "page", "slo": "incomplete", "long": "1h", "short": "5m",
        }  # fmt: skip
        url = urllib.parse.urlsplit(alert["annotations"]["runbook_url"])
        assert (url.scheme, url.fragment) == ("https", "runwatchincompletereasonburnpage"), url
        assert url.netloc
        assert alert["annotations"]["runbook_url"].startswith(_dashgen.DEFAULT_RUNBOOK_URL + "#")

    # The ratio pages fired as well and reached Alertmanager, which muted them.
    ratio = 'ALERTS{alertname="RunwatchIncompleteRatioBurnPage",alertstate="firing",long="1h"}'
    assert sorted(r["metric"]["api"] for r in query(demo.prometheus, ratio)) == ["chat", "responses"]
    with urllib.request.urlopen(f"http://{demo.alertmanager}/api/v2/alerts", timeout=10) as response:
        held = json.load(response)
    muted = {
        a["labels"]["api"]
        for a in held
        if a["labels"]["alertname"] == "RunwatchIncompleteRatioBurnPage" and a["status"]["inhibitedBy"]
    }
    assert muted == {"chat", "responses"}, held


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
    are both the mix's 30% incomplete share within 4 binomial standard deviations of the number of
    runs scraped (sd = sqrt(0.3 * 0.7 / n); 4 sd: a false failure about once in 16,000 runs of the
    test). The recorded ratio is not compared with the count ratio directly: rate() extrapolates
    each series by up to a scrape interval at each end and skips what a series counted before its
    first scrape, which moves the ratio of rates a little. The scraped outcomes are exactly those
    the mix asks for, and never more than the demo's own final count.

    The demo is stopped first so the counters are frozen: a rule evaluated then cannot race an
    in-flight scrape, and equality in (1) is exact."""
    expected_share = _expected_incomplete_share()
    assert expected_share == pytest.approx({"chat": 0.3, "responses": 0.3})
    prom = demo.prometheus
    total_runs = f"sum(runwatch_runs_total{{{SELECTOR}}})"

    def enough_runs() -> bool:
        demo.require_live()
        result = query(prom, total_runs)
        return bool(result) and float(result[0]["value"][1]) >= MIN_SCRAPED_RUNS

    poll(f"{MIN_SCRAPED_RUNS} runs scraped", enough_runs, DEADLINE_S)
    summary = demo.stop_demo()
    poll("target seen down", lambda: query(prom, f"up{{{SELECTOR}}} == 0"), 30)
    last_scrape = float(
        query(prom, f"max(timestamp(last_over_time(runwatch_runs_total{{{SELECTOR}}}[5m])))")[0]["value"][1]
    )
    # rate() stops moving once the window end is > 1.1 scrape intervals past the last sample.
    settled = last_scrape + 2.5
    record = "api:runwatch_runs_incomplete:ratio_rate5m"

    def recorded_after_settled() -> tuple[float, dict[str, float]] | None:
        series = query(prom, f"{record}[10s]")
        points = {r["metric"]["api"]: r["values"][-1] for r in series}
        times = {float(t) for t, _ in points.values()}
        if set(points) == {"chat", "responses"} and len(times) == 1 and min(times) >= settled:
            return times.pop(), {api: float(v) for api, (_, v) in points.items()}
        return None

    at, recorded = poll("a rule evaluation after the last scrape", recorded_after_settled, 30)

    # (1) The same definition written out on raw counters, evaluated at the rule's timestamp.
    raw = _by_api(
        query(
            prom,
            f'sum by (api) (rate(runwatch_runs_total{{{SELECTOR},status="incomplete"}}[5m]))'
            f" / sum by (api) (rate(runwatch_runs_total{{{SELECTOR}}}[5m]))",
            at,
        )
    )
    assert recorded == pytest.approx(raw, rel=1e-12, abs=0)

    # (2) Plain counts of the last scraped samples (no rate, no extrapolation).
    counts: dict[tuple[str, str, str], int] = {}
    for r in query(prom, f"last_over_time(runwatch_runs_total{{{SELECTOR}}}[5m])", at):
        m = r["metric"]
        key = (m["api"], m["status"], m["reason"])
        counts[key] = counts.get(key, 0) + int(float(r["value"][1]))
    mix_outcomes = {(api, *expected_outcome(api, sc)) for api, sc in Mix.parse(DEMO_MIX).share()}
    # The stop cuts the runs in flight (the summary's cut_by_stop), and each ends aborted: a scrape
    # between the cut and the exporter's shutdown (a loaded machine widens that gap) counts them.
    beyond_mix = {key: n for key, n in counts.items() if key not in mix_outcomes}
    assert all(status == "aborted" for _, status, _ in beyond_mix), (beyond_mix, summary["cut_by_stop"])
    assert sum(beyond_mix.values()) <= summary["cut_by_stop"], (beyond_mix, summary["cut_by_stop"])
    assert mix_outcomes <= set(counts)
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


# --------------------------------------------------------------------------- synthetic exporters

# One "tick" of traffic per scrape: 20 runs, 12 completed, 4 incomplete (max_output_tokens),
# 2 failed (server_error), 1 aborted, 1 abandoned; and 3 failed requests.
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
    # failed, aborted (stream_ended), abandoned and the 3 failed requests, of 20 runs + 3 requests.
    "api:runwatch_runs_bad:ratio_rate5m": (2 + 1 + 1 + 3) / (20 + 3),
}


class _FakeRunwatch:
    """runwatch-named metrics (``prefix``, the sink's namespace) that grow by one whole tick per
    scrape, so ratios of rates are exact.

    With ``extras`` it also exposes what the demo cannot produce: an internal error, an abandoned
    run, the requires_action phase and request errors.
    """

    def __init__(
        self, runs_per_tick: dict[tuple[str, str], int], prefix: str = "runwatch", extras: bool = True
    ):
        self._ticks = 0
        self._lock = Lock()
        self._runs = runs_per_tick
        self._prefix = prefix
        self._extras = extras

    def collect(self) -> Iterator[object]:
        with self._lock:
            self._ticks += 1
            n = self._ticks
        p = self._prefix
        base = {"api": "responses", "model": "gpt-e2e"}
        runs = CounterMetricFamily(f"{p}_runs", "Runs that ended.", labels=[*base, "status", "reason"])
        for (status, reason), per_tick in self._runs.items():
            runs.add_metric([*base.values(), status, reason], n * per_tick)
        yield runs
        if not self._extras:
            return
        in_progress = GaugeMetricFamily(f"{p}_runs_in_progress", "In progress.", labels=["api"])
        in_progress.add_metric(["responses"], 1)
        yield in_progress
        phases = HistogramMetricFamily(f"{p}_phase_duration_seconds", "Phases.", labels=["api", "phase"])
        phases.add_metric(
            ["responses", "requires_action"], buckets=[("1", n), ("+Inf", n)], sum_value=0.2 * n
        )
        yield phases
        errors = CounterMetricFamily(f"{p}_internal_errors", "Internal errors.", labels=["stage"])
        errors.add_metric(["sink"], n)
        yield errors
        requests = CounterMetricFamily(
            f"{p}_request_errors", "Request errors.", labels=["api", "status_code", "code"]
        )
        requests.add_metric(["responses", "429", "rate_limit_exceeded"], 2 * n)
        requests.add_metric(["responses", "transport", "timeout"], n)
        yield requests


@contextlib.contextmanager
def _exporter(fake: _FakeRunwatch) -> Iterator[str]:
    """Serve ``fake`` on a free loopback port; yields host:port."""
    registry = CollectorRegistry()
    registry.register(fake)  # type: ignore[arg-type]
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def synthetic(tmp_path: Path) -> Iterator[str]:
    """Prometheus (default generated rules) scraping the synthetic exporter."""
    with (
        _exporter(_FakeRunwatch(RUNS_PER_TICK)) as target,
        prometheus({JOB: target}, {"rules.yml": _dashgen.build_rules(selector=SELECTOR)}, tmp_path) as url,
    ):
        yield url


def test_synthetic_exact_ratios_and_the_panels_the_demo_cannot_feed(synthetic: str) -> None:
    """With a whole tick per scrape, the recorded incomplete, failure and bad-run ratios (per api
    and per reason) are exact (4/20, 2/20, 7/23: failed requests count in the failure SLO), and the
    panels the demo leaves empty (internal errors; request errors; abandoned runs; the
    requires_action phase) return data from the same queries."""
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
            result = query(synthetic, expr)
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


# Five rule sets in one Prometheus. Exporters: job a 40% incomplete, job b 0%, job c 40% under
# the namespace llm. Sets with equality selectors are told apart by job, sets with only a regex
# selector by their scope name.
RULE_SETS: dict[str, dict[str, str]] = {
    "a.yml": {"selector": 'job="a"'},
    "b.yml": {"selector": 'job="b"'},
    "ra.yml": {"selector": 'job=~"a"', "scope": "ra"},
    "rb.yml": {"selector": 'job=~"b"', "scope": "rb"},
    "c.yml": {"selector": 'job="c"', "namespace": "llm"},
}
FORTY = {("completed", "none"): 12, ("incomplete", "max_output_tokens"): 8}
ZERO = {("completed", "none"): 20}
# (recorded series' scope labels) -> exact incomplete ratio
SCOPED_RATIOS = {
    (("job", "a"),): 0.4,
    (("job", "b"),): 0.0,
    (("scope", "ra"),): 0.4,
    (("scope", "rb"),): 0.0,
    (("job", "c"),): 0.4,
}


def _scope_of(metric: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in metric.items() if k in {"job", "scope"}))


def test_scoped_rule_sets_share_one_prometheus_without_moving(tmp_path: Path) -> None:
    """Five generated rule sets in one real Prometheus (two scraped jobs with 40% and 0% incomplete
    runs, plus one under another namespace): every recorded ratio carries its set's scope labels
    (the selector's equality matchers, or the scope name), every set's ratio is exact and stays
    exact over 15 s of evaluations (before scoping, two sets wrote the same unlabelled series and
    it alternated between their values), no rule fails, and the incomplete page alerts (pending:
    40% burns the 6h/30m pair) exist for the 40% sets only, each with its scope's labels."""
    rules = {name: _dashgen.build_rules(**options) for name, options in RULE_SETS.items()}  # type: ignore[arg-type]
    with (
        _exporter(_FakeRunwatch(FORTY, extras=False)) as a,
        _exporter(_FakeRunwatch(ZERO, extras=False)) as b,
        _exporter(_FakeRunwatch(FORTY, prefix="llm", extras=False)) as c,
        prometheus({"a": a, "b": b, "c": c}, rules, tmp_path) as url,
    ):
        record = "api:runwatch_runs_incomplete:ratio_rate5m"

        def all_recorded() -> dict[tuple[tuple[str, str], ...], float] | None:
            found = {_scope_of(r["metric"]): float(r["value"][1]) for r in query(url, record)}
            return found if set(found) == set(SCOPED_RATIOS) else None

        poll("every set's ratio recorded", all_recorded, DEADLINE_S)
        start = time.time()
        poll("15 s of evaluations", lambda: time.time() - start > 15, 60)
        series = query(url, f"{record}[15s]")
        assert len(series) == len(SCOPED_RATIOS), [s["metric"] for s in series]
        for s in series:
            want = SCOPED_RATIOS[_scope_of(s["metric"])]
            got = sorted({float(v) for _, v in s["values"]})
            assert all(abs(v - want) < 1e-12 for v in got), (s["metric"], got)
            assert len(s["values"]) >= 10, s  # evaluated every second
            assert set(s["metric"]) <= {"__name__", "api", "job", "scope"}, s["metric"]

        groups = get_json(url, "/api/v1/rules")["groups"]
        broken = [
            (g["file"], r["name"], r.get("lastError"))
            for g in groups
            for r in g["rules"]
            if r["health"] != "ok"
        ]
        assert not broken, broken

        page = 'ALERTS{alertname="RunwatchIncompleteRatioBurnPage"}'

        def pages() -> set[tuple[tuple[str, str], ...]] | None:
            found = {_scope_of(r["metric"]) for r in query(url, page)}
            return found if found == {(("job", "a"),), (("scope", "ra"),), (("job", "c"),)} else None

        poll("incomplete pages pending for the 40% sets only", pages, DEADLINE_S)
        for r in query(url, page):
            labels = r["metric"]
            assert (labels["long"], labels["short"], labels["slo"]) == ("6h", "30m", "incomplete"), labels
