"""Installing the tap: ``instrument(client)`` / ``uninstrument(client)``, and the global mode
``instrument()`` / ``uninstrument()`` that taps every OpenAI client of the process.

Puts the transport tap (:mod:`.transport`) on an existing ``OpenAI`` / ``AsyncOpenAI`` /
``AzureOpenAI`` client's HTTP client (its transport and every mounted one), and takes it off
again. It never replaces the client, never creates an HTTP client or transport of its own and
never reads a byte: the tap does that.

Global mode wraps the SDK's one request method (``SyncAPIClient.request`` /
``AsyncAPIClient.request``, shared by every client class and every resource): before a client's
request is built, its HTTP client gets the tap if it has none. So clients created before
``instrument()`` are observed too, from their next request on, and nothing is wrapped per call.

One tap per HTTP client, whoever asked for it: that is how a client instrumented both ways counts
once. An explicit ``instrument(client, observer)`` takes over a tap the global mode put there (the
explicit call is the more specific wish); the global mode never touches a client tapped explicitly
or excluded with ``uninstrument(client)``.
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any, Final

from .._config import default_observer
from .._observer import Observer
from .transport import http_module, wrap_transport

#: Where an instrumented HTTP client keeps its original transport and mounts.
_ATTR: Final = "_runwatch_original_transports"
#: The SDK method every request of every client goes through (openai 1.x to 3.x).
_METHOD: Final = "request"
#: Set on an HTTP client by ``uninstrument(client)``: the global mode leaves it alone.
_EXCLUDED: Final = "_runwatch_excluded"


def instrument(client: Any = None, observer: Observer | None = None) -> Any:
    """Tap an ``OpenAI`` / ``AsyncOpenAI`` / ``AzureOpenAI`` client; returns the same object.

    >>> client = runwatch.instrument(openai.OpenAI())  # doctest: +SKIP

    Idempotent: instrumenting twice keeps one tap (the first observer). Works with openai 3.x
    (httpx2, or a plain ``httpx`` client passed as ``http_client``) and openai 1.x/2.x (httpx).
    Without a client: :func:`instrument_all` (every client of the process), returns None.
    """
    if client is None:
        instrument_all(observer)
        return None
    http: Any = getattr(client, "_client", None)
    if http is None or not hasattr(http, "_transport"):
        raise TypeError(f"runwatch.instrument expects an OpenAI client, got {type(client).__name__}")
    with _lock:
        if http in _global_taps:
            _untap(http)  # the explicit wish wins over the global default
        if getattr(http, _EXCLUDED, False):
            delattr(http, _EXCLUDED)
        _tap(http, observer or default_observer())
    return client


def uninstrument(client: Any = None) -> Any:
    """Remove the tap ``instrument`` put on ``client``; returns the same object.

    Without a client: :func:`uninstrument_all`. With one while the global mode is on, that client
    stays unobserved until it is instrumented explicitly again.
    """
    if client is None:
        uninstrument_all()
        return None
    http: Any = getattr(client, "_client", None)
    if http is None:
        return client
    with _lock:
        _untap(http)
        _global_taps.discard(http)
        if _global.observer is not None:
            setattr(http, _EXCLUDED, True)
    return client


def _tap(http: Any, observer: Observer) -> bool:
    """Put the tap on ``http`` unless it has one; True if it did."""
    if getattr(http, _ATTR, None) is not None:
        return False
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
    return True


def _untap(http: Any) -> None:
    original = getattr(http, _ATTR, None)
    if original is None:
        return
    http._transport, http._mounts = original[0], original[1]
    delattr(http, _ATTR)


# -- global mode ---------------------------------------------------------------------------------
class _Global:
    """What the global mode has done: its observer (None: off) and the methods it wrapped."""

    __slots__ = ("observer", "patched")

    def __init__(self) -> None:
        self.observer: Observer | None = None
        self.patched: list[tuple[type, str, Any, Any]] = []  # (class, name, original, wrapper)


_global = _Global()
_lock = threading.RLock()
#: HTTP clients the global mode tapped (weak: a client's life is its owner's business). Bounded by
#: the clients the application keeps alive; uninstrument_all() takes their taps off.
_global_taps: weakref.WeakSet[Any] = weakref.WeakSet()


def is_global() -> bool:
    """True while the global mode is on."""
    return _global.observer is not None


def instrument_all(observer: Observer | None = None) -> None:
    """Observe every ``OpenAI`` / ``AsyncOpenAI`` / ``AzureOpenAI`` client of the process, those
    already created included (from their next request on). Idempotent: a second call keeps the
    first observer. ``uninstrument_all()`` undoes it.

    >>> runwatch.instrument()                      # doctest: +SKIP
    >>> openai.OpenAI().responses.create(...)      # doctest: +SKIP   (observed)
    """
    try:
        from openai import _base_client
    except ModuleNotFoundError as exc:
        if exc.name != "openai":
            raise
        raise ModuleNotFoundError(
            "runwatch.instrument() observes the openai SDK, which is not installed: "
            "pip install 'runwatch[openai]'",
            name="openai",
        ) from None

    with _lock:
        if _global.observer is not None:
            return
        _global.observer = observer or default_observer()
        for cls, make in (
            (_base_client.SyncAPIClient, _sync_request),
            (_base_client.AsyncAPIClient, _async_request),
        ):
            original = cls.__dict__.get(_METHOD)
            if original is None:  # pragma: no cover - every supported openai release defines it
                continue
            wrapper = make(original)
            setattr(cls, _METHOD, wrapper)
            _global.patched.append((cls, _METHOD, original, wrapper))


def uninstrument_all() -> None:
    """Undo :func:`instrument_all`: the SDK's methods are restored and the taps the global mode
    put on clients are taken off (clients instrumented explicitly keep theirs)."""
    with _lock:
        _global.observer = None
        for cls, name, original, wrapper in _global.patched:
            # Someone may have wrapped the method after us (another instrumentation): then our
            # wrapper stays inside theirs, inert (it passes through while the mode is off).
            if cls.__dict__.get(name) is wrapper:
                setattr(cls, name, original)
        _global.patched.clear()
        for http in list(_global_taps):
            _untap(http)
            if getattr(http, _EXCLUDED, False):
                delattr(http, _EXCLUDED)
        _global_taps.clear()


def _ensure(client: Any) -> None:
    """Tap ``client``'s HTTP client for the global mode if it has no tap. Never raises."""
    observer = _global.observer
    if observer is None:
        return
    http = getattr(client, "_client", None)
    if http is None or getattr(http, _ATTR, None) is not None or getattr(http, _EXCLUDED, False):
        return
    try:
        with _lock:
            if _global.observer is observer and _tap(http, observer):
                _global_taps.add(http)
    except Exception as exc:
        observer.safety.report("adapter", exc)


def _sync_request(original: Any) -> Any:
    @functools.wraps(original)
    def request(self: Any, *args: Any, **kwargs: Any) -> Any:
        _ensure(self)
        return original(self, *args, **kwargs)

    return request


def _async_request(original: Any) -> Any:
    @functools.wraps(original)
    async def request(self: Any, *args: Any, **kwargs: Any) -> Any:
        _ensure(self)
        return await original(self, *args, **kwargs)

    return request
