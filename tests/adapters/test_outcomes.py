"""Every request, one honest outcome: through the real openai SDK, sync and async.

Each case runs the same calls against a plain client and an instrumented one over a fake wire and
asserts (1) the caller gets the same events, objects and exceptions, and (2) the exact samples of
runwatch's metrics: runs by status and reason, runs started by model, request errors by status
code and code. Run identity is the HTTP exchange: ids repeat (Ollama, vLLM, caches), requests
fail before their first event, calls do not stream, bodies arrive compressed or oddly typed.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

import runwatch
from runwatch.testing import chat_stream, response_object, responses_stream, run_object

from .conftest import Obs, http, new_obs

T0 = 1_760_000_000
MODES = ("sync", "async")
SSE = "text/event-stream; charset=utf-8"


# ------------------------------------------------------------------------------------ the wire
@dataclass
class Answer:
    """One HTTP answer: a status, headers and a body streamed in chunks, or a failure."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": SSE})
    raise_before: BaseException | None = None  # no response at all
    fail_after: BaseException | None = None  # raised by the body after all of ``body``
    delay: float = 0.0  # seconds before the headers
    chunk: int = 61


def json_answer(obj: Any, status: int = 200, **kw: Any) -> Answer:
    return Answer(json.dumps(obj).encode(), status, {"content-type": "application/json"}, **kw)


class Server:
    """Serves ``answers`` in order (a fresh copy per client), recording request lines."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers
        self.index = 0
        self.seen: list[str] = []

    def _next(self, request: Any) -> Answer:
        query = request.url.query
        query = query.decode() if isinstance(query, bytes) else query
        self.seen.append(f"{request.method} {request.url.path}" + (f"?{query}" if query else ""))
        answer = self.answers[self.index]
        self.index += 1
        return answer

    def _chunks(self, a: Answer) -> list[bytes]:
        return [a.body[i : i + a.chunk] for i in range(0, len(a.body), a.chunk)]

    def handler(self, request: Any) -> Any:
        a = self._next(request)
        if a.delay:
            time.sleep(a.delay)
        if a.raise_before is not None:
            raise a.raise_before
        # One pass, like a network stream (the SDK drains what is left after [DONE]).
        parts, fail = iter(self._chunks(a)), a.fail_after

        class Body(http.SyncByteStream):  # type: ignore[misc,name-defined]
            def __iter__(self) -> Iterator[bytes]:
                yield from parts
                if fail is not None:
                    raise fail

        return http.Response(a.status, headers=a.headers, stream=Body())

    async def async_handler(self, request: Any) -> Any:
        a = self._next(request)
        if a.delay:
            await asyncio.sleep(a.delay)
        if a.raise_before is not None:
            raise a.raise_before
        parts, fail = iter(self._chunks(a)), a.fail_after

        class Body(http.AsyncByteStream):  # type: ignore[misc,name-defined]
            async def __aiter__(self) -> AsyncIterator[bytes]:
                for p in parts:
                    yield p
                if fail is not None:
                    raise fail

        return http.Response(a.status, headers=a.headers, stream=Body())


def client(server: Server, is_async: bool, retries: int = 0) -> Any:
    kw: dict[str, Any] = {"api_key": "sk-test", "base_url": "http://api.test/v1", "max_retries": retries}
    if is_async:
        return openai.AsyncOpenAI(
            http_client=http.AsyncClient(transport=http.MockTransport(server.async_handler)), **kw
        )
    return openai.OpenAI(http_client=http.Client(transport=http.MockTransport(server.handler)), **kw)


# --------------------------------------------------------------------------------- the callers
def dump(obj: Any) -> Any:
    return obj.model_dump(mode="json", warnings=False) if hasattr(obj, "model_dump") else repr(obj)


Call = Callable[[Any], Any]


def chat_streaming(c: Any) -> Any:
    return c.chat.completions.create(model="gpt-4o-mini", messages=[], stream=True)


def chat_plain(c: Any) -> Any:
    return c.chat.completions.create(model="gpt-4o-mini", messages=[])


def responses_streaming(c: Any) -> Any:
    return c.responses.create(model="gpt-4o", input="hi", stream=True)


def responses_plain(c: Any) -> Any:
    return c.responses.create(model="gpt-4o", input="hi")


def _consume(result: Any) -> Any:
    if hasattr(result, "__iter__") and not hasattr(result, "model_dump"):
        return [dump(e) for e in result]
    return dump(result)


async def _aconsume(result: Any) -> Any:
    if asyncio.iscoroutine(result):
        result = await result
    if hasattr(result, "__aiter__"):
        return [dump(e) async for e in result]
    return dump(result)


def drive(
    mode: str, server: Server, calls: list[Call], observer: runwatch.Observer | None, retries: int = 0
) -> list[Any]:
    """Run ``calls`` in order on one client; each call's events / object, or its exception."""
    c = client(server, mode == "async", retries)
    if observer is not None:
        runwatch.instrument(c, observer)
    out: list[Any] = []
    for call in calls:
        try:
            if mode == "async":
                out.append(asyncio.run(_aconsume(call(c))))
            else:
                out.append(_consume(call(c)))
        except Exception as exc:
            out.append(("raised", type(exc).__name__, str(exc)))
    runwatch._observer.wait_finalized()
    return out


