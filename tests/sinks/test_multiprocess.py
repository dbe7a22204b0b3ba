"""PrometheusSink in prometheus-client multiprocess mode (gunicorn-style worker processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

WORKERS = 3
RUNS = 40

# Runs in a fresh interpreter: prometheus-client picks its value class at import time, so the
# environment variable must be set before the worker imports it.
WORKER = textwrap.dedent(
    """
    import sys
    from runwatch._events import (
        FirstToken, Outcome, Phase, PhaseEnded, PhaseStarted, RequestFailed, Run, RunFinished,
        RunStarted, ToolCall, Usage,
    )
    from runwatch.sinks.prometheus import PrometheusSink

    worker, runs = int(sys.argv[1]), int(sys.argv[2])
    sink = PrometheusSink()  # the default registry, as a real worker would
    open_runs = []
    for i in range(runs):
        run = Run(api="responses", started_at=100.0, model="gpt-4o", run_id=f"resp_{worker}_{i}")
        # A trace id as the OTel sink would leave it: exemplars must be skipped, not crash.
        run.scratch["trace_id"] = "0af7651916cd43dd8448eb211c80319c"
        sink(RunStarted(run, 100.0))
        item = Phase("output_item", "output_item message", 100.0, key="msg")
        sink(PhaseStarted(run, item, 100.0))
        run.first_token_at = 100.5
        sink(FirstToken(run, 100.5))
        sink(ToolCall(run, "function", 100.6))
        item.ended_at = 101.0
        sink(PhaseEnded(run, item, 101.0))
        open_runs.append(run)
        # A request error per run (not a run), and a transport failure every other run.
        sink(RequestFailed("responses", 429, "rate_limit_exceeded", i % 3, 99.0, 99.5, model="gpt-4o"))
        if i % 2:
            sink(RequestFailed("responses", None, "timeout", 0, 99.0, 100.0))
    # Finish them in a second pass so the gauge really was > 0 in every process meanwhile.
    for i, run in enumerate(open_runs):
        run.usage = Usage(input=10, output=3)
        run.ended_at = 102.0
        outcome = Outcome("completed") if i % 2 else Outcome("incomplete", "max_output_tokens")
        sink(RunFinished(run, outcome, 102.0))
    """
)


def run_worker(worker: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(worker), str(RUNS)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_multiprocess_sums(tmp_path: Path) -> None:
    """Three worker processes each feed RUNS runs (and request errors) into a default-registry
    PrometheusSink with PROMETHEUS_MULTIPROC_DIR set; MultiProcessCollector sums them exactly,
    request errors included, and the livesum in-progress gauge aggregates to 0."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONWARNINGS": "error"}
    procs = [run_worker(w, env) for w in range(WORKERS)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    assert len(list(tmp_path.glob("*.db"))) >= WORKERS

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    total = WORKERS * RUNS
    labels = {"api": "responses", "model": "gpt-4o"}
    assert value("runwatch_runs_started_total", **labels) == total
    assert value("runwatch_runs_total", **labels, status="completed", reason="none") == total / 2
    assert value("runwatch_runs_total", **labels, status="incomplete", reason="max_output_tokens") == (
        total / 2
    )
    assert value("runwatch_run_duration_seconds_count", **labels, status="completed") == total / 2
    assert value("runwatch_run_duration_seconds_sum", **labels, status="incomplete") == 2.0 * total / 2
    assert value("runwatch_time_to_first_token_seconds_count", **labels) == total
    assert value("runwatch_phase_duration_seconds_count", api="responses", phase="output_item") == total
    assert value("runwatch_tool_calls_total", api="responses", tool_type="function") == total
    assert value("runwatch_tokens_total", **labels, type="input") == 10 * total
    assert value("runwatch_tokens_total", **labels, type="output") == 3 * total
    assert value("runwatch_runs_in_progress", api="responses") == 0
    errors = {"api": "responses", "status_code": "429", "code": "rate_limit_exceeded"}
    assert value("runwatch_request_errors_total", **errors) == total
    errors = {"api": "responses", "status_code": "transport", "code": "timeout"}
    assert value("runwatch_request_errors_total", **errors) == total / 2


def test_multiprocess_gauge_counts_open_runs(tmp_path: Path) -> None:
    """The in-progress gauge is a livesum: runs open in several processes add up."""
    script = textwrap.dedent(
        """
        from runwatch._events import Run, RunStarted
        from runwatch.sinks.prometheus import PrometheusSink
        sink = PrometheusSink()
        for _ in range(2):
            sink(RunStarted(Run(api="chat", started_at=1.0), 1.0))
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONWARNINGS": "error"}
    for _ in range(WORKERS):
        subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))
    # The processes exited without mark_process_dead, so their live values are still summed.
    assert registry.get_sample_value("runwatch_runs_in_progress", {"api": "chat"}) == 2 * WORKERS
