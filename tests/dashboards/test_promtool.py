"""promtool accepts the rules, and the hand-written unit tests in rules.test.yml pass.

Marked ``prometheus``: promtool must be installed. A missing promtool is a failure, not a skip.
"""

from __future__ import annotations

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
    """Rules generated with a selector and other objectives are valid PromQL too."""
    (tmp_path / "rules.yml").write_text(
        _dashgen.build_rules(0.01, 'job="api",namespace=~"prod-.*"', 0.02, min_runs=10), encoding="utf-8"
    )
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
    assert len(alerts) == 11
    assert alerts - fires == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested quiet"
    assert (fires | quiet) - alerts == set(), "tests for alerts that do not exist"


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
