"""runwatch's own test suite asks for its internal errors to be re-raised (guarantee 2 keeps them
contained everywhere else, a user's test suite included), so a bug that production would hide
fails the test that hit it. Set here, before any test module builds an observer; tests that
prove containment pass ``raise_errors=False`` or unset the variable with ``monkeypatch``."""

from __future__ import annotations

import os

os.environ["RUNWATCH_RAISE_INTERNAL_ERRORS"] = "1"
