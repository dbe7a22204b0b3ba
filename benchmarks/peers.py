"""One peer instrumentation, timed the way benchmarks/run.py times runwatch. Run by run.py.

    /tmp/peer-otelv2/bin/python benchmarks/peers.py <peer> <responses|chat> <body.sse> <reps>

It runs inside the peer's own venv (openai + opentelemetry-sdk + the peer, nothing of runwatch's), so
it depends on nothing but those. The peer's instrumentor is switched on and off between interleaved
repetitions (bare, instrumented, instrumented, bare, ...) on fresh clients; spans go to an in-memory
exporter through a SimpleSpanProcessor, as runwatch's do in run.py. The peer runs with its default
settings (some record prompt and completion content by default; runwatch records none).
Prints one JSON line: {bare_s, instrumented_s, added_pct, paired_added_pct, peak_kib, ...}.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

warnings.filterwarnings("ignore")
CHUNK = 2048


def instrumentor(peer: str) -> Any:
    if peer == "opentelemetry-instrumentation-openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    elif peer == "openinference-instrumentation-openai":
        from openinference.instrumentation.openai import OpenAIInstrumentor  # type: ignore[no-redef]
    elif peer == "opentelemetry-instrumentation-openai":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor  # type: ignore[no-redef]
    else:
        raise SystemExit(f"unknown peer {peer}")
    return OpenAIInstrumentor()


def chunks(body: bytes) -> Iterator[bytes]:
    for i in range(0, len(body), CHUNK):
        yield body[i : i + CHUNK]


def client(body: bytes) -> openai.OpenAI:
    transport = httpx2.MockTransport(
        lambda request: httpx2.Response(
            200, headers={"content-type": "text/event-stream"}, content=chunks(body)
        )
    )
    return openai.OpenAI(
        api_key="sk-bench", base_url="http://bench.invalid/v1", http_client=httpx2.Client(transport=transport)
    )


def opener(api: str) -> Callable[[openai.OpenAI], Any]:
    if api == "responses":
        return lambda c: c.responses.create(model="gpt-4o", input="hi", stream=True)
    return lambda c: c.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )


def main() -> None:
    peer, api, path, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open(path, "rb") as f:
        body = f.read()
    open_stream = opener(api)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    inst = instrumentor(peer)
    on = False

    def run(instrumented: bool) -> tuple[float, float, int]:
        nonlocal on
        if instrumented and not on:
            inst.instrument(tracer_provider=provider)
            on = True
        elif not instrumented and on:
            inst.uninstrument()
            on = False
        exporter.clear()
        c = client(body)
        gc.collect()
        c0 = time.process_time()
        t0 = time.perf_counter()
        n = 0
        with open_stream(c) as stream:
            for _ in stream:
                n += 1
        return time.perf_counter() - t0, time.process_time() - c0, n

    run(False), run(True)  # warm-up
    a: list[float] = []
    b: list[float] = []
    ca: list[float] = []
    cb: list[float] = []
    n = 0
    for i in range(reps):
        for instrumented in (False, True) if i % 2 == 0 else (True, False):
            dt, cpu, n = run(instrumented)
            (b if instrumented else a).append(dt)
            (cb if instrumented else ca).append(cpu)
    spans = len(exporter.get_finished_spans())
    peaks = {}
    for instrumented in (False, True):
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        run(instrumented)
        peaks[instrumented] = (tracemalloc.get_traced_memory()[1] - base) / 1024
        tracemalloc.stop()
    mb, mi = statistics.median(a), statistics.median(b)
    print(
        json.dumps(
            {
                "peer_version": _version(peer),
                "openai": openai.__version__,
                "events": n,
                "reps": reps,
                "bare_s": mb,
                "instrumented_s": mi,
                "added_pct": (mi / mb - 1) * 100,
                "paired_added_pct": statistics.median([(y / x - 1) * 100 for x, y in zip(a, b, strict=True)]),
                "added_us_per_event": statistics.median([y - x for x, y in zip(a, b, strict=True)]) / n * 1e6,
                "cpu_bare_s": statistics.median(ca),
                "cpu_instrumented_s": statistics.median(cb),
                "cpu_paired_added_pct": statistics.median(
                    [(y / x - 1) * 100 for x, y in zip(ca, cb, strict=True)]
                ),
                "cpu_added_us_per_event": statistics.median([y - x for x, y in zip(ca, cb, strict=True)])
                / n
                * 1e6,
                "peak_kib": peaks[True],
                "bare_peak_kib": peaks[False],
                "spans_last_run": spans,
            }
        )
    )


def _version(peer: str) -> str:
    from importlib.metadata import version

    return version(peer)


if __name__ == "__main__":
    main()
