"""The Alertmanager configuration fragment: routing by severity and the inhibit rules that make
one incident one notification.

What fires together in one incident, and what is kept (docs/dashboards.md argues each choice):

- **page inhibits ticket** of the same SLO, api and scope: the ticket pairs (1d/2h, 3d/6h) of a
  burn that pages add nothing but a second message; alerts without an SLO (the stuck-runs page,
  the spike and time-to-first-token tickets) pair up the same way, on their api and scope.
- **per reason inhibits the ratio**: when ``RunwatchIncompleteReasonBurn*`` fires for an api, its
  ``RunwatchIncompleteRatioBurn*`` of the same severity is muted: the reason names the cause and
  links its row of the runbook; the ratio alert alone still fires when no single reason burns.
- **the failure page inhibits the spike tickets** of statuses it counts as bad (a provider
  outage that cuts streams pages once, as the failure SLO, not again as an aborted spike).

Grouping by alert name, scope and api folds the window pairs of one alert (``long``/``short``)
and its reasons into one notification per api.
"""

from __future__ import annotations

from .rules import BadRuns, spike_alert, spike_statuses
from .selector import Scope

__all__ = ["PAGE_RECEIVER", "TICKET_RECEIVER", "document"]

PAGE_RECEIVER = "runwatch-page"
TICKET_RECEIVER = "runwatch-ticket"


def document(scope: Scope, bad: BadRuns) -> dict[str, object]:
    """The fragment as a document: a valid Alertmanager configuration on its own (receivers
    without integrations), meant to be merged into the user's."""
    where = scope.matcher_list
    own = ['alertname=~"Runwatch.*"', *where]
    spikes = [spike_alert(status) for status in spike_statuses() if status in bad.statuses]
    inhibit: list[dict[str, object]] = [
        {
            "source_matchers": [*own, 'severity="page"'],
            "target_matchers": [*own, 'severity="ticket"'],
            "equal": [*scope.labels, "api", "slo"],
        },
        {
            "source_matchers": ['alertname=~"RunwatchIncompleteReasonBurn(Page|Ticket)"', *where],
            "target_matchers": ['alertname=~"RunwatchIncompleteRatioBurn(Page|Ticket)"', *where],
            "equal": [*scope.labels, "api", "severity"],
        },
    ]
    if spikes:
        inhibit.append(
            {
                "source_matchers": ['alertname="RunwatchFailureRatioBurnPage"', *where],
                "target_matchers": [f'alertname=~"{"|".join(spikes)}"', *where],
                "equal": [*scope.labels, "api"],
            }
        )
    return {
        "route": {
            # Your root route has its own receiver; merge the child route below into its routes.
            "receiver": TICKET_RECEIVER,
            "routes": [
                {
                    "matchers": own,
                    "group_by": ["alertname", *scope.labels, "api"],
                    "group_wait": "30s",
                    "group_interval": "5m",
                    "repeat_interval": "4h",
                    "routes": [
                        {"matchers": ['severity="page"'], "receiver": PAGE_RECEIVER},
                        {
                            "matchers": ['severity="ticket"'],
                            "receiver": TICKET_RECEIVER,
                            "repeat_interval": "1d",
                        },
                    ],
                }
            ],
        },
        "inhibit_rules": inhibit,
        # Placeholders: give them your integrations (pagerduty_configs, slack_configs, ...).
        "receivers": [{"name": PAGE_RECEIVER}, {"name": TICKET_RECEIVER}],
    }
