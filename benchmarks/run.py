"""runwatch benchmarks: cost per run, the snapshot read, overhead of the full path, core
throughput, memory, concurrency, peers.

    ./dev bench            # full run (10,000-event streams, 7 interleaved repetitions)
    ./dev bench --quick    # short run (2,000-event streams, 3 repetitions)
    ./dev bench --json     # also print every measurement as JSON at the end
    ./dev bench --only perrun --instructions   # per-run rows, also in instructions (valgrind)
    ./dev bench --only perrun --instructions --cache-sim   # ... and simulated last-level misses
    ./dev bench --only peers --instructions --cache-sim    # the peers counted the same way too

Spans go through a BatchSpanProcessor, as in production, flushed inside each timed repetition.

Everything printed is measured in this process run (memory and peers in subprocesses it starts);
targets are compared here, never in unit tests. Streams are served by ``httpx2.MockTransport`` with
a generator body cut into 2 KiB chunks (frames split across chunks, as on a real socket), so the
real openai SDK parses every event the way it would in production.

Bare and instrumented repetitions are interleaved (A B A B ...) on fresh clients and the medians are
compared; "paired" numbers are the median of the differences of adjacent A/B pairs, which cancels
slow drift in machine load. Expect noise on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import harness  # noqa: E402
import httpx2  # noqa: E402
import openai  # noqa: E402
import structlog  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

import runwatch  # noqa: E402
from runwatch.builders import assistants_run, chat_stream, responses_stream  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)  # the SDK's Assistants warning

CHUNK = 2048
TARGET_OVERHEAD_PCT = 3.0
TARGET_CORE_EPS = 500_000
_DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


# -- fixtures -----------------------------------------------------------------------------------
def chunks(body: bytes, size: int) -> Iterator[bytes]:
    if size <= 0:  # one frame per chunk
        for part in body.split(b"\n\n")[:-1]:
            yield part + b"\n\n"
        return
    for i in range(0, len(body), size):
        yield body[i : i + size]


async def achunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for c in chunks(body, size):
        yield c


def sse_response(body: bytes, size: int) -> httpx2.Response:
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=chunks(body, size))


def sync_client(body: bytes, size: int = CHUNK) -> openai.OpenAI:
    transport = httpx2.MockTransport(lambda request: sse_response(body, size))
    return openai.OpenAI(
        api_key="sk-bench", base_url="http://bench.invalid/v1", http_client=httpx2.Client(transport=transport)
    )


def async_client(body: bytes | list[bytes], size: int = CHUNK) -> openai.AsyncOpenAI:
    """A client serving ``body`` (or the bodies of a list in turn, one per request)."""
    served = iter(body if isinstance(body, list) else [])

    async def handler(request: httpx2.Request) -> httpx2.Response:
        b = next(served) if isinstance(body, list) else body
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=achunks(b, size))

    transport = httpx2.MockTransport(handler)
    return openai.AsyncOpenAI(
        api_key="sk-bench",
        base_url="http://bench.invalid/v1",
        http_client=httpx2.AsyncClient(transport=transport),
        max_retries=0,
    )


def json_logger() -> Any:
    """A production-like structlog set-up: JSON lines at info level, to /dev/null. (structlog's
    default development renderer, with colours and debug on, costs ~0.5 ms more per run.)"""
    return structlog.wrap_logger(
        structlog.PrintLogger(_DEVNULL),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )


class Spans:
    """The process's one TracerProvider, as in production: a ``BatchSpanProcessor`` (export off
    the stream's thread, in batches) into an in-memory exporter. ``flush()`` exports what is
    queued; the benchmarks call it inside the timed region, so the export is paid for."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(BatchSpanProcessor(self.exporter))

    def flush(self) -> None:
        self.provider.force_flush()

    def clear(self) -> None:
        self.exporter.clear()


SPANS = Spans()


class AllSinks:
    """An observer with every built-in sink on: the shared BatchSpanProcessor (:data:`SPANS`), a
    fresh Prometheus registry, structlog JSON at info to /dev/null.

    A fresh one per instrumented repetition: the RunBook remembers recently finished run ids (a
    replayed id would rightly be treated as a duplicate observation and not tracked).
    """

    def __init__(self) -> None:
        self.exporter = SPANS.exporter
        self.registry = CollectorRegistry()
        self.observer = runwatch.Observer(
            registry=self.registry,
            tracer_provider=SPANS.provider,
            logger=json_logger(),
            raise_errors=False,
        )

    @staticmethod
    def flush() -> None:
        SPANS.flush()

    def _total(self, name: str) -> float:
        return sum(
            s.value
            for metric in self.registry.collect()
            if metric.name == name
            for s in metric.samples
            if s.name == name + "_total"
        )

    @property
    def internal_errors(self) -> float:
        return self._total("runwatch_internal_errors")

    @property
    def runs_finished(self) -> float:
        return self._total("runwatch_runs")


# Each scenario: (name, body builder, call that opens the stream on a client, events per stream).
def open_responses(client: Any) -> Any:
    return client.responses.create(model="gpt-4o", input="hi", stream=True)


def open_assistants(client: Any) -> Any:
    return client.beta.threads.runs.create("thread_demo0001", assistant_id="asst_demo0001", stream=True)


def open_chat(client: Any) -> Any:
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )


def bodies(events: int) -> dict[str, tuple[bytes, Callable[[Any], Any]]]:
    return {
        "responses": (responses_stream(deltas=events), open_responses),
        "assistants": (assistants_run(deltas=events), open_assistants),
        "chat": (chat_stream(deltas=events), open_chat),
    }


def count_frames(body: bytes) -> int:
    return body.count(b"\n\n")


# -- 1. full-path overhead ------------------------------------------------------------------------
def consume(stream: Any) -> int:
    n = 0
    for _ in stream:
        n += 1
    return n


Prepared = Callable[[], Callable[[], int]]


def flushed(n: int) -> int:
    """Export the spans the BatchSpanProcessor holds (inside the timed region: its work is paid
    for by the repetition that caused it); returns ``n``."""
    SPANS.flush()
    SPANS.clear()
    return n


def timed(prepare: Prepared) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, events) for one prepared run."""
    fn = prepare()  # fresh client (and observer): built outside the timed region
    gc.collect()
    c0 = time.process_time()
    t0 = time.perf_counter()
    n = fn()
    return time.perf_counter() - t0, time.process_time() - c0, n


def interleave(bare: Prepared, inst: Prepared, reps: int) -> dict[str, Any]:
    timed(bare), timed(inst)  # warm-up (imports, first-call caches), not measured
    a: list[float] = []
    b: list[float] = []
    ca: list[float] = []
    cb: list[float] = []
    n = 0
    for i in range(reps):
        # Alternate which goes first so neither always runs on a "warmer" machine.
        order = ((bare, a, ca), (inst, b, cb)) if i % 2 == 0 else ((inst, b, cb), (bare, a, ca))
        for fn, out, cout in order:
            dt, cpu, n = timed(fn)
            out.append(dt)
            cout.append(cpu)
    mb, mi = statistics.median(a), statistics.median(b)
    paired = statistics.median([y - x for x, y in zip(a, b, strict=True)])
    paired_pct = statistics.median([(y / x - 1) * 100 for x, y in zip(a, b, strict=True)])
    cmb, cmi = statistics.median(ca), statistics.median(cb)
    return {
        "cpu_bare_s": cmb,
        "cpu_instrumented_s": cmi,
        "cpu_added_pct": (cmi / cmb - 1) * 100,
        "cpu_paired_added_pct": statistics.median([(y / x - 1) * 100 for x, y in zip(ca, cb, strict=True)]),
        "cpu_added_us_per_event": statistics.median([y - x for x, y in zip(ca, cb, strict=True)]) / n * 1e6,
        "events": n,
        "reps": reps,
        "bare_s": mb,
        "instrumented_s": mi,
        "added_pct": (mi / mb - 1) * 100,
        "paired_added_pct": paired_pct,
        "added_us_per_event": paired / n * 1e6,
        "bare_us_per_event": mb / n * 1e6,
        "bare_all": a,
        "instrumented_all": b,
    }


def full_path(events: int, reps: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    observed: list[AllSinks] = []
    for name, (body, opener) in bodies(events).items():
        # 2 KiB: a fast server or a proxy that buffers; one frame per chunk: a server that flushes
        # every event as it is generated (what a live stream at token rate looks like).
        sizes = [(CHUNK, "2KiB"), (0, "frame")]
        for size, label in sizes:

            def bare(body: bytes = body, opener: Any = opener, size: int = size) -> Callable[[], int]:
                client = sync_client(body, size)
                return lambda: consume(opener(client))

            def inst(body: bytes = body, opener: Any = opener, size: int = size) -> Callable[[], int]:
                sinks = AllSinks()
                client = runwatch.instrument(sync_client(body, size), sinks.observer)
                observed.append(sinks)
                return lambda: flushed(consume(opener(client)))

            results[f"{name} instrument ({label} chunks)"] = interleave(bare, inst, reps)
    # watch(): the SDK stream wrapped, no transport tap.
    for name in ("responses", "chat"):
        body, opener = bodies(events)[name]

        def wbare(body: bytes = body, opener: Any = opener) -> Callable[[], int]:
            client = sync_client(body)
            return lambda: consume(opener(client))

        def winst(body: bytes = body, opener: Any = opener) -> Callable[[], int]:
            sinks = AllSinks()
            observed.append(sinks)
            client = sync_client(body)
            return lambda: flushed(consume(runwatch.watch(opener(client), sinks.observer)))

        results[f"{name} watch() (2KiB chunks)"] = interleave(wbare, winst, reps)
    # Sanity: every instrumented repetition really observed its run, without internal errors.
    results["_check"] = {
        "instrumented_reps": len(observed),
        "runs_finished": sum(s.runs_finished for s in observed),
        "internal_errors": sum(s.internal_errors for s in observed),
    }
    return results


# -- 1b. non-streaming calls ---------------------------------------------------------------------
def _json_client(obj: dict[str, Any]) -> openai.OpenAI:
    """A client answering every request with ``obj`` as a JSON body streamed in 2 KiB chunks (a
    real socket's shape: the tap reads the body as the client does, not pre-read)."""
    body = json.dumps(obj).encode()

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "application/json"}, content=chunks(body, CHUNK))

    transport = httpx2.MockTransport(handler)
    return openai.OpenAI(
        api_key="sk-bench", base_url="http://bench.invalid/v1", http_client=httpx2.Client(transport=transport)
    )


