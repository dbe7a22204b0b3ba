"""``runwatch replay``: recorded SSE files in, a table or JSON of outcomes out; bad input gets one
line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import random
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runwatch.cli import main

DATA = Path(__file__).resolve().parent / "data"
EXPECTED: dict[str, Any] = json.loads((DATA / "expected.json").read_text())
RUNWATCH = Path(sys.executable).with_name("runwatch")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["replay", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *needles: str) -> None:
    assert err.endswith("\n"), err
    assert err.count("\n") == 1, err
    assert err.startswith("runwatch replay: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err


# ------------------------------------------------------------------------------- table output
@pytest.mark.parametrize(
    "case",
    [
        "assistants_completed",
        "responses_incomplete_max_output_tokens",
        "chat_length",
        "agents_session_three_turns",
    ],
)
def test_table_lists_every_run(capsys: pytest.CaptureFixture[str], case: str) -> None:
    """The table has one row per run with its api, id, status and reason, and a totals section
    that adds up to the number of runs."""
    spec = EXPECTED[case]
    code, out, err = run_cli(capsys, *(str(DATA / f) for f in spec["files"]))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["api", "id", "model", "status", "reason"]
    for run in spec["runs"]:
        row = next(line for line in lines if f" {run['run_id']} " in line)
        assert row.split()[:5] == [run["api"], run["run_id"], run["model"], run["status"], run["reason"]]
    assert lines[lines.index("totals by status/reason:") + 1 :][-1].split() == [
        "runs",
        str(len(spec["runs"])),
    ]


def test_table_shows_anomalies(capsys: pytest.CaptureFixture[str]) -> None:
    """Anomalies (here unknown events) are summarised under the table."""
    code, out, _ = run_cli(capsys, str(DATA / "responses_unknown_events.sse"))
    assert code == 0
    assert "anomalies: " in out
    assert "unknown_event=" in out


# -------------------------------------------------------------------------------- JSON output
# Cases replayable without request-line hints (a Responses resume needs the GET URL's id).
JSON_CASES = [
    "assistants_completed",
    "assistants_requires_action",
    "assistants_unknown_status",
    "responses_failed_server_error",
    "responses_incomplete_content_filter",
    "responses_truncated_mid_frame",
    "chat_content_filter",
    "chat_cut_before_done",
    "chat_crlf",
    "responses_cr_only",
    "agents_session_three_turns",
    "agents_failed_max_output_tokens",
]


@pytest.mark.parametrize("case", JSON_CASES)
def test_json_outcomes_and_totals_match_expected(capsys: pytest.CaptureFixture[str], case: str) -> None:
    """``--json`` parses, and its outcomes and totals are exactly those expected.json gives."""
    spec = EXPECTED[case]
    code, out, err = run_cli(capsys, "--json", *(str(DATA / f) for f in spec["files"]))
    assert (code, err) == (0, "")
    doc = json.loads(out)
    keys = ("api", "run_id", "model", "status", "reason")
    want = [{k: r[k] for k in keys} for r in spec["runs"]]
    got = [{k: o[k] for k in keys} for o in doc["outcomes"]]
    assert sorted(got, key=json.dumps) == sorted(want, key=json.dumps)
    assert doc["totals"] == dict(Counter(f"{r['status']}/{r['reason']}" for r in spec["runs"]))
    assert isinstance(doc["anomalies"], dict)


def test_json_of_many_files_is_one_observer(capsys: pytest.CaptureFixture[str]) -> None:
    """Files given together are consecutive streams of one observer: a requires_action run split
    over two files is one run, and totals cover every file."""
    files = ["assistants_requires_action_part1.sse", "assistants_requires_action_part2.sse", "chat_stop.sse"]
    code, out, _ = run_cli(capsys, "--json", *(str(DATA / f) for f in files))
    assert code == 0
    doc = json.loads(out)
    assert len(doc["outcomes"]) == 2
    assert doc["totals"] == {"completed/none": 2}


def test_part1_alone_is_abandoned(capsys: pytest.CaptureFixture[str]) -> None:
    """A recording that ends in requires_action with no continuation reports the run abandoned."""
    code, out, _ = run_cli(capsys, "--json", str(DATA / "assistants_requires_action_part1.sse"))
    assert code == 0
    assert json.loads(out)["totals"] == {"abandoned/ttl_expired": 1}


# ------------------------------------------------------------------------------------ --api
ERROR_ONLY = b'event: error\ndata: {"type":"error","error":{"code":"server_error","message":"boom"}}\n\n'


def test_api_forces_the_protocol(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A stream that is only an error event names no protocol: detected, it is an unknown_api
    anomaly and no run; with ``--api responses`` it is a failed response."""
    path = tmp_path / "error.sse"
    path.write_bytes(ERROR_ONLY)
    code, out, _ = run_cli(capsys, "--json", str(path))
    doc = json.loads(out)
    assert (code, doc["outcomes"], doc["anomalies"]) == (0, [], {"unknown_api": 1})
    code, out, _ = run_cli(capsys, "--json", "--api", "responses", str(path))
    doc = json.loads(out)
    assert code == 0
    assert [(o["api"], o["status"], o["reason"]) for o in doc["outcomes"]] == [
        ("responses", "failed", "server_error")
    ]


