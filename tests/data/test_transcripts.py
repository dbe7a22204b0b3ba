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
    last, obj = _last_lifecycle(api, events)
    assert obj is not None or status == "aborted"
    if status == "aborted":
        assert last is None or last not in TERMINAL_NAMES | {"error"}, last
        if api == "assistants":
            assert last in ("in_progress", "cancelling"), last
        return
    if api == "chat":
        # Every choice's finish reason counts (n > 1): one cut short makes the run incomplete.
        finishes = [
            choice["finish_reason"]
            for _, data in events
            if not data.startswith("[DONE]")
            for choice in json.loads(data).get("choices", [])
            if choice.get("finish_reason")
        ]
        assert last == finishes[-1]
        if status == "incomplete":
            assert reason in finishes
        else:
            assert set(finishes) <= {"stop", "tool_calls", "function_call"}
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
    assert last == status
    snapshot = obj.get("data", obj)
    snapshot = snapshot.get("response") or snapshot.get("turn") or snapshot
    if status == "incomplete":
        assert snapshot["incomplete_details"]["reason"] == reason
    elif status == "failed":
        err = snapshot.get("last_error") or snapshot.get("error")
        assert err["code"] == reason
    assert snapshot["id"] == run["run_id"]


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
