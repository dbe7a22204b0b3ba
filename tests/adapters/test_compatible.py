"""OpenAI-compatible servers through the real openai SDK (issue 16): provider error codes, a clean
end without a finish reason, Azure's first chunk, ids rotated mid-stream, and the protocol-consistency
anomalies, with the exact metric samples, span events and log events each one produces.

Each case is a transcript of tests/data whose expected.json entry carries ``anomalies`` (and the
request ``params`` runwatch reads: ``max_tokens``, ``stream_options``). The caller sees exactly
what the bare SDK gives it; runwatch records one run with the expected status and reason, and
exactly the expected anomalies, under the transport tap, under ``watch()`` and under both.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import structlog
import structlog.testing
from opentelemetry.trace import SpanKind

import runwatch
from runwatch._labels import reason_label

from . import drivers
from .conftest import (
    EXPECTED,
    OPENAI_MAJOR,
    Obs,
    Reply,
    Wire,
    case_replies,
    chunked,
    make_client,
    new_obs,
)

COMPATIBLE = [pytest.param(name, id=name) for name, case in EXPECTED.items() if "anomalies" in case]
OBSERVED = ("instrument", "watch", "both")
MODEL = "gpt-4o"  # the model every request here names: the runs' model label


# ------------------------------------------------------------------------------------- drivers
class OnePassWire(Wire):
    """A wire whose bodies read once, as a network stream does: after ``[DONE]`` openai 3.x drains
    what is left of the body, and conftest's bodies would start over (each body twice to the tap)."""

    def _response(self, reply: Reply, body_cls: type) -> Any:
        if reply.json is not None or reply.preread:
            return super()._response(reply, body_cls)
        body = body_cls(iter(chunked(reply.body)), reply.fail)
        self.bodies.append(body)
        headers = {"content-type": "text/event-stream; charset=utf-8"}
        return self.module.Response(reply.status, headers=headers, stream=body)


def _client(name: str, *, is_async: bool = False) -> Any:
    return make_client(OnePassWire(case_replies(name)), is_async=is_async)


def _params(case: dict[str, Any], index: int) -> dict[str, Any]:
    params = case.get("params") or []
    return dict(params[index]) if index < len(params) else {}


def _create(client: Any, api: str, params: dict[str, Any]) -> Any:
    if api == "chat":
        return client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True, **params
        )
    return client.responses.create(model=MODEL, input="hi", stream=True, **params)


def _drive(client: Any, case: dict[str, Any], mode: str, observer: runwatch.Observer) -> list[Any]:
    drivers.setup(client, mode, observer)
    api = case["runs"][0]["api"]
    out = []
    for index, _ in enumerate(case["files"]):
        stream = drivers.wrap(_create(client, api, _params(case, index)), mode, observer)
        events, error = [], None
        try:
            for event in stream:
                events.append(drivers.rec(event))
        except Exception as exc:
            error = drivers.err(exc)
            stream.close()
        out.append((events, error))
    return out


async def _adrive(client: Any, case: dict[str, Any], mode: str, observer: runwatch.Observer) -> list[Any]:
    drivers.setup(client, mode, observer)
    api = case["runs"][0]["api"]
    out = []
    for index, _ in enumerate(case["files"]):
        params = _params(case, index)
        if api == "chat":
            created = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True, **params
            )
        else:
            created = await client.responses.create(model=MODEL, input="hi", stream=True, **params)
        stream = drivers.wrap(created, mode, observer)
        events, error = [], None
        try:
            async for event in stream:
                events.append(drivers.rec(event))
        except Exception as exc:
            error = drivers.err(exc)
            await stream.close()
        out.append((events, error))
    return out


# --------------------------------------------------------------------------------- observation
def _observe() -> tuple[Obs, structlog.testing.CapturingLogger]:
    """A fresh observer (registry, in-memory spans) whose logs are captured as the LogSink's own
    event dicts."""
    capture = structlog.testing.CapturingLogger()
    logger = structlog.wrap_logger(capture, processors=[structlog.processors.add_log_level])
    return new_obs(logger=logger), capture


