"""Messaging types: Pub/Sub topics, schemas and subscriptions, priced by the data they carry, their IAM grants, and the
service identities (agents) Google services act as."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi_gcp as gcp

from components.agents import AGENT_DOMAINS
from offline.catalog.common import duration, grant, to_member
from offline.catalog.facts import API_CALL, Facts, Inputs, MockContext, named, token_of
from offline.estimate.pricing import HOURS, Context, Usage

if TYPE_CHECKING:
    from offline.engine import Resource

TOPIC = token_of(gcp.pubsub.Topic)
SUBSCRIPTION = token_of(gcp.pubsub.Subscription)
BUDGET = token_of(gcp.billing.Budget)
SECRET = token_of(gcp.secretmanager.Secret)
GIB = 2**30
MIN_BILLED_BYTES = 1000  # Pub/Sub bills at least 1,000 bytes per publish, push or pull request
# Cloud Billing publishes a budget's status to its topic several times a day, whatever the thresholds: assume at most
# three messages an hour, each in a request of its own.
BUDGET_NOTIFICATIONS = 3 * HOURS
# Secret Manager publishes each change of a secret (a version added, disabled, ...) and each rotation notice to its
# topics: assume at most ten a month per secret.
SECRET_NOTICES = 10


def _last(path: object) -> str:
    return str(path or "").rsplit("/", 1)[-1]


def _feeds_a_budget(topic: Resource, ctx: Context) -> bool:
    targets = {_last((b.inputs.get("allUpdatesRule") or {}).get("pubsubTopic")) for b in ctx.recording.of(BUDGET)}
    return named(topic.inputs, topic.name) in targets


def _takes_dead_letters(topic: Resource, ctx: Context) -> bool:
    targets = {
        _last((s.inputs.get("deadLetterPolicy") or {}).get("deadLetterTopic")) for s in ctx.recording.of(SUBSCRIPTION)
    }
    return named(topic.inputs, topic.name) in targets


def _secrets_notifying(topic: Resource, ctx: Context) -> int:
    """How many secrets send their notifications to the topic."""
    name = named(topic.inputs, topic.name)
    return sum(
        any(_last(t.get("name")) == name for t in s.inputs.get("topics") or []) for s in ctx.recording.of(SECRET)
    )


def _carried(topic: Resource | None, ctx: Context) -> tuple[str, float]:
    """What a topic carries a month: (what, GiB). A budget's topic carries its notifications, a secret notification
    topic Secret Manager's notices, a dead-letter topic the profile's `dead_letter_gib`; any other its `pubsub_gib`."""
    if topic is not None and _feeds_a_budget(topic, ctx):
        return f"{BUDGET_NOTIFICATIONS:,} budget notifications", BUDGET_NOTIFICATIONS * MIN_BILLED_BYTES / GIB
    if topic is not None and (secrets := _secrets_notifying(topic, ctx)):
        notices = secrets * SECRET_NOTICES
        return f"{notices:,} Secret Manager notices", notices * MIN_BILLED_BYTES / GIB
    if topic is not None and _takes_dead_letters(topic, ctx):
        return f"{ctx.profile.dead_letter_gib:g} GiB of dead letters", ctx.profile.dead_letter_gib
    return f"{ctx.profile.pubsub_gib:g} GiB of messages", ctx.profile.pubsub_gib


def _topic_price(r: Resource, ctx: Context) -> list[Usage]:
    what, gib = _carried(r, ctx)
    return [Usage(f"{what} published", "pubsub.throughput", gib)]


def _subscription_price(r: Resource, ctx: Context) -> list[Usage]:
    """Every subscription receives each message of its topic once more; a BigQuery subscription at the export price
    (its writes into BigQuery cost nothing more)."""
    wanted = _last(r.inputs.get("topic"))
    topic = next((t for t in ctx.recording.of(TOPIC) if named(t.inputs, t.name) == wanted), None)
    what, gib = _carried(topic, ctx)
    if r.inputs.get("bigqueryConfig"):
        return [Usage(f"{what} written to BigQuery", "pubsub.bigquery_subscription", gib)]
    return [Usage(f"{what} delivered", "pubsub.throughput", gib)]


def _delivery(i: Inputs) -> str:
    push = i.get("pushConfig") or {}
    if push.get("pushEndpoint"):
        signed = (push.get("oidcToken") or {}).get("serviceAccountEmail")
        return f"push to {push['pushEndpoint']}" + (f" as {signed}" if signed else " UNAUTHENTICATED")
    table = (i.get("bigqueryConfig") or {}).get("table")
    return f"into BigQuery {table}" if table else "pull"


def _subscription(i: Inputs) -> str:
    parts = [f"{_delivery(i)} from {_last(i.get('topic'))}"]
    if i.get("ackDeadlineSeconds"):
        parts.append(f"ack deadline {i['ackDeadlineSeconds']}s")
    if i.get("messageRetentionDuration"):
        parts.append(f"keeps messages {duration(i['messageRetentionDuration'])}")
    if i.get("enableMessageOrdering"):
        parts.append("ordered")
    retry = i.get("retryPolicy") or {}
    if retry:
        parts.append(f"retry {retry.get('minimumBackoff')}-{retry.get('maximumBackoff')}")
    dead_letters = i.get("deadLetterPolicy") or {}
    if dead_letters.get("deadLetterTopic"):
        parts.append(
            f"dead letters to {_last(dead_letters['deadLetterTopic'])} after {dead_letters.get('maxDeliveryAttempts')}"
        )
    if (i.get("expirationPolicy") or {}).get("ttl") == "":
        parts.append("never expires")
    return ", ".join(parts)


def _subscription_label(i: Inputs) -> str:
    if (i.get("pushConfig") or {}).get("pushEndpoint"):
        return "Pub/Sub push subscription"
    return "Pub/Sub to BigQuery subscription" if i.get("bigqueryConfig") else "Pub/Sub pull subscription"


def _topic(i: Inputs) -> str:
    retention = i.get("messageRetentionDuration")
    parts = [str(i.get("name")), f"keeps messages {duration(retention)}" if retention else "no topic retention"]
    schema = i.get("schemaSettings") or {}
    if schema.get("schema"):
        parts.append(f"schema {_last(schema['schema'])} ({schema.get('encoding')})")
    parts.append("CMEK" if i.get("kmsKeyName") else "Google-managed key")
    return ", ".join(parts)


# The agents (service identities) of the services the stacks use, by API: `service-NUMBER@<domain>` (Pub/Sub's
# forwards dead letters; with CMEK each uses its service's key).
def _service_identity(c: MockContext, name: str, i: Inputs) -> Inputs:
    service = str(i.get("service"))
    domain = AGENT_DOMAINS.get(service, f"gcp-sa-{service.split('.')[0]}.iam.gserviceaccount.com")
    email = f"service-{c.project_number}@{domain}"
    return {"id": f"projects/{c.project}/services/{service}", "email": email, "member": f"serviceAccount:{email}"}


RECORDS = (
    Facts(
        gcp.pubsub.Topic,
        outputs=lambda c, name, i: {"id": f"projects/{c.project}/topics/{named(i, name)}"},
        summary=_topic,
        create_seconds=API_CALL,
        price=_topic_price,
        label=lambda i: "Pub/Sub topic",
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
        label=_subscription_label,
    ),
    Facts(
        gcp.pubsub.Schema,
        outputs=lambda c, name, i: {"id": f"projects/{c.project}/schemas/{named(i, name)}", "revisionId": "1"},
        summary=lambda i: f"{i.get('type')} schema {i.get('name')}",
        create_seconds=API_CALL,
        free="schemas cost nothing; the messages they validate are priced on their topic",
    ),
    grant(gcp.pubsub.TopicIAMMember, to_member),
    grant(gcp.pubsub.SubscriptionIAMMember, to_member),
    Facts(
        gcp.projects.ServiceIdentity,
        outputs=_service_identity,
        summary=lambda i: f"the {i.get('service')} service agent",
        create_seconds=API_CALL,
        free="service agents cost nothing",
    ),
)
