"""SDK internals, in one walk: what stands behind an openai SDK stream, helper or handler.

An SDK ``Stream`` keeps its ``httpx`` response under ``response``; the helpers (stream managers'
streams, ``AssistantEventHandler``) keep the SDK stream under ``_raw_stream``, ``_stream`` or
``__stream``. One walk down those attributes finds both things an observation asks about:

- the transport tap's session, when the response was read by an instrumented client (the tap
  already observes it: a second observer would count the run twice);
- the HTTP request, whose URL names a continued run (``submit_tool_outputs``, a Responses resume)
  and whose body names the model.

It only reads attributes: it never calls SDK methods, never changes what it walks, never decides
what it found means (the observation does), and never imports the SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from .transport import MARK

if TYPE_CHECKING:
    from .._observer import StreamSession

#: Where the SDK keeps what a stream or helper reads: its response, then the streams it wraps.
_INNER: Final = ("response", "_raw_stream", "_stream", "_AssistantEventHandler__stream")
#: How many wrappers deep the request is looked for.
_REQUEST_DEPTH: Final = 3


class Behind:
    """What one walk found behind an SDK object; either may be None."""

    __slots__ = ("request", "session")

    def __init__(self) -> None:
        self.session: StreamSession | None = None
        self.request: Any = None


def look_behind(obj: Any) -> Behind:
    """The tap's session and the HTTP request behind ``obj``, each the first met going depth
    first through ``response`` (its own) and the wrapped streams, in that order."""
    found = Behind()
    _walk(obj, 0, found)
    return found


def _walk(obj: Any, depth: int, found: Behind) -> None:
    for attr in _INNER:
        if found.session is not None and (found.request is not None or depth > _REQUEST_DEPTH):
            return  # nothing left to find down here
        inner = getattr(obj, attr, None)
        if inner is None:
            continue
        if found.session is None:
            extensions = getattr(inner, "extensions", None)
            if isinstance(extensions, dict):
                found.session = extensions.get(MARK)
        if attr == "response":
            if found.request is None and depth <= _REQUEST_DEPTH:
                found.request = getattr(inner, "request", None)
        else:
            _walk(inner, depth + 1, found)