@pytest.mark.parametrize(
    ("api", "files", "blamed", "found"),
    [
        pytest.param(
            "assistants", ["responses_completed.sse"], "responses_completed.sse", "responses", id="one"
        ),
        pytest.param("responses", ["chat_length.sse"], "chat_length.sse", "chat", id="chat-chunks"),
        pytest.param(
            "chat",
            ["chat_stop.sse", "agents_completed.sse"],
            "agents_completed.sse",
            "agents",
            id="second-file",
        ),
    ],
)
def test_api_forcing_the_wrong_protocol_says_so(
    capsys: pytest.CaptureFixture[str], api: str, files: list[str], blamed: str, found: str
) -> None:
    """``--api X`` on a file of another api is refused in one line naming that file, what it
    holds and the flag (it used to print an empty table with anomalies, exit 0)."""
    code, out, err = run_cli(capsys, "--json", "--api", api, *(str(DATA / f) for f in files))
    assert (code, out) == (2, "")
    assert_one_line_error(err, blamed, f"holds {found} events, not {api}", f"--api {api}")


def test_unknown_api_choice_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An ``--api`` outside the four protocols is rejected by argparse with status 2."""
    with pytest.raises(SystemExit) as exc:
        main(["replay", "--api", "gemini", str(DATA / "chat_stop.sse")])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


# ------------------------------------------------------------------------------ bad input
def _bad_inputs(tmp: Path) -> list[tuple[str, Path, str]]:
    garbage = tmp / "garbage.bin"
    garbage.write_bytes(random.Random(1).randbytes(8192))
    no_nul = tmp / "garbage_no_nul.bin"
    no_nul.write_bytes(bytes(range(1, 256)) * 40)
    text = tmp / "notes.txt"
    text.write_text("Meeting notes\n\nnothing: here\nreally\n")
    empty = tmp / "empty.sse"
    empty.write_bytes(b"")
    blank = tmp / "blank.sse"
    blank.write_bytes(b"\n\n  \r\n")
    comments = tmp / "comments.sse"
    comments.write_bytes(b": keep-alive\n\n: keep-alive\n\n")
    return [
        ("missing", tmp / "nope.sse", "no such file"),
        ("directory", tmp, "is a directory"),
        ("empty", empty, "empty file"),
        ("blank", blank, "empty file"),
        ("binary", garbage, "binary data"),
        ("binary-without-nul", no_nul, "no server-sent events"),
        ("text", text, "no server-sent events"),
        ("comments-only", comments, "no server-sent events"),
    ]


@pytest.mark.parametrize(
    "which",
    ["missing", "directory", "empty", "blank", "binary", "binary-without-nul", "text", "comments-only"],
)
def test_bad_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, which: str
) -> None:
    """Each kind of bad input gets exit status 2, one line on stderr naming the file and the
    problem, nothing on stdout, and no traceback."""
    _, path, needle = next(x for x in _bad_inputs(tmp_path) if x[0] == which)
    code, out, err = run_cli(capsys, str(path))
    assert code == 2
    assert out == ""
    assert_one_line_error(err, str(path), needle)


def test_one_bad_file_among_good_ones_fails_the_whole_replay(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A replay with a bad file anywhere prints no partial table."""
    code, out, err = run_cli(capsys, str(DATA / "chat_stop.sse"), str(tmp_path / "missing.sse"))
    assert (code, out) == (2, "")
    assert_one_line_error(err, "missing.sse")


@settings(max_examples=60, deadline=None)
@given(body=st.binary(min_size=1, max_size=3000))
def test_random_bytes_never_traceback(body: bytes) -> None:
    """Any file content either replays (exit 0) or is refused with one line (exit 2): never an
    exception out of main()."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random.sse"
        path.write_bytes(body)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["replay", str(path)])
    assert code in (0, 2)
    if code == 2:
        assert_one_line_error(err.getvalue())
    else:
        assert err.getvalue() == ""


# ------------------------------------------------------------------------------- subprocess
def test_installed_console_script(tmp_path: Path) -> None:
    """The installed ``runwatch`` entry point replays a file (exit 0, runs in the table) and refuses
    a missing one (exit 2, one stderr line, no traceback) in a real process."""
    assert RUNWATCH.exists(), RUNWATCH
    ok = subprocess.run(
        [str(RUNWATCH), "replay", str(DATA / "chat_stop.sse"), str(DATA / "responses_completed.sse")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "chatcmpl-c001" in ok.stdout
    assert "resp_r001" in ok.stdout
    bad = subprocess.run(
        [str(RUNWATCH), "replay", str(tmp_path / "missing.sse")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert_one_line_error(bad.stderr, "no such file")
