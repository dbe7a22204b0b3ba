"""Cardinality and content: hostile model names and reasons stay bounded in every metric, and
planted secrets never reach any exported telemetry with the default Observer settings.
"""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
import structlog
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from reliability_support import APIS, SSE, body_for, make_rig, open_stream, quiet_logger, sync_client

import runwatch
from runwatch.sinks.prometheus import REASONS, TOOL_TYPES
from runwatch.testing import error_event, responses_stream, sse_frame

HOSTILE_MODELS = [
    'a"} evil{',
    'x",status="completed"} 1\nrunwatch_runs_total{api="chat"',
    "m" * 10_000,
    "模型-🚀-\u202e-rtl",
    "\x00\x07\x1b[31m",
    "",
    "_other",
    "unknown",
]


def _label_values(registry: CollectorRegistry) -> dict[str, set[str]]:
    values: dict[str, set[str]] = {}
    for metric in registry.collect():
        for s in metric.samples:
            for k, v in s.labels.items():
                values.setdefault(k, set()).add(v)
    return values


def test_hostile_model_names_and_reasons_stay_bounded() -> None:
    """10,000 distinct model names (long, unicode, control characters, label-injection strings)
    and hostile error codes: every metric keeps at most 50 model values (+ unknown/_other), every
    label value <= 100 chars, reasons and statuses from the closed sets, and the exposition text
    parses back to exactly runwatch's own metric families (no injected series)."""
    meter_reader = InMemoryMetricReader()
    rig = make_rig(meter_provider=MeterProvider(metric_readers=[meter_reader]), logger=quiet_logger())
    names = HOSTILE_MODELS + [f"model-{i}-{'z' * (i % 300)}" for i in range(10_000 - len(HOSTILE_MODELS))]
    for i, model in enumerate(names):
        # Minimal frames (one created, one terminal): the cost is runwatch's, not the builder's.
        base = {"id": f"resp_{i}", "object": "response", "model": model, "status": "in_progress"}
        body = sse_frame({"type": "response.created", "response": base})
        if i % 3 == 0:
            body += sse_frame({"type": "response.completed", "response": {**base, "status": "completed"}})
        else:
            # A hostile error code: it becomes the reason, which must fold to _other.
            body += error_event(f'code"}} {model[:50]}{i}')
        session = rig.observer.stream("responses")
        session.feed_bytes(body)
        session.close()
    rig.settled()
    values = _label_values(rig.registry)
    assert len(values["model"]) <= 50 + 2
    assert all(len(v) <= 100 and v.isprintable() for vs in values.values() for v in vs)
    assert values["reason"] <= REASONS["responses"] | {"_other"}
    assert "_other" in values["reason"]
    assert values["status"] <= {"completed", "failed", "aborted"}
    assert rig.total("runwatch_runs_total") == 10_000

    text = generate_latest(rig.registry).decode()
    families = {f.name.removesuffix("_created") for f in text_string_to_metric_families(text)}
    assert families <= {
        "runwatch_runs", "runwatch_runs_started", "runwatch_runs_in_progress",
        "runwatch_run_duration_seconds", "runwatch_phase_duration_seconds",
        "runwatch_time_to_first_token_seconds", "runwatch_tokens", "runwatch_tool_calls",
        "runwatch_stream_anomalies", "runwatch_internal_errors", "runwatch_request_errors",
    }  # fmt: skip
    # Label values are escaped, never interpreted: the text parses back to the same samples.
    parsed = sum(len(f.samples) for f in text_string_to_metric_families(text))
    assert parsed == sum(len(m.samples) for m in rig.registry.collect())
    assert 'model="a\\"} evil{"' in text

    # OTel GenAI metrics share the cap.
    data = meter_reader.get_metrics_data()
    models = {
        str(dp.attributes.get(key))
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for dp in m.data.data_points
        for key in ("gen_ai.request.model", "gen_ai.response.model")
        if key in dp.attributes
    }
    assert len(models) <= 50 + 2


def test_hostile_tool_types_stay_bounded() -> None:
    """Tool types from the wire fold to the closed set."""
    rig = make_rig(logger=quiet_logger())
    for i in range(200):
        session = rig.observer.stream("responses")
        body = responses_stream("completed", response_id=f"resp_t{i}", tool="function_call", deltas=0)
        session.feed_bytes(body.replace(b'"type":"function_call"', f'"type":"evil_{i}_call"'.encode()))
        session.close()
    values = _label_values(rig.registry)
    assert values.get("tool_type", set()) <= TOOL_TYPES | {"_other"}
    rig.settled()