def nonstreaming(calls: int, reps: int) -> dict[str, Any]:
    """``create`` without ``stream=True``: what runwatch adds per call (parsing the run object
    once more, a run's transitions through every sink). Each repetition makes ``calls`` calls."""
    from runwatch.builders import response_object

    text = "lorem ipsum dolor sit amet " * 40  # ~1 KiB answer
    chat_obj = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 19, "completion_tokens": 200, "total_tokens": 219},
    }
    resp_obj = response_object(
        response_id="resp_bench",
        model="gpt-4o-2024-08-06",
        status="completed",
        t0=1_760_000_000,
        background=False,
        output=[
            {
                "type": "message",
                "id": "msg_1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        usage={"input_tokens": 19, "output_tokens": 200, "total_tokens": 219},
    )
    cases = {
        "chat.completions.create": (
            chat_obj,
            lambda c: c.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            ),
        ),
        "responses.create": (resp_obj, lambda c: c.responses.create(model="gpt-4o", input="hi")),
    }
    results: dict[str, Any] = {}
    for name, (obj, call) in cases.items():

        def bare(obj: dict[str, Any] = obj, call: Any = call) -> Callable[[], int]:
            client = _json_client(obj)
            return lambda: sum(1 for _ in range(calls) if call(client) is not None)

        def inst(obj: dict[str, Any] = obj, call: Any = call) -> Callable[[], int]:
            client = runwatch.instrument(_json_client(obj), AllSinks().observer)
            return lambda: flushed(sum(1 for _ in range(calls) if call(client) is not None))

        results[f"{name} (non-streaming)"] = interleave(bare, inst, reps)
    return results


# -- 1c. cost per run -------------------------------------------------------------------------------
PER_RUN_SIZES = (100, 1_000)
TARGET_RUN_MS = 0.25  # all sinks, runwatch's CPU per run
TARGET_RUN_METRICS_MS = 0.1  # metrics only / default observer without an OTel SDK
TARGET_RATIO = {100: 1.03, 1_000: 1.01, 10_000: 1.03}  # all sinks, paired ratio against the bare SDK


def unique_bodies(api: str, events: int, count: int) -> list[bytes]:
    """``count`` streams of ``api`` with ``events`` deltas, each with its own run id (an id seen
    again is rightly a new run plus a ``duplicate_id`` anomaly: not what a typical run costs)."""
    if api == "responses":
        return [responses_stream(deltas=events, response_id=f"resp_b{i:06d}") for i in range(count)]
    if api == "chat":
        return [chat_stream(deltas=events, id=f"chatcmpl-b{i:06d}") for i in range(count)]
    return [assistants_run(deltas=events, run_id=f"run_b{i:06d}") for i in range(count)]


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``registry`` but the ``_created`` timestamps, by name and labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for m in registry.collect()
        for s in m.samples
        if not s.name.endswith("_created")
    }


def samples_changed(
    before: dict[tuple[str, tuple[tuple[str, str], ...]], float],
    after: dict[tuple[str, tuple[tuple[str, str], ...]], float],
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples that moved from ``before`` to ``after``, and by how much."""
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


class ContractFloor:
    """What the telemetry libraries alone cost for one run's records, with none of runwatch's code:
    the spans, log lines and Prometheus updates runwatch makes for one run of a stream are recorded
    once (after a warm-up run), then :meth:`replay` makes the same calls with the same arguments
    straight on the OpenTelemetry SDK (this process's provider: the batch processor the all-sinks
    rows use), structlog (the same JSON logger) and prometheus-client (the same label children).

    Replayed all at once after the stream's last event (one stretch of cold code, not one per
    lifecycle event), without runwatch's per-run ``bind`` or its debug calls: a lower bound. Any
    implementation that makes DESIGN.md's records for a run (three spans on a Responses run: the
    run, ``in_progress``, its output item) pays at least this, whatever it does to read the
    stream. ``metrics`` alone: the Prometheus updates of a metrics-only observer."""

    def __init__(self, api: str, events: int, metrics_only: bool) -> None:
        from opentelemetry import trace
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.trace import StatusCode
        from prometheus_client.metrics import Counter, Gauge, Histogram

        self._trace = trace
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        logs: list[tuple[str, dict[str, Any]]] = []

        def capture(logger: Any, method: str, event_dict: Any) -> Any:
            logs.append((method, dict(event_dict)))
            raise structlog.DropEvent

        logger = structlog.wrap_logger(
            structlog.PrintLogger(_DEVNULL),
            processors=[capture],
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        )
        registry = CollectorRegistry()  # not the row's: its replays are not runs to check
        if metrics_only:
            observer = runwatch.Observer(registry=registry, traces=False, logs=False, raise_errors=False)
        else:
            observer = runwatch.Observer(
                registry=registry, tracer_provider=provider, logger=logger, raise_errors=False
            )
        client = runwatch.instrument(harness.client(unique_bodies(api, events, 2)), observer)
        harness.consume(harness.OPENERS[api](client))  # warm-up: label children bound
        exporter.clear()
        logs.clear()
        calls: list[tuple[Any, str, tuple[Any, ...], dict[str, Any]]] = []
        patched = [
            (cls, name, getattr(cls, name))
            for cls, name in (
                (Counter, "inc"),
                (Gauge, "inc"),
                (Gauge, "dec"),
                (Gauge, "set"),
                (Histogram, "observe"),
            )
        ]

        def recorder(name: str, orig: Callable[..., Any]) -> Callable[..., Any]:
            def record(child: Any, *args: Any, **kwargs: Any) -> Any:
                calls.append((child, name, args, kwargs))
                return orig(child, *args, **kwargs)

            return record

        for cls, name, orig in patched:
            setattr(cls, name, recorder(name, orig))
        before = samples(registry)
        try:
            harness.consume(harness.OPENERS[api](client))
        finally:
            for cls, name, orig in patched:
                setattr(cls, name, orig)
        self.registry = registry
        #: What the recorded run changed in the registry (a replay must change the same).
        self.recorded_metrics = samples_changed(before, samples(registry))
        self.metric_calls = [(getattr(child, name), args, kwargs) for child, name, args, kwargs in calls]
        self.logger = json_logger()
        self.log_calls = [(m, f.pop("event"), f) for m, f in logs]
        spans = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time or 0)
        self.recorded_spans = spans
        index = {s.context.span_id: i for i, s in enumerate(spans)}
        end = max(s.end_time or 0 for s in spans) if spans else 0
        self.spans: list[tuple[int | None, str, Any, dict[str, Any], Any, int, int, list[Any]]] = []
        for s in spans:
            parent = index.get(s.parent.span_id) if s.parent is not None else None
            assert parent is None or parent < len(self.spans), "a parent starts before its children"
            status = s.status if s.status.status_code is not StatusCode.UNSET else None
            events_ = [(e.name, dict(e.attributes or {}), end - e.timestamp) for e in s.events]
            self.spans.append(
                (
                    parent,
                    s.name,
                    s.kind,
                    dict(s.attributes or {}),
                    status,
                    end - (s.start_time or 0),
                    end - (s.end_time or 0),
                    events_,
                )
            )
        self.tracer = SPANS.provider.get_tracer("runwatch.floor")

    def replay(self) -> None:
        """One run's records, made again straight on the libraries (see the class)."""
        if self.spans:
            now = time.time_ns()
            tracer, set_in = self.tracer, self._trace.set_span_in_context
            made: list[Any] = []
            for parent, name, kind, attrs, _status, start, _end, _events in self.spans:
                ctx = set_in(made[parent]) if parent is not None else None
                made.append(tracer.start_span(name, ctx, kind, attrs, start_time=now - start))
            for span, (_p, _n, _k, _a, status, _s, end, events_) in zip(
                reversed(made), reversed(self.spans), strict=True
            ):
                for name, attrs, at in events_:
                    span.add_event(name, attrs, timestamp=now - at)
                if status is not None:
                    span.set_status(status)
                span.end(end_time=now - end)
        for method, event, fields in self.log_calls:
            getattr(self.logger, method)(event, **fields)
        for fn, args, kwargs in self.metric_calls:
            fn(*args, **kwargs)