def both(mode: str, answers: list[Answer], calls: list[Call], retries: int = 0) -> tuple[Obs, list[Any]]:
    """The same calls against a plain and an instrumented client: the caller sees the same."""
    plain = drive(mode, Server(answers), calls, None, retries)
    obs = new_obs()
    watched = drive(mode, Server(answers), calls, obs.observer, retries)
    assert watched == plain
    return obs, watched


def samples(obs: Obs, family: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every non-zero sample of ``family``'s ``_total`` (or gauge), by sorted labels."""
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for metric in obs.registry.collect():
        if metric.name != family:
            continue
        for s in metric.samples:
            if s.name in (family + "_total", family) and s.value:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def runs(obs: Obs) -> dict[tuple[str, str, str, str], float]:
    return {
        (d["api"], d["model"], d["status"], d["reason"]): v
        for d, v in ((dict(k), v) for k, v in samples(obs, "runwatch_runs").items())
    }


def started(obs: Obs) -> dict[tuple[str, str], float]:
    return {
        (d["api"], d["model"]): v
        for d, v in ((dict(k), v) for k, v in samples(obs, "runwatch_runs_started").items())
    }


def request_errors(obs: Obs) -> dict[tuple[str, str, str], float]:
    return {
        (d["api"], d["status_code"], d["code"]): v
        for d, v in ((dict(k), v) for k, v in samples(obs, "runwatch_request_errors").items())
    }


def anomalies(obs: Obs) -> dict[str, float]:
    return {dict(k)["kind"]: v for k, v in samples(obs, "runwatch_stream_anomalies").items()}


def chat_body(run_id: str = "chatcmpl-1", finish: str | None = "stop") -> bytes:
    return chat_stream(finish, id=run_id, t0=T0)


# ------------------------------------------------------------------------------ 1. run identity
@pytest.mark.parametrize("mode", MODES)
def test_repeated_ids_are_runs_of_their_own(mode: str) -> None:
    """Ollama-shaped ids (drawn from 999 values) and a cache replaying one id: every create
    stream is a run; each id seen again says so once as ``duplicate_id``. 1,500 streams from
    999 ids count 1,500 runs (the first release counted 999)."""
    n, values = 1_500, 999
    answers = [Answer(chat_body(f"chatcmpl-{i % values}")) for i in range(n)]
    obs, _ = both(mode, answers, [chat_streaming] * n)
    assert runs(obs) == {("chat", "gpt-4o-mini", "completed", "none"): n}
    assert started(obs) == {("chat", "gpt-4o-mini"): n}
    assert anomalies(obs) == {"duplicate_id": n - values}
    obs.settled()


@pytest.mark.parametrize("mode", MODES)
def test_tap_and_watch_on_one_exchange_count_once(mode: str) -> None:
    """Double observation (the tap plus ``watch()`` on the same HTTP exchange) is recognised by
    the exchange, not the id: two exchanges with one id are two runs; each counted once."""
    obs = new_obs()
    server = Server([Answer(chat_body("chatcmpl-same")), Answer(chat_body("chatcmpl-same"))])
    c = runwatch.instrument(client(server, mode == "async"), obs.observer)

    async def go_async() -> None:
        for _ in range(2):
            stream = runwatch.watch(await chat_streaming(c), obs.observer)
            async for _event in stream:
                pass

    if mode == "async":
        asyncio.run(go_async())
    else:
        for _ in range(2):
            for _event in runwatch.watch(chat_streaming(c), obs.observer):
                pass
    assert runs(obs) == {("chat", "gpt-4o-mini", "completed", "none"): 2}
    assert anomalies(obs) == {"duplicate_id": 1}
    obs.settled()


# ------------------------------------------------------------------- 2. before the first event
ERROR = {"error": {"message": "slow down", "type": "requests", "param": None, "code": "rate_limit_exceeded"}}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("answer", "error", "key"),
    [
        pytest.param(json_answer(ERROR, 429), "RateLimitError", ("chat", "429", "rate_limit_exceeded"),
                     id="429"),
        pytest.param(
            json_answer({"error": {"message": "x", "type": "server_error", "code": None}}, 500),
            "InternalServerError", ("chat", "500", "server_error"), id="500-type-only",
        ),
        pytest.param(
            json_answer({"error": {"type": "invalid_request_error", "code": "invalid_api_key"}}, 401),
            "AuthenticationError", ("chat", "401", "invalid_api_key"), id="401",
        ),
        pytest.param(Answer(b"<html>bad gateway</html>", 502, {"content-type": "text/html"}),
                     "InternalServerError", ("chat", "502", "none"), id="502-html"),
        # Nested too deep for json.loads (RecursionError): the SDK still raises its own error.
        pytest.param(Answer(b'{"error":' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400,
                            {"content-type": "application/json"}),
                     "BadRequestError", ("chat", "400", "none"), id="400-nested-too-deep"),
        pytest.param(json_answer({"error": {"code": "weird"}}, 418), "APIStatusError",
                     ("chat", "_other", "_other"),
                     id="418-unknown"),
        pytest.param(Answer(raise_before=http.ConnectError("refused")), "APIConnectionError",
                     ("chat", "transport", "connect_error"), id="connect-error"),
        pytest.param(Answer(raise_before=http.ReadTimeout("slow")), "APITimeoutError",
                     ("chat", "transport", "timeout"), id="timeout-before-headers"),
    ],
)  # fmt: skip
def test_request_errors_are_counted_not_runs(
    mode: str, answer: Answer, error: str, key: tuple[str, ...]
) -> None:
    """A request that fails before its first event (an HTTP error, no response at all) is one
    request error by status code and the error body's code, with a span and a warning log; it is
    not a run."""
    obs, result = both(mode, [answer], [chat_streaming])
    assert result[0][:2] == ("raised", error)
    assert request_errors(obs) == {key: 1}
    assert runs(obs) == {}
    assert started(obs) == {}
    spans = obs.spans()
    assert len(spans) == 1
    assert spans[0].attributes["error.type"]
    assert spans[0].status.status_code.name == "ERROR"
    assert any("request.failed" in str(line) for line in obs.logger._logger.calls)  # type: ignore[union-attr]
    obs.settled()


