"""The transcripts are what they claim to be: the SDK's own decoder reads them, their last
lifecycle event matches expected.json, and the generator reproduces them byte for byte."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
EXPECTED: dict[str, Any] = json.loads((HERE / "expected.json").read_text())


def sdk_events(body: bytes) -> list[tuple[str | None, str]]:
    from openai._streaming import SSEDecoder

    # Feed in small chunks: the transcripts must not depend on chunk boundaries.
    chunks = iter([body[i : i + 7] for i in range(0, len(body), 7)])
    return [(e.event, e.data) for e in SSEDecoder().iter_bytes(chunks)]


def test_every_file_is_covered() -> None:
    """Every .sse file in the folder appears in exactly one case, and every listed file exists."""
    listed = [f for case in EXPECTED.values() for f in case["files"]]
    assert len(listed) == len(set(listed))
    assert set(listed) == {p.name for p in HERE.glob("*.sse")}
    for case in EXPECTED.values():
        assert len(case["requests"]) == len(case["files"])


def test_every_status_and_reason_is_covered() -> None:
    """The transcripts cover every terminal outcome the brief lists, per API."""
    seen = {(r["api"], r["status"], r["reason"]) for c in EXPECTED.values() for r in c["runs"]}
    wanted = {
        ("assistants", "completed", "none"),
        ("assistants", "incomplete", "max_completion_tokens"),
        ("assistants", "incomplete", "max_prompt_tokens"),
        ("assistants", "failed", "server_error"),
        ("assistants", "failed", "rate_limit_exceeded"),
        ("assistants", "failed", "invalid_prompt"),
        ("assistants", "cancelled", "none"),
        ("assistants", "expired", "none"),
        ("assistants", "aborted", "stream_ended"),
        ("assistants", "unknown", "unknown_status"),
        ("responses", "completed", "none"),
        *(
            ("responses", "incomplete", r)
            for r in ("max_output_tokens", "max_messages", "content_filter", "steered")
        ),
        ("responses", "failed", "server_error"),
        ("responses", "failed", "rate_limit_exceeded"),
        ("responses", "aborted", "stream_ended"),
        ("responses", "unknown", "unknown_status"),
        ("chat", "completed", "none"),
        ("chat", "incomplete", "length"),
        ("chat", "incomplete", "content_filter"),
        ("chat", "aborted", "stream_ended"),
        # OpenAI-compatible servers (issue 16): a clean end without a finish reason, provider codes.
        ("chat", "completed", "no_finish_reason"),
        ("chat", "failed", "tool_use_failed"),
        ("chat", "failed", "502"),
        ("chat", "failed", "400"),
        ("agents", "completed", "none"),
        ("agents", "cancelled", "none"),
        ("agents", "aborted", "stream_ended"),
        *(
            ("agents", "failed", r)
            for r in (
                "max_output_tokens",
                "context_length_exceeded",
                "session_budget_exceeded",
                "usage_limit_exceeded",
            )
        ),
    }
    assert wanted <= seen, wanted - seen


TERMINAL_NAMES = {
    "completed",
    "incomplete",
    "failed",
    "cancelled",
    "expired",
    "requires_action",
}


def _last_lifecycle(
    api: str, events: list[tuple[str | None, str]]
) -> tuple[str | None, dict[str, Any] | None]:
    """The last event that reports the run's status, and its decoded data."""
    for name, data in reversed(events):
        if data.startswith("[DONE]"):
            continue
        obj = json.loads(data)
        if api == "chat":
            for choice in obj.get("choices", []):
                if choice.get("finish_reason"):
                    return choice["finish_reason"], obj
            continue
        if name == "error":
            return "error", obj
        if api == "assistants" and name and name.startswith("thread.run.") and name.count(".") == 2:
            return name.removeprefix("thread.run."), obj
        if api == "responses" and name and name.count(".") == 1 and name.startswith("response."):
            return name.removeprefix("response."), obj
        if api == "agents" and name and name.startswith("agent.session.turn.") and name.count(".") == 3:
            return name.removeprefix("agent.session.turn."), obj
    return None, None