def _samples(obs: Obs, metric: str, *labels: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(s.labels[k] for k in labels): s.value
        for m in obs.registry.collect()
        for s in m.samples
        if s.name == metric and s.value
    }


def _assert_recorded(name: str, obs: Obs, capture: structlog.testing.CapturingLogger, mode: str) -> None:
    """Exactly one run with the expected status and raw reason, exactly the expected anomalies:
    as metric samples, as events on the run's span, and as ``run.anomaly`` logs."""
    case = EXPECTED[name]
    (run,) = case["runs"]
    api, status, reason = run["api"], run["status"], run["reason"]
    assert reason_label(api, reason) == reason, "the reason is a label value, not _other"
    assert _samples(obs, "runwatch_runs_total", "api", "model", "status", "reason") == {
        (api, MODEL, status, reason): 1.0
    }, mode
    assert _samples(obs, "runwatch_runs_started_total", "api", "model") == {(api, MODEL): 1.0}
    expected = Counter(case["anomalies"])
    assert _samples(obs, "runwatch_stream_anomalies_total", "api", "kind") == {
        (api, kind): float(n) for kind, n in expected.items()
    }, mode
    (span,) = [s for s in obs.spans() if s.kind == SpanKind.CLIENT]
    assert span.attributes["runwatch.run.reason"] == reason  # the raw code, kept on the span
    on_span = Counter(
        e.attributes["runwatch.anomaly.kind"] for e in span.events if e.name == "runwatch.anomaly"
    )
    assert on_span == expected, mode
    logged = Counter(c.kwargs["kind"] for c in capture.calls if c.kwargs.get("event") == "run.anomaly")
    assert logged == expected, mode
    finished = [c.kwargs for c in capture.calls if c.kwargs.get("event") == "run.finished"]
    assert [(f["status"], f["reason"]) for f in finished] == [(status, reason)]
    obs.settled()


# ------------------------------------------------------------------------------------- the cases
@pytest.mark.parametrize("mode", OBSERVED)
@pytest.mark.parametrize("name", COMPATIBLE)
def test_compatible_server_streams_through_the_sdk(name: str, mode: str) -> None:
    """Each compatible server's stream, read through ``client.*.create(stream=True)`` with the
    request the case names: the caller gets exactly what the bare SDK gives it (events, the
    APIError of an in-band error), and runwatch records the expected outcome and anomalies."""
    case = EXPECTED[name]
    bare = _drive(_client(name), case, "bare", new_obs().observer)
    obs, capture = _observe()
    got = _drive(_client(name), case, mode, obs.observer)
    assert got == bare
    _assert_recorded(name, obs, capture, mode)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", OBSERVED)
@pytest.mark.parametrize("name", COMPATIBLE)
async def test_compatible_server_streams_through_the_async_sdk(name: str, mode: str) -> None:
    """The same through ``AsyncOpenAI``."""
    case = EXPECTED[name]
    bare = await _adrive(_client(name, is_async=True), case, "bare", new_obs().observer)
    obs, capture = _observe()
    got = await _adrive(_client(name, is_async=True), case, mode, obs.observer)
    assert got == bare
    _assert_recorded(name, obs, capture, mode)


@pytest.mark.parametrize("mode", OBSERVED)
def test_no_content_of_a_provider_error_is_recorded(mode: str) -> None:
    """Groq's error carries the model's failed output (``failed_generation``) and a message: no
    span attribute, span event or log field holds any of it; the code alone is recorded."""
    name = "chat_groq_tool_use_failed"
    obs, capture = _observe()
    _drive(_client(name), EXPECTED[name], mode, obs.observer)
    texts = [str(v) for s in obs.spans() for v in s.attributes.values()]
    texts += [str(v) for s in obs.spans() for e in s.events for v in (e.attributes or {}).values()]
    texts += [str(v) for c in capture.calls for v in c.kwargs.values()]
    assert "tool_use_failed" in texts
    for secret in ("Paris", "get_weather", "Failed to call", "Let me check"):
        assert not [t for t in texts if secret in t], secret


