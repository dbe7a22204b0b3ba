"""``runwatch dashboards``: the options reach the generated files; bad values exit 2 with one line.

The in-process tests call ``runwatch.cli.main``; one test runs the installed console script in a
real process, and one hands the output to ``promtool check rules`` (marker ``prometheus``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dash_support import DASHBOARDS, binary

from runwatch import _dashgen
from runwatch.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["dashboards", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _alerts(rules_yml: Path) -> list[dict[str, object]]:
    doc = yaml.safe_load(rules_yml.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def test_defaults_write_the_checked_in_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """With only --out, the command writes exactly dashboards/runwatch.json, rules.yml and
    alertmanager.yml and prints their paths: the options' defaults are the shipped files."""
    code, out, err = _run(capsys, "--out", str(tmp_path / "out"))
    assert (code, err) == (0, "")
    names = ["runwatch.json", "rules.yml", "alertmanager.yml"]
    assert out.split() == [str(tmp_path / "out" / name) for name in names]
    for name in names:
        assert (tmp_path / "out" / name).read_bytes() == (DASHBOARDS / name).read_bytes(), name


def test_every_option_is_applied(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--objective, --failure-objective, --min-runs, --runbook-url, --selector, --namespace,
    --scope and the bad-run options all show up where they belong: thresholds of the incomplete vs
    failure alerts, the low-traffic guard, every runbook link, every raw metric selector and name,
    the scope label, the bad-run selector (and the dashboard and Alertmanager fragment built from
    the same options)."""
    code, _, err = _run(
        capsys,
        "--out", str(tmp_path),
        "--objective", "0.02",
        "--failure-objective", "0.003",
        "--min-runs", "17",
        "--runbook-url", "https://wiki.example.com/ops/runwatch",
        "--selector", 'job="api"',
        "--namespace", "llm",
        "--scope", "prod",
        "--bad-statuses", "failed, expired",
        "--benign-reasons", "",
        "--no-request-errors",
    )  # fmt: skip
    assert (code, err) == (0, "")
    rules_text = (tmp_path / "rules.yml").read_text(encoding="utf-8")
    options = {
        "namespace": "llm", "scope": "prod", "bad_statuses": ["failed", "expired"], "benign_reasons": [],
    }  # fmt: skip
    assert rules_text == _dashgen.build_rules(
        0.02, 'job="api"', 0.003, min_runs=17, runbook_url="https://wiki.example.com/ops/runwatch",
        request_errors=False, **options,  # type: ignore[arg-type]
    )  # fmt: skip
    assert 'llm_runs_total{job="api",status=~"failed|expired"}' in rules_text
    assert "runwatch_runs_total" not in rules_text
    bad_rule = rules_text.split("record: 'api:runwatch_runs_bad:rate5m'", 1)[1].split("- record")[0]
    assert "request_errors_total" not in bad_rule
    alerts: dict[str, dict[str, object]] = {}
    for a in _alerts(tmp_path / "rules.yml"):  # the burn alerts are one rule per window pair
        rule = alerts.setdefault(str(a["alert"]), {**a, "expr": ""})
        rule["expr"] = f"{rule['expr']}\n{a['expr']}"
    assert len(alerts) == 12
    assert all(a["labels"]["scope"] == "prod" for a in _alerts(tmp_path / "rules.yml"))  # type: ignore[index]
    incomplete = str(alerts["RunwatchIncompleteRatioBurnPage"]["expr"])
    failed = str(alerts["RunwatchFailureRatioBurnPage"]["expr"])
    assert "(14.4 * 0.02)" in incomplete
    assert "0.003" not in incomplete
    assert "(14.4 * 0.003)" in failed
    assert "0.02)" not in failed
    for name, alert in alerts.items():
        annotations = alert["annotations"]
        assert isinstance(annotations, dict)
        assert annotations["runbook_url"] == f"https://wiki.example.com/ops/runwatch#{name.lower()}"
        if name.endswith(("BurnPage", "BurnTicket", "Spike", "Regression")):
            assert ">= 17" in str(alert["expr"]), name
            assert ">= 50" not in str(alert["expr"]), name
    dashboard = json.loads((tmp_path / "runwatch.json").read_text(encoding="utf-8"))
    assert dashboard == _dashgen.build_dashboard(
        'job="api"',
        runbook_url="https://wiki.example.com/ops/runwatch",
        **options,  # type: ignore[arg-type]
    )
    fragment = (tmp_path / "alertmanager.yml").read_text(encoding="utf-8")
    bad = ("failed", "expired")
    assert fragment == _dashgen.build_alertmanager('job="api"', scope="prod", bad_statuses=bad)
    assert "RunwatchAbortedStreamsSpike" not in fragment  # aborted is not bad here: no spike inhibition


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--objective", "abc"], "--objective must be a number, got 'abc'"),
        (["--objective", "0"], "objective must be a number strictly between 0 and 1"),
        (["--objective", "0.2"], "objective 0.2 is too large"),
        (["--objective", "nan"], "objective must be a number strictly between 0 and 1"),
        (["--failure-objective", "x"], "--failure-objective must be a number, got 'x'"),
        (["--failure-objective", "1.5"], "failure_objective must be a number strictly between 0 and 1"),
        (["--failure-objective", "0.5"], "failure_objective 0.5 is too large"),
        (["--min-runs", "0"], "min_runs must be a positive integer, got 0"),
        (["--min-runs", "-3"], "min_runs must be a positive integer, got -3"),
        (["--min-runs", "2.5"], "--min-runs must be an integer, got '2.5'"),
        (["--min-runs", "many"], "--min-runs must be an integer, got 'many'"),
        (["--runbook-url", ""], "runbook_url must be a non-empty string"),
        (["--runbook-url", "https://wiki/run book"], "must not contain whitespace"),
        (["--runbook-url", "https://wiki/runbook#top"], "must not contain '#'"),
        (["--runbook-url", "https://wiki/{{ $labels.api }}"], "must not contain whitespace"),
        (["--runbook-url", "https://wiki/{{x}}"], "must not contain '{{' or '}}'"),
        (["--selector", '{job="api"}'], "without braces"),
        (["--runbook-url", "docs/runbook.md"], "must be an absolute http:// or https:// URL"),
        (["--namespace", "my-app"], "namespace must be a metric name prefix"),
        (["--scope", 'a"b'], "scope must be printable text without quotes"),
        (["--selector", 'scope="a"', "--scope", "b"], "already sets the label 'scope'"),
        (["--bad-statuses", "failed,completed"], "bad_statuses: 'completed' is not one of"),
        (["--bad-statuses", ""], "bad_statuses must name at least one status"),
        (["--benign-reasons", "client_closed,nope"], "benign_reasons: 'nope' is not one of"),
    ],
)
def test_bad_values_exit_2_with_one_line_and_write_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    """Each bad value: exit status 2, exactly one stderr line naming the problem, nothing on
    stdout, no traceback, and no output folder created (nothing half-written)."""
    out_dir = tmp_path / "out"
    code, out, err = _run(capsys, "--out", str(out_dir), *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("runwatch dashboards: "), err
    assert message in err
    assert "Traceback" not in err
    assert not out_dir.exists()


def test_unwritable_out_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--out pointing below a regular file is an OSError turned into exit 2 and one line."""
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    code, out, err = _run(capsys, "--out", str(blocker / "sub"))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1, err
    assert err.startswith("runwatch dashboards: "), err


def test_console_script_in_a_real_process(tmp_path: Path) -> None:
    """The installed `runwatch` entry point (a real process, real argv) writes the files with the
    options applied, and refuses a bad value with exit 2, one line, no traceback."""
    script = Path(sys.executable).with_name("runwatch")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "runwatch.cli"]
    ok = subprocess.run(
        [*command, "dashboards", "--out", str(tmp_path), "--min-runs", "5", "--runbook-url", "https://rb.example"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    written = (tmp_path / "rules.yml").read_text(encoding="utf-8")
    assert "'https://rb.example#runwatchinternalerrors'" in written
    bad = subprocess.run(
        [*command, "dashboards", "--out", str(tmp_path / "x"), "--failure-objective", "-1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1, bad.stderr
    assert "Traceback" not in bad.stderr
    assert "failure_objective" in bad.stderr


@pytest.mark.prometheus
def test_output_passes_promtool_check_rules(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Rules written with every option set are accepted by `promtool check rules` (valid YAML,
    valid PromQL, valid templates), with the expected number of rules."""
    code, _, err = _run(
        capsys,
        "--out", str(tmp_path),
        "--objective", "0.01",
        "--failure-objective", "0.1",
        "--min-runs", "1",
        "--runbook-url", "https://runbooks.example.com/runwatch.html",
        "--selector", 'job="api",namespace=~"prod-.*"',
    )  # fmt: skip
    assert (code, err) == (0, "")
    done = subprocess.run(
        [binary("promtool"), "check", "rules", "rules.yml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    checked = yaml.safe_load((tmp_path / "rules.yml").read_text(encoding="utf-8"))
    total = sum(len(group["rules"]) for group in checked["groups"])
    assert f"{total} rules found" in done.stdout
