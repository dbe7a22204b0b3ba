"""Adapters: the only code that knows httpx, httpx2 or the openai SDK."""
