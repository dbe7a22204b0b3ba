"""A demo that teaches: the default run starts with the seed case and shows every headline outcome
of every api; after the summary come one incomplete run's span tree and its ``run.finished`` log
line, which SDK call raised which exception on which outcome, and the next steps. Plans are made
one at a time and the example is kept in bounded memory, so ``--runs`` of any size starts at once."""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import threading
import time
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from runwatch.demo import cli, driver, explain
from runwatch.demo.scenarios import DEFAULT_MIX, SCENARIOS, TOUR, Mix, expected_outcome

FAST = "200"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="runwatch demo")
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_tour_starts_with_the_seed_case_and_covers_every_outcome_of_every_api() -> None:
    """The tour's first run is an Assistants run ending incomplete, streamed through an event
    handler (openai-node's "Final run has not been received"); together the tour reaches every
    status every api can end in (as SCENARIOS declares them), each by a code path the driver has
    for that scenario."""
    api, scenario, style = TOUR[0]
    assert (api, style) == ("assistants", "handler")
    assert expected_outcome(api, scenario)[0] == "incomplete"
    every = {(a, status) for a, table in SCENARIOS.items() for status, _ in table.values()}
    assert {(a, expected_outcome(a, s)[0]) for a, s, _ in TOUR} == every
    for a, s, st in TOUR:
        assert st in driver._styles(a, s), (a, s, st)


@pytest.mark.parametrize(
    ("runs", "tour", "expect_first"),
    [
        pytest.param(3, True, [t[:2] for t in TOUR[:3]], id="tour-cut-short-keeps-the-seed-case-first"),
        pytest.param(len(TOUR) + 5, True, [t[:2] for t in TOUR], id="tour-then-the-mix"),
        pytest.param(5, False, None, id="no-tour-with-a-chosen-mix"),
    ],
)
def test_plans_follow_the_tour_then_the_mix(runs: int, tour: bool, expect_first: Any) -> None:
    """``runs`` plans exactly; with the tour they start with it (cut to ``runs``), then seeded
    picks from the mix; without it, only picks."""
    mix = Mix.parse(DEFAULT_MIX)
    made = list(driver.plans(mix, runs, random.Random(0), tour=tour))
    assert len(made) == runs
    if expect_first is not None:
        assert [(p.api, p.scenario) for p in made[: len(expect_first)]] == expect_first
    else:
        assert made == driver.make_plan(mix, runs, random.Random(0))


def test_plans_are_made_one_at_a_time() -> None:
    """A trillion runs (or no end, for --serve) yields its first plans at once: nothing is built
    up front, which is what lets ``--runs`` of any size start immediately in constant memory."""
    mix = Mix.parse(DEFAULT_MIX)
    for runs in (10**12, None):
        gen = driver.plans(mix, runs, random.Random(0), tour=True)
        assert not isinstance(gen, list | tuple)
        first = list(itertools.islice(gen, len(TOUR) + 100))
        assert len(first) == len(TOUR) + 100


def _run_span(tracer: Any, api: str, status: str, phases: int = 2) -> None:
    with tracer.start_as_current_span(f"run {api}") as run:
        for i in range(phases):
            with tracer.start_as_current_span(f"phase {i}"):
                pass
        run.set_attribute("openai.api.type", api)
        run.set_attribute("runwatch.run.status", status)


def test_example_spans_keep_one_run_in_bounded_memory() -> None:
    """Thousands of runs through the processor: it holds no finished trace but the example, and
    the example is the best seen (an Assistants incomplete beats a chat incomplete seen earlier,
    which beats a failed run); a failed request's lone span is no example."""
    example = explain.ExampleSpans()
    provider = TracerProvider()
    provider.add_span_processor(example)
    tracer = provider.get_tracer("test")
    _run_span(tracer, "responses", "failed")
    assert example.spans[-1].attributes["runwatch.run.status"] == "failed"
    with tracer.start_as_current_span("chat gpt-4o"):  # a request error: no run status
        pass
    for i in range(3000):
        _run_span(tracer, "chat", ["completed", "incomplete"][i == 10])
    assert example.spans[-1].attributes["openai.api.type"] == "chat"
    _run_span(tracer, "assistants", "incomplete", phases=3)
    for _ in range(1000):
        _run_span(tracer, "chat", "incomplete")
    assert example._open == {}, "finished traces must not stay buffered"
    assert [s.name for s in example.spans] == ["phase 0", "phase 1", "phase 2", "run assistants"]
    assert len({s.context.trace_id for s in example.spans}) == 1


