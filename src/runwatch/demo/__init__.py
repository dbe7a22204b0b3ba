"""``runwatch demo``: an embedded OpenAI-compatible streaming server and a driver that runs the real
openai SDK against it, observed by runwatch. Imported lazily: ``import runwatch`` never loads it."""

from __future__ import annotations
