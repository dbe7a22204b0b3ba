"""The benchmark's contract floor (``benchmarks/run.py``: ``ContractFloor``) makes exactly the records
runwatch makes for a run, straight on the libraries: no span, attribute, log field or metric update
fewer, or its row would understate what the contract costs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> Any:
    path = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location("runwatch_bench_run", BENCH / "run.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # puts benchmarks/ on sys.path for its harness
        yield module
        module._DEVNULL.close()
    finally:
        sys.path[:] = path


def _shape(spans: list[Any]) -> list[tuple[Any, ...]]:
    """Each span as what it says and whose child it is, in a fixed order (spans that start at the
    same time have no order of their own)."""
    names = {s.context.span_id: s.name for s in spans}
    shapes = [
        (
            s.name,
            s.kind,
            sorted(dict(s.attributes or {}).items()),
            names.get(s.parent.span_id, "?") if s.parent is not None else None,
            s.status.status_code,
            s.status.description,
            [(e.name, dict(e.attributes or {})) for e in s.events],
            (s.end_time or 0) - (s.start_time or 0),
        )
        for s in spans
    ]
    return sorted(shapes, key=repr)


@pytest.mark.parametrize("api", ["responses", "chat", "assistants"])
def test_the_floor_replays_every_record_of_a_run(bench: Any, api: str) -> None:
    floor = bench.ContractFloor(api, 20, metrics_only=False)
    spans_per_run = {"responses": 3, "chat": 1, "assistants": 4}[api]
    assert len(floor.recorded_spans) == spans_per_run
    assert [(m, e) for m, e, _ in floor.log_calls] == [("info", "run.finished")]
    assert floor.recorded_metrics, "the recorded run updated no metric"

    bench.SPANS.clear()
    before = bench.samples(floor.registry)
    with structlog.testing.capture_logs() as logged:
        floor.logger = structlog.get_logger()
        floor.replay()
    bench.SPANS.flush()
    replayed = sorted(bench.SPANS.exporter.get_finished_spans(), key=lambda s: s.start_time or 0)

    assert _shape(replayed) == _shape(floor.recorded_spans)
    assert [{k: v for k, v in e.items() if k != "log_level"} for e in logged] == [
        {"event": event, **fields} for _, event, fields in floor.log_calls
    ]
    assert bench.samples_changed(before, bench.samples(floor.registry)) == floor.recorded_metrics


def test_the_metrics_floor_replays_a_metrics_only_run(bench: Any) -> None:
    floor = bench.ContractFloor("responses", 20, metrics_only=True)
    assert floor.spans == []
    assert floor.log_calls == []
    before = bench.samples(floor.registry)
    floor.replay()
    changed = bench.samples_changed(before, bench.samples(floor.registry))
    assert changed == floor.recorded_metrics
    assert any(name == "runwatch_runs_total" for name, _ in changed)
