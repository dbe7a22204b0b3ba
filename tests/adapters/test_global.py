"""Global mode: ``runwatch.instrument()`` with no client (and the OTel instrumentor behind it)
observes every OpenAI client of the process, created before or after; ``uninstrument()`` undoes
it; a client instrumented both ways is one tap, so each run counts once."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

import openai
import pytest
from openai import _base_client

import runwatch
from runwatch.adapters import install

from .conftest import Obs, Wire, case_replies, expected_outcomes, http, make_client, new_obs

CASE = "chat_length"
ORIGINALS = {
    cls: cls.__dict__["request"] for cls in (_base_client.SyncAPIClient, _base_client.AsyncAPIClient)
}


def _instrumentor() -> Any:
    # opentelemetry-instrumentation comes with the [instrument] / [otlp] extras (and [dev]); the
    # openai 1.x run of these tests in CI installs runwatch without extras.
    return pytest.importorskip("runwatch.instrumentation").RunwatchInstrumentor


@pytest.fixture(autouse=True)
def _global_off() -> Iterator[None]:
    """Every test starts and ends with the global mode off and the SDK's methods untouched."""
    runwatch.uninstrument()
    yield
    runwatch.uninstrument()
    try:
        from runwatch.instrumentation import RunwatchInstrumentor
    except ImportError:
        pass
    else:
        if RunwatchInstrumentor().is_instrumented_by_opentelemetry:
            RunwatchInstrumentor().uninstrument()
    for cls, original in ORIGINALS.items():
        setattr(cls, "request", original)


def _chat(client: Any) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    for _ in stream:
        pass


async def _achat(client: Any) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    async for _ in stream:
        pass


def _drive(client: Any, is_async: bool) -> None:
    if is_async:
        import anyio

        anyio.run(_achat, client)
    else:
        _chat(client)


def _azure(wire: Wire, is_async: bool) -> Any:
    kw: dict[str, Any] = {
        "api_version": "2024-10-21",
        "azure_endpoint": "https://example.openai.azure.com",
        "api_key": "k",
        "max_retries": 0,
    }
    if is_async:
        hc = http.AsyncClient(transport=http.MockTransport(wire.async_handler))
        return openai.AsyncAzureOpenAI(http_client=hc, **kw)
    return openai.AzureOpenAI(http_client=http.Client(transport=http.MockTransport(wire.handler)), **kw)


