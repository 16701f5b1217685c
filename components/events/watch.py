"""What to watch on the event bus: per subscription, the age of its oldest unacknowledged message and the messages it
forwards to its dead-letter topic; per dead-letter subscription, dead letters about to be dropped."""

from __future__ import annotations

from dataclasses import dataclass

from components.events.config import EventsArgs
from components.observability.signals import Alert, Chart, Runbook, Watched, metric, threshold

PAGE = "events.md"
OLDEST_UNACKED = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"
DEAD_LETTERED = "pubsub.googleapis.com/subscription/dead_letter_message_count"
UNDELIVERED = "pubsub.googleapis.com/subscription/num_undelivered_messages"
DAY = 86_400

RUNBOOK = {
    "backlog": Runbook(
        "A subscription's oldest unacknowledged message is older than its threshold: its consumer is down, failing "
        "or too slow, and events wait.",
        "Check the consumer's errors and whether it acknowledges (push: its response codes); see the runbook.",
        "event-backlog",
        page=PAGE,
    ),
    "dead-letters": Runbook(
        "Messages exhausted their delivery attempts and were moved to the subscription's dead-letter topic; the "
        "consumer did not process them.",
        "Inspect the dead letters (their delivery error attribute), fix the cause, then replay them; see the runbook.",
        "dead-letters",
        page=PAGE,
    ),
    "expiring": Runbook(
        "Dead letters have waited nearly as long as their subscription keeps them; Pub/Sub drops them at expiry.",
        "Replay or export them now; see the runbook.",
        "dead-letters-expiring",
        page=PAGE,
    ),
}


@dataclass(frozen=True)
class WatchedSubscription:
    """A subscription by its physical name, with its dead-letter subscription's, as monitoring filters name them."""

    key: str  # `topic-subscription`, for logical names and titles
    name: str
    dead_letter_name: str
    max_backlog_age_seconds: int


def _where(subscription: str) -> str:
    return f'resource.type="pubsub_subscription" AND resource.label.subscription_id="{subscription}"'


def watch_events(args: EventsArgs, subscriptions: list[WatchedSubscription]) -> Watched:
    alerts: list[Alert] = []
    charts: list[Chart] = []
    duration = f"{args.alerts.duration_seconds}s"
    expiry = (args.dead_letter_retention_days - args.alerts.dead_letter_expiry_warning_days) * DAY
    for s in subscriptions:
        age = s.max_backlog_age_seconds
        backlog = threshold(
            f"oldest unacked message > {age}s for {duration}",
            metric(_where(s.name), OLDEST_UNACKED),
            age,
            duration,
            aligner="ALIGN_MAX",
        )
        dead_lettered = threshold(
            "messages forwarded to the dead-letter topic",
            metric(_where(s.name), DEAD_LETTERED),
            0,
            "0s",
            aligner="ALIGN_SUM",
            reducer="REDUCE_SUM",
        )
        expiring = threshold(
            f"oldest dead letter older than {expiry // DAY} days",
            metric(_where(s.dead_letter_name), OLDEST_UNACKED),
            expiry,
            "0s",
            aligner="ALIGN_MAX",
        )
        alerts += [
            Alert(f"{s.key}-backlog", f"Events: {s.key} backlog older than {age}s", [backlog], RUNBOOK["backlog"]),
            Alert(
                f"{s.key}-dead-letters",
                f"Events: {s.key} dead-lettered messages",
                [dead_lettered],
                RUNBOOK["dead-letters"],
                severity="WARNING",
            ),
            Alert(
                f"{s.key}-dead-letters-expiring",
                f"Events: {s.key} dead letters about to expire",
                [expiring],
                RUNBOOK["expiring"],
            ),
        ]
        charts += [
            Chart(
                f"Events {s.key}: oldest unacked (s)", metric(_where(s.name), OLDEST_UNACKED), "ALIGN_MAX", "REDUCE_MAX"
            ),
            Chart(
                f"Events {s.key}: dead letters waiting",
                metric(_where(s.dead_letter_name), UNDELIVERED),
                "ALIGN_MAX",
                "REDUCE_MAX",
            ),
        ]
    return Watched(key="events", alerts=tuple(alerts), charts=tuple(charts))