def _chat_outcome(events: list[tuple[str | None, str]]) -> tuple[str, str]:
    """What a chat stream's wire says, read here without runwatch: an error (an ``error`` event, or
    an ``error`` object in a chunk: the SDK raises on either) fails it with its code (an int code as
    its text, else the error's type); else the first incomplete finish reason of any choice; else a
    prompt Azure's filter blocked is incomplete / content_filter; else any finish reason completes
    it; else ``[DONE]`` ends it without saying why; else it was cut."""
    finishes: list[str] = []
    filtered = done = False
    for name, data in events:
        if data.startswith("[DONE]"):
            done = True
            break  # the SDK stops reading here
        obj = json.loads(data)
        err = obj.get("error")
        if name == "error" or isinstance(err, dict):
            code = err.get("code") if isinstance(err, dict) else None
            return "failed", str(code if code is not None else err.get("type"))
        for result in obj.get("prompt_filter_results") or []:
            filtered |= any(c.get("filtered") for c in result["content_filter_results"].values())
        finishes += [c["finish_reason"] for c in obj.get("choices", []) if c.get("finish_reason")]
    incomplete = [f for f in finishes if f in ("length", "content_filter")]
    if incomplete:
        return "incomplete", incomplete[0]
    if filtered:
        return "incomplete", "content_filter"
    if finishes:
        assert set(finishes) <= {"stop", "tool_calls", "function_call"}
        return "completed", "none"
    return ("completed", "no_finish_reason") if done else ("aborted", "stream_ended")


@pytest.mark.parametrize("name", [n for n, c in EXPECTED.items() if len(c["runs"]) == 1], ids=str)
def test_last_event_agrees_with_expected(name: str) -> None:
    """For single-run cases, the last lifecycle event the SDK decoder sees implies the expected
    status and reason (an independent check on the hand-declared expectations)."""
    case = EXPECTED[name]
    events: list[tuple[str | None, str]] = []
    for f in case["files"]:
        events += sdk_events((HERE / f).read_bytes())
    (run,) = case["runs"]
    api, status, reason = run["api"], run["status"], run["reason"]
    if api == "chat":
        assert _chat_outcome(events) == (status, reason)
        return
    last, obj = _last_lifecycle(api, events)
    assert obj is not None or status == "aborted"
    if status == "aborted":
        assert last is None or last not in TERMINAL_NAMES | {"error"}, last
        if api == "assistants":
            assert last in ("in_progress", "cancelling"), last
        return
    assert obj is not None
    if last == "error":
        assert status == "failed"
        code = obj["error"]["code"] if isinstance(obj.get("error"), dict) else obj["code"]
        assert code == reason
        return
    if status == "unknown":
        assert last not in TERMINAL_NAMES
        return
    snapshot = obj.get("data", obj)
    snapshot = snapshot.get("response") or snapshot.get("turn") or snapshot
    # The run's own status decides where the event's name says otherwise (status_mismatch).
    assert snapshot.get("status", last) == status
    if status == "incomplete":
        assert snapshot["incomplete_details"]["reason"] == reason
    elif status == "failed":
        err = snapshot.get("last_error") or snapshot.get("error")
        assert err["code"] == reason
    # A run keeps the first id its stream names (an id changed mid-stream is id_changed).
    assert (snapshot["id"] if api == "agents" else _first_id(events)) == run["run_id"]


def _first_id(events: list[tuple[str | None, str]]) -> str:
    """The first response or run id a stream names."""
    for name, data in events:
        if name is None or name == "error" or data.startswith("[DONE]"):
            continue
        obj = json.loads(data)
        snapshot = obj.get("data", obj)
        snapshot = snapshot.get("response") or snapshot
        if snapshot.get("object") in ("response", "thread.run") and snapshot.get("id"):
            return str(snapshot["id"])
    raise AssertionError("no id")


def test_generator_is_reproducible(tmp_path: Path) -> None:
    """Running the generator again rewrites the same bytes (the files are checked in generated)."""
    spec = importlib.util.spec_from_file_location("_rw_generate", HERE / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    gen.HERE = tmp_path
    for name in (
        "assistants_comments_multiline.sse",
        "responses_unknown_events.sse",
        "chat_comments_fields.sse",
    ):
        (tmp_path / name).write_bytes((HERE / name).read_bytes())
    gen.main()
    for path in tmp_path.iterdir():
        assert path.read_bytes() == (HERE / path.name).read_bytes(), path.name
