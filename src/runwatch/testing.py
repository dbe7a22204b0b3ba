"""Helpers for your own tests: the stream builders, and the demo server as a context manager.

The builders (``responses_stream``, ``assistants_run``, ``chat_stream``, ``agent_session_events``,
``sse_frame``...) live in :mod:`runwatch.builders` and are re-exported here, so one import serves
a test module; see that module for the outcome grammar. :func:`demo_server` runs the embedded
OpenAI-compatible server for tests that want a real socket.

Example::

    from runwatch.testing import demo_server, responses_stream

    body = responses_stream("incomplete:max_output_tokens", response_id="resp_1", model="gpt-4o")

Imports point one way: this module -> the demo server -> the builders; the builders know neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from runwatch.builders import (
    DEFAULT_T0,
    agent_session_events,
    agent_session_object,
    assistants_continuation,
    assistants_run,
    chat_stream,
    error_event,
    parse_outcome,
    response_object,
    responses_error_event,
    responses_resume,
    responses_stream,
    run_object,
    split_frames,
    sse_frame,
    text_deltas,
)

if TYPE_CHECKING:
    from runwatch.demo.server import DemoServer

__all__ = [
    "DEFAULT_T0",
    "agent_session_events",
    "agent_session_object",
    "assistants_continuation",
    "assistants_run",
    "chat_stream",
    "demo_server",
    "error_event",
    "parse_outcome",
    "response_object",
    "responses_error_event",
    "responses_resume",
    "responses_stream",
    "run_object",
    "split_frames",
    "sse_frame",
    "text_deltas",
]


@contextmanager
def demo_server(
    *, mix: str | None = None, seed: int = 0, speed: float = 50.0, port: int = 0
) -> Iterator[DemoServer]:
    """Run the embedded OpenAI-compatible demo server on loopback for the duration of a block.

    Example::

        with demo_server(speed=100) as server:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="test")
            ...

    Force a scenario per request with the header ``x-runwatch-scenario: incomplete:max_output_tokens``.
    """
    # Lazy: importing the helpers must not start pulling in the server's http machinery.
    from runwatch.demo.server import DemoServer

    server = DemoServer(mix=mix, seed=seed, speed=speed, port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
