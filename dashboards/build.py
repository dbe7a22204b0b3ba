"""Regenerate the dashboard template and the checked-in files: ``.venv/bin/python dashboards/build.py``.

Renders the panel table (``runwatch._dashgen.panels``) with grafana-foundation-sdk into the
template shipped in the package (``src/runwatch/_dashgen/runwatch.json``), then writes the
default output of :func:`runwatch._dashgen.write` (what ``runwatch dashboards`` writes) next to
itself. Needs the ``dashboards`` extra (part of ``dev``). ``rules.test.yml`` is hand-written and
not touched: it is the independent check of the generated rules.
"""

from __future__ import annotations

import sys
from pathlib import Path

from runwatch import _dashgen


def main() -> int:
    try:
        from runwatch._dashgen.grafana import dashboard_text
    except ImportError as exc:
        print(f"dashboards/build.py needs the 'dashboards' extra ({exc.name} is missing): "
              "pip install -e '.[dashboards]'", file=sys.stderr)  # fmt: skip
        return 2
    template = Path(_dashgen.__file__).with_name(_dashgen.TEMPLATE)
    template.write_text(dashboard_text(), encoding="utf-8")
    print(template)
    for path in _dashgen.write(Path(__file__).resolve().parent):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
