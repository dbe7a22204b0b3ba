"""The command line as a newcomer meets it: bad input to ``demo`` and ``replay`` is one line naming
the flag (exit 2, no usage block, no traceback), help text is plain (no reStructuredText markup),
``replay -`` reads standard input, ``replay --json`` carries what the table shows, and a reader
that leaves early (``| head``) ends the output quietly."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from runwatch.cli import build_parser, main

DATA = Path(__file__).resolve().parent / "data"
RUNWATCH = Path(sys.executable).with_name("runwatch")


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        pytest.param([], ["runwatch:", "command"], id="no-command"),
        pytest.param(["nope"], ["invalid choice: 'nope'"], id="unknown-command"),
        pytest.param(["demo", "--runs", "x"], ["--runs", "invalid int value: 'x'"], id="demo-runs-not-int"),
        pytest.param(["demo", "--runs", "-1"], ["--runs must be >= 0"], id="demo-runs-negative"),
        pytest.param(["demo", "--concurrency", "0"], ["--concurrency must be >= 1"], id="demo-concurrency"),
        pytest.param(["demo", "--speed", "nan"], ["--speed must be a positive number"], id="demo-speed-nan"),
        pytest.param(["demo", "--speed", "fast"], ["--speed", "invalid float value"], id="demo-speed-text"),
        pytest.param(["demo", "--mix", "bogus=1"], ["--mix: unknown scenario 'bogus'"], id="demo-mix"),
        pytest.param(["demo", "--mix", "completed"], ["--mix", "NAME=WEIGHT"], id="demo-mix-no-weight"),
        pytest.param(["demo", "--port", "70000"], ["--port must be between 0 and 65535"], id="demo-port"),
        pytest.param(["demo", "--bogus"], ["unrecognized arguments: --bogus"], id="demo-unknown-flag"),
        pytest.param(["replay"], ["runwatch replay:", "FILE"], id="replay-no-file"),
        pytest.param(["replay", "--api", "gemini", "x.sse"], ["--api", "invalid choice"], id="replay-api"),
        pytest.param(["replay", "-", "-"], ["'-' (standard input) can be given only once"], id="stdin-twice"),
        pytest.param(
            ["replay", "--api", "chat", str(DATA / "responses_completed.sse")],
            ["--api chat", "holds responses events"],
            id="replay-api-of-another-file",
        ),
    ],
)
def test_bad_input_is_one_line_naming_the_flag(
    capsys: pytest.CaptureFixture[str], argv: list[str], needles: list[str]
) -> None:
    """Every bad input exits 2 with exactly one line on stderr that names the flag or argument
    (never a Python parameter name), nothing on stdout and no traceback."""
    code, out, err = _run(capsys, argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.endswith("\n")
    assert "Traceback" not in err
    assert "usage:" not in err
    for needle in needles:
        assert needle in err
    for python_name in ("metrics_port", "failure_objective", "min_runs", "run_id_hints"):
        assert python_name not in err


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [("runwatch", parser), *subs.choices.items()]


@pytest.mark.parametrize("name", [n for n, _ in _parsers()])
def test_help_is_plain_text(name: str) -> None:
    """``--help`` of the command and of each subcommand has no reStructuredText markup (``x``,
    :func:, :class:, :mod:) and describes what it does."""
    parser = dict(_parsers())[name]
    text = parser.format_help()
    for markup in ("``", ":func:", ":class:", ":mod:", ":data:"):
        assert markup not in text, (name, markup)
    if name in ("runwatch", "demo", "replay"):
        assert parser.description


def test_replay_reads_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``runwatch replay -`` replays the body on standard input, alone or between files."""
    body = (DATA / "chat_length.sse").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))
    code, out, err = _run(capsys, ["replay", "--json", str(DATA / "chat_stop.sse"), "-"])
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert [(o["run_id"], o["status"], o["reason"]) for o in doc["outcomes"]] == [
        ("chatcmpl-c001", "completed", "none"),
        ("chatcmpl-c003", "incomplete", "length"),
    ]


def test_replay_standard_input_empty_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing on standard input is refused like an empty file."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    code, out, err = _run(capsys, ["replay", "-"])
    assert (code, out) == (2, "")
    assert err == "runwatch replay: standard input: nothing, expected a recorded text/event-stream body\n"


@pytest.mark.parametrize(
    ("files", "has_phases"),
    [
        pytest.param(["assistants_completed.sse"], True, id="assistants-phases"),
        pytest.param(["responses_function_call.sse"], True, id="responses-output-items"),
        pytest.param(["chat_length.sse"], False, id="chat"),
        pytest.param(
            ["assistants_requires_action_part1.sse", "assistants_requires_action_part2.sse"], True, id="two"
        ),
    ],
)
def test_replay_json_carries_what_the_table_shows(
    capsys: pytest.CaptureFixture[str], files: list[str], has_phases: bool
) -> None:
    """Every column of the table (phases, duration, tokens in and out) is in ``--json``, with the
    same values, row for row."""
    paths = [str(DATA / f) for f in files]
    code, table, _ = _run(capsys, ["replay", *paths])
    assert code == 0
    code, out, _ = _run(capsys, ["replay", "--json", *paths])
    assert code == 0
    rows = [line.split() for line in table.splitlines()[1:] if line.strip()]
    rows = rows[: rows.index(["totals", "by", "status/reason:"])]
    outcomes = json.loads(out)["outcomes"]
    assert len(rows) == len(outcomes)
    for row, o in zip(rows, outcomes, strict=True):
        phases = ",".join(o["phases"]) or "-"
        duration = f"{o['duration_s']:.0f}" if o["duration_s"] else "-"
        tokens_in = "-" if o["tokens_in"] is None else str(o["tokens_in"])
        tokens_out = "-" if o["tokens_out"] is None else str(o["tokens_out"])
        assert row[5:] == [phases, duration, tokens_in, tokens_out]
        assert o["tokens"].get("input") == o["tokens_in"]
    assert any(o["phases"] for o in outcomes) == has_phases


@pytest.mark.parametrize(
    ("argv", "leaves"),
    [
        pytest.param(["replay", "{many}"], "after-one-line", id="replay-table"),
        pytest.param(["replay", "--json", "{many}"], "after-one-line", id="replay-json"),
        pytest.param(["demo", "--runs", "3", "--speed", "200"], "at-once", id="demo"),
    ],
)
def test_a_reader_that_leaves_early_ends_the_output_quietly(argv: list[str], leaves: str) -> None:
    """``runwatch ... | head -1``: the reader closes the pipe (after one line of a replay of 2,000
    recordings, far beyond a pipe buffer; before the demo prints anything); the command exits 0
    and prints nothing about it (no BrokenPipeError, no "Exception ignored")."""
    many = [str(DATA / "chat_stop.sse")] * 2000  # 2,000 streams: 2,000 rows
    cmd = [str(RUNWATCH)]
    for arg in argv:
        cmd.extend(many if arg == "{many}" else [arg])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stderr is not None
    if leaves == "after-one-line":
        assert proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does after its line
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0, err
    assert "BrokenPipe" not in err
    assert "Exception ignored" not in err
    assert "Traceback" not in err
