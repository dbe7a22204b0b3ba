"""Faults on the wire, through the real openai SDK over httpx2.MockTransport, sync and async.

For each (fault, api, mode) the caller must see exactly what it sees without runwatch (same
events before the error, same exception type and message), the run must end with the outcome the
table says, every span must end and ``runwatch_runs_in_progress`` must return to 0.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from reliability_support import (
    APIS,
    async_client,
    async_handler,
    body_for,
    frame_boundary_cut,
    make_rig,
    mid_frame_cut,
    open_stream,
    run_both,
    sync_client,
    sync_handler,
)

import runwatch
from runwatch.testing import split_frames

CHUNK = 97  # odd, so chunk edges fall everywhere inside frames


def chunks(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), CHUNK):
        yield data[i : i + CHUNK]


@dataclass(frozen=True)
class Fault:
    name: str
    status: int  # HTTP status of the response
    cut: str | None  # "mid" (inside a frame) / "boundary" (between frames) / None (whole body)
    raises: type[Exception] | None  # raised by the body generator at the cut
    outcome: tuple[str, str] | None  # expected run outcome; None: no run is counted at all
    anomaly: str | None = None  # an anomaly the fault must produce
    sdk_error: str | None = None  # the exception class name the caller gets, plain or watched


FAULTS = [
    Fault("reset_mid_frame", 200, "mid", httpx2.ReadError, ("aborted", "transport_error"),
          sdk_error="APIConnectionError"),
    Fault("protocol_error_mid_frame", 200, "mid", httpx2.RemoteProtocolError, ("aborted", "transport_error"),
          sdk_error="APIConnectionError"),
    Fault("read_timeout_mid_frame", 200, "mid", httpx2.ReadTimeout, ("aborted", "transport_error"),
          sdk_error="APITimeoutError"),
    Fault("closed_before_terminal", 200, "boundary", None, ("aborted", "stream_ended"),
          anomaly="missing_terminal"),
    Fault("closed_mid_frame", 200, "mid", None, ("aborted", "stream_ended"), anomaly="truncated_frame"),
    Fault("http_400", 400, None, None, None, sdk_error="BadRequestError"),
    Fault("http_429", 429, None, None, None, sdk_error="RateLimitError"),
    Fault("http_500", 500, None, None, None, sdk_error="InternalServerError"),
    Fault("http_503", 503, None, None, None, sdk_error="InternalServerError"),
]  # fmt: skip

ERROR_JSON = {"error": {"message": "planted failure", "type": "server_error", "param": None, "code": "x"}}


def body_factory(fault: Fault, body: bytes) -> Any:
    if fault.status >= 400:
        return None
    cut = {"mid": mid_frame_cut, "boundary": frame_boundary_cut}[fault.cut or "mid"](body)

    def make() -> Iterator[bytes]:
        yield from chunks(body[:cut])
        if fault.raises is not None:
            raise fault.raises("planted transport fault")

    return make


CASES = [
    pytest.param(fault, api, mode, id=f"{fault.name}-{api}-{mode}")
    for fault in FAULTS
    for api in APIS
    for mode in ("sync", "async")
]


@pytest.mark.parametrize(("fault", "api", "mode"), CASES)
def test_fault_table(fault: Fault, api: str, mode: str) -> None:
    """The caller sees exactly what it sees without runwatch under this fault; the run (if the
    fault lets one start) ends with the tabled outcome; spans all end; in-progress returns to 0."""
    rig = make_rig()
    body = body_for(api)
    plain, watched = run_both(mode, api, fault.status, body_factory(fault, body), ERROR_JSON, rig)

    assert watched == plain
    if fault.sdk_error is None:
        assert watched.exc_type is None
    else:
        assert watched.exc_type is not None
        assert watched.exc_type.__name__ == fault.sdk_error
    if fault.status >= 400:
        assert watched.events == []
    elif fault.name != "closed_mid_frame" or api != "agents":
        assert watched.events, "the fault should hit after the SDK yielded some events"

    if fault.outcome is None:
        # An HTTP error before streaming is not a run but a request error: one attempt counted
        # by status code and the error body's code, one span, no run.
        assert rig.recorder.started == []
        assert rig.total("runwatch_runs_started_total") == 0
        assert rig.total("runwatch_request_errors_total") == 1
        assert rig.value(
            "runwatch_request_errors_total", {"api": api, "status_code": str(fault.status), "code": "_other"}
        ) == 1  # the planted code "x" is in no closed set
        assert rig.counter.started == 1
    else:
        assert rig.recorder.outcomes() == [fault.outcome]
        assert rig.value(
            "runwatch_runs_total",
            {"api": api, "model": rig.recorder.finished[0].run.model_label or "unknown",
             "status": fault.outcome[0], "reason": fault.outcome[1]},
        ) == 1  # fmt: skip
        assert rig.counter.started >= 1
    if fault.anomaly is not None:
        assert fault.anomaly in rig.recorder.anomalies
    assert rig.total("runwatch_internal_errors_total") == 0
    rig.settled()


# ------------------------------------------------------------------------------- a slow sink
def test_blocking_sink_costs_time_but_changes_nothing() -> None:
    """A sink that sleeps 50 ms per transition slows the stream down (it runs inline, on the
    caller's thread -- that is the documented cost) but the caller still gets identical events and
    the run still ends completed, sync and async."""
    calls = []

    def slow(transition: object) -> None:
        calls.append(transition)
        time.sleep(0.05)

    body = body_for("responses", deltas=2)
    for mode in ("sync", "async"):
        calls.clear()
        rig = make_rig(sinks=(slow,))
        t0 = time.perf_counter()
        plain, watched = run_both(mode, "responses", 200, lambda: chunks(body), None, rig)
        elapsed = time.perf_counter() - t0
        assert watched == plain
        assert watched.exc_type is None
        assert rig.recorder.outcomes() == [("completed", "none")]
        # The cost is exactly the sink's: one 50 ms sleep per transition, paid by the caller.
        assert elapsed >= 0.05 * len(calls) > 0
        rig.settled()


# ----------------------------------------------------------------------- an exporter that is down
class DownExporter(SpanExporter):
    def __init__(self, how: str) -> None:
        self.how = how
        self.calls = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.calls += 1
        if self.how == "raise":
            raise ConnectionRefusedError("collector is down")
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass


@pytest.mark.parametrize("processor", ["simple", "batch"])
@pytest.mark.parametrize("how", ["raise", "failure"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_otel_exporter_down(processor: str, how: str, mode: str) -> None:
    """An OTel exporter that raises or returns FAILURE (behind Simple- or BatchSpanProcessor) does
    not reach the caller: identical events, the run ends completed, every span ends, no runwatch
    internal error is counted."""
    exporter = DownExporter(how)
    proc = SimpleSpanProcessor(exporter) if processor == "simple" else BatchSpanProcessor(exporter)
    rig = make_rig(processors=(proc,))
    body = body_for("assistants")
    plain, watched = run_both(mode, "assistants", 200, lambda: chunks(body), None, rig)
    rig.provider.force_flush()
    rig.provider.shutdown()
    assert watched == plain
    assert watched.exc_type is None
    assert rig.recorder.outcomes() == [("completed", "none")]
    assert exporter.calls >= 1, "the broken exporter was never asked to export"
    assert rig.total("runwatch_internal_errors_total") == 0
    rig.settled()


# ------------------------------------------------------------------------ garbage-collected streams
@pytest.mark.parametrize("api", APIS)
def test_garbage_collected_sync_stream(api: str) -> None:
    """A stream the caller drops half-read (no close, no with) still ends its run once the
    objects are collected: aborted/client_closed, span ended, gauge back to 0."""
    rig = make_rig()
    body = body_for(api, deltas=20)
    client = runwatch.instrument(sync_client(sync_handler(200, lambda: chunks(body))), rig.observer)
    stream = open_stream(client, api)
    it = iter(stream)
    for _ in range(3):
        next(it)
    assert rig.in_progress() == 1
    del it, stream
    gc.collect()
    runwatch._observer.wait_finalized()  # finalizers queue; the reaper closes
    assert rig.recorder.outcomes() == [("aborted", "client_closed")]
    rig.settled()


@pytest.mark.parametrize("api", APIS)
def test_garbage_collected_async_stream(api: str) -> None:
    """The async twin: an AsyncStream dropped half-read ends its run by the time the loop is
    done (the asyncgen finalizer or the tap's weakref.finalize), exactly once."""
    rig = make_rig()
    body = body_for(api, deltas=20)

    async def main() -> None:
        client = runwatch.instrument(async_client(async_handler(200, lambda: chunks(body))), rig.observer)
        stream = await open_stream(client, api)
        it = stream.__aiter__()
        for _ in range(3):
            await it.__anext__()
        assert rig.in_progress() == 1
        del it, stream
        gc.collect()
        runwatch._observer.wait_finalized()  # finalizers queue; the reaper closes
        await asyncio.sleep(0)

    asyncio.run(main())
    gc.collect()
    runwatch._observer.wait_finalized()  # finalizers queue; the reaper closes
    assert len(rig.recorder.finished) == 1
    assert rig.recorder.finished[0].outcome.status == "aborted"
    assert rig.recorder.finished[0].outcome.reason in ("client_closed", "cancelled")
    rig.settled()


def test_fault_table_size() -> None:
    """Keeps the figures quoted in docs/reliability.md honest."""
    assert len(FAULTS) == 9
    assert len(CASES) == 72
    assert len(split_frames(body_for("responses"))) > 4
