"""One observed SDK stream: what a watched stream or an observed handler feeds.

An :class:`Observation` opens a session for an SDK stream (unless the transport tap already
observes it), feeds it the events the SDK objects describe, keeps the final run, and closes the
session with a reason. It never hands the caller anything and never raises from ``item``: what
goes wrong in here is reported to the observer's safety, and the caller's objects are untouched.
"""

from __future__ import annotations

from typing import Any

from .._endpoints import Endpoint, classify
from .._observer import Observer, StreamSession
from .sdk_events import describe, error_payload, shape
from .sdk_walk import look_behind
from .transport import close_reason, read_request


def _stream_for(observer: Observer, request: Any) -> StreamSession:
    """A session told what ``request`` (the HTTP request behind a stream, or None) said: endpoint,
    continued run, model. A continuation (``submit_tool_outputs``, a Responses resume with
    ``starting_after``) names its run only in the URL: without it a watched continuation would
    start a second run. Time starts now: the request left before the SDK handed over its stream
    (the transport tap, which sees it leave, is the accurate one)."""
    endpoint: Endpoint | None = None
    model = facts = None
    if request is not None:
        try:
            url = request.url
            endpoint = classify(str(request.method), str(url.path), str(url.query))
            model, _, _, facts = read_request(request)
        except Exception:
            endpoint = None
    if endpoint is None:
        return observer.stream()
    return observer.stream(
        endpoint.api,
        run_id_hint=endpoint.run_id,
        request_model=model,
        expect_run=endpoint.kind in ("create", "continue"),
        request=facts,
    )


class Observation:
    """What a watched stream or handler feeds: a session (None when the tap already observes)."""

    __slots__ = ("__weakref__", "final", "observer", "session")

    def __init__(self, observer: Observer, source: Any) -> None:
        self.observer = observer
        self.final: Any = None
        self.session: StreamSession | None = None
        behind = look_behind(source)
        if behind.session is None:
            self.session = _stream_for(observer, behind.request)
            self.session.close_on_collect(self)

    def item(self, obj: Any) -> None:
        try:
            session = self.session
            if session is not None and shape(type(obj)) == "typed" and session.skips(obj.type):  # type: ignore[arg-type]
                return  # a content delta after the first token: nothing to learn, nothing final
            described = describe(obj)
            if described is None:
                if session is not None:
                    session.unnamed(type(obj).__name__)
                return
            name, load, final = described
            if final is not None:
                self.final = final
            if session is not None and not session.skips(name):
                session.feed_event(name, load)
        except Exception as exc:
            self.observer.safety.report("adapter", exc)

    def error(self, exc: BaseException) -> None:
        payload = error_payload(exc)
        if payload is not None and self.session is not None:
            self.session.feed_event("error", lambda: payload)

    def close(self, reason: str) -> None:
        if self.session is not None:
            self.session.close(reason)


class ManagerObservation(Observation):
    """A stream manager's observation starts when it is entered (the request happens then)."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self.final = None
        self.session = None


def reason_for(exc: BaseException) -> str:
    """The close reason when ``exc`` ended a watched stream or handler."""
    name = type(exc).__name__
    if name == "APIError" or name.endswith("StatusError"):
        return "stream_ended"  # the server's own error ended the stream
    return close_reason(exc)
