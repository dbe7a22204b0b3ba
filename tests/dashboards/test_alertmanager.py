"""The Alertmanager fragment: ``amtool check-config`` accepts it, and a real Alertmanager running
it turns each incident into one notification.

The matrix posts alerts shaped like the rules' (the labels Prometheus would send) straight to a
real Alertmanager, all at once, and records what its webhook receives. The fragment is the
generated one, with its placeholder receivers pointed at the webhook and one change: group_wait
1s instead of 30s (a delay the user tunes; the routing tree, the grouping and the inhibit rules
are as shipped). The full chain with the shipped timing runs in test_prometheus_e2e.py.

Marked ``prometheus``: amtool and alertmanager must be installed (a missing binary fails).
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dash_support import DASHBOARDS, Webhook, alertmanager, binary, poll, webhook, with_webhook

from runwatch import _dashgen

pytestmark = pytest.mark.prometheus

SCOPE = 'job="x"'
QUIET_S = 5.0  # after the expected notifications, how long nothing else may arrive


def _amtool(path: Path) -> subprocess.CompletedProcess[str]:
    argv = [binary("amtool"), "check-config", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="shipped-defaults"),
        pytest.param({"selector": 'job="api",namespace=~"prod-.*"', "scope": "prod"}, id="scoped"),
        pytest.param({"bad_statuses": ["failed"]}, id="no-spike-inhibition"),
    ],
)
def test_amtool_accepts_the_fragment(tmp_path: Path, options: dict[str, object]) -> None:
    """`amtool check-config` accepts the fragment as generated (the checked-in copy for the
    defaults, which must equal the generator's output), with its receivers, route and inhibit
    rules counted."""
    text = _dashgen.build_alertmanager(**options)  # type: ignore[arg-type]
    if not options:
        assert (DASHBOARDS / "alertmanager.yml").read_text(encoding="utf-8") == text
    (tmp_path / "alertmanager.yml").write_text(text, encoding="utf-8")
    done = _amtool(tmp_path / "alertmanager.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    assert "2 receivers" in done.stdout
    inhibit = len(yaml.safe_load(text)["inhibit_rules"])
    assert f"{inhibit} inhibit rules" in done.stdout


def test_amtool_rejects_a_broken_fragment(tmp_path: Path) -> None:
    """The check can fail: an inhibit rule with a malformed matcher is refused."""
    config = yaml.safe_load(_dashgen.build_alertmanager())
    config["inhibit_rules"][0]["source_matchers"].append('severity=~"(page"')
    (tmp_path / "alertmanager.yml").write_text(json.dumps(config), encoding="utf-8")
    assert _amtool(tmp_path / "alertmanager.yml").returncode != 0


def _alert(name: str, case: str, **labels: str) -> dict[str, object]:
    """An alert as Prometheus sends it for rule ``name``: the rule's labels plus the series' (scope
    job="x" unless ``labels`` says otherwise); ``case`` tells the matrix's cases apart."""
    return {
        "labels": {"alertname": name, "job": "x", "case": case, **labels},
        "annotations": {"runbook_url": f"{_dashgen.DEFAULT_RUNBOOK_URL}#{name.lower()}"},
    }


PAGE = {"severity": "page", "long": "1h", "short": "5m"}
TICKET = {"severity": "ticket", "long": "1d", "short": "2h"}
RATIO_PAGE, RATIO_TICKET = "RunwatchIncompleteRatioBurnPage", "RunwatchIncompleteRatioBurnTicket"
REASON_PAGE, REASON_TICKET = "RunwatchIncompleteReasonBurnPage", "RunwatchIncompleteReasonBurnTicket"

# case -> (alerts posted, (alertname, api) of every alert that must reach the webhook). Cases
# differ by their "case" label, which Alertmanager does not group or inhibit on, and by their
# api values, so no case can inhibit another's alerts.
MATRIX: dict[str, tuple[list[dict[str, object]], set[tuple[str, str]]]] = {
    "page-inhibits-the-tickets-of-its-slo": (
        [_alert(RATIO_PAGE, "a", api="a", slo="incomplete", **PAGE),
         _alert(RATIO_TICKET, "a", api="a", slo="incomplete", **TICKET),
         _alert(REASON_TICKET, "a", api="a", slo="incomplete", reason="length", **TICKET)],
        {(RATIO_PAGE, "a")},
    ),
    "page-spares-another-apis-ticket": (
        [_alert(RATIO_PAGE, "b", api="b1", slo="incomplete", **PAGE),
         _alert(RATIO_TICKET, "b", api="b2", slo="incomplete", **TICKET)],
        {(RATIO_PAGE, "b1"), (RATIO_TICKET, "b2")},
    ),
    "page-spares-another-slos-ticket": (
        [_alert(RATIO_PAGE, "c", api="c", slo="incomplete", **PAGE),
         _alert("RunwatchFailureRatioBurnTicket", "c", api="c", slo="failure", **TICKET)],
        {(RATIO_PAGE, "c"), ("RunwatchFailureRatioBurnTicket", "c")},
    ),
    "page-spares-another-scopes-ticket": (
        [_alert(RATIO_PAGE, "d", api="d", slo="incomplete", job="y", **PAGE),
         _alert(RATIO_TICKET, "d", api="d", slo="incomplete", **TICKET)],
        {(RATIO_PAGE, "d"), (RATIO_TICKET, "d")},
    ),
    "reason-inhibits-the-ratio-of-its-severity": (
        [_alert(REASON_PAGE, "e", api="e", slo="incomplete", reason="length", **PAGE),
         _alert(RATIO_PAGE, "e", api="e", slo="incomplete", **PAGE)],
        {(REASON_PAGE, "e")},
    ),
    "reason-ticket-spares-the-ratio-page-which-inhibits-it": (
        [_alert(REASON_TICKET, "f", api="f", slo="incomplete", reason="length", **TICKET),
         _alert(RATIO_PAGE, "f", api="f", slo="incomplete", **PAGE)],
        {(RATIO_PAGE, "f")},
    ),
    "failure-page-inhibits-the-spike-tickets": (
        [_alert("RunwatchFailureRatioBurnPage", "g", api="g", slo="failure", **PAGE),
         _alert("RunwatchAbortedStreamsSpike", "g", api="g", severity="ticket"),
         _alert("RunwatchAbandonedRunsSpike", "g", api="g", severity="ticket")],
        {("RunwatchFailureRatioBurnPage", "g")},
    ),
    "stuck-page-inhibits-the-ttft-ticket-not-internal-errors": (
        [_alert("RunwatchRunsStuckInProgress", "h", api="h", severity="page"),
         _alert("RunwatchTimeToFirstTokenRegression", "h", api="h", severity="ticket"),
         _alert("RunwatchInternalErrors", "h", stage="sink", severity="ticket")],
        {("RunwatchRunsStuckInProgress", "h"), ("RunwatchInternalErrors", "")},
    ),
}  # fmt: skip


def _post(am: str, alerts: list[dict[str, object]]) -> None:
    request = urllib.request.Request(
        f"http://{am}/api/v2/alerts", data=json.dumps(alerts).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    """One Alertmanager with the generated fragment (scope job="x"), every case's alerts posted
    in one request, the webhook's notifications once they stopped coming."""
    tmp = tmp_path_factory.mktemp("alertmanager")
    fragment = _dashgen.build_alertmanager(SCOPE)
    with webhook() as hook, alertmanager(with_webhook(fragment, hook, group_wait="1s"), tmp) as am:
        _post(am, [alert for posted, _ in MATRIX.values() for alert in posted])
        wanted = sum(len(expected) for _, expected in MATRIX.values())

        def delivered() -> int:
            return sum(len(payload["alerts"]) for _, payload in hook.notifications())

        poll("the expected notifications", lambda: delivered() >= wanted, 120)
        # A fixed quiet period, not a synchronisation: anything not inhibited would have been
        # sent after the same 1s group_wait.
        time.sleep(QUIET_S)
        yield hook


@pytest.mark.parametrize("case", list(MATRIX))
def test_one_notification_per_incident(matrix: Webhook, case: str) -> None:
    """For each case, exactly the alerts MATRIX says reach the webhook (the others are inhibited),
    pages at the page receiver and tickets at the ticket receiver, one notification per group
    (alert name, scope, api)."""
    posted, expected = MATRIX[case]
    tag = posted[0]["labels"]["case"]  # type: ignore[index]
    got: list[tuple[str, str]] = []
    for path, payload in matrix.notifications():
        mine = [a for a in payload["alerts"] if a["labels"]["case"] == tag]
        if mine:
            assert len(mine) == len(payload["alerts"]), payload  # a group never mixes cases
        for alert in mine:
            labels = alert["labels"]
            got.append((labels["alertname"], labels.get("api", "")))
            receiver = "runwatch-page" if labels["severity"] == "page" else "runwatch-ticket"
            # An alert of another scope is not runwatch's route's: it takes the root receiver.
            if labels["job"] == "x":
                assert path == f"/{receiver}", (path, labels)
    assert sorted(got) == sorted(expected)


def test_window_pairs_and_reasons_of_one_alert_are_one_notification(tmp_path: Path) -> None:
    """The two page pairs of one alert (1h/5m and 6h/30m: distinct alerts by their long/short
    labels) and its reasons are grouped into a single notification for the api."""
    with (
        webhook() as hook,
        alertmanager(with_webhook(_dashgen.build_alertmanager(SCOPE), hook, group_wait="1s"), tmp_path) as am,
    ):
        _post(am, [
            _alert(REASON_PAGE, "p", api="p", slo="incomplete", reason=reason,
                   **{**PAGE, "long": long_w, "short": short_w})
            for reason in ("length", "content_filter")
            for long_w, short_w in (("1h", "5m"), ("6h", "30m"))
        ])  # fmt: skip
        poll("a notification", hook.notifications, 120)
        time.sleep(QUIET_S)
        ((path, payload),) = hook.notifications()
        assert path == "/runwatch-page"
        assert len(payload["alerts"]) == 4
        assert payload["groupLabels"] == {"alertname": REASON_PAGE, "job": "x", "api": "p"}
