"""Observability as a package, one module per concern: what workloads publish to be watched (signals), the config,
notification channels, alerts and SLOs on uptime, the dashboard and logs, and the component that ties them."""

from components.observability.channels import ChannelSecrets
from components.observability.component import Observability
from components.observability.config import ObservabilityArgs
from components.observability.signals import Alert, Chart, Endpoint, RequestSli, Runbook, Watched

__all__ = [
    "Alert",
    "ChannelSecrets",
    "Chart",
    "Endpoint",
    "Observability",
    "ObservabilityArgs",
    "RequestSli",
    "Runbook",
    "Watched",
]