class PerRunCase:
    """The variants of one per-run row (each holds its own client and observer for the whole
    row): the bare SDK twice (the second says how far identical variants land apart), and
    runwatch with all sinks, with metrics only, and as the default observer without an OTel SDK;
    and the contract's floor (:class:`ContractFloor`): the bare SDK plus what the telemetry
    libraries alone cost for the records runwatch makes per run, all sinks' and metrics'."""

    NAMES = (
        "bare",
        "bare again",
        "all sinks",
        "metrics only",
        "default, no OTel SDK",
        "floor: all sinks",
        "floor: metrics",
    )

    def __init__(self, api: str, events: int, count: int) -> None:
        self.api, self.events = api, events
        self.bodies = unique_bodies(api, events, count)
        self.registries: list[CollectorRegistry] = []

    def _observer(self, name: str) -> runwatch.Observer:
        registry = CollectorRegistry()
        self.registries.append(registry)
        if name == "all sinks":
            return runwatch.Observer(
                registry=registry, tracer_provider=SPANS.provider, logger=json_logger(), raise_errors=False
            )
        if name == "metrics only":
            return runwatch.Observer(registry=registry, traces=False, logs=False, raise_errors=False)
        # The default observer's sinks with no OTel SDK in the process: the API's no-op tracer
        # (this process never sets a global tracer provider) and logs at info.
        return runwatch.Observer(registry=registry, logger=json_logger(), raise_errors=False)

    def variants(self) -> list[harness.Variant]:
        out = []
        for name in self.NAMES:
            client = harness.client(self.bodies)
            if name.startswith("bare"):
                out.append(harness.Variant(name, client))
                continue
            if name.startswith("floor"):
                floor = ContractFloor(self.api, self.events, metrics_only=name == "floor: metrics")
                if floor.spans:
                    out.append(harness.Variant(name, client, SPANS.flush, SPANS.clear, floor.replay))
                else:
                    out.append(harness.Variant(name, client, after=floor.replay))
                continue
            runwatch.instrument(client, self._observer(name))
            if name == "all sinks":
                out.append(harness.Variant(name, client, flush=SPANS.flush, reset=SPANS.clear))
            else:
                out.append(harness.Variant(name, client))
        return out

    def check(self) -> dict[str, float]:
        def total(name: str) -> float:
            return sum(
                s.value
                for r in self.registries
                for m in r.collect()
                if m.name == name
                for s in m.samples
                if s.name == name + "_total"
            )

        return {"runs_finished": total("runwatch_runs"), "internal_errors": total("runwatch_internal_errors")}


