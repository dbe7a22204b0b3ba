"""An OpenAI-compatible streaming server on loopback, for the demo and for users' tests.

It speaks just enough of the API for the real ``openai`` SDK to run every streaming path end to
end: Assistants runs (streamed, polled, tool-output continuations), Responses (foreground,
background, resume with ``starting_after``), Chat Completions and agent sessions. Bodies come from
:mod:`runwatch.builders`, so the demo, the recorded transcripts and users' tests share one source of
wire truth. Which scenario a request gets: the ``x-runwatch-scenario`` header if present, else a
seeded pick from the server's :class:`~runwatch.demo.scenarios.Mix`.

Why ``ThreadingHTTPServer`` (HTTP/1.1, chunked bodies) rather than asyncio: the standard library
only, a thread per connection matches the demo driver (a thread pool of sync clients) and the
concurrency is tens of streams, not thousands. Chunked transfer encoding keeps connections
reusable (httpx pools them) and lets each SSE frame be flushed as soon as it is paced. Every wait
in a handler is a bounded wait on the stop event, and :meth:`DemoServer.stop` shuts open sockets
down, so stopping never hangs on a client that keeps a connection open.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import re
import select
import socket
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from runwatch import builders
from runwatch.demo.scenarios import DEFAULT_MIX, Mix, resolve

__all__ = ["SCENARIO_HEADER", "DemoServer", "Timing"]

SCENARIO_HEADER = "x-runwatch-scenario"
_MAX_STORED = 1024  # runs / responses / sessions remembered for polling and resume (oldest dropped)
JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds to wait before ``in_progress`` (queue), before the first token, between tokens."""

    queue: float
    ttft: float
    token: float
    deltas: int

    @property
    def work(self) -> float:
        return self.ttft + self.token * self.deltas

    @classmethod
    def draw(cls, rng: random.Random, speed: float) -> Timing:
        # Shapes loosely follow what gpt-4o-class models show: a short queue, a few hundred ms
        # to the first token, 25-100 tokens/s.
        return cls(
            queue=rng.uniform(0.05, 0.4) / speed,
            ttft=rng.uniform(0.15, 0.6) / speed,
            token=rng.uniform(0.01, 0.04) / speed,
            deltas=rng.randint(6, 24),
        )


@dataclass(slots=True)
class _RunState:
    run_id: str
    thread_id: str
    assistant_id: str
    model: str
    scenario: str
    t0: int
    timing: Timing
    started: float  # monotonic; restarted when tool outputs are submitted
    submitted: bool = False


@dataclass(slots=True)
class _ResponseState:
    response_id: str
    model: str
    scenario: str
    background: bool
    t0: int
    timing: Timing
    started: float
    frames: list[bytes] = field(default_factory=list)


@dataclass(slots=True)
class _SessionState:
    session_id: str
    model: str
    t0: int
    inputs: deque[tuple[str, Timing]] = field(default_factory=deque)
    turns: int = 0
    events: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    ready: threading.Condition = field(default_factory=threading.Condition)

    def submit(self, item: tuple[str, Timing]) -> None:
        with self.ready:
            self.inputs.append(item)
            self.ready.notify_all()

    def take(self, timeout: float) -> tuple[str, Timing] | None:
        with self.ready:
            if not self.ready.wait_for(lambda: bool(self.inputs), timeout=timeout):
                return None
            return self.inputs.popleft()

    def give_back(self, item: tuple[str, Timing]) -> None:
        with self.ready:
            self.inputs.appendleft(item)
            self.ready.notify_all()


class _Bounded(OrderedDict[str, Any]):
    """An insertion-ordered store that forgets its oldest entries: a long ``--serve`` must not grow."""

    def put(self, key: str, value: Any) -> None:
        self[key] = value
        while len(self) > _MAX_STORED:
            self.popitem(last=False)


class _HTTPError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _responses_outcome(scenario: str) -> str:
    # The live API sends the nested error shape; the builder calls that `nested_error`.
    return "nested_error:" + scenario.partition(":")[2] if scenario.startswith("error:") else scenario


