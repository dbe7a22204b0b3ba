"""Many streams at once through ONE Observer and one CollectorRegistry: 16 threads x 50 sync streams,
and 500 asyncio tasks. Counts must be exact: what was served is what is counted, started ==
finished, the in-progress gauge returns to 0, one run span per stream, every span ended.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import Counter
from typing import Any

import httpx2
from reliability_support import (
    SSE,
    async_client,
    body_for,
    make_rig,
    open_stream,
    quiet_logger,
    sync_client,
)

import runwatch

#: (api, builder outcome, expected (status, reason)).
SCENARIOS = [
    ("responses", "completed", ("completed", "none")),
    ("responses", "incomplete:max_output_tokens", ("incomplete", "max_output_tokens")),
    ("chat", "completed", ("completed", "none")),
    ("chat", "length", ("incomplete", "length")),
    ("assistants", "failed:server_error", ("failed", "server_error")),
    ("assistants", "completed", ("completed", "none")),
    ("agents", "completed", ("completed", "none")),
    ("agents", "failed:context_length_exceeded", ("failed", "context_length_exceeded")),
]


@functools.cache
def _body(i: int) -> bytes:
    api, outcome, _ = SCENARIOS[i % len(SCENARIOS)]
    ids: dict[str, Any] = {
        "assistants": {"run_id": f"run_{i:05d}"},
        "responses": {"response_id": f"resp_{i:05d}"},
        "chat": {"id": f"chatcmpl-{i:05d}"},
        "agents": {"session_id": f"sess_{i:05d}", "turn_ids": [f"turn_{i:05d}"]},
    }[api]
    return body_for(api, outcome, deltas=2, **ids)


def _handler_sync(request: httpx2.Request) -> httpx2.Response:
    i = int(request.headers["x-i"])
    return httpx2.Response(200, headers=SSE, content=iter([_body(i)[:300], _body(i)[300:]]))


async def _handler_async(request: httpx2.Request) -> httpx2.Response:
    i = int(request.headers["x-i"])

    async def gen() -> Any:
        body = _body(i)
        yield body[:300]
        await asyncio.sleep(0)
        yield body[300:]

    return httpx2.Response(200, headers=SSE, content=gen())


def _expected(n: int) -> Counter[tuple[str, str, str]]:
    served: Counter[tuple[str, str, str]] = Counter()
    for i in range(n):
        api, _, (status, reason) = SCENARIOS[i % len(SCENARIOS)]
        served[(api, status, reason)] += 1
    return served


def _counted(rig: Any) -> Counter[tuple[str, str, str]]:
    counted: Counter[tuple[str, str, str]] = Counter()
    for metric in rig.registry.collect():
        for s in metric.samples:
            if s.name == "runwatch_runs_total" and s.value:
                counted[(s.labels["api"], s.labels["status"], s.labels["reason"])] += int(s.value)
    return counted


def _check_exact(rig: Any, n: int) -> None:
    assert _counted(rig) == _expected(n)
    assert rig.total("runwatch_runs_started_total") == n
    assert len(rig.recorder.started) == len(rig.recorder.finished) == n
    assert len({id(t.run) for t in rig.recorder.finished}) == n  # each run ended exactly once
    run_spans = [s for s in rig.exporter.get_finished_spans() if s.parent is None]
    assert len(run_spans) == n
    assert rig.total("runwatch_internal_errors_total") == 0
    rig.settled()


def test_threads_16x50_one_observer() -> None:
    """16 threads each read 50 streams (all four APIs, mixed outcomes) through one instrumented
    client: runs_total by (api, status, reason) equals exactly what was served."""
    rig = make_rig(logger=quiet_logger())
    client = runwatch.instrument(sync_client(_handler_sync), rig.observer)
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def worker(w: int) -> None:
        try:
            barrier.wait()
            for k in range(50):
                i = w * 50 + k
                api = SCENARIOS[i % len(SCENARIOS)][0]
                with open_stream(client, api, extra_headers={"x-i": str(i)}) as stream:
                    for _ in stream:
                        pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _check_exact(rig, 16 * 50)


def test_asyncio_500_tasks_one_observer() -> None:
    """500 asyncio tasks read one stream each, interleaved on one loop, through one observer:
    exact counts, no run left in progress, one run span per stream."""
    rig = make_rig(logger=quiet_logger())

    async def main() -> None:
        client = runwatch.instrument(async_client(_handler_async), rig.observer)

        async def one(i: int) -> None:
            api = SCENARIOS[i % len(SCENARIOS)][0]
            stream = await open_stream(client, api, extra_headers={"x-i": str(i)})
            async with stream:
                async for _ in stream:
                    await asyncio.sleep(0)

        await asyncio.gather(*(one(i) for i in range(500)))

    asyncio.run(main())
    _check_exact(rig, 500)
