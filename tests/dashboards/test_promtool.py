"""promtool accepts the rules, and the hand-written unit tests in rules.test.yml pass.

Marked ``prometheus``: promtool must be installed. A missing promtool is a failure, not a skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from dash_support import DASHBOARDS, binary

from runwatch import _dashgen

pytestmark = pytest.mark.prometheus


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_check_rules() -> None:
    """`promtool check rules` accepts the checked-in rules."""
    done = _promtool("check", "rules", "rules.yml", cwd=DASHBOARDS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_check_rules_with_a_selector_and_objective(tmp_path: Path) -> None:
    """Rules generated with a selector, a scope name, a namespace, other objectives and another
    bad-run definition are valid PromQL too."""
    text = _dashgen.build_rules(
        0.01, 'job="api",namespace=~"prod-.*"', 0.02, min_runs=10, scope="prod", namespace="llm",
        bad_statuses=["failed"], benign_reasons=[], request_errors=False,
    )  # fmt: skip
    (tmp_path / "rules.yml").write_text(text, encoding="utf-8")
    done = _promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_unit_tests_pass() -> None:
    """`promtool test rules` passes every case of dashboards/rules.test.yml."""
    done = _promtool("test", "rules", "rules.test.yml", cwd=DASHBOARDS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_is_tested_firing_and_quiet() -> None:
    """Each alert of rules.yml has a case where it fires and a case where it must stay quiet."""
    rules = yaml.safe_load((DASHBOARDS / "rules.yml").read_text(encoding="utf-8"))
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((DASHBOARDS / "rules.test.yml").read_text(encoding="utf-8"))
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert len(alerts) == 12
    assert alerts - fires == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested quiet"
    assert (fires | quiet) - alerts == set(), "tests for alerts that do not exist"


def test_every_window_pair_is_tested_firing() -> None:
    """Each burn alert's window pairs fire in some case, with their long/short labels: every rule
    of a burn family (and its pending period) is exercised, not just one of its four."""
    tests = yaml.safe_load((DASHBOARDS / "rules.test.yml").read_text(encoding="utf-8"))
    fired: set[tuple[str, str, str]] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            for alert in check.get("exp_alerts") or []:
                labels = alert["exp_labels"]
                if "long" in labels:
                    fired.add((check["alertname"].removesuffix("Page").removesuffix("Ticket"),
                               labels["long"], labels["short"]))  # fmt: skip
    for family in ("RunwatchIncompleteRatioBurn", "RunwatchIncompleteReasonBurn"):
        assert {(lw, sw) for f, lw, sw in fired if f == family} == {
            ("1h", "5m"),
            ("6h", "30m"),
            ("1d", "2h"),
            ("3d", "6h"),
        }, family
    # The failure SLO's four rules are the same template; its page pairs and 1d/2h fire here.
    assert {(lw, sw) for f, lw, sw in fired if f == "RunwatchFailureRatioBurn"} >= {
        ("1h", "5m"),
        ("6h", "30m"),
        ("1d", "2h"),
    }


def test_every_recorded_series_is_checked() -> None:
    """Every series rules.yml records is named in a promql_expr_test of rules.test.yml (its value
    checked, hand-computed), windowed families at every window."""
    rules = yaml.safe_load((DASHBOARDS / "rules.yml").read_text(encoding="utf-8"))
    records = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    tests = yaml.safe_load((DASHBOARDS / "rules.test.yml").read_text(encoding="utf-8"))
    checked = " ".join(
        f"{check['expr']} {' '.join(s['labels'] for s in check.get('exp_samples') or [])}"
        for case in tests["tests"]
        for check in case.get("promql_expr_test", [])
    )
    assert len(records) == 85
    missing = {r for r in records if not re.search(rf"(?<![:\w]){re.escape(r)}(?![:\w])", checked)}
    assert missing == set()


def test_unit_tests_catch_a_missing_low_traffic_guard(tmp_path: Path) -> None:
    """The unit tests can fail: with the guard effectively off (min_runs=1) the low-traffic case
    does. Only that case runs (the whole file takes many seconds)."""
    (tmp_path / "rules.yml").write_text(_dashgen.build_rules(min_runs=1), encoding="utf-8")
    tests = yaml.safe_load((DASHBOARDS / "rules.test.yml").read_text(encoding="utf-8"))
    tests["tests"] = [t for t in tests["tests"] if t["name"] == "low traffic guard"]
    assert len(tests["tests"]) == 1
    (tmp_path / "rules.test.yml").write_text(yaml.safe_dump(tests), encoding="utf-8")
    done = _promtool("test", "rules", "rules.test.yml", cwd=tmp_path)
    assert done.returncode != 0
    assert "low traffic guard" in done.stdout + done.stderr
    # ... and the same case passes with the real rules, so the failure above is the guard's.
    shutil.copy(DASHBOARDS / "rules.yml", tmp_path / "rules.yml")
    done = _promtool("test", "rules", "rules.test.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
