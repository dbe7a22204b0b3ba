"""The stream builders stand alone (no SDK, no httpx, no demo) and `runwatch.testing` hands every
one of them on unchanged."""

from __future__ import annotations

import subprocess
import sys

import runwatch.builders
import runwatch.testing


def test_builders_import_neither_sdk_nor_demo() -> None:
    """Importing and using the builders loads neither the SDK, httpx, the demo nor
    runwatch.testing: they sit below all of them."""
    shunned = "('openai','httpx','httpx2','runwatch.demo','runwatch.demo.server','runwatch.testing')"
    code = (
        "import sys, runwatch.builders as b; b.responses_stream(); b.assistants_run(); "
        f"print(','.join(m for m in {shunned} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_testing_re_exports_every_builder() -> None:
    """Each name in runwatch.builders.__all__ is in runwatch.testing.__all__ and is the same object;
    testing adds only its own helpers, and both lists are sorted."""
    assert list(runwatch.builders.__all__) == sorted(runwatch.builders.__all__)
    assert list(runwatch.testing.__all__) == sorted(runwatch.testing.__all__)
    for name in runwatch.builders.__all__:
        assert getattr(runwatch.testing, name) is getattr(runwatch.builders, name), name
    assert set(runwatch.testing.__all__) - set(runwatch.builders.__all__) == {"demo_server"}