# ------------------------------------------------------------------------------------ content
SECRETS = {
    "api_key": "sk-SECRET0APIKEY0abcdef0123456789",
    "header": "SECRET1HEADER1value",
    "prompt": "SECRET2PROMPT2text",
    "output": "SECRET3OUTPUT3delta",
    "tool_args": "SECRET4TOOLARGS4paris",
    "instructions": "SECRET5INSTRUCTIONS5",
    "metadata": "SECRET6METADATA6value",
    "unknown_event": "SECRET7UNKNOWN7payload",
}


def _planted_body(api: str) -> bytes:
    kw: dict[str, Any] = {}
    if api == "responses":
        kw["tool"] = "function_call"
    if api == "chat":
        kw["tool_calls"] = 1
    if api == "assistants":
        kw["tool_call"] = "function"
    body = body_for(api, **kw)
    body = (
        body.replace(b" quick", b" " + SECRETS["output"].encode())
        .replace(b"The", SECRETS["output"].encode())
        .replace(b"Paris", SECRETS["tool_args"].encode())
        .replace(b'"instructions":null', b'"instructions":"' + SECRETS["instructions"].encode() + b'"')
        .replace(b"You are a helpful assistant.", SECRETS["instructions"].encode())
        .replace(b'"metadata":{}', b'"metadata":{"k":"' + SECRETS["metadata"].encode() + b'"}')
    )
    # An event runwatch does not know, whose payload is content.
    unknown = sse_frame({"delta": SECRETS["unknown_event"]})
    frames = body.split(b"\n\n")
    return b"\n\n".join([*frames[:3], unknown.rstrip(b"\n"), *frames[3:]])


def _extra(api: str) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "extra_headers": {"X-Custom": SECRETS["header"]},
        "extra_body": {"metadata": {"k": SECRETS["metadata"]}, "input": SECRETS["prompt"]},
    }
    if api in ("responses", "assistants"):
        extra["extra_body"]["instructions"] = SECRETS["instructions"]
    return extra


def _scan_spans(exporter: InMemorySpanExporter) -> list[str]:
    texts = []
    for span in exporter.get_finished_spans():
        texts.append(span.name)
        texts.append(repr(dict(span.attributes or {})))
        texts.append(repr(span.status.description))
        for ev in span.events:
            texts.append(ev.name)
            texts.append(repr(dict(ev.attributes or {})))
        for link in span.links:
            texts.append(repr(dict(link.attributes or {})))
    return texts


@pytest.mark.parametrize("api", APIS)
def test_no_planted_secret_reaches_telemetry(api: str) -> None:
    """With the DEFAULT Observer settings (no capture_content), secrets planted in the API key,
    a custom header, the prompt, output deltas, tool-call arguments, instructions, metadata and an
    unknown event's payload never appear in any span name/attribute/event/status, any metric
    sample (Prometheus exposition and OTel GenAI metrics), or any structlog event field."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    registry = CollectorRegistry()
    observer = runwatch.Observer(
        registry=registry, tracer_provider=provider, meter_provider=MeterProvider(metric_readers=[reader])
    )
    body = _planted_body(api)
    on_wire = {k for k, v in SECRETS.items() if v.encode() in body}
    assert "unknown_event" in on_wire
    assert on_wire & {"output", "tool_args"}
    seen_requests: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen_requests.append(request)
        return httpx2.Response(200, headers=SSE, content=iter([body[:500], body[500:]]))

    client = runwatch.instrument(sync_client(handler, api_key=SECRETS["api_key"]), observer)
    with structlog.testing.capture_logs() as logs, open_stream(client, api, **_extra(api)) as stream:
        for _ in stream:
            pass
    # The secrets really were on the wire.
    sent = seen_requests[0]
    assert sent.headers["authorization"] == f"Bearer {SECRETS['api_key']}"
    assert sent.headers["x-custom"] == SECRETS["header"]
    if sent.method == "POST":
        assert SECRETS["prompt"].encode() in sent.content
    assert logs, "the log sink emitted nothing: the scan would prove nothing"
    assert exporter.get_finished_spans()

    exported: list[str] = _scan_spans(exporter)
    exported.append(generate_latest(registry).decode())
    exported.append(reader.get_metrics_data().to_json())
    exported.extend(repr(entry) for entry in logs)
    blob = "\n".join(exported)
    leaked = [k for k, v in SECRETS.items() if v in blob or v[:12] in blob]
    assert leaked == []