@pytest.mark.parametrize("mode", MODES)
def test_retries_are_request_errors_per_attempt_then_one_run(mode: str) -> None:
    """429, 429, then a stream (the SDK retrying): two request errors (attempts 0 and 1) and one
    run. The SDK closes a response it retries without reading its body, and runwatch reads
    nothing the caller does not: those attempts' code is ``none``."""
    throttled = json_answer(ERROR, 429)
    throttled.headers["retry-after-ms"] = "1"
    answers = [throttled, throttled, Answer(chat_body())]
    obs, _ = both(mode, answers, [chat_streaming], retries=2)
    assert request_errors(obs) == {("chat", "429", "none"): 2}
    assert runs(obs) == {("chat", "gpt-4o-mini", "completed", "none"): 1}
    attempts = sorted(
        s.attributes["runwatch.request.attempt"] for s in obs.spans() if "error.type" in s.attributes
    )
    assert attempts == [0, 1]
    obs.settled()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("answer", "outcome", "anomaly"),
    [
        pytest.param(Answer(b""), ("aborted", "stream_ended"), "missing_terminal", id="empty-200"),
        pytest.param(Answer(b"", fail_after=http.ReadError("reset")), ("aborted", "transport_error"), None,
                     id="cut-before-first-byte"),
        pytest.param(Answer(b": keep-alive\n\n", fail_after=http.ReadTimeout("slow")),
                     ("aborted", "transport_error"), None, id="timeout-before-first-event"),
        pytest.param(Answer(b"<html>maintenance</html>", headers={"content-type": "text/html"}),
                     ("aborted", "stream_ended"), "missing_terminal", id="html-page-with-200"),
    ],
)  # fmt: skip
def test_accepted_then_lost_before_the_first_event_is_an_aborted_run(
    mode: str, answer: Answer, outcome: tuple[str, str], anomaly: str | None
) -> None:
    """A 200 whose body ends or breaks before its first event was accepted and then lost: a run
    of the endpoint's api, ended aborted, under the request's model."""
    obs, _ = both(mode, [answer], [chat_streaming])
    assert runs(obs) == {("chat", "gpt-4o-mini", *outcome): 1}
    assert request_errors(obs) == {}
    if anomaly is not None:
        assert anomaly in anomalies(obs)
    obs.settled()