def test_default_demo_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    """``runwatch demo`` with the default mix and as many runs as the tour: the summary has every
    headline outcome of every api; then the seed case's span tree (run span with status and
    reason, phase children), its run.finished log line (same run id, same trace), which SDK call
    raised which exception on which outcome, and the next steps with this server's base_url."""
    provider = TracerProvider()
    args = parse("--runs", str(len(TOUR)), "--speed", FAST, "--seed", "3")
    assert cli.run(args, registry=CollectorRegistry(), tracer_provider=provider) == 0
    captured = capsys.readouterr()
    out = captured.out
    table, _, rest = out.partition("\nOne incomplete run as your tracing backend shows it (span tree):\n")
    assert rest, out
    rows = {tuple(line.split()[:2]) for line in table.splitlines()[1:] if line and not line.startswith(" ")}
    every = {(a, status) for a, t in SCENARIOS.items() for status, _ in t.values()}
    assert every <= rows

    tree, _, rest = rest.partition("\n\nand as your logs show it (structlog, run.finished):\n")
    tree_lines = tree.splitlines()
    assert tree_lines[0].strip().startswith("invoke_agent asst_demo")
    assert "runwatch.run.status=incomplete" in tree
    assert "runwatch.run.reason=max_completion_tokens" in tree
    assert [ln.split()[1] for ln in tree_lines if "─ " in ln] == ["queued", "in_progress", "message_creation"]
    run_id = re.search(r"gen_ai\.response\.id=(\S+)", tree).group(1)  # type: ignore[union-attr]

    log_line, _, rest = rest.partition("\n\n")
    assert "run.finished" in log_line
    assert "status=incomplete" in log_line
    assert f"run_id={run_id}" in log_line

    assert "SDK exceptions the app had to catch" in rest
    assert (
        "responses run ending incomplete/max_output_tokens: responses.stream() ... get_final_response() "
        "raised RuntimeError" in rest
    )
    api_url = re.search(r"API (http://127\.0\.0\.1:\d+/v1)", captured.err).group(1)  # type: ignore[union-attr]
    steps = rest[rest.index("Next steps") :]
    assert f'base_url="{api_url}"' in steps
    for needle in ("OTEL_TRACES_EXPORTER=console", "/metrics", "dashboards/rules.yml", "--serve"):
        assert needle in steps


def test_json_carries_the_example_and_the_exceptions(capsys: pytest.CaptureFixture[str]) -> None:
    """--json has what the text shows: the example run's tree and log line, and each SDK exception
    with its api, call, outcome, count and message."""
    args = parse("--runs", str(len(TOUR)), "--speed", FAST, "--json")
    assert cli.run(args, registry=CollectorRegistry(), tracer_provider=TracerProvider()) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["example_run"]["spans"][0].strip().startswith("invoke_agent")
    assert "run.finished" in out["example_run"]["log"]
    helper = [e for e in out["sdk_exceptions"] if e["call"].startswith("responses.stream()")]
    assert helper
    assert helper[0]["exception"] == "RuntimeError"
    assert helper[0]["status"] == "incomplete"
    assert helper[0]["message"]
    assert out["interrupted"] is False


def test_stopped_early_exits_130_with_a_partial_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """Stopping a finite demo (what Ctrl-C does) stops new runs, cuts the ones in flight, prints
    the summary of what ran and exits 130; nothing raises."""
    stop = threading.Event()
    args = parse("--runs", str(10**9), "--speed", "5", "--concurrency", "2")
    threading.Timer(1.5, stop.set).start()
    started = time.monotonic()
    assert cli.run(args, registry=CollectorRegistry(), tracer_provider=TracerProvider(), stop=stop) == 130
    captured = capsys.readouterr()
    assert time.monotonic() - started < 60  # a bound against hanging, not a timing target
    assert "p50 dur" in captured.out
    assert re.search(r"interrupted after \d+ of 1000000000 runs", captured.err)
    assert "Traceback" not in captured.err


def test_serve_says_how_to_stop_and_where_to_point_a_client(capsys: pytest.CaptureFixture[str]) -> None:
    """--serve prints, as it starts, how to stop it and the base_url line for your own client."""
    stop = threading.Event()
    stop.set()  # stop at once: only the start-up lines matter here
    args = parse("--serve", "--speed", FAST)
    assert cli.run(args, registry=CollectorRegistry(), tracer_provider=TracerProvider(), stop=stop) == 0
    err = capsys.readouterr().err
    assert "until Ctrl-C (SIGINT) or SIGTERM" in err
    assert re.search(r'base_url="http://127\.0\.0\.1:\d+/v1"', err)


def test_tracer_provider_passed_in_still_receives_every_span() -> None:
    """The example processor is added beside the caller's own processors, not instead of them."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    args = parse("--runs", "4", "--speed", FAST, "--mix", "chat/completed=1", "--json")
    assert cli.run(args, registry=CollectorRegistry(), tracer_provider=provider) == 0
    assert len([s for s in exporter.get_finished_spans() if s.name.startswith("chat")]) == 4
    assert trace.get_tracer_provider() is not provider
