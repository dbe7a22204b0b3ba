"""The public API surface: what `import runwatch` offers, where the rest lives, and what it costs."""

from __future__ import annotations

import subprocess
import sys
import types
import typing

import pytest

import runwatch
import runwatch.events
import runwatch.lowlevel

#: The top level: the entry points, the observer, and the public submodules (loaded lazily).
TOP_LEVEL = {
    "Observer",
    "__version__",
    "add_trace_ids",
    "events",
    "handler",
    "instrument",
    "testing",
    "uninstrument",
    "watch",
}
#: Internals that used to be top-level names: now only in runwatch.lowlevel.
LOW_LEVEL = {
    "Event",
    "Frame",
    "RunBook",
    "SSEDecoder",
    "StreamSession",
    "StreamTracker",
    "default_observer",
    "set_default_observer",
}


def _public(module: types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name not in ("annotations", "TYPE_CHECKING")
        and getattr(value, "__module__", "") != "typing"
    }


@pytest.mark.parametrize(
    "module",
    [
        pytest.param(runwatch, id="runwatch"),
        pytest.param(runwatch.events, id="events"),
        pytest.param(runwatch.lowlevel, id="lowlevel"),
    ],
)
def test_all_is_sorted_and_complete(module: types.ModuleType) -> None:
    """Each public module's `__all__` is sorted, names every public attribute, and every name in
    it resolves."""
    assert list(module.__all__) == sorted(module.__all__)
    missing = _public(module) - set(module.__all__)
    assert not missing, f"public names missing from __all__: {sorted(missing)}"
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_top_level_is_the_contract() -> None:
    """The top level is exactly the entry points, the observer and the public submodules; the
    internals are reachable only through runwatch.lowlevel."""
    assert set(runwatch.__all__) == TOP_LEVEL
    assert set(runwatch.lowlevel.__all__) == LOW_LEVEL
    for name in LOW_LEVEL:
        assert not hasattr(runwatch, name), name
    assert "unstable" in (runwatch.lowlevel.__doc__ or "").lower()


def test_events_carry_every_transition() -> None:
    """runwatch.events names every transition a sink can receive, and the run, outcome, usage and
    phase they carry (the same objects the tracker builds)."""
    from runwatch import _events

    transitions = typing.get_args(runwatch.events.Transition)
    assert transitions == typing.get_args(_events.Transition)
    for cls in (*transitions, _events.Run, _events.Outcome, _events.Usage, _events.Phase):
        assert getattr(runwatch.events, cls.__name__) is cls
    assert not hasattr(runwatch.events, "Event")  # the adapters' vocabulary, not a sink's


def test_import_is_lazy() -> None:
    """`import runwatch` pulls in neither the SDK, httpx, prometheus-client nor OTel, nor the
    testing helpers; `runwatch.testing` and `runwatch.events` load on first use, still without
    them."""
    heavy = "('openai','httpx','httpx2','prometheus_client','opentelemetry','structlog')"
    code = (
        "import sys, runwatch; "
        "before = 'runwatch.testing' in sys.modules; "
        "runwatch.testing.sse_frame; runwatch.events.RunFinished; "
        f"print(before, ','.join(m for m in {heavy} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