# ------------------------------------------------------------------------ 3. non-streaming calls
def chat_completion(finish: str, *, tool_calls: int = 0, run_id: str = "chatcmpl-9") -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "hello", "refusal": None}
    if tool_calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            for i in range(tool_calls)
        ]
    return {
        "id": run_id,
        "object": "chat.completion",
        "created": T0,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def responses_obj(
    status: str, reason: str | None = None, *, background: bool = False, **kw: Any
) -> dict[str, Any]:
    usage = {
        "input_tokens": 9,
        "output_tokens": 4,
        "total_tokens": 13,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }
    return response_object(
        response_id="resp_plain1", model="gpt-4o-2024-08-06", status=status, t0=T0,
        background=background, incomplete_reason=reason, usage=usage, **kw,
    )  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("call", "obj", "expected", "tools"),
    [
        pytest.param(chat_plain, chat_completion("length"),
                     ("chat", "gpt-4o-mini", "incomplete", "length"), 0,
                     id="chat-length"),
        pytest.param(chat_plain, chat_completion("tool_calls", tool_calls=2),
                     ("chat", "gpt-4o-mini", "completed", "none"), 2, id="chat-tool-calls"),
        pytest.param(chat_plain, chat_completion("content_filter"),
                     ("chat", "gpt-4o-mini", "incomplete", "content_filter"), 0, id="chat-content-filter"),
        pytest.param(responses_plain, responses_obj("incomplete", "max_output_tokens"),
                     ("responses", "gpt-4o", "incomplete", "max_output_tokens"), 0,
                     id="responses-incomplete"),
        pytest.param(responses_plain, responses_obj("completed"),
                     ("responses", "gpt-4o", "completed", "none"), 0,
                     id="responses-completed"),
        pytest.param(responses_plain, responses_obj("completed", output=[
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{}",
             "status": "completed"},
            {"type": "web_search_call", "id": "ws_1", "status": "completed",
             "action": {"type": "search", "query": "q"}},
        ]), ("responses", "gpt-4o", "completed", "none"), 2, id="responses-tool-calls"),
    ],
)  # fmt: skip
def test_non_streaming_calls_are_runs(
    mode: str, call: Call, obj: dict[str, Any], expected: tuple[str, ...], tools: int
) -> None:
    """``create`` without ``stream=True`` is a run with the same outcome contract: status,
    reason, tokens, tool calls, duration; the caller gets the SDK's own object."""
    obs, result = both(mode, [json_answer(obj)], [call])
    assert result[0]["id"] == obj["id"]
    assert runs(obs) == {expected: 1}
    assert started(obs) == {expected[:2]: 1}
    api, model = expected[:2]
    assert obs.value("runwatch_tokens_total", api=api, model=model, type="output") > 0
    assert sum(samples(obs, "runwatch_tool_calls").values()) == tools
    assert obs.value("runwatch_run_duration_seconds_count", api=api, model=model, status=expected[2]) == 1
    obs.settled()


