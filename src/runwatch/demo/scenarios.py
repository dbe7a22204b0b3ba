"""Which scenario a demo request gets: the scenario tables and the seeded :class:`Mix`.

A scenario is named ``status`` or ``status:reason`` (``"incomplete:max_output_tokens"``) and is
valid for the APIs whose protocol can produce it. Each scenario maps to the outcome runwatch must
report for it, so the driver (and tests) can check that what was asked for is what was observed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["APIS", "DEFAULT_MIX", "SCENARIOS", "TOUR", "Mix", "expected_outcome", "valid_names"]

APIS: Final[tuple[str, ...]] = ("assistants", "responses", "chat", "agents")

# scenario -> (status, reason) runwatch must report. Names follow each protocol's own vocabulary:
# Assistants says max_completion_tokens, Responses max_output_tokens, Chat `length`, and agent
# turns have no `incomplete` at all (limits arrive as `failed` with a code).
SCENARIOS: Final[Mapping[str, Mapping[str, tuple[str, str]]]] = {
    "assistants": {
        "completed": ("completed", "none"),
        "requires_action": ("completed", "none"),  # pauses for tool outputs, then completes
        "incomplete:max_completion_tokens": ("incomplete", "max_completion_tokens"),
        "incomplete:max_prompt_tokens": ("incomplete", "max_prompt_tokens"),
        "failed:server_error": ("failed", "server_error"),
        "failed:rate_limit_exceeded": ("failed", "rate_limit_exceeded"),
        "failed:invalid_prompt": ("failed", "invalid_prompt"),
        "cancelled": ("cancelled", "none"),
        "expired": ("expired", "none"),
        "error:server_error": ("failed", "server_error"),  # flat `error` event
        "error:rate_limit_exceeded": ("failed", "rate_limit_exceeded"),
        "aborted": ("aborted", "stream_ended"),
    },
    "responses": {
        "completed": ("completed", "none"),
        "incomplete:max_output_tokens": ("incomplete", "max_output_tokens"),
        "incomplete:max_messages": ("incomplete", "max_messages"),
        "incomplete:content_filter": ("incomplete", "content_filter"),
        "incomplete:steered": ("incomplete", "steered"),
        "failed:server_error": ("failed", "server_error"),
        "failed:rate_limit_exceeded": ("failed", "rate_limit_exceeded"),
        "failed:invalid_prompt": ("failed", "invalid_prompt"),
        "failed:vector_store_timeout": ("failed", "vector_store_timeout"),
        "error:server_error": ("failed", "server_error"),  # nested `error` event, then response.failed
        "error:rate_limit_exceeded": ("failed", "rate_limit_exceeded"),
        "aborted": ("aborted", "stream_ended"),
    },
    "chat": {
        "completed": ("completed", "none"),
        "tool_calls": ("completed", "none"),
        "incomplete:length": ("incomplete", "length"),
        "incomplete:content_filter": ("incomplete", "content_filter"),
        "aborted": ("aborted", "stream_ended"),
    },
    "agents": {
        "completed": ("completed", "none"),
        "failed:max_output_tokens": ("failed", "max_output_tokens"),
        "failed:context_length_exceeded": ("failed", "context_length_exceeded"),
        "failed:session_budget_exceeded": ("failed", "session_budget_exceeded"),
        "failed:usage_limit_exceeded": ("failed", "usage_limit_exceeded"),
        "failed:server_error": ("failed", "server_error"),
        "failed:rate_limit_exceeded": ("failed", "rate_limit_exceeded"),
        "cancelled": ("cancelled", "none"),
        "aborted": ("aborted", "stream_ended"),
    },
}

#: A production-looking default: mostly completed, a few percent incomplete and failed per API.
DEFAULT_MIX: Final[str] = (
    "completed=70,requires_action=8,incomplete:max_output_tokens=6,incomplete:max_completion_tokens=6,"
    "incomplete:length=6,failed:max_output_tokens=5,incomplete:content_filter=2,failed:server_error=3,"
    "failed:rate_limit_exceeded=2,error:server_error=1,cancelled=1,expired=1"
)


#: The first runs of a demo with the default mix, each with the SDK code path it is driven by: the
#: seed case first (an Assistants run streamed through an event handler that ends ``incomplete``,
#: the status that made openai-node throw "Final run has not been received"), then every status
#: each api can end in, at least once (tests/demo checks the coverage against SCENARIOS). Code
#: paths: ``handler`` / ``poll`` (Assistants), ``create`` / ``helper`` / ``resume`` (Responses;
#: ``helper`` calls ``get_final_response()``, which raises on ``incomplete``), ``create`` (Chat),
#: ``session`` (agents).
TOUR: Final[tuple[tuple[str, str, str], ...]] = (
    ("assistants", "incomplete:max_completion_tokens", "handler"),
    ("assistants", "completed", "handler"),
    ("assistants", "requires_action", "handler"),
    ("assistants", "failed:server_error", "poll"),
    ("assistants", "cancelled", "handler"),
    ("assistants", "expired", "poll"),
    ("assistants", "aborted", "handler"),
    ("responses", "completed", "create"),
    ("responses", "incomplete:max_output_tokens", "helper"),
    ("responses", "failed:rate_limit_exceeded", "create"),
    ("responses", "aborted", "create"),
    ("chat", "completed", "create"),
    ("chat", "incomplete:length", "create"),
    ("chat", "incomplete:content_filter", "create"),
    ("chat", "aborted", "create"),
    ("agents", "completed", "session"),
    ("agents", "failed:max_output_tokens", "session"),
    ("agents", "cancelled", "session"),
    ("agents", "aborted", "session"),
)


def valid_names() -> list[str]:
    """Every scenario name, unqualified and ``api/``-qualified, sorted."""
    plain = sorted({name for table in SCENARIOS.values() for name in table})
    qualified = sorted(f"{api}/{name}" for api, table in SCENARIOS.items() for name in table)
    return plain + qualified


def _unknown(name: str, api: str | None = None) -> ValueError:
    where = f" for api {api!r}" if api else ""
    if api is not None and api in SCENARIOS:
        names = sorted(SCENARIOS[api])
    else:
        names = sorted({n for t in SCENARIOS.values() for n in t})
    return ValueError(
        f"unknown scenario {name!r}{where}; valid scenarios: {', '.join(names)} "
        f"(prefix with one of {', '.join(APIS)} and '/' to restrict to one api)"
    )


def expected_outcome(api: str, scenario: str) -> tuple[str, str]:
    """The ``(status, reason)`` runwatch must report for ``scenario`` on ``api``.

    >>> expected_outcome("chat", "incomplete:length")
    ('incomplete', 'length')
    """
    try:
        return SCENARIOS[api][scenario]
    except KeyError:
        raise _unknown(scenario, api) from None


def resolve(api: str, name: str) -> str:
    """Validate a scenario requested for ``api`` (e.g. from the ``x-runwatch-scenario`` header)."""
    name = name.strip()
    prefix, slash, rest = name.partition("/")
    if slash:
        if prefix != api:
            raise ValueError(f"scenario {name!r} is for api {prefix!r}, but this request is {api!r}")
        name = rest
    if name not in SCENARIOS.get(api, {}):
        raise _unknown(name, api)
    return name


@dataclass(frozen=True, slots=True)
class Mix:
    """Weights per ``(api, scenario)``, parsed from ``"completed=70,incomplete:max_output_tokens=20"``.

    An unqualified name applies, with its weight, to every API that can produce it; ``api/name``
    restricts it to one API. Picks are weighted over the expanded ``(api, scenario)`` entries.

    >>> Mix.parse("chat/incomplete:length=1").pick(random.Random(0))
    ('chat', 'incomplete:length')
    """

    entries: tuple[tuple[str, str, float], ...]

    @classmethod
    def parse(cls, text: str) -> Mix:
        entries: dict[tuple[str, str], float] = {}
        for raw in text.split(","):
            item = raw.strip()
            if not item:
                continue
            name, eq, weight_text = item.rpartition("=")
            if not eq or not name.strip():
                raise ValueError(f"mix entry {item!r} is not NAME=WEIGHT (e.g. 'completed=70')")
            try:
                weight = float(weight_text)
            except ValueError:
                raise ValueError(f"mix entry {item!r}: weight {weight_text!r} is not a number") from None
            if not weight >= 0 or weight == float("inf"):
                raise ValueError(f"mix entry {item!r}: weight must be a finite number >= 0")
            name = name.strip()
            api, slash, scenario = name.partition("/")
            if slash:
                if api not in SCENARIOS:
                    raise ValueError(
                        f"mix entry {item!r}: unknown api {api!r}; valid apis: {', '.join(APIS)}"
                    )
                if scenario not in SCENARIOS[api]:
                    raise _unknown(scenario, api)
                targets = [api]
            else:
                scenario = name
                targets = [a for a in APIS if scenario in SCENARIOS[a]]
                if not targets:
                    raise _unknown(scenario)
            for target in targets:
                entries[(target, scenario)] = entries.get((target, scenario), 0.0) + weight
        kept = tuple((api, sc, w) for (api, sc), w in entries.items() if w > 0)
        if not kept:
            raise ValueError(f"mix {text!r} has no scenario with a positive weight")
        return cls(kept)

    def apis(self) -> list[str]:
        """The APIs this mix sends traffic to, in canonical order."""
        present = {api for api, _, _ in self.entries}
        return [a for a in APIS if a in present]

    def pick(self, rng: random.Random, api: str | None = None) -> tuple[str, str]:
        """A weighted ``(api, scenario)``; with ``api``, among that API's entries (``completed``
        when the mix has none for it)."""
        pool = [e for e in self.entries if api is None or e[0] == api]
        if not pool:
            assert api is not None
            return api, "completed"
        total = sum(w for _, _, w in pool)
        x = rng.random() * total
        for entry_api, scenario, weight in pool:
            x -= weight
            if x < 0:
                return entry_api, scenario
        return pool[-1][0], pool[-1][1]

    def share(self) -> dict[tuple[str, str], float]:
        """Each entry's probability."""
        total = sum(w for _, _, w in self.entries)
        return {(api, sc): w / total for api, sc, w in self.entries}