def runs_per_batch(events: int) -> int:
    return max(1, 2_000 // events)  # ~2,000 events a batch: ~0.15-0.3 s of SDK work here


def rounds_for(events: int, count: int) -> int:
    """Fewer rounds for 10,000-event streams (one run is ~2 s of SDK work here)."""
    return count if events < 10_000 else max(5, count // 3)


def per_run(sizes: tuple[int, ...], count: int, apis: tuple[str, ...]) -> dict[str, Any]:
    """CPU per run, runwatch's variants against the bare SDK, ``count`` rounds (see harness)."""
    out: dict[str, Any] = {}
    for api in apis:
        for events in sizes:
            per, n = runs_per_batch(events), rounds_for(events, count)
            case = PerRunCase(api, events, per * (n + 1))
            variants = case.variants()
            times = harness.rounds(variants, api, per, n)
            row: dict[str, Any] = {"events": variants[0].events[-1], "runs_per_batch": per, "rounds": n}
            for v in variants[1:]:
                row[v.name] = harness.compare(times["bare"], times[v.name])
            row["_check"] = case.check()
            row["_check"]["runs_expected"] = 3 * (per * n + 1)
            out[f"{api} {events}"] = row
    return out


def floor_replays(n: int = 400) -> dict[str, Any]:
    """The contract floor's replay alone (:class:`ContractFloor`, 100-event runs), timed with wall
    clock around each replay: hot (right after another) and cold (right after a 32 MiB copy that
    pushes every cache level out, as the SDK's own work between two stretches of an observer's
    partly does). Median and quartiles in µs; the span export (the batch processor's thread) is
    not in it. In place a run's records cost between the two."""
    junk = bytearray(32 << 20)
    out: dict[str, Any] = {}
    for api in ("responses", "chat", "assistants"):
        for name, metrics_only in (("floor: all sinks", False), ("floor: metrics", True)):
            floor = ContractFloor(api, 100, metrics_only=metrics_only)
            hot: list[int] = []
            cold: list[int] = []
            gc.collect()
            gc.disable()
            try:
                for i in range(n):
                    copy = bytes(junk)
                    t = time.perf_counter_ns()
                    floor.replay()
                    cold.append(time.perf_counter_ns() - t)
                    t = time.perf_counter_ns()
                    floor.replay()
                    hot.append(time.perf_counter_ns() - t)
                    del copy
                    if i % 50 == 49:
                        SPANS.flush()
                        SPANS.clear()
            finally:
                gc.enable()
            SPANS.flush()
            SPANS.clear()
            out[f"{api} 100 / {name}"] = {
                "spans": len(floor.spans),
                "metric_updates": len(floor.metric_calls),
                "log_lines": len(floor.log_calls),
                "hot_us": [q / 1e3 for q in statistics.quantiles(hot, n=4)],
                "cold_us": [q / 1e3 for q in statistics.quantiles(cold, n=4)],
            }
    return out


def print_floor_replays(out: dict[str, Any], rows: list[tuple[str, str, str, str]]) -> None:
    print("1c''. The records alone (the floor's replay: no SDK, no runwatch code), µs per run, median")
    print("     [quartiles] of 400: hot (right after another replay) and cold (after a 32 MiB copy);")
    print("     the span export is not in it. In place, a run's records cost between the two.")
    for key, r in out.items():
        hot, cold = r["hot_us"], r["cold_us"]
        what = f"{r['spans']} spans, {r['log_lines']} log line, {r['metric_updates']} metric updates"
        print(
            f"     {key:34} {what:46} hot {hot[1]:6.1f} [{hot[0]:.0f}, {hot[2]:.0f}]  "
            f"cold {cold[1]:6.1f} [{cold[0]:.0f}, {cold[2]:.0f}]"
        )
        api = key.split()[0]
        if api in ("responses", "chat"):
            target = TARGET_RUN_MS if key.endswith("all sinks") else TARGET_RUN_METRICS_MS
            rows.append(
                (
                    f"{key}: the records alone, no SDK, hot / cold",
                    f"(of {target} ms)",
                    f"{hot[1] / 1e3:.3f} / {cold[1] / 1e3:.3f} ms",
                    f"{hot[1] / 1e3 / target:.0%} / {cold[1] / 1e3 / target:.0%} of it",
                )
            )
    print()


def _per_run_instructions_child(api: str, events: int, runs: int) -> None:
    """Under callgrind (see harness.run_counted): every variant's instructions for ``runs`` runs."""
    harness.count_variants(PerRunCase(api, events, 2 * (runs + 1)).variants(), api, runs)


def per_run_instructions(
    sizes: tuple[int, ...], apis: tuple[str, ...], cache: bool = False
) -> dict[str, Any]:
    """Each per-run row's variants counted under callgrind: instructions per run, and with
    ``cache`` the simulated last-level misses per run (``harness.CACHES``)."""
    out: dict[str, Any] = {}
    for api in apis:
        for events in sizes:
            runs = max(1, 200 // events)
            counts = harness.run_counted(
                [sys.executable, __file__, "--_cg", api, str(events), str(runs)], timeout=7200, cache=cache
            )
            if isinstance(counts, str):
                out[f"{api} {events}"] = {"error": counts}
                continue
            out[f"{api} {events}"] = counted_row(counts, runs, PerRunCase.NAMES[1:], cache)
    return out


def counted_row(
    counts: dict[str, dict[str, int]], runs: int, names: tuple[str, ...], cache: bool
) -> dict[str, Any]:
    """Per run, each of ``names`` against the variant counted as "bare": instructions added (and
    the ratio), and with ``cache`` the simulated last-level misses added."""
    base = counts.get("bare", {})
    bare = base.get("Ir", 0) / runs
    row: dict[str, Any] = {"bare_per_run": bare, "runs": runs}
    if cache:
        row["bare_ll_per_run"] = base.get("LL", 0) / runs
    for name in names:
        if name in counts:
            mine = counts[name]["Ir"] / runs
            row[name] = {"added_per_run": mine - bare, "ratio": mine / bare if bare else 0.0}
            if cache:
                row[name]["ll_added_per_run"] = (counts[name]["LL"] - base.get("LL", 0)) / runs
    return row


# -- 1d. reading a terminal snapshot --------------------------------------------------------------
SNAPSHOT_TOKENS = (10, 10_000, 100_000)


class CountDecoded:
    """Counts the characters every ``json.loads`` of runwatch's is given while entered (the
    decoder's frames and ``_payload``'s outline), and how many calls."""

    def __init__(self) -> None:
        self.chars = self.calls = 0
        self._orig = json.loads

    def __call__(self, text: Any, *args: Any, **kwargs: Any) -> Any:
        self.chars += len(text)
        self.calls += 1
        return self._orig(text, *args, **kwargs)

    def __enter__(self) -> CountDecoded:
        from runwatch import _payload

        json.loads = self  # type: ignore[assignment]
        _payload._decode = self  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        from runwatch import _payload

        json.loads = self._orig
        _payload._decode = self._orig


def snapshot_reads(reps: int = 9) -> dict[str, Any]:
    """The terminal ``response.completed`` of a Responses stream whose answer is 10, 10,000 and
    100,000 tokens: (a) what runwatch's snapshot read costs (``_payload.outline`` of the frame's
    data, as ``StreamTracker._snapshot`` calls it), CPU best of ``reps`` x 200; (b) the whole
    terminal frame through a ``StreamSession`` already fed the rest of the stream (SSE decoding of
    the frame, every parse the tracker makes of it, no sinks), wall time best of ``reps``; and the characters
    handed to ``json.loads`` by each."""
    from runwatch import _payload

    out: dict[str, Any] = {}
    for tokens in SNAPSHOT_TOKENS:
        body = responses_stream(deltas=tokens)
        head, _, last = body.rstrip(b"\n").rpartition(b"\n\n")
        head += b"\n\n"
        terminal = last + b"\n\n"
        data = last.split(b"data: ", 1)[1].decode()
        best = float("inf")
        for _ in range(reps):
            c0 = time.process_time()
            for _ in range(200):
                _payload.outline(data)
            best = min(best, (time.process_time() - c0) / 200)
        with CountDecoded() as read:
            _payload.outline(data)
        frame_best = float("inf")
        frame_chars = 0
        for _ in range(reps):
            gc.collect()
            session = runwatch.Observer(metrics=False, traces=False, logs=False).stream("responses")
            for part in chunks(head, CHUNK):
                session.feed_bytes(part)
            with CountDecoded() as whole:
                # One call, too short for process_time's resolution here: wall time, best of reps.
                c0 = time.perf_counter()
                session.feed_bytes(terminal)
                frame_best = min(frame_best, time.perf_counter() - c0)
            frame_chars = whole.chars
            session.close()
        # And the whole stream: every character runwatch hands to json.loads from first byte to last.
        session = runwatch.Observer(metrics=False, traces=False, logs=False).stream("responses")
        with CountDecoded() as stream:
            for part in chunks(body, CHUNK):
                session.feed_bytes(part)
            session.close()
        out[f"{tokens}"] = {
            "stream_chars_decoded": stream.chars,
            "stream_json_calls": stream.calls,
            "frame_chars": len(data),
            "read_us": best * 1e6,
            "read_chars_decoded": read.chars,
            "frame_us": frame_best * 1e6,
            "frame_chars_decoded": frame_chars,
        }
    return out


def print_snapshot_reads(out: dict[str, Any], rows: list[tuple[str, str, str, str]]) -> None:
    print("1d. Reading the terminal snapshot (response.completed) of a 10 / 10,000 / 100,000-token")
    print("    answer: the snapshot read (StreamTracker._snapshot: _payload.outline of the frame's data),")
    print("    and the whole terminal frame through a StreamSession (decoding it, every parse the tracker")
    print("    makes of it): CPU best of 9 x 200 reads, wall best of 9 frames; chars handed to json.loads,")
    print("    and over the whole stream (every JSON read runwatch makes of it)")
    print(
        f"    {'answer tokens':>13} {'frame chars':>11} {'read us':>8} {'read chars decoded':>18} "
        f"{'frame us':>9} {'frame chars decoded':>19} {'stream chars decoded':>20}"
    )
    for tokens, r in out.items():
        print(
            f"    {int(tokens):>13,} {r['frame_chars']:>11,} {r['read_us']:>8.1f} "
            f"{r['read_chars_decoded']:>18,} {r['frame_us']:>9.1f} {r['frame_chars_decoded']:>19,} "
            f"{r['stream_chars_decoded']:>20,}"
        )
    small, big = out[str(SNAPSHOT_TOKENS[0])], out[str(SNAPSHOT_TOKENS[1])]
    ratio = big["read_us"] / small["read_us"]
    extra = big["read_chars_decoded"] - small["read_chars_decoded"]
    rows.append(
        (
            "terminal snapshot read, 10,000 vs 10-token answer",
            "about the same (<= 1.5x, chars decoded +-64)",
            f"{ratio:.2f}x, {extra:+,} chars decoded",
            verdict(ratio <= 1.5 and abs(extra) <= 64),
        )
    )
    rows.append(
        (
            "whole terminal frame, 10,000 vs 10-token answer",
            "none (decoding the frame is O(size))",
            f"{big['frame_us'] / small['frame_us']:.1f}x, "
            f"{big['frame_chars_decoded'] - small['frame_chars_decoded']:+,} chars decoded",
            "INFO",
        )
    )
    rows.append(
        (
            "whole stream, 10,000 vs 10-token answer: chars decoded",
            "none (every JSON read of the stream)",
            f"{small['stream_chars_decoded']:,} -> {big['stream_chars_decoded']:,}",
            "INFO",
        )
    )
    print()


# -- 2. core throughput -------------------------------------------------------------------------
def core(events: int, reps: int) -> dict[str, Any]:
    """Decoder + tracker on Responses delta frames, bytes in 2 KiB chunks, no SDK."""
    out: dict[str, Any] = {}
    body = responses_stream(deltas=events)
    parts = list(chunks(body, CHUNK))
    n = count_frames(body)
    for label, make in (
        ("decoder+tracker (no sinks)", lambda: runwatch.Observer(metrics=False, traces=False, logs=False)),
        ("decoder+tracker+all sinks", lambda: AllSinks().observer),
    ):
        times = []
        for _ in range(reps + 1):
            session = make().stream("responses")  # fresh observer: the run id repeats
            gc.collect()
            t0 = time.process_time()  # CPU time: the machine is shared
            for p in parts:
                session.feed_bytes(p)
            session.close()
            times.append(time.process_time() - t0)
        med = statistics.median(times[1:])
        out[label] = {"events": n, "median_s": med, "events_per_s": n / med}
    script = ROOT / "benchmarks" / "bench_core.py"
    if script.exists():  # the dedicated decoder+tracker benchmark: run it as is, keep its verdict lines
        proc = subprocess.run(
            [sys.executable, str(script), "--quick"], capture_output=True, text=True, check=False, timeout=900
        )
        lines = [ln.rstrip() for ln in proc.stdout.splitlines() if ln.strip()]
        out["bench_core"] = {
            "returncode": proc.returncode,
            "lines": [ln for ln in lines if "PASS" in ln or "FAIL" in ln or "ev/s" in ln or "events/s" in ln]
            or lines[-12:]
            or proc.stderr.strip().splitlines()[-3:],
        }
    else:
        out["bench_core"] = {"returncode": None, "lines": ["benchmarks/bench_core.py not present"]}
    return out


# -- 3. memory (subprocess per stream length: a clean ru_maxrss) ------------------------------------
def _mem_child(events: int, api: str) -> dict[str, Any]:
    body, opener = bodies(events)[api]

    def run(instrumented: bool, sample_every: int = 0) -> tuple[int, int]:
        client = sync_client(body)
        if instrumented:
            runwatch.instrument(client, AllSinks().observer)
        max_rw = 0
        i = 0
        for _ in opener(client):
            i += 1
            if sample_every and i % sample_every == 0:
                snap = tracemalloc.take_snapshot().filter_traces(
                    [tracemalloc.Filter(True, f"{ROOT}/src/runwatch/*")]
                )
                max_rw = max(max_rw, sum(s.size for s in snap.statistics("filename")))
        return i, max_rw

    run(True)  # warm-up: imports, first-call caches
    run(False)
    gc.collect()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run(True)
    gc.collect()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res: dict[str, Any] = {"events": count_frames(body), "maxrss_growth_kib": rss1 - rss0}
    for label, inst in (("bare", False), ("instrumented", True)):
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        run(inst)
        res[f"{label}_peak_kib"] = (tracemalloc.get_traced_memory()[1] - base) / 1024
        tracemalloc.stop()
    # runwatch's own live allocations, sampled 8 times during the stream, and what stays after it.
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, f"{ROOT}/src/runwatch/*")])
    _, max_rw = run(True, sample_every=max(1, events // 8))
    gc.collect()
    after = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, f"{ROOT}/src/runwatch/*")])
    tracemalloc.stop()
    b0 = sum(s.size for s in before.statistics("filename"))
    res["runwatch_live_max_bytes"] = max_rw - b0
    res["runwatch_retained_bytes"] = sum(s.size for s in after.statistics("filename")) - b0
    return res