# ------------------------------------------------------------------ the SDK's own stream helper
@pytest.mark.skipif(
    OPENAI_MAJOR < 3, reason="openai < 3: responses.stream() does not check the response id, nothing raises"
)
@pytest.mark.parametrize("mode", OBSERVED)
def test_id_rotated_under_the_responses_helper_is_one_aborted_run(mode: str) -> None:
    """``responses.stream()`` refuses a stream whose response id changes (the SDK raises after the
    first event and closes the response): its caller sees that same exception, and runwatch one
    run, ended where the caller stopped reading (aborted), never a second or third run."""
    name = "responses_id_rotated"
    case = EXPECTED[name]
    bare = drivers.responses_helper_sync(_client(name), case, "bare", new_obs().observer)
    assert ": ".join(bare["error"]) == case["helper_error"]
    obs, _ = _observe()
    got = drivers.responses_helper_sync(_client(name), case, mode, obs.observer)
    got.pop("watched_final")
    bare.pop("watched_final")
    assert got == bare
    runs = _samples(obs, "runwatch_runs_total", "api", "status")
    assert runs == {("responses", "aborted"): 1.0}, mode
    assert _samples(obs, "runwatch_runs_started_total", "api") == {("responses",): 1.0}
    obs.settled()


# ------------------------------------------------------------------------ non-streaming answers
def _completion(choice: dict[str, Any], usage: dict[str, int] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-n1",
        "object": "chat.completion",
        "created": 1735689600,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, **choice}],
        **extra,
    }
    if usage is not None:
        body["usage"] = usage
    return body


_USAGE_16 = {"prompt_tokens": 9, "completion_tokens": 16, "total_tokens": 25}
_BLOCKED = [
    {"prompt_index": 0, "content_filter_results": {"jailbreak": {"filtered": True, "detected": True}}}
]


@pytest.mark.parametrize(
    ("body", "params", "outcome", "anomalies"),
    [
        pytest.param(_completion({"finish_reason": "stop"}, _USAGE_16), {"max_tokens": 16},
                     ("completed", "none"), {"stop_at_max_tokens": 1}, id="stop-at-max-tokens"),
        pytest.param(_completion({"finish_reason": "stop"}, _USAGE_16), {"max_completion_tokens": 17},
                     ("completed", "none"), {}, id="stop-below-max-completion-tokens"),
        pytest.param(_completion({"finish_reason": "length"}, _USAGE_16), {"max_tokens": 16},
                     ("incomplete", "length"), {}, id="length-at-max-tokens"),
        pytest.param(_completion({"finish_reason": "stop"}, _USAGE_16), {"max_tokens": 16, "n": 2},
                     ("completed", "none"), {}, id="n2-usage-sums-choices"),
        pytest.param(_completion({}, _USAGE_16), {}, ("completed", "no_finish_reason"),
                     {"missing_finish_reason": 1}, id="cortex-no-finish-reason"),
        pytest.param(_completion({"finish_reason": None}, None, prompt_filter_results=_BLOCKED), {},
                     ("incomplete", "content_filter"), {}, id="azure-prompt-filtered"),
    ],
)  # fmt: skip
def test_non_streaming_answers_keep_the_same_contract(
    body: dict[str, Any], params: dict[str, Any], outcome: tuple[str, str], anomalies: dict[str, int]
) -> None:
    """A whole completion (no ``stream=True``) is checked as a stream is: a stop at the request's
    token limit (only where one choice makes the usage comparable), a completion without a finish
    reason, a prompt Azure's filter blocked."""
    obs, _ = _observe()
    client = make_client(Wire([Reply(json=body)]))
    drivers.setup(client, "instrument", obs.observer)
    result = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], **params
    )
    assert result.id == "chatcmpl-n1"
    assert _samples(obs, "runwatch_runs_total", "status", "reason") == {outcome: 1.0}
    assert _samples(obs, "runwatch_stream_anomalies_total", "kind") == {
        (kind,): float(n) for kind, n in anomalies.items()
    }
    obs.settled()