@pytest.mark.parametrize("mode", MODES)
def test_background_response_followed_by_polling(mode: str) -> None:
    """A background response created without a stream (queued), then polled with
    ``responses.retrieve`` until it completes: one run, completed, not an abandoned one."""
    answers = [
        json_answer(responses_obj("queued", background=True)),
        json_answer(responses_obj("in_progress", background=True)),
        json_answer(responses_obj("completed", background=True)),
    ]

    def retrieve(c: Any) -> Any:
        return c.responses.retrieve("resp_plain1")

    obs, _ = both(mode, answers, [lambda c: c.responses.create(model="gpt-4o", input="hi", background=True),
                                  retrieve, retrieve])  # fmt: skip
    assert runs(obs) == {("responses", "gpt-4o", "completed", "none"): 1}
    assert obs.observer.book.parked == 0
    obs.settled()


@pytest.mark.parametrize("mode", MODES)
def test_background_response_cancelled(mode: str) -> None:
    """A background response created without a stream, then ``responses.cancel``: one run,
    ``cancelled`` (the cancel's answer says so), not one left waiting until the TTL."""
    answers = [
        json_answer(responses_obj("queued", background=True)),
        json_answer(responses_obj("cancelled", background=True)),
    ]
    obs, _ = both(mode, answers, [lambda c: c.responses.create(model="gpt-4o", input="hi", background=True),
                                  lambda c: c.responses.cancel("resp_plain1")])  # fmt: skip
    assert runs(obs) == {("responses", "gpt-4o", "cancelled", "none"): 1}
    assert obs.observer.book.parked == 0
    obs.settled()


def run_obj(status: str, **kw: Any) -> dict[str, Any]:
    return run_object(
        run_id="run_p1",
        thread_id="thread_p1",
        assistant_id="asst_p1",
        model="gpt-4o",
        status=status,
        t0=T0,
        **kw,
    )


def retrieve_run(c: Any) -> Any:
    return c.beta.threads.runs.retrieve("run_p1", thread_id="thread_p1")


def create_run(c: Any) -> Any:
    return c.beta.threads.runs.create("thread_p1", assistant_id="asst_p1")


def cancel_run(c: Any) -> Any:
    return c.beta.threads.runs.cancel("run_p1", thread_id="thread_p1")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("calls", "statuses", "expected"),
    [
        pytest.param([retrieve_run], ["in_progress"], {}, id="one-retrieve-of-a-foreign-run"),
        pytest.param([retrieve_run], ["completed"], {}, id="retrieve-of-a-finished-run"),
        pytest.param([retrieve_run, retrieve_run], ["in_progress", "completed"],
                     {("assistants", "gpt-4o", "completed", "none"): 1}, id="seen-unfinished-then-finished"),
        pytest.param([create_run, retrieve_run, retrieve_run], ["queued", "in_progress", "incomplete"],
                     {("assistants", "gpt-4o", "incomplete", "max_completion_tokens"): 1},
                     id="create-then-poll"),
        pytest.param([create_run, cancel_run], ["queued", "cancelling"],
                     {("assistants", "gpt-4o", "cancelled", "none"): 1}, id="create-then-cancel"),
        pytest.param([create_run, retrieve_run, cancel_run, retrieve_run],
                     ["queued", "in_progress", "cancelling", "cancelled"],
                     {("assistants", "gpt-4o", "cancelled", "none"): 1}, id="poll-cancel-poll"),
    ],
)  # fmt: skip
def test_polling_counts_only_runs_it_followed(
    mode: str, calls: list[Call], statuses: list[str], expected: dict[tuple[str, ...], float]
) -> None:
    """A poll follows a run this process created, or saw unfinished and then finished; a single
    retrieve of someone else's run is a read (no phantom run ending abandoned at the TTL); a
    cancel the server accepted ends the run cancelled."""
    answers = [
        json_answer(run_obj(s, incomplete_reason="max_completion_tokens" if s == "incomplete" else None))
        for s in statuses
    ]
    obs, _ = both(mode, answers, calls)
    obs.observer.book.flush(time.time() + 1e6)  # whatever still waits ends now: nothing should
    assert runs(obs) == expected
    obs.settled()


