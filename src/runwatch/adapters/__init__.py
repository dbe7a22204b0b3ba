"""Adapters: the only code that knows httpx, httpx2 or the openai SDK.

- :mod:`.transport`: the transport tap (httpx / httpx2, sync and async) and its byte streams.
- :mod:`.install`: ``instrument`` / ``uninstrument`` put the tap on a client and take it off.
- :mod:`.sdk_events`: SDK objects -> events.
- :mod:`.sdk_walk`: the one walk through SDK internals (the tap's session, the HTTP request).
- :mod:`.observation`: one observed SDK stream, fed by the proxies and the handler tap.
- :mod:`.handler`: ``handler`` observes an ``AssistantEventHandler`` in place.
- :mod:`.watch`: ``watch`` and its transparent stream proxies.
"""
