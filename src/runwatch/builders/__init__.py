"""Build OpenAI streaming bodies for tests and demos: no network, no API key, no SDK.

Each builder returns the raw ``text/event-stream`` body (bytes) the OpenAI API sends for one
scenario, framed exactly as the live API frames it. Feed it to the real SDK through an
``httpx.MockTransport`` (or the demo server, :func:`runwatch.testing.demo_server`) and your code
sees what it would see in production, including the outcomes the SDK's own helpers mishandle
(``incomplete`` runs, ``error`` events, streams that end without a terminal event).

Example::

    body = responses_stream("incomplete:max_output_tokens", response_id="resp_1", model="gpt-4o")
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    )

An *outcome* is ``"status"`` or ``"status:reason"``: ``"completed"``, ``"incomplete:max_output_tokens"``,
``"failed:server_error"``. Special outcomes, per builder: ``"requires_action"`` (Assistants: the
stream ends waiting for tool outputs), ``"error:<code>"`` (a flat ``error`` event ends the stream),
``"nested_error:<code>"`` (Responses: the nested ``error`` event, then ``response.failed``),
``"cancelling"`` (Assistants: the stream ends at ``thread.run.cancelling``), ``"aborted"`` (the stream
ends without a terminal event) and ``"unknown:<status>"`` (a future lifecycle event with a status
nobody has heard of yet).

Everything here is deterministic: ids, text, token counts and timestamps derive from the arguments
(``t0`` is the Unix time of the first event), so transcripts built twice are byte-identical.

One module per API (``assistants``, ``responses``, ``chat``, ``agents``, like
:mod:`runwatch.protocols`) over ``wire``, the framing they share. The package uses the standard
library only and imports neither the SDK, httpx nor the demo: the demo server, the recorded
transcripts and :mod:`runwatch.testing` all build on it.
"""

from __future__ import annotations

from .agents import agent_session_events, agent_session_object
from .assistants import assistants_continuation, assistants_run, error_event, run_object
from .chat import chat_stream
from .responses import response_object, responses_error_event, responses_resume, responses_stream
from .wire import DEFAULT_T0, parse_outcome, split_frames, sse_frame, text_deltas

__all__ = [
    "DEFAULT_T0",
    "agent_session_events",
    "agent_session_object",
    "assistants_continuation",
    "assistants_run",
    "chat_stream",
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
