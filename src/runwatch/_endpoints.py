"""Which OpenAI endpoint a request is: the protocol it streams and the run it continues.

Sans-IO: takes a method and a URL path, knows nothing of httpx. The transport tap uses it to
decide what to observe; replays of recorded requests use it to correlate continuations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ._events import Api


@dataclass(frozen=True, slots=True)
class Endpoint:
    api: Api
    #: The run a request continues or polls (submit_tool_outputs, responses resume, runs.retrieve).
    run_id: str | None = None
    #: True for JSON (non-streaming) run objects worth observing (create_and_poll, retrieve).
    polling: bool = False


# Matched against the path after any base-URL prefix (Azure deployments add their own).
_ROUTES: Final[tuple[tuple[str, re.Pattern[str], Api, bool], ...]] = (
    ("POST", re.compile(r"/threads/[^/]+/runs/(?P<id>[^/]+)/submit_tool_outputs$"), "assistants", False),
    ("POST", re.compile(r"/threads/[^/]+/runs$"), "assistants", False),
    ("POST", re.compile(r"/threads/runs$"), "assistants", False),
    ("GET", re.compile(r"/threads/[^/]+/runs/(?P<id>run_[^/]+)$"), "assistants", True),
    ("POST", re.compile(r"/responses$"), "responses", False),
    ("GET", re.compile(r"/responses/(?P<id>[^/]+)$"), "responses", False),
    ("POST", re.compile(r"/chat/completions$"), "chat", False),
    ("GET", re.compile(r"/agents/sessions/(?P<id>[^/]+)/events$"), "agents", False),
    ("POST", re.compile(r"/agents/sessions/[^/]+/events$"), "agents", False),
)


def classify(method: str, path: str) -> Endpoint | None:
    """The endpoint ``method path`` addresses, or None when runwatch has nothing to observe.

    >>> classify("GET", "/v1/responses/resp_1")
    Endpoint(api='responses', run_id='resp_1', polling=False)
    """
    path = path.split("?", 1)[0].rstrip("/")
    for verb, pattern, api, polling in _ROUTES:
        if verb != method:
            continue
        match = pattern.search(path)
        if match is not None:
            run_id = match.groupdict().get("id")
            if api == "agents":
                run_id = None  # a session id names no turn
            return Endpoint(api, run_id, polling)
    return None
