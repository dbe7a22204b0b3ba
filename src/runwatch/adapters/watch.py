"""The watch proxies: ``watch(stream)`` observes an SDK stream or stream manager as it is read.

:class:`WatchedStream` / :class:`AsyncWatchedStream` are transparent proxies: attribute access,
``isinstance`` and ``repr`` reach the SDK object; iteration yields the identical objects; ``with``,
``close()`` and ``aclose()`` behave as the SDK's own, and ``.final`` adds the final run. A watched
stream manager hands back a watched stream, or, for an Assistants manager, the user's handler
observed in place (:mod:`.handler`). The proxies never change, reorder or hold back an item and
never swallow an exception of the stream's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .._config import default_observer
from .._observer import Observer
from .handler import handler, is_assistant_handler
from .observation import ManagerObservation, Observation, reason_for


class _Proxy:
    """A transparent proxy: attribute access, ``isinstance`` and ``repr`` reach the wrapped object."""

    __slots__ = ("__weakref__", "_rw_obs", "_rw_wrapped")

    def __init__(self, wrapped: Any, observation: Observation) -> None:
        object.__setattr__(self, "_rw_wrapped", wrapped)
        object.__setattr__(self, "_rw_obs", observation)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._rw_wrapped)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rw_wrapped, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._rw_wrapped, name, value)

    def __repr__(self) -> str:
        return repr(self._rw_wrapped)

    @property
    def final(self) -> Any:
        """The final run / response / turn as the SDK built it, for every terminal status."""
        return self._rw_obs.final

    def close(self) -> None:
        try:
            self._rw_wrapped.close()
        finally:
            self._rw_obs.close("client_closed")


class WatchedStream(_Proxy):
    """Sync stream proxy returned by :func:`watch`."""

    __slots__ = ("_rw_iter",)

    def __init__(self, wrapped: Any, observation: Observation) -> None:
        super().__init__(wrapped, observation)
        object.__setattr__(self, "_rw_iter", None)

    def _generate(self) -> Iterator[Any]:
        obs = self._rw_obs
        try:
            for item in self._rw_wrapped:
                obs.item(item)
                yield item
        except BaseException as exc:
            obs.error(exc)
            obs.close(reason_for(exc))
            raise
        obs.close("stream_ended")

    def __iter__(self) -> Iterator[Any]:
        if self._rw_iter is None:
            object.__setattr__(self, "_rw_iter", self._generate())
        return self._rw_iter  # type: ignore[no-any-return]

    def __next__(self) -> Any:
        return next(iter(self))

    def __enter__(self) -> WatchedStream:
        enter = getattr(self._rw_wrapped, "__enter__", None)
        if enter is not None:
            inner = enter()
            if inner is not self._rw_wrapped:
                return WatchedStream(inner, self._rw_obs)
        return self

    def __exit__(self, *exc: Any) -> Any:
        try:
            exit_ = getattr(self._rw_wrapped, "__exit__", None)
            return exit_(*exc) if exit_ is not None else None
        finally:
            self._rw_obs.close("client_closed" if exc[0] is None else reason_for(exc[1]))


class AsyncWatchedStream(_Proxy):
    """Async stream proxy returned by :func:`watch`."""

    __slots__ = ("_rw_iter",)

    def __init__(self, wrapped: Any, observation: Observation) -> None:
        super().__init__(wrapped, observation)
        object.__setattr__(self, "_rw_iter", None)

    async def _generate(self) -> AsyncIterator[Any]:
        obs = self._rw_obs
        try:
            async for item in self._rw_wrapped:
                obs.item(item)
                yield item
        except BaseException as exc:
            obs.error(exc)
            obs.close(reason_for(exc))
            raise
        obs.close("stream_ended")

    def __aiter__(self) -> AsyncIterator[Any]:
        if self._rw_iter is None:
            object.__setattr__(self, "_rw_iter", self._generate())
        return self._rw_iter  # type: ignore[no-any-return]

    async def __anext__(self) -> Any:
        return await self.__aiter__().__anext__()

    async def __aenter__(self) -> AsyncWatchedStream:
        enter = getattr(self._rw_wrapped, "__aenter__", None)
        if enter is not None:
            inner = await enter()
            if inner is not self._rw_wrapped:
                return AsyncWatchedStream(inner, self._rw_obs)
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        try:
            exit_ = getattr(self._rw_wrapped, "__aexit__", None)
            return await exit_(*exc) if exit_ is not None else None
        finally:
            self._rw_obs.close("client_closed" if exc[0] is None else reason_for(exc[1]))

    async def close(self) -> None:  # type: ignore[override]
        try:
            closer = getattr(self._rw_wrapped, "close", None) or self._rw_wrapped.aclose
            result = closer()
            if asyncio.iscoroutine(result):
                await result
        finally:
            self._rw_obs.close("client_closed")

    async def aclose(self) -> None:
        await self.close()


def watch(stream: Any, observer: Observer | None = None) -> Any:
    """Observe an SDK ``Stream`` / ``AsyncStream`` / stream manager (or any iterable of events).

    Yields the identical objects; ``with``, ``close()``, ``aclose()`` and attributes behave as
    the SDK's own. ``.final`` is the final run/response as the SDK built it, for every terminal
    status (also ``response.incomplete``, where ``get_final_response()`` raises).

    >>> with runwatch.watch(client.responses.stream(model="gpt-4o", input="hi")) as s:  # doctest: +SKIP
    ...     for event in s: ...
    >>> s.final.status  # doctest: +SKIP
    'incomplete'
    """
    observer = observer or default_observer()
    name = type(stream).__name__
    if name.endswith("StreamManager"):
        return _watch_manager(stream, observer)
    if hasattr(stream, "__aiter__") and not hasattr(stream, "__iter__"):
        return AsyncWatchedStream(stream, Observation(observer, stream))
    if hasattr(stream, "__iter__") or hasattr(stream, "__next__"):
        return WatchedStream(stream, Observation(observer, stream))
    raise TypeError(f"runwatch.watch expects an SDK stream, stream manager or iterable, got {name}")


class _WatchedManager(_Proxy):
    """A stream manager proxy: the request, and so the observation, starts when it is entered."""

    __slots__ = ()

    def __enter__(self) -> Any:
        inner = self._rw_wrapped.__enter__()
        if is_assistant_handler(inner):
            return handler(inner, self._rw_obs.observer)
        watched = WatchedStream(inner, Observation(self._rw_obs.observer, inner))
        object.__setattr__(self, "_rw_obs", watched._rw_obs)
        return watched

    def __exit__(self, *exc: Any) -> Any:
        try:
            return self._rw_wrapped.__exit__(*exc)
        finally:
            self._rw_obs.close("client_closed" if exc[0] is None else reason_for(exc[1]))

    async def __aenter__(self) -> Any:
        inner = await self._rw_wrapped.__aenter__()
        if is_assistant_handler(inner):
            return handler(inner, self._rw_obs.observer)
        watched = AsyncWatchedStream(inner, Observation(self._rw_obs.observer, inner))
        object.__setattr__(self, "_rw_obs", watched._rw_obs)
        return watched

    async def __aexit__(self, *exc: Any) -> Any:
        try:
            return await self._rw_wrapped.__aexit__(*exc)
        finally:
            self._rw_obs.close("client_closed" if exc[0] is None else reason_for(exc[1]))


def _watch_manager(manager: Any, observer: Observer) -> Any:
    return _WatchedManager(manager, ManagerObservation(observer))
