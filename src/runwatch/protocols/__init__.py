"""Protocol tables: what each OpenAI stream event and status means for a run.

Knowledge of the four protocols lives here as data; :mod:`runwatch._tracker` interprets it. Every
table is deliberately open: a name that is not in it is an anomaly to record, never an error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

from .._events import Api
from .._sse import Drop

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
    #: Bytes that no content delta of the protocol holds on the wire and every event that ends a
    #: run (or fails it) does: a stream whose deltas change nothing may be held unread until a
    #: chunk shows one (see ``StreamSession.feed_bytes``). Empty: never held. Promptness only:
    #: a held chunk is always read, at the latest when the stream closes.
    hold_marks: tuple[bytes, ...] = ()


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

#: Actions of events that change nothing once a run has its first token.
_DELTA_ACTIONS: Final = frozenset({"token", "chat_delta"})


@dataclass(frozen=True, slots=True, eq=False)
class DeltaFilter:
    """One protocol's answer to "does this delta change nothing?" (asked only while its run has
    its first token and no outcome), in every form an event arrives in: a named frame, an unnamed
    frame's data text (chat chunks), an SDK object or a decoded dict, and the regions of bytes a
    decoder may leave out (:class:`runwatch._sse.Drop`). Built from the protocol's event table by
    :func:`deltas`; the only place that decides it (tests check that the forms agree).
    """

    #: Named content-delta events (``response.output_text.delta``, ``thread.message.delta``).
    names: frozenset[str]
    #: How each named delta starts on the wire: ``event: E\ndata: ``.
    heads: frozenset[bytes]
    #: Judges an unnamed frame by its data (chat chunks); None: unnamed frames always matter.
    text: Callable[[str], bool] | None
    #: Judges a parsed chunk, an SDK object or a dict (chat); None: judged by its ``type``.
    parsed: Callable[[object], bool] | None
    #: What an SSE decoder may drop whole while deltas change nothing.
    drop: Drop
    #: The protocol's :attr:`Protocol.hold_marks`.
    hold_marks: tuple[bytes, ...] = ()

    def frame(self, name: str | None, data: str) -> bool:
        """True if the frame (``event:`` name or None, ``data`` text) changes nothing."""
        if name is None:
            return self.text is not None and self.text(data)
        return name in self.names

    def obj(self, event: object) -> bool:
        """True if ``event`` (an SDK stream object or its decoded dict) changes nothing."""
        if self.parsed is not None:
            return self.parsed(event)
        kind = event.get("type") if isinstance(event, dict) else getattr(event, "type", None)
        return isinstance(kind, str) and kind in self.names


@functools.cache
def deltas(api: Api) -> DeltaFilter:
    """The delta filter of ``api`` (one per protocol, built once from its table)."""
    proto = get(api)
    names = frozenset(name for name, action in proto.events.items() if action in _DELTA_ACTIONS)
    if api == "chat":
        from . import chat

        # Chat chunks are unnamed ``data:`` frames (the ``.delta`` name is an adapter's).
        drop = Drop(frozenset(), chat.plain_deltas)
        return DeltaFilter(names, frozenset(), chat.plain_delta, chat.plain_chunk, drop, proto.hold_marks)
    heads = frozenset(b"event: " + n.encode() + b"\ndata: " for n in names)
    return DeltaFilter(names, heads, None, None, Drop(names), proto.hold_marks)


def get(api: Api) -> Protocol:
    if not _TABLES:  # the submodules import this one: fill the table on first use
        from . import agents, assistants, chat, responses

        for module in (assistants, responses, chat, agents):
            _TABLES[module.PROTOCOL.api] = module.PROTOCOL
    return _TABLES[api]


__all__ = [
    "TERMINAL",
    "TOOL_ITEM_TYPES",
    "Action",
    "DeltaFilter",
    "Protocol",
    "StatusKind",
    "deltas",
    "for_event",
    "get",
]
