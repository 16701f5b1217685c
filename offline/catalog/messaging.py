"""Messaging types: Pub/Sub topics."""

from __future__ import annotations

import pulumi_gcp as gcp

from offline.catalog.common import duration
from offline.catalog.facts import API_CALL, Facts, named

RECORDS = (
    Facts(
        gcp.pubsub.Topic,
        outputs=lambda c, name, i: {"id": f"projects/{c.project}/topics/{named(i, name)}"},
        summary=lambda i: f"{i.get('name')}, keeps messages {duration(i.get('messageRetentionDuration'))}",
        create_seconds=API_CALL,
        free="budget notifications: a few messages a month, far inside the free 10 GiB",
    ),
)
