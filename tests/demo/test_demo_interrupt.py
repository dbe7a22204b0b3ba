"""Ctrl-C on a real terminal ends ``runwatch demo`` cleanly: the installed command runs on a pseudo
terminal, the test types the interrupt character (the terminal driver turns it into SIGINT for the
foreground process, as for a person at a keyboard), and the demo prints its summary and exits 130
with no traceback. ``--runs 1000000000`` also proves the demo starts at once whatever ``--runs``.

The pty is driven from a small single-threaded helper process: forking the (multi-threaded) test
process itself is what Python warns against."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RUNWATCH = Path(sys.executable).with_name("runwatch")

DRIVER = r"""
import json, os, pty, select, sys, time

argv, ready, presses = sys.argv[1:-2], sys.argv[-2].encode(), int(sys.argv[-1])
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out = b""

def read(until, seconds):
    global out
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                return False
            if not chunk:
                return False
            out += chunk
            if until is not None and until in out:
                return True
    return False

started = read(ready, 60)
for _ in range(presses):
    os.write(fd, b"\x03")  # Ctrl-C, as typed
    read(b"stopping", 10)
read(None, 60)
_, status = os.waitpid(pid, 0)
print(json.dumps({"started": started, "rc": os.waitstatus_to_exitcode(status),
                  "out": out.decode("utf-8", "replace")}))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo terminals are POSIX")
@pytest.mark.parametrize(
    ("presses", "expect"),
    [
        pytest.param(1, "interrupted after", id="once-summary-then-130"),
        pytest.param(2, "interrupted", id="twice-quits-at-once-130"),
    ],
)
def test_ctrl_c_on_a_terminal_ends_the_demo_cleanly(tmp_path: Path, presses: int, expect: str) -> None:
    """Typing Ctrl-C (once: stop and summarize; twice: quit now) ends the demo with exit status
    130 and no traceback; once, the summary of the runs so far is printed first."""
    helper = tmp_path / "pty_driver.py"
    helper.write_text(DRIVER)
    # The progress bar of a TTY run shows "<done>/<total>" once the first run has finished.
    argv = [str(RUNWATCH), "demo", "--runs", "1000000000", "--speed", "2", "--concurrency", "2"]
    proc = subprocess.run(
        [sys.executable, str(helper), *argv, "/1000000000", str(presses)],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    result = json.loads(proc.stdout)
    out = result["out"]
    assert result["started"], out[-2000:]
    assert result["rc"] == 130, out[-2000:]
    assert "Traceback" not in out
    assert expect in out
    if presses == 1:
        assert "p50 dur" in out  # the summary of what ran
        assert "Next steps" in out
