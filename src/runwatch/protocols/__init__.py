"""Protocol tables: what each OpenAI stream event and status means for a run.

Knowledge of the four protocols lives here as data; :mod:`runwatch._tracker` interprets it. Every
table is deliberately open: a name that is not in it is an anomaly to record, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

from .._events import Api

#: What an event does to its run. See ``RunTracker`` for the meaning of each.
Action: TypeAlias = Literal[
    "snapshot",  # payload carries the run/response/turn object: identity, usage, status
    "token",  # a content delta: only the first one matters (time to first token)
    "step",  # an Assistants run step changed (phase per step, tool calls)
    "item_start",  # a Responses output item began (phase per item, tool calls)
    "item_end",
    "agent_item",  # an agent turn item was added (tool calls)
    "chat_chunk",  # a Chat Completions chunk that needs a look (first chunk, finish, usage)
    "chat_delta",  # a chunk an adapter already knows is a plain content delta
    "error",  # an error event, flat or nested
    "session",  # an agent session event: facts (model) shared by the session's turns
    "ignore",  # a known event that changes nothing we track
]

#: What a status means: enter a phase, pause for tool outputs, or end the run.
StatusKind: TypeAlias = Literal["phase", "pause", "terminal"]


@dataclass(frozen=True, slots=True, eq=False)  # one instance per protocol: identity is equality
class Protocol:
    api: Api
    #: Event name -> action. Names outside the table but under ``prefixes`` are unknown events.
    events: dict[str, Action]
    prefixes: tuple[str, ...]
    #: Run status -> (kind, phase name or terminal status).
    statuses: dict[str, tuple[StatusKind, str]]
    #: Terminal status -> where its reason lives in the snapshot.
    reason_paths: dict[str, tuple[str, ...]]
    #: Where the snapshot lives in an event payload (empty: the payload itself).
    snapshot_key: tuple[str, ...] = ()
    #: Payload key naming the run when one stream carries several runs (agent turns).
    run_key: str | None = None
    #: Span-friendly names of tool types, by the item/tool "type" the protocol uses.
    tool_types: dict[str, str] = field(default_factory=dict)
    #: Where a paused run's snapshot lists the tool calls it waits for (empty: nowhere).
    required_tool_calls: tuple[str, ...] = ()


#: Terminal statuses every protocol shares with runwatch's own vocabulary.
TERMINAL: Final = ("completed", "incomplete", "failed", "cancelled", "expired")

#: Tool-call item types (Responses, agents) -> tool type label.
TOOL_ITEM_TYPES: Final[dict[str, str]] = {
    "function_call": "function",
    "custom_tool_call": "custom",
    "web_search_call": "web_search",
    "file_search_call": "file_search",
    "code_interpreter_call": "code_interpreter",
    "image_generation_call": "image_generation",
    "computer_call": "computer",
    "local_shell_call": "local_shell",
    "shell_call": "shell",
    "apply_patch_call": "apply_patch",
    "mcp_call": "mcp",
    "tool_search_call": "tool_search",
}


def for_event(name: str) -> Api | None:
    """Guess the protocol from an event name (None for ``error``/``done`` or unknown names)."""
    if name.startswith("thread."):
        return "assistants"
    if name.startswith("response."):
        return "responses"
    if name.startswith("chat.completion"):
        return "chat"
    if name.startswith("agent."):
        return "agents"
    return None


_TABLES: dict[str, Protocol] = {}


def get(api: Api) -> Protocol:
    if not _TABLES:  # the submodules import this one: fill the table on first use
        from . import agents, assistants, chat, responses

        for module in (assistants, responses, chat, agents):
            _TABLES[module.PROTOCOL.api] = module.PROTOCOL
    return _TABLES[api]


__all__ = ["TERMINAL", "TOOL_ITEM_TYPES", "Action", "Protocol", "StatusKind", "for_event", "get"]