def memory(lengths: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for api in ("responses", "chat"):
        for n in lengths:
            proc = subprocess.run(
                [sys.executable, __file__, "--_mem", str(n), api], capture_output=True, text=True, check=False
            )
            if proc.returncode != 0:
                out[f"{api} {n}"] = {"error": proc.stderr.strip().splitlines()[-1:]}
            else:
                out[f"{api} {n}"] = json.loads(proc.stdout)
    return out


# -- 4. concurrency -----------------------------------------------------------------------------
async def _gather(client: Any, streams: int) -> int:
    async def one() -> int:
        n = 0
        async for _ in await client.responses.create(model="gpt-4o", input="hi", stream=True):
            n += 1
        return n

    counts = await asyncio.gather(*(one() for _ in range(streams)))
    return sum(counts)


async def _sequential(client: Any, streams: int) -> int:
    n = 0
    for _ in range(streams):
        async for _ in await client.responses.create(model="gpt-4o", input="hi", stream=True):
            n += 1
    return n


class OwnTime:
    """runwatch's own time, accounted in place: every entry point the tap calls on a stream
    (``Observer.stream``, ``StreamSession.feed_bytes``, ``StreamSession.close``; sinks run inside
    them) is wrapped with ``perf_counter_ns``. Unlike bare-vs-instrumented differences, whose
    repetitions of 1,000 interleaved asyncio streams spread by ~10 % here, this resolves a
    microsecond per event. It misses what runwatch costs the SDK indirectly (its objects in the
    CPU caches and the garbage collector's work); the paired differences still report that."""

    def __init__(self) -> None:
        self.ns = 0
        self._saved: list[tuple[type, str, Any]] = []

    def __enter__(self) -> OwnTime:
        from runwatch._observer import Observer, StreamSession

        for cls, name in ((Observer, "stream"), (StreamSession, "feed_bytes"), (StreamSession, "close")):
            original = cls.__dict__[name]
            self._saved.append((cls, name, original))
            setattr(cls, name, self._timed(original))
        return self

    def _timed(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        clock = time.perf_counter_ns

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                self.ns += clock() - t0

        return timed

    def __exit__(self, *exc: object) -> None:
        for cls, name, original in self._saved:
            setattr(cls, name, original)
        self._saved.clear()


def concurrency(streams: int, per_stream: int, single_events: int, reps: int) -> dict[str, Any]:
    # Distinct response ids: each concurrent stream is its own run.
    small = [responses_stream(deltas=per_stream, response_id=f"resp_c{i:05d}") for i in range(streams)]
    big = [responses_stream(deltas=single_events)]
    out: dict[str, Any] = {}
    observed: list[AllSinks] = []
    own = OwnTime()
    # "Flat" compares like with like: the same short streams one after another, then all at once.
    # (A run has a fixed cost -- spans, log events, the JSON of its lifecycle events -- so short
    # streams cost more per event than one long stream whatever the concurrency.)
    for label, body, drive in (
        (f"async 1 stream x {count_frames(big[0])} events", big, _gather),
        (f"async {streams} sequential streams x {count_frames(small[0])} events", small, _sequential),
        (f"async {streams} concurrent streams x {count_frames(small[0])} events", small, _gather),
    ):

        def bare(body: list[bytes] = body, drive: Any = drive) -> Callable[[], int]:
            client = async_client(body)
            return lambda: asyncio.run(drive(client, len(body)))

        own_us: list[float] = []

        def inst(
            body: list[bytes] = body, drive: Any = drive, own_us: list[float] = own_us
        ) -> Callable[[], int]:
            sinks = AllSinks()
            observed.append(sinks)
            client = runwatch.instrument(async_client(body), sinks.observer)

            def go() -> int:
                own.ns = 0
                n = int(asyncio.run(drive(client, len(body))))
                own_us.append(own.ns / 1e3 / n)
                return flushed(n)

            return go

        with own:
            out[label] = interleave(bare, inst, reps)
        out[label]["own_us_per_event"] = statistics.median(own_us[1:])  # [0]: the warm-up
        out[label]["own_us_all"] = own_us[1:]
    out["_check"] = {
        "instrumented_reps": len(observed),
        "runs_finished": sum(s.runs_finished for s in observed),
        "internal_errors": sum(s.internal_errors for s in observed),
    }
    return out


# -- 5. peers -----------------------------------------------------------------------------------
PEERS = {
    "opentelemetry-instrumentation-openai-v2": "/tmp/peer-otelv2",
    "openinference-instrumentation-openai": "/tmp/peer-openinference",
    "opentelemetry-instrumentation-openai (OpenLLMetry)": "/tmp/peer-openllmetry",
    # The same v2 package with httpx added by hand: it imports httpx, which openai 3.x no longer
    # pulls in (it is built on httpx2).
    "opentelemetry-instrumentation-openai-v2 (+httpx installed)": "/tmp/peer-otelv2-httpx",
    "logfire": "/tmp/peer-logfire",
    "langfuse": "/tmp/peer-langfuse",
}


PEER_PACKAGES = {
    "/tmp/peer-otelv2": ["opentelemetry-instrumentation-openai-v2"],
    "/tmp/peer-openinference": ["openinference-instrumentation-openai"],
    "/tmp/peer-openllmetry": ["opentelemetry-instrumentation-openai"],
    "/tmp/peer-otelv2-httpx": ["opentelemetry-instrumentation-openai-v2", "httpx"],
    "/tmp/peer-logfire": ["logfire"],
    "/tmp/peer-langfuse": ["langfuse"],
}


def setup_peers() -> None:
    """Create each peer's venv with the same openai version as ours (``--setup-peers``)."""
    import venv

    for path, packages in PEER_PACKAGES.items():
        if (Path(path) / "bin" / "python").exists():
            continue
        print(f"   creating {path}: {' '.join(packages)}", flush=True)
        venv.create(path, with_pip=True)
        subprocess.run(
            [
                str(Path(path) / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                f"openai=={openai.__version__}",
                "opentelemetry-sdk",
                *packages,
            ],
            check=False,
            stdout=subprocess.DEVNULL,
        )


PEER_SIZES = (100, 1_000, 10_000)


def peer_bodies(sizes: tuple[int, ...]) -> dict[tuple[str, int], Path]:
    """One stream per API and size, in a file for the peers' processes."""
    tmp = Path("/tmp/runwatch-bench-bodies")
    tmp.mkdir(exist_ok=True)
    files = {}
    for api in ("responses", "chat"):
        for events in sizes:
            files[api, events] = tmp / f"{api}-{events}.sse"
            files[api, events].write_bytes(unique_bodies(api, events, 1)[0])
    return files


def peer_pythons(out: dict[str, Any]) -> Iterator[tuple[str, Path]]:
    """Each peer and its venv's python; a peer without a venv gets why in ``out`` instead."""
    for peer, venv in PEERS.items():
        py = Path(venv) / "bin" / "python"
        if py.exists():
            yield peer, py
        else:
            out[peer] = {"error": f"no venv at {venv} (run with --setup-peers)"}


def peers_counted(sizes: tuple[int, ...], cache: bool) -> dict[str, Any]:
    """Each peer's per-run rows counted under callgrind (``peers.py --counted`` in the peer's
    venv), as :func:`per_run_instructions` counts runwatch's: deterministic, so comparable across
    processes where CPU time on a noisy machine is not."""
    out: dict[str, Any] = {}
    files = peer_bodies(sizes)
    for peer, py in peer_pythons(out):
        for api in ("responses", "chat"):
            for events in sizes:
                runs = max(1, 200 // events)
                cmd = [str(py), str(ROOT / "benchmarks" / "peers.py"), "--counted", peer.split()[0], api]
                counts = harness.run_counted([*cmd, str(files[api, events]), str(runs)], 7200, cache=cache)
                if isinstance(counts, str):
                    out[f"{peer} / {api} {events}"] = {"error": counts}
                    break  # the other sizes would fail the same way
                out[f"{peer} / {api} {events}"] = counted_row(
                    counts, runs, ("bare again", "instrumented"), cache
                )
    return out


def print_peers_counted(
    pc: dict[str, Any], ours: dict[str, Any], rows: list[tuple[str, str, str, str]]
) -> None:
    print("5'. Peers counted (valgrind --tool=callgrind, as 1c'): instructions added per run and, with")
    print("    --cache-sim, simulated last-level misses added per run; 'noise' = bare again")

    def cell(r: dict[str, Any]) -> str:
        ll = f", {r['ll_added_per_run']:>+9,.0f} LL misses" if "ll_added_per_run" in r else ""
        return f"{r['added_per_run'] / 1e6:>+7.2f}M ({r['ratio']:.4f}){ll}"

    for key, mine in ours.items():
        if "error" in mine or "all sinks" not in mine:
            continue
        print(
            f"    {key:16} {'runwatch (all sinks)':52} {cell(mine['all sinks'])}  "
            f"noise {cell(mine['bare again'])}"
        )
        fewer = fewer_ll = True
        measured = 0
        for name, r in pc.items():
            if not name.endswith(f" / {key}"):
                continue
            if "error" in r:
                print(f"    {'':16} {name.split(' / ')[0]:52} CANNOT COUNT: {r['error']}")
                continue
            measured += 1
            print(
                f"    {'':16} {name.split(' / ')[0]:52} {cell(r['instrumented'])}  "
                f"noise {cell(r['bare again'])}"
            )
            fewer = fewer and mine["all sinks"]["added_per_run"] < r["instrumented"]["added_per_run"]
            if "ll_added_per_run" in r["instrumented"]:
                fewer_ll = (
                    fewer_ll and mine["all sinks"]["ll_added_per_run"] < r["instrumented"]["ll_added_per_run"]
                )
        if measured:
            rows.append(
                (
                    f"ahead of every peer, counted: {key} events",
                    "runwatch adds the least",
                    f"instructions {'fewest' if fewer else 'not fewest'}"
                    + (
                        ""
                        if "ll_added_per_run" not in mine["all sinks"]
                        else f", LL misses {'fewest' if fewer_ll else 'not fewest'}"
                    )
                    + f" of {measured} peers",
                    verdict(fewer and fewer_ll),
                )
            )
    print()


def peers(rounds_n: int, sizes: tuple[int, ...] = PEER_SIZES) -> dict[str, Any]:
    """Each peer's per-run rows (benchmarks/peers.py in the peer's venv), Responses and Chat."""
    out: dict[str, Any] = {}
    files = peer_bodies(sizes)
    for peer, py in peer_pythons(out):
        for api in ("responses", "chat"):
            for events in sizes:
                cmd = [str(py), str(ROOT / "benchmarks" / "peers.py"), peer.split()[0], api]
                n, per = rounds_for(events, rounds_n), runs_per_batch(events)
                cmd += [str(files[api, events]), str(n), str(per)]
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=3600)
                try:
                    out[f"{peer} / {api} {events}"] = json.loads(proc.stdout.strip().splitlines()[-1])
                except (ValueError, IndexError):
                    err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                    out[f"{peer} / {api} {events}"] = {"error": err}
                    break  # the other sizes would fail the same way
    return out


def print_peers(pr: dict[str, Any], ours: dict[str, Any], rows: list[tuple[str, str, str, str]]) -> None:
    print("5. Peers side by side: per-run rows as in 1c (each peer in its own venv, same openai, same")
    print("   streams, spans through a BatchSpanProcessor); added CPU ms per run, ratio [quartiles];")
    print("   'noise' = the bare SDK against itself in that peer's run")
    failed = {k: r["error"] for k, r in pr.items() if "error" in r}
    for api in ("responses", "chat"):
        for events in PEER_SIZES:
            key = f"{api} {events}"
            mine = ours.get(key)
            if mine is None:
                continue
            a, noise = mine["all sinks"], mine["bare again"]
            print(
                f"   {key:16} {'runwatch (all sinks)':44} {a['added_ms']:>+8.3f} ms  {a['ratio']:.3f} "
                f"[{a['ratio_q1']:.3f}, {a['ratio_q3']:.3f}]  noise {noise['ratio']:.3f} "
                f"[{noise['ratio_q1']:.3f}, {noise['ratio_q3']:.3f}]  bare {a['bare_ms']:.2f} ms"
            )
            ahead = True
            measured = 0
            for name, r in pr.items():
                if not name.endswith(f" / {key}") or "error" in r:
                    continue
                measured += 1
                i, n = r["instrumented"], r["noise"]
                peer = name.split(" / ")[0] + f" {r['peer_version']}"
                print(
                    f"   {'':16} {peer:44} {i['added_ms']:>+8.3f} ms  {i['ratio']:.3f} "
                    f"[{i['ratio_q1']:.3f}, {i['ratio_q3']:.3f}]  noise {n['ratio']:.3f} "
                    f"[{n['ratio_q1']:.3f}, {n['ratio_q3']:.3f}]  bare {i['bare_ms']:.2f} ms, "
                    f"{r['spans_per_run']} spans/run"
                )
                ahead = ahead and a["added_ms"] < i["added_ms"]
            if measured:
                rows.append(
                    (
                        f"ahead of every peer: {key} events",
                        "runwatch adds the least",
                        f"runwatch {a['added_ms']:+.3f} ms vs {measured} peers",
                        verdict(ahead),
                    )
                )
    for name, err in failed.items():
        print(f"   {name:58} CANNOT RUN: {err}")
    print()


# -- report -------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "openai": openai.__version__,
        "httpx2": httpx2.__version__,
        "runwatch": runwatch.__version__,
        "loadavg_at_start": os.getloadavg(),
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_per_run(out: dict[str, Any], rounds_n: int, rows: list[tuple[str, str, str, str]]) -> None:
    print("1c. Cost per run: whole runs (create to the end of the stream), real SDK, 2 KiB chunks, CPU")
    print("    time of the process (span export included); each variant paired with the bare SDK round by")
    print(f"    round ({rounds_n} rounds, variants rotated); 'added' = median of the per-round differences,")
    print("    'ratio' = median of the per-round ratios [quartiles]. The 'bare again' line is a second bare")
    print("    SDK measured the same way: the noise of that row's other lines. The 'floor' lines are the")
    print("    bare SDK plus the same spans, log line and metric updates runwatch makes per run, made")
    print("    straight on the libraries with none of runwatch's code (benchmarks/run.py ContractFloor):")
    print("    what the records alone cost, a lower bound for any implementation of them.")
    print(
        f"    {'stream':20} {'events':>6} {'runs/batch':>10} {'bare ms':>8}  {'variant':22} {'added ms':>9} "
        f"{'ratio':>6} {'[q1, q3]':>15}"
    )
    for key, row in out.items():
        api, events = key.split()
        first = True
        for name in PerRunCase.NAMES[1:]:
            r = row[name]
            lead = (
                f"    {key:20} {row['events']:>6} {row['runs_per_batch']:>10} {r['bare_ms']:>8.3f}  "
                if first
                else f"    {'':20} {'':>6} {'':>10} {'':>8}  "
            )
            first = False
            print(
                f"{lead}{name + (' (noise)' if name == 'bare again' else ''):22} {r['added_ms']:>+9.3f} "
                f"{r['ratio']:>6.3f} [{r['ratio_q1']:.3f}, {r['ratio_q3']:.3f}]"
            )
        chk = row["_check"]
        print(
            f"    {'':20} check: {chk['runs_finished']:.0f} of {chk['runs_expected']} runs finished, "
            f"{chk['internal_errors']:.0f} internal errors"
        )
        noise = row["bare again"]
        spread = f"noise: bare again {noise['ratio']:.3f} [{noise['ratio_q1']:.3f}, {noise['ratio_q3']:.3f}]"
        a = row["all sinks"]
        # Per-run targets (ms) are for typical runs (100, 1,000 events); the ratio for every size.
        typical = int(events) <= 1_000
        if api in ("responses", "chat") and typical:
            rows.append(
                (
                    f"per run {key} events, all sinks: runwatch CPU",
                    f"<= {TARGET_RUN_MS} ms",
                    f"{a['added_ms']:+.3f} ms ({spread})",
                    verdict(a["added_ms"] <= TARGET_RUN_MS),
                )
            )
        if api in ("responses", "chat"):
            rows.append(
                (
                    f"per run {key} events, all sinks: ratio",
                    f"<= {TARGET_RATIO[int(events)]:.2f}",
                    f"{a['ratio']:.3f}",
                    verdict(a["ratio"] <= TARGET_RATIO[int(events)]),
                )
            )
        for name in ("metrics only", "default, no OTel SDK") if typical else ():
            r = row[name]
            rows.append(
                (
                    f"per run {key} events, {name}",
                    f"<= {TARGET_RUN_METRICS_MS} ms",
                    f"{r['added_ms']:+.3f} ms",
                    verdict(r["added_ms"] <= TARGET_RUN_METRICS_MS),
                )
            )
        if api in ("responses", "chat") and typical:
            # Not targets: how much of each target the records alone take (ContractFloor).
            floors = (("floor: all sinks", TARGET_RUN_MS), ("floor: metrics", TARGET_RUN_METRICS_MS))
            for name, target in floors:
                r = row[name]
                rows.append(
                    (
                        f"per run {key} events, {name} (the records alone, no runwatch code)",
                        f"(of {target} ms)",
                        f"{r['added_ms']:+.3f} ms",
                        f"{r['added_ms'] / target:.0%} of it",
                    )
                )
    print()


def print_per_run_instructions(out: dict[str, Any]) -> None:
    print("1c'. The same rows counted in instructions (valgrind --tool=callgrind, PYTHONHASHSEED=0, every")
    print("    thread): deterministic; blind to cache misses unless --cache-sim (runwatch's share of CPU")
    print("    time is larger than its share of instructions: its code runs briefly between long stretches")
    print("    of the SDK's, which push it out of the caches)")
    for key, row in out.items():
        if "error" in row:
            print(f"    {key:20} CANNOT COUNT: {row['error']}")
            continue
        parts = [
            f"{name}: {r['added_per_run'] / 1e3:+,.0f}k ({r['ratio']:.4f})"
            + (f", {r['ll_added_per_run']:+,.0f} LL misses" if "ll_added_per_run" in r else "")
            for name, r in row.items()
            if isinstance(r, dict)
        ]
        ll = f", {row['bare_ll_per_run']:,.0f} LL misses" if "bare_ll_per_run" in row else ""
        print(f"    {key:20} bare {row['bare_per_run'] / 1e6:,.1f}M/run{ll}; " + "; ".join(parts))
    if any("bare_ll_per_run" in row for row in out.values()):
        print("    (LL misses: simulated last level, 1 MiB like this machine's L2; bare again is the noise)")
    print()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument(
        "--only",
        choices=["perrun", "snapshot", "full", "nonstream", "core", "memory", "concurrency", "peers"],
    )
    ap.add_argument("--setup-peers", action="store_true", help="create the peers' venvs under /tmp first")
    ap.add_argument(
        "--instructions",
        action="store_true",
        help="also count the per-run rows' (and with peers the peers') instructions under valgrind "
        "(deterministic, ~15 min more)",
    )
    ap.add_argument(
        "--cache-sim",
        action="store_true",
        help="with --instructions: also simulate the caches and count last-level misses per run (~4x slower)",
    )
    ap.add_argument("--rounds", type=int, help="rounds of the per-run rows and peers (default 21, quick 7)")
    ap.add_argument("--_mem", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--_cg", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cache_sim and not args.instructions:
        ap.error("--cache-sim simulates the caches while counting instructions: add --instructions")
    if args.setup_peers:
        setup_peers()
    if args._mem:
        print(json.dumps(_mem_child(int(args._mem[0]), args._mem[1])))
        return
    if args._cg:
        _per_run_instructions_child(args._cg[0], int(args._cg[1]), int(args._cg[2]))
        return

    events = 2_000 if args.quick else 10_000
    reps = 3 if args.quick else 7
    report: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    m = report["machine"]
    print(
        f"machine: {m['nproc']} CPUs, {m['cpu']}, Python {m['python']}, openai {m['openai']}, "
        f"httpx2 {m['httpx2']}, load average {m['loadavg_at_start'][0]:.2f}"
    )
    print(f"mode: {'quick' if args.quick else 'full'}; {events} deltas per stream, {reps} interleaved reps\n")

    def want(part: str) -> bool:
        return args.only in (None, part)

    rows: list[tuple[str, str, str, str]] = []
    rounds_n = args.rounds or (7 if args.quick else 21)
    if want("perrun"):
        pr_rows = per_run(PER_RUN_SIZES, rounds_n, ("responses", "chat", "assistants"))
        report["per_run"] = pr_rows
        print_per_run(pr_rows, rounds_n, rows)
        floors = floor_replays()
        report["floor_replays"] = floors
        print_floor_replays(floors, rows)
        if args.instructions:
            apis = ("responses", "chat", "assistants")
            ins = per_run_instructions(PER_RUN_SIZES, apis, cache=args.cache_sim)
            report["per_run_instructions"] = ins
            print_per_run_instructions(ins)
    if want("snapshot"):
        snap = snapshot_reads()
        report["snapshot"] = snap
        print_snapshot_reads(snap, rows)
    if want("full"):
        full = full_path(events, reps)
        report["full_path"] = full
        print("1. Full path: real openai SDK, all sinks on. Medians of interleaved runs; 'paired' = median")
        print("   of the A/B pair ratios (wall) ; CPU = process_time of the same runs (less load-sensitive)")
        print(
            f"   {'case':38} {'events':>6} {'bare s':>7} {'inst s':>7} {'added%':>7} {'paired%':>8} "
            f"{'+us/ev':>7} {'bare us/ev':>10} {'CPU bare':>8} {'CPU inst':>8} {'CPU +%':>7} "
            f"{'CPU +us/ev':>10}"
        )
        for name, r in full.items():
            if name.startswith("_"):
                continue
            print(
                f"   {name:38} {r['events']:>6} {r['bare_s']:>7.3f} {r['instrumented_s']:>7.3f} "
                f"{r['added_pct']:>6.2f}% {r['paired_added_pct']:>7.2f}% {r['added_us_per_event']:>7.2f} "
                f"{r['bare_us_per_event']:>10.1f} {r['cpu_bare_s']:>8.3f} {r['cpu_instrumented_s']:>8.3f} "
                f"{r['cpu_paired_added_pct']:>6.2f}% {r['cpu_added_us_per_event']:>10.2f}"
            )
            rows.append(
                (
                    f"overhead wall {name}",
                    f"<= {TARGET_OVERHEAD_PCT}%",
                    f"{r['paired_added_pct']:.2f}%",
                    verdict(r["paired_added_pct"] <= TARGET_OVERHEAD_PCT),
                )
            )
            rows.append(
                (
                    f"overhead CPU  {name}",
                    f"<= {TARGET_OVERHEAD_PCT}%",
                    f"{r['cpu_paired_added_pct']:.2f}%",
                    verdict(r["cpu_paired_added_pct"] <= TARGET_OVERHEAD_PCT),
                )
            )
        chk = full["_check"]
        print(
            f"   check: {chk['instrumented_reps']} instrumented repetitions finished "
            f"{chk['runs_finished']:.0f} runs, {chk['internal_errors']:.0f} runwatch internal errors\n"
        )
    if want("nonstream"):
        ns = nonstreaming(200 if args.quick else 500, reps)
        report["nonstreaming"] = ns
        print("1b. Non-streaming calls: real openai SDK, JSON bodies in 2 KiB chunks, all sinks on")
        print(
            f"   {'case':38} {'calls':>6} {'bare us/call':>12} {'+us/call wall':>13} "
            f"{'+us/call CPU':>12} {'CPU +%':>7}"
        )
        for name, r in ns.items():
            print(
                f"   {name:38} {r['events']:>6} {r['bare_us_per_event']:>12.1f} "
                f"{r['added_us_per_event']:>13.1f} {r['cpu_added_us_per_event']:>12.1f} "
                f"{r['cpu_paired_added_pct']:>6.2f}%"
            )
        print()
    if want("core"):
        c = core(100_000 if not args.quick else 20_000, reps)
        report["core"] = c
        print(
            "2. Core throughput: SSE decoder + StreamTracker, Responses delta frames, 2 KiB chunks (CPU time)"
        )
        for name, r in c.items():
            if name != "bench_core":
                print(
                    f"   {name:32} {r['events']:>7} events {r['median_s']:.4f} s "
                    f"{r['events_per_s']:>12,.0f} ev/s"
                )
        bc = c["bench_core"]
        print(f"   benchmarks/bench_core.py --quick (exit {bc['returncode']}), its own lines:")
        for ln in bc["lines"]:
            print(f"     | {ln}")
        eps = c["decoder+tracker (no sinks)"]["events_per_s"]
        rows.append(
            (
                "core decoder+tracker",
                f">= {TARGET_CORE_EPS:,} ev/s",
                f"{eps:,.0f} ev/s",
                verdict(eps >= TARGET_CORE_EPS),
            )
        )
        print()
    if want("memory"):
        lengths = [2_000, 20_000] if args.quick else [10_000, 100_000]
        mem = memory(lengths)
        report["memory"] = mem
        print(
            "3. Memory: instrumented client (all sinks), one stream per subprocess; tracemalloc peaks in KiB"
        )
        print(
            f"   {'case':18} {'events':>7} {'bare peak':>10} {'inst peak':>10} {'maxrss +KiB':>11} "
            f"{'rw live max B':>13} {'rw retained B':>13}"
        )
        for name, r in mem.items():
            if "error" in r:
                print(f"   {name:18} ERROR {r['error']}")
                continue
            print(
                f"   {name:18} {r['events']:>7} {r['bare_peak_kib']:>10.0f} "
                f"{r['instrumented_peak_kib']:>10.0f} {r['maxrss_growth_kib']:>11} "
                f"{r['runwatch_live_max_bytes']:>13} {r['runwatch_retained_bytes']:>13}"
            )
        for api in ("responses", "chat"):
            small, large = mem.get(f"{api} {lengths[0]}", {}), mem.get(f"{api} {lengths[1]}", {})
            if "runwatch_live_max_bytes" in small and "runwatch_live_max_bytes" in large:
                growth = large["runwatch_live_max_bytes"] - small["runwatch_live_max_bytes"]
                extra_peak = (large["instrumented_peak_kib"] - large["bare_peak_kib"]) - (
                    small["instrumented_peak_kib"] - small["bare_peak_kib"]
                )
                print(
                    f"   {api}: runwatch live-max growth {lengths[0]}->{lengths[1]} events: {growth} B; "
                    f"(inst-bare) peak growth: {extra_peak:.1f} KiB"
                )
                # "no growth": within one 16 KiB chunk-sized allowance, i.e. not proportional to length.
                rows.append(
                    (
                        f"memory {api} runwatch growth x10 length",
                        "~0 (< 16 KiB)",
                        f"{growth} B",
                        verdict(abs(growth) < 16 * 1024),
                    )
                )
        print()
    if want("concurrency"):
        streams, per = (200, 50) if args.quick else (1000, 100)
        conc = concurrency(streams, per, events, min(reps, 5))
        report["concurrency"] = conc
        print("4. Concurrency: AsyncOpenAI over MockTransport, asyncio.gather, all sinks on")
        keys = [k for k in conc if not k.startswith("_")]
        for name in keys:
            r = conc[name]
            print(
                f"   {name:44} wall: bare {r['bare_s']:.3f} s inst {r['instrumented_s']:.3f} s "
                f"added {r['paired_added_pct']:.2f}% (paired) {r['added_us_per_event']:.2f} us/event; "
                f"CPU: added {r['cpu_paired_added_pct']:.2f}% {r['cpu_added_us_per_event']:.2f} us/event; "
                f"runwatch's own time {r['own_us_per_event']:.2f} us/event "
                f"({', '.join(f'{x:.2f}' for x in r['own_us_all'])})"
            )
            print(
                f"   {'':44} repetitions, wall s: bare {', '.join(f'{x:.2f}' for x in r['bare_all'])}; "
                f"inst {', '.join(f'{x:.2f}' for x in r['instrumented_all'])}"
            )
        single, many = conc[keys[1]], conc[keys[2]]
        # Flat = runwatch's own time per event, the same short streams one after another and all
        # at once (measured in place: the paired differences of these 30 s runs spread too much).
        limit = 1.5 * single["own_us_per_event"]
        chk = conc["_check"]
        print(
            f"   check: {chk['instrumented_reps']} instrumented repetitions finished "
            f"{chk['runs_finished']:.0f} runs, {chk['internal_errors']:.0f} runwatch internal errors\n"
        )
        rows.append(
            (
                "concurrency: runwatch us/event flat, concurrent vs sequential",
                f"<= {limit:.2f} (1.5x sequential)",
                f"{many['own_us_per_event']:.2f}",
                verdict(many["own_us_per_event"] <= limit),
            )
        )
        # Not a target: a run has a fixed cost (its lifecycle JSON, three spans, two log lines,
        # ten metric updates), which short streams cannot spread. Reported, with its size.
        per_run_ms = many["own_us_per_event"] * many["events"] / streams / 1e3
        rows.append(
            (
                f"short streams: async {streams} x {many['events'] // streams} events, added",
                "none (fixed cost per run)",
                f"wall {many['paired_added_pct']:.2f}%, CPU {many['cpu_paired_added_pct']:.2f}%, "
                f"runwatch {per_run_ms:.2f} ms/run",
                "INFO",
            )
        )
    if want("peers") and not args.no_peers:
        pr = peers(rounds_n)
        report["peers"] = pr
        ours = dict(report.get("per_run", {}))
        # runwatch's rows at the sizes the per-run section does not measure (or all of them,
        # with --only peers), measured the same way, in this run.
        missing = [n for n in PEER_SIZES if any(f"{api} {n}" not in ours for api in ("responses", "chat"))]
        extra: dict[str, Any] = {}
        for n in missing:
            extra.update(per_run((n,), rounds_n, ("responses", "chat")))
        if extra:
            print_per_run(extra, rounds_n, rows)
        ours.update(extra)
        report["per_run_for_peers"] = ours
        print_peers(pr, ours, rows)
        if args.instructions:
            sizes = PEER_SIZES[:2]  # 10,000-event runs take too long under callgrind
            counted_ours = report.get("per_run_instructions") or per_run_instructions(
                sizes, ("responses", "chat"), cache=args.cache_sim
            )
            pc = peers_counted(sizes, args.cache_sim)
            report["peers_counted"] = pc
            print_peers_counted(pc, counted_ours, rows)
    print("Targets")
    for name, target, got, ok in rows:
        print(f"   {ok:4}  {name:52} target {target:30} measured {got}")
    if args.json:
        print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
