"""``runwatch demo`` end to end: the real SDK against the demo server, observed by runwatch. What
the server was told to produce is what the summary, the /metrics samples and the spans report."""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
import urllib.request
from collections import Counter
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from runwatch.demo import cli
from runwatch.demo.driver import quantile

FAST = "200"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="runwatch demo")
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def outcome_counts(rows: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    return Counter({(r["api"], r["status"], r["reason"]): r["count"] for r in rows})


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    return tp


def test_seeded_demo_reports_exactly_what_the_server_produced(
    capsys: pytest.CaptureFixture[str], provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """40 seeded runs over all four APIs: the JSON summary, the /metrics exposition of the same
    registry and the exported run spans all agree with the scenarios the server was told to serve."""
    registry = CollectorRegistry()
    mix = (
        "completed=40,requires_action=10,incomplete:max_output_tokens=10,incomplete:length=10,"
        "failed:max_output_tokens=10,failed:server_error=10,incomplete:max_completion_tokens=10"
    )
    args = parse("--runs", "40", "--seed", "1", "--json", "--speed", FAST, "--concurrency", "4", "--mix", mix)
    assert cli.run(args, registry=registry, tracer_provider=provider) == 0
    out = json.loads(capsys.readouterr().out)

    requested = outcome_counts(out["requested"])
    assert sum(requested.values()) == 40
    assert {api for api, _, _ in requested} == {"assistants", "responses", "chat", "agents"}
    # The summary (from the registry) matches the request exactly.
    assert out["runs"] == 40
    assert outcome_counts(out["outcomes"]) == requested

    # /metrics serves the same registry: its runwatch_runs_total samples say the same.
    scraped: Counter[tuple[str, str, str]] = Counter()
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            if sample.name == "runwatch_runs_total":
                scraped[(sample.labels["api"], sample.labels["status"], sample.labels["reason"])] += int(
                    sample.value
                )
    assert +scraped == requested

    # One finished run span per run, with the same status and reason.
    spans = [
        s for s in exporter.get_finished_spans() if s.attributes and "runwatch.run.status" in s.attributes
    ]
    by_span = Counter(
        (
            str(s.attributes.get("openai.api.type")),
            str(s.attributes["runwatch.run.status"]),
            str(s.attributes.get("runwatch.run.incomplete_reason", s.attributes.get("error.type", "none"))),
        )
        for s in spans
    )
    assert len(spans) == 40
    assert Counter((a, st) for a, st, _ in by_span.elements()) == Counter(
        (a, st) for a, st, _ in requested.elements()
    )

    # Latency quantiles exist for every api that ran.
    for api in ("assistants", "responses", "chat", "agents"):
        assert out["latency_seconds"][api]["duration_p50"] is not None


def test_plain_summary_table(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json: a table on stdout, plain progress lines (stderr is not a TTY) on stderr."""
    args = parse(
        "--runs", "8", "--seed", "2", "--speed", FAST, "--mix", "chat/completed=1,chat/incomplete:length=1"
    )
    assert cli.run(args, registry=CollectorRegistry()) == 0
    captured = capsys.readouterr()
    assert "p50 dur" in captured.out
    assert "8 runs" in captured.out
    assert "\r" not in captured.err
    assert "runwatch demo: 8/8 runs" in captured.err


def test_serve_keeps_traffic_flowing_and_serves_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    """--serve drives runs until stopped; /metrics is scrapeable on loopback meanwhile."""
    registry = CollectorRegistry()
    stop = threading.Event()
    args = parse("--serve", "--runs", "5", "--speed", FAST, "--mix", "responses/completed=1", "--json")
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(cli.run(args, registry=registry, stop=stop)))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        url = None
        while url is None and time.monotonic() < deadline:
            time.sleep(0.05)
            for line in capsys.readouterr().err.splitlines():
                if "metrics http://" in line:
                    url = line.split("metrics ", 1)[1].strip()
        assert url is not None
        body = ""
        while time.monotonic() < deadline:
            body = urllib.request.urlopen(url, timeout=5).read().decode()
            if 'runwatch_runs_total{api="responses"' in body and 'status="completed"' in body:
                break
            time.sleep(0.05)
        assert 'runwatch_runs_total{api="responses"' in body
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert result == [0]
    out = json.loads(capsys.readouterr().out)
    assert out["runs"] > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--runs", "-1"], "--runs must be >= 0", id="negative-runs"),
        pytest.param(["--concurrency", "0"], "--concurrency must be >= 1", id="concurrency"),
        pytest.param(["--speed", "0"], "--speed must be a positive", id="speed"),
        pytest.param(
            ["--mix", "completed=1,bogus=1"], "--mix: unknown scenario 'bogus'", id="unknown-scenario"
        ),
        pytest.param(["--metrics-port", "70000"], "--metrics-port must be between", id="port-range"),
    ],
)
def test_bad_options_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.run(parse(*argv), registry=CollectorRegistry()) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_busy_metrics_port_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        code = cli.run(parse("--runs", "1", "--metrics-port", str(port)), registry=CollectorRegistry())
    assert code == 2
    assert f"cannot serve /metrics on 127.0.0.1:{port}" in capsys.readouterr().err


def test_busy_server_port_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        code = cli.run(parse("--runs", "1", "--port", str(port)), registry=CollectorRegistry())
    assert code == 2
    assert "cannot start the demo server" in capsys.readouterr().err


def test_otlp_without_exporter_installed_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT without the optional exporter: a clear message, exit 2. The
    exporter is installed here (runwatch[otlp] is a dev dependency), so its absence is simulated:
    a None entry in sys.modules makes the import fail as a missing package does."""
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert cli.run(parse("--runs", "1"), registry=CollectorRegistry()) == 2
    assert "pip install 'runwatch[otlp]'" in capsys.readouterr().err


def test_console_exporter_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """OTEL_TRACES_EXPORTER=console prints spans on stderr (stdout stays clean JSON)."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    args = parse("--runs", "2", "--speed", FAST, "--json", "--mix", "chat/completed=1")
    assert cli.run(args, registry=CollectorRegistry()) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["runs"] == 2
    assert '"runwatch.run.status"' in captured.err


def test_quantile_matches_prometheus_histogram_quantile() -> None:
    buckets = [(0.1, 0.0), (0.2, 5.0), (0.4, 10.0), (float("inf"), 10.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.2)
    assert quantile(0.75, buckets) == pytest.approx(0.3)
    assert quantile(0.5, [(float("inf"), 0.0)]) is None
    assert quantile(0.99, [(0.1, 1.0), (float("inf"), 2.0)]) == 0.1
