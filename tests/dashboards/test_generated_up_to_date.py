"""The checked-in dashboard and rules are exactly what the generator produces."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dash_support import DASHBOARDS, REPO

from runwatch import _dashgen

HINT = "regenerate with: .venv/bin/python dashboards/build.py"
TEMPLATE = Path(_dashgen.__file__).with_name(_dashgen.TEMPLATE)

# Runs Python with grafana-foundation-sdk made unimportable: a user without the extra.
NO_SDK = "import sys; sys.modules['grafana_foundation_sdk'] = None; "


def test_template_is_the_panel_table_rendered_by_the_sdk() -> None:
    """The template shipped in the package is what grafana-foundation-sdk renders from the panel
    table (the dev extra installs the pinned SDK: this runs everywhere the tests run)."""
    from runwatch._dashgen.grafana import dashboard_text

    assert TEMPLATE.read_text(encoding="utf-8") == dashboard_text(), HINT


def test_dashboard_json_is_up_to_date() -> None:
    """dashboards/runwatch.json equals build_dashboard() with the defaults (the template)."""
    text = (DASHBOARDS / "runwatch.json").read_text(encoding="utf-8")
    assert text == _dashgen.dashboard_json() == TEMPLATE.read_text(encoding="utf-8"), HINT


def test_rules_yml_is_up_to_date() -> None:
    """dashboards/rules.yml equals build_rules() with the defaults (what rules.test.yml tests)."""
    assert (DASHBOARDS / "rules.yml").read_text(encoding="utf-8") == _dashgen.build_rules(), HINT


def test_alertmanager_yml_is_up_to_date() -> None:
    """dashboards/alertmanager.yml equals build_alertmanager() with the defaults."""
    text = (DASHBOARDS / "alertmanager.yml").read_text(encoding="utf-8")
    assert text == _dashgen.build_alertmanager(), HINT


def test_write_produces_the_checked_in_files(tmp_path: Path) -> None:
    """write() (what `runwatch dashboards` calls) writes the same three files, nothing else."""
    paths = _dashgen.write(tmp_path / "out", objective=0.05, selector="")
    names = ["alertmanager.yml", "rules.yml", "runwatch.json"]
    assert sorted(p.name for p in paths) == names
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names
    for path in paths:
        assert path.read_bytes() == (DASHBOARDS / path.name).read_bytes(), path.name


def test_command_works_without_the_sdk(tmp_path: Path) -> None:
    """`runwatch dashboards` with a selector and an objective never imports the SDK: without the
    dashboards extra it writes the same files as with it."""
    code = NO_SDK + "from runwatch.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["dashboards", "--selector", 'job="api"', "--objective", "0.02"]
    done = subprocess.run(
        [sys.executable, "-c", code, *args, "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "runwatch.json").read_text(encoding="utf-8") == _dashgen.dashboard_json('job="api"')
    assert (tmp_path / "rules.yml").read_text(encoding="utf-8") == _dashgen.build_rules(0.02, 'job="api"')


def test_build_script_without_the_sdk_names_the_extra(tmp_path: Path) -> None:
    """dashboards/build.py without the extra: exit 2 and one line naming it, no traceback, and
    nothing written."""
    before = TEMPLATE.read_bytes()
    code = NO_SDK + "import runpy; runpy.run_path(sys.argv[1], run_name='__main__')"
    done = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "dashboards" / "build.py")],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1, done.stderr
    assert "'dashboards' extra" in done.stderr
    assert "Traceback" not in done.stderr
    assert TEMPLATE.read_bytes() == before
