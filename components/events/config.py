"""`platform:events`: topics, their schemas and publishers, and their subscriptions (push to a service, pull by a
service, or straight into a warehouse table), each with a retry policy and a dead-letter topic."""

from __future__ import annotations

import json
import re
from functools import cached_property
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from components.cloud_run import ServiceName
from components.config_types import Key, Model, invalid
from components.images import PROJECT_ROOT, RelativePath

# `dataset.table` as the warehouse section names them.
TableRef = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}\.[a-z][a-z0-9_]{0,62}$")]
PushPath = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._~/-]*$")]
SCHEMA_TYPES = {".avsc": "AVRO", ".proto": "PROTOCOL_BUFFER"}
AVRO_PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))


class RetryArgs(Model):
    """Exponential backoff between redeliveries of a message its subscriber did not acknowledge."""

    minimum_backoff_seconds: int = Field(10, ge=0, le=600)
    maximum_backoff_seconds: int = Field(600, ge=0, le=600)

    @model_validator(mode="after")
    def _ordered(self) -> RetryArgs:
        if self.minimum_backoff_seconds > self.maximum_backoff_seconds:
            invalid(
                "maximum_backoff_seconds",
                f"{self.maximum_backoff_seconds} is below minimum_backoff_seconds ({self.minimum_backoff_seconds})",
            )
        return self


class PushArgs(Model):
    """Pub/Sub POSTs each message to `path` on the service's run.app URL, with an OIDC token of its own account."""

    service: ServiceName
    path: PushPath = "/"


class PullArgs(Model):
    # The Cloud Run service or GKE workload (gke.workloads) that pulls; its account gets roles/pubsub.subscriber on
    # this subscription only.
    service: ServiceName


class BigQueryArgs(Model):
    """Writes each message as a row of a warehouse table; no pipeline runs."""

    table: TableRef
    schema_from: Literal["table", "topic"] = "table"  # JSON messages matched to the table's columns, or the topic's
    write_metadata: bool = True  # subscription_name, message_id, publish_time and attributes columns
    drop_unknown_fields: bool = False  # false: a message with a field the table lacks stays undelivered


class SubscriptionArgs(Model):
    push: PushArgs | None = None
    pull: PullArgs | None = None
    bigquery: BigQueryArgs | None = None
    ack_deadline_seconds: int = Field(60, ge=10, le=600)  # for push, also the request timeout
    retention_days: int = Field(7, ge=1, le=31)  # how long unacknowledged messages are kept
    ordering: bool = False  # deliver messages with the same ordering key in publish order
    retry: RetryArgs = RetryArgs()
    max_delivery_attempts: int = Field(10, ge=5, le=100)  # then the message goes to the dead-letter topic
    max_backlog_age_seconds: int | None = Field(None, ge=60)  # alert threshold; default: events.alerts

    @model_validator(mode="after")
    def _one_delivery(self) -> SubscriptionArgs:
        kinds = [k for k in ("push", "pull", "bigquery") if getattr(self, k) is not None]
        if len(kinds) != 1:
            invalid("push", f"set exactly one of push, pull or bigquery (got {', '.join(kinds) or 'none'})")
        return self

    @property
    def kind(self) -> Literal["push", "pull", "bigquery"]:
        return "push" if self.push else "pull" if self.pull else "bigquery"


