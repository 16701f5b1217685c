"""`platform:observability`: who is notified, the alert thresholds per kind of workload, uptime checks, SLO goals and
log retention."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from components.config_types import Key, Model, invalid

Ratio = Annotated[float, Field(gt=0, lt=1)]
AlertDuration = Annotated[int, Field(ge=60, le=86400)]  # seconds a condition must hold before the alert fires
UptimeRegion = Literal["USA", "EUROPE", "SOUTH_AMERICA", "ASIA_PACIFIC", "USA_OREGON", "USA_IOWA", "USA_VIRGINIA"]


class ChannelsArgs(Model):
    emails: dict[Key, Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(min_length=1)
    slack_channel: Annotated[str, StringConstraints(pattern=r"^#[a-z0-9_-]{1,80}$")] | None = None
    pagerduty: bool = False  # service key from the secret platform:observability_pagerduty_service_key
    webhook: bool = False  # URL (with its token) from the secret platform:observability_webhook_url


class CloudRunAlertsArgs(Model):
    error_ratio: Ratio = 0.01  # 5xx responses over all responses
    cpu_utilization: Ratio = 0.8
    duration_seconds: AlertDuration = 300


class CloudSqlAlertsArgs(Model):
    cpu_utilization: Ratio = 0.8
    memory_utilization: Ratio = 0.9
    disk_utilization: Ratio = 0.85
    connections_ratio: Ratio = 0.8  # of max_connections
    replica_lag_seconds: Annotated[int, Field(ge=1)] = 60
    duration_seconds: AlertDuration = 300


class RedisAlertsArgs(Model):
    memory_usage_ratio: Ratio = 0.8
    duration_seconds: AlertDuration = 300


class GkeAlertsArgs(Model):
    node_utilization: Ratio = 0.85  # a node pool's mean CPU or memory use of what its nodes can allocate
    restarts_per_hour: Annotated[int, Field(ge=1)] = 5  # container restarts in a namespace
    pending_pods: Annotated[int, Field(ge=1)] = 1  # pods left unscheduled (no node fits them) for `duration_seconds`
    duration_seconds: AlertDuration = 600


class AlertsArgs(Model):
    runbook_base_url: Annotated[str, StringConstraints(pattern=r"^https://\S+[^/]$")]
    cloud_run: CloudRunAlertsArgs = CloudRunAlertsArgs()
    cloud_sql: CloudSqlAlertsArgs = CloudSqlAlertsArgs()
    redis: RedisAlertsArgs = RedisAlertsArgs()
    gke: GkeAlertsArgs = GkeAlertsArgs()


class UptimeArgs(Model):
    period: Literal["60s", "300s", "600s", "900s"] = "60s"
    timeout_seconds: Annotated[int, Field(ge=1, le=60)] = 10
    regions: list[UptimeRegion] = ["EUROPE", "USA_VIRGINIA", "ASIA_PACIFIC"]

    @model_validator(mode="after")
    def _three_regions(self) -> UptimeArgs:
        if len(set(self.regions)) < 3:
            invalid("regions", "uptime checks need at least 3 distinct regions (Cloud Monitoring requires 3)")
        return self


class SloArgs(Model):
    availability_goal: Annotated[float, Field(ge=0.9, lt=1)] = 0.999
    latency_goal: Annotated[float, Field(ge=0.9, lt=1)] = 0.99  # share of requests faster than the service target
    rolling_period_days: Annotated[int, Field(ge=1, le=30)] = 28
    burn_rate_alerts: bool = True
    fast_burn_rate: Annotated[float, Field(gt=1)] = 14.4  # 2% of a 30-day budget in 1 hour
    slow_burn_rate: Annotated[float, Field(gt=1)] = 6.0  # 5% of a 30-day budget in 6 hours


class LogsArgs(Model):
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 30  # the _Default log bucket
    bigquery_partition_expiration_days: Annotated[int, Field(ge=1)] | None = 365
    sink_filter: str = 'severity>=WARNING OR logName:"cloudaudit.googleapis.com"'


class ObservabilityArgs(Model):
    channels: ChannelsArgs
    alerts: AlertsArgs
    uptime: UptimeArgs = UptimeArgs()
    slo: SloArgs = SloArgs()
    logs: LogsArgs = LogsArgs()
