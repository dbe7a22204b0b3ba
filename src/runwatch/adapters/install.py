"""Installing the tap: ``instrument(client)`` / ``uninstrument(client)``.

Puts the transport tap (:mod:`.transport`) on an existing ``OpenAI`` / ``AsyncOpenAI`` /
``AzureOpenAI`` client's HTTP client (its transport and every mounted one), and takes it off
again. It never replaces the client, never creates an HTTP client or transport of its own and
never reads a byte: the tap does that.
"""

from __future__ import annotations

from typing import Any, Final

from .._observer import Observer, default_observer
from .transport import http_module, wrap_transport

#: Where an instrumented HTTP client keeps its original transport and mounts.
_ATTR: Final = "_runwatch_original_transports"


def instrument(client: Any, observer: Observer | None = None) -> Any:
    """Tap an ``OpenAI`` / ``AsyncOpenAI`` / ``AzureOpenAI`` client; returns the same object.

    >>> client = runwatch.instrument(openai.OpenAI())  # doctest: +SKIP

    Idempotent: instrumenting twice keeps one tap (the first observer). Works with openai 3.x
    (httpx2, or a plain ``httpx`` client passed as ``http_client``) and openai 1.x/2.x (httpx).
    """
    http: Any = getattr(client, "_client", None)
    if http is None or not hasattr(http, "_transport"):
        raise TypeError(f"runwatch.instrument expects an OpenAI client, got {type(client).__name__}")
    if getattr(http, _ATTR, None) is not None:
        return client
    observer = observer or default_observer()
    module = http_module(http)
    # By class, not by methods: an AsyncClient subclass may well define a close() of its own.
    is_async = isinstance(http, module.AsyncClient)
    original = (http._transport, dict(http._mounts))
    http._transport = wrap_transport(http._transport, observer, module, is_async)
    http._mounts = {
        pattern: (wrap_transport(t, observer, module, is_async) if t is not None else None)
        for pattern, t in http._mounts.items()
    }
    setattr(http, _ATTR, original)
    return client


def uninstrument(client: Any) -> Any:
    """Remove the tap ``instrument`` put on ``client``; returns the same object."""
    http: Any = getattr(client, "_client", None)
    original = getattr(http, _ATTR, None) if http is not None else None
    if original is None:
        return client
    http._transport, http._mounts = original[0], original[1]
    delattr(http, _ATTR)
    return client