# ------------------------------------------------------------------ 5. compression, content types
def deflate(data: bytes) -> bytes:
    return zlib.compress(data)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("encoding", "content_type", "encode"),
    [
        pytest.param("gzip", SSE, gzip.compress, id="gzip"),
        pytest.param("deflate", SSE, deflate, id="deflate"),
        pytest.param("gzip, deflate", SSE, lambda b: deflate(gzip.compress(b)), id="gzip-then-deflate"),
        pytest.param(None, None, None, id="no-content-type"),
        pytest.param(None, "text/plain", None, id="text-plain"),
        pytest.param(None, "application/json", None, id="application-json"),
        pytest.param(None, "TEXT/EVENT-STREAM; Charset=UTF-8", None, id="upper-case"),
    ],
)  # fmt: skip
def test_bodies_as_the_caller_gets_them(
    mode: str, encoding: str | None, content_type: str | None, encode: Callable[[bytes], bytes] | None
) -> None:
    """Compressed streams are decompressed exactly as the client does; a stream with a missing
    or wrong content type is known by the request having asked for one. Both are counted."""
    body = chat_body(finish="length")
    headers = {}
    if content_type is not None:
        headers["content-type"] = content_type
    if encoding is not None and encode is not None:
        headers["content-encoding"] = encoding
        body = encode(body)
    obs, _ = both(mode, [Answer(body, headers=headers, chunk=17)], [chat_streaming])
    assert runs(obs) == {("chat", "gpt-4o-mini", "incomplete", "length"): 1}
    assert obs.value("runwatch_tokens_total", api="chat", model="gpt-4o-mini", type="input") > 0
    obs.settled()


@pytest.mark.parametrize("mode", MODES)
def test_compressed_non_streaming_body(mode: str) -> None:
    """A gzip-compressed JSON answer to a non-streaming create is read like the client reads it."""
    answer = json_answer(chat_completion("length"))
    answer.body = gzip.compress(answer.body)
    answer.headers["content-encoding"] = "gzip"
    obs, _ = both(mode, [answer], [chat_plain])
    assert runs(obs) == {("chat", "gpt-4o-mini", "incomplete", "length"): 1}
    obs.settled()


