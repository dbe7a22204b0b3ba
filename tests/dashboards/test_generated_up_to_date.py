"""The checked-in dashboard and rules are exactly what the generator produces."""

from __future__ import annotations

from pathlib import Path

from dash_support import DASHBOARDS

from runwatch import _dashgen

HINT = "regenerate with: .venv/bin/python dashboards/build.py"


def test_dashboard_json_is_up_to_date() -> None:
    """dashboards/runwatch.json equals build_dashboard() with the defaults."""
    assert (DASHBOARDS / "runwatch.json").read_text(encoding="utf-8") == _dashgen.dashboard_json(), HINT


def test_rules_yml_is_up_to_date() -> None:
    """dashboards/rules.yml equals build_rules() with the defaults (what rules.test.yml tests)."""
    assert (DASHBOARDS / "rules.yml").read_text(encoding="utf-8") == _dashgen.build_rules(), HINT


def test_write_produces_the_checked_in_files(tmp_path: Path) -> None:
    """write() (what `runwatch dashboards` calls) writes the same two files, nothing else."""
    paths = _dashgen.write(tmp_path / "out", objective=0.05, selector="")
    assert sorted(p.name for p in paths) == ["rules.yml", "runwatch.json"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["rules.yml", "runwatch.json"]
    for path in paths:
        assert path.read_bytes() == (DASHBOARDS / path.name).read_bytes(), path.name
