"""The public API surface: what `import runwatch` offers and what it costs."""

from __future__ import annotations

import subprocess
import sys
import types

import runwatch


def test_all_is_sorted_and_complete() -> None:
    """`__all__` is sorted and names every public attribute (and nothing that is missing)."""
    assert list(runwatch.__all__) == sorted(runwatch.__all__)
    public = {
        name
        for name, value in vars(runwatch).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name not in ("annotations", "TYPE_CHECKING")
        and getattr(value, "__module__", "") != "typing"
    }
    missing = public - set(runwatch.__all__)
    assert not missing, f"public names missing from __all__: {sorted(missing)}"
    for name in runwatch.__all__:
        assert getattr(runwatch, name) is not None


def test_import_is_lazy() -> None:
    """`import runwatch` pulls in neither the SDK, httpx, prometheus-client nor OTel."""
    code = (
        "import sys, runwatch; "
        "print(','.join(m for m in ('openai','httpx','httpx2','prometheus_client','opentelemetry',"
        "'structlog') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