@pytest.mark.parametrize("created", ["before", "after"])
@pytest.mark.parametrize("kind", ["openai", "azure"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_global_mode_observes_every_client(obs: Obs, created: str, kind: str, is_async: bool) -> None:
    """A client created before or after ``instrument()`` -- OpenAI, AzureOpenAI, sync or async --
    is observed from its next request on, without being passed to runwatch."""
    wire = Wire(case_replies(CASE))

    def build() -> Any:
        return make_client(wire, is_async=is_async) if kind == "openai" else _azure(wire, is_async)

    client = build() if created == "before" else None
    assert runwatch.instrument(observer=obs.observer) is None
    if client is None:
        client = build()
    _drive(client, is_async)
    assert obs.outcomes() == expected_outcomes(CASE)
    obs.settled()


@pytest.mark.parametrize("first", ["global", "explicit"])
def test_instrumented_both_ways_counts_once(first: str) -> None:
    """Global mode and ``instrument(client, observer)`` on one client: one tap, so each call is
    one run in exactly one observer. Global first: the global observer counts the call made before
    the explicit instrument, the explicit observer every call after it (the explicit wish takes
    over). Explicit first: the global mode leaves that client to its explicit observer."""
    g, e = new_obs(), new_obs()
    client = make_client(Wire(case_replies(CASE) * 2))
    one = [("chat", "incomplete", "length", 1.0)]
    if first == "global":
        runwatch.instrument(observer=g.observer)
        _drive(client, False)  # the global mode taps it on this request
        runwatch.instrument(client, e.observer)
        _drive(client, False)
        assert (g.outcomes(), e.outcomes()) == (one, one)
    else:
        runwatch.instrument(client, e.observer)
        runwatch.instrument(observer=g.observer)
        _drive(client, False)
        _drive(client, False)
        assert (g.outcomes(), e.outcomes()) == ([], [("chat", "incomplete", "length", 2.0)])


def test_global_mode_tapped_client_counts_once_when_instrumented_again() -> None:
    """A request first taps the client for the global mode; ``instrument(client)`` with the
    same observer afterwards re-taps rather than stacking a second tap: still one run per call."""
    o = new_obs()
    wire = Wire(case_replies(CASE) + case_replies(CASE))
    client = make_client(wire)
    runwatch.instrument(observer=o.observer)
    _drive(client, False)
    runwatch.instrument(client, o.observer)
    _drive(client, False)
    ((api, status, reason, count),) = o.outcomes()
    assert (api, status, reason, count) == ("chat", "incomplete", "length", 2.0)


def test_instrument_all_twice_keeps_the_first_observer() -> None:
    """A second ``instrument()`` is a no-op: the first observer stays, no wrapper on a wrapper."""
    a, b = new_obs(), new_obs()
    runwatch.instrument(observer=a.observer)
    wrapper = _base_client.SyncAPIClient.__dict__["request"]
    runwatch.instrument(observer=b.observer)
    assert _base_client.SyncAPIClient.__dict__["request"] is wrapper
    _drive(make_client(Wire(case_replies(CASE))), False)
    assert a.outcomes() == expected_outcomes(CASE)
    assert b.outcomes() == []


def test_uninstrument_restores_the_sdk_and_removes_only_global_taps() -> None:
    """``uninstrument()``: the SDK's own methods are back, clients tapped by the global mode get
    their original transport back and are no longer observed; an explicitly instrumented client
    keeps its tap."""
    g, e = new_obs(), new_obs()
    runwatch.instrument(observer=g.observer)
    by_global = make_client(Wire(case_replies(CASE) * 2))
    original = by_global._client._transport
    _drive(by_global, False)
    assert by_global._client._transport is not original
    explicit = runwatch.instrument(make_client(Wire(case_replies(CASE))), e.observer)

    runwatch.uninstrument()
    for cls, method in ORIGINALS.items():
        assert cls.__dict__["request"] is method
    assert by_global._client._transport is original
    _drive(by_global, False)
    assert g.outcomes() == expected_outcomes(CASE), "a run after uninstrument() was counted"
    _drive(explicit, False)
    assert e.outcomes() == expected_outcomes(CASE)


def test_uninstrument_one_client_while_global_keeps_it_unobserved() -> None:
    """``uninstrument(client)`` during global mode excludes that client (the next request does not
    re-tap it); ``instrument(client)`` includes it again."""
    o = new_obs()
    runwatch.instrument(observer=o.observer)
    client = make_client(Wire(case_replies(CASE) * 2))
    runwatch.uninstrument(client)
    _drive(client, False)
    assert o.outcomes() == []
    runwatch.instrument(client, o.observer)
    _drive(client, False)
    assert o.outcomes() == expected_outcomes(CASE)


def test_a_wrapper_installed_after_ours_survives_uninstrument() -> None:
    """Another instrumentation wrapping ``request`` after runwatch keeps its wrapper when
    runwatch is turned off; runwatch's, left inside it, passes through without observing."""
    o = new_obs()
    runwatch.instrument(observer=o.observer)
    ours = _base_client.SyncAPIClient.__dict__["request"]
    calls: list[str] = []

    def theirs(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append("theirs")
        return ours(self, *args, **kwargs)

    _base_client.SyncAPIClient.request = theirs  # type: ignore[method-assign]
    runwatch.uninstrument()
    assert _base_client.SyncAPIClient.__dict__["request"] is theirs
    _drive(make_client(Wire(case_replies(CASE))), False)
    assert calls == ["theirs"]
    assert o.outcomes() == []


def test_a_failing_tap_never_reaches_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """If putting the tap on fails, the request goes ahead untouched and the failure is counted
    as an internal error (stage ``adapter``)."""
    o = new_obs(raise_errors=False)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tap failed")

    monkeypatch.setattr(install, "wrap_transport", boom)
    runwatch.instrument(observer=o.observer)
    client = make_client(Wire(case_replies(CASE)))
    _drive(client, False)
    assert o.value("runwatch_internal_errors_total", stage="adapter") >= 1
    assert o.outcomes() == []


def test_instrumentor_is_the_global_mode(obs: Obs) -> None:
    """``RunwatchInstrumentor().instrument(tracer_provider=..., registry=...)`` observes every
    client with those providers; ``uninstrument()`` stops it; it declares the openai dependency."""
    inst = _instrumentor()()
    assert any(dep.startswith("openai") for dep in inst.instrumentation_dependencies())
    inst.instrument(tracer_provider=obs.provider, registry=obs.registry, logger=obs.logger)
    assert install.is_global()
    _drive(make_client(Wire(case_replies(CASE))), False)
    assert obs.outcomes() == expected_outcomes(CASE)
    assert [s.attributes["runwatch.run.status"] for s in obs.spans() if s.name.startswith("chat")] == [
        "incomplete"
    ]
    inst.uninstrument()
    assert not install.is_global()
    for cls, method in ORIGINALS.items():
        assert cls.__dict__["request"] is method


def test_instrumentor_entry_point_is_registered() -> None:
    """``opentelemetry-instrument`` finds runwatch through the ``opentelemetry_instrumentor``
    entry point named ``runwatch`` (so OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=runwatch works)."""
    instrumentor = _instrumentor()
    (ep,) = [ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name == "runwatch"]
    assert ep.load() is instrumentor


def test_global_instrument_without_the_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """``runwatch.instrument()`` with the openai SDK missing raises one ModuleNotFoundError whose
    message names the extra to install (not a bare "No module named 'openai'")."""
    import builtins

    real_import = builtins.__import__

    def no_openai(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "openai" or name.startswith("openai."):
            raise ModuleNotFoundError("No module named 'openai'", name="openai")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openai)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'runwatch\[openai\]'"):
        runwatch.instrument()
