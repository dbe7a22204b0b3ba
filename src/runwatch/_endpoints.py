"""Which OpenAI endpoint a request is: the protocol it streams and the run it continues.

Sans-IO: takes a method and a URL path, knows nothing of httpx. The transport tap uses it to
decide what to observe; replays of recorded requests use it to correlate continuations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from ._events import Api

#: What a request does to a run, which decides whether its answer is a run of its own:
#: ``create`` starts one (whatever id the answer carries); ``continue`` resumes the run named in
#: the URL (``submit_tool_outputs``, a Responses resume); ``poll`` reads a run (only followed when
#: this process created it, or saw it unfinished and then finished); ``cancel`` asks to end one;
#: ``listen`` subscribes to a stream that carries its own runs (agent session events).
Kind: TypeAlias = Literal["create", "continue", "poll", "cancel", "listen"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    api: Api
    #: The run a request continues, polls or cancels (from the URL); None for a create.
    run_id: str | None = None
    kind: Kind = "create"

    @property
    def polling(self) -> bool:
        """True for a GET of one run (``runs.retrieve``, ``responses.retrieve``)."""
        return self.kind == "poll"


# Matched against the path after any base-URL prefix (Azure deployments add their own).
_ROUTES: Final[tuple[tuple[str, re.Pattern[str], Api, Kind], ...]] = (
    ("POST", re.compile(r"/threads/[^/]+/runs/(?P<id>[^/]+)/submit_tool_outputs$"), "assistants", "continue"),
    ("POST", re.compile(r"/threads/[^/]+/runs/(?P<id>[^/]+)/cancel$"), "assistants", "cancel"),
    ("POST", re.compile(r"/threads/[^/]+/runs$"), "assistants", "create"),
    ("POST", re.compile(r"/threads/runs$"), "assistants", "create"),
    ("GET", re.compile(r"/threads/[^/]+/runs/(?P<id>run_[^/]+)$"), "assistants", "poll"),
    ("POST", re.compile(r"/responses$"), "responses", "create"),
    ("POST", re.compile(r"/responses/(?P<id>[^/]+)/cancel$"), "responses", "cancel"),
    ("GET", re.compile(r"/responses/(?P<id>[^/]+)$"), "responses", "poll"),
    ("POST", re.compile(r"/chat/completions$"), "chat", "create"),
    ("GET", re.compile(r"/agents/sessions/(?P<id>[^/]+)/events$"), "agents", "listen"),
    ("POST", re.compile(r"/agents/sessions/[^/]+/events$"), "agents", "listen"),
)


def classify(method: str, path: str, query: str = "") -> Endpoint | None:
    """The endpoint ``method path`` addresses, or None when runwatch has nothing to observe.

    A ``GET`` of a response with ``stream=true`` in its query resumes that response's stream.

    >>> classify("GET", "/v1/responses/resp_1")
    Endpoint(api='responses', run_id='resp_1', kind='poll')
    >>> classify("GET", "/v1/responses/resp_1", "stream=true&starting_after=4").kind
    'continue'
    """
    path = path.split("?", 1)[0].rstrip("/")
    for verb, pattern, api, route_kind in _ROUTES:
        if verb != method:
            continue
        match = pattern.search(path)
        if match is not None:
            run_id = match.groupdict().get("id")
            if api == "agents":
                run_id = None  # a session id names no turn
            kind: Kind = route_kind
            if kind == "poll" and api == "responses" and "stream=true" in query.lower():
                kind = "continue"
            return Endpoint(api, run_id, kind)
    return None