def _chat_args(scenario: str) -> tuple[str | None, int]:
    return {
        "completed": ("stop", 0),
        "tool_calls": ("tool_calls", 1),
        "incomplete:length": ("length", 0),
        "incomplete:content_filter": ("content_filter", 0),
        "aborted": (None, 0),
    }[scenario]


def _frame_name(frame: bytes) -> str | None:
    if frame.startswith(b"event: "):
        return frame[7 : frame.index(b"\n")].decode()
    return None


class DemoServer:
    """The demo server. ``start()`` binds 127.0.0.1 (port 0 picks a free port) and serves in a
    background thread; ``url`` is ``http://127.0.0.1:PORT`` (the SDK's ``base_url`` is
    ``url + "/v1"``); ``stop()`` ends every stream and joins the threads.

    ``speed`` divides every delay (``speed=100`` for tests). ``mix`` is a mix string
    (see :class:`~runwatch.demo.scenarios.Mix`) used when a request has no scenario header.

    Example::

        with DemoServer(speed=50) as server:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="demo")
    """

    def __init__(
        self,
        *,
        mix: str | Mix | None = None,
        seed: int = 0,
        speed: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self.mix = mix if isinstance(mix, Mix) else Mix.parse(mix or DEFAULT_MIX)
        self.seed = seed
        self.speed = speed
        self._host, self._port = host, port
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._nonce = f"{random.Random(seed).getrandbits(24):06x}"
        self._stop = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._runs: _Bounded = _Bounded()
        self._responses: _Bounded = _Bounded()
        self._sessions: _Bounded = _Bounded()
        self._sockets: set[socket.socket] = set()
        self.requests = 0  # served requests, for tests and the driver's progress line

    # ------------------------------------------------------------------------------- lifecycle
    def start(self) -> DemoServer:
        """Bind and serve; raises ``OSError`` when the port is busy."""
        if self._httpd is not None:
            raise RuntimeError("DemoServer already started")
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.demo = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="runwatch-demo-server",
            daemon=True,
        )
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("DemoServer not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def stop(self) -> None:
        """Stop serving, end open streams, close connections. Idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stop.set()
        httpd.shutdown()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            with contextlib.suppress(OSError):  # already closed by the peer
                sock.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> DemoServer:
        if self._httpd is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --------------------------------------------------------------------------------- helpers
    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{self._nonce}{next(self._ids):06d}"

    def _draw(self, api: str, header: str | None) -> tuple[str, Timing]:
        with self._rng_lock:
            if header:
                try:
                    scenario = resolve(api, header)
                except ValueError as err:
                    raise _HTTPError(400, "unknown_scenario", str(err)) from None
            else:
                scenario = self.mix.pick(self._rng, api)[1]
            timing = Timing.draw(self._rng, self.speed)
        return scenario, timing

    def _wait(self, seconds: float) -> bool:
        """Sleep unless stopping; False when the server is stopping."""
        if seconds > 0:
            return not self._stop.wait(seconds)
        return not self._stop.is_set()

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._sockets.add(sock)
            else:
                self._sockets.discard(sock)

    # ------------------------------------------------------------------------------ assistants
    def _run_state(self, tid: str, rid: str) -> _RunState:
        state = self._runs.get(rid)
        if not isinstance(state, _RunState) or state.thread_id != tid:
            raise _HTTPError(404, "not_found", f"No run found with id '{rid}'.")
        return state

    def create_run(self, tid: str | None, body: JSON, header: str | None) -> tuple[_RunState, bytes | None]:
        scenario, timing = self._draw("assistants", header)
        state = _RunState(
            run_id=self._next_id("run_"),
            thread_id=tid or self._next_id("thread_"),
            assistant_id=str(body.get("assistant_id") or "asst_demo"),
            model=str(body.get("model") or "gpt-4o"),
            scenario=scenario,
            t0=int(time.time()),
            timing=timing,
            started=time.monotonic(),
        )
        self._runs.put(state.run_id, state)
        if not body.get("stream"):
            return state, None
        return state, builders.assistants_run(
            scenario,
            run_id=state.run_id,
            thread_id=state.thread_id,
            assistant_id=state.assistant_id,
            model=state.model,
            deltas=timing.deltas,
            t0=state.t0,
            tool_call=(scenario == "completed" and timing.deltas % 3 == 0),
        )

    def continue_run(self, state: _RunState, body: JSON) -> bytes | None:
        if state.scenario != "requires_action" or state.submitted:
            raise _HTTPError(400, "invalid_request", f"Run '{state.run_id}' is not waiting for tool outputs.")
        state.submitted = True
        state.started = time.monotonic()
        if not body.get("stream"):
            return None
        return builders.assistants_continuation(
            "completed",
            run_id=state.run_id,
            thread_id=state.thread_id,
            assistant_id=state.assistant_id,
            model=state.model,
            deltas=state.timing.deltas,
            t0=state.t0,
        )

    def run_snapshot(self, state: _RunState) -> JSON:
        """The run as a poller sees it now: queued, in_progress, then the scenario's terminal."""
        elapsed = time.monotonic() - state.started
        timing = state.timing
        ids: JSON = {
            "run_id": state.run_id,
            "thread_id": state.thread_id,
            "assistant_id": state.assistant_id,
            "model": state.model,
            "t0": state.t0,
        }
        if elapsed < timing.queue:
            return builders.run_object(status="queued", started=state.submitted, **ids)
        if elapsed < timing.queue + timing.work:
            return builders.run_object(status="in_progress", started=True, **ids)
        end = state.t0 + max(1, round(timing.queue + timing.work))
        usage = {"prompt_tokens": 42, "completion_tokens": timing.deltas, "total_tokens": 42 + timing.deltas}
        scenario = state.scenario
        if scenario == "requires_action" and not state.submitted:
            required = {
                "type": "submit_tool_outputs",
                "submit_tool_outputs": {
                    "tool_calls": [
                        {
                            "id": f"call_{state.run_id[4:]}",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ]
                },
            }
            return builders.run_object(
                status="requires_action", started=True, required_action=required, **ids
            )
        status, reason = (
            ("completed", None) if scenario == "requires_action" else builders.parse_outcome(scenario)
        )
        if status == "error":  # polling has no error events: the run object says failed
            status = "failed"
        if status == "aborted":  # nobody finishes it: the API expires it
            status = "expired"
        return builders.run_object(
            status=status,
            started=True,
            ended_at=end,
            usage=usage if status in ("completed", "incomplete", "failed", "cancelled") else None,
            incomplete_reason=reason if status == "incomplete" else None,
            error_code=reason if status == "failed" else None,
            cancelled=status == "cancelled",
            failed=status == "failed",
            **ids,
        )

    # ------------------------------------------------------------------------------- responses
    def create_response(self, body: JSON, header: str | None) -> _ResponseState:
        scenario, timing = self._draw("responses", header)
        background = bool(body.get("background"))
        state = _ResponseState(
            response_id=self._next_id("resp_"),
            model=str(body.get("model") or "gpt-4o"),
            scenario=scenario,
            background=background,
            t0=int(time.time()),
            timing=timing,
            started=time.monotonic(),
        )
        tool = "web_search_call" if scenario == "completed" and timing.deltas % 4 == 0 else None
        state.frames = builders.split_frames(
            builders.responses_stream(
                _responses_outcome(scenario),
                response_id=state.response_id,
                model=state.model,
                deltas=timing.deltas,
                background=background,
                tool=tool,
                t0=state.t0,
            )
        )
        self._responses.put(state.response_id, state)
        return state

    def response_state(self, rid: str) -> _ResponseState:
        state = self._responses.get(rid)
        if not isinstance(state, _ResponseState):
            raise _HTTPError(404, "not_found", f"Response with id '{rid}' not found.")
        return state

    def response_snapshot(self, state: _ResponseState, *, final: bool = False) -> JSON:
        """The response object now (background polling) or at its end (``final``)."""
        elapsed = time.monotonic() - state.started
        if not final and elapsed < state.timing.queue:
            return builders.response_object(
                response_id=state.response_id,
                model=state.model,
                status="queued",
                t0=state.t0,
                background=state.background,
            )
        if not final and elapsed < state.timing.queue + state.timing.work:
            return builders.response_object(
                response_id=state.response_id,
                model=state.model,
                status="in_progress",
                t0=state.t0,
                background=state.background,
            )
        for frame in reversed(state.frames):
            data = json.loads(frame.partition(b"data: ")[2])
            response = data.get("response") if isinstance(data, dict) else None
            if isinstance(response, dict):
                if response.get("status") == "in_progress" and state.scenario == "aborted":
                    break
                return response
        # No terminal lifecycle event (aborted, error-only): report what the API would on a GET.
        status = "failed" if state.scenario.startswith("error:") else "in_progress"
        code = state.scenario.partition(":")[2] or None
        return builders.response_object(
            response_id=state.response_id,
            model=state.model,
            status=status,
            t0=state.t0,
            background=state.background,
            error_code=code if status == "failed" else None,
        )

    # ------------------------------------------------------------------------------------ chat
    def chat(self, body: JSON, header: str | None) -> tuple[str, Timing, bytes | JSON]:
        scenario, timing = self._draw("chat", header)
        cid = self._next_id("chatcmpl-")
        model = str(body.get("model") or "gpt-4o-mini")
        finish, tool_calls = _chat_args(scenario)
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        if body.get("stream"):
            return (
                scenario,
                timing,
                builders.chat_stream(
                    finish,
                    id=cid,
                    model=model,
                    deltas=timing.deltas,
                    include_usage=include_usage,
                    tool_calls=tool_calls,
                    t0=int(time.time()),
                ),
            )
        text = "".join(builders.text_deltas(timing.deltas))
        message: JSON = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
        if tool_calls:
            message = {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {
                        "id": f"call_{cid[-8:]}",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            }
        return (
            scenario,
            timing,
            {
                "id": cid,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": finish or "stop"}
                ],
                "usage": {
                    "prompt_tokens": 19,
                    "completion_tokens": timing.deltas,
                    "total_tokens": 19 + timing.deltas,
                },
                "service_tier": "default",
                "system_fingerprint": "fp_demo",
            },
        )

    # ---------------------------------------------------------------------------------- agents
    def create_session(self, body: JSON) -> _SessionState:
        agent = body.get("agent")
        model = str(agent.get("model") or "gpt-5") if isinstance(agent, dict) else "gpt-5"
        state = _SessionState(session_id=self._next_id("sess_"), model=model, t0=int(time.time()))
        self._sessions.put(state.session_id, state)
        return state

    def session_state(self, sid: str) -> _SessionState:
        state = self._sessions.get(sid)
        if not isinstance(state, _SessionState):
            raise _HTTPError(404, "not_found", f"Session '{sid}' not found.")
        return state

    def session_object(self, state: _SessionState, status: str = "idle") -> JSON:
        return builders.agent_session_object(
            session_id=state.session_id, model=state.model, status=status, t0=state.t0
        )

    def turn_frames(
        self, state: _SessionState, scenario: str, timing: Timing, *, created: bool
    ) -> list[bytes]:
        with state.lock:
            turn_no = state.turns = state.turns + 1
            first = state.events
            body = builders.agent_session_events(
                [scenario],
                session_id=state.session_id,
                model=state.model,
                turn_ids=[f"turn_{state.session_id[5:]}_{turn_no}"],
                deltas=timing.deltas,
                t0=int(time.time()),
                session_created=created,
                first_event=first,
            )
            frames = builders.split_frames(body)
            state.events += len(frames)
        return frames


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Connections are shut down by DemoServer.stop(); joining every handler thread on close would
    # otherwise wait for idle keep-alive clients.
    block_on_close = False
    allow_reuse_address = False  # a busy port must fail loudly, not be shared
    demo: DemoServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (an SDK closing a stream it has read enough of, stop() shutting sockets)
        # are routine for a streaming server; anything else is a bug worth the traceback.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"/v1/threads/runs"), "post_create_and_run"),
    ("POST", re.compile(r"/v1/threads/(?P<tid>[^/]+)/runs"), "post_run"),
    ("GET", re.compile(r"/v1/threads/(?P<tid>[^/]+)/runs/(?P<rid>[^/]+)"), "get_run"),
    (
        "POST",
        re.compile(r"/v1/threads/(?P<tid>[^/]+)/runs/(?P<rid>[^/]+)/submit_tool_outputs"),
        "post_submit",
    ),
    ("POST", re.compile(r"/v1/responses"), "post_response"),
    ("GET", re.compile(r"/v1/responses/(?P<rid>[^/]+)"), "get_response"),
    ("POST", re.compile(r"/v1/chat/completions"), "post_chat"),
    ("POST", re.compile(r"/v1/agents/sessions"), "post_session"),
    ("GET", re.compile(r"/v1/agents/sessions/(?P<sid>[^/]+)"), "get_session"),
    ("GET", re.compile(r"/v1/agents/sessions/(?P<sid>[^/]+)/events"), "get_session_events"),
    ("POST", re.compile(r"/v1/agents/sessions/(?P<sid>[^/]+)/events"), "post_session_events"),
]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    server_version = "runwatch-demo"
    sys_version = ""

    # ------------------------------------------------------------------------------- plumbing
    def setup(self) -> None:
        super().setup()
        self.server.demo._track(self.connection, True)

    def finish(self) -> None:
        self.server.demo._track(self.connection, False)
        with contextlib.suppress(OSError):  # the client went away mid-stream
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the demo prints its own summary; per-request lines would drown it

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        demo = self.server.demo
        demo.requests += 1
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            body = self._read_body()
            for route_method, pattern, name in _ROUTES:
                match = pattern.fullmatch(url.path)
                if match and route_method == method:
                    handler: Callable[..., None] = getattr(self, name)
                    handler(body, **match.groupdict())
                    return
            raise _HTTPError(404, "not_found", f"Unknown route {method} {url.path}")
        except _HTTPError as err:
            self._send_json(
                {
                    "error": {
                        "message": err.message,
                        "type": "invalid_request_error",
                        "param": None,
                        "code": err.code,
                    }
                },
                status=err.status,
            )
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def _read_body(self) -> JSON:
        length = int(self.headers.get("content-length") or 0)
        if not length:
            return {}
        raw = self.rfile.read(length)
        try:
            data = json.loads(raw)
        except ValueError:
            raise _HTTPError(400, "invalid_json", "The request body is not valid JSON.") from None
        return data if isinstance(data, dict) else {}

    @property
    def scenario_header(self) -> str | None:
        return self.headers.get(SCENARIO_HEADER)

    def _send_json(self, data: JSON, status: int = 200, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-request-id", f"req_{self.server.demo._next_id('')}")
        self.end_headers()
        self.wfile.flush()

    def _client_gone(self) -> bool:
        """True when the client closed its end (EOF is readable); only used while idle."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)
        except (OSError, ValueError):
            return True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _pace(self, frames: list[bytes], timing: Timing, *, queued: bool = True) -> bool:
        """Write frames with realistic gaps; False if the server stopped meanwhile."""
        demo = self.server.demo
        waited_queue = not queued
        seen_token = False
        for frame in frames:
            name = _frame_name(frame)
            if not waited_queue and name is not None and name.endswith("in_progress") and "step" not in name:
                waited_queue = True
                if not demo._wait(timing.queue):
                    return False
            is_token = (name or "").endswith(".delta") or (
                name is None and b'"delta":{"' in frame and b'"role"' not in frame
            )
            if is_token:
                if not demo._wait(timing.token if seen_token else timing.ttft):
                    return False
                seen_token = True
            self._chunk(frame)
        return True

    def _stream(self, frames: list[bytes], timing: Timing, *, queued: bool = True) -> None:
        self._start_stream()
        if self._pace(frames, timing, queued=queued):
            self._end_stream()
        else:
            self.close_connection = True

    # ------------------------------------------------------------------------------ assistants
    def post_create_and_run(self, body: JSON) -> None:
        self.post_run(body, tid=None)

    def post_run(self, body: JSON, tid: str | None) -> None:
        demo = self.server.demo
        state, stream = demo.create_run(tid, body, self.scenario_header)
        if stream is None:
            self._send_json(demo.run_snapshot(state), headers=self._poll_headers())
        else:
            self._stream(builders.split_frames(stream), state.timing)

    def _poll_headers(self) -> dict[str, str]:
        # The SDK's pollers honour this header; scale it so fast demos poll fast.
        return {"openai-poll-after-ms": str(max(1, round(100 / self.server.demo.speed)))}

    def get_run(self, body: JSON, tid: str, rid: str) -> None:
        demo = self.server.demo
        self._send_json(demo.run_snapshot(demo._run_state(tid, rid)), headers=self._poll_headers())

    def post_submit(self, body: JSON, tid: str, rid: str) -> None:
        demo = self.server.demo
        state = demo._run_state(tid, rid)
        stream = demo.continue_run(state, body)
        if stream is None:
            self._send_json(demo.run_snapshot(state), headers=self._poll_headers())
        else:
            self._stream(builders.split_frames(stream), state.timing)

    # ------------------------------------------------------------------------------- responses
    def post_response(self, body: JSON) -> None:
        demo = self.server.demo
        state = demo.create_response(body, self.scenario_header)
        if body.get("stream"):
            self._stream(state.frames, state.timing)
        else:
            self._send_json(demo.response_snapshot(state, final=not state.background))

    def get_response(self, body: JSON, rid: str) -> None:
        demo = self.server.demo
        state = demo.response_state(rid)
        if self.query.get("stream") != "true":
            self._send_json(demo.response_snapshot(state))
            return
        try:
            after = int(self.query.get("starting_after", "-1"))
        except ValueError:
            raise _HTTPError(400, "invalid_value", "starting_after must be an integer.") from None
        # Resuming replays the same event sequence from sequence_number after + 1.
        frames = state.frames[after + 1 :]
        self._stream(frames, state.timing, queued=after < 1)

    # ------------------------------------------------------------------------------------ chat
    def post_chat(self, body: JSON) -> None:
        _, timing, result = self.server.demo.chat(body, self.scenario_header)
        if isinstance(result, bytes):
            self._stream(builders.split_frames(result), timing, queued=False)
        else:
            self._send_json(result)

    # ---------------------------------------------------------------------------------- agents
    def post_session(self, body: JSON) -> None:
        demo = self.server.demo
        state = demo.create_session(body)
        has_input = bool(body.get("input"))
        if not body.get("stream"):
            if has_input:
                state.submit(demo._draw("agents", self.scenario_header))
            self._send_json(demo.session_object(state))
            return
        frames: list[bytes] = []
        scenario, timing = demo._draw("agents", self.scenario_header)
        if has_input:
            frames = demo.turn_frames(state, scenario, timing, created=True)
        else:
            frames = builders.split_frames(
                builders.sse_frame(
                    {
                        "event_id": f"evt_{state.session_id[5:]}_0000",
                        "type": "agent.session.created",
                        "session": demo.session_object(state),
                    },
                    event="agent.session.created",
                )
            )
            state.events += 1
        self._stream(frames, timing)

    def get_session(self, body: JSON, sid: str) -> None:
        demo = self.server.demo
        self._send_json(demo.session_object(demo.session_state(sid)))

    def post_session_events(self, body: JSON, sid: str) -> None:
        demo = self.server.demo
        state = demo.session_state(sid)
        events = body.get("events")
        for event in events if isinstance(events, list) else []:
            if isinstance(event, dict) and event.get("type") == "agent.session.input.message":
                state.submit(demo._draw("agents", self.scenario_header))
        self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()

    def get_session_events(self, body: JSON, sid: str) -> None:
        """A live session stream: each submitted input becomes a turn; the stream ends when no new
        input arrives for a while (the live API keeps it open; the SDK closes it after the idle
        that follows its turn, so ending it changes nothing a client sees)."""
        demo = self.server.demo
        state = demo.session_state(sid)
        self._start_stream()
        patience = 30.0  # for the first input: sessions.stream() subscribes before submitting
        while not demo._stop.is_set():
            deadline = time.monotonic() + patience
            item: tuple[str, Timing] | None = None
            while item is None and time.monotonic() < deadline and not demo._stop.is_set():
                if self._client_gone():
                    return
                item = state.take(timeout=0.05)
            if item is None:
                break
            if self._client_gone():
                # A subscriber that already hung up must not swallow the next caller's turn.
                state.give_back(item)
                return
            scenario, timing = item
            if not self._pace(demo.turn_frames(state, scenario, timing, created=False), timing):
                self.close_connection = True
                return
            patience = 0.5
        if demo._stop.is_set():
            self.close_connection = True
            return
        self._end_stream()
