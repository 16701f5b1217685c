"""Messaging types: Pub/Sub topics and subscriptions, priced by the data they carry."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi_gcp as gcp

from offline.catalog.common import duration
from offline.catalog.facts import API_CALL, Facts, Inputs, named, token_of
from offline.estimate.pricing import HOURS, Context, Usage

if TYPE_CHECKING:
    from offline.engine import Resource

TOPIC = token_of(gcp.pubsub.Topic)
BUDGET = token_of(gcp.billing.Budget)
GIB = 2**30
MIN_BILLED_BYTES = 1000  # Pub/Sub bills at least 1,000 bytes per publish, push or pull request
# Cloud Billing publishes a budget's status to its topic several times a day, whatever the thresholds: assume at most
# three messages an hour, each in a request of its own.
BUDGET_NOTIFICATIONS = 3 * HOURS


def _last(path: object) -> str:
    return str(path or "").rsplit("/", 1)[-1]


def _feeds_a_budget(topic: Resource, ctx: Context) -> bool:
    targets = {_last((b.inputs.get("allUpdatesRule") or {}).get("pubsubTopic")) for b in ctx.recording.of(BUDGET)}
    return named(topic.inputs, topic.name) in targets


def _carried(topic: Resource | None, ctx: Context) -> tuple[str, float]:
    """What a topic carries a month: (what, GiB). A budget's topic carries its notifications; any other the profile's
    `pubsub_gib`."""
    if topic is not None and _feeds_a_budget(topic, ctx):
        return f"{BUDGET_NOTIFICATIONS:,} budget notifications", BUDGET_NOTIFICATIONS * MIN_BILLED_BYTES / GIB
    return f"{ctx.profile.pubsub_gib:g} GiB of messages", ctx.profile.pubsub_gib


def _topic_price(r: Resource, ctx: Context) -> list[Usage]:
    what, gib = _carried(r, ctx)
    return [Usage(f"{what} published", "pubsub.throughput", gib)]


def _subscription_price(r: Resource, ctx: Context) -> list[Usage]:
    """Every subscription receives each message of its topic once more."""
    wanted = _last(r.inputs.get("topic"))
    topic = next((t for t in ctx.recording.of(TOPIC) if named(t.inputs, t.name) == wanted), None)
    what, gib = _carried(topic, ctx)
    return [Usage(f"{what} delivered", "pubsub.throughput", gib)]


def _subscription(i: Inputs) -> str:
    push = (i.get("pushConfig") or {}).get("pushEndpoint")
    parts = [f"{'push to ' + str(push) if push else 'pull'} from {_last(i.get('topic'))}"]
    if i.get("ackDeadlineSeconds"):
        parts.append(f"ack deadline {i['ackDeadlineSeconds']}s")
    if i.get("messageRetentionDuration"):
        parts.append(f"keeps messages {duration(i['messageRetentionDuration'])}")
    if (i.get("deadLetterPolicy") or {}).get("deadLetterTopic"):
        parts.append(f"dead letters to {_last(i['deadLetterPolicy']['deadLetterTopic'])}")
    return ", ".join(parts)


RECORDS = (
    Facts(
        gcp.pubsub.Topic,
        outputs=lambda c, name, i: {"id": f"projects/{c.project}/topics/{named(i, name)}"},
        summary=lambda i: f"{i.get('name')}, keeps messages {duration(i.get('messageRetentionDuration'))}",
        create_seconds=API_CALL,
        price=_topic_price,
    ),
    Facts(
        gcp.pubsub.Subscription,
        outputs=lambda c, name, i: {
            "id": f"projects/{c.project}/subscriptions/{named(i, name)}",
            "name": named(i, name),
        },
        summary=_subscription,
        create_seconds=API_CALL,
        price=_subscription_price,
    ),
)