# -------------------------------------------------------------------------- 6. one model label
@pytest.mark.parametrize("mode", MODES)
def test_one_model_label_for_the_life_of_a_run(mode: str) -> None:
    """The request's model is the run's label from start to end (started minus finished by
    model is meaningful); the served model goes on the span as ``gen_ai.response.model``."""
    body = responses_stream(
        "incomplete:max_output_tokens", response_id="resp_m1", model="gpt-4o-2024-08-06", t0=T0
    )
    obs, _ = both(mode, [Answer(body)], [responses_streaming])
    assert started(obs) == {("responses", "gpt-4o"): 1}
    assert runs(obs) == {("responses", "gpt-4o", "incomplete", "max_output_tokens"): 1}
    (span,) = [s for s in obs.spans() if s.attributes.get("runwatch.run.id") == "resp_m1"]
    assert span.attributes["gen_ai.request.model"] == "gpt-4o"
    assert span.attributes["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    obs.settled()


# ---------------------------------------------------------------------- 7. time starts at send
@pytest.mark.parametrize("mode", MODES)
def test_time_starts_when_the_request_is_sent(mode: str) -> None:
    """Headers delayed 0.3 s: the run's duration and its time to first token include the wait
    the caller had (the first release started the clock at the headers)."""
    obs, _ = both(mode, [Answer(chat_body(), delay=0.3)], [chat_streaming])
    ttft = obs.value("runwatch_time_to_first_token_seconds_sum", api="chat", model="gpt-4o-mini")
    duration = obs.value(
        "runwatch_run_duration_seconds_sum", api="chat", model="gpt-4o-mini", status="completed"
    )
    assert ttft >= 0.3
    assert duration >= ttft
    obs.settled()


# ------------------------------------------------------------------------- 8. a cancelled task
def test_task_cancelled_between_events_is_cancelled() -> None:
    """A task cancelled while the caller awaits something else between two events ends its run
    ``cancelled`` (the stream is closed by the cancellation), not ``client_closed``."""
    obs = new_obs()
    server = Server([Answer(chat_body())])
    c = runwatch.instrument(client(server, True), obs.observer)

    async def consume() -> None:
        async with await chat_streaming(c) as stream:
            async for _event in stream:
                await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    runwatch._observer.wait_finalized()
    assert runs(obs) == {("chat", "gpt-4o-mini", "aborted", "cancelled"): 1}
    obs.settled()


# ------------------------------------------------------------- 8. [DONE] in a Responses stream
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunk", [7, 97, 100_000], ids=["7B", "97B", "whole"])
def test_done_mid_responses_stream_is_one_outcome_whatever_the_chunking(mode: str, chunk: int) -> None:
    """``data: [DONE]`` in the middle of a Responses stream: the SDK stops there (and may drain
    the rest unseen by the caller). The run ends as the caller saw it, aborted / stream_ended with
    ``missing_terminal``, for every chunking (it used to depend on how much a drain read)."""
    from runwatch.testing import split_frames

    frames = split_frames(responses_stream("completed", response_id="resp_d1", t0=T0))
    body = b"".join(frames[:6]) + b"data: [DONE]\n\n" + b"".join(frames[6:])
    obs, _ = both(mode, [Answer(body, chunk=chunk)], [responses_streaming])
    assert runs(obs) == {("responses", "gpt-4o", "aborted", "stream_ended"): 1}
    assert anomalies(obs).get("missing_terminal") == 1
    obs.settled()


@pytest.mark.parametrize("mode", MODES)
def test_non_streaming_create_answered_with_an_html_page_is_an_aborted_run(mode: str) -> None:
    """A non-streaming create answered 200 with something that is not a run object (a proxy's
    maintenance page): the request was accepted and its run lost, counted aborted with an
    anomaly, whatever the SDK makes of the page (the caller's result is the bare SDK's)."""
    answer = Answer(b"<html>maintenance</html>", headers={"content-type": "text/html"})
    obs, _ = both(mode, [answer], [chat_plain])
    assert runs(obs) == {("chat", "gpt-4o-mini", "aborted", "stream_ended"): 1}
    assert anomalies(obs) == {"missing_terminal": 1}
    obs.settled()


@pytest.mark.parametrize("mode", MODES)
def test_a_redirected_create_is_one_run(mode: str) -> None:
    """A create answered 307 (a proxy moving the endpoint) and then, at the new location, a
    stream: the redirect is not a run of its own; the stream it leads to is the one run."""
    moved = Answer(b"", 307, {"location": "http://api.test/v2/chat/completions"})

    def follow(server: Server, is_async: bool) -> Any:
        kw: dict[str, Any] = {"api_key": "sk-test", "base_url": "http://api.test/v1", "max_retries": 0}
        if is_async:
            hc = http.AsyncClient(transport=http.MockTransport(server.async_handler), follow_redirects=True)
            return openai.AsyncOpenAI(http_client=hc, **kw)
        hc = http.Client(transport=http.MockTransport(server.handler), follow_redirects=True)
        return openai.OpenAI(http_client=hc, **kw)

    results = []
    for observer in (None, new_obs()):
        c = follow(Server([moved, Answer(chat_body())]), mode == "async")
        if observer is not None:
            runwatch.instrument(c, observer.observer)
        if mode == "async":
            results.append(asyncio.run(_aconsume(chat_streaming(c))))
        else:
            results.append(_consume(chat_streaming(c)))
    assert results[0] == results[1]
    obs = observer
    assert obs is not None
    # (The redirected request's body is a stream httpx replays, not bytes runwatch can read: the
    # label is the served model there.)
    assert {(api, status, reason): n for (api, _model, status, reason), n in runs(obs).items()} == {
        ("chat", "completed", "none"): 1
    }
    assert request_errors(obs) == {}
    obs.settled()