class TopicArgs(Model):
    schema_file: RelativePath | None = None  # an Avro (.avsc) or Protocol Buffers (.proto) schema in the repository
    schema_encoding: Literal["JSON", "BINARY"] = "JSON"
    retention_hours: int | None = Field(None, ge=1, le=744)  # keep published messages for seeking back; None: don't
    # Cloud Run services or GKE workloads (gke.workloads) whose accounts get roles/pubsub.publisher on this topic only.
    publishers: list[ServiceName] = []
    subscriptions: dict[Key, SubscriptionArgs] = Field(min_length=1)  # a topic without one loses what it receives

    @model_validator(mode="after")
    def _readable_schema(self) -> TopicArgs:
        if self.schema_file is not None:
            _ = self.schema_definition  # reads and checks the file
        for key, subscription in self.subscriptions.items():
            if subscription.bigquery and subscription.bigquery.schema_from == "topic" and self.schema_file is None:
                invalid(
                    f"subscriptions.{key}.bigquery.schema_from",
                    "schema_from topic needs the topic's schema_file; set one or use schema_from: table",
                )
        return self

    @property
    def schema_type(self) -> str:
        assert self.schema_file is not None
        return SCHEMA_TYPES.get(self.schema_file[self.schema_file.rfind(".") :], "")

    @cached_property
    def schema_definition(self) -> str:
        """The schema file's text, checked to be an Avro record or a Protocol Buffers message."""
        assert self.schema_file is not None
        path = PROJECT_ROOT / self.schema_file
        if self.schema_type == "":
            invalid("schema_file", f"'{self.schema_file}' is neither Avro (.avsc) nor Protocol Buffers (.proto)")
        if not path.is_file():
            invalid("schema_file", f"'{self.schema_file}' is not a file of this project")
        text = path.read_text()
        if self.schema_type == "AVRO":
            _ = _avro_fields(self.schema_file, text)
        elif not re.search(r"^\s*message\s+\w+\s*\{", text, flags=re.MULTILINE):
            invalid("schema_file", f"'{self.schema_file}' defines no Protocol Buffers message")
        return text

    @property
    def avro_fields(self) -> dict[str, str] | None:
        """An Avro schema's fields -> their primitive type (None for Protocol Buffers or no schema)."""
        if self.schema_file is None or self.schema_type != "AVRO":
            return None
        return _avro_fields(self.schema_file, self.schema_definition)


def _avro_fields(name: str, text: str) -> dict[str, str]:
    try:
        schema = json.loads(text)
    except ValueError as err:
        invalid("schema_file", f"'{name}' is not JSON: {err}")
    if not isinstance(schema, dict) or schema.get("type") != "record" or not schema.get("fields"):
        invalid("schema_file", f"'{name}' is not an Avro record with fields")
    fields: dict[str, str] = {}
    for field in schema["fields"]:
        kind = field.get("type") if isinstance(field, dict) else None
        if not isinstance(kind, str) or kind not in AVRO_PRIMITIVES:
            invalid("schema_file", f"'{name}': field {field!r} is not of a primitive Avro type")
        fields[str(field["name"])] = kind
    return fields


class EventAlertsArgs(Model):
    max_backlog_age_seconds: int = Field(600, ge=60)  # oldest unacknowledged message older than this: alert
    duration_seconds: int = Field(300, ge=60, le=86400)  # how long the backlog must stay that old
    dead_letter_expiry_warning_days: int = Field(2, ge=1)  # dead letters this close to being dropped: alert


class EventsArgs(Model):
    """`platform:events`: the stack's Pub/Sub topics and subscriptions."""

    topics: dict[Key, TopicArgs] = Field(min_length=1)
    dead_letter_retention_days: int = Field(14, ge=7, le=31)  # how long dead letters wait to be inspected
    alerts: EventAlertsArgs = EventAlertsArgs()

    @model_validator(mode="after")
    def _warning_before_expiry(self) -> EventsArgs:
        if self.alerts.dead_letter_expiry_warning_days >= self.dead_letter_retention_days:
            invalid(
                "alerts.dead_letter_expiry_warning_days",
                f"must be below dead_letter_retention_days ({self.dead_letter_retention_days}) to warn in time",
            )
        return self

    def subscriptions(self) -> list[tuple[str, str, SubscriptionArgs]]:
        """(topic, subscription, its settings) for every subscription, in config order."""
        return [(t, s, sub) for t, topic in self.topics.items() for s, sub in topic.subscriptions.items()]
