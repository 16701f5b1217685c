"""Notification channels: email always, Slack, PagerDuty and a webhook where config asks, their tokens read from the
stack's secrets and kept in the channels' sensitive labels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from components.config_types import missing_secret
from components.naming import Naming
from components.observability.config import ChannelsArgs

# Stack-config keys read as Pulumi secrets (listed in stack_config.SECRET_KEYS).
SLACK_TOKEN_KEY = "observability_slack_token"
PAGERDUTY_KEY = "observability_pagerduty_service_key"
WEBHOOK_URL_KEY = "observability_webhook_url"


@dataclass(frozen=True)
class ChannelSecrets:
    """The secret halves of optional channels, read from stack config as Pulumi secrets."""

    slack_token: pulumi.Input[str] | None = None
    pagerduty_service_key: pulumi.Input[str] | None = None
    webhook_url: pulumi.Input[str] | None = None

    @staticmethod
    def from_config(config: pulumi.Config) -> ChannelSecrets:
        return ChannelSecrets(
            slack_token=config.get_secret(SLACK_TOKEN_KEY),
            pagerduty_service_key=config.get_secret(PAGERDUTY_KEY),
            webhook_url=config.get_secret(WEBHOOK_URL_KEY),
        )


def notification_channels(
    name: str,
    args: ChannelsArgs,
    secrets: ChannelSecrets,
    *,
    naming: Naming,
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> dict[str, gcp.monitoring.NotificationChannel]:
    """The channels every alert notifies, keyed `email-<key>`, `slack`, `pagerduty`, `webhook`."""
    channels: dict[str, gcp.monitoring.NotificationChannel] = {}

    def channel(key: str, kind: str, channel_labels: Mapping[str, pulumi.Input[str]], **extra: Any) -> None:
        channels[key] = gcp.monitoring.NotificationChannel(
            f"{name}-{key}",
            display_name=f"{naming.physical(key)} ({kind})",
            type=kind,
            labels=channel_labels,
            user_labels=dict(labels),
            force_delete=False,
            opts=opts,
            **extra,
        )

    for key, address in args.emails.items():
        channel(f"email-{key}", "email", {"email_address": address})
    if args.slack_channel:
        token = _required(secrets.slack_token, SLACK_TOKEN_KEY, "observability.channels.slack_channel")
        channel(
            "slack",
            "slack",
            {"channel_name": args.slack_channel},
            sensitive_labels=gcp.monitoring.NotificationChannelSensitiveLabelsArgs(auth_token=token),
        )
    if args.pagerduty:
        service_key = _required(secrets.pagerduty_service_key, PAGERDUTY_KEY, "observability.channels.pagerduty")
        channel(
            "pagerduty",
            "pagerduty",
            {},
            sensitive_labels=gcp.monitoring.NotificationChannelSensitiveLabelsArgs(service_key=service_key),
        )
    if args.webhook:
        url = _required(secrets.webhook_url, WEBHOOK_URL_KEY, "observability.channels.webhook")
        channel("webhook", "webhook_tokenauth", {"url": pulumi.Output.secret(url)})
    return channels


def _required(value: pulumi.Input[str] | None, key: str, needed_by: str) -> pulumi.Input[str]:
    if value is None:
        missing_secret(key, needed_by)
    return value
